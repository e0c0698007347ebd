/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl bench xcompat: messages/s from xcomponent-ai's channel into a
 * worker (xfsmctl(1), xfsm-redis-bridge(8) XCOMPONENT-AI COMPATIBILITY).
 * One node on this machine (a private dbus-daemon, xfsmd hosting
 * BenchXc, xfsm-redis-bridge with XcomponentCompat=yes, one redis-server
 * without persistence started here); messages as xcomponent-ai publishes
 * them, pipelined on xcomponent:BenchXc, each taken by the one Counter
 * instance (a self-loop: one journal record each). Printed, for durability
 * none and batch, the median of 3 runs of:
 *   - the rate, from the first PUBLISH until the bridge's counters say the
 *     worker answered every message;
 *   - the floor: a bare PUBLISH -> subscriber rate on the same Redis (what
 *     Redis itself delivers to one subscriber);
 *   - the worker's own Deliver rate for the same routed events sent over
 *     the bus with as many in flight as the bridge keeps (64), without
 *     Redis or the bridge;
 * and the ratios. Figures only, no assertions. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "bench.h"

#define RUNS 3
#define WINDOW 64

static const char counter_yaml[] = "name: BenchXc\n"
                                   "stateMachines:\n"
                                   "  - name: Counter\n"
                                   "    initialState: Counting\n"
                                   "    states: [{name: Counting, type: entry}]\n"
                                   "    transitions:\n"
                                   "      - {from: Counting, to: Counting, event: TICK, type: internal}\n";

static const char message[] = "{\"sourceComponent\":\"BenchSource\",\"targetComponent\":\"BenchXc\","
                              "\"targetMachine\":\"Counter\",\"targetState\":\"Counting\",\"event\":{\"type\":\"TICK\","
                              "\"payload\":{},\"timestamp\":1700000000000}}";

static uint64_t counter(sd_bus *bus, const char *name) {
        uint64_t v = 0;

        if (sd_bus_get_property_trivial(bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.xfsm1.XcomponentCompat", name,
                                        NULL, 't', &v) < 0)
                return UINT64_MAX;
        return v;
}

/* Messages the worker answered (delivered, dropped) or never got (malformed, overflow): one GetAll. */
static uint64_t answered(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        uint64_t sum = 0;
        const char *name;
        int r;

        if (sd_bus_call_method(bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.freedesktop.DBus.Properties", "GetAll",
                               NULL, &reply, "s", "org.xfsm1.XcomponentCompat") < 0)
                return UINT64_MAX;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                uint64_t v = 0;
                if (sd_bus_message_read(reply, "s", &name) < 0 || sd_bus_message_read(reply, "v", "t", &v) < 0)
                        break;
                if (streq(name, "Delivered") || streq(name, "Dropped") || streq(name, "Malformed") ||
                    streq(name, "Overflow"))
                        sum += v;
                r = sd_bus_message_exit_container(reply);
        }
        sd_bus_message_unref(reply);
        return r < 0 ? UINT64_MAX : sum;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double median3(double v[RUNS]) {
        qsort(v, RUNS, sizeof *v, cmp_double);
        return v[RUNS / 2];
}

/* n messages pipelined on the channel; messages/s until the worker answered all. */
static int compat_rate(int port, sd_bus *bus, unsigned n, double *ret) {
        redisContext *w = redisConnect("127.0.0.1", port);
        uint64_t before = answered(bus), t0, t1;
        redisReply *x;
        int r = -EIO;

        if (!w || w->err || before == UINT64_MAX)
                goto finish;
        t0 = bench_now_ns();
        for (unsigned k = 0; k < n; k++)
                redisAppendCommand(w, "PUBLISH xcomponent:BenchXc %s", message);
        for (unsigned k = 0; k < n; k++) {
                if (redisGetReply(w, (void **) &x) != REDIS_OK)
                        goto finish;
                freeReplyObject(x);
        }
        /* polled every 2 ms: the poll's own bus traffic stays small beside the messages' */
        for (int k = 0; k < 30000 && answered(bus) < before + n; k++)
                usleep(2000);
        t1 = bench_now_ns();
        if (answered(bus) < before + n)
                goto finish;
        *ret = n / ((t1 - t0) / 1e9);
        r = 0;
finish:
        if (w)
                redisFree(w);
        return r;
}

