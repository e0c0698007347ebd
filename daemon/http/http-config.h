/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The settings of xfsm-http (xfsm-http(8)): the command line over
 * /etc/xfsm/http.conf ([HTTP]) over the defaults. */

#include <stdbool.h>
#include <stdint.h>

#define HTTP_CONFIG_FILE "/etc/xfsm/http.conf"
#define HTTP_LISTEN_DEFAULT "127.0.0.1:3000"

typedef enum HttpBusKind {
        HTTP_BUS_SYSTEM,
        HTTP_BUS_USER,
        HTTP_BUS_ADDRESS,
} HttpBusKind;

typedef struct HttpConfig {
        HttpBusKind bus;
        char *bus_address;
        char *listen;                /* --listen HOST:PORT (when not socket-activated) */
        bool lenient;                /* Lenient= (default yes) */
        bool anonymous_write;        /* AnonymousWrite= (default no) */
        char **hosts;                /* Hosts= (default localhost 127.0.0.1 [::1]), NULL-terminated */
        unsigned max_connections;    /* MaxConnections= (default 256) */
        unsigned max_per_client;     /* MaxConnectionsPerClient= (default 64) */
        unsigned max_streams_per_client; /* MaxEventStreamsPerClient= (default 8) */
        char *dashboard_dir;         /* $XFSM_HTTP_DASHBOARD, else the installed files */
        bool help, version;
} HttpConfig;

void http_config_done(HttpConfig *c);

/* Defaults, then the file (--config FILE, which must exist, else
 * HTTP_CONFIG_FILE if present), then the command line. 0; 1 when --help or
 * --version was asked; -EINVAL after saying what was wrong. */
int http_config_load(HttpConfig *c, int argc, char *argv[], const char *default_dashboard_dir);

/* Parse "HOST:PORT" or "[V6]:PORT" into a socket address. */
int http_listen_parse(const char *s, void *ret_sockaddr, unsigned *ret_len);
