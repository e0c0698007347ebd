/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libmicrohttpd driven by sd-event, the checks every request passes, and
 * the answers. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "http-events.h"
#include "http-server.h"
#include "log.h"
#include "macro.h"

/* Connections open per client address: past MaxConnectionsPerClient= (or
 * MaxConnections= in all) a new connection is answered 503 and closed;
 * libmicrohttpd's own limits, set higher, close those past them at once. */
typedef struct ClientCount {
        char addr[64];
        unsigned n;
} ClientCount;

struct HttpServer {
        Http *http;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer, *kick;
        Exchange *exchanges;       /* every request not yet completed */
        ClientCount *clients;      /* slots reused once at 0, never moved out */
        size_t n_clients;
        unsigned connections;
        bool stopping;
};

/* what a connection's socket context holds: its slot, and whether it came past a limit */
#define CONTEXT_MAKE(slot, over) ((void *) (uintptr_t) ((((uintptr_t) (slot) + 1) << 1) | !!(over)))
#define CONTEXT_SLOT(ctx) ((size_t) (((uintptr_t) (ctx) >> 1) - 1))
#define CONTEXT_OVER(ctx) (((uintptr_t) (ctx)) & 1)

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void server_run(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG timeout = 0;

        (void) MHD_run(s->mhd);
        if (MHD_get_timeout(s->mhd, &timeout) == MHD_YES) {
                (void) sd_event_source_set_time_relative(s->timer, timeout * 1000ULL);
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_kick(sd_event_source *es, void *userdata) {
        server_run(userdata);
        return 0;
}

void http_server_kick(HttpServer *s) {
        (void) sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
}

/* ---- answers -------------------------------------------------------------------- */

static void add_common_headers(Exchange *x, struct MHD_Response *r) {
        (void) MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        (void) MHD_add_response_header(r, "Cache-Control", "no-store");
        (void) MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        (void) MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

void exchange_reply_response(Exchange *x, unsigned status, struct MHD_Response *response) {
        assert(!x->response);

        add_common_headers(x, response);
        x->response = response;
        x->status = status;
        exchange_resume(x);
}

void exchange_reply_data(Exchange *x, unsigned status, const char *content_type, char *data, size_t size) {
        struct MHD_Response *r;

        /* for HEAD, libmicrohttpd sends the headers alone */
        r = MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(data);
                return;
        }
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        /* JSON and SVG: nothing in them runs or loads anything, should a browser open one as a page */
        (void) MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        exchange_reply_response(x, status, r);
}

void exchange_reply_json(Exchange *x, unsigned status, json_object *body) {
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *copy = strdup(text);

        json_object_put(body);
        if (!copy)
                return;
        exchange_reply_data(x, status, "application/json", copy, strlen(copy));
}

void exchange_reply_error(Exchange *x, unsigned status, const char *message, const char *name) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "error", json_object_new_string(message));
        if (name)
                json_object_object_add(o, "name", json_object_new_string(name));
        exchange_reply_json(x, status, o);
}

void exchange_suspend(Exchange *x) {
        if (x->suspended)
                return;
        MHD_suspend_connection(x->conn);
        x->suspended = true;
}

void exchange_resume(Exchange *x) {
        if (!x->suspended)
                return;
        x->suspended = false;
        MHD_resume_connection(x->conn);
        http_server_kick(x->http->server);
}

/* ---- requests ------------------------------------------------------------------- */

bool http_server_stopping(HttpServer *s) {
        return s->stopping;
}

static Exchange *exchange_free(Exchange *x) {
        HttpServer *s;

        if (!x)
                return NULL;

        s = x->http->server;
        if (x->prev)
                x->prev->next = x->next;
        else if (s && s->exchanges == x)
                s->exchanges = x->next;
        if (x->next)
                x->next->prev = x->prev;

        if (x->subscriber)
                events_unsubscribe(x->http->events, x->subscriber);
        if (x->job && x->job_free)
                x->job_free(x->job);
        if (x->response)
                MHD_destroy_response(x->response);
        http_request_done(&x->req);
        grant_done(&x->grant);
        free(x->body);
        free(x->host);
        return mfree(x);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        *con_cls = exchange_free(*con_cls);
}

