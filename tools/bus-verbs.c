/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl verbs that talk to running components over D-Bus (xfsmctl(1)):
 * list, instances, show, history, create, send, watch. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <json-c/json.h>

#include "bus-errors.h"
#include "json-util.h"
#include "macro.h"
#include "xfsm.h"
#include "xfsmctl.h"

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);

int bus_connect(const BusArgs *a, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (a->address) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, a->address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        } else if (a->user)
                r = sd_bus_open_user(&bus);
        else
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "xfsmctl: cannot connect to the %s bus: %s\n",
                        a->address ? a->address : a->user ? "user" : "system", strerror(-r));
                return r;
        }
        (void) bus_errors_register();
        (void) sd_bus_set_allow_interactive_authorization(bus, !a->no_ask_password);

        *ret = TAKE_PTR(bus);
        return 0;
}

/* Print the failure as one line (and free error). */
static int refused(sd_bus_error *error, int r) {
        if (error && sd_bus_error_is_set(error))
                fprintf(stderr, "xfsmctl: %s\n", bus_error_describe(error));
        else
                fprintf(stderr, "xfsmctl: %s\n", strerror(-r));
        sd_bus_error_free(error);
        return EXIT_REFUSED;
}

static bool valid_component(const char *c) {
        if (isempty(c) || strlen(c) > 64)
                return false;
        for (const char *p = c; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' || (p > c && *p >= '0' && *p <= '9')))
                        return false;
        return true;
}

/* ---- where a component is ------------------------------------------------ */

/* The components homed on other nodes (reached through the Redis bridge),
 * and this node's name. */
typedef struct Remote {
        char *name, *node;
        bool alive;
} Remote;

typedef struct Nodes {
        char *self;
        Remote *v;
        size_t n;
} Nodes;

static void nodes_done(Nodes *n) {
        for (size_t k = 0; k < n->n; k++) {
                free(n->v[k].name);
                free(n->v[k].node);
        }
        free(n->v);
        free(n->self);
        *n = (Nodes) {};
}

static int nodes_add(Nodes *n, const char *name, const char *node, bool alive) {
        Remote *v = reallocarray(n->v, n->n + 1, sizeof *v);

        if (!v)
                return -ENOMEM;
        n->v = v;
        v[n->n] = (Remote) { strdup(name), strdup(node), alive };
        if (!v[n->n].name || !v[n->n].node) {
                free(v[n->n].name);
                free(v[n->n].node);
                return -ENOMEM;
        }
        n->n++;
        return 0;
}

static const Remote *nodes_find(const Nodes *n, const char *name) {
        for (size_t k = 0; k < n->n; k++)
                if (streq(n->v[k].name, name))
                        return &n->v[k];
        return NULL;
}

/* Who hosts what: the manager's ListComponentsEx (this node's name on its
 * own components, another node's on the rest), or, without a manager, the
 * bridge's own list. Nothing is started for it. Without either: this node
 * alone (0, empty). */
static int nodes_load(sd_bus *bus, Nodes *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *name, *stem, *version, *bus_name, *node;
        int running, r;
        uint32_t count;

        *ret = (Nodes) {};
        r = sd_bus_message_new_method_call(bus, &m, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "ListComponentsEx");
        if (r >= 0)
                r = sd_bus_call(bus, m, 5 * 1000000ULL, NULL, &reply);
        if (r >= 0 && sd_bus_message_enter_container(reply, 'a', "(ssssbus)") > 0) {
                while (sd_bus_message_read(reply, "(ssssbus)", &name, &stem, &version, &bus_name, &running, &count,
                                           &node) > 0)
                        if (streq(bus_name, "org.xfsm1.Bridge"))
                                (void) nodes_add(ret, name, node, running);
                        else if (!ret->self)
                                ret->self = strdup(node);
                return 0;
        }
        m = sd_bus_message_unref(m);
        reply = sd_bus_message_unref(reply);
        r = sd_bus_message_new_method_call(bus, &m, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.xfsm1.Bridge",
                                           "ListRemoteComponents");
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, 0);
        if (r >= 0)
                r = sd_bus_call(bus, m, 5 * 1000000ULL, NULL, &reply);
        if (r < 0 || sd_bus_message_read(reply, "s", &node) <= 0)
                return 0;
        ret->self = strdup(node);
        if (sd_bus_message_enter_container(reply, 'a', "(ssb)") > 0)
                while (sd_bus_message_read(reply, "(ssb)", &name, &node, &running) > 0)
                        (void) nodes_add(ret, name, node, running);
        return 0;
}

