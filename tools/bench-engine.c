/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench engine: the in-process engine benchmarks (xfsm-bench(1)).
 * Every run of every figure is a fresh engine in a fresh child process
 * (bench_in_child()), pinned to the same CPUs as the run of its floor,
 * interleaved with it; a figure is the median of RUNS runs with its range.
 *
 *   toggle       events/s through the whole engine path, beside the same
 *                toggle written by hand as a switch;
 *   statechart   the same through three compound levels and two parallel
 *                regions, beside the toggle;
 *   order flow   the demo flow of demo-order.yaml with demo-payment.yaml
 *                loaded too: create an Order (3-field context parsed from
 *                text), VALIDATE (3-field payload parsed from text) whose
 *                cascade is delivered to a Payment waiting in Pending (a real
 *                receiver, created before the flow's clock starts, and checked
 *                to be in Processing afterwards), COMPLETE; beside json-c
 *                parsing the same two texts;
 *   memory       resident memory per live Order, alone in its process.
 * Figures, never assertions. */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"
#include "macro.h"
#include "xfsm.h"

static const char toggle_yaml[] = "name: Bench\n"
                                  "stateMachines:\n"
                                  "  - name: Toggle\n"
                                  "    initialState: Off\n"
                                  "    states:\n"
                                  "      - {name: Off, type: entry}\n"
                                  "      - {name: On}\n"
                                  "    transitions:\n"
                                  "      - {from: Off, to: On, event: TOGGLE}\n"
                                  "      - {from: On, to: Off, event: TOGGLE}\n";

/* A statechart: three compound levels and two parallel regions; TICK moves
 * both regions at once (two transitions in one microstep). */
static const char statechart_yaml[] = "name: BenchChart\n"
                                      "stateMachines:\n"
                                      "  - name: Chart\n"
                                      "    initialState: Root\n"
                                      "    states:\n"
                                      "      - name: Root\n"
                                      "        states:\n"
                                      "          - name: Mid\n"
                                      "            states:\n"
                                      "              - name: Par\n"
                                      "                type: parallel\n"
                                      "                states:\n"
                                      "                  - {name: R1, states: [{name: A1}, {name: B1}]}\n"
                                      "                  - {name: R2, states: [{name: A2}, {name: B2}]}\n"
                                      "    transitions:\n"
                                      "      - {from: A1, to: B1, event: TICK}\n"
                                      "      - {from: B1, to: A1, event: TICK}\n"
                                      "      - {from: A2, to: B2, event: TICK}\n"
                                      "      - {from: B2, to: A2, event: TICK}\n";

static const char order_context[] = "{\"orderId\":\"ORD-000001\",\"amount\":129.9,\"customerId\":\"CUST-42\"}";
static const char validate_payload[] = "{\"validatedBy\":\"bench\",\"score\":0.97,\"channel\":\"web\"}";

static const char payment_context[] = "{\"orderId\":\"ORD-000001\",\"amount\":129.9,\"customerId\":\"CUST-42\"}";

#define N_LATENCIES 100000

typedef enum EngineKind {
        KIND_TOGGLE,
        KIND_TOGGLE_FLOOR,
        KIND_STATECHART,
        KIND_FLOW,
        KIND_FLOW_FLOOR,
        KIND_MEMORY,
} EngineKind;

typedef struct EngineArgs {
        EngineKind kind;
        uint64_t count;
        const char *demo_dir;
} EngineArgs;

/* what one run in its child measured */
typedef struct EngineRun {
        double rate;            /* per second */
        double rate_with_setup; /* order flow: the receiver's creation counted too */
        double bytes;           /* memory: per instance */
        uint64_t median_ns, p99_ns;
} EngineRun;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

static void latencies(uint64_t *v, size_t n, EngineRun *ret) {
        qsort(v, n, sizeof *v, cmp_u64);
        ret->median_ns = v[n / 2];
        ret->p99_ns = v[n * 99 / 100];
}

