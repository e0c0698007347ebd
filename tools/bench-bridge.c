/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench bridge: what a routed event between two nodes costs
 * (xfsm-bench(1)). Two nodes on this machine, as tests/test-bridge.c builds
 * them (a private dbus-daemon, xfsmd and xfsm-redis-bridge each, one
 * redis-server started here): a worker on node A sends numbered events to
 * a component homed on node B. Printed, for durability none and batch:
 *   - the floor: a bare XADD -> XREADGROUP -> XACK round on the same Redis;
 *   - the cross-node event: Send on A until the Transition on B, median and
 *     p99, and its ratio to the floor;
 *   - the sustained rate of cross-node routed events (64 Sends in flight), and
 *     the CPU time each process of the path used per event;
 *   - a Send called on node A for B's component (through both bridges and
 *     the calls and replies streams) beside the same Send on node B.
 * Figures only, no assertions. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "bench.h"

typedef struct BNode {
        const char *name, *stem, *file;
        char dir[512], address[600];
        pid_t bus_pid, xfsmd, bridge;
        sd_bus *bus;
} BNode;

static const char sender_yaml[] = "name: BenchSender\n"
                                  "stateMachines:\n"
                                  "  - name: Sender\n"
                                  "    initialState: Ready\n"
                                  "    states: [{name: Ready, type: entry}]\n"
                                  "    transitions:\n"
                                  "      - from: Ready\n"
                                  "        to: Ready\n"
                                  "        event: NEXT\n"
                                  "        type: internal\n"
                                  "        actions:\n"
                                  "          - assign: {n: event.n}\n"
                                  "          - send: {to: BenchReceiver.Counter, event: NUM, payload: {n: '{{n}}'}}\n";
static const char receiver_yaml[] = "name: BenchReceiver\n"
                                    "stateMachines:\n"
                                    "  - name: Counter\n"
                                    "    initialState: Counting\n"
                                    "    states: [{name: Counting, type: entry}]\n"
                                    "    transitions:\n"
                                    "      - from: Counting\n"
                                    "        to: Counting\n"
                                    "        event: NUM\n"
                                    "        type: internal\n"
                                    "        actions:\n"
                                    "          - assign: {count: count + 1}\n";