/* The floor: n messages pipelined to one subscriber of the same Redis. */
static int floor_rate(int port, unsigned n, double *ret) {
        redisContext *s = redisConnect("127.0.0.1", port), *w = redisConnect("127.0.0.1", port);
        redisReply *x;
        uint64_t t0;
        int r = -EIO;

        if (!s || !w || s->err || w->err)
                goto finish;
        x = redisCommand(s, "SUBSCRIBE bench:floor");
        if (!x)
                goto finish;
        freeReplyObject(x);
        t0 = bench_now_ns();
        for (unsigned k = 0; k < n; k++)
                redisAppendCommand(w, "PUBLISH bench:floor %s", message);
        for (unsigned k = 0; k < n; k++) {
                if (redisGetReply(w, (void **) &x) != REDIS_OK)
                        goto finish;
                freeReplyObject(x);
        }
        for (unsigned k = 0; k < n; k++) {
                if (redisGetReply(s, (void **) &x) != REDIS_OK)
                        goto finish;
                freeReplyObject(x);
        }
        *ret = n / ((bench_now_ns() - t0) / 1e9);
        r = 0;
finish:
        if (s)
                redisFree(s);
        if (w)
                redisFree(w);
        return r;
}

typedef struct Window {
        unsigned inflight, done;
        int error;
} Window;

static int on_deliver(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Window *w = userdata;

        w->inflight--;
        w->done++;
        if (sd_bus_message_is_method_error(m, NULL))
                w->error = -EIO;
        return 0;
}

/* The worker alone: the same routed events through Deliver, WINDOW in flight. */
static int deliver_rate(sd_bus *bus, unsigned n, uint64_t first_seq, double *ret) {
        Window w = {};
        unsigned sent = 0;
        uint64_t t0 = bench_now_ns();
        char json[512];

        while (w.done < n && !w.error) {
                while (sent < n && w.inflight < WINDOW) {
                        uint64_t seq = first_seq + sent;
                        snprintf(json, sizeof json,
                                 "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"xcomponent:BenchFloor\","
                                 "\"sourceIncarnation\":\"0123456789abcdef0123456789abcdef\",\"sourceSeq\":%llu,"
                                 "\"ruleIndex\":0,\"targetComponent\":\"BenchXc\",\"targetMachine\":\"Counter\","
                                 "\"targetState\":\"Counting\",\"event\":\"TICK\",\"payload\":{},\"matchingRules\":[],"
                                 "\"filters\":[],\"hops\":1}",
                                 (unsigned long long) seq);
                        if (sd_bus_call_method_async(bus, NULL, "org.xfsm1.BenchXc", "/org/xfsm1/BenchXc",
                                                     "org.xfsm1.Component", "Deliver", on_deliver, &w, "stus",
                                                     "xcomponent:BenchFloor", seq, (uint32_t) 0, json) < 0)
                                return -EIO;
                        sent++;
                        w.inflight++;
                }
                if (sd_bus_process(bus, NULL) == 0 && sd_bus_wait(bus, 1000000) < 0)
                        return -EIO;
        }
        if (w.error)
                return w.error;
        *ret = n / ((bench_now_ns() - t0) / 1e9);
        return 0;
}