typedef struct Target {
        char bus_name[128];
        char path[160];
        bool remote; /* homed on another node: through the bridge */
        bool known;  /* served or activatable here, or homed on a node the bridge knows */
} Target;

static bool name_is_here(sd_bus *bus, const char *bus_name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **activatable = NULL;
        int has = 0;

        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", bus_name) >= 0 &&
            sd_bus_message_read(reply, "b", &has) > 0 && has)
                return true;
        if (sd_bus_list_names(bus, NULL, &activatable) < 0)
                return false;
        for (char **p = activatable; p && *p; p++)
                if (streq(*p, bus_name))
                        return true;
        return false;
}

/* Where to call component: its own bus name on this node, or, when it is
 * homed on another node, the bridge's object for it. */
static int target(sd_bus *bus, const char *component, Target *t) {
        if (!valid_component(component))
                return usage_error("'%s' is not a component name ([A-Za-z_][A-Za-z0-9_]*)", component ?: "");
        *t = (Target) {};
        snprintf(t->bus_name, sizeof t->bus_name, "org.xfsm1.%s", component);
        snprintf(t->path, sizeof t->path, "/org/xfsm1/%s", component);
        if (!name_is_here(bus, t->bus_name)) {
                Nodes n;
                (void) nodes_load(bus, &n);
                if (nodes_find(&n, component)) {
                        snprintf(t->bus_name, sizeof t->bus_name, "org.xfsm1.Bridge");
                        snprintf(t->path, sizeof t->path, "/org/xfsm1/Bridge/%s", component);
                        t->remote = t->known = true;
                }
                nodes_done(&n);
        } else
                t->known = true;
        return 0;
}

static char *iso_time(uint64_t usec, char *buf, size_t size) {
        time_t s = (time_t) (usec / 1000000);
        struct tm tm;
        localtime_r(&s, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03u", (unsigned) (usec / 1000 % 1000));
        return buf;
}

/* ---- create / send ------------------------------------------------------- */

static int verb_create(sd_bus *bus, int argc, char **argv, bool json) {
        static const struct option options[] = { { "context", required_argument, NULL, 'c' }, {} };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *context = "", *path, *id;
        Target t;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:", options, NULL)) >= 0)
                if (c == 'c')
                        context = optarg;
                else
                        return EXIT_USAGE;
        if (argc - optind != 2)
                return usage_error("create: expected COMPONENT MACHINE");
        if (target(bus, argv[optind], &t) != 0)
                return EXIT_USAGE;
        r = sd_bus_call_method(bus, t.bus_name, t.path, "org.xfsm1.Component", "CreateInstance", &error, &reply, "ss",
                               argv[optind + 1], context);
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_message_read(reply, "os", &path, &id);
        if (r >= 0) {
                if (json) {
                        fputs("{\"id\":", stdout);
                        json_write_string(stdout, id);
                        fputs(",\"path\":", stdout);
                        json_write_string(stdout, path);
                        fputs("}\n", stdout);
                } else
                        printf("%s\n", id);
        }

        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

static int verb_send(sd_bus *bus, int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "payload", required_argument, NULL, 'p' },
                { "event-id", required_argument, NULL, 'i' },
                { "correlation-id", required_argument, NULL, 'C' },
                {},
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *payload = "", *event_id = NULL, *correlation = NULL, *state;
        Target t;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "p:i:C:", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        payload = optarg;
                        break;
                case 'i':
                        event_id = optarg;
                        break;
                case 'C':
                        correlation = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (argc - optind != 3)
                return usage_error("send: expected COMPONENT ID EVENT");
        if (target(bus, argv[optind], &t) != 0)
                return EXIT_USAGE;
        if (!event_id && !correlation)
                r = sd_bus_call_method(bus, t.bus_name, t.path, "org.xfsm1.Component", "Send", &error, &reply, "sss",
                                       argv[optind + 1], argv[optind + 2], payload);
        else {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(bus, &m, t.bus_name, t.path, "org.xfsm1.Component", "SendEx");
                if (r >= 0)
                        r = sd_bus_message_append(m, "sss", argv[optind + 1], argv[optind + 2], payload);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && event_id)
                        r = sd_bus_message_append(m, "{sv}", "event_id", "s", event_id);
                if (r >= 0 && correlation)
                        r = sd_bus_message_append(m, "{sv}", "correlation_id", "s", correlation);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_call(bus, m, 0, &error, &reply);
        }
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_message_read(reply, "s", &state);
        if (r >= 0) {
                if (json) {
                        fputs("{\"state\":", stdout);
                        json_write_string(stdout, state);
                        fputs("}\n", stdout);
                } else
                        printf("%s\n", state);
        }

        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

/* ---- instances / show / history ------------------------------------------ */

static int verb_instances(sd_bus *bus, int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "machine", required_argument, NULL, 'm' },
                { "state", required_argument, NULL, 's' },
                {},
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *machine = "", *state = "", *id, *mach, *st, *path;
        unsigned n = 0;
        Target t;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "m:s:", options, NULL)) >= 0)
                if (c == 'm')
                        machine = optarg;
                else if (c == 's')
                        state = optarg;
                else
                        return EXIT_USAGE;
        if (argc - optind != 1)
                return usage_error("instances: expected COMPONENT");
        if (target(bus, argv[optind], &t) != 0)
                return EXIT_USAGE;
        r = sd_bus_call_method(bus, t.bus_name, t.path, "org.xfsm1.Component", "ListInstances", &error, &reply, "ss",
                               machine, state);
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        if (json)
                fputc('[', stdout);
        else
                printf("%-36s  %-20s  %s\n", "ID", "MACHINE", "STATE");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssso)", &id, &mach, &st, &path)) > 0) {
                if (json) {
                        fputs(n ? ",{\"id\":" : "{\"id\":", stdout);
                        json_write_string(stdout, id);
                        fputs(",\"machine\":", stdout);
                        json_write_string(stdout, mach);
                        fputs(",\"state\":", stdout);
                        json_write_string(stdout, st);
                        fputs(",\"path\":", stdout);
                        json_write_string(stdout, path);
                        fputc('}', stdout);
                } else
                        printf("%-36s  %-20s  %s\n", id, mach, st);
                n++;
        }
        if (json)
                fputs("]\n", stdout);
        else
                printf("\n%u instances listed.\n", n);

        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

