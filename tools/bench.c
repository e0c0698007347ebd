/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl bench engine: the in-process engine benchmarks (xfsmctl(1)).
 * Figures, never assertions: medians of repeated runs and ratios to a floor
 * measured in the same run. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "macro.h"
#include "xfsm.h"
#include "xfsmctl.h"

#define RUNS 3

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

/* The demo Order (tests/data/xcomponent/demo-order.yaml), its UI keys left out. */
static const char order_yaml[] = "name: OrderComponent\n"
                                 "stateMachines:\n"
                                 "  - name: Order\n"
                                 "    initialState: Created\n"
                                 "    states:\n"
                                 "      - {name: Created, type: entry}\n"
                                 "      - name: Validated\n"
                                 "        cascadingRules:\n"
                                 "          - targetComponent: PaymentComponent\n"
                                 "            targetMachine: Payment\n"
                                 "            targetState: Pending\n"
                                 "            event: PROCESS\n"
                                 "            payload: {orderId: '{{orderId}}', amount: '{{amount}}', customerId: '{{customerId}}'}\n"
                                 "      - {name: Completed, type: final}\n"
                                 "      - {name: Cancelled, type: error}\n"
                                 "    transitions:\n"
                                 "      - {from: Created, to: Validated, event: VALIDATE, type: triggerable}\n"
                                 "      - {from: Validated, to: Completed, event: COMPLETE, type: triggerable}\n"
                                 "      - {from: Created, to: Cancelled, event: CANCEL, type: triggerable}\n";

static const char order_context[] = "{\"orderId\":\"ORD-000001\",\"amount\":129.9,\"customerId\":\"CUST-42\"}";
static const char validate_payload[] = "{\"validatedBy\":\"bench\",\"score\":0.97,\"channel\":\"web\"}";

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

