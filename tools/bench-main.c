/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench: the benchmarks of xfsm (xfsm-bench(1)), built and run in CI,
 * not installed. Each prints events/s and latencies beside the floor
 * measured in the same run and the ratio; --json carries every figure.
 * Figures, never assertions. Exit 0 when the figures were measured, 1 when
 * a measurement failed, 2 on bad usage. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "macro.h"

static const char *program = "xfsm-bench";

int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '%s --help')\n", program);
        return EXIT_USAGE;
}

static void help(void) {
        printf("Usage: %s [--json] [--bus ADDR] [--cpus LIST] WHAT [ARGS...]\n"
               "\n"
               "Measure xfsm beside the floor of each path, in the same run; medians of %d runs\n"
               "with their ranges, each run in a fresh process.\n"
               "\n"
               "  engine [--count N] [--flows N] [--instances N] [--demo-dir DIR]\n"
               "                        Toggle and statechart events/s, the demo Order flow\n"
               "                        (demo-order.yaml and demo-payment.yaml, its cascade\n"
               "                        delivered), memory per live instance\n"
               "  bus [--count N] [--xfsmd PATH] [--recovery N]\n"
               "                        Send through xfsmd beside a bare sd-bus service, with\n"
               "                        and without subscribers; durable Send over the bus and\n"
               "                        the worker's socket; the hop between two workers beside\n"
               "                        a bare sd-bus peer-to-peer call; recovery\n"
               "  exec [--count N] [--xfsmd PATH]\n"
               "                        An exec action's latency and rate beside\n"
               "                        systemd-run --wait (system bus) or fork+exec\n"
               "  polkit [--count N] [--policy FILE]\n"
               "                        Send as root, as an allowed user (warm grant cache)\n"
               "                        and cold, with a real polkitd (root)\n"
               "  bridge [--count N] [--waiting N]\n"
               "                        A routed event between two nodes through their Redis\n"
               "                        bridges beside an XADD/XREADGROUP/XACK round; the\n"
               "                        sustained rate; the bridge's memory with N events\n"
               "                        waiting (needs redis-server)\n"
               "  http [--count N] [--subscribers N] [--events N]\n"
               "                        The Order flow over xfsm-http's REST API beside the same\n"
               "                        over D-Bus (1 and 8 clients); the event stream's fan-out\n"
               "                        to N subscribers\n"
               "  xcompat [--count N]\n"
               "                        Messages/s from xcomponent-ai's channel into a worker\n"
               "                        through the bridge in compat mode, beside bare pub/sub\n"
               "                        and the worker's Deliver alone\n"
               "\n"
               "Options:\n"
               "  --bus ADDR    bus and exec: use the bus at ADDR, not a private dbus-daemon\n"
               "  --cpus LIST   Pin the processes of each comparison to these CPUs (taskset\n"
               "                syntax: 0 or 0,1 or 0-1; default 0; 'all' leaves them free)\n"
               "  --json        Print every figure as JSON\n"
               "  -h --help     Show this help\n",
               program, RUNS);
}

int main(int argc, char **argv) {
        const char *bus_address = NULL;
        bool json = false;
        int i;

        for (i = 1; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        json = true;
                else if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
                        help();
                        return EXIT_OK;
                } else if (streq(argv[i], "--bus") || streq(argv[i], "--cpus")) {
                        if (i + 1 >= argc)
                                return usage_error("%s needs a value", argv[i]);
                        if (streq(argv[i], "--bus"))
                                bus_address = argv[++i];
                        else
                                bench_cpus = argv[++i];
                } else if (argv[i][0] == '-')
                        return usage_error("unknown option '%s'", argv[i]);
                else
                        break;
        }
        if (i >= argc)
                return usage_error("nothing to measure given");
        if (streq(bench_cpus, "all"))
                bench_cpus = NULL;
        else if (bench_pin(bench_cpus) < 0)
                return usage_error("--cpus: cannot pin to '%s'", bench_cpus);

        argc -= i;
        argv += i;
        if (streq(argv[0], "engine"))
                return bench_engine(argc, argv, json);
        if (streq(argv[0], "bus"))
                return bench_bus(argc, argv, bus_address, json);
        if (streq(argv[0], "exec"))
                return bench_exec(argc, argv, bus_address, json);
        if (streq(argv[0], "polkit"))
                return bench_polkit(argc, argv, json);
        if (streq(argv[0], "bridge"))
                return bench_bridge(argc, argv, json);
        if (streq(argv[0], "http"))
                return bench_http(argc, argv, json);
        if (streq(argv[0], "xcompat"))
                return bench_xcompat(argc, argv, json);
        return usage_error("unknown benchmark '%s'", argv[0]);
}
