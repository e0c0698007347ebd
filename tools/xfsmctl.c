/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl: the command line of xfsm (xfsmctl(1)). Exit 0 on success, 1 on
 * a refused operation, 2 on bad usage; errors go to stderr as one line. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "json-util.h"
#include "xfsmctl.h"
#include "xfsm.h"

static const char *program = "xfsmctl";

int usage_error(const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '%s --help')\n", program);
        return EXIT_USAGE;
}

/* ---- validate ---------------------------------------------------------- */

typedef struct Diagnostics {
        bool json;
        bool first;
        FILE *out; /* json: the list being written */
        unsigned errors, warnings;
} Diagnostics;

void print_diagnostic(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                      const char *message) {
        Diagnostics *d = userdata;
        const char *sev = severity == XFSM_DIAG_ERROR ? "error" : "warning";

        if (d && severity == XFSM_DIAG_ERROR)
                d->errors++;
        else if (d)
                d->warnings++;
        if (d && d->json) {
                fprintf(d->out, "%s{\"file\":", d->first ? "" : ",");
                json_write_string(d->out, file);
                fprintf(d->out, ",\"line\":%u,\"column\":%u,\"severity\":\"%s\",\"message\":", line, column, sev);
                json_write_string(d->out, message);
                fputc('}', d->out);
                d->first = false;
                return;
        }
        if (line > 0)
                fprintf(stderr, "%s:%u:%u: %s: %s\n", file, line, column, sev, message);
        else
                fprintf(stderr, "%s: %s: %s\n", file, sev, message);
}

static int verb_validate(int argc, char **argv, bool json) {
        xfsm_engine *e = NULL;
        Diagnostics d = { .json = json, .first = true, .out = stdout };
        bool all_ok = true;
        int n_files = 0;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        d.json = json = true;
                else if (argv[i][0] == '-' && argv[i][1])
                        return usage_error("validate: unknown option '%s'", argv[i]);
                else
                        n_files++;
        }
        if (n_files == 0)
                return usage_error("validate: no FILE given");

        if (json)
                fputs("{\"files\":[", stdout);
        bool first_file = true;
        for (int i = 1; i < argc; i++) {
                unsigned before;
                int r;

                if (argv[i][0] == '-' && argv[i][1])
                        continue;
                if (json) {
                        fprintf(stdout, "%s{\"file\":", first_file ? "" : ",");
                        json_write_string(stdout, argv[i]);
                        fputs(",\"diagnostics\":[", stdout);
                        d.first = true;
                }
                first_file = false;
                before = d.errors;
                /* each file on its own: a directory may hold variants of one component */
                e = xfsm_engine_new();
                if (!e)
                        return EXIT_REFUSED;
                r = xfsm_engine_load_file(e, argv[i], print_diagnostic, &d);
                if (r < 0 && d.errors == before) {
                        /* a failure the loader did not describe (out of memory) */
                        print_diagnostic(&d, XFSM_DIAG_ERROR, argv[i], 0, 0, xfsm_strerror(r));
                }
                if (r < 0)
                        all_ok = false;
                if (json) {
                        fprintf(stdout, "],\"valid\":%s", r >= 0 ? "true" : "false");
                        if (r >= 0) {
                                const char *name = xfsm_engine_component_name(e, xfsm_engine_n_components(e) - 1);
                                fputs(",\"component\":", stdout);
                                json_write_string(stdout, name);
                        }
                        fputc('}', stdout);
                } else if (r >= 0)
                        printf("%s: valid (component %s)\n", argv[i],
                               xfsm_engine_component_name(e, xfsm_engine_n_components(e) - 1));
                else
                        printf("%s: invalid\n", argv[i]);
                xfsm_engine_free(e);
        }
        if (json)
                printf("],\"valid\":%s,\"errors\":%u,\"warnings\":%u}\n", all_ok ? "true" : "false", d.errors,
                       d.warnings);
        return all_ok ? EXIT_OK : EXIT_REFUSED;
}

/* ---- graph ----------------------------------------------------------------- */

static int verb_graph(int argc, char **argv) {
        static const struct option options[] = {
                { "machine", required_argument, NULL, 'm' },
                { "format", required_argument, NULL, 'f' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        const char *machine = NULL, *format = "dot", *file;
        Diagnostics d = { .out = stdout };
        xfsm_engine *e;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "m:f:", options, NULL)) >= 0)
                switch (c) {
                case 'm':
                        machine = optarg;
                        break;
                case 'f':
                        format = optarg;
                        break;
                case 'j':
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (optind != argc - 1)
                return usage_error("graph: expected exactly one FILE");
        if (!streq(format, "dot") && !streq(format, "mermaid"))
                return usage_error("graph: unknown format '%s' (dot or mermaid)", format);
        file = argv[optind];

        e = xfsm_engine_new();
        if (!e)
                return EXIT_REFUSED;
        r = xfsm_engine_load_file(e, file, print_diagnostic, &d);
        if (r < 0) {
                xfsm_engine_free(e);
                return EXIT_REFUSED;
        }
        r = xfsm_engine_write_graph(e, xfsm_engine_component_name(e, 0), machine, format, stdout);
        if (r < 0)
                fprintf(stderr, "%s: graph: %s%s%s\n", program, xfsm_strerror(r), machine ? ": " : "",
                        machine ?: "");
        xfsm_engine_free(e);
        return r < 0 ? EXIT_REFUSED : EXIT_OK;
}

/* ---- main ---------------------------------------------------------------- */

