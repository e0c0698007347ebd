/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libmicrohttpd on sd-event: one MHD daemon in external polling mode
 * (epoll), its epoll fd an I/O source, its timeout a timer, connections
 * suspended while their answer is out on the bus and resumed when it comes
 * (MHD_ALLOW_SUSPEND_RESUME). Before a request reaches http-api.c this
 * file checks what every request must pass (xfsm-http(8), ACCESS): the Host
 * and Origin headers, the body's size, the client's grant. */

#include "http.h"

/* listen_fd: the socket to serve (taken). tls_cert/tls_key: PEM text, or
 * NULL for plain HTTP. */
int http_server_new(Http *http, int listen_fd, const char *tls_cert, const char *tls_key, HttpServer **ret);
HttpServer *http_server_free(HttpServer *s);

/* Whether the server is stopping (connections are closed, not served). */
bool http_server_stopping(HttpServer *s);

/* Have MHD run at the next turn of the loop (after a resume). */
void http_server_kick(HttpServer *s);
