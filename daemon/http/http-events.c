/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The event stream: bus signals in, "data:" lines out to each subscriber. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "http-events.h"
#include "http-server.h"
#include "log.h"
#include "macro.h"

struct Subscriber {
        Events *events;
        Exchange *x;
        char *component;             /* the filter, or NULL */
        char *buf;
        size_t len, off;
        bool ended;                  /* fell behind, or the client left: the stream ends */
        sd_event_source *hangup;     /* while suspended: the client leaving */
        Subscriber *prev, *next;
};

struct Events {
        Http *http;
        sd_bus_slot *transition, *created, *removed;
        sd_event_source *keepalive;
        Subscriber *head;
        size_t n;
};

static void append(Subscriber *s, const char *text, size_t n) {
        char *b;

        if (s->ended)
                return;
        /* what was sent makes room: the buffer holds the backlog only */
        if (s->off > 0) {
                memmove(s->buf, s->buf + s->off, s->len - s->off);
                s->len -= s->off;
                s->off = 0;
        }
        if (s->len + n > EVENTS_BACKLOG_MAX) {
                s->ended = true;
                return;
        }
        b = realloc(s->buf, s->len + n);
        if (!b) {
                s->ended = true;
                return;
        }
        s->buf = b;
        memcpy(s->buf + s->len, text, n);
        s->len += n;
}

static void wake(Subscriber *s) {
        if (s->hangup)
                (void) sd_event_source_set_enabled(s->hangup, SD_EVENT_OFF);
        exchange_resume(s->x);
}

/* libmicrohttpd does not watch a suspended connection: a client that
 * leaves while its stream waits is seen here, and its stream ended (its
 * slot is free at once, not at the next keep-alive line) */
static int on_hangup(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        Subscriber *s = userdata;

        s->ended = true;
        wake(s);
        return 0;
}

static void watch_hangup(Subscriber *s) {
        const union MHD_ConnectionInfo *ci;

        if (s->hangup) {
                (void) sd_event_source_set_enabled(s->hangup, SD_EVENT_ON);
                return;
        }
        ci = MHD_get_connection_info(s->x->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
                return;
        if (sd_event_add_io(s->events->http->event, &s->hangup, ci->connect_fd, EPOLLRDHUP, on_hangup, s) < 0)
                s->hangup = NULL; /* the keep-alive lines find it */
}

static void publish(Events *e, const char *component, json_object *o) {
        _cleanup_(freep) char *line = NULL;
        int n;

        n = asprintf(&line, "data: %s\n\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        if (n < 0)
                return;
        for (Subscriber *s = e->head; s; s = s->next)
                if (!s->component || streq(s->component, component)) {
                        append(s, line, (size_t) n);
                        wake(s);
                }
}

static uint64_t realtime_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* component, machine and id of an instance path, local or through the bridge */
static int split_path(const char *path, char **c, char **m, char **id) {
        if (sd_bus_path_decode_many(path, "/org/xfsm1/Bridge/%/%/%", c, m, id) > 0)
                return 0;
        if (sd_bus_path_decode_many(path, "/org/xfsm1/%/%/%", c, m, id) > 0)
                return 0;
        return -EINVAL;
}

static json_object *event_new(const char *type, const char *c, const char *m, const char *id) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "type", json_object_new_string(type));
        json_object_object_add(o, "componentName", json_object_new_string(c));
        json_object_object_add(o, "machineName", json_object_new_string(m));
        json_object_object_add(o, "instanceId", json_object_new_string(id));
        json_object_object_add(o, "timestamp", json_object_new_int64((int64_t) realtime_ms()));
        return o;
}

static int on_transition(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Events *e = userdata;
        _cleanup_(freep) char *c = NULL, *m = NULL, *id = NULL;
        const char *from, *to, *event, *corr = "";
        json_object *o;

        if (!e->head)
                return 0;
        if (split_path(sd_bus_message_get_path(msg), &c, &m, &id) < 0)
                return 0;
        if (sd_bus_message_read(msg, "sss", &from, &to, &event) <= 0)
                return 0;
        (void) sd_bus_message_read(msg, "s", &corr);

        o = event_new("transition", c, m, id);
        json_object_object_add(o, "from", json_object_new_string(from));
        json_object_object_add(o, "to", json_object_new_string(to));
        json_object_object_add(o, "event", json_object_new_string(event));
        if (*corr)
                json_object_object_add(o, "correlationId", json_object_new_string(corr));
        publish(e, c, o);
        json_object_put(o);
        return 0;
}

