/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench bus: Instance.Send through xfsmd beside a bare sd-bus service
 * on the same bus that answers with the same reply and emits the same
 * signals (Transition and PropertiesChanged), in one run; then what durable
 * Sends, the inter-process hop and recovery cost (xfsm-bench(1)). Starts its
 * own private dbus-daemon and xfsmd unless --bus is given. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "journal.h"
#include "record.h"
#include "macro.h"
#include "xfsm.h"
#include "bench.h"

#define WINDOW 64

/* a private bus for the benchmarks: anyone may connect, own org.xfsm1.* and
 * org.freedesktop.PolicyKit1 (bench polkit), and call anything */
static const char bus_conf[] =
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><auth>EXTERNAL</auth>\n"
        "<policy context=\"default\"><allow user=\"*\"/><allow own_prefix=\"org.xfsm1\"/>"
        "<allow own=\"org.freedesktop.PolicyKit1\"/><allow send_destination=\"*\" eavesdrop=\"true\"/>"
        "<allow eavesdrop=\"true\"/></policy></busconfig>\n";

const char bench_toggle_yaml[] = "name: BenchToggle\n"
                                  "stateMachines:\n"
                                  "  - name: Toggle\n"
                                  "    initialState: Off\n"
                                  "    states: [{name: Off, type: entry}, {name: On}]\n"
                                  "    transitions:\n"
                                  "      - {from: Off, to: On, event: TOGGLE}\n"
                                  "      - {from: On, to: Off, event: TOGGLE}\n";

uint64_t bench_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int bench_cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

int bench_write_file(const char *dir, const char *name, const char *text, char *ret_path, size_t size) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        if (fclose(f) != 0)
                return -EIO;
        if (chmod(path, 0644) < 0)
                return -errno;
        if (ret_path)
                snprintf(ret_path, size, "%s", path);
        return 0;
}

pid_t bench_private_bus(const char *dir, char *ret_address, size_t size) {
        char conf[PATH_MAX + 32], addr[PATH_MAX + 32], sock[PATH_MAX];
        pid_t pid;
        FILE *f;

        snprintf(conf, sizeof conf, "%s/bus.conf", dir);
        f = fopen(conf, "we");
        if (!f)
                return -errno;
        fputs(bus_conf, f);
        fclose(f);
        snprintf(conf, sizeof conf, "--config-file=%s/bus.conf", dir);
        snprintf(sock, sizeof sock, "%s/bus", dir);
        snprintf(ret_address, size, "unix:path=%s", sock);
        snprintf(addr, sizeof addr, "--address=%s", ret_address);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execl("/usr/bin/dbus-daemon", "dbus-daemon", conf, addr, "--nofork", "--nopidfile", (char *) NULL);
                _exit(127);
        }
        for (int k = 0; k < 500 && access(sock, F_OK) < 0; k++)
                usleep(10000);
        (void) chmod(sock, 0777); /* bench polkit calls as nobody */
        return pid;
}

void bench_stop(pid_t pid) {
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

void bench_remove_dir(const char *dir) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "xfsm-bench: could not remove %s\n", dir);
}

sd_bus *bench_connect(const char *address) {
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0)
                return sd_bus_unref(bus);
        return bus;
}

/* ---- the bare service: the same reply and signals, no engine ------------- */

static bool bare_on;

static int bare_send(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        sd_bus *bus = sd_bus_message_get_bus(msg);
        const char *event, *payload, *from = bare_on ? "On" : "Off", *to = bare_on ? "Off" : "On";
        int r;
        (void) userdata, (void) error;

        r = sd_bus_message_read(msg, "ss", &event, &payload);
        if (r < 0)
                return r;
        bare_on = !bare_on;
        (void) sd_bus_emit_signal(bus, "/bench", "org.xfsm1.Instance", "Transition", "ssss", from, to, event, "");
        (void) sd_bus_emit_properties_changed(bus, "/bench", "org.xfsm1.Instance", "State", "UpdatedAt", NULL);
        return sd_bus_reply_method_return(msg, "s", to);
}

static int bare_get(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                    void *userdata, sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) userdata, (void) error;
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", bare_on ? "On" : "Off");
        return sd_bus_message_append(reply, "t", (uint64_t) time(NULL) * 1000000);
}

static const sd_bus_vtable bare_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", bare_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("UpdatedAt", "t", bare_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("s", event, "s", payload_json), SD_BUS_RESULT("s", state),
                                bare_send, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Transition", SD_BUS_ARGS("s", from, "s", to, "s", event, "s", correlation_id), 0),
        SD_BUS_VTABLE_END,
};

static pid_t start_bare(const char *address) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        sd_bus *bus = bench_connect(address);
        if (!bus || sd_bus_add_object_vtable(bus, NULL, "/bench", "org.xfsm1.Instance", bare_vtable, NULL) < 0 ||
            sd_bus_request_name(bus, "org.xfsm1.BareBench", 0) < 0)
                _exit(1);
        for (;;) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        _exit(0);
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        _exit(0);
        }
}

/* ---- measurements ----------------------------------------------------------- */

int bench_round_trips(sd_bus *bus, const char *dest, const char *path, unsigned n, BenchResult *res) {
        uint64_t *lat = calloc(n, sizeof *lat);
        if (!lat)
                return -ENOMEM;
        for (unsigned k = 0; k < n; k++) {
                sd_bus_message *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t a = bench_now_ns();
                int r = sd_bus_call_method(bus, dest, path, "org.xfsm1.Instance", "Send", &error, &reply, "ss",
                                           "TOGGLE", "");
                lat[k] = bench_now_ns() - a;
                sd_bus_message_unref(reply);
                if (r < 0) {
                        fprintf(stderr, "xfsm-bench: %s: %s\n", dest, error.message ?: strerror(-r));
                        sd_bus_error_free(&error);
                        free(lat);
                        return r;
                }
        }
        qsort(lat, n, sizeof *lat, bench_cmp_u64);
        res->median_ns = lat[n / 2];
        res->p99_ns = lat[n * 99 / 100];
        free(lat);
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        unsigned *done = userdata;
        (void) ret_error;
        if (sd_bus_message_is_method_error(m, NULL))
                return 0;
        (*done)++;
        return 0;
}

static int pipelined(sd_bus *bus, const char *dest, const char *path, unsigned n, double *ret_rate) {
        unsigned sent = 0, done = 0;
        uint64_t t0 = bench_now_ns();

        while (done < n) {
                while (sent < n && sent - done < WINDOW) {
                        int r = sd_bus_call_method_async(bus, NULL, dest, path, "org.xfsm1.Instance", "Send", on_reply,
                                                         &done, "ss", "TOGGLE", "");
                        if (r < 0)
                                return r;
                        sent++;
                }
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r == 0 && sd_bus_wait(bus, 1000000) < 0)
                        return -EIO;
                if (bench_now_ns() - t0 > 120ULL * 1000000000ULL)
                        return -ETIMEDOUT;
        }
        *ret_rate = (double) n / ((double) (bench_now_ns() - t0) / 1e9);
        return 0;
}

static const char durable_yaml[] = "name: BenchDurable\n"
                                   "stateMachines:\n"
                                   "  - name: Toggle\n"
                                   "    initialState: Off\n"
                                   "    states: [{name: Off, type: entry}, {name: On}]\n"
                                   "    transitions:\n"
                                   "      - {from: Off, to: On, event: TOGGLE}\n"
                                   "      - {from: On, to: Off, event: TOGGLE}\n";