int bench_xcompat(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                {},
        };
        char dir[] = "/tmp/xfsm-bench-xcompat-XXXXXX", xfsmd_buf[600], bridge_buf[700], log[700],
             comp[600], state[600], bstate[600], key[600], conf[600], url[64], address[600], cmd[2000];
        const char *policies[] = { "none", "batch" };
        double rate[2] = {}, floor = 0, direct[2] = {}, v[RUNS];
        unsigned count = 2000;
        pid_t redis = 0, bus_pid = 0, xfsmd = 0, bridge_pid = 0;
        const char *xfsmd_path, *bridge;
        _cleanup_(freep) char *id = NULL;
        sd_bus *bus = NULL;
        uint64_t seq = 1;
        int port, c, r = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:", options, NULL)) >= 0)
                if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else
                        return 2;
        if (count < 10)
                count = 10;
        if (access("/usr/bin/redis-server", X_OK) < 0) {
                fprintf(stderr, "xfsmctl: bench xcompat needs redis-server\n");
                return 1;
        }
        xfsmd_path = bench_find_xfsmd(xfsmd_buf, sizeof xfsmd_buf);
        bridge = bench_bridge_path(xfsmd_path, bridge_buf, sizeof bridge_buf);
        if (!mkdtemp(dir) || (port = bench_free_port()) < 0)
                return 1;
        redis = bench_redis_start(dir, port);
        for (int k = 0; k < RUNS; k++)
                if (floor_rate(port, count, &v[k]) < 0)
                        goto finish;
        floor = median3(v);

        snprintf(comp, sizeof comp, "%s/comp", dir);
        snprintf(bstate, sizeof bstate, "%s/bridge-state", dir);
        snprintf(key, sizeof key, "%s/key.key", dir);
        snprintf(conf, sizeof conf, "%s/bridge.conf", dir);
        snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
        snprintf(cmd, sizeof cmd, "mkdir -p %s %s/nodes.d && %s --generate-key %s/key > /dev/null", comp, dir, bridge,
                 dir);
        if (system(cmd) != 0 || bench_write_file(comp, "benchxc.yaml", counter_yaml, NULL, 0) < 0 ||
            bench_write_file(dir, "bridge.conf", "[Bridge]\nXcomponentCompat=yes\n", NULL, 0) < 0)
                goto finish;
        bus_pid = bench_private_bus(dir, address, sizeof address);
        if (bus_pid < 0 || !(bus = bench_connect(address)))
                goto finish;

        for (size_t p = 0; p < ELEMENTSOF(policies); p++) {
                char *xargv[] = { (char *) xfsmd_path, (char *) "--bus-address", address, (char *) "--state-dir", state,
                                  (char *) "--durability", (char *) policies[p], (char *) "--component",
                                  (char *) "benchxc", NULL };
                char *bargv[] = { (char *) bridge, (char *) "--bus-address", address, (char *) "--node",
                                  (char *) "bench", (char *) "--redis", url, (char *) "--state-dir", bstate,
                                  (char *) "--nodes-dir", (char *) "/nonexistent", (char *) "--node-key", key,
                                  (char *) "--config", conf, NULL };
                sd_bus_message *reply = NULL;
                const char *path, *s;

                /* a state directory of its own per policy, one Counter in it */
                snprintf(state, sizeof state, "%s/state-%s", dir, policies[p]);
                (void) mkdir(state, 0755);
                id = mfree(id);
                snprintf(log, sizeof log, "%s/xfsmd-%s.log", dir, policies[p]);
                xfsmd = bench_spawn_env(xargv, log, comp);
                snprintf(log, sizeof log, "%s/bridge-%s.log", dir, policies[p]);
                bridge_pid = bench_spawn_env(bargv, log, comp);
                if (!bench_wait_name(bus, "org.xfsm1.BenchXc"))
                        goto finish;
                if (!id) {
                        if (sd_bus_call_method(bus, "org.xfsm1.BenchXc", "/org/xfsm1/BenchXc", "org.xfsm1.Component",
                                               "CreateInstance", NULL, &reply, "ss", "Counter", "{}") < 0 ||
                            sd_bus_message_read(reply, "os", &path, &s) < 0 || !(id = strdup(s))) {
                                sd_bus_message_unref(reply);
                                goto finish;
                        }
                        sd_bus_message_unref(reply);
                }
                /* subscribed: the channel has its subscriber */
                for (int k = 0; k < 1000; k++) {
                        redisContext *t = redisConnect("127.0.0.1", port);
                        redisReply *x = t && !t->err ? redisCommand(t, "PUBSUB NUMSUB xcomponent:BenchXc") : NULL;
                        bool up = x && x->type == REDIS_REPLY_ARRAY && x->elements == 2 && x->element[1]->integer > 0;
                        freeReplyObject(x);
                        if (t)
                                redisFree(t);
                        if (up && counter(bus, "Received") != UINT64_MAX)
                                break;
                        usleep(10000);
                }
                for (int k = 0; k < RUNS; k++)
                        if (compat_rate(port, bus, count, &v[k]) < 0) {
                                fprintf(stderr, "xfsmctl: the compat run (%s) failed; logs in %s\n", policies[p], dir);
                                goto finish;
                        }
                rate[p] = median3(v);
                for (int k = 0; k < RUNS; k++, seq += count)
                        if (deliver_rate(bus, count, seq, &v[k]) < 0)
                                goto finish;
                direct[p] = median3(v);
                bench_stop(bridge_pid);
                bench_stop(xfsmd);
                bridge_pid = xfsmd = 0;
        }

        if (json) {
                printf("{\"count\":%u,\"floor_pubsub_per_s\":%.0f", count, floor);
                for (size_t p = 0; p < 2; p++)
                        printf(",\"%s\":{\"per_s\":%.0f,\"ratio_to_floor\":%.3f,\"deliver_per_s\":%.0f,"
                               "\"ratio_to_deliver\":%.3f}",
                               policies[p], rate[p], rate[p] / floor, direct[p], rate[p] / direct[p]);
                printf("}\n");
        } else {
                printf("xfsm xcomponent-ai compatibility (one node, one redis-server without persistence; medians of "
                       "%d runs of %u messages)\n",
                       RUNS, count);
                printf("floor: PUBLISH -> one subscriber, same Redis            %8.0f messages/s\n", floor);
                for (size_t p = 0; p < 2; p++)
                        printf("durability %-5s: xcomponent:C -> bridge -> worker     %8.0f messages/s   ratio %.2f to "
                               "the floor; the worker's Deliver alone (64 in flight) %8.0f/s, ratio %.2f\n",
                               policies[p], rate[p], rate[p] / floor, direct[p], rate[p] / direct[p]);
        }
        r = 0;
finish:
        bench_stop(bridge_pid);
        bench_stop(xfsmd);
        sd_bus_flush_close_unref(bus);
        bench_stop(bus_pid);
        bench_stop(redis);
        if (r == 0)
                bench_remove_dir(dir);
        return r;
}