static int on_created(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Events *e = userdata;
        _cleanup_(freep) char *c = NULL;
        const char *id, *m;
        json_object *o;

        if (sd_bus_path_decode_many(sd_bus_message_get_path(msg), "/org/xfsm1/Bridge/%", &c) <= 0 &&
            sd_bus_path_decode_many(sd_bus_message_get_path(msg), "/org/xfsm1/%", &c) <= 0)
                return 0;
        if (sd_bus_message_read(msg, "ss", &id, &m) <= 0)
                return 0;

        components_note_home(e->http->components, id, c);
        if (!e->head)
                return 0;
        o = event_new("instance_created", c, m, id);
        publish(e, c, o);
        json_object_put(o);
        return 0;
}

static int on_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Events *e = userdata;
        _cleanup_(freep) char *c = NULL, *m = NULL, *id = NULL;
        const char *path;
        json_object *o;

        if (!e->head)
                return 0;
        if (sd_bus_message_read(msg, "o", &path) <= 0 || split_path(path, &c, &m, &id) < 0)
                return 0;
        o = event_new("instance_removed", c, m, id);
        publish(e, c, o);
        json_object_put(o);
        return 0;
}

static int on_keepalive(sd_event_source *es, uint64_t usec, void *userdata) {
        Events *e = userdata;

        /* a comment line: keeps proxies from closing the stream, and resumes
         * each connection so that one whose client left is noticed */
        for (Subscriber *s = e->head; s; s = s->next) {
                append(s, ": keepalive\n\n", 13);
                wake(s);
        }
        (void) sd_event_source_set_time_relative(es, EVENTS_KEEPALIVE_USEC);
        return 0;
}

Events *events_new(Http *http) {
        Events *e = calloc(1, sizeof *e);
        int r;

        if (!e)
                return NULL;
        e->http = http;

        r = sd_bus_match_signal_async(http->bus, &e->transition, NULL, NULL, "org.xfsm1.Instance", "Transition",
                                      on_transition, NULL, e);
        if (r >= 0)
                r = sd_bus_match_signal_async(http->bus, &e->created, NULL, NULL, "org.xfsm1.Component",
                                              "InstanceCreated", on_created, NULL, e);
        if (r >= 0)
                r = sd_bus_match_signal_async(http->bus, &e->removed, NULL, NULL,
                                              "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", on_removed,
                                              NULL, e);
        if (r >= 0)
                r = sd_event_add_time_relative(http->event, &e->keepalive, CLOCK_MONOTONIC, EVENTS_KEEPALIVE_USEC, 0,
                                               on_keepalive, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->keepalive, SD_EVENT_ON);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the bus for transitions: %m");
                return events_free(e);
        }
        return e;
}

Events *events_free(Events *e) {
        if (!e)
                return NULL;

        while (e->head) {
                e->head->x->subscriber = NULL;
                events_unsubscribe(e, e->head);
        }
        sd_bus_slot_unref(e->transition);
        sd_bus_slot_unref(e->created);
        sd_bus_slot_unref(e->removed);
        sd_event_source_disable_unref(e->keepalive);
        return mfree(e);
}

size_t events_subscribers(Events *e) {
        return e->n;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
        Subscriber *s = cls;
        size_t n;

        if (http_server_stopping(s->x->http->server))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->off == s->len) {
                if (s->ended)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                exchange_suspend(s->x);
                watch_hangup(s);
                return 0;
        }
        n = MIN(max, s->len - s->off);
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        return (ssize_t) n;
}

void events_unsubscribe(Events *e, Subscriber *s) {
        if (!s)
                return;

        if (s->prev)
                s->prev->next = s->next;
        else
                e->head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        e->n--;
        sd_event_source_disable_unref(s->hangup);
        free(s->component);
        free(s->buf);
        free(s);
}

int events_subscribe(Events *e, Exchange *x, const char *component) {
        struct MHD_Response *r;
        unsigned same = 0;
        Subscriber *s;

        for (Subscriber *t = e->head; t; t = t->next)
                if (streq(t->x->client, x->client))
                        same++;
        if (same >= e->http->config->max_streams_per_client)
                return -EBUSY;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        *s = (Subscriber) { .events = e, .x = x };
        if (component) {
                s->component = strdup(component);
                if (!s->component) {
                        free(s);
                        return -ENOMEM;
                }
        }

        /* the first bytes at once: the client's EventSource opens */
        append(s, ": stream open\n\n", 15);

        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, NULL);
        if (!r) {
                free(s->component);
                free(s->buf);
                free(s);
                return -ENOMEM;
        }
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        (void) MHD_add_response_header(r, "X-Accel-Buffering", "no");

        s->next = e->head;
        if (e->head)
                e->head->prev = s;
        e->head = s;
        e->n++;
        x->subscriber = s;
        exchange_reply_response(x, 200, r);
        return 0;
}