bool bench_name_has_owner(sd_bus *bus, const char *name) {
        sd_bus_message *reply = NULL;
        int has = 0;
        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", name) >= 0)
                (void) sd_bus_message_read(reply, "b", &has);
        sd_bus_message_unref(reply);
        return has;
}

/* The name goes with its process: wait until the bus says so (2 s at most). */
static void wait_name_gone(sd_bus *bus, const char *name) {
        for (int k = 0; k < 400 && bench_name_has_owner(bus, name); k++)
                usleep(5000);
}

/* xfsmd on address hosting file; with a state directory when state is not NULL. */
pid_t bench_spawn_xfsmd(const char *xfsmd, const char *address, const char *file, const char *state,
                        const char *policy) {
        pid_t pid = fork();
        if (pid == 0) {
                /* as xfsm@.service runs it (Environment=GLIBC_TUNABLES=...) */
                (void) setenv("GLIBC_TUNABLES", XFSM_GLIBC_TUNABLES, 0);
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        dup2(fd, STDERR_FILENO);
                if (state)
                        execl(xfsmd, xfsmd, "--bus-address", address, "--state-dir", state, "--durability", policy,
                              file, (char *) NULL);
                else
                        execl(xfsmd, xfsmd, "--bus-address", address, file, (char *) NULL);
                _exit(127);
        }
        return pid;
}

/* xfsmd with a state directory under policy: Send round trip and pipelined rate. */
static int measure_durable(sd_bus *bus, const char *xfsmd, const char *address, const char *dir, const char *policy,
                           unsigned count, BenchResult *ret_rt, double *ret_rate) {
        char file[PATH_MAX], state[PATH_MAX];
        sd_bus_message *reply = NULL;
        const char *p, *i;
        char *ipath = NULL;
        pid_t pid;
        FILE *f;
        int r = -EIO;

        snprintf(file, sizeof file, "%s/durable.yaml", dir);
        snprintf(state, sizeof state, "%s/state-%s", dir, policy);
        bench_remove_dir(state); /* a fresh journal for each run */
        f = fopen(file, "we");
        if (!f)
                return -errno;
        fputs(durable_yaml, f);
        fclose(f);
        pid = bench_spawn_xfsmd(xfsmd, address, file, state, policy);
        if (!bench_wait_name(bus, "org.xfsm1.BenchDurable"))
                goto finish;
        if (sd_bus_call_method(bus, "org.xfsm1.BenchDurable", "/org/xfsm1/BenchDurable", "org.xfsm1.Component",
                               "CreateInstance", NULL, &reply, "ss", "Toggle", "") < 0 ||
            sd_bus_message_read(reply, "os", &p, &i) < 0)
                goto finish;
        ipath = strdup(p);
        if (bench_round_trips(bus, "org.xfsm1.BenchDurable", ipath, count, ret_rt) < 0 ||
            pipelined(bus, "org.xfsm1.BenchDurable", ipath, count * 2, ret_rate) < 0)
                goto finish;
        r = 0;
finish:
        sd_bus_message_unref(reply);
        free(ipath);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone(bus, "org.xfsm1.BenchDurable");
        return r;
}

/* ---- the inter-process hop ------------------------------------------------------
 *
 * Two workers (two xfsmd processes) rally a ball: each Side re-enters Hit on
 * BALL and its cascade sends BALL to the other component's Side, K hops in
 * all, each a routed event through the sender's outbox and Deliver on the
 * receiver; the last one lands in Done. Per hop = rally time / K, beside a
 * raw Unix-socket (SOCK_SEQPACKET, 64 B) ping-pong between two processes,
 * whose one-way time is half its round trip. */

#define HOPS 24

static void write_hop_yaml(FILE *f, const char *self, const char *other) {
        fprintf(f,
                "name: %s\n"
                "stateMachines:\n"
                "  - name: Side\n"
                "    initialState: Ready\n"
                "    states:\n"
                "      - {name: Ready, type: entry}\n"
                "      - name: Hit\n"
                "        cascadingRules:\n"
                "          - {targetComponent: %s, targetMachine: Side, targetState: Hit, event: BALL,\n"
                "             payload: {ball: \"{{left}}\"}}\n"
                "      - {name: Done}\n"
                "    transitions:\n"
                "      - {from: Ready, to: Hit, event: ARM}\n"
                "      - {from: Done, to: Hit, event: ARM}\n"
                "      - {from: Hit, to: Hit, event: BALL, guard: \"event.ball > 0\",\n"
                "         actions: [{assign: {left: \"event.ball - 1\"}}]}\n"
                "      - {from: Hit, to: Done, event: BALL, guard: \"event.ball <= 0\"}\n",
                self, other);
}

typedef struct Rally {
        unsigned done;
        char done_path[256];
} Rally;

static int on_transition(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Rally *r = userdata;
        const char *from, *to, *event, *corr;
        (void) ret_error;
        if (sd_bus_message_read(m, "ssss", &from, &to, &event, &corr) >= 0 && streq(to, "Done")) {
                snprintf(r->done_path, sizeof r->done_path, "%s", sd_bus_message_get_path(m));
                r->done++;
        }
        return 0;
}


/* rallies of HOPS hops; the per-hop median over the rallies */
/* xfsmd started by the first connection to DIR/STEM.sock (as xfsm@.socket does), knowing
 * where the other worker's socket is: routed events then go peer to peer */
static pid_t spawn_socket_worker(const char *xfsmd, const char *address, const char *dir, const char *file,
                                 const char *stem, const char *state, const char *policy) {
        char sock[PATH_MAX + 16], listen[PATH_MAX + 32], run[PATH_MAX + 32], path[PATH_MAX + 32];
        pid_t pid;

        snprintf(sock, sizeof sock, "%s/%s.sock", dir, stem);
        snprintf(listen, sizeof listen, "--listen=%s", sock);
        snprintf(run, sizeof run, "XFSM_RUNTIME_DIR=%s", dir);
        snprintf(path, sizeof path, "XFSM_COMPONENT_PATH=%s", dir);
        pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        dup2(fd, STDERR_FILENO);
                /* as xfsm@.service runs it (Environment=GLIBC_TUNABLES=...) */
                (void) setenv("GLIBC_TUNABLES", XFSM_GLIBC_TUNABLES, 0);
                if (state)
                        execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", listen, "--fdname=xfsm",
                              "-E", run, "-E", path, "-E", "GLIBC_TUNABLES", xfsmd, "--bus-address", address,
                              "--state-dir", state, "--durability", policy, file, (char *) NULL);
                else
                        execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", listen, "--fdname=xfsm",
                              "-E", run, "-E", path, "-E", "GLIBC_TUNABLES", xfsmd, "--bus-address", address, file,
                              (char *) NULL);
                _exit(127);
        }
        bench_activate(sock);
        return pid;
}

void bench_activate(const char *sock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(sock) >= sizeof sa.sun_path)
                return;
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        for (int k = 0; k < 500; k++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                bool ok = fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;

                if (fd >= 0)
                        close(fd);
                if (ok)
                        return;
                usleep(10000);
        }
}