int bench_free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

        if (fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *) &sa, &l) == 0)
                port = ntohs(sa.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

pid_t bench_redis_start(const char *dir, int port) {
        char port_s[16], rdir[600], log[700];
        pid_t pid;

        snprintf(port_s, sizeof port_s, "%d", port);
        snprintf(rdir, sizeof rdir, "%s/redis", dir);
        snprintf(log, sizeof log, "%s/redis.log", dir);
        mkdir(rdir, 0755);
        char *argv[] = { (char *) "/usr/bin/redis-server", (char *) "--port", port_s, (char *) "--bind",
                         (char *) "127.0.0.1", (char *) "--dir", rdir, (char *) "--save", (char *) "",
                         (char *) "--appendonly", (char *) "no", NULL };
        pid = bench_spawn_env(argv, log, NULL);
        for (int k = 0; k < 500; k++) {
                redisContext *t = redisConnect("127.0.0.1", port);
                bool up = t && !t->err;

                if (t)
                        redisFree(t);
                if (up)
                        break;
                usleep(10000);
        }
        return pid;
}

pid_t bench_spawn_env(char *const argv[], const char *log, const char *component_path) {
        pid_t pid = fork();

        if (pid == 0) {
                FILE *f = log ? freopen(log, "w", stdout) : NULL;
                if (f)
                        dup2(fileno(f), STDERR_FILENO);
                if (component_path)
                        setenv("XFSM_COMPONENT_PATH", component_path, 1);
                setenv("GLIBC_TUNABLES", XFSM_GLIBC_TUNABLES, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

const char *bench_bridge_path(const char *xfsmd, char *buf, size_t size) {
        const char *env = getenv("XFSM_BRIDGE");
        const char *slash;

        if (env)
                return env;
        /* beside xfsmd in the build tree (daemon/bridge/), or installed beside it */
        slash = strrchr(xfsmd, '/');
        snprintf(buf, size, "%.*s/bridge/xfsm-redis-bridge", slash ? (int) (slash - xfsmd) : 1, slash ? xfsmd : ".");
        if (access(buf, X_OK) == 0)
                return buf;
        snprintf(buf, size, "%.*s/xfsm-redis-bridge", slash ? (int) (slash - xfsmd) : 1, slash ? xfsmd : ".");
        return buf;
}

/* Directories, keys (every node's public key in nodes.d before any bridge starts), the component. */
static int node_prepare(BNode *n, const char *top, const char *bridge) {
        char comp[600], state[600], key[600], nodes[600], cmd[4000];

        snprintf(n->dir, sizeof n->dir, "%s/%s", top, n->name);
        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(state, sizeof state, "%s/state", n->dir);
        snprintf(key, sizeof key, "%s/key.key", n->dir);
        snprintf(nodes, sizeof nodes, "%s/nodes.d", top);
        snprintf(cmd, sizeof cmd, "mkdir -p %s %s %s && test -e %s || %s --generate-key %s/key > /dev/null", comp,
                 nodes, state, key, bridge, n->dir);
        if (system(cmd) != 0)
                return -EIO;
        snprintf(cmd, sizeof cmd, "cp %s/key.pub %s/%s.pub", n->dir, nodes, n->name);
        if (system(cmd) != 0 || bench_write_file(comp, n->file, strcmp(n->stem, "sender") == 0 ? sender_yaml : receiver_yaml,
                                                 NULL, 0) < 0)
                return -EIO;
        return 0;
}

/* xfsmd as xfsm@.socket runs it: started by the first connection to
 * RUN/STEM.sock, so that the bridge delivers to it peer to peer, as on a real
 * node (the bridge finds the socket through XFSM_RUNTIME_DIR). */
static pid_t spawn_socket_xfsmd(const BNode *n, const char *xfsmd, const char *run, const char *comp,
                                const char *state, const char *policy, const char *log) {
        char sock[700], listen[720], run_env[700], comp_env[700];
        pid_t pid;

        snprintf(sock, sizeof sock, "%s/%s.sock", run, n->stem);
        if (strlen(sock) >= sizeof ((struct sockaddr_un) {}).sun_path)
                return -ENAMETOOLONG;
        snprintf(listen, sizeof listen, "--listen=%s", sock);
        snprintf(run_env, sizeof run_env, "XFSM_RUNTIME_DIR=%s", run);
        snprintf(comp_env, sizeof comp_env, "XFSM_COMPONENT_PATH=%s", comp);
        pid = fork();
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                (void) setenv("GLIBC_TUNABLES", XFSM_GLIBC_TUNABLES, 1);
                execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", listen, "--fdname=xfsm", "-E",
                      run_env, "-E", comp_env, "-E", "GLIBC_TUNABLES", xfsmd, "--bus-address", n->address,
                      "--state-dir", state, "--durability", policy, "--component", n->stem, (char *) NULL);
                _exit(127);
        }
        bench_activate(sock);
        return pid;
}

static int node_start(BNode *n, const char *top, const char *xfsmd, const char *bridge, int port, const char *policy) {
        char comp[600], state[600], bstate[600], key[600], nodes[600], url[64], log[700], run[600];

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(state, sizeof state, "%s/state", n->dir);
        snprintf(bstate, sizeof bstate, "%s/bridge-state", n->dir);
        snprintf(key, sizeof key, "%s/key.key", n->dir);
        snprintf(nodes, sizeof nodes, "%s/nodes.d", top);
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
        if (!n->bus) {
                n->bus_pid = bench_private_bus(n->dir, n->address, sizeof n->address);
                if (n->bus_pid < 0 || !(n->bus = bench_connect(n->address)))
                        return -EIO;
        }
        snprintf(log, sizeof log, "%s/xfsmd.log", n->dir);
        snprintf(run, sizeof run, "%s/run", n->dir);
        (void) mkdir(run, 0755);
        if (access("/usr/bin/systemd-socket-activate", X_OK) == 0)
                n->xfsmd = spawn_socket_xfsmd(n, xfsmd, run, comp, state, policy, log);
        else {
                char *xargv[] = { (char *) xfsmd, (char *) "--bus-address", n->address, (char *) "--state-dir", state,
                                  (char *) "--durability", (char *) policy, (char *) "--component", (char *) n->stem,
                                  NULL };
                n->xfsmd = bench_spawn_env(xargv, log, comp); /* then the bridge delivers over the bus */
        }
        if (n->xfsmd < 0)
                return -EIO;
        (void) setenv("XFSM_RUNTIME_DIR", run, 1); /* the bridge started next finds the worker's socket there */
        snprintf(log, sizeof log, "%s/bridge.log", n->dir);
        char *bargv[] = { (char *) bridge, (char *) "--bus-address", n->address, (char *) "--node", (char *) n->name,
                          (char *) "--redis", url, (char *) "--state-dir", bstate, (char *) "--nodes-dir", nodes,
                          (char *) "--node-key", key, NULL };
        n->bridge = bench_spawn_env(bargv, log, comp);
        (void) unsetenv("XFSM_RUNTIME_DIR");
        return 0;
}

static void node_stop(BNode *n, bool all) {
        bench_stop(n->bridge);
        bench_stop(n->xfsmd);
        n->bridge = n->xfsmd = 0;
        if (all) {
                sd_bus_flush_close_unref(n->bus);
                n->bus = NULL;
                bench_stop(n->bus_pid);
        }
}

static bool knows(sd_bus *bus, const char *remote) {
        sd_bus_message *reply = NULL;
        const char *xml;
        char needle[128];
        bool found = false;

        if (sd_bus_call_method(bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.freedesktop.DBus.Introspectable",
                               "Introspect", NULL, &reply, "") < 0)
                return false;
        snprintf(needle, sizeof needle, "<node name=\"%s\"", remote);
        if (sd_bus_message_read(reply, "s", &xml) > 0)
                found = strstr(xml, needle) != NULL;
        sd_bus_message_unref(reply);
        return found;
}

/* ---- the bridge's memory while entries wait ------------------------------------------ */

static long rss_kib(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static long long inbox_len(int port, const char *component) {
        redisContext *c = redisConnect("127.0.0.1", port);
        redisReply *x;
        long long n = -1;

        if (!c || c->err) {
                if (c)
                        redisFree(c);
                return -1;
        }
        x = redisCommand(c, "XLEN xfsm:{%s}:inbox", component);
        if (x && x->type == REDIS_REPLY_INTEGER)
                n = x->integer;
        freeReplyObject(x);
        redisFree(c);
        return n;
}

/* n events sent from A while B's worker is stopped: they wait in B's
 * stream; the receiving bridge reads in batches only when it has delivered
 * what it holds, so its memory stays what it was. */
static int waiting_memory(BNode *a, BNode *b, const char *sender, int port, unsigned n, long *ret_idle,
                          long *ret_waiting, long long *ret_len) {
        char payload[64];
        uint64_t t0;

        bench_stop(b->xfsmd);
        b->xfsmd = 0;
        *ret_idle = rss_kib(b->bridge);
        t0 = bench_now_ns();
        /* in chunks well under the sender's outbox limit, each waited for in Redis */
        for (unsigned k = 0; k < n && bench_now_ns() - t0 < 180ULL * 1000000000ULL;) {
                unsigned end = MIN(n, k + 4000);
                for (; k < end; k++) {
                        snprintf(payload, sizeof payload, "{\"n\":%u}", k);
                        if (sd_bus_call_method_async(a->bus, NULL, "org.xfsm1.BenchSender", "/org/xfsm1/BenchSender",
                                                     "org.xfsm1.Component", "Send", NULL, NULL, "sss", sender, "NEXT",
                                                     payload) < 0)
                                return -EIO;
                        if (k % 64 == 63)
                                while (sd_bus_process(a->bus, NULL) > 0)
                                        ;
                }
                (void) sd_bus_flush(a->bus);
                while ((*ret_len = inbox_len(port, "BenchReceiver")) < (long long) end &&
                       bench_now_ns() - t0 < 180ULL * 1000000000ULL) {
                        while (sd_bus_process(a->bus, NULL) > 0)
                                ;
                        (void) sd_bus_wait(a->bus, 20000);
                }
        }
        sleep(2);
        *ret_waiting = rss_kib(b->bridge);
        return 0;
}

/* ---- the floor: XADD -> XREADGROUP -> XACK ------------------------------------------ */

static int floor_round(int port, unsigned n, BenchResult *res) {
        redisContext *w = redisConnect("127.0.0.1", port), *r = redisConnect("127.0.0.1", port);
        uint64_t *v = calloc(n, sizeof *v);
        redisReply *x;
        int ret = -EIO;

        if (!w || !r || w->err || r->err || !v)
                goto finish;
        freeReplyObject(redisCommand(w, "DEL bench:floor"));
        freeReplyObject(redisCommand(w, "XGROUP CREATE bench:floor g 0 MKSTREAM"));
        for (unsigned k = 0; k < n; k++) {
                uint64_t t0 = bench_now_ns();
                freeReplyObject(redisCommand(w, "XADD bench:floor * body %s", "{\"v\":1,\"event\":\"NUM\"}"));
                x = redisCommand(r, "XREADGROUP GROUP g c COUNT 1 BLOCK 1000 STREAMS bench:floor >");
                if (!x || x->type != REDIS_REPLY_ARRAY) {
                        freeReplyObject(x);
                        goto finish;
                }
                const char *id = x->element[0]->element[1]->element[0]->element[0]->str;
                freeReplyObject(redisCommand(r, "XACK bench:floor g %s", id));
                freeReplyObject(x);
                v[k] = bench_now_ns() - t0;
        }
        qsort(v, n, sizeof *v, bench_cmp_u64);
        res->median_ns = v[n / 2];
        res->p99_ns = v[n * 99 / 100];
        ret = 0;
finish:
        free(v);
        if (w)
                redisFree(w);
        if (r)
                redisFree(r);
        return ret;
}

/* ---- across the nodes --------------------------------------------------------------- */

typedef struct Seen {
        uint64_t n;
} Seen;

static int on_transition(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Seen *s = userdata;
        s->n++;
        return 0;
}

static int wait_seen(sd_bus *bus, Seen *s, uint64_t want, uint64_t timeout_ns) {
        uint64_t end = bench_now_ns() + timeout_ns;

        while (s->n < want) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (bench_now_ns() > end)
                        return -ETIMEDOUT;
                (void) sd_bus_wait(bus, 100000);
        }
        return 0;
}

/* Where the sustained rate's CPU time goes: each process of the path, in ns per event. */
enum { CPU_CLIENT, CPU_BUS_A, CPU_XFSMD_A, CPU_BRIDGE_A, CPU_REDIS, CPU_BRIDGE_B, CPU_XFSMD_B, CPU_BUS_B, N_CPU };
static const char *const cpu_names[N_CPU] = { "client",      "dbus-daemon A", "xfsmd A", "bridge A",
                                              "redis-server", "bridge B",      "xfsmd B", "dbus-daemon B" };
typedef struct CpuShare {
        double ns_per_event[N_CPU];
        double total_ns;
} CpuShare;

static void cpu_sample(const BNode *a, const BNode *b, pid_t redis, uint64_t ret[N_CPU]) {
        ret[CPU_CLIENT] = bench_cpu_ns(getpid());
        ret[CPU_BUS_A] = bench_cpu_ns(a->bus_pid);
        ret[CPU_XFSMD_A] = bench_cpu_ns(a->xfsmd);
        ret[CPU_BRIDGE_A] = bench_cpu_ns(a->bridge);
        ret[CPU_REDIS] = bench_cpu_ns(redis);
        ret[CPU_BRIDGE_B] = bench_cpu_ns(b->bridge);
        ret[CPU_XFSMD_B] = bench_cpu_ns(b->xfsmd);
        ret[CPU_BUS_B] = bench_cpu_ns(b->bus_pid);
}

/* The sustained Sends: how many are out, and the first that failed. */
#define SUSTAINED_WINDOW 64
typedef struct Window {
        unsigned in_flight;
        bool failed;
} Window;

static int on_sent(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Window *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        w->in_flight--;
        if (e && !w->failed) {
                fprintf(stderr, "xfsm-bench: bridge: a sustained Send failed: %s: %s\n", e->name, e->message);
                w->failed = true;
        }
        return 0;
}

static int hop(BNode *a, BNode *b, pid_t redis, const char *sender, unsigned n, BenchResult *lat, double *ret_rate,
               CpuShare *ret_cpu) {
        uint64_t cpu0[N_CPU], cpu1[N_CPU];
        Window window = {};
        uint64_t *v = calloc(n, sizeof *v), t0;
        sd_bus_slot *slot = NULL;
        Seen seen = {};
        unsigned next = 1, rate_n = n * 4;
        char payload[64];
        int r = -EIO;

        if (!v || sd_bus_add_match(b->bus, &slot,
                             "type='signal',interface='org.xfsm1.Instance',member='Transition',"
                             "path_namespace='/org/xfsm1/BenchReceiver'",
                             on_transition, &seen) < 0)
                goto finish;
        for (unsigned k = 0; k < n; k++, next++) {
                snprintf(payload, sizeof payload, "{\"n\":%u}", next);
                t0 = bench_now_ns();
                if (sd_bus_call_method(a->bus, "org.xfsm1.BenchSender", "/org/xfsm1/BenchSender",
                                       "org.xfsm1.Component", "Send", NULL, NULL, "sss", sender, "NEXT", payload) < 0 ||
                    wait_seen(b->bus, &seen, k + 1, 10ULL * 1000000000ULL) < 0)
                        goto finish;
                v[k] = bench_now_ns() - t0;
        }
        qsort(v, n, sizeof *v, bench_cmp_u64);
        lat->median_ns = v[n / 2];
        lat->p99_ns = v[n * 99 / 100];

        /* sustained: SUSTAINED_WINDOW Sends in flight on A, until B took them all */
        cpu_sample(a, b, redis, cpu0);
        t0 = bench_now_ns();
        for (unsigned k = 0; k < rate_n; k++, next++) {
                while (window.in_flight >= SUSTAINED_WINDOW && !window.failed)
                        if (sd_bus_process(a->bus, NULL) == 0 && sd_bus_wait(a->bus, 100000) < 0)
                                goto finish;
                if (window.failed)
                        goto finish;
                snprintf(payload, sizeof payload, "{\"n\":%u}", next);
                if (sd_bus_call_method_async(a->bus, NULL, "org.xfsm1.BenchSender", "/org/xfsm1/BenchSender",
                                             "org.xfsm1.Component", "Send", on_sent, &window, "sss", sender, "NEXT",
                                             payload) < 0)
                        goto finish;
                window.in_flight++;
        }
        while (window.in_flight > 0 && !window.failed)
                if (sd_bus_process(a->bus, NULL) == 0 && sd_bus_wait(a->bus, 100000) < 0)
                        goto finish;
        if (window.failed)
                goto finish;
        for (;;) {
                while (sd_bus_process(a->bus, NULL) > 0)
                        ;
                r = wait_seen(b->bus, &seen, n + rate_n, 50ULL * 1000000ULL);
                if (r == 0)
                        break;
                if (bench_now_ns() - t0 > 120ULL * 1000000000ULL)
                        goto finish;
        }
        *ret_rate = (double) rate_n / ((double) (bench_now_ns() - t0) / 1e9);
        cpu_sample(a, b, redis, cpu1);
        ret_cpu->total_ns = 0;
        for (size_t k = 0; k < N_CPU; k++) {
                ret_cpu->ns_per_event[k] = (double) (cpu1[k] - cpu0[k]) / rate_n;
                ret_cpu->total_ns += ret_cpu->ns_per_event[k];
        }
        r = 0;
finish:
        sd_bus_slot_unref(slot);
        free(v);
        return r;
}

/* n Component.Send(id, NUM) round trips to dest at path: median and p99. */
static int send_round_trips(sd_bus *bus, const char *dest, const char *path, const char *id, unsigned n,
                            BenchResult *res) {
        uint64_t *v = calloc(n, sizeof *v);

        if (!v)
                return -ENOMEM;
        for (unsigned k = 0; k < n; k++) {
                sd_bus_message *reply = NULL;
                uint64_t t = bench_now_ns();
                int r = sd_bus_call_method(bus, dest, path, "org.xfsm1.Component", "Send", NULL, &reply, "sss", id, "NUM",
                                           "{}");
                v[k] = bench_now_ns() - t;
                sd_bus_message_unref(reply);
                if (r < 0) {
                        free(v);
                        return r;
                }
        }
        qsort(v, n, sizeof *v, bench_cmp_u64);
        res->median_ns = v[n / 2];
        res->p99_ns = v[n * 99 / 100];
        res->rate = 0;
        free(v);
        return 0;
}

static char *create(sd_bus *bus, const char *component, const char *machine, const char *ctx) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        const char *p, *id;
        char *r = NULL;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(bus, bn, path, "org.xfsm1.Component", "CreateInstance", NULL, &reply, "ss", machine,
                               ctx) >= 0 &&
            sd_bus_message_read(reply, "os", &p, &id) > 0)
                r = strdup(id);
        sd_bus_message_unref(reply);
        return r;
}