/* The object path of instance id: try it under each machine of the component. */
static int find_instance_path(sd_bus *bus, const Target *t, const char *id, char **ret, sd_bus_error *error) {
        _cleanup_(strv_freep) char **machines = NULL;
        int r;

        r = sd_bus_get_property_strv(bus, t->bus_name, t->path, "org.xfsm1.Component", "Machines", error, &machines);
        if (r < 0)
                return r;

        r = -ENOENT;
        for (char **m = machines; m && *m; m++) {
                _cleanup_(freep) char *prefix = NULL, *path = NULL, *got = NULL;

                if (asprintf(&prefix, "%s/%s", t->path, *m) < 0) {
                        prefix = NULL; /* undefined after a failure */
                        r = -ENOMEM;
                        break;
                }
                if (sd_bus_path_encode(prefix, id, &path) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (sd_bus_get_property_string(bus, t->bus_name, path, "org.xfsm1.Instance", "Id", NULL, &got) >= 0) {
                        *ret = TAKE_PTR(path);
                        r = 0;
                        break;
                }
        }

        if (r == -ENOENT)
                bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_INSTANCE, "No instance '%s' in %s", id, t->bus_name);
        return r;
}

/* show for a component homed on another node: what GetInstance tells
 * (no instance objects cross nodes, hence no pending timers). */
static int show_remote(sd_bus *bus, const Target *t, const char *id, bool json) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        static const char *const keys[] = { "id", "machine", "state", "status", "version", "parentId" };
        static const char *const labels[] = { "Id", "Machine", "State", "Status", "Version", "Parent" };
        const char *text;
        json_object *v;
        char tb[64];
        int r;

        r = sd_bus_call_method(bus, t->bus_name, t->path, "org.xfsm1.Component", "GetInstance", &error, &reply, "s", id);
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return refused(NULL, r);
        if (json) {
                printf("%s\n", text);
                return EXIT_OK;
        }
        o = json_tokener_parse(text);
        if (!o)
                return refused(NULL, -EBADMSG);
        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                if (json_object_object_get_ex(o, keys[k], &v) && json_object_is_type(v, json_type_string))
                        printf("%16s: %s\n", labels[k], json_object_get_string(v));
        if (json_object_object_get_ex(o, "createdAt", &v))
                printf("%16s: %s\n", "Created", iso_time((uint64_t) json_object_get_int64(v) * 1000, tb, sizeof tb));
        if (json_object_object_get_ex(o, "updatedAt", &v))
                printf("%16s: %s\n", "Updated", iso_time((uint64_t) json_object_get_int64(v) * 1000, tb, sizeof tb));
        printf("%16s: %s (homed on another node)\n", "Path", t->path);
        if (json_object_object_get_ex(o, "context", &v))
                printf("%16s: %s\n", "Context", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        return EXIT_OK;
}

