/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl simulate: run components in-process on a virtual clock. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json-util.h"
#include "macro.h"
#include "xfsm.h"
#include "xfsmctl.h"

typedef struct Sim {
        xfsm_engine *e;
        bool json, quiet;
        char id[64];
        /* what is known of the simulated instance, even once it is dropped */
        char *final_context;
        const char *final_state, *final_status;
        FILE *steps, *transitions; /* json: the two arrays being written */
        char *steps_buf, *transitions_buf;
        size_t steps_len, transitions_len;
        bool first_step, first_transition;
        unsigned long n_events, n_accepted, n_refused;
} Sim;

static void on_step(void *userdata, const xfsm_step *s) {
        Sim *sim = userdata;

        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *f = xfsm_step_effect(s, k);
                const char *id = xfsm_effect_instance_id(f);

                switch (xfsm_effect_get_kind(f)) {
                case XFSM_EFFECT_TRANSITION:
                        if (sim->json) {
                                fputs_unlocked(sim->first_transition ? "{\"instance\":" : ",{\"instance\":",
                                               sim->transitions);
                                json_write_string(sim->transitions, id);
                                fputs_unlocked(",\"machine\":", sim->transitions);
                                json_write_string(sim->transitions, xfsm_effect_machine(f));
                                fputs_unlocked(",\"from\":", sim->transitions);
                                json_write_string(sim->transitions, xfsm_effect_from(f));
                                fputs_unlocked(",\"to\":", sim->transitions);
                                json_write_string(sim->transitions, xfsm_effect_to(f));
                                fputs_unlocked(",\"event\":", sim->transitions);
                                json_write_string(sim->transitions, xfsm_effect_event(f));
                                fputc_unlocked('}', sim->transitions);
                                sim->first_transition = false;
                        } else if (!sim->quiet)
                                printf("%s %s: %s -> %s%s%s\n", xfsm_effect_machine(f), id, xfsm_effect_from(f),
                                       xfsm_effect_to(f), isempty(xfsm_effect_event(f)) ? " (eventless)" : " on ",
                                       strempty(xfsm_effect_event(f)));
                        break;
                case XFSM_EFFECT_INSTANCE_CREATED:
                        if (!sim->json && !sim->quiet)
                                printf("%s %s: created in %s\n", xfsm_effect_machine(f), id, xfsm_effect_to(f));
                        break;
                case XFSM_EFFECT_REFUSED:
                        if (!sim->json && !sim->quiet)
                                printf("%s %s: refused %s: %s\n", xfsm_effect_machine(f) ?: "-", id ?: "-",
                                       xfsm_effect_event(f) ?: "-", xfsm_effect_message(f));
                        break;
                case XFSM_EFFECT_ROUTED: {
                        const xfsm_routed *r = xfsm_effect_routed(f);
                        if (!sim->json && !sim->quiet)
                                printf("%s %s: routed %s to %s.%s%s%s\n", xfsm_effect_machine(f), id,
                                       xfsm_routed_event(r) ?: "(create)", xfsm_routed_target_component(r),
                                       xfsm_routed_target_machine(r), xfsm_routed_target_state(r) ? " in " : "",
                                       xfsm_routed_target_state(r) ?: "");
                        break;
                }
                case XFSM_EFFECT_UNIT:
                        if (!sim->json && !sim->quiet)
                                printf("%s %s: unit %s %s (not run in a simulation)\n", xfsm_effect_machine(f), id,
                                       xfsm_effect_unit_verb(f), xfsm_effect_unit_name(f));
                        break;
                case XFSM_EFFECT_EXEC:
                        if (!sim->json && !sim->quiet) {
                                printf("%s %s: exec", xfsm_effect_machine(f), id);
                                for (const char *const *a = xfsm_effect_exec_argv(f); a && *a; a++)
                                        printf(" %s", *a);
                                printf(" (not run in a simulation)\n");
                        }
                        break;
                case XFSM_EFFECT_DROPPED:
                        if (id && streq(id, sim->id)) {
                                /* still readable during the handler: keep its last context */
                                xfsm_instance *i = xfsm_engine_find(sim->e, id);
                                if (i) {
                                        free(sim->final_context);
                                        sim->final_context = xfsm_instance_context_json(i);
                                        sim->final_state = xfsm_instance_state(i);
                                        sim->final_status = xfsm_instance_status(i);
                                }
                        }
                        break;
                default:
                        break;
                }
        }
}