int bench_bridge(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "waiting", required_argument, NULL, 'w' },
                {},
        };
        char dir[] = "/tmp/xfsm-bench-bridge-XXXXXX", xfsmd_buf[600], bridge_buf[700];
        const char *policies[] = { "none", "batch" };
        unsigned count = 1000;
        BNode a = { .name = "nodeA", .stem = "sender", .file = "sender.yaml" };
        BNode b = { .name = "nodeB", .stem = "receiver", .file = "receiver.yaml" };
        BenchResult fl = {}, lat[2] = {}, proxied = {}, local = {};
        unsigned waiting_n = 100000;
        long mem_idle = 0, mem_waiting = 0;
        long long waited = 0;
        double rate[2] = {};
        CpuShare cpu[2] = {};
        const char *xfsmd, *bridge;
        int port, c, r = 1;
        pid_t redis = 0;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:w:", options, NULL)) >= 0)
                if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else if (c == 'w')
                        waiting_n = (unsigned) strtoul(optarg, NULL, 10);
                else
                        return 2;
        if (count < 10)
                count = 10;
        if (access("/usr/bin/redis-server", X_OK) < 0) {
                fprintf(stderr, "xfsm-bench: bridge needs redis-server\n");
                return 1;
        }
        xfsmd = bench_find_xfsmd(xfsmd_buf, sizeof xfsmd_buf);
        bridge = bench_bridge_path(xfsmd, bridge_buf, sizeof bridge_buf);
        if (!mkdtemp(dir) || (port = bench_free_port()) < 0)
                return 1;
        redis = bench_redis_start(dir, port);
        if (floor_round(port, count, &fl) < 0 || node_prepare(&a, dir, bridge) < 0 || node_prepare(&b, dir, bridge) < 0)
                goto finish;

        for (size_t p = 0; p < ELEMENTSOF(policies); p++) {
                _cleanup_(freep) char *sender = NULL, *receiver = NULL;

                if (node_start(&a, dir, xfsmd, bridge, port, policies[p]) < 0 ||
                    node_start(&b, dir, xfsmd, bridge, port, policies[p]) < 0)
                        goto finish;
                for (int k = 0; k < 1000 && !(knows(a.bus, "BenchReceiver") && bench_name_has_owner(b.bus,
                                                                                                    "org.xfsm1.BenchReceiver"));
                     k++)
                        usleep(10000);
                sender = create(a.bus, "BenchSender", "Sender", "{}");
                receiver = create(b.bus, "BenchReceiver", "Counter", "{\"count\":0}");
                if (!sender || !receiver || hop(&a, &b, redis, sender, count, &lat[p], &rate[p], &cpu[p]) < 0) {
                        fprintf(stderr, "xfsm-bench: bridge: the cross-node run (%s) failed; logs in %s\n", policies[p], dir);
                        goto finish;
                }
                /* a call from node A to B's component through both bridges, beside the same call on B */
                if (p == 0 && (send_round_trips(a.bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge/BenchReceiver", receiver,
                                                count, &proxied) < 0 ||
                               send_round_trips(b.bus, "org.xfsm1.BenchReceiver", "/org/xfsm1/BenchReceiver", receiver,
                                                count, &local) < 0)) {
                        fprintf(stderr, "xfsmctl: the proxied Send failed; logs in %s\n", dir);
                        goto finish;
                }
                if (p == ELEMENTSOF(policies) - 1 &&
                    waiting_memory(&a, &b, sender, port, waiting_n, &mem_idle, &mem_waiting, &waited) < 0)
                        goto finish;
                node_stop(&a, false);
                node_stop(&b, false);
        }

        if (json) {
                printf("{\"floor\":{\"median_us\":%.1f,\"p99_us\":%.1f}", fl.median_ns / 1e3, fl.p99_ns / 1e3);
                for (size_t p = 0; p < 2; p++) {
                        printf(",\"%s\":{\"median_us\":%.1f,\"p99_us\":%.1f,\"ratio\":%.2f,\"rate\":%.0f,"
                               "\"cpu_us_per_event\":{",
                               policies[p], lat[p].median_ns / 1e3, lat[p].p99_ns / 1e3,
                               (double) lat[p].median_ns / (double) fl.median_ns, rate[p]);
                        for (size_t k = 0; k < N_CPU; k++)
                                printf("\"%s\":%.1f,", cpu_names[k], cpu[p].ns_per_event[k] / 1e3);
                        printf("\"total\":%.1f}}", cpu[p].total_ns / 1e3);
                }
                printf(",\"proxied_send\":{\"median_us\":%.1f,\"p99_us\":%.1f,\"ratio_to_local\":%.2f,"
                       "\"ratio_to_floor\":%.2f},\"local_send\":{\"median_us\":%.1f,\"p99_us\":%.1f}",
                       proxied.median_ns / 1e3, proxied.p99_ns / 1e3, (double) proxied.median_ns / (double) local.median_ns,
                       (double) proxied.median_ns / (double) fl.median_ns, local.median_ns / 1e3, local.p99_ns / 1e3);
                printf(",\"waiting\":{\"entries\":%lld,\"bridge_rss_idle_kib\":%ld,\"bridge_rss_kib\":%ld}}\n", waited,
                       mem_idle, mem_waiting);
        } else {
                printf("xfsm bridge benchmarks (two nodes on this machine, one redis-server without persistence; "
                       "medians of %u events)\n",
                       count);
                printf("floor: XADD -> XREADGROUP -> XACK round   %7.1f us (p99 %7.1f)\n", fl.median_ns / 1e3,
                       fl.p99_ns / 1e3);
                for (size_t p = 0; p < 2; p++)
                        printf("cross-node event, durability %-5s: Send on A to Transition on B   %7.1f us (p99 %7.1f)"
                               "   ratio %.1f to the floor (target <= 3 for none)   sustained %6.0f events/s "
                               "(target >= 20000)\n",
                               policies[p], lat[p].median_ns / 1e3, lat[p].p99_ns / 1e3,
                               (double) lat[p].median_ns / (double) fl.median_ns, rate[p]);
                for (size_t p = 0; p < 2; p++) {
                        printf("  CPU per sustained event, durability %-5s: %.1f us in all:", policies[p],
                               cpu[p].total_ns / 1e3);
                        for (size_t k = 0; k < N_CPU; k++)
                                printf("%s %s %.1f", k ? "," : "", cpu_names[k], cpu[p].ns_per_event[k] / 1e3);
                        printf("\n");
                }
                printf("Send from node A to B's component through both bridges   %7.1f us (p99 %7.1f)   %.1f x the same "
                       "Send on B (%.1f us), %.1f x the floor\n",
                       proxied.median_ns / 1e3, proxied.p99_ns / 1e3, (double) proxied.median_ns / (double) local.median_ns,
                       local.median_ns / 1e3, (double) proxied.median_ns / (double) fl.median_ns);
                printf("receiving bridge with %lld entries waiting in the stream (worker stopped): RSS %.1f MiB, "
                       "%.1f MiB before (bounded: it reads in batches of 128)\n",
                       waited, mem_waiting / 1024.0, mem_idle / 1024.0);
        }
        r = 0;
finish:
        node_stop(&a, true);
        node_stop(&b, true);
        bench_stop(redis);
        if (r == 0)
                bench_remove_dir(dir);
        return r;
}