/* Where a hop's time goes: the CPU time each side used per hop (the two
 * workers together, the broker the workers' signals go through, this client). */
typedef struct HopCpu {
        double workers_ns, broker_ns, client_ns;
} HopCpu;

static int measure_hop(sd_bus *bus, const char *xfsmd, const char *address, const char *dir, unsigned rallies,
                       bool sockets, const char *policy, pid_t broker, BenchResult *ret, HopCpu *ret_cpu) {
        uint64_t cpu_w = 0, cpu_b = 0, cpu_c = 0;
        char fa[PATH_MAX], fb[PATH_MAX], pa[256] = "", pb[256] = "", payload[64], sa[PATH_MAX], sb[PATH_MAX];
        sd_bus_slot *slot = NULL;
        uint64_t *lat = calloc(rallies, sizeof *lat);
        pid_t a = -1, b = -1;
        Rally rally = {};
        int r = -EIO;
        FILE *f;

        if (!lat)
                return -ENOMEM;
        snprintf(fa, sizeof fa, "%s/hop-a.yaml", dir);
        snprintf(fb, sizeof fb, "%s/hop-b.yaml", dir);
        if (!(f = fopen(fa, "we")))
                goto finish;
        write_hop_yaml(f, "BenchHopA", "BenchHopB");
        fclose(f);
        if (!(f = fopen(fb, "we")))
                goto finish;
        write_hop_yaml(f, "BenchHopB", "BenchHopA");
        fclose(f);
        /* durability none without a state directory, else a fresh one each */
        snprintf(sa, sizeof sa, "%s/hop-a-state", dir);
        snprintf(sb, sizeof sb, "%s/hop-b-state", dir);
        bench_remove_dir(sa);
        bench_remove_dir(sb);
        if (sockets) {
                a = spawn_socket_worker(xfsmd, address, dir, fa, "hop-a", policy ? sa : NULL, policy);
                b = spawn_socket_worker(xfsmd, address, dir, fb, "hop-b", policy ? sb : NULL, policy);
        } else {
                a = bench_spawn_xfsmd(xfsmd, address, fa, policy ? sa : NULL, policy);
                b = bench_spawn_xfsmd(xfsmd, address, fb, policy ? sb : NULL, policy);
        }
        if (!bench_wait_name(bus, "org.xfsm1.BenchHopA") || !bench_wait_name(bus, "org.xfsm1.BenchHopB"))
                goto finish;
        for (int k = 0; k < 2; k++) {
                sd_bus_message *reply = NULL;
                const char *p, *i;
                const char *name = k ? "org.xfsm1.BenchHopB" : "org.xfsm1.BenchHopA";
                char path[64];
                snprintf(path, sizeof path, "/org/xfsm1/%s", name + strlen("org.xfsm1."));
                if (sd_bus_call_method(bus, name, path, "org.xfsm1.Component", "CreateInstance", NULL, &reply, "ss",
                                       "Side", "{\"left\":0}") < 0 ||
                    sd_bus_message_read(reply, "os", &p, &i) < 0) {
                        sd_bus_message_unref(reply);
                        goto finish;
                }
                snprintf(k ? pb : pa, sizeof pa, "%s", p);
                sd_bus_message_unref(reply);
        }
        /* only the ends of rallies: the bench is not woken by every hop it measures */
        if (sd_bus_add_match(bus, &slot,
                             "type='signal',interface='org.xfsm1.Instance',member='Transition',arg1='Done'",
                             on_transition, &rally) < 0)
                goto finish;
        /* B waits in Hit; A serves first, then whichever side ended the rally serves */
        if (sd_bus_call_method(bus, "org.xfsm1.BenchHopB", pb, "org.xfsm1.Instance", "Send", NULL, NULL, "ss", "ARM",
                               "") < 0)
                goto finish;
        snprintf(rally.done_path, sizeof rally.done_path, "%s", pa);
        snprintf(payload, sizeof payload, "{\"left\":%d}", HOPS);
        cpu_w = bench_cpu_ns(a) + bench_cpu_ns(b);
        cpu_b = broker > 0 ? bench_cpu_ns(broker) : 0;
        cpu_c = bench_cpu_ns(getpid());
        for (unsigned k = 0; k < rallies; k++) {
                const char *serve = rally.done_path;
                const char *dest = streq(serve, pa) ? "org.xfsm1.BenchHopA" : "org.xfsm1.BenchHopB";
                char server[256];
                unsigned want = rally.done + 1;
                uint64_t t0 = bench_now_ns();

                snprintf(server, sizeof server, "%s", serve);
                if (sd_bus_call_method(bus, dest, server, "org.xfsm1.Instance", "Send", NULL, NULL, "ss", "ARM",
                                       payload) < 0)
                        goto finish;
                while (rally.done < want) {
                        int q = sd_bus_process(bus, NULL);
                        if (q < 0)
                                goto finish;
                        if (q == 0 && sd_bus_wait(bus, 1000000) < 0)
                                goto finish;
                        if (bench_now_ns() - t0 > 10ULL * 1000000000ULL) {
                                fprintf(stderr, "xfsm-bench: a rally did not end\n");
                                goto finish;
                        }
                }
                lat[k] = (bench_now_ns() - t0) / (HOPS + 1);
        }
        if (ret_cpu) {
                double hops = (double) rallies * (HOPS + 1);
                ret_cpu->workers_ns = (double) (bench_cpu_ns(a) + bench_cpu_ns(b) - cpu_w) / hops;
                ret_cpu->broker_ns = broker > 0 ? (double) (bench_cpu_ns(broker) - cpu_b) / hops : 0;
                ret_cpu->client_ns = (double) (bench_cpu_ns(getpid()) - cpu_c) / hops;
        }
        qsort(lat, rallies, sizeof *lat, bench_cmp_u64);
        ret->median_ns = lat[rallies / 2];
        ret->p99_ns = lat[rallies * 99 / 100];
        r = 0;
finish:
        sd_bus_slot_unref(slot);
        free(lat);
        bench_stop(a);
        bench_stop(b);
        wait_name_gone(bus, "org.xfsm1.BenchHopA");
        wait_name_gone(bus, "org.xfsm1.BenchHopB");
        if (sockets) {
                snprintf(fa, sizeof fa, "%s/hop-a.sock", dir);
                snprintf(fb, sizeof fb, "%s/hop-b.sock", dir);
                (void) unlink(fa);
                (void) unlink(fb);
        }
        return r;
}

/* the run whose workers used the median CPU time per hop */
static HopCpu hop_cpu_median(const HopCpu v[RUNS]) {
        size_t order[RUNS];

        for (size_t i = 0; i < RUNS; i++)
                order[i] = i;
        for (size_t i = 1; i < RUNS; i++)
                for (size_t j = i; j > 0 && v[order[j]].workers_ns < v[order[j - 1]].workers_ns; j--) {
                        size_t t = order[j];
                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
        return v[order[RUNS / 2]];
}

/* the floor: one-way time of a 64-byte SOCK_SEQPACKET ping-pong between two processes */
static int measure_socket_floor(unsigned n, BenchResult *ret) {
        uint64_t *lat = calloc(n, sizeof *lat);
        char buf[64] = {};
        int sv[2];
        pid_t pid;

        if (!lat)
                return -ENOMEM;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                free(lat);
                return -errno;
        }
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                while (read(sv[1], buf, sizeof buf) == (ssize_t) sizeof buf)
                        if (write(sv[1], buf, sizeof buf) != (ssize_t) sizeof buf)
                                break;
                _exit(0);
        }
        close(sv[1]);
        for (unsigned k = 0; k < n; k++) {
                uint64_t t0 = bench_now_ns();
                if (write(sv[0], buf, sizeof buf) != (ssize_t) sizeof buf ||
                    read(sv[0], buf, sizeof buf) != (ssize_t) sizeof buf)
                        break;
                lat[k] = (bench_now_ns() - t0) / 2;
        }
        close(sv[0]);
        waitpid(pid, NULL, 0);
        qsort(lat, n, sizeof *lat, bench_cmp_u64);
        ret->median_ns = lat[n / 2];
        ret->p99_ns = lat[n * 99 / 100];
        free(lat);
        return 0;
}