static int verb_show(sd_bus *bus, int argc, char **argv, bool json) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *ctx_reply = NULL;
        _cleanup_(freep) char *path = NULL, *context = NULL;
        const char *sv[6] = {};
        uint64_t created = 0, updated = 0;
        static const char *const names[] = { "Id", "Machine", "State", "Status", "Version", "ParentId" };
        char t1[64], t2[64];
        Target t;
        int r;

        if (argc != 3)
                return usage_error("show: expected COMPONENT ID");
        if (target(bus, argv[1], &t) != 0)
                return EXIT_USAGE;
        if (t.remote)
                return show_remote(bus, &t, argv[2], json);
        r = find_instance_path(bus, &t, argv[2], &path, &error);
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_call_method(bus, t.bus_name, path, "org.freedesktop.DBus.Properties", "GetAll", &error, &reply, "s",
                               "org.xfsm1.Instance");
        if (r < 0)
                return refused(&error, r);

        r = sd_bus_call_method(bus, t.bus_name, t.path, "org.xfsm1.Component", "GetContext", &error, &ctx_reply, "s",
                               argv[2]);
        if (r >= 0) {
                const char *c;

                if (sd_bus_message_read(ctx_reply, "s", &c) >= 0)
                        context = strdup(c);
                ctx_reply = sd_bus_message_unref(ctx_reply);
        } else {
                /* reading the context may be restricted: show the rest */
                fprintf(stderr, "xfsmctl: context not shown: %s\n", bus_error_describe(&error));
                sd_bus_error_free(&error);
        }

        if (json)
                fputc('{', stdout);
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        bool first = true;
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
                        break;
                if (streq(key, "PendingTimers")) {
                        const char *event;
                        uint64_t deadline, remaining;
                        r = sd_bus_message_enter_container(reply, 'v', "a(stt)");
                        if (r >= 0)
                                r = sd_bus_message_enter_container(reply, 'a', "(stt)");
                        if (json)
                                printf("%s\"PendingTimers\":[", first ? "" : ",");
                        bool f2 = true;
                        while (r >= 0 && (r = sd_bus_message_read(reply, "(stt)", &event, &deadline, &remaining)) > 0) {
                                if (json) {
                                        printf("%s{\"event\":", f2 ? "" : ",");
                                        json_write_string(stdout, event);
                                        printf(",\"deadline\":%" PRIu64 ",\"remaining\":%" PRIu64 "}", deadline,
                                               remaining);
                                } else
                                        printf("%16s: %s at %s (in %.3f s)\n", "Timer", event,
                                               iso_time(deadline, t1, sizeof t1), (double) remaining / 1e6);
                                f2 = false;
                        }
                        if (json)
                                fputc(']', stdout);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else if (streq(key, "CreatedAt") || streq(key, "UpdatedAt")) {
                        uint64_t v = 0;
                        r = sd_bus_message_read(reply, "v", "t", &v);
                        if (streq(key, "CreatedAt"))
                                created = v;
                        else
                                updated = v;
                        if (json && r >= 0)
                                printf("%s\"%s\":%" PRIu64, first ? "" : ",", key, v);
                } else {
                        const char *v = NULL;
                        r = sd_bus_message_read(reply, "v", "s", &v);
                        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                                if (streq(key, names[k]))
                                        sv[k] = v;
                        if (json && r >= 0) {
                                printf("%s\"%s\":", first ? "" : ",", key);
                                json_write_string(stdout, v);
                        }
                }
                first = false;
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (json)
                printf("%s\"Context\":%s}\n", first ? "" : ",", context ?: "null");
        else {
                printf("%16s: %s\n%16s: %s\n%16s: %s\n%16s: %s\n%16s: %s\n", "Id", sv[0] ?: "", "Machine", sv[1] ?: "",
                       "State", sv[2] ?: "", "Status", sv[3] ?: "", "Version", sv[4] ?: "");
                if (!isempty(sv[5]))
                        printf("%16s: %s\n", "Parent", sv[5]);
                printf("%16s: %s\n%16s: %s\n%16s: %s\n%16s: %s\n", "Created", iso_time(created, t1, sizeof t1),
                       "Updated", iso_time(updated, t2, sizeof t2), "Path", path, "Context", context ?: "(not shown)");
        }

        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

static int verb_history(sd_bus *bus, int argc, char **argv, bool json) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        Target t;
        int r;

        if (argc != 3)
                return usage_error("history: expected COMPONENT ID");
        if (target(bus, argv[1], &t) != 0)
                return EXIT_USAGE;
        r = sd_bus_call_method(bus, t.bus_name, t.path, "org.xfsm1.Component", "GetHistory", &error, &reply, "s",
                               argv[2]);
        if (r < 0)
                return refused(&error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r >= 0 && json)
                printf("%s\n", text);
        else if (r >= 0) {
                /* [{"event":..,"from":..,"to":..,"at":ms}, ...]: one line each */
                _cleanup_(json_object_putp) json_object *a = json_tokener_parse(text);

                if (!a || !json_object_is_type(a, json_type_array)) {
                        fprintf(stderr, "xfsmctl: the history is not a JSON array: %s\n", text);
                        return EXIT_REFUSED;
                }
                for (size_t k = 0; k < json_object_array_length(a); k++) {
                        json_object *e = json_object_array_get_idx(a, k), *v;
                        char tb[64];
                        uint64_t at = json_object_object_get_ex(e, "at", &v) ? (uint64_t) json_object_get_int64(v) : 0;
                        const char *ev = json_object_object_get_ex(e, "event", &v) ? json_object_get_string(v) : "?";
                        const char *fr = json_object_object_get_ex(e, "from", &v) ? json_object_get_string(v) : "?";
                        const char *to = json_object_object_get_ex(e, "to", &v) ? json_object_get_string(v) : "?";
                        printf("%s  %s -> %s%s%s\n", iso_time(at * 1000, tb, sizeof tb), fr, to,
                               isempty(ev) ? " (eventless)" : " on ", strempty(ev));
                }
        }

        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

/* ---- list ---------------------------------------------------------------- */

static int verb_list(sd_bus *bus, bool json) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(strv_freep) char **names = NULL, **activatable = NULL;
        unsigned n = 0;
        Nodes nodes;
        const char *self;
        int r;

        (void) nodes_load(bus, &nodes);
        self = nodes.self ?: "-";
        r = sd_bus_list_names(bus, &names, &activatable);
        if (r < 0)
                return refused(&error, r);
        if (json)
                fputc('[', stdout);
        else
                printf("%-28s  %-16s  %-11s  %-9s  %s\n", "COMPONENT", "VERSION", "STATE", "INSTANCES", "NODE");
        for (int pass = 0; pass < 2; pass++)
                for (char **p = pass == 0 ? names : activatable; p && *p; p++) {
                        const char *name = *p + strlen("org.xfsm1.");
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                        _cleanup_(freep) char *version = NULL;
                        char path[160];
                        unsigned count = 0;
                        bool running = pass == 0, dup = false;

                        if (strncmp(*p, "org.xfsm1.", 10) != 0 || !valid_component(name) || streq(name, "Bridge"))
                                continue;
                        if (pass == 1)
                                for (char **q = names; q && *q; q++)
                                        dup = dup || streq(*q, *p);
                        if (dup)
                                continue;
                        snprintf(path, sizeof path, "/org/xfsm1/%s", name);
                        if (running) {
                                (void) sd_bus_get_property_string(bus, *p, path, "org.xfsm1.Component", "Version", NULL,
                                                                  &version);
                                if (sd_bus_call_method(bus, *p, path, "org.xfsm1.Component", "ListInstances", NULL,
                                                       &reply, "ss", "", "") >= 0 &&
                                    sd_bus_message_enter_container(reply, 'a', "(ssso)") >= 0)
                                        while (sd_bus_message_skip(reply, "(ssso)") > 0)
                                                count++;
                        }

                        if (json) {
                                fputs(n ? ",{\"name\":" : "{\"name\":", stdout);
                                json_write_string(stdout, name);
                                fputs(",\"busName\":", stdout);
                                json_write_string(stdout, *p);
                                fputs(",\"version\":", stdout);
                                json_write_string(stdout, version);
                                printf(",\"running\":%s,\"instances\":%u,\"node\":", running ? "true" : "false", count);
                                json_write_string(stdout, self);
                                fputc('}', stdout);
                        } else
                                printf("%-28s  %-16s  %-11s  %-9u  %s\n", name, version ?: "-",
                                       running ? "running" : "activatable", count, self);
                        n++;
                }
        /* installed but neither running nor activatable: the manager knows them (org.xfsm1) */
        bool manager = false;
        for (int pass = 0; pass < 2; pass++)
                for (char **p = pass == 0 ? names : activatable; p && *p; p++)
                        manager = manager || streq(*p, "org.xfsm1");
        if (manager) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *name, *stem, *version, *bus_name;
                int running;
                uint32_t count;

                if (sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "ListComponents", NULL,
                                       &reply, "") >= 0 &&
                    sd_bus_message_enter_container(reply, 'a', "(ssssbu)") >= 0)
                        while (sd_bus_message_read(reply, "(ssssbu)", &name, &stem, &version, &bus_name, &running,
                                                   &count) > 0) {
                                bool known = false;
                                for (int pass = 0; pass < 2; pass++)
                                        for (char **p = pass == 0 ? names : activatable; p && *p; p++)
                                                known = known || streq(*p, bus_name);
                                if (known || streq(bus_name, "org.xfsm1.Bridge"))
                                        continue;
                                if (json) {
                                        fputs(n ? ",{\"name\":" : "{\"name\":", stdout);
                                        json_write_string(stdout, name);
                                        fputs(",\"busName\":", stdout);
                                        json_write_string(stdout, bus_name);
                                        fputs(",\"stem\":", stdout);
                                        json_write_string(stdout, stem);
                                        fputs(",\"version\":", stdout);
                                        json_write_string(stdout, version);
                                        fputs(",\"running\":false,\"installed\":true,\"instances\":0,\"node\":", stdout);
                                        json_write_string(stdout, self);
                                        fputc('}', stdout);
                                } else
                                        printf("%-28s  %-16s  %-11s  %-9s  %s\n", name, version, "installed", "-", self);
                                n++;
                        }
        }

        /* homed on other nodes, reached through the bridge: is their home alive? */
        for (size_t k = 0; k < nodes.n; k++) {
                const Remote *rm = &nodes.v[k];
                if (json) {
                        fputs(n ? ",{\"name\":" : "{\"name\":", stdout);
                        json_write_string(stdout, rm->name);
                        fputs(",\"busName\":\"org.xfsm1.Bridge\",\"node\":", stdout);
                        json_write_string(stdout, rm->node);
                        printf(",\"remote\":true,\"running\":%s}", rm->alive ? "true" : "false");
                } else
                        printf("%-28s  %-16s  %-11s  %-9s  %s\n", rm->name, "-", rm->alive ? "remote" : "unreachable",
                               "-", rm->node);
                n++;
        }
        nodes_done(&nodes);

        if (json)
                fputs("]\n", stdout);
        else
                printf("\n%u components listed.\n", n);

        return EXIT_OK;
}