static long rss_kib(void) {
        FILE *f = fopen("/proc/self/statm", "re");
        long pages = 0, resident = 0;
        if (!f)
                return 0;
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
                resident = 0;
        fclose(f);
        return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void errors_only(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                        const char *message) {
        if (severity == XFSM_DIAG_ERROR)
                fprintf(stderr, "%s:%u:%u: error: %s\n", file, line, column, message);
}

static xfsm_engine *engine_with(const char *name, const char *yaml) {
        xfsm_engine *e = xfsm_engine_new();
        if (!e)
                return NULL;
        xfsm_engine_use_virtual_clock(e, 0);
        if (xfsm_engine_load_string(e, name, yaml, strlen(yaml), errors_only, NULL) < 0)
                return xfsm_engine_free(e);
        return e;
}

/* both demo components, as the flow is defined */
static xfsm_engine *engine_with_demo(const char *dir) {
        char path[PATH_MAX];
        xfsm_engine *e = xfsm_engine_new();

        if (!e)
                return NULL;
        xfsm_engine_use_virtual_clock(e, 0);
        snprintf(path, sizeof path, "%s/demo-order.yaml", dir);
        if (xfsm_engine_load_file(e, path, errors_only, NULL) < 0)
                return xfsm_engine_free(e);
        snprintf(path, sizeof path, "%s/demo-payment.yaml", dir);
        if (xfsm_engine_load_file(e, path, errors_only, NULL) < 0)
                return xfsm_engine_free(e);
        return e;
}

/* toggle or statechart: count events, then N_LATENCIES timed one by one */
static int run_events(const char *yaml, const char *machine, const char *event, uint64_t count, EngineRun *ret) {
        _cleanup_(freep) uint64_t *lat = calloc(N_LATENCIES, sizeof *lat);
        xfsm_engine *e = engine_with("bench.yaml", yaml);
        xfsm_instance *i;
        uint64_t t0;

        if (!lat || !e || xfsm_engine_create(e, NULL, machine, NULL, &i) < 0)
                return -EIO;
        t0 = now_ns();
        for (uint64_t k = 0; k < count; k++)
                if (xfsm_instance_send(e, i, event, NULL, NULL) < 0) {
                        fprintf(stderr, "%s refused: %s\n", event, xfsm_engine_last_error(e));
                        return -EIO;
                }
        ret->rate = (double) count / ((double) (now_ns() - t0) / 1e9);
        for (size_t k = 0; k < N_LATENCIES; k++) {
                uint64_t a = now_ns();
                if (xfsm_instance_send(e, i, event, NULL, NULL) < 0)
                        return -EIO;
                lat[k] = now_ns() - a;
        }
        latencies(lat, N_LATENCIES, ret);
        xfsm_engine_free(e);
        return 0;
}

/* the toggle written by hand, as a switch */
static int run_toggle_floor(uint64_t count, EngineRun *ret) {
        volatile int state = 0;
        volatile uint64_t transitions = 0;
        uint64_t t0 = now_ns();

        for (uint64_t k = 0; k < count; k++) {
                switch (state) {
                case 0:
                        state = 1;
                        break;
                default:
                        state = 0;
                        break;
                }
                transitions = transitions + 1;
        }
        ret->rate = (double) count / ((double) (now_ns() - t0) / 1e9);
        return 0;
}

/* the order flow; the clock of each flow starts once its receiver waits */
static int run_flow(const char *demo_dir, uint64_t count, EngineRun *ret) {
        _cleanup_(freep) uint64_t *lat = calloc(count, sizeof *lat);
        xfsm_engine *e = engine_with_demo(demo_dir);
        uint64_t flows_ns = 0, t0;

        if (!lat || !e)
                return -EIO;
        t0 = now_ns();
        for (uint64_t k = 0; k < count; k++) {
                xfsm_instance *payment, *order;
                uint64_t a;

                if (xfsm_engine_create(e, "PaymentComponent", "Payment", payment_context, &payment) < 0)
                        goto refused;
                a = now_ns();
                if (xfsm_engine_create(e, "OrderComponent", "Order", order_context, &order) < 0 ||
                    xfsm_instance_send(e, order, "VALIDATE", validate_payload, NULL) < 0 ||
                    xfsm_instance_send(e, order, "COMPLETE", NULL, NULL) < 0)
                        goto refused;
                lat[k] = now_ns() - a;
                flows_ns += lat[k];
                if (!streq(xfsm_instance_state(payment), "Processing")) {
                        fprintf(stderr, "xfsm-bench: engine: the cascade did not reach its receiver\n");
                        return -EIO;
                }
        }
        ret->rate_with_setup = (double) count / ((double) (now_ns() - t0) / 1e9);
        ret->rate = (double) count / ((double) flows_ns / 1e9);
        latencies(lat, count, ret);
        xfsm_engine_free(e);
        return 0;

refused:
        fprintf(stderr, "xfsm-bench: engine: flow refused: %s\n", xfsm_engine_last_error(e));
        return -EIO;
}

/* only parsing the two JSON texts of a flow with json-c */
static int run_flow_floor(uint64_t count, EngineRun *ret) {
        uint64_t t0 = now_ns();

        for (uint64_t k = 0; k < count; k++) {
                json_object *a = json_tokener_parse(order_context), *b = json_tokener_parse(validate_payload);
                json_object_put(a);
                json_object_put(b);
        }
        ret->rate = (double) count / ((double) (now_ns() - t0) / 1e9);
        return 0;
}

/* resident memory per live Order (context included), alone in its process */
static int run_memory(const char *demo_dir, uint64_t count, EngineRun *ret) {
        xfsm_engine *e = engine_with_demo(demo_dir);
        long before, after;
        char ctx[128];

        if (!e)
                return -EIO;
        before = rss_kib();
        for (uint64_t k = 0; k < count; k++) {
                snprintf(ctx, sizeof ctx,
                         "{\"orderId\":\"ORD-%07" PRIu64 "\",\"amount\":%" PRIu64 ".5,\"customerId\":\"CUST-%" PRIu64 "\"}",
                         k, k % 1000, k % 5000);
                if (xfsm_engine_create(e, "OrderComponent", "Order", ctx, NULL) < 0)
                        return -EIO;
        }
        after = rss_kib();
        ret->bytes = (double) (after - before) * 1024.0 / (double) count;
        xfsm_engine_free(e);
        return 0;
}

static int engine_child(const void *arg, void *ret, size_t size) {
        const EngineArgs *a = arg;
        EngineRun *run = ret;

        assert(size == sizeof *run);
        *run = (EngineRun) {};
        switch (a->kind) {
        case KIND_TOGGLE:
                return run_events(toggle_yaml, "Toggle", "TOGGLE", a->count, run);
        case KIND_TOGGLE_FLOOR:
                return run_toggle_floor(a->count, run);
        case KIND_STATECHART:
                return run_events(statechart_yaml, "Chart", "TICK", a->count, run);
        case KIND_FLOW:
                return run_flow(a->demo_dir, a->count, run);
        case KIND_FLOW_FLOOR:
                return run_flow_floor(a->count, run);
        case KIND_MEMORY:
                return run_memory(a->demo_dir, a->count, run);
        }
        return -EINVAL;
}

/* RUNS runs of a figure, each in a fresh process */
typedef struct EngineFigure {
        BenchStat rate, rate_with_setup, bytes, median_ns, p99_ns;
} EngineFigure;

static int figure_add(EngineRun runs[RUNS], EngineFigure *ret) {
        double rate[RUNS], setup[RUNS], bytes[RUNS], med[RUNS], p99[RUNS];

        for (int k = 0; k < RUNS; k++) {
                rate[k] = runs[k].rate;
                setup[k] = runs[k].rate_with_setup;
                bytes[k] = runs[k].bytes;
                med[k] = (double) runs[k].median_ns;
                p99[k] = (double) runs[k].p99_ns;
        }
        *ret = (EngineFigure) {
                .rate = bench_stat(rate, RUNS),
                .rate_with_setup = bench_stat(setup, RUNS),
                .bytes = bench_stat(bytes, RUNS),
                .median_ns = bench_stat(med, RUNS),
                .p99_ns = bench_stat(p99, RUNS),
        };
        return 0;
}

/* a figure and its floor, their runs interleaved (the same machine load) */
static int measure(EngineArgs a, EngineKind floor_kind, EngineFigure *ret, EngineFigure *ret_floor) {
        EngineRun runs[RUNS], floors[RUNS];

        for (int k = 0; k < RUNS; k++) {
                EngineArgs f = a;
                int r;

                r = bench_in_child(bench_cpus, engine_child, &a, &runs[k], sizeof runs[k]);
                if (r < 0)
                        return r;
                if (!ret_floor)
                        continue;
                f.kind = floor_kind;
                r = bench_in_child(bench_cpus, engine_child, &f, &floors[k], sizeof floors[k]);
                if (r < 0)
                        return r;
        }
        figure_add(runs, ret);
        if (ret_floor)
                figure_add(floors, ret_floor);
        return 0;
}

static void json_events(const char *name, const EngineFigure *f) {
        printf("\"%s\":{", name);
        bench_json_stat(stdout, "per_s", f->rate);
        putchar(',');
        bench_json_stat(stdout, "latency_median_ns", f->median_ns);
        putchar(',');
        bench_json_stat(stdout, "latency_p99_ns", f->p99_ns);
}

static void print_stat(const char *what, BenchStat s, double scale, const char *unit) {
        printf("%s %.2f %s (range %.2f-%.2f)", what, s.median / scale, unit, s.min / scale, s.max / scale);
}

int bench_engine(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "flows", required_argument, NULL, 'f' },
                { "instances", required_argument, NULL, 'i' },
                { "demo-dir", required_argument, NULL, 'd' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        uint64_t count = 10000000, flows = 200000, instances = 1000000;
        const char *demo_dir = XFSM_DEMO_DIR;
        EngineFigure toggle, toggle_floor, chart, flow, flow_floor, mem;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:f:i:d:", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        count = strtoull(optarg, NULL, 10);
                        break;
                case 'f':
                        flows = strtoull(optarg, NULL, 10);
                        break;
                case 'i':
                        instances = strtoull(optarg, NULL, 10);
                        break;
                case 'd':
                        demo_dir = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc)
                return usage_error("engine: unexpected argument '%s'", argv[optind]);
        if (count == 0 || flows == 0 || instances == 0)
                return usage_error("engine: counts must be positive");

        if (measure((EngineArgs) { KIND_TOGGLE, count, demo_dir }, KIND_TOGGLE_FLOOR, &toggle, &toggle_floor) < 0 ||
            measure((EngineArgs) { KIND_STATECHART, count / 2, demo_dir }, 0, &chart, NULL) < 0 ||
            measure((EngineArgs) { KIND_FLOW, flows, demo_dir }, KIND_FLOW_FLOOR, &flow, &flow_floor) < 0 ||
            measure((EngineArgs) { KIND_MEMORY, instances, demo_dir }, 0, &mem, NULL) < 0) {
                fprintf(stderr, "xfsm-bench: engine: a measurement failed\n");
                return EXIT_REFUSED;
        }

        if (json) {
                printf("{\"durability\":\"none\",\"runs\":%d,\"cpus\":\"%s\",", RUNS, bench_cpus ?: "");
                json_events("toggle", &toggle);
                putchar(',');
                bench_json_stat(stdout, "floor_per_s", toggle_floor.rate);
                printf(",\"ratio_to_floor\":%.4f,\"target_per_s\":5000000},", toggle.rate.median / toggle_floor.rate.median);
                json_events("statechart", &chart);
                printf(",\"ratio_to_toggle\":%.3f,\"target_per_s\":2000000},", chart.rate.median / toggle.rate.median);
                json_events("order_flow", &flow);
                putchar(',');
                bench_json_stat(stdout, "with_receiver_create_per_s", flow.rate_with_setup);
                putchar(',');
                bench_json_stat(stdout, "floor_per_s", flow_floor.rate);
                printf(",\"ratio_to_floor\":%.4f,\"flows\":%" PRIu64 ",\"target_per_s\":200000},",
                       flow.rate.median / flow_floor.rate.median, flows);
                printf("\"memory\":{\"instances\":%" PRIu64 ",", instances);
                bench_json_stat(stdout, "bytes_per_instance", mem.bytes);
                printf(",\"target_bytes\":2048}}\n");
                return EXIT_OK;
        }

        printf("xfsm engine benchmarks (in process, virtual clock, durability: none; a fresh process per run,\n"
               "pinned to CPUs %s; medians of %d runs, ranges in parentheses)\n", bench_cpus ?: "(any)", RUNS);
        print_stat("toggle      ", toggle.rate, 1e6, "M events/s");
        printf("   latency median %.0f ns, p99 %.0f ns\n", toggle.median_ns.median, toggle.p99_ns.median);
        print_stat("            floor: hand-written switch", toggle_floor.rate, 1e6, "M/s");
        printf("; engine/floor = %.4f (target >= 5 M events/s)\n", toggle.rate.median / toggle_floor.rate.median);
        print_stat("statechart  ", chart.rate, 1e6, "M events/s");
        printf("   latency median %.0f ns, p99 %.0f ns; %.2fx the toggle (3 compound levels, 2 parallel regions;\n"
               "            target >= 2 M events/s)\n",
               chart.median_ns.median, chart.p99_ns.median, chart.rate.median / toggle.rate.median);
        print_stat("order flow  ", flow.rate, 1e3, "k flows/s");
        printf("   latency median %.2f us, p99 %.2f us\n", flow.median_ns.median / 1e3, flow.p99_ns.median / 1e3);
        printf("            (demo-order.yaml + demo-payment.yaml: create, VALIDATE with its cascade delivered to a\n"
               "            waiting Payment, COMPLETE; %" PRIu64 " flows; target >= 200 k/s)\n", flows);
        print_stat("            with the receiver's creation counted too", flow.rate_with_setup, 1e3, "k/s");
        putchar('\n');
        print_stat("            floor: json-c parse of the same two texts", flow_floor.rate, 1e3, "k/s");
        printf("; engine/floor = %.3f\n", flow.rate.median / flow_floor.rate.median);
        print_stat("memory      ", mem.bytes, 1, "bytes per live Order");
        printf("\n            (RSS, %" PRIu64 " instances alone in a fresh process, context included; target <= 2048)\n",
               instances);
        return EXIT_OK;
}