static void help(void) {
        printf("Usage: %s [--json] VERB [ARGS...]\n"
               "\n"
               "Run and inspect xfsm state machines.\n"
               "\n"
               "Verbs on the bus (components hosted by xfsmd):\n"
               "  list                             Components: running, activatable or installed\n"
               "  instances C [--machine M] [--state S]\n"
               "                                   Instances of component C\n"
               "  show C ID                        Properties, timers and context of one instance\n"
               "  history C ID                     Its transitions, oldest first\n"
               "  create C MACHINE [--context JSON]\n"
               "                                   Create an instance; print its id\n"
               "  send C ID EVENT [--payload JSON] [--event-id ID] [--correlation-id ID]\n"
               "                                   Send an event; print the new state\n"
               "  watch [C]                        Follow transitions until interrupted\n"
               "  enable STEM, disable STEM        Install or remove the bus activation and policy\n"
               "                                   files of component STEM (its worker xfsm@STEM)\n"
               "\n"
               "Verbs on this node's Redis bridge (xfsm-redis-bridge(8)):\n"
               "  bridge status                    Nodes (UUID, alive), components (home, entries\n"
               "                                   waiting, pending, dead), totals, rates, settings\n"
               "  bridge dead list C               The entries of C that can never apply, and why\n"
               "  bridge dead replay C             Put them back into C's inbox\n"
               "  bridge release C                 Hand component C over: it is not homed here any\n"
               "                                   more (refused while events wait for or in it)\n"
               "  bridge decommission NODE         Forget a node that is gone for good\n"
               "\n"
               "Verbs without a daemon:\n"
               "  validate FILE...                 Load and check components; print warnings\n"
               "                                   and errors as FILE:LINE:COLUMN: message\n"
               "  graph FILE [--machine M] [--format dot|mermaid]\n"
               "                                   Draw the machines of a component\n"
               "  simulate FILE... --machine M [--context JSON] [--create MACHINE[:JSON]]...\n"
               "           [EVENT[:JSON]|+MS]... [--events-from FILE|-] [--advance MS] [--quiet]\n"
               "                                   Run in-process on a virtual clock; print each\n"
               "                                   transition and the final instance\n"
               "\n"
               "Options:\n"
               "  --system      Talk to components on the system bus (the default)\n"
               "  --user        Talk to components on the user's session bus\n"
               "  --bus ADDR    Talk to components on the bus at ADDR\n"
               "  --no-ask-password  Do not ask for a password (polkit)\n"
               "  --json        Print machine-readable JSON\n"
               "  -h --help     Show this help\n"
               "  --version     Show the version\n"
               "\n"
               "Exit status: 0 on success, 1 on a refused operation, 2 on bad usage.\n"
               "See xfsmctl(1).\n",
               program);
}

/* One of xfsmctl's own bus options at argv[k]: how many arguments it took
 * (0: not one of them), -1 after a usage error. */
static int bus_option(int argc, char **argv, int k, BusArgs *bus) {
        if (streq(argv[k], "--system")) {
                bus->user = false;
                bus->address = NULL;
        } else if (streq(argv[k], "--user"))
                bus->user = true;
        else if (streq(argv[k], "--no-ask-password"))
                bus->no_ask_password = true;
        else if (streq(argv[k], "--bus")) {
                if (k + 1 >= argc)
                        return usage_error("--bus needs an address"), -1;
                bus->address = argv[k + 1];
                return 2;
        } else if (strncmp(argv[k], "--bus=", 6) == 0)
                bus->address = argv[k] + 6;
        else
                return 0;
        return 1;
}

int main(int argc, char **argv) {
        BusArgs bus = {};
        bool json = false;
        int i, take;

        for (i = 1; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        json = true;
                else if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
                        help();
                        return EXIT_OK;
                } else if (streq(argv[i], "--version")) {
                        printf("xfsmctl %s\n", XFSM_VERSION);
                        return EXIT_OK;
                } else if ((take = bus_option(argc, argv, i, &bus)) < 0)
                        return EXIT_USAGE;
                else if (take > 0)
                        i += take - 1;
                else if (argv[i][0] == '-')
                        return usage_error("unknown option '%s'", argv[i]);
                else
                        break;
        }
        if (i >= argc)
                return usage_error("no verb given");

        argc -= i;
        argv += i;
        /* the options of xfsmctl itself may also follow the verb (up to a "--") */
        for (int k = 1; k < argc && !streq(argv[k], "--"); k++) {
                if ((take = bus_option(argc, argv, k, &bus)) < 0)
                        return EXIT_USAGE;
                if (take == 0)
                        continue;
                memmove(argv + k, argv + k + take, (size_t) (argc - k - take + 1) * sizeof *argv);
                argc -= take;
                k--;
        }
        if (streq(argv[0], "validate"))
                return verb_validate(argc, argv, json);
        if (streq(argv[0], "graph"))
                return verb_graph(argc, argv);
        if (streq(argv[0], "simulate"))
                return verb_simulate(argc, argv, json);
        if (streq(argv[0], "list") || streq(argv[0], "instances") || streq(argv[0], "show") ||
            streq(argv[0], "history") || streq(argv[0], "create") || streq(argv[0], "send") ||
            streq(argv[0], "watch"))
                return verb_bus(argv[0], argc, argv, json, &bus);
        if (streq(argv[0], "bridge"))
                return verb_bridge(argc, argv, json, &bus);
        if (streq(argv[0], "enable") || streq(argv[0], "disable"))
                return verb_enable(argc, argv, streq(argv[0], "enable"));
        return usage_error("unknown verb '%s'", argv[0]);
}
