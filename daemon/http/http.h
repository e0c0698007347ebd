/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What xfsm-http's modules share: the context (one per process, made in
 * xfsm-http.c) and the exchange (one per HTTP request, made and answered
 * by http-server.c, dispatched by http-api.c). */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "http-access.h"
#include "http-components.h"
#include "http-config.h"
#include "http-diagram.h"
#include "http-request.h"

typedef struct HttpServer HttpServer;
typedef struct Events Events;
typedef struct Subscriber Subscriber;

typedef struct Http {
        sd_event *event;
        sd_bus *bus;
        HttpConfig *config;
        HttpAccess *access;
        Components *components;
        Diagrammer *diagrammer;
        Events *events;
        HttpServer *server;
        bool tls;
} Http;

typedef struct Exchange {
        Http *http;
        struct MHD_Connection *conn;
        char *body;                 /* the POST body so far */
        size_t size;
        bool too_large;
        HttpRequest req;
        Grant grant;
        bool loopback;
        char client[64];            /* the peer's address, for the limits per client */
        char *host;                 /* the Host header */
        bool dispatched, suspended;
        struct MHD_Response *response;
        unsigned status;
        void *job;                  /* what the route has in flight, freed with the exchange */
        void (*job_free)(void *job);
        Subscriber *subscriber;     /* an event stream */
        struct Exchange *prev, *next; /* the server's list of exchanges */
} Exchange;

/* Answer x: status and a JSON body (taken). Resumes x if suspended. */
void exchange_reply_json(Exchange *x, unsigned status, json_object *body);
/* {"error": message[, "name": name]} */
void exchange_reply_error(Exchange *x, unsigned status, const char *message, const char *name);
/* data (taken, freed with free()) of content type */
void exchange_reply_data(Exchange *x, unsigned status, const char *content_type, char *data, size_t size);
/* a response made elsewhere (taken): the event stream */
void exchange_reply_response(Exchange *x, unsigned status, struct MHD_Response *response);
/* resume a suspended connection and have the server run soon */
void exchange_resume(Exchange *x);
void exchange_suspend(Exchange *x);

/* http-api.c: answer (or start answering) x's request. */
void api_dispatch(Exchange *x);
