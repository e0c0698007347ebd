/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What xfsm-http makes of a request before anything is asked of the bus
 * (xfsm-http(8), ROUTES): the route and its parameters from the method and
 * the path, and the body checked for that route (JSON of the right shape,
 * at most 1 MiB, sent as application/json). Pure: no bus, no server; the
 * fuzzer and test-http-request drive it alone. */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#define HTTP_BODY_MAX (1024 * 1024)
#define HTTP_NAME_MAX 255

typedef enum HttpRoute {
        ROUTE_HEALTHZ,
        ROUTE_COMPONENTS,          /* GET /api/components */
        ROUTE_COMPONENT,           /* GET /api/components/:c */
        ROUTE_CREATE,              /* POST /api/components/:c/instances */
        ROUTE_COMPONENT_EVENT,     /* POST /api/components/:c/instances/:id/events */
        ROUTE_MERMAID,             /* GET /api/components/:c/diagrams/:m */
        ROUTE_SVG,                 /* GET /api/components/:c/machines/:m/diagram.svg */
        ROUTE_INSTANCES,           /* GET /api/instances */
        ROUTE_INSTANCE,            /* GET /api/instances/:id */
        ROUTE_EVENT,               /* POST /api/instances/:id/events */
        ROUTE_HISTORY,             /* GET /api/instances/:id/history */
        ROUTE_EVENTS,              /* GET /api/events */
        ROUTE_SESSION,             /* POST /api/session: the dashboard's cookie */
        ROUTE_DASHBOARD,           /* GET /dashboard/FILE */
        ROUTE_ROOT,                /* GET /: to /dashboard/ */
        _ROUTE_MAX,
} HttpRoute;

typedef struct HttpRequest {
        HttpRoute route;
        bool write;                /* changes something: needs a write grant */
        char *component;           /* :c */
        char *machine;             /* :m, or machineName of a creation */
        char *id;                  /* :id */
        char *file;                /* the dashboard file ("index.html" for the directory) */
        json_object *body;         /* the parsed body of a POST (an object) */
        const char *event;         /* the body's "type" (events), owned by body */
        json_object *payload;      /* the body's "payload" or "context", owned by body (may be NULL) */
        const char *token;         /* the body's "token" (session), owned by body (may be NULL) */
} HttpRequest;

/* Why a request was refused before reaching the bus: the status and the
 * sentence of its {"error": ...} body. */
typedef struct HttpProblem {
        unsigned status;
        char message[160];
        const char *allow;         /* 405: the methods the route takes (an Allow header) */
} HttpProblem;

void http_request_done(HttpRequest *r);

/* Route method + path. 0 and *ret filled, or -EINVAL with *ret_problem: 404
 * (no such route), 405 (a route that takes another method), 400 (a
 * parameter too long or outside its character set). */
int http_request_route(const char *method, const char *path, HttpRequest *ret, HttpProblem *ret_problem);

/* Whether a Content-Type header names JSON (application/json, any
 * parameters). */
bool http_content_type_is_json(const char *content_type);

/* Check a POST body for r's route: a JSON object (strict, valid UTF-8, at
 * most HTTP_BODY_MAX bytes, nested at most 64 deep) of the route's shape.
 * 0 and r->body set, or -EINVAL with *ret_problem (400, 413, 415). */
int http_request_body(HttpRequest *r, const char *content_type, const char *body, size_t size,
                      HttpProblem *ret_problem);

/* Both, as the server calls them: route, then (for POST) the body. */
int http_request_parse(const char *method, const char *path, const char *content_type, const char *body,
                       size_t size, HttpRequest *ret, HttpProblem *ret_problem);