static const char recover_yaml[] = "name: BenchRecover\n"
                                   "stateMachines:\n"
                                   "  - name: Order\n"
                                   "    initialState: Created\n"
                                   "    states: [{name: Created, type: entry}, {name: Validated}, {name: Done, type: final}]\n"
                                   "    transitions:\n"
                                   "      - {from: Created, to: Validated, event: VALIDATE}\n"
                                   "      - {from: Validated, to: Done, event: COMPLETE}\n";

/* A state directory with n instances in a snapshot and n records after it
 * (each one event's after-image), written with the daemon's own journal and
 * record code, in the format it writes (history kept as its default
 * HistoryLimit= does). */
static int make_state(const char *file, const char *state, unsigned n) {
        xfsm_engine *e = xfsm_engine_new();
        Journal *j = NULL;
        RecordBuf rb = {};
        char ctx[128], **ids = NULL;
        int r = -EIO;

        if (!e || xfsm_engine_load_file(e, file, NULL, NULL) < 0 || journal_open(state, &j) < 0 ||
            journal_recover(j, NULL, NULL, NULL, NULL) < 0)
                goto finish;
        xfsm_engine_set_history_limit(e, 1000, 0);
        ids = calloc(n, sizeof *ids);
        if (!ids || snapshot_open(&rb, "") < 0)
                goto finish;
        for (unsigned k = 0; k < n; k++) {
                xfsm_instance *i;
                snprintf(ctx, sizeof ctx, "{\"orderId\":\"ORD-%07u\",\"amount\":%u.5,\"customerId\":\"CUST-%u\"}", k,
                         k % 1000, k % 5000);
                if (xfsm_engine_create(e, NULL, "Order", ctx, &i) < 0)
                        break;
                ids[k] = strdup(xfsm_instance_id(i));
                char *image = xfsm_instance_to_json(i);
                fputs(image, rb.f);
                fputc('\n', rb.f);
                free(image);
        }
        if (snapshot_members(&rb, "") < 0)
                goto finish;
        fputs("[]", record_member(&rb, "outbox"));
        if (record_close(&rb) < 0 || journal_snapshot(j, rb.meta, rb.buf, rb.len) < 0)
                goto finish;
        record_done(&rb);
        for (unsigned k = 0; k < n; k++) {
                xfsm_instance *i = xfsm_engine_find(e, ids[k]);
                char *image;
                if (!i || xfsm_instance_send(e, i, "VALIDATE", "{\"by\":\"bench\"}", NULL) < 0)
                        break;
                image = xfsm_step_instance_json(xfsm_engine_last_step(e), i);
                if (!image || record_open(&rb, "") < 0) {
                        free(image);
                        break;
                }
                fprintf(record_member(&rb, "instances"), "[%s]", image);
                fputs("[]", record_member(&rb, "dropped"));
                free(image);
                if (record_close(&rb) < 0)
                        break;
                (void) journal_append(j, rb.meta, rb.buf, rb.len, NULL);
                record_done(&rb);
        }
        r = journal_sync(j);
finish:
        record_done(&rb);
        for (unsigned k = 0; ids && k < n; k++)
                free(ids[k]);
        free(ids);
        journal_close(j);
        xfsm_engine_free(e);
        return r;
}

/* Time from starting xfsmd to its name on the bus. */
static uint64_t time_start(sd_bus *bus, const char *xfsmd, const char *address, const char *file, const char *state) {
        uint64_t t0 = bench_now_ns(), t = 0;
        pid_t pid = bench_spawn_xfsmd(xfsmd, address, file, state, "none");
        for (int k = 0; k < 60000; k++) {
                if (bench_name_has_owner(bus, "org.xfsm1.BenchRecover")) {
                        t = bench_now_ns() - t0;
                        break;
                }
                usleep(500);
        }
        kill(pid, SIGKILL); /* no snapshot on the way out: the next start replays the same tail */
        waitpid(pid, NULL, 0);
        wait_name_gone(bus, "org.xfsm1.BenchRecover");
        return t;
}

static uint64_t ctl_send(const char *xfsmctl, const char *address, const char *id) {
        uint64_t a = bench_now_ns();
        pid_t pid = fork();
        int status;
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        dup2(fd, STDOUT_FILENO);
                execl(xfsmctl, xfsmctl, "--bus", address, "send", "BenchToggle", id, "TOGGLE", (char *) NULL);
                _exit(127);
        }
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? bench_now_ns() - a : 0;
}

bool bench_wait_name(sd_bus *bus, const char *name) {
        for (int k = 0; k < 500; k++) {
                if (bench_name_has_owner(bus, name))
                        return true;
                usleep(10000);
        }
        return false;
}

/* $ENV, else REL beside this program in the build tree, else INSTALLED */
static const char *find_program(const char *env_name, const char *rel, const char *installed, char *buf,
                                size_t size) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        const char *env = getenv(env_name);

        if (env)
                return env;
        if (n > 0) {
                self[n] = 0;
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        if ((size_t) snprintf(buf, size, "%.*s/%s", (int) (size - 64), self, rel) < size &&
                            access(buf, X_OK) == 0)
                                return buf;
                }
        }
        return installed;
}

const char *bench_find_xfsmd(char *buf, size_t size) {
        return find_program("XFSMD", "../daemon/xfsmd", "/usr/libexec/xfsmd", buf, size);
}

const char *bench_find_xfsmctl(char *buf, size_t size) {
        return find_program("XFSMCTL", "xfsmctl", "/usr/bin/xfsmctl", buf, size);
}

/* ---- floors measured in the same run ------------------------------------------ */

static int ping_method(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *what;
        int r;

        r = sd_bus_message_read(m, "s", &what);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", what);
}

static const sd_bus_vtable ping_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Ping", SD_BUS_ARGS("s", what), SD_BUS_RESULT("s", echo), ping_method,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int on_ping_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        unsigned *done = userdata;
        (*done)++;
        return 0;
}

/* The floor of a hop and of the worker's socket: a bare sd-bus method call
 * (a string in, the same string out) between two processes peer to peer
 * over a Unix socket, no broker: round trip median and p99, and the rate
 * with WINDOW calls in flight. */