static bool is_file_arg(const char *a) {
        size_t n = strlen(a);
        struct stat st;
        if ((n > 5 && streq(a + n - 5, ".yaml")) || (n > 4 && streq(a + n - 4, ".yml")))
                return true;
        return strchr(a, '/') && stat(a, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_ms(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* One EVENT[:JSON] or +MS. Returns 1 for an event handled, 0 for a clock
 * step, <0 for bad usage. */
static int sim_one(Sim *sim, const char *arg) {
        const char *colon, *payload = NULL, *state_before, *state_after = NULL;
        char event[512];
        xfsm_instance *i;
        int r;

        if (arg[0] == '+') {
                uint64_t ms;
                if (parse_ms(arg + 1, &ms) < 0)
                        return usage_error("simulate: bad clock step '%s' (expected +MS)", arg);
                r = xfsm_engine_advance(sim->e, ms);
                return r < 0 ? r : 0;
        }

        colon = strchr(arg, ':');
        if (colon) {
                if ((size_t) (colon - arg) >= sizeof event)
                        return usage_error("simulate: event name too long");
                memcpy(event, arg, (size_t) (colon - arg));
                event[colon - arg] = 0;
                payload = colon + 1;
        } else {
                if (strlen(arg) >= sizeof event)
                        return usage_error("simulate: event name too long");
                snprintf(event, sizeof event, "%s", arg);
        }

        sim->n_events++;
        i = xfsm_engine_find(sim->e, sim->id);
        state_before = i ? xfsm_instance_state(i) : sim->final_state;
        r = i ? xfsm_instance_send(sim->e, i, event, payload, &state_after) : -XFSM_E_NO_SUCH_INSTANCE;
        if (r < 0) {
                sim->n_refused++;
                state_after = state_before;
                fprintf(stderr, "xfsmctl: %s refused in state %s: %s (%s)\n", event, state_before ?: "-",
                        *xfsm_engine_last_error(sim->e) ? xfsm_engine_last_error(sim->e) : xfsm_strerror(r),
                        xfsm_error_name(r) ?: "error");
        } else
                sim->n_accepted++;

        if (sim->json) {
                fputs_unlocked(sim->first_step ? "{\"event\":" : ",{\"event\":", sim->steps);
                json_write_string(sim->steps, event);
                fputs_unlocked(",\"from\":", sim->steps);
                json_write_string(sim->steps, state_before);
                fputs_unlocked(",\"to\":", sim->steps);
                json_write_string(sim->steps, state_after);
                fputs_unlocked(r < 0 ? ",\"accepted\":false}" : ",\"accepted\":true}", sim->steps);
                sim->first_step = false;
        }
        return 1;
}

static int sim_file(Sim *sim, const char *path) {
        FILE *f = streq(path, "-") ? stdin : fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int r = 0;

        if (!f) {
                fprintf(stderr, "xfsmctl: cannot open %s: %s\n", path, strerror(errno));
                return -EXIT_USAGE;
        }
        while ((n = getline(&line, &cap, f)) >= 0) {
                char *p = line;
                while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
                        p[--n] = 0;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p || *p == '#')
                        continue;
                r = sim_one(sim, p);
                if (r < 0 && r != -ENOMEM)
                        break;
                r = 0;
        }
        free(line);
        if (f != stdin)
                fclose(f);
        return r;
}

int verb_simulate(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "machine", required_argument, NULL, 'm' },
                { "context", required_argument, NULL, 'c' },
                { "create", required_argument, NULL, 'C' },
                { "advance", required_argument, NULL, 'a' },
                { "events-from", required_argument, NULL, 'e' },
                { "quiet", no_argument, NULL, 'q' },
                { "json", no_argument, NULL, 'j' },
                { "seed", required_argument, NULL, 's' },
                {},
        };
        const char *machine = NULL, *context = NULL, *events_from = NULL;
        const char **creates = NULL, **files = NULL, **events = NULL;
        size_t n_creates = 0, n_files = 0, n_events = 0;
        uint64_t advance = 0, seed = 0;
        bool have_seed = false;
        Sim sim = { .json = json, .first_step = true, .first_transition = true };
        xfsm_instance *inst;
        int c, r, ret = EXIT_REFUSED;

        creates = calloc((size_t) argc, sizeof *creates);
        files = calloc((size_t) argc, sizeof *files);
        events = calloc((size_t) argc, sizeof *events);
        if (!creates || !files || !events)
                goto finish;

        /* options anywhere; "-" prefixed events do not exist (+MS is not an option) */
        optind = 1;
        opterr = 1;
        while ((c = getopt_long(argc, argv, "-m:c:C:a:e:qjs:", options, NULL)) >= 0)
                switch (c) {
                case 1:
                        if (n_events == 0 && is_file_arg(optarg))
                                files[n_files++] = optarg;
                        else
                                events[n_events++] = optarg;
                        break;
                case 'm':
                        machine = optarg;
                        break;
                case 'c':
                        context = optarg;
                        break;
                case 'C':
                        creates[n_creates++] = optarg;
                        break;
                case 'a':
                        if (parse_ms(optarg, &advance) < 0) {
                                ret = usage_error("simulate: --advance needs milliseconds");
                                goto finish;
                        }
                        break;
                case 'e':
                        events_from = optarg;
                        break;
                case 'q':
                        sim.quiet = true;
                        break;
                case 'j':
                        sim.json = true;
                        break;
                case 's':
                        if (parse_ms(optarg, &seed) < 0) {
                                ret = usage_error("simulate: --seed needs a number");
                                goto finish;
                        }
                        have_seed = true;
                        break;
                default:
                        ret = EXIT_USAGE;
                        goto finish;
                }
        if (n_files == 0) {
                ret = usage_error("simulate: no component FILE given");
                goto finish;
        }

        sim.e = xfsm_engine_new();
        if (!sim.e)
                goto finish;
        xfsm_engine_use_virtual_clock(sim.e, 0);
        if (have_seed)
                xfsm_engine_seed(sim.e, seed);
        for (size_t k = 0; k < n_files; k++)
                if (xfsm_engine_load_file(sim.e, files[k], print_diagnostic, NULL) < 0)
                        goto finish;
        if (!machine) {
                if (xfsm_engine_n_components(sim.e) == 1 &&
                    xfsm_component_n_machines(sim.e, xfsm_engine_component_name(sim.e, 0)) == 1)
                        machine = xfsm_component_machine(sim.e, xfsm_engine_component_name(sim.e, 0), 0);
                else {
                        ret = usage_error("simulate: --machine M is needed with more than one machine");
                        goto finish;
                }
        }
        if (sim.json) {
                sim.steps = open_memstream(&sim.steps_buf, &sim.steps_len);
                sim.transitions = open_memstream(&sim.transitions_buf, &sim.transitions_len);
                if (!sim.steps || !sim.transitions)
                        goto finish;
        }
        xfsm_engine_set_step_handler(sim.e, on_step, &sim);

        /* --machine Component.Machine when two components share a machine name */
        const char *dot = strchr(machine, '.');
        char comp[256] = "";
        if (dot && (size_t) (dot - machine) < sizeof comp) {
                memcpy(comp, machine, (size_t) (dot - machine));
                comp[dot - machine] = 0;
                machine = dot + 1;
        }
        r = xfsm_engine_create(sim.e, *comp ? comp : NULL, machine, context, &inst);
        if (r < 0) {
                fprintf(stderr, "xfsmctl: cannot create %s: %s (%s)\n", machine,
                        *xfsm_engine_last_error(sim.e) ? xfsm_engine_last_error(sim.e) : xfsm_strerror(r),
                        xfsm_error_name(r) ?: "error");
                ret = r == -XFSM_E_INVALID_PAYLOAD ? EXIT_USAGE : EXIT_REFUSED;
                goto finish;
        }
        snprintf(sim.id, sizeof sim.id, "%s", inst ? xfsm_instance_id(inst) : xfsm_step_instance_id(xfsm_engine_last_step(sim.e)));
        for (size_t k = 0; k < n_creates; k++) {
                char name[256];
                const char *colon = strchr(creates[k], ':');
                size_t n = colon ? (size_t) (colon - creates[k]) : strlen(creates[k]);
                if (n >= sizeof name) {
                        ret = usage_error("simulate: machine name too long");
                        goto finish;
                }
                memcpy(name, creates[k], n);
                name[n] = 0;
                r = xfsm_engine_create(sim.e, NULL, name, colon ? colon + 1 : NULL, NULL);
                if (r < 0) {
                        fprintf(stderr, "xfsmctl: cannot create %s: %s (%s)\n", name,
                                *xfsm_engine_last_error(sim.e) ? xfsm_engine_last_error(sim.e) : xfsm_strerror(r),
                                xfsm_error_name(r) ?: "error");
                        goto finish;
                }
        }
        r = xfsm_engine_start(sim.e);
        if (r < 0)
                goto finish;

        for (size_t k = 0; k < n_events; k++) {
                r = sim_one(&sim, events[k]);
                if (r == EXIT_USAGE || r == -EXIT_USAGE) {
                        ret = EXIT_USAGE;
                        goto finish;
                }
        }
        if (events_from) {
                r = sim_file(&sim, events_from);
                if (r == EXIT_USAGE || r == -EXIT_USAGE) {
                        ret = EXIT_USAGE;
                        goto finish;
                }
        }
        if (advance > 0)
                (void) xfsm_engine_advance(sim.e, advance);

        inst = xfsm_engine_find(sim.e, sim.id);
        if (inst) {
                free(sim.final_context);
                sim.final_context = xfsm_instance_context_json(inst);
                sim.final_state = xfsm_instance_state(inst);
                sim.final_status = xfsm_instance_status(inst);
        }

        if (sim.json) {
                fclose(sim.steps);
                fclose(sim.transitions);
                sim.steps = sim.transitions = NULL;
                fputs("{\"machine\":", stdout);
                json_write_string(stdout, machine);
                fputs(",\"instance\":", stdout);
                json_write_string(stdout, sim.id);
                if (!sim.quiet) {
                        fputs(",\"steps\":[", stdout);
                        fwrite(sim.steps_buf, 1, sim.steps_len, stdout);
                        fputs("]", stdout);
                }
                fputs(",\"final\":{\"state\":", stdout);
                json_write_string(stdout, sim.final_state);
                fputs(",\"status\":", stdout);
                json_write_string(stdout, sim.final_status);
                printf(",\"context\":%s}", sim.final_context ?: "null");
                if (!sim.quiet) {
                        fputs(",\"transitions\":[", stdout);
                        fwrite(sim.transitions_buf, 1, sim.transitions_len, stdout);
                        fputs("]", stdout);
                }
                printf(",\"events\":%lu,\"accepted\":%lu,\"refused\":%lu}\n", sim.n_events, sim.n_accepted,
                       sim.n_refused);
        } else {
                printf("final: %s %s state=%s status=%s\n", machine, sim.id, sim.final_state ?: "-",
                       sim.final_status ?: "-");
                printf("context: %s\n", sim.final_context ?: "null");
                printf("events: %lu handled (%lu accepted, %lu refused)\n", sim.n_events, sim.n_accepted,
                       sim.n_refused);
        }
        ret = sim.n_refused > 0 ? EXIT_REFUSED : EXIT_OK;

finish:
        if (sim.steps)
                fclose(sim.steps);
        if (sim.transitions)
                fclose(sim.transitions);
        free(sim.steps_buf);
        free(sim.transitions_buf);
        free(sim.final_context);
        xfsm_engine_free(sim.e);
        free(creates);
        free(files);
        free(events);
        return ret;
}