/* ---- watch --------------------------------------------------------------- */

typedef struct Watch {
        bool json;
} Watch;

static int on_transition(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *from, *to, *event, *correlation, *path = sd_bus_message_get_path(msg);
        _cleanup_(freep) char *component = NULL, *machine = NULL, *id = NULL;

        if (sd_bus_message_read(msg, "ssss", &from, &to, &event, &correlation) < 0)
                return 0;
        if (sd_bus_path_decode_many(path, "/org/xfsm1/Bridge/%/%/%", &component, &machine, &id) <= 0 &&
            sd_bus_path_decode_many(path, "/org/xfsm1/%/%/%", &component, &machine, &id) <= 0)
                return 0;
        if (w->json) {
                fputs("{\"component\":", stdout);
                json_write_string(stdout, component);
                fputs(",\"machine\":", stdout);
                json_write_string(stdout, machine);
                fputs(",\"instance\":", stdout);
                json_write_string(stdout, id);
                fputs(",\"from\":", stdout);
                json_write_string(stdout, from);
                fputs(",\"to\":", stdout);
                json_write_string(stdout, to);
                fputs(",\"event\":", stdout);
                json_write_string(stdout, event);
                if (!isempty(correlation)) {
                        fputs(",\"correlationId\":", stdout);
                        json_write_string(stdout, correlation);
                }
                fputs("}\n", stdout);
        } else
                printf("%s %s %s: %s -> %s%s%s%s%s\n", component, machine, id, from, to,
                       isempty(event) ? " (eventless)" : " on ", strempty(event),
                       isempty(correlation) ? "" : " correlation ", correlation);
        fflush(stdout);
        return 0;
}

