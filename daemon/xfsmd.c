/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmd: hosts components and exposes every instance on the bus
 * (xfsmd(8)). */

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bus-errors.h"
#include "durable.h"
#include "outbox.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "reload.h"
#include "work.h"

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);

static void help(void) {
        printf("Usage: xfsmd [OPTIONS] FILE.yaml...\n"
               "       xfsmd [OPTIONS] --component STEM...\n"
               "       xfsmd [OPTIONS] --manager [FILE.yaml...]\n"
               "\n"
               "Host xfsm components and expose every instance on D-Bus as\n"
               "org.xfsm1.<Name> at /org/xfsm1/<Name>.\n"
               "\n"
               "  --component STEM     Host STEM.yaml from /etc/xfsm/components, then\n"
               "                       /usr/share/xfsm/components ($XFSM_COMPONENT_PATH\n"
               "                       overrides, colon-separated)\n"
               "  --manager            Own org.xfsm1 and serve org.xfsm1.Manager at /org/xfsm1:\n"
               "                       list the installed components, start and stop their\n"
               "                       workers (xfsm@STEM.service) through systemd\n"
               "  --config FILE        Read settings from FILE (default /etc/xfsm/xfsm.conf,\n"
               "                       if there); options given here win over it\n"
               "  --system             Connect to the system bus (the default)\n"
               "  --user               Connect to the user's session bus\n"
               "  --bus-address ADDR   Connect to the bus at ADDR\n"
               "  --history-limit N    Transitions kept per instance for GetHistory (1000)\n"
               "  --state-dir DIR      Keep each component's journal and snapshot in DIR/STEM/\n"
               "                       (without it, instances live in memory only)\n"
               "  --durability POLICY  sync, batch (group commit, the default) or none\n"
               "  --idle-timeout SEC   Leave after SEC seconds without work, when nothing is\n"
               "                       in flight and no timer is armed (0: never, the default)\n"
               "  --unit-allowed UNIT  Exit 0 if [Units] Allow= of the configuration lets\n"
               "                       unit actions name UNIT, 1 if not (for polkit rules)\n"
               "  -v --verbose         Log at debug level\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "\n"
               "SIGHUP reloads the components' files: new instances get a changed definition,\n"
               "live ones keep theirs.\n"
               "Runs under systemd as Type=notify (READY, STATUS, WATCHDOG) and logs to the\n"
               "journal with XFSM_COMPONENT=, XFSM_INSTANCE=, XFSM_EVENT= when started by it.\n"
               "See xfsmd(8).\n");
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        /* SIGHUP reloads (never ends a worker: systemd would count a failure) */
        r = manager_reload(m);
        (void) sd_notifyf(0, "STATUS=Reloaded: %s", r < 0 ? "a definition failed to load, kept as it was" : "done");
        return 0;
}

/* ---- the activation socket: D-Bus peer to peer ----------------------------- */

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_(sd_bus_unrefp) sd_bus *peer = NULL;
        Manager *m = userdata;
        sd_id128_t id;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_new(&peer);
        if (r < 0) {
                close(cfd);
                log_warning_errno(r, "A connection on the activation socket failed: %m, ignoring");
                return 0;
        }
        r = sd_bus_set_fd(peer, cfd, cfd);
        if (r < 0) {
                close(cfd); /* not taken */
                log_warning_errno(r, "A connection on the activation socket failed: %m, ignoring");
                return 0;
        }
        /* the connection owns the fd from here: unref closes it */
        r = sd_bus_set_server(peer, 1, id);
        if (r >= 0)
                r = sd_bus_start(peer);
        if (r >= 0)
                r = manager_add_peer(m, peer);
        if (r < 0) {
                (void) sd_bus_detach_event(peer);
                log_warning_errno(r, "A connection on the activation socket failed: %m, ignoring");
        }
        return 0;
}

/* Sockets passed by systemd (xfsm@.socket): serve each connection. */
static int listen_activation(Manager *m) {
        _cleanup_(strv_freep) char **names = NULL;
        int n = sd_listen_fds_with_names(1, &names), r = 0;

        for (int k = 0; k < n; k++) {
                int fd = SD_LISTEN_FDS_START + k;

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        log_warning("File descriptor %d (%s) is not a listening socket, closing it", fd,
                                    names ? names[k] : "?");
                        close(fd);
                        continue;
                }
                r = sd_event_add_io(m->event, NULL, fd, EPOLLIN, on_connection, m);
                if (r < 0) {
                        /* this one and those after it are not served: not kept open either */
                        for (int j = k; j < n; j++)
                                (void) close(SD_LISTEN_FDS_START + j);
                        return log_error_errno(r, "Cannot serve the activation sockets: %m");
                }
                log_info("Answering on the activation socket (%s)", names ? names[k] : "unnamed");
        }

        return r;
}

