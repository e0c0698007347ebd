/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http's settings: options, http.conf, defaults. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf-parser.h"
#include "http-config.h"
#include "log.h"
#include "macro.h"

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        return mfree(v);
}

/* "a b  c" to a NULL-terminated vector */
static int strv_split(const char *s, char ***ret) {
        char **v = NULL;
        size_t n = 0;

        while (*s) {
                size_t len;

                s += strspn(s, " \t");
                len = strcspn(s, " \t");
                if (len == 0)
                        break;
                char **w = realloc(v, (n + 2) * sizeof *w);
                if (!w) {
                        strv_free(v);
                        return -ENOMEM;
                }
                v = w;
                v[n] = strndup(s, len);
                if (!v[n]) {
                        strv_free(v);
                        return -ENOMEM;
                }
                v[++n] = NULL;
                s += len;
        }
        *ret = v;
        return 0;
}

void http_config_done(HttpConfig *c) {
        if (!c)
                return;
        free(c->bus_address);
        free(c->listen);
        strv_free(c->hosts);
        free(c->dashboard_dir);
        *c = (HttpConfig) {};
}

static int set_string(char **p, const char *v) {
        char *s = strdup(v);

        if (!s)
                return -ENOMEM;
        free(*p);
        *p = s;
        return 0;
}

static int http_setting(const char *path, unsigned line, const char *section, const char *key, char *value,
                        void *userdata) {
        HttpConfig *c = userdata;
        uint64_t u;
        int b;

        if (!streq(section, "HTTP"))
                return -ENOENT;

        if (streq(key, "Lenient") || streq(key, "AnonymousWrite")) {
                b = conf_parse_boolean(value);
                if (b < 0) {
                        log_error("%s:%u: %s= takes a boolean, not '%s'", path, line, key, value);
                        return -EINVAL;
                }
                if (streq(key, "Lenient"))
                        c->lenient = b;
                else
                        c->anonymous_write = b;
                return 0;
        }
        if (streq(key, "Hosts")) {
                char **v = NULL;

                if (strv_split(value, &v) < 0)
                        return -ENOMEM;
                if (!v) {
                        log_error("%s:%u: Hosts= needs at least one name", path, line);
                        return -EINVAL;
                }
                strv_free(c->hosts);
                c->hosts = v;
                return 0;
        }
        if (streq(key, "MaxConnections") || streq(key, "MaxConnectionsPerClient") ||
            streq(key, "MaxEventStreamsPerClient")) {
                if (conf_parse_uint(value, 65536, &u) < 0 || u == 0) {
                        log_error("%s:%u: %s= takes a number from 1 to 65536, not '%s'", path, line, key, value);
                        return -EINVAL;
                }
                if (streq(key, "MaxConnections"))
                        c->max_connections = (unsigned) u;
                else if (streq(key, "MaxConnectionsPerClient"))
                        c->max_per_client = (unsigned) u;
                else
                        c->max_streams_per_client = (unsigned) u;
                return 0;
        }
        return -ENOENT;
}

static void help(void) {
        printf("xfsm-http [OPTIONS]\n\n"
               "The REST API of xcomponent-ai and a live dashboard over xfsm's D-Bus API.\n\n"
               "  --system               the system bus (default)\n"
               "  --user                 the session bus\n"
               "  --bus-address ADDR     this bus\n"
               "  --listen HOST:PORT     listen there when not socket-activated (default %s)\n"
               "  --config FILE          settings (default %s)\n"
               "  --anonymous-write      clients on loopback without a token may create and send\n"
               "  -h --help              this text\n"
               "  --version              the version\n\n"
               "See xfsm-http(8).\n",
               HTTP_LISTEN_DEFAULT, HTTP_CONFIG_FILE);
}