static int verb_watch(sd_bus *bus, int argc, char **argv, bool json) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Watch w = { .json = json };
        Target t;
        sigset_t mask;
        int r;

        if (argc > 2)
                return usage_error("watch: expected at most one COMPONENT");
        if (argc == 2 && target(bus, argv[1], &t) != 0)
                return EXIT_USAGE;
        if (argc == 2 && !t.known) {
                fprintf(stderr, "xfsmctl: no component %s: not served or installed here, nor homed on another node\n",
                        argv[1]);
                return EXIT_REFUSED;
        }
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, 0);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(bus, true); /* the bus went away: stop watching */
        if (r >= 0 && argc == 2 && t.remote) {
                /* homed on another node: the bridge relays its transitions under its object */
                _cleanup_(freep) char *rule = NULL;
                if (asprintf(&rule,
                             "type='signal',sender='org.xfsm1.Bridge',interface='org.xfsm1.Instance',"
                             "member='Transition',path_namespace='%s'",
                             t.path) < 0)
                        return refused(NULL, -ENOMEM);
                r = sd_bus_add_match(bus, NULL, rule, on_transition, &w);
        } else if (r >= 0 && argc == 2) {
                /* its own objects only: one process may serve several components under one unique name */
                _cleanup_(freep) char *rule = NULL;
                if (asprintf(&rule,
                             "type='signal',sender='%s',interface='org.xfsm1.Instance',member='Transition',"
                             "path_namespace='%s'",
                             t.bus_name, t.path) < 0)
                        return refused(NULL, -ENOMEM);
                r = sd_bus_add_match(bus, NULL, rule, on_transition, &w);
        } else if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, NULL, NULL, "org.xfsm1.Instance", "Transition", on_transition, &w);
        if (r < 0)
                return refused(NULL, r);

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (!json)
                fprintf(stderr, "Watching transitions%s%s; ^C to stop.\n", argc == 2 ? " of " : "",
                        argc == 2 ? argv[1] : "");
        r = sd_event_loop(event);
        sd_bus_detach_event(bus);
        return r < 0 ? refused(NULL, r) : EXIT_OK;
}

