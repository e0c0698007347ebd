/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench exec: what an `exec` action costs (xfsm-bench(1)), beside
 * the floor measured in the same run.
 *
 * A component BenchExec whose Job runs /bin/true on RUN (EXEC_DONE → Done,
 * RUN again from Done): the latency of one action (Send RUN until the
 * Transition signal to Done) over sequential runs, and actions/s with many
 * instances at once. The floor: `systemd-run --wait` of /bin/true with the
 * same sandbox when the bus is the system bus (xfsm runs the action as a
 * unit there), else a fork and exec of /bin/true (xfsm runs a child).
 *
 * On the system bus the component must be installed (BenchExec, e.g. the
 * container suite's bench-exec.yaml) and enabled; otherwise this starts a
 * private dbus-daemon and xfsmd hosting it. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "macro.h"
#include "bench.h"

static const char bench_yaml[] = "name: BenchExec\n"
                                 "stateMachines:\n"
                                 "  - name: Job\n"
                                 "    initialState: Idle\n"
                                 "    states:\n"
                                 "      - {name: Idle, type: entry}\n"
                                 "      - name: Running\n"
                                 "        onEntry: [{exec: {argv: [/bin/true], timeoutMs: 10000}}]\n"
                                 "      - {name: Done}\n"
                                 "      - {name: Failed}\n"
                                 "    transitions:\n"
                                 "      - {from: Idle, to: Running, event: RUN}\n"
                                 "      - {from: Done, to: Running, event: RUN}\n"
                                 "      - {from: Running, to: Done, event: EXEC_DONE}\n"
                                 "      - {from: Running, to: Failed, event: EXEC_FAILED}\n";

typedef struct Wait {
        unsigned done, failed;
} Wait;

static int on_transition(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Wait *w = userdata;
        const char *from, *to, *event, *corr;
        (void) ret_error;
        if (sd_bus_message_read(m, "ssss", &from, &to, &event, &corr) >= 0) {
                w->done += streq(to, "Done");
                w->failed += streq(to, "Failed");
        }
        return 0;
}

/* Pump the bus until want transitions to Done (or a failure, or 60 s). */
static int wait_done(sd_bus *bus, Wait *w, unsigned want) {
        uint64_t start = bench_now_ns();
        while (w->done < want) {
                if (w->failed)
                        return -EIO;
                if (bench_now_ns() - start > 60ULL * 1000000000ULL)
                        return -ETIMEDOUT;
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        (void) sd_bus_wait(bus, 100000);
        }
        return 0;
}

static char *create(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        const char *p, *i;
        char *path = NULL;
        if (sd_bus_call_method(bus, "org.xfsm1.BenchExec", "/org/xfsm1/BenchExec", "org.xfsm1.Component",
                               "CreateInstance", NULL, &reply, "ss", "Job", "") >= 0 &&
            sd_bus_message_read(reply, "os", &p, &i) >= 0)
                path = strdup(p);
        sd_bus_message_unref(reply);
        return path;
}

/* The floor, once: systemd-run --wait of /bin/true in the same sandbox, or fork + exec. */
static uint64_t floor_once(bool systemd) {
        uint64_t a = bench_now_ns();
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                if (systemd)
                        execl("/usr/bin/systemd-run", "systemd-run", "--wait", "--quiet", "--collect",
                              "-p", "DynamicUser=yes", "-p", "PrivateNetwork=yes", "-p", "ProtectSystem=strict",
                              "-p", "PrivateTmp=yes", "/bin/true", (char *) NULL);
                else
                        execl("/bin/true", "true", (char *) NULL);
                _exit(127);
        }
        int status = 0;
        (void) waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return 0;
        return bench_now_ns() - a;
}