static int measure_p2p_floor(unsigned n, BenchResult *ret_rt, double *ret_rate) {
        _cleanup_(freep) uint64_t *lat = calloc(n, sizeof *lat);
        sd_bus *client = NULL;
        sd_id128_t id;
        int sv[2], r = -EIO;
        pid_t pid;

        if (!lat)
                return -ENOMEM;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(sv[0]);
                close(sv[1]);
                return -errno;
        }
        if (pid == 0) {
                sd_bus *server = NULL;
                close(sv[0]);
                if (sd_id128_randomize(&id) < 0 || sd_bus_new(&server) < 0 || sd_bus_set_fd(server, sv[1], sv[1]) < 0 ||
                    sd_bus_set_server(server, 1, id) < 0 ||
                    sd_bus_add_object_vtable(server, NULL, "/ping", "org.xfsm1.BenchPing", ping_vtable, NULL) < 0 ||
                    sd_bus_start(server) < 0)
                        _exit(1);
                for (;;) {
                        int q = sd_bus_process(server, NULL);
                        if (q < 0)
                                _exit(0);
                        if (q == 0 && sd_bus_wait(server, UINT64_MAX) < 0)
                                _exit(0);
                }
        }
        close(sv[1]);
        if (sd_bus_new(&client) < 0 || sd_bus_set_fd(client, sv[0], sv[0]) < 0 || sd_bus_start(client) < 0) {
                close(sv[0]);
                goto finish;
        }
        for (unsigned k = 0; k < n; k++) {
                sd_bus_message *reply = NULL;
                uint64_t a = bench_now_ns();
                r = sd_bus_call_method(client, NULL, "/ping", "org.xfsm1.BenchPing", "Ping", NULL, &reply, "s", "TOGGLE");
                lat[k] = bench_now_ns() - a;
                sd_bus_message_unref(reply);
                if (r < 0)
                        goto finish;
        }
        qsort(lat, n, sizeof *lat, bench_cmp_u64);
        ret_rt->median_ns = lat[n / 2];
        ret_rt->p99_ns = lat[n * 99 / 100];

        unsigned sent = 0, done = 0, total = n * 2;
        uint64_t t0 = bench_now_ns();
        r = -EIO;
        while (done < total) {
                while (sent < total && sent - done < WINDOW) {
                        if (sd_bus_call_method_async(client, NULL, NULL, "/ping", "org.xfsm1.BenchPing", "Ping",
                                                     on_ping_reply, &done, "s", "TOGGLE") < 0)
                                goto finish;
                        sent++;
                }
                int q = sd_bus_process(client, NULL);
                if (q < 0)
                        goto finish;
                if (q == 0 && sd_bus_wait(client, 1000000) < 0)
                        goto finish;
        }
        *ret_rate = (double) total / ((double) (bench_now_ns() - t0) / 1e9);
        r = 0;
finish:
        sd_bus_flush_close_unref(client);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return r;
}

/* What one fdatasync of a small appended record costs on the file system of
 * dir (where the durable benchmarks keep their journal): the median. */
