/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small HTTP/1.1 client on a plain socket to 127.0.0.1, for the tests and
 * the benchmarks of xfsm-http: one request at a time on a keep-alive
 * connection, the whole answer read (Content-Length or chunked), or an event
 * stream read line by line. Writes exactly what it is given, so that tests
 * can send what no library would (a wrong Host, a form body). */

#include <stdbool.h>
#include <stddef.h>

typedef struct HttpAnswer {
        int status;
        char *headers;      /* the header lines, as received */
        char *body;         /* NUL-terminated */
        size_t size;
} HttpAnswer;

void http_answer_done(HttpAnswer *a);

/* A free TCP port on 127.0.0.1 (bound and released). */
unsigned http_free_port(void);
/* A connection to 127.0.0.1:port, -errno on failure. */
int http_connect(unsigned port);
/* Wait until something answers /healthz on port (up to 5 s). */
bool http_wait_ready(unsigned port);

/* Send method path with these extra header lines (each ending in \r\n, may
 * be NULL) and body (may be NULL), then read the answer. Host is
 * "127.0.0.1:port" unless the extra headers hold one. 0, or -errno (the
 * connection closed or broke). */
int http_exchange(int fd, unsigned port, const char *method, const char *path, const char *headers,
                  const char *body, size_t size, HttpAnswer *ret);

/* One request on a new connection, closed after. */
int http_request(unsigned port, const char *method, const char *path, const char *headers, const char *body,
                 HttpAnswer *ret);
/* POST a JSON body. */
int http_post_json(unsigned port, const char *path, const char *headers, const char *json, HttpAnswer *ret);

/* The value of header name in a (NULL when absent; a static buffer). */
const char *http_header(const HttpAnswer *a, const char *name);

/* An event stream: GET path, the headers read; then lines. */
int http_stream_open(unsigned port, const char *path, const char *headers, HttpAnswer *ret_head);
/* The next "data: ..." payload of the stream (chunked framing removed), up
 * to timeout_ms; NULL on timeout or close. Free it. */
char *http_stream_next(int fd, int timeout_ms);
void http_stream_close(int fd);