int bench_exec(int argc, char **argv, const char *address_arg, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "xfsmd", required_argument, NULL, 'x' },
                {},
        };
        char dir[] = "/tmp/xfsm-bench-exec-XXXXXX", path[PATH_MAX], address[PATH_MAX + 16], xbuf[PATH_MAX];
        const char *xfsmd = bench_find_xfsmd(xbuf, sizeof xbuf);
        unsigned count = 20, parallel = 40;
        pid_t broker = 0, daemon = 0;
        bool on_system = !address_arg, made_dir = false;
        sd_bus *bus = NULL;
        uint64_t *lat = NULL, *flo = NULL;
        char **paths = NULL;
        Wait w = {};
        int c, r, ret = EXIT_REFUSED;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:x:", options, NULL)) >= 0)
                if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else if (c == 'x')
                        xfsmd = optarg;
                else
                        return EXIT_USAGE;
        if (count < 5)
                return usage_error("bench exec: --count must be at least 5");

        if (on_system) {
                r = sd_bus_open_system(&bus);
                if (r < 0 || !bench_name_has_owner(bus, "org.xfsm1.BenchExec")) {
                        /* not running: it may be activatable; else host it ourselves on a private bus */
                        sd_bus_message *reply = NULL;
                        if (r >= 0 && sd_bus_call_method(bus, "org.xfsm1.BenchExec", "/org/xfsm1/BenchExec",
                                                         "org.freedesktop.DBus.Peer", "Ping", NULL, &reply, "") >= 0) {
                                sd_bus_message_unref(reply);
                        } else {
                                sd_bus_message_unref(reply);
                                bus = sd_bus_flush_close_unref(bus);
                                on_system = false;
                        }
                }
        }
        if (!on_system) {
                if (!mkdtemp(dir))
                        return EXIT_REFUSED;
                made_dir = true;
                if (bench_write_file(dir, "bench-exec.yaml", bench_yaml, path, sizeof path) < 0)
                        goto finish;
                if (address_arg)
                        snprintf(address, sizeof address, "%s", address_arg);
                else if ((broker = bench_private_bus(dir, address, sizeof address)) < 0)
                        goto finish;
                daemon = bench_spawn_xfsmd(xfsmd, address, path, NULL, NULL);
                bus = bench_connect(address);
                if (!bus || !bench_wait_name(bus, "org.xfsm1.BenchExec")) {
                        fprintf(stderr, "xfsm-bench: exec: could not start xfsmd (%s)\n", xfsmd);
                        goto finish;
                }
        }
        if (sd_bus_match_signal(bus, NULL, "org.xfsm1.BenchExec", NULL, "org.xfsm1.Instance", "Transition",
                                on_transition, &w) < 0)
                goto finish;

        lat = calloc(count, sizeof *lat);
        flo = calloc(count, sizeof *flo);
        paths = calloc(parallel, sizeof *paths);
        if (!lat || !flo || !paths)
                goto finish;

        /* one action at a time, interleaved with the floor */
        char *one = create(bus);
        if (!one)
                goto finish;
        for (unsigned k = 0; k < count; k++) {
                uint64_t a = bench_now_ns();
                w.done = 0;
                if (sd_bus_call_method(bus, "org.xfsm1.BenchExec", one, "org.xfsm1.Instance", "Send", NULL, NULL, "ss",
                                       "RUN", "") < 0 ||
                    wait_done(bus, &w, 1) < 0) {
                        fprintf(stderr, "xfsm-bench: exec: the action did not complete\n");
                        free(one);
                        goto finish;
                }
                lat[k] = bench_now_ns() - a;
                flo[k] = floor_once(on_system);
        }
        free(one);

        /* many at once */
        for (unsigned k = 0; k < parallel; k++)
                if (!(paths[k] = create(bus)))
                        goto finish;
        w.done = 0;
        uint64_t a = bench_now_ns();
        for (unsigned k = 0; k < parallel; k++)
                if (sd_bus_call_method_async(bus, NULL, "org.xfsm1.BenchExec", paths[k], "org.xfsm1.Instance", "Send",
                                             NULL, NULL, "ss", "RUN", "") < 0)
                        goto finish;
        if (wait_done(bus, &w, parallel) < 0) {
                fprintf(stderr, "xfsm-bench: exec: %u actions at once did not complete\n", parallel);
                goto finish;
        }
        double rate = parallel / ((double) (bench_now_ns() - a) / 1e9);

        qsort(lat, count, sizeof *lat, bench_cmp_u64);
        qsort(flo, count, sizeof *flo, bench_cmp_u64);
        double l = (double) lat[count / 2] / 1e6, fl = (double) flo[count / 2] / 1e6;
        const char *floor_name = on_system ? "systemd-run --wait /bin/true (same sandbox)" : "fork + exec /bin/true";
        if (json)
                printf("{\"mode\": \"%s\", \"exec_latency_ms\": %.2f, \"floor_ms\": %.2f, \"ratio\": %.2f, "
                       "\"exec_per_s\": %.1f, \"count\": %u, \"parallel\": %u}\n",
                       on_system ? "unit" : "child", l, fl, fl > 0 ? l / fl : 0, rate, count, parallel);
        else {
                printf("exec: /bin/true as an exec action, %s (%u sequential runs, median)\n",
                       on_system ? "an xfsm-exec@.service unit on the system bus" : "a child process of xfsmd", count);
                printf("  one action (Send RUN to the Done transition)  %8.2f ms\n", l);
                printf("  %-44s  %8.2f ms   ratio %.2f\n", floor_name, fl, fl > 0 ? l / fl : 0);
                printf("  %u actions at once                           %8.1f actions/s\n", parallel, rate);
        }
        ret = EXIT_OK;
finish:
        for (unsigned k = 0; paths && k < parallel; k++)
                free(paths[k]);
        free(paths);
        free(lat);
        free(flo);
        sd_bus_flush_close_unref(bus);
        bench_stop(daemon);
        bench_stop(broker);
        if (made_dir)
                bench_remove_dir(dir);
        return ret;
}