static int connect_bus(const char *address, bool user, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        assert(ret);

        if (address) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else if (user)
                r = sd_bus_open_user(&bus);
        else
                r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

/* The exit status of a worker for a component homed on another node: its
 * unit does not restart it (RestartPreventExitStatus=). */
#define EXIT_NOT_HOME 78

/* Ask the Redis bridge, when one runs on this bus, whether each component is
 * homed here (xfsm-redis-bridge(8)). -EADDRINUSE when one is homed on
 * another node; anything else (no bridge, no answer) lets the node serve
 * its own components. */
static int check_homes(Manager *m, sd_bus *bus) {
        int r;

        /* at start-up, before the loop runs: a synchronous question is fine here */
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                int owned = 0;

                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", "org.xfsm1.Bridge") < 0 ||
                    sd_bus_message_read(reply, "b", &owned) < 0 || !owned)
                        return 0;
        }

        for (size_t k = 0; k < m->n_hosts; k++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
                const char *node;
                int here;

                r = sd_bus_message_new_method_call(bus, &call, "org.xfsm1.Bridge", "/org/xfsm1/Bridge",
                                                   "org.xfsm1.Bridge", "Home");
                if (r >= 0)
                        r = sd_bus_message_append(call, "s", m->hosts[k].name);
                if (r >= 0)
                        r = sd_bus_call(bus, call, 10 * 1000000ULL, &error, &reply);
                if (r < 0) {
                        log_warning("The Redis bridge could not say where %s is homed (%s): serving it",
                                    m->hosts[k].name, error.message ?: strerror(-r));
                        continue;
                }
                if (sd_bus_message_read(reply, "sb", &node, &here) < 0 || here)
                        continue;
                return log_error_errno(-EADDRINUSE,
                                       "%s is homed on node %s: not serving it here (its home changes only by a "
                                       "hand-over; see xfsm-redis-bridge(8))",
                                       m->hosts[k].name, node);
        }

        return 0;
}