static int measure_fdatasync(const char *dir, unsigned n, uint64_t *ret) {
        _cleanup_(freep) uint64_t *lat = calloc(n, sizeof *lat);
        char path[PATH_MAX], rec[200];
        int fd;

        if (!lat)
                return -ENOMEM;
        memset(rec, 'x', sizeof rec);
        snprintf(path, sizeof path, "%s/fdatasync-floor", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        for (unsigned k = 0; k < n; k++) {
                uint64_t a = bench_now_ns();
                if (write(fd, rec, sizeof rec) != (ssize_t) sizeof rec || fdatasync(fd) < 0) {
                        close(fd);
                        return -EIO;
                }
                lat[k] = bench_now_ns() - a;
        }
        close(fd);
        (void) unlink(path);
        qsort(lat, n, sizeof *lat, bench_cmp_u64);
        *ret = lat[n / 2];
        return 0;
}

/* A worker started by its socket with a state directory under policy: Send
 * peer to peer on that socket (no broker; no subscribers, its signals still
 * go to the bus), round trip and the rate with WINDOW in flight. */
static int measure_durable_socket(const char *xfsmd, const char *address, const char *dir, const char *policy,
                                  unsigned count, BenchResult *ret_rt, double *ret_rate) {
        char file[PATH_MAX], state[PATH_MAX], sock[PATH_MAX + 32], peer_address[PATH_MAX + 48], stem[64];
        sd_bus_message *reply = NULL;
        const char *p, *i;
        char *ipath = NULL;
        sd_bus *peer = NULL;
        pid_t pid;
        int r = -EIO;

        snprintf(stem, sizeof stem, "durable-%s", policy);
        if (bench_write_file(dir, "durable.yaml", durable_yaml, file, sizeof file) < 0)
                return -EIO;
        snprintf(state, sizeof state, "%s/state-socket-%s", dir, policy);
        bench_remove_dir(state);
        pid = spawn_socket_worker(xfsmd, address, dir, file, stem, state, policy);
        snprintf(sock, sizeof sock, "%s/%s.sock", dir, stem);
        snprintf(peer_address, sizeof peer_address, "unix:path=%s", sock);
        if (sd_bus_new(&peer) < 0 || sd_bus_set_address(peer, peer_address) < 0 || sd_bus_start(peer) < 0)
                goto finish;
        if (sd_bus_call_method(peer, NULL, "/org/xfsm1/BenchDurable", "org.xfsm1.Component", "CreateInstance", NULL,
                               &reply, "ss", "Toggle", "") < 0 ||
            sd_bus_message_read(reply, "os", &p, &i) < 0)
                goto finish;
        ipath = strdup(p);
        if (!ipath || bench_round_trips(peer, NULL, ipath, count, ret_rt) < 0 ||
            pipelined(peer, NULL, ipath, count * 4, ret_rate) < 0)
                goto finish;
        r = 0;
finish:
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(peer);
        free(ipath);
        bench_stop(pid);
        (void) unlink(sock);
        return r;
}

/* ---- the whole run -------------------------------------------------------------- */

/* Send on the bus: xfsmd beside the bare service, fresh processes each run */
typedef struct SendRun {
        BenchResult rt, bare_rt, rt_sub, bare_rt_sub;
        double rate, bare_rate, rate_sub, bare_rate_sub;
} SendRun;

static int wait_subscriber(pid_t pid, int fd) {
        char c;
        ssize_t n = read(fd, &c, 1);
        close(fd);
        return pid > 0 && n == 1 ? 0 : -EIO;
}

/* a subscriber with a pipe that says when its match is in place */
static pid_t spawn_subscriber_ready(const char *address, const char *sender, int *ret_fd) {
        int fd[2];
        pid_t pid;

        if (pipe2(fd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid == 0) {
                char match[256];
                close(fd[0]);
                snprintf(match, sizeof match, "type='signal',sender='%s'", sender);
                sd_bus *bus = bench_connect(address);
                /* the match is added synchronously: in place once this returns */
                if (!bus || sd_bus_add_match(bus, NULL, match, NULL, NULL) < 0)
                        _exit(1);
                if (write(fd[1], "r", 1) != 1)
                        _exit(1);
                close(fd[1]);
                for (;;) {
                        int r = sd_bus_process(bus, NULL);
                        if (r < 0)
                                _exit(0);
                        if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                                _exit(0);
                }
        }
        close(fd[1]);
        *ret_fd = fd[0];
        return pid;
}

static int measure_send(sd_bus *bus, const char *xfsmd, const char *address, const char *file, unsigned count,
                        SendRun *ret, char *ret_id, size_t id_size, const char *xfsmctl, uint64_t *ctl, size_t n_ctl) {
        sd_bus_message *reply = NULL;
        pid_t daemon, bare, sub_x = -1, sub_b = -1;
        char *ipath = NULL;
        const char *p, *i;
        int r = -EIO, fx = -1, fb = -1;

        daemon = bench_spawn_xfsmd(xfsmd, address, file, NULL, NULL);
        bare = start_bare(address);
        if (!bench_wait_name(bus, "org.xfsm1.BenchToggle") || !bench_wait_name(bus, "org.xfsm1.BareBench")) {
                fprintf(stderr, "xfsm-bench: bus: could not start xfsmd (%s) and the bare service on %s\n", xfsmd,
                        address);
                goto finish;
        }
        if (sd_bus_call_method(bus, "org.xfsm1.BenchToggle", "/org/xfsm1/BenchToggle", "org.xfsm1.Component",
                               "CreateInstance", NULL, &reply, "ss", "Toggle", "") < 0 ||
            sd_bus_message_read(reply, "os", &p, &i) < 0)
                goto finish;
        ipath = strdup(p);
        snprintf(ret_id, id_size, "%s", i);
        if (!ipath)
                goto finish;

        /* no subscribers */
        if (bench_round_trips(bus, "org.xfsm1.BenchToggle", ipath, count, &ret->rt) < 0 ||
            bench_round_trips(bus, "org.xfsm1.BareBench", "/bench", count, &ret->bare_rt) < 0 ||
            pipelined(bus, "org.xfsm1.BenchToggle", ipath, count * 2, &ret->rate) < 0 ||
            pipelined(bus, "org.xfsm1.BareBench", "/bench", count * 2, &ret->bare_rate) < 0)
                goto finish;

        /* one subscriber to each side's signals */
        sub_x = spawn_subscriber_ready(address, "org.xfsm1.BenchToggle", &fx);
        sub_b = spawn_subscriber_ready(address, "org.xfsm1.BareBench", &fb);
        if (wait_subscriber(sub_x, fx) < 0 || wait_subscriber(sub_b, fb) < 0)
                goto finish;
        if (bench_round_trips(bus, "org.xfsm1.BenchToggle", ipath, count, &ret->rt_sub) < 0 ||
            bench_round_trips(bus, "org.xfsm1.BareBench", "/bench", count, &ret->bare_rt_sub) < 0 ||
            pipelined(bus, "org.xfsm1.BenchToggle", ipath, count * 2, &ret->rate_sub) < 0 ||
            pipelined(bus, "org.xfsm1.BareBench", "/bench", count * 2, &ret->bare_rate_sub) < 0)
                goto finish;
        bench_stop(sub_x);
        bench_stop(sub_b);
        sub_x = sub_b = -1;

        for (size_t k = 0; k < n_ctl; k++)
                ctl[k] = ctl_send(xfsmctl, address, ret_id);
        r = 0;
finish:
        sd_bus_message_unref(reply);
        free(ipath);
        bench_stop(sub_x);
        bench_stop(sub_b);
        bench_stop(daemon);
        bench_stop(bare);
        wait_name_gone(bus, "org.xfsm1.BenchToggle");
        wait_name_gone(bus, "org.xfsm1.BareBench");
        return r;
}

static BenchStat stat_ns(const BenchResult *v, bool p99) {
        double d[RUNS];
        for (int k = 0; k < RUNS; k++)
                d[k] = (double) (p99 ? v[k].p99_ns : v[k].median_ns);
        return bench_stat(d, RUNS);
}

static BenchStat stat_u64(const uint64_t *v) {
        double d[RUNS];
        for (int k = 0; k < RUNS; k++)
                d[k] = (double) v[k];
        return bench_stat(d, RUNS);
}

static void json_rt(const char *name, const BenchResult *v) {
        printf("\"%s\":{", name);
        bench_json_stat(stdout, "median_ns", stat_ns(v, false));
        putchar(',');
        bench_json_stat(stdout, "p99_ns", stat_ns(v, true));
        putchar('}');
}

static void json_send(const char *name, BenchResult *rt, BenchResult *bare_rt, double *rate, double *bare_rate) {
        BenchStat x = stat_ns(rt, false), b = stat_ns(bare_rt, false), xr = bench_stat(rate, RUNS),
                  br = bench_stat(bare_rate, RUNS);

        printf("\"%s\":{", name);
        json_rt("round_trip", rt);
        putchar(',');
        json_rt("bare_round_trip", bare_rt);
        printf(",\"round_trip_ratio\":%.3f,\"round_trip_target_ratio\":1.5,\"in_flight\":%d,", x.median / b.median,
               WINDOW);
        bench_json_stat(stdout, "pipelined_per_s", xr);
        putchar(',');
        bench_json_stat(stdout, "bare_pipelined_per_s", br);
        printf(",\"pipelined_ratio\":%.3f,\"pipelined_target_ratio\":0.7}", xr.median / br.median);
}

static void json_durable(const char *name, BenchResult *rt, double *rate) {
        printf("\"%s\":{", name);
        json_rt("round_trip", rt);
        putchar(',');
        bench_json_stat(stdout, "pipelined_per_s", bench_stat(rate, RUNS));
        putchar('}');
}

static void print_rt(const char *what, const BenchResult *v) {
        BenchStat s = stat_ns(v, false), p = stat_ns(v, true);
        printf("%s %7.1f us (%.1f-%.1f; p99 %.1f)", what, s.median / 1e3, s.min / 1e3, s.max / 1e3, p.median / 1e3);
}

static void print_rate(const char *what, const double *v) {
        BenchStat s = bench_stat(v, RUNS);
        printf("%s %7.0f/s (%.0f-%.0f)", what, s.median, s.min, s.max);
}

int bench_bus(int argc, char **argv, const char *address_arg, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "xfsmd", required_argument, NULL, 'x' },
                { "recovery", required_argument, NULL, 'R' },
                { "only", required_argument, NULL, 'o' },
                {},
        };
        static const char *const policies[2] = { "batch", "sync" };
        char dir[] = "/tmp/xfsm-bench-XXXXXX", path[PATH_MAX], address[PATH_MAX + 16], xbuf[PATH_MAX], cbuf[PATH_MAX];
        const char *xfsmd = bench_find_xfsmd(xbuf, sizeof xbuf), *xfsmctl = bench_find_xfsmctl(cbuf, sizeof cbuf);
        unsigned count = 20000, recovery = 100000, rallies;
        const char *only = NULL; /* send, durable, hop or recovery: that part alone */
        pid_t broker = 0;
        sd_bus *bus = NULL;
        char id[64] = "";
        SendRun send[RUNS] = {};
        uint64_t ctl[15] = {};
        int c, ret = EXIT_REFUSED;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:x:R:o:", options, NULL)) >= 0)
                if (c == 'o')
                        only = optarg;
                else if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else if (c == 'x')
                        xfsmd = optarg;
                else if (c == 'R')
                        recovery = (unsigned) strtoul(optarg, NULL, 10);
                else
                        return EXIT_USAGE;
        if (count < 100)
                return usage_error("bus: --count must be at least 100");
        if (only && !streq(only, "send") && !streq(only, "durable") && !streq(only, "hop") && !streq(only, "recovery"))
                return usage_error("bus: --only takes send, durable, hop or recovery, not '%s'", only);
        rallies = count / 50 + 20;

        if (!mkdtemp(dir))
                return EXIT_REFUSED;
        if (bench_write_file(dir, "toggle.yaml", bench_toggle_yaml, path, sizeof path) < 0)
                goto finish;
        if (address_arg)
                snprintf(address, sizeof address, "%s", address_arg);
        else if ((broker = bench_private_bus(dir, address, sizeof address)) < 0)
                goto finish;
        bus = bench_connect(address);
        if (!bus) {
                fprintf(stderr, "xfsm-bench: bus: cannot connect to %s\n", address);
                goto finish;
        }

        /* Send, durability none: fresh xfsmd and bare service each run */
        bool send_ok = !only || streq(only, "send");
        for (int run = 0; run < RUNS && send_ok; run++)
                if (measure_send(bus, xfsmd, address, path, count, &send[run], id, sizeof id, xfsmctl, ctl,
                                 run == RUNS - 1 ? ELEMENTSOF(ctl) : 0) < 0)
                        goto finish;
        qsort(ctl, ELEMENTSOF(ctl), sizeof *ctl, bench_cmp_u64);

        /* durable Send: over the bus and peer to peer on the worker's socket, a fresh
         * journal each run, beside an fdatasync and the bare peer-to-peer call */
        BenchResult dbus_rt[2][RUNS] = {}, dsock_rt[2][RUNS] = {}, p2p_rt[RUNS] = {};
        double dbus_rate[2][RUNS] = {}, dsock_rate[2][RUNS] = {}, p2p_rate[RUNS] = {};
        uint64_t fsync_ns[RUNS] = {};
        bool socket_ok = access("/usr/bin/systemd-socket-activate", X_OK) == 0,
             durable_ok = !only || streq(only, "durable");
        for (int run = 0; run < RUNS && durable_ok; run++) {
                durable_ok = measure_fdatasync(dir, 200, &fsync_ns[run]) >= 0 &&
                             measure_p2p_floor(count, &p2p_rt[run], &p2p_rate[run]) >= 0;
                for (int k = 0; k < 2 && durable_ok; k++) {
                        durable_ok = measure_durable(bus, xfsmd, address, dir, policies[k], count / 2,
                                                     &dbus_rt[k][run], &dbus_rate[k][run]) >= 0;
                        if (durable_ok && socket_ok)
                                durable_ok = measure_durable_socket(xfsmd, address, dir, policies[k], count / 2,
                                                                    &dsock_rt[k][run], &dsock_rate[k][run]) >= 0;
                }
        }
        if (!durable_ok && (!only || streq(only, "durable")))
                fprintf(stderr, "xfsm-bench: bus: the durable Send failed\n");

        /* the inter-process hop, durability none and batch, interleaved with its floors */
        BenchResult hop[2][RUNS] = {}, phop[2][RUNS] = {}, raw[RUNS] = {}, hop_p2p[RUNS] = {};
        HopCpu phop_cpu[2][RUNS] = {};
        uint64_t hop_fsync[RUNS] = {};
        double hop_p2p_rate;
        bool hop_ok = !only || streq(only, "hop");
        for (int run = 0; run < RUNS && hop_ok; run++) {
                hop_ok = measure_socket_floor(count, &raw[run]) >= 0 &&
                         measure_p2p_floor(count, &hop_p2p[run], &hop_p2p_rate) >= 0 &&
                         measure_fdatasync(dir, 200, &hop_fsync[run]) >= 0;
                for (int k = 0; k < 2 && hop_ok; k++) {
                        const char *policy = k ? "batch" : NULL;
                        hop_ok = measure_hop(bus, xfsmd, address, dir, rallies, false, policy, broker, &hop[k][run],
                                             NULL) >= 0;
                        if (hop_ok && socket_ok)
                                hop_ok = measure_hop(bus, xfsmd, address, dir, rallies, true, policy, broker,
                                                     &phop[k][run], &phop_cpu[k][run]) >= 0;
                }
        }
        if (!hop_ok && (!only || streq(only, "hop")))
                fprintf(stderr, "xfsm-bench: bus: the inter-process hop failed\n");

        /* recovery: a snapshot of N instances and a tail of N records, beside a start with nothing */
        uint64_t rec[RUNS] = {}, empty[RUNS] = {};
        char rfile[PATH_MAX + 16], rstate[PATH_MAX + 16], estate[PATH_MAX + 16], parent[PATH_MAX + 16];
        snprintf(rstate, sizeof rstate, "%s/recover-state/recover", dir);
        snprintf(estate, sizeof estate, "%s/empty-state", dir);
        snprintf(parent, sizeof parent, "%s/recover-state", dir);
        bool rec_ok = (!only || streq(only, "recovery")) && recovery > 0 && bench_write_file(dir, "recover.yaml", recover_yaml, rfile, sizeof rfile) >= 0 &&
                      make_state(rfile, rstate, recovery) >= 0;
        for (int run = 0; rec_ok && run < RUNS; run++) {
                rec[run] = time_start(bus, xfsmd, address, rfile, parent);
                empty[run] = time_start(bus, xfsmd, address, rfile, estate);
        }

        BenchResult x[RUNS], b[RUNS], xs[RUNS], bs[RUNS];
        double xr[RUNS], br[RUNS], xsr[RUNS], bsr[RUNS];
        for (int run = 0; run < RUNS; run++) {
                x[run] = send[run].rt;
                b[run] = send[run].bare_rt;
                xs[run] = send[run].rt_sub;
                bs[run] = send[run].bare_rt_sub;
                xr[run] = send[run].rate;
                br[run] = send[run].bare_rate;
                xsr[run] = send[run].rate_sub;
                bsr[run] = send[run].bare_rate_sub;
        }
        double p2p = stat_ns(hop_p2p, false).median, rawm = stat_ns(raw, false).median,
               hfs = stat_u64(hop_fsync).median;

        if (json) {
                printf("{\"durability\":\"none\",\"bus\":\"%s\",\"runs\":%d,\"cpus\":\"%s\",\"calls\":%u",
                       address_arg ? "given" : "private dbus-daemon", RUNS, bench_cpus ?: "", count);
                if (send_ok) {
                        putchar(',');
                        json_send("send", x, b, xr, br);
                        putchar(',');
                        json_send("send_subscribed", xs, bs, xsr, bsr);
                        printf(",\"xfsmctl_send\":{\"median_ns\":%" PRIu64 ",\"target_ns\":5000000}",
                               ctl[ELEMENTSOF(ctl) / 2]);
                }
                if (durable_ok) {
                        printf(",\"durable\":{");
                        bench_json_stat(stdout, "fdatasync_ns", stat_u64(fsync_ns));
                        printf(",\"bus\":{");
                        json_durable("batch", dbus_rt[0], dbus_rate[0]);
                        putchar(',');
                        json_durable("sync", dbus_rt[1], dbus_rate[1]);
                        putchar('}');
                        if (socket_ok) {
                                printf(",\"socket\":{");
                                json_durable("batch", dsock_rt[0], dsock_rate[0]);
                                putchar(',');
                                json_durable("sync", dsock_rt[1], dsock_rate[1]);
                                printf(",\"in_flight\":%d,", WINDOW);
                                bench_json_stat(stdout, "floor_p2p_call_per_s", bench_stat(p2p_rate, RUNS));
                                printf(",\"batch_ratio_to_floor\":%.3f,\"batch_target_per_s\":100000}",
                                       bench_stat(dsock_rate[0], RUNS).median / bench_stat(p2p_rate, RUNS).median);
                        }
                        putchar('}');
                }
                if (hop_ok) {
                        printf(",\"hop\":{\"hops_per_rally\":%d,", HOPS + 1);
                        bench_json_stat(stdout, "floor_p2p_call_round_trip_ns", stat_ns(hop_p2p, false));
                        putchar(',');
                        bench_json_stat(stdout, "floor_raw_socket_one_way_ns", stat_ns(raw, false));
                        putchar(',');
                        bench_json_stat(stdout, "fdatasync_ns", stat_u64(hop_fsync));
                        printf(",\"target_ratio\":3");
                        for (int k = 0; k < 2; k++) {
                                printf(",\"%s\":{", k ? "batch" : "none");
                                bench_json_stat(stdout, "bus_ns", stat_ns(hop[k], false));
                                printf(",\"bus_ratio_to_p2p_call\":%.3f", stat_ns(hop[k], false).median / p2p);
                                if (k)
                                        printf(",\"bus_ratio_to_fdatasync\":%.3f", stat_ns(hop[k], false).median / hfs);
                                if (socket_ok) {
                                        putchar(',');
                                        bench_json_stat(stdout, "socket_ns", stat_ns(phop[k], false));
                                        printf(",\"socket_ratio_to_p2p_call\":%.3f,\"socket_ratio_to_raw_socket\":%.3f",
                                               stat_ns(phop[k], false).median / p2p,
                                               stat_ns(phop[k], false).median / rawm);
                                        if (k)
                                                printf(",\"socket_ratio_to_fdatasync\":%.3f",
                                                       stat_ns(phop[k], false).median / hfs);
                                        HopCpu hc = hop_cpu_median(phop_cpu[k]);
                                        printf(",\"socket_cpu_ns_per_hop\":{\"workers\":%.0f,\"broker\":%.0f,"
                                               "\"client\":%.0f}",
                                               hc.workers_ns, hc.broker_ns, hc.client_ns);
                                }
                                putchar('}');
                        }
                        putchar('}');
                }
                if (rec_ok) {
                        printf(",\"recovery\":{\"instances\":%u,\"records\":%u,", recovery, recovery);
                        bench_json_stat(stdout, "to_bus_name_ns", stat_u64(rec));
                        putchar(',');
                        bench_json_stat(stdout, "nothing_to_recover_ns", stat_u64(empty));
                        printf(",\"target_ns\":1000000000}");
                }
                printf("}\n");
        } else {
                printf("xfsm bus benchmarks (%s, pinned to CPUs %s; fresh processes each run, medians of %d runs\n"
                       "with their ranges, %u calls each)\n",
                       address_arg ? address : "private dbus-daemon", bench_cpus ?: "(any)", RUNS, count);
                for (int sub = 0; sub < 2 && send_ok; sub++) {
                        BenchResult *xx = sub ? xs : x, *bb = sub ? bs : b;
                        double *xxr = sub ? xsr : xr, *bbr = sub ? bsr : br;
                        printf("Send, durability none, %s\n", sub ? "one subscriber to each side's signals"
                                                                 : "no subscribers");
                        print_rt("  round trip   xfsmd", xx);
                        print_rt("   bare sd-bus", bb);
                        printf("   ratio %.2f (target <= 1.5)\n", stat_ns(xx, false).median / stat_ns(bb, false).median);
                        printf("  %d in flight", WINDOW);
                        print_rate("  xfsmd", xxr);
                        print_rate("   bare sd-bus", bbr);
                        printf("   ratio %.2f (target >= 0.70)\n",
                               bench_stat(xxr, RUNS).median / bench_stat(bbr, RUNS).median);
                }
                if (send_ok)
                        printf("xfsmctl send end to end (process start included): median %.2f ms (target < 5 ms)\n",
                               (double) ctl[ELEMENTSOF(ctl) / 2] / 1e6);
                if (durable_ok) {
                        printf("durable Send (no subscribers; fdatasync of a small record here: %.1f us (%.1f-%.1f))\n",
                               stat_u64(fsync_ns).median / 1e3, stat_u64(fsync_ns).min / 1e3,
                               stat_u64(fsync_ns).max / 1e3);
                        for (int k = 0; k < 2; k++) {
                                printf("  %-5s over the bus  ", policies[k]);
                                print_rt(" round trip", dbus_rt[k]);
                                print_rate("   pipelined", dbus_rate[k]);
                                putchar('\n');
                                if (!socket_ok)
                                        continue;
                                printf("  %-5s peer to peer", policies[k]);
                                print_rt(" round trip", dsock_rt[k]);
                                print_rate("   pipelined", dsock_rate[k]);
                                putchar('\n');
                        }
                        if (socket_ok) {
                                print_rate("  floor: bare sd-bus peer-to-peer call, 64 in flight", p2p_rate);
                                printf("; batch peer to peer / floor = %.2f (target >= 100000/s)\n",
                                       bench_stat(dsock_rate[0], RUNS).median / bench_stat(p2p_rate, RUNS).median);
                        }
                }
                if (hop_ok) {
                        printf("inter-process hop (two workers, a routed event through the outbox and DeliverBatch,\n"
                               "%d-hop rallies)\n", HOPS + 1);
                        print_rt("  floors: bare sd-bus peer-to-peer call round trip", hop_p2p);
                        print_rt("; raw Unix socket one way", raw);
                        printf("; fdatasync %.1f us\n", hfs / 1e3);
                        for (int k = 0; k < 2; k++) {
                                printf("  durability %-5s", k ? "batch" : "none");
                                print_rt(" over the bus", hop[k]);
                                printf(" ratio %.1f", stat_ns(hop[k], false).median / p2p);
                                if (socket_ok) {
                                        print_rt("; peer to peer", phop[k]);
                                        printf(" ratio %.1f", stat_ns(phop[k], false).median / p2p);
                                }
                                if (k)
                                        printf(" (to the call); %.1f fdatasyncs\n", stat_ns(phop[k], false).median / hfs);
                                else
                                        printf(" (to the call; target <= 3)\n");
                        }
                        for (int k = 0; k < 2 && socket_ok; k++) {
                                HopCpu hc = hop_cpu_median(phop_cpu[k]);
                                printf("  CPU per peer-to-peer hop, durability %-5s: the two workers %.1f us, "
                                       "the broker (their signals) %.1f us, this client %.1f us\n",
                                       k ? "batch" : "none", hc.workers_ns / 1e3, hc.broker_ns / 1e3, hc.client_ns / 1e3);
                        }
                }
                if (rec_ok)
                        printf("recovery of %u instances (snapshot) + %u records: %.0f ms (%.0f-%.0f) to the bus name, "
                               "%.0f ms with nothing to recover (target < 1 s)\n",
                               recovery, recovery, stat_u64(rec).median / 1e6, stat_u64(rec).min / 1e6,
                               stat_u64(rec).max / 1e6, stat_u64(empty).median / 1e6);
        }
        ret = EXIT_OK;

finish:
        sd_bus_flush_close_unref(bus);
        bench_stop(broker);
        bench_remove_dir(dir);
        return ret;
}