static void address_to_string(const struct sockaddr *sa, char *buf, size_t size);

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        HttpServer *s = cls;
        const HttpConfig *c = s->http->config;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                char addr[64] = "";
                size_t slot = SIZE_MAX, k;

                address_to_string(ci ? ci->client_addr : NULL, addr, sizeof addr);
                for (k = 0; k < s->n_clients; k++) {
                        if (streq(s->clients[k].addr, addr))
                                break;
                        if (s->clients[k].n == 0 && slot == SIZE_MAX)
                                slot = k;
                }
                if (k < s->n_clients)
                        slot = k;
                else if (slot == SIZE_MAX) {
                        ClientCount *v = realloc(s->clients, (s->n_clients + 1) * sizeof *v);

                        if (!v) {
                                *socket_context = NULL;
                                return;
                        }
                        s->clients = v;
                        slot = s->n_clients++;
                        s->clients[slot] = (ClientCount) {};
                }
                if (s->clients[slot].n == 0)
                        snprintf(s->clients[slot].addr, sizeof s->clients[slot].addr, "%s", addr);
                s->clients[slot].n++;
                s->connections++;
                *socket_context = CONTEXT_MAKE(slot, s->clients[slot].n > c->max_per_client ||
                                                             s->connections > c->max_connections);
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
                size_t slot = CONTEXT_SLOT(*socket_context);

                assert(slot < s->n_clients && s->clients[slot].n > 0);
                s->clients[slot].n--;
                s->connections--;
                *socket_context = NULL;
        }
}

/* whether x's connection came past a limit */
static bool exchange_over_limit(Exchange *x) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci && ci->socket_context && CONTEXT_OVER(ci->socket_context);
}

static bool address_is_loopback(const struct sockaddr *sa) {
        if (!sa)
                return false;
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_LOOPBACK(a))
                        return true;
                if (IN6_IS_ADDR_V4MAPPED(a))
                        return a->s6_addr[12] == 127;
        }
        return false;
}

static void address_to_string(const struct sockaddr *sa, char *buf, size_t size) {
        *buf = '\0';
        if (!sa)
                return;
        if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, size);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, size);
}

static Exchange *exchange_new(Http *http, struct MHD_Connection *conn, const char *method) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        Exchange *x = calloc(1, sizeof *x);

        if (!x)
                return NULL;
        x->http = http;
        x->conn = conn;
        x->next = http->server->exchanges;
        if (x->next)
                x->next->prev = x;
        http->server->exchanges = x;
        x->loopback = ci && address_is_loopback(ci->client_addr);
        address_to_string(ci ? ci->client_addr : NULL, x->client, sizeof x->client);
        if (host) {
                x->host = strdup(host);
                if (!x->host)
                        return exchange_free(x);
        }
        return x;
}

/* What every request passes before its body is read: Host, Origin, the
 * route, the size announced. false when x is answered. */
static bool exchange_admit(Exchange *x, const char *method, const char *url) {
        const char *origin = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Origin");
        const char *length = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        HttpProblem p = {};
        int r;

        if (exchange_over_limit(x)) {
                exchange_reply_error(x, 503, "Too many connections", NULL);
                if (x->response) {
                        (void) MHD_add_response_header(x->response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
                        (void) MHD_add_response_header(x->response, MHD_HTTP_HEADER_CONNECTION, "close");
                }
                return false;
        }
        if (!access_host_allowed(x->http->access, x->host)) {
                exchange_reply_error(x, 421, "Host not allowed", NULL);
                return false;
        }
        if (!access_origin_allowed(origin, x->host)) {
                exchange_reply_error(x, 403, "Cross-origin request refused", NULL);
                return false;
        }

        r = http_request_route(method, url, &x->req, &p);
        if (r == -ENOMEM) {
                exchange_reply_error(x, 503, "Out of memory", NULL);
                return false;
        }
        if (r < 0) {
                exchange_reply_error(x, p.status, p.message, NULL);
                if (p.allow && x->response)
                        (void) MHD_add_response_header(x->response, MHD_HTTP_HEADER_ALLOW, p.allow);
                return false;
        }
        if (length && strtoull(length, NULL, 10) > HTTP_BODY_MAX) {
                exchange_reply_error(x, 413, "Request body over 1 MiB", NULL);
                return false;
        }
        return true;
}

/* The grant of the client; false when x is answered (401, 403). */
static bool exchange_authorize(Exchange *x) {
        const char *authorization = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *cookie = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
        int r;

        /* the dashboard's files and the health check are public; the session route decides itself */
        if (x->req.route == ROUTE_DASHBOARD || x->req.route == ROUTE_ROOT || x->req.route == ROUTE_HEALTHZ ||
            x->req.route == ROUTE_SESSION)
                return true;

        r = access_grant(x->http->access, authorization, cookie, x->loopback, now_usec(), &x->grant);
        if (r == -ENOMEM) {
                exchange_reply_error(x, 503, "Out of memory", NULL);
                return false;
        }
        if (r < 0) {
                exchange_reply_error(x, 401, r == -EPERM ? "A token is required" : "Unknown token or session", NULL);
                return false;
        }
        if (x->req.write && !grant_may_write(&x->grant, x->req.component ?: "")) {
                /* the instance routes learn their component later (http-api.c checks again) */
                if (x->req.component || !x->grant.write) {
                        exchange_reply_error(x, 403, "Not allowed to write", NULL);
                        return false;
                }
        }
        return true;
}

static enum MHD_Result queue(Exchange *x) {
        enum MHD_Result r;

        r = MHD_queue_response(x->conn, x->status, x->response);
        MHD_destroy_response(x->response);
        x->response = NULL;
        return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
        Http *http = cls;
        Exchange *x = *con_cls;

        if (http->server->stopping)
                return MHD_NO;
        if (!x) {
                x = exchange_new(http, conn, method);
                if (!x)
                        return MHD_NO;
                *con_cls = x;
                if (!exchange_admit(x, method, url))
                        return queue(x);
                return MHD_YES;
        }

        if (x->response)
                return queue(x);

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (x->too_large || x->size + n > HTTP_BODY_MAX) {
                        x->too_large = true;
                        return MHD_YES;
                }
                char *b = realloc(x->body, x->size + n + 1);
                if (!b)
                        return MHD_NO;
                x->body = b;
                memcpy(x->body + x->size, upload_data, n);
                x->size += n;
                x->body[x->size] = '\0';
                return MHD_YES;
        }

        if (x->dispatched) {
                /* resumed without an answer: wait again */
                exchange_suspend(x);
                return MHD_YES;
        }
        x->dispatched = true;

        if (x->too_large) {
                exchange_reply_error(x, 413, "Request body over 1 MiB", NULL);
                return queue(x);
        }
        if (streq(method, "POST")) {
                const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
                HttpProblem p = {};
                int r;

                r = http_request_body(&x->req, type, x->body ?: "", x->size, &p);
                if (r < 0) {
                        if (r == -ENOMEM)
                                exchange_reply_error(x, 503, "Out of memory", NULL);
                        else
                                exchange_reply_error(x, p.status, p.message, NULL);
                        return queue(x);
                }
        }
        if (!exchange_authorize(x))
                return queue(x);

        api_dispatch(x);
        if (x->response)
                return queue(x);
        exchange_suspend(x);
        return MHD_YES;
}

