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

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
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
                                 const char *stem) {
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
                execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", listen, "--fdname=xfsm", "-E",
                      run, "-E", path, xfsmd, "--bus-address", address, file, (char *) NULL);
                _exit(127);
        }
        /* the first connection starts it */
        for (int k = 0; k < 500; k++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                if (strlen(sock) >= sizeof sa.sun_path)
                        break;
                memcpy(sa.sun_path, sock, strlen(sock) + 1);
                bool ok = fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
                if (fd >= 0)
                        close(fd);
                if (ok)
                        break;
                usleep(10000);
        }
        return pid;
}

static int measure_hop(sd_bus *bus, const char *xfsmd, const char *address, const char *dir, unsigned rallies,
                       bool sockets, BenchResult *ret) {
        char fa[PATH_MAX], fb[PATH_MAX], pa[256] = "", pb[256] = "", payload[64];
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
        if (sockets) {
                a = spawn_socket_worker(xfsmd, address, dir, fa, "hop-a");
                b = spawn_socket_worker(xfsmd, address, dir, fb, "hop-b");
        } else {
                a = bench_spawn_xfsmd(xfsmd, address, fa, NULL, NULL);
                b = bench_spawn_xfsmd(xfsmd, address, fb, NULL, NULL);
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

int bench_bus(int argc, char **argv, const char *address_arg, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "xfsmd", required_argument, NULL, 'x' },
                { "recovery", required_argument, NULL, 'R' },
                {},
        };
        char dir[] = "/tmp/xfsm-bench-XXXXXX", path[PATH_MAX], address[PATH_MAX + 16], xbuf[PATH_MAX], cbuf[PATH_MAX];
        const char *xfsmd = bench_find_xfsmd(xbuf, sizeof xbuf), *xfsmctl;
        unsigned count = 20000, recovery = 100000;
        pid_t broker = 0, daemon = 0, bare = 0;
        sd_bus *bus = NULL;
        char *ipath = NULL, id[64] = "";
        BenchResult x[RUNS], b[RUNS];
        double xr[RUNS], br[RUNS];
        uint64_t ctl[15];
        int c, ret = EXIT_REFUSED;
        optind = 1;
        while ((c = getopt_long(argc, argv, "n:x:", options, NULL)) >= 0)
                if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else if (c == 'x')
                        xfsmd = optarg;
                else if (c == 'R')
                        recovery = (unsigned) strtoul(optarg, NULL, 10);
                else
                        return EXIT_USAGE;
        if (count < 100)
                return usage_error("bench bus: --count must be at least 100");
        xfsmctl = bench_find_xfsmctl(cbuf, sizeof cbuf);

        if (!mkdtemp(dir))
                return EXIT_REFUSED;
        if (bench_write_file(dir, "toggle.yaml", bench_toggle_yaml, path, sizeof path) < 0)
                goto finish;

        if (address_arg)
                snprintf(address, sizeof address, "%s", address_arg);
        else if ((broker = bench_private_bus(dir, address, sizeof address)) < 0)
                goto finish;
        daemon = bench_spawn_xfsmd(xfsmd, address, path, NULL, NULL);
        bare = start_bare(address);
        bus = bench_connect(address);
        if (!bus || !bench_wait_name(bus, "org.xfsm1.BenchToggle") || !bench_wait_name(bus, "org.xfsm1.BareBench")) {
                fprintf(stderr, "xfsm-bench: bus: could not start xfsmd (%s) and the bare service on %s\n", xfsmd,
                        address);
                goto finish;
        }
        {
                sd_bus_message *reply = NULL;
                const char *p, *i;
                if (sd_bus_call_method(bus, "org.xfsm1.BenchToggle", "/org/xfsm1/BenchToggle", "org.xfsm1.Component",
                                       "CreateInstance", NULL, &reply, "ss", "Toggle", "") < 0 ||
                    sd_bus_message_read(reply, "os", &p, &i) < 0)
                        goto finish;
                ipath = strdup(p);
                snprintf(id, sizeof id, "%s", i);
                sd_bus_message_unref(reply);
        }

        /* interleaved runs: both sides see the same machine load */
        for (int run = 0; run < RUNS; run++) {
                if (bench_round_trips(bus, "org.xfsm1.BenchToggle", ipath, count, &x[run]) < 0 ||
                    bench_round_trips(bus, "org.xfsm1.BareBench", "/bench", count, &b[run]) < 0 ||
                    pipelined(bus, "org.xfsm1.BenchToggle", ipath, count * 2, &xr[run]) < 0 ||
                    pipelined(bus, "org.xfsm1.BareBench", "/bench", count * 2, &br[run]) < 0)
                        goto finish;
        }
        for (size_t k = 0; k < ELEMENTSOF(ctl); k++)
                ctl[k] = ctl_send(xfsmctl, address, id);
        qsort(ctl, ELEMENTSOF(ctl), sizeof *ctl, bench_cmp_u64);

        /* durable Send: the journal in a temporary directory, batch and sync */
        BenchResult dres[2] = {};
        double drate[2] = {};
        static const char *const policies[2] = { "batch", "sync" };
        for (int k = 0; k < 2; k++)
                if (measure_durable(bus, xfsmd, address, dir, policies[k], count / 2, &dres[k], &drate[k]) < 0)
                        fprintf(stderr, "xfsm-bench: durable %s failed\n", policies[k]);

        /* the inter-process hop, interleaved with its floor */
        BenchResult hop[RUNS] = {}, phop[RUNS] = {}, raw[RUNS] = {};
        bool hop_ok = true, phop_ok = access("/usr/bin/systemd-socket-activate", X_OK) == 0;
        for (int run = 0; run < RUNS && hop_ok; run++) {
                hop_ok = measure_hop(bus, xfsmd, address, dir, count / 50 + 20, false, &hop[run]) >= 0 &&
                         measure_socket_floor(count, &raw[run]) >= 0;
                if (phop_ok)
                        phop_ok = measure_hop(bus, xfsmd, address, dir, count / 50 + 20, true, &phop[run]) >= 0;
        }
        if (!hop_ok)
                fprintf(stderr, "xfsm-bench: the inter-process hop failed\n");
        uint64_t hm[RUNS], pm[RUNS], rm[RUNS];
        for (int run = 0; run < RUNS; run++) {
                hm[run] = hop[run].median_ns;
                pm[run] = phop[run].median_ns;
                rm[run] = raw[run].median_ns;
        }
        qsort(hm, RUNS, sizeof *hm, bench_cmp_u64);
        qsort(pm, RUNS, sizeof *pm, bench_cmp_u64);
        qsort(rm, RUNS, sizeof *rm, bench_cmp_u64);

        /* recovery: a snapshot of N instances and a tail of N records, beside a start with nothing */
        uint64_t rec[RUNS], empty[RUNS];
        char rfile[PATH_MAX + 16], rstate[PATH_MAX + 16], estate[PATH_MAX + 16];
        snprintf(rfile, sizeof rfile, "%s/recover.yaml", dir);
        snprintf(rstate, sizeof rstate, "%s/recover-state/recover", dir);
        snprintf(estate, sizeof estate, "%s/empty-state", dir);
        FILE *f = fopen(rfile, "we");
        if (f) {
                fputs(recover_yaml, f);
                fclose(f);
        }
        bool rec_ok = recovery > 0 && make_state(rfile, rstate, recovery) >= 0;
        for (int run = 0; rec_ok && run < RUNS; run++) {
                char parent[PATH_MAX + 16];
                snprintf(parent, sizeof parent, "%s/recover-state", dir);
                rec[run] = time_start(bus, xfsmd, address, rfile, parent);
                empty[run] = time_start(bus, xfsmd, address, rfile, estate);
        }
        if (rec_ok) {
                qsort(rec, RUNS, sizeof *rec, bench_cmp_u64);
                qsort(empty, RUNS, sizeof *empty, bench_cmp_u64);
        }

        uint64_t xm[RUNS], bm[RUNS], xp[RUNS], bp[RUNS];
        for (int run = 0; run < RUNS; run++) {
                xm[run] = x[run].median_ns;
                bm[run] = b[run].median_ns;
                xp[run] = x[run].p99_ns;
                bp[run] = b[run].p99_ns;
        }
        qsort(xm, RUNS, sizeof *xm, bench_cmp_u64);
        qsort(bm, RUNS, sizeof *bm, bench_cmp_u64);
        qsort(xp, RUNS, sizeof *xp, bench_cmp_u64);
        qsort(bp, RUNS, sizeof *bp, bench_cmp_u64);
        qsort(xr, RUNS, sizeof *xr, cmp_double);
        qsort(br, RUNS, sizeof *br, cmp_double);
        uint64_t xmed = xm[RUNS / 2], bmed = bm[RUNS / 2];
        double xrate = xr[RUNS / 2], brate = br[RUNS / 2];

        if (json)
                printf("{\"durability\":\"none\",\"bus\":\"%s\",\"runs\":%d,"
                       "\"round_trip\":{\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"bare_median_ns\":%" PRIu64
                       ",\"bare_p99_ns\":%" PRIu64 ",\"ratio\":%.3f},"
                       "\"pipelined\":{\"in_flight\":%d,\"per_s\":%.0f,\"bare_per_s\":%.0f,\"ratio\":%.3f},"
                       "\"xfsmctl_send\":{\"median_ns\":%" PRIu64 "},"
                       "\"durable\":{\"batch\":{\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"per_s\":%.0f},"
                       "\"sync\":{\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"per_s\":%.0f}}}\n",
                       address_arg ? "given" : "private dbus-daemon", RUNS, xmed, xp[RUNS / 2], bmed, bp[RUNS / 2],
                       (double) xmed / (double) bmed, WINDOW, xrate, brate, xrate / brate,
                       ctl[ELEMENTSOF(ctl) / 2], dres[0].median_ns, dres[0].p99_ns, drate[0], dres[1].median_ns,
                       dres[1].p99_ns, drate[1]);
        else {
                printf("xfsm bus benchmarks (%s, durability: none; medians of %d runs, %u calls each)\n",
                       address_arg ? address : "private dbus-daemon", RUNS, count);
                printf("Send round trip   xfsmd %7.1f us (p99 %7.1f)   bare sd-bus %7.1f us (p99 %7.1f)   ratio %.2f "
                       "(target <= 1.5)\n",
                       (double) xmed / 1e3, (double) xp[RUNS / 2] / 1e3, (double) bmed / 1e3,
                       (double) bp[RUNS / 2] / 1e3, (double) xmed / (double) bmed);
                printf("pipelined, %d in flight   xfsmd %7.0f/s   bare sd-bus %7.0f/s   ratio %.2f (target >= 0.70)\n",
                       WINDOW, xrate, brate, xrate / brate);
                printf("xfsmctl send end to end (process start included): median %.2f ms (target < 5 ms)\n",
                       (double) ctl[ELEMENTSOF(ctl) / 2] / 1e6);
                for (int k = 0; k < 2; k++)
                        printf("durable Send, %-5s  round trip %7.1f us (p99 %7.1f, %.1fx durability none)   "
                               "pipelined %7.0f/s (%.2fx none)\n",
                               policies[k], (double) dres[k].median_ns / 1e3, (double) dres[k].p99_ns / 1e3,
                               (double) dres[k].median_ns / (double) xmed, drate[k], drate[k] / xrate);
                if (hop_ok)
                        printf("inter-process hop (two workers, routed event via outbox + Deliver, %d-hop rallies) "
                               "%7.1f us   raw Unix socket one way %5.1f us   ratio %.1f (target <= 3)\n",
                               HOPS + 1, (double) hm[RUNS / 2] / 1e3, (double) rm[RUNS / 2] / 1e3,
                               (double) hm[RUNS / 2] / (double) rm[RUNS / 2]);
                if (hop_ok && phop_ok)
                        printf("inter-process hop, peer to peer over the workers' sockets "
                               "%7.1f us   ratio %.1f to the raw socket, %.2f to the hop over the bus\n",
                               (double) pm[RUNS / 2] / 1e3, (double) pm[RUNS / 2] / (double) rm[RUNS / 2],
                               (double) pm[RUNS / 2] / (double) hm[RUNS / 2]);
                if (rec_ok)
                        printf("recovery of %u instances (snapshot) + %u records: %.0f ms to the bus name, "
                               "%.0f ms with nothing to recover (target < 1 s)\n",
                               recovery, recovery, (double) rec[RUNS / 2] / 1e6, (double) empty[RUNS / 2] / 1e6);
        }
        ret = EXIT_OK;

finish:
        sd_bus_flush_close_unref(bus);
        free(ipath);
        bench_stop(bare);
        bench_stop(daemon);
        bench_stop(broker);
        bench_remove_dir(dir);
        return ret;
}
