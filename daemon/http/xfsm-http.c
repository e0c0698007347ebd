/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http: xcomponent-ai's REST API and a live dashboard over the node's
 * D-Bus API (xfsm-http(8)). main(): the settings, the credentials (tokens,
 * TLS), the bus, the listening socket (passed by xfsm-http.socket, or
 * bound for --listen), the modules, the loop. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "http-events.h"
#include "http-server.h"
#include "log.h"
#include "macro.h"

#ifndef XFSM_VERSION
#define XFSM_VERSION "unknown"
#endif
#ifndef XFSM_DASHBOARD_DIR
#define XFSM_DASHBOARD_DIR "/usr/share/xfsm/dashboard"
#endif

#define CREDENTIAL_TOKENS "http-tokens"
#define CREDENTIAL_TLS_CERT "http-tls.crt"
#define CREDENTIAL_TLS_KEY "http-tls.key"

static int connect_bus(const HttpConfig *c, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        switch (c->bus) {
        case HTTP_BUS_ADDRESS:
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, c->bus_address);
                if (r < 0)
                        return r;
                r = sd_bus_set_bus_client(bus, true);
                if (r < 0)
                        return r;
                r = sd_bus_start(bus);
                break;
        case HTTP_BUS_USER:
                r = sd_bus_open_user_with_description(&bus, "xfsm-http");
                break;
        default:
                r = sd_bus_open_system_with_description(&bus, "xfsm-http");
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* the whole of a credential file ($CREDENTIALS_DIRECTORY/name): 0 and the
 * text, -ENOENT when there is no such credential */
static int read_credential(const char *name, char **ret) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        _cleanup_(fclosep) FILE *f = NULL;
        char path[4096], *text = NULL;
        size_t size = 0;
        FILE *m;
        char buf[4096];
        size_t n;

        if (!dir)
                return -ENOENT;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        m = open_memstream(&text, &size);
        if (!m)
                return -ENOMEM;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, m);
        if (fclose(m) != 0 || !text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static bool sockaddr_is_loopback(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) ss)->sin_addr.s_addr) >> 24) == 127;
        if (ss->ss_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *) ss)->sin6_addr);
        return false;
}

static int refuse_beyond_loopback(void) {
        return log_error_errno(-EPERM,
                               "Listening beyond loopback needs TLS (credentials %s and %s) and tokens (credential %s)",
                               CREDENTIAL_TLS_CERT, CREDENTIAL_TLS_KEY, CREDENTIAL_TOKENS);
}

/* The listening socket: the one xfsm-http.socket passes, else --listen's.
 * One beyond loopback only when secure (TLS and tokens): else -EPERM, and
 * nothing bound. */
static int listen_socket(const HttpConfig *c, bool secure) {
        _cleanup_(closep) int fd = -1;
        char **names = NULL;
        struct sockaddr_storage ss = {};
        socklen_t len = sizeof ss;
        unsigned alen;
        int n, one = 1;

        n = sd_listen_fds_with_names(true, &names);
        for (int k = 0; k < n; k++) {
                int f = SD_LISTEN_FDS_START + k;

                if (fd < 0 && sd_is_socket(f, AF_UNSPEC, SOCK_STREAM, 1) > 0)
                        fd = f;
                else {
                        log_warning("File descriptor %d (%s) is not a listening TCP socket, closing it", f,
                                    names && names[k] ? names[k] : "?");
                        close(f);
                }
        }
        for (int k = 0; names && k < n; k++)
                free(names[k]);
        free(names);

        if (fd < 0) {
                if (http_listen_parse(c->listen, &ss, &alen) < 0)
                        return log_error_errno(-EINVAL, "Invalid listen address %s", c->listen);
                if (!secure && !sockaddr_is_loopback(&ss))
                        return refuse_beyond_loopback();
                fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return log_error_errno(-errno, "Failed to create a socket: %m");
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (bind(fd, (struct sockaddr *) &ss, alen) < 0)
                        return log_error_errno(-errno, "Failed to listen on %s: %m", c->listen);
                if (listen(fd, SOMAXCONN) < 0)
                        return log_error_errno(-errno, "Failed to listen on %s: %m", c->listen);
        }

        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return log_error_errno(-errno, "Failed to read the listening address: %m");
        if (!secure && !sockaddr_is_loopback(&ss))
                return refuse_beyond_loopback();
        return TAKE_FD(fd);
}

int main(int argc, char *argv[]) {
        _cleanup_(http_config_done) HttpConfig config = {};
        _cleanup_(freep) char *tokens = NULL, *cert = NULL, *key = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Http http = {};
        sigset_t mask;
        int fd, r;

        log_setup();
        log_set_identifier("xfsm-http");

        r = http_config_load(&config, argc, argv, XFSM_DASHBOARD_DIR);
        if (r < 0)
                return 2;
        if (r > 0) {
                if (config.version)
                        printf("xfsm-http %s\n", XFSM_VERSION);
                return 0;
        }
        http.config = &config;

        http.access = calloc(1, sizeof *http.access);
        if (!http.access)
                return log_oom(), EXIT_FAILURE;
        http.access->hosts = config.hosts;
        http.access->anonymous_write = config.anonymous_write;

        r = read_credential(CREDENTIAL_TOKENS, &tokens);
        if (r >= 0) {
                r = access_parse_tokens(http.access, tokens, CREDENTIAL_TOKENS);
                explicit_bzero(tokens, strlen(tokens));
                if (r < 0) {
                        log_error_errno(r, "Failed to read the credential %s: %m", CREDENTIAL_TOKENS);
                        goto finish;
                }
        } else if (r != -ENOENT) {
                log_error_errno(r, "Failed to read the credential %s: %m", CREDENTIAL_TOKENS);
                goto finish;
        }
        if (read_credential(CREDENTIAL_TLS_CERT, &cert) >= 0 && read_credential(CREDENTIAL_TLS_KEY, &key) < 0) {
                log_error("The credential %s is there but not %s", CREDENTIAL_TLS_CERT, CREDENTIAL_TLS_KEY);
                r = -EINVAL;
                goto finish;
        }
        http.tls = !!cert;

        fd = listen_socket(&config, http.tls && http.access->n_tokens > 0);
        if (fd < 0) {
                r = fd;
                goto finish;
        }

        r = sd_event_default(&event);
        if (r < 0) {
                close(fd);
                goto finish;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_set_watchdog(event, true);
        http.event = event;

        r = connect_bus(&config, &bus);
        if (r < 0) {
                close(fd);
                log_error_errno(r, "Failed to connect to the bus: %m");
                goto finish;
        }
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                close(fd);
                goto finish;
        }
        http.bus = bus;

        http.components = components_new(bus);
        http.diagrammer = diagrammer_new();
        http.events = http.components ? events_new(&http) : NULL;
        if (!http.components || !http.diagrammer || !http.events) {
                close(fd);
                r = log_oom();
                goto finish;
        }

        r = http_server_new(&http, fd, cert, key, &http.server);
        if (r < 0)
                goto finish;

        log_info("Serving %s, %s", http.tls ? "https" : "http",
                 config.anonymous_write ? "anonymous clients on loopback may write" : "anonymous clients read only");
        (void) sd_notify(false, "READY=1\nSTATUS=Serving the REST API and the dashboard");

        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");

finish:
        http.server = http_server_free(http.server);
        http.events = events_free(http.events);
        http.components = components_free(http.components);
        http.diagrammer = diagrammer_free(http.diagrammer);
        if (http.access)
                http.access->hosts = NULL; /* config's */
        http.access = http_access_free(http.access);
        if (key)
                explicit_bzero(key, strlen(key));
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