int http_server_new(Http *http, int listen_fd, const char *tls_cert, const char *tls_key, HttpServer **ret) {
        _cleanup_(freep) HttpServer *s = NULL;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->http = http;
        http->server = s; /* exchanges register with it */

        if (tls_cert)
                flags |= MHD_USE_TLS;
        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, http,
                                  MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                  /* past ours, a 503; past these, closed at once */
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) http->config->max_connections * 2 + 16,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) http->config->max_per_client * 2 + 16,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024,
                                  tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert,
                                  MHD_OPTION_HTTPS_MEM_KEY, tls_key,
                                  MHD_OPTION_END);
        if (!s->mhd) {
                http->server = NULL;
                return log_error_errno(-EIO, "Failed to start the HTTP server%s.",
                                       tls_cert ? " (is the TLS certificate and key valid?)" : "");
        }

        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                http->server = NULL;
                MHD_stop_daemon(s->mhd);
                return log_error_errno(-EIO, "libmicrohttpd has no epoll file descriptor.");
        }
        r = sd_event_add_io(http->event, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r >= 0)
                /* accuracy 1 µs: libmicrohttpd asks to run again at once when it has work left */
                r = sd_event_add_time_relative(http->event, &s->timer, CLOCK_MONOTONIC, 0, 1, on_timer, s);
        if (r >= 0)
                r = sd_event_add_defer(http->event, &s->kick, on_kick, s);
        if (r < 0) {
                http->server = NULL;
                sd_event_source_disable_unref(s->io);
                sd_event_source_disable_unref(s->timer);
                MHD_stop_daemon(s->mhd);
                return log_error_errno(r, "Failed to watch the HTTP server: %m");
        }
        (void) sd_event_source_set_enabled(s->kick, SD_EVENT_OFF);
        server_run(s);
        *ret = TAKE_PTR(s);
        return 0;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;

        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->kick);
        if (s->mhd) {
                /* libmicrohttpd refuses to stop with suspended connections: resume
                 * them, and have them closed (on_access and the event streams
                 * answer nothing more once stopping) */
                s->stopping = true;
                for (Exchange *x = s->exchanges; x; x = x->next)
                        if (x->suspended) {
                                x->suspended = false;
                                MHD_resume_connection(x->conn);
                        }
                for (int k = 0; k < 3; k++)
                        (void) MHD_run(s->mhd);
                MHD_stop_daemon(s->mhd);
        }
        s->http->server = NULL;
        free(s->clients);
        return mfree(s);
}