int verb_bus(const char *verb, int argc, char **argv, bool json, const BusArgs *a) {
        sd_bus *bus = NULL;
        int r;

        for (int k = 1; k < argc; k++)
                if (streq(argv[k], "--json")) {
                        json = true;
                        memmove(argv + k, argv + k + 1, (size_t) (argc - k) * sizeof *argv);
                        argc--;
                        k--;
                }
        if (streq(verb, "list") && argc > 1)
                return usage_error("list: takes no arguments, not '%s'", argv[1]);
        if (bus_connect(a, &bus) < 0)
                return EXIT_REFUSED;
        /* the verbs that change something may meet a password prompt */
        if (!a->no_ask_password && (streq(verb, "create") || streq(verb, "send")))
                (void) polkit_agent_open();
        if (streq(verb, "list"))
                r = verb_list(bus, json);
        else if (streq(verb, "instances"))
                r = verb_instances(bus, argc, argv, json);
        else if (streq(verb, "show"))
                r = verb_show(bus, argc, argv, json);
        else if (streq(verb, "history"))
                r = verb_history(bus, argc, argv, json);
        else if (streq(verb, "create"))
                r = verb_create(bus, argc, argv, json);
        else if (streq(verb, "send"))
                r = verb_send(bus, argc, argv, json);
        else if (streq(verb, "watch"))
                r = verb_watch(bus, argc, argv, json);
        else
                r = usage_error("unknown verb '%s'", verb);
        sd_bus_flush_close_unref(bus);
        polkit_agent_close();
        return r;
}