int http_config_load(HttpConfig *c, int argc, char *argv[], const char *default_dashboard_dir) {
        static const struct option options[] = {
                { "system", no_argument, NULL, 'S' },
                { "user", no_argument, NULL, 'U' },
                { "bus-address", required_argument, NULL, 'b' },
                { "listen", required_argument, NULL, 'l' },
                { "config", required_argument, NULL, 'c' },
                { "anonymous-write", no_argument, NULL, 'w' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        static const char *const sections[] = { "HTTP", NULL };
        const char *config = NULL, *listen_opt = NULL, *address = NULL;
        bool anonymous_write = false, has_bus = false;
        HttpBusKind bus = HTTP_BUS_SYSTEM;
        int o, r;

        *c = (HttpConfig) {
                .lenient = true,
                .max_connections = 256,
                .max_per_client = 64,
                .max_streams_per_client = 8,
        };

        optind = 1;
        while ((o = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (o) {
                case 'S':
                        bus = HTTP_BUS_SYSTEM;
                        has_bus = true;
                        break;
                case 'U':
                        bus = HTTP_BUS_USER;
                        has_bus = true;
                        break;
                case 'b':
                        bus = HTTP_BUS_ADDRESS;
                        address = optarg;
                        has_bus = true;
                        break;
                case 'l':
                        listen_opt = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'w':
                        anonymous_write = true;
                        break;
                case 'h':
                        help();
                        c->help = true;
                        return 1;
                case 'V':
                        c->version = true;
                        return 1;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "xfsm-http: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }

        r = strv_split("localhost 127.0.0.1 [::1]", &c->hosts);
        if (r < 0)
                return r;
        r = conf_parse(config ?: HTTP_CONFIG_FILE, !!config, sections, http_setting, c);
        if (r < 0)
                return r;

        if (has_bus)
                c->bus = bus;
        if (address && set_string(&c->bus_address, address) < 0)
                return -ENOMEM;
        if (listen_opt && set_string(&c->listen, listen_opt) < 0)
                return -ENOMEM;
        if (!c->listen && set_string(&c->listen, HTTP_LISTEN_DEFAULT) < 0)
                return -ENOMEM;
        if (anonymous_write)
                c->anonymous_write = true;
        if (set_string(&c->dashboard_dir, getenv("XFSM_HTTP_DASHBOARD") ?: default_dashboard_dir) < 0)
                return -ENOMEM;

        {
                struct sockaddr_storage ss;
                unsigned len;

                if (http_listen_parse(c->listen, &ss, &len) < 0) {
                        fprintf(stderr, "xfsm-http: --listen takes HOST:PORT or [V6]:PORT with a numeric host, not '%s'\n",
                                c->listen);
                        return -EINVAL;
                }
        }
        return 0;
}

int http_listen_parse(const char *s, void *ret_sockaddr, unsigned *ret_len) {
        char host[64];
        const char *port;
        unsigned long p;
        char *end;

        if (*s == '[') {
                const char *e = strchr(s, ']');

                if (!e || e[1] != ':' || (size_t) (e - s - 1) >= sizeof host)
                        return -EINVAL;
                memcpy(host, s + 1, e - s - 1);
                host[e - s - 1] = '\0';
                port = e + 2;
        } else {
                const char *e = strrchr(s, ':');

                if (!e || (size_t) (e - s) >= sizeof host)
                        return -EINVAL;
                memcpy(host, s, e - s);
                host[e - s] = '\0';
                port = e + 1;
        }
        errno = 0;
        p = strtoul(port, &end, 10);
        if (!*port || *end || errno || p > 65535)
                return -EINVAL;

        if (*s == '[') {
                struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t) p) };

                if (inet_pton(AF_INET6, host, &a.sin6_addr) != 1)
                        return -EINVAL;
                memcpy(ret_sockaddr, &a, sizeof a);
                *ret_len = sizeof a;
        } else {
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) p) };

                if (streq(host, "localhost"))
                        strcpy(host, "127.0.0.1");
                if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
                        return -EINVAL;
                memcpy(ret_sockaddr, &a, sizeof a);
                *ret_len = sizeof a;
        }
        return 0;
}