static double median3(double v[RUNS]) {
        qsort(v, RUNS, sizeof *v, cmp_double);
        return v[RUNS / 2];
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
                print_diagnostic(userdata, severity, file, line, column, message);
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

typedef struct Latency {
        uint64_t median_ns, p99_ns;
} Latency;

static Latency latencies(uint64_t *v, size_t n) {
        qsort(v, n, sizeof *v, cmp_u64);
        return (Latency) { v[n / 2], v[n * 99 / 100] };
}

/* (a) toggle: events/s through the whole engine path, empty payloads; the
 * same for the statechart */
static int bench_events(const char *yaml, const char *machine, const char *event, uint64_t count, double *ret_rate,
                        Latency *ret_lat) {
        double rates[RUNS];
        uint64_t *lat;
        size_t n_lat = 100000;

        lat = calloc(n_lat, sizeof *lat);
        if (!lat)
                return -ENOMEM;
        for (int run = 0; run < RUNS; run++) {
                xfsm_engine *e = engine_with("bench.yaml", yaml);
                xfsm_instance *i;
                uint64_t t0, t1;

                if (!e || xfsm_engine_create(e, NULL, machine, NULL, &i) < 0) {
                        xfsm_engine_free(e);
                        free(lat);
                        return -EIO;
                }
                t0 = now_ns();
                for (uint64_t k = 0; k < count; k++)
                        if (xfsm_instance_send(e, i, event, NULL, NULL) < 0) {
                                fprintf(stderr, "%s refused: %s\n", event, xfsm_engine_last_error(e));
                                break;
                        }
                t1 = now_ns();
                rates[run] = (double) count / ((double) (t1 - t0) / 1e9);
                if (run == RUNS - 1)
                        for (size_t k = 0; k < n_lat; k++) {
                                uint64_t a = now_ns();
                                (void) xfsm_instance_send(e, i, event, NULL, NULL);
                                lat[k] = now_ns() - a;
                        }
                xfsm_engine_free(e);
        }
        *ret_rate = median3(rates);
        *ret_lat = latencies(lat, n_lat);
        free(lat);
        return 0;
}

/* floor for (a): the same toggle written by hand, as a switch */
static double bench_toggle_floor(uint64_t count) {
        double rates[RUNS];
        for (int run = 0; run < RUNS; run++) {
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
                rates[run] = (double) count / ((double) (now_ns() - t0) / 1e9);
        }
        return median3(rates);
}

/* (b) the demo Order flow: create (3-field context parsed from text),
 * VALIDATE (3-field payload parsed from text), COMPLETE */
static int bench_flow(uint64_t count, double *ret_rate, Latency *ret_lat) {
        double rates[RUNS];
        uint64_t *lat = calloc(count, sizeof *lat);

        if (!lat)
                return -ENOMEM;
        for (int run = 0; run < RUNS; run++) {
                xfsm_engine *e = engine_with("order.yaml", order_yaml);
                uint64_t t0, t1;

                if (!e) {
                        free(lat);
                        return -EIO;
                }
                t0 = now_ns();
                for (uint64_t k = 0; k < count; k++) {
                        uint64_t a = now_ns();
                        xfsm_instance *i;
                        if (xfsm_engine_create(e, NULL, "Order", order_context, &i) < 0 ||
                            xfsm_instance_send(e, i, "VALIDATE", validate_payload, NULL) < 0 ||
                            xfsm_instance_send(e, i, "COMPLETE", NULL, NULL) < 0) {
                                fprintf(stderr, "flow refused: %s\n", xfsm_engine_last_error(e));
                                break;
                        }
                        lat[k] = now_ns() - a;
                }
                t1 = now_ns();
                rates[run] = (double) count / ((double) (t1 - t0) / 1e9);
                xfsm_engine_free(e);
        }
        *ret_rate = median3(rates);
        *ret_lat = latencies(lat, count);
        free(lat);
        return 0;
}

/* floor for (b): only parsing the two JSON texts of a flow with json-c */
static double bench_flow_floor(uint64_t count) {
        double rates[RUNS];
        for (int run = 0; run < RUNS; run++) {
                uint64_t t0 = now_ns();
                for (uint64_t k = 0; k < count; k++) {
                        json_object *a = json_tokener_parse(order_context), *b = json_tokener_parse(validate_payload);
                        json_object_put(a);
                        json_object_put(b);
                }
                rates[run] = (double) count / ((double) (now_ns() - t0) / 1e9);
        }
        return median3(rates);
}

/* (c) resident memory per live demo Order, its context included */
static int bench_memory(uint64_t count, double *ret_bytes) {
        xfsm_engine *e = engine_with("order.yaml", order_yaml);
        long before, after;
        char ctx[128];

        if (!e)
                return -EIO;
        before = rss_kib();
        for (uint64_t k = 0; k < count; k++) {
                snprintf(ctx, sizeof ctx, "{\"orderId\":\"ORD-%07" PRIu64 "\",\"amount\":%" PRIu64 ".5,\"customerId\":\"CUST-%" PRIu64 "\"}",
                         k, k % 1000, k % 5000);
                if (xfsm_engine_create(e, NULL, "Order", ctx, NULL) < 0) {
                        xfsm_engine_free(e);
                        return -EIO;
                }
        }
        after = rss_kib();
        *ret_bytes = (double) (after - before) * 1024.0 / (double) count;
        xfsm_engine_free(e);
        return 0;
}

int verb_bench(int argc, char **argv, bool json, const char *bus_address) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "flows", required_argument, NULL, 'f' },
                { "instances", required_argument, NULL, 'i' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        uint64_t count = 10000000, flows = 200000, instances = 1000000;
        double toggle, toggle_floor, flow, flow_floor, mem, chart;
        Latency tl, fl, cl;
        int c;

        optind = 1;
        /* "bench bus ..." has options of its own */
        if (argc > 1 && streq(argv[1], "bus"))
                return bench_bus(argc - 1, argv + 1, bus_address, json);
        if (argc > 1 && streq(argv[1], "bridge"))
                return bench_bridge(argc - 1, argv + 1, json);
        if (argc > 1 && streq(argv[1], "http"))
                return bench_http(argc - 1, argv + 1, json);
        if (argc > 1 && streq(argv[1], "xcompat"))
                return bench_xcompat(argc - 1, argv + 1, json);
        if (argc > 1 && streq(argv[1], "exec"))
                return bench_exec(argc - 1, argv + 1, bus_address, json);
        if (argc > 1 && streq(argv[1], "polkit"))
                return bench_polkit(argc - 1, argv + 1, json);
        while ((c = getopt_long(argc, argv, "n:f:i:", options, NULL)) >= 0)
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
                case 'j':
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc && streq(argv[optind], "bus"))
                return bench_bus(argc - optind, argv + optind, bus_address, json);
        if (optind >= argc || !streq(argv[optind], "engine"))
                return usage_error("bench: expected 'engine' or 'bus'");
        if (count == 0 || flows == 0 || instances == 0)
                return usage_error("bench: counts must be positive");

        if (bench_events(toggle_yaml, "Toggle", "TOGGLE", count, &toggle, &tl) < 0 ||
            bench_events(statechart_yaml, "Chart", "TICK", count / 2, &chart, &cl) < 0 ||
            bench_flow(flows, &flow, &fl) < 0 ||
            bench_memory(instances, &mem) < 0) {
                fprintf(stderr, "xfsmctl: bench failed\n");
                return EXIT_REFUSED;
        }
        toggle_floor = bench_toggle_floor(count);
        flow_floor = bench_flow_floor(flows);

        if (json) {
                printf("{\"durability\":\"none\",\"runs\":%d,"
                       "\"toggle\":{\"events_per_s\":%.0f,\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
                       ",\"floor_per_s\":%.0f,\"ratio_to_floor\":%.4f},"
                       "\"order_flow\":{\"flows_per_s\":%.0f,\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
                       ",\"floor_per_s\":%.0f,\"ratio_to_floor\":%.4f},"
                       "\"statechart\":{\"events_per_s\":%.0f,\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
                       ",\"ratio_to_toggle\":%.3f},"
                       "\"memory\":{\"instances\":%" PRIu64 ",\"bytes_per_instance\":%.0f}}\n",
                       RUNS, toggle, tl.median_ns, tl.p99_ns, toggle_floor, toggle / toggle_floor, flow,
                       fl.median_ns, fl.p99_ns, flow_floor, flow / flow_floor, chart, cl.median_ns, cl.p99_ns,
                       chart / toggle, instances, mem);
                return EXIT_OK;
        }
        printf("xfsm engine benchmarks (in process, virtual clock, durability: none; medians of %d runs)\n", RUNS);
        printf("toggle      %10.2f M events/s   latency median %" PRIu64 " ns, p99 %" PRIu64 " ns\n", toggle / 1e6,
               tl.median_ns, tl.p99_ns);
        printf("            floor: hand-written switch %.0f M/s; engine/floor = %.4f (target >= 5 M events/s)\n",
               toggle_floor / 1e6, toggle / toggle_floor);
        printf("statechart  %10.2f M events/s   latency median %" PRIu64 " ns, p99 %" PRIu64
               " ns (3 compound levels, 2 parallel regions; target >= 2 M events/s)\n",
               chart / 1e6, cl.median_ns, cl.p99_ns);
        printf("order flow  %10.1f k flows/s    latency median %.2f us, p99 %.2f us (create+VALIDATE+COMPLETE)\n",
               flow / 1e3, (double) fl.median_ns / 1e3, (double) fl.p99_ns / 1e3);
        printf("            floor: json-c parse of the same two texts %.0f k/s; engine/floor = %.3f (target >= 200 k/s)\n",
               flow_floor / 1e3, flow / flow_floor);
        printf("memory      %10.0f bytes per live Order (RSS, %" PRIu64 " instances, context included; target <= 2048)\n",
               mem, instances);
        return EXIT_OK;
}