static bool unit_allowed(void *userdata, const char *unit) {
        return work_unit_allowed(userdata, unit);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "component", required_argument, NULL, 'c' },
                { "manager", no_argument, NULL, 'M' },
                { "config", required_argument, NULL, 'C' },
                { "system", no_argument, NULL, 'S' },
                { "user", no_argument, NULL, 'U' },
                { "bus-address", required_argument, NULL, 'b' },
                { "history-limit", required_argument, NULL, 'H' },
                { "state-dir", required_argument, NULL, 'd' },
                { "durability", required_argument, NULL, 'D' },
                { "idle-timeout", required_argument, NULL, 'I' },
                { "unit-allowed", required_argument, NULL, 'A' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        const char *address = NULL, *state_dir = NULL, *config_path = NULL, *unit_to_check = NULL;
        bool has_policy = false, has_idle = false, has_history = false;
        unsigned history_limit = 0;
        _cleanup_(config_done) Config config = {};
        JournalPolicy policy = JOURNAL_BATCH;
        uint64_t idle_sec = 0;
        bool user = false, manager_api = false;
        _cleanup_(freep) char **stems = calloc((size_t) argc + 1, sizeof *stems);
        size_t n_stems = 0;
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL; /* unreferenced before m is freed, as it was */
        sigset_t mask;
        int c, r, exit_status = 0;

        log_setup();
        if (!stems)
                return EXIT_FAILURE;
        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        stems[n_stems++] = optarg;
                        break;
                case 'M':
                        manager_api = true;
                        break;
                case 'C':
                        config_path = optarg;
                        break;
                case 'S':
                        user = false;
                        address = NULL;
                        break;
                case 'U':
                        user = true;
                        break;
                case 'b':
                        address = optarg;
                        break;
                case 'H': {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);

                        if (*end || v > 1000000) {
                                fprintf(stderr, "xfsmd: --history-limit needs a number up to 1000000\n");
                                return 2;
                        }
                        history_limit = (unsigned) v;
                        has_history = true;
                        break;
                }
                case 'd':
                        state_dir = optarg;
                        break;
                case 'I': {
                        char *end;
                        idle_sec = strtoull(optarg, &end, 10);
                        if (*end || idle_sec > 86400 * 365) {
                                fprintf(stderr, "xfsmd: --idle-timeout needs seconds\n");
                                return 2;
                        }
                        has_idle = true;
                        break;
                }
                case 'D':
                        if (journal_policy_from_string(optarg, &policy) < 0) {
                                fprintf(stderr, "xfsmd: --durability must be sync, batch or none\n");
                                return 2;
                        }
                        has_policy = true;
                        break;
                case 'A':
                        unit_to_check = optarg;
                        break;
                case 'v':
                        log_set_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("xfsmd %s\n", XFSM_VERSION);
                        return 0;
                default:
                        return 2;
                }

        if (unit_to_check) {
                /* for polkit rules (polkit.spawn): may unit actions name this unit? exit 0 yes, 1 no */
                config_init(&config);
                r = config_load(&config, config_path ?: XFSM_CONFIG_FILE, config_path != NULL);
                bool ok = false;
                for (char **g = config.allow_units; r >= 0 && g && *g; g++)
                        ok = ok || fnmatch(*g, unit_to_check, 0) == 0;
                return ok ? 0 : 1;
        }

        if (n_stems == 0 && optind >= argc && !manager_api) {
                fprintf(stderr, "xfsmd: no component given (FILE.yaml..., --component STEM or --manager)\n");
                return 2;
        }

        /* the host's settings, then what the command line says */
        config_init(&config);
        r = config_load(&config, config_path ?: XFSM_CONFIG_FILE, config_path != NULL);
        if (r < 0)
                return EXIT_FAILURE;

        if (!has_policy)
                policy = config.durability;
        if (!has_idle)
                idle_sec = config.idle_timeout_sec;
        if (!has_history)
                history_limit = config.history_limit;

        if ((r = manager_new(&m)) < 0) {
                log_error_errno(r, "Failed to set up: %m");
                goto finish;
        }
        manager_set_history_limit(m, history_limit); /* before recovery restores any */
        m->outbox_limit = config.outbox_limit;
        m->queue_limit = config.queue_limit;
        /* unit actions may name only what [Units] Allow= lists: checked as components load */
        work_set_allowed_units(m, TAKE_PTR(config.allow_units));
        xfsm_engine_set_unit_filter(m->engine, unit_allowed, m);
        config_done(&config);

        for (int k = optind; k < argc; k++)
                if ((r = manager_load_file(m, argv[k])) < 0)
                        goto finish;
        for (size_t k = 0; k < n_stems; k++)
                if ((r = manager_load_stem(m, stems[k])) < 0)
                        goto finish;

        m->system_bus = !address && !user; /* exec actions may then run as units (work.c) */
        r = connect_bus(address, user, &bus);
        if (r < 0) {
                log_error_errno(r, "Failed to connect to the %s bus: %m", address ? address : user ? "user" : "system");
                goto finish;
        }
        /* a component homed on another node is not served here: before its state directory is touched */
        r = check_homes(m, bus);
        if (r < 0) {
                if (r == -EADDRINUSE)
                        exit_status = EXIT_NOT_HOME;
                goto finish;
        }

        /* recover what the state directories hold before anything else happens */
        if (state_dir && (r = durable_open(m->durable, state_dir, policy)) < 0)
                goto finish;

        /* SIGTERM/SIGINT: leave the loop cleanly */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD); /* exec actions: children reaped through sd-event */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        /* SIGHUP must not end a worker (and have systemd count a failure) */
        (void) sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        (void) sd_event_set_watchdog(m->event, true);

        (void) bus_errors_register();
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto finish;
        r = manager_attach_bus(m, bus, false);
        if (r < 0)
                goto finish;
        r = xfsm_engine_start(m->engine);
        if (r < 0) {
                log_error_errno(-EINVAL, "Failed to create the entry points: %s", xfsm_engine_last_error(m->engine));
                goto finish;
        }
        manager_rearm_timer(m);
        if (manager_api) {
                r = manager_api_register(m, bus);
                if (r < 0)
                        goto finish;
                r = sd_bus_request_name(bus, "org.xfsm1", 0);
                if (r < 0) {
                        log_error_errno(r, "Failed to own org.xfsm1: %m");
                        goto finish;
                }
        }
        r = manager_request_names(m);
        if (r < 0)
                goto finish;
        r = listen_activation(m);
        if (r < 0)
                goto finish;
        r = manager_set_idle(m, idle_sec * 1000000ULL);
        if (r < 0)
                goto finish;
        outbox_kick(m->outbox); /* what waited across the restart */
        r = work_setup(m);
        if (r < 0)
                goto finish;
        work_recovered(m); /* work whose outcome a restart lost: reported, not run again */

        for (size_t k = 0; k < m->n_hosts; k++)
                log_info("Hosting %s as %s", m->hosts[k].name, m->hosts[k].bus_name);
        (void) sd_notifyf(0, "READY=1\nSTATUS=%zu components, %zu instances", m->n_hosts,
                          xfsm_engine_n_instances(m->engine));

        r = sd_event_loop(m->event);
        (void) sd_notify(0, "STOPPING=1");
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
        else if (r == 0) {
                durable_flush(m->durable);
                durable_snapshot_all(m->durable); /* a clean stop: start quickly next time */
        }

finish:
        if (exit_status != 0)
                return exit_status;
        return r != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
