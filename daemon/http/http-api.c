/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The routes of xfsm-http (xfsm-http(8), ROUTES): xcomponent-ai's REST API
 * over xfsm's D-Bus API, and xfsm's additions. Every bus call is
 * asynchronous: the exchange stays suspended while a Job has calls out,
 * and is answered once the last one is back (never before, so that no
 * callback outlives its job). */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http-errors.h"
#include "http-events.h"
#include "http-server.h"
#include "log.h"
#include "macro.h"
#include "names.h"

/* How old a component list may be: for what shows the list (instance
 * counts), and for finding where to call a component (which changes only
 * when a component starts or stops, and then the list is dropped: see
 * components_new()) */
#define LIST_MAX_AGE_USEC (1ULL * 1000000)
#define TARGET_MAX_AGE_USEC (60ULL * 1000000)
#define FILE_MAX (4 * 1024 * 1024)

typedef struct Job Job;
typedef void (*JobStep)(Job *j);

struct Job {
        Exchange *x;
        Http *http;
        unsigned outstanding;        /* calls out */
        JobStep then;                /* once outstanding is back to 0 */
        sd_bus_error error;          /* the first error that matters */
        bool all_missing;            /* every component said the instance is not there */
        bool asked_everyone;         /* not only the component the instance was last seen in */
        json_object *instance;       /* the instance found (GetInstance), resolved routes */
        char *component;             /* its component */
        json_object **slots;         /* GetInstance answers of a listing, in order */
        size_t n_slots;
};

static void job_free(void *p) {
        Job *j = p;

        if (!j)
                return;
        sd_bus_error_free(&j->error);
        if (j->instance)
                json_object_put(j->instance);
        for (size_t k = 0; k < j->n_slots; k++)
                if (j->slots[k])
                        json_object_put(j->slots[k]);
        free(j->slots);
        free(j->component);
        free(j);
}

static Job *job_new(Exchange *x) {
        Job *j = calloc(1, sizeof *j);

        if (!j)
                return NULL;
        j->x = x;
        j->http = x->http;
        j->error = SD_BUS_ERROR_NULL;
        x->job = j;
        x->job_free = job_free;
        return j;
}

/* one call back: the next step when it was the last */
static void job_done_one(Job *j) {
        assert(j->outstanding > 0);
        if (--j->outstanding == 0 && j->then)
                j->then(j);
}

static void job_keep_error(Job *j, const sd_bus_error *e) {
        if (!sd_bus_error_is_set(&j->error))
                (void) sd_bus_error_copy(&j->error, e);
}

/* ---- errors ------------------------------------------------------------------- */

static bool error_is(const sd_bus_error *e, const char *suffix) {
        const char *p = "org.xfsm1.Error.";

        return e && e->name && strncmp(e->name, p, strlen(p)) == 0 && streq(e->name + strlen(p), suffix);
}

static void reply_bus_error(Exchange *x, const sd_bus_error *e) {
        exchange_reply_error(x, http_status_of_bus_error(e->name), e->message ?: e->name, e->name);
}

static void reply_oom(Exchange *x) {
        exchange_reply_error(x, 503, "Out of memory", NULL);
}

static bool may_write(Exchange *x, const char *component) {
        if (grant_may_write(&x->grant, component))
                return true;
        exchange_reply_error(x, 403, "Not allowed to write to this component", NULL);
        return false;
}

static json_object *parse_json(const char *text) {
        return json_tokener_parse(text);
}

/* ---- instances as xcomponent-ai shows them -------------------------------------- */

static json_object *member_or_null(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return json_object_get(v);
}

/* GetInstance's JSON to xcomponent-ai's instance */
static json_object *instance_view(json_object *in, const char *component, bool listing) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "id", member_or_null(in, "id"));
        json_object_object_add(o, "machineName", member_or_null(in, "machine"));
        json_object_object_add(o, "currentState", member_or_null(in, "state"));
        json_object_object_add(o, "context", member_or_null(in, "context") ?: json_object_new_object());
        json_object_object_add(o, "createdAt", member_or_null(in, "createdAt"));
        json_object_object_add(o, "updatedAt", member_or_null(in, "updatedAt"));
        json_object_object_add(o, "status", member_or_null(in, "status"));
        json_object_object_add(o, "componentName", json_object_new_string(component));
        if (listing)
                json_object_object_add(o, "pendingTimeouts", json_object_new_array());
        return o;
}

/* ---- the component list, then what a route does with it -------------------------- */

static void with_components_aged(Job *j, uint64_t max_age_usec, ComponentsFn fn) {
        int r;

        j->outstanding++;
        r = components_get(j->http->components, max_age_usec, fn, j);
        if (r < 0) {
                j->outstanding--;
                reply_oom(j->x);
        }
}

/* the list for showing it */
static void with_components(Job *j, ComponentsFn fn) {
        with_components_aged(j, LIST_MAX_AGE_USEC, fn);
}

/* the list for calling a component */
static void with_targets(Job *j, ComponentsFn fn) {
        with_components_aged(j, TARGET_MAX_AGE_USEC, fn);
}

/* the component of the route, or an answer (404) */
static ComponentInfo *route_component(Job *j, const sd_bus_error *error) {
        ComponentInfo *ci;

        if (error) {
                reply_bus_error(j->x, error);
                return NULL;
        }
        ci = components_find(j->http->components, j->x->req.component);
        if (!ci)
                exchange_reply_error(j->x, 404, "Component not found", "org.xfsm1.Error.NoSuchComponent");
        return ci;
}

static bool component_reachable(const ComponentInfo *ci) {
        return ci->running || ci->remote;
}

/* ---- GET /api/components ------------------------------------------------------- */

static void components_answer(Job *j) {
        Components *c = j->http->components;
        json_object *list = json_object_new_array();

        for (size_t k = 0; k < components_count(c); k++) {
                ComponentInfo *ci = components_nth(c, k);
                json_object *o = json_object_new_object(), *machines = NULL, *version = NULL;

                if (ci->definition) {
                        json_object_object_get_ex(ci->definition, "stateMachines", &machines);
                        json_object_object_get_ex(ci->definition, "version", &version);
                }
                json_object_object_add(o, "name", json_object_new_string(ci->name));
                json_object_object_add(o, "version", version ? json_object_get(version) : json_object_new_string(ci->hash));
                json_object_object_add(o, "machineCount",
                                       json_object_new_int64(machines && json_object_is_type(machines, json_type_array) ?
                                                             (int64_t) json_object_array_length(machines) : 0));
                json_object_object_add(o, "instanceCount", json_object_new_int64(ci->instances));
                json_object_object_add(o, "running", json_object_new_boolean(ci->running));
                if (*ci->node)
                        json_object_object_add(o, "node", json_object_new_string(ci->node));
                json_object_array_add(list, o);
        }
        {
                json_object *out = json_object_new_object();

                json_object_object_add(out, "components", list);
                exchange_reply_json(j->x, 200, out);
        }
}

/* The component list could not be had: the job ends with that error. */
static void job_fail(Job *j, const sd_bus_error *error) {
        j->then = NULL;
        job_done_one(j);
        reply_bus_error(j->x, error);
}

static void on_definition_any(Components *c, ComponentInfo *ci, const sd_bus_error *error, void *userdata) {
        /* a component that cannot give its definition is listed without it */
        job_done_one(userdata);
}

static void on_components_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;

        if (error) {
                job_fail(j, error);
                return;
        }
        j->then = components_answer;
        for (size_t k = 0; k < components_count(c); k++) {
                ComponentInfo *ci = components_nth(c, k);

                if (!component_reachable(ci) || ci->definition)
                        continue;
                j->outstanding++;
                if (components_definition(c, ci, on_definition_any, j) < 0)
                        j->outstanding--;
        }
        job_done_one(j);
}

/* ---- GET /api/components/:c, diagrams ------------------------------------------- */

static void reply_no_machine(Exchange *x) {
        char m[300];

        snprintf(m, sizeof m, "Machine %s not found", x->req.machine);
        exchange_reply_error(x, 404, m, "org.xfsm1.Error.NoSuchMachine");
}

static void on_route_definition(Components *c, ComponentInfo *ci, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;
        Exchange *x = j->x;
        const char *current = MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND, "currentState");
        json_object *out = NULL;
        char *svg = NULL;
        size_t size = 0;
        int r;

        if (error) {
                reply_bus_error(x, error);
                return;
        }
        if (current && !*current)
                current = NULL;

        switch (x->req.route) {
        case ROUTE_COMPONENT:
                out = json_object_new_object();
                json_object_object_add(out, "component", json_object_get(ci->definition));
                exchange_reply_json(x, 200, out);
                return;
        case ROUTE_MERMAID:
                r = diagram_mermaid(ci->definition, x->req.machine, current, &out);
                if (r >= 0) {
                        exchange_reply_json(x, 200, out);
                        return;
                }
                break;
        case ROUTE_SVG:
                r = diagram_svg(j->http->diagrammer, ci->definition, x->req.machine, current, &svg, &size);
                if (r >= 0) {
                        exchange_reply_data(x, 200, "image/svg+xml", svg, size);
                        return;
                }
                break;
        default:
                assert(false);
                return;
        }
        if (r == -ENOENT)
                reply_no_machine(x);
        else if (r == -EIO)
                exchange_reply_error(x, 500, "Graphviz could not draw the machine", NULL);
        else
                reply_oom(x);
}

static void on_component_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;
        ComponentInfo *ci;
        int r;

        j->outstanding--;
        ci = route_component(j, error);
        if (!ci)
                return;
        r = components_definition(c, ci, on_route_definition, j);
        if (r < 0)
                reply_oom(j->x);
}

/* ---- POST /api/components/:c/instances ------------------------------------------ */

static int on_created(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path, *id;
        json_object *out;

        j->outstanding--;
        if (e) {
                if (error_is(e, "NoSuchMachine")) {
                        char m[300];

                        /* xcomponent-ai's status for this one: 400 */
                        snprintf(m, sizeof m, "Machine %s not found", j->x->req.machine);
                        exchange_reply_error(j->x, 400, m, e->name);
                } else if (error_is(e, "NoSuchComponent") || sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        exchange_reply_error(j->x, 404, "Component not found", e->name);
                else
                        reply_bus_error(j->x, e);
                return 0;
        }
        if (sd_bus_message_read(reply, "os", &path, &id) <= 0) {
                exchange_reply_error(j->x, 503, "CreateInstance answered something else", NULL);
                return 0;
        }
        components_note_home(j->http->components, id, j->x->req.component);

        out = json_object_new_object();
        json_object_object_add(out, "instanceId", json_object_new_string(id));
        json_object_object_add(out, "componentName", json_object_new_string(j->x->req.component));
        exchange_reply_json(j->x, 200, out);
        return 0;
}

static void on_create_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;
        const char *bus_name;
        char path[300];
        ComponentInfo *ci;
        int r;

        j->outstanding--;
        ci = route_component(j, error);
        if (!ci)
                return;
        component_target(ci, &bus_name, path, sizeof path);
        r = sd_bus_call_method_async(j->http->bus, NULL, bus_name, path, "org.xfsm1.Component", "CreateInstance",
                                     on_created, j, "ss", j->x->req.machine,
                                     j->x->req.payload ?
                                     json_object_to_json_string_ext(j->x->req.payload, JSON_C_TO_STRING_PLAIN) : "{}");
        if (r < 0) {
                reply_oom(j->x);
                return;
        }
        j->outstanding++;
}

/* ---- finding an instance: its component, its GetInstance ------------------------- */

/* One GetInstance out while finding an instance: the component asked. */
typedef struct Ask {
        Job *job;
        char *component;
} Ask;

static int on_get_instance(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Ask *a = userdata;
        Job *j = a->job;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *text;

        if (e) {
                /* "not here" from a component is no error: another may have it */
                if (!error_is(e, "NoSuchInstance") && !error_is(e, "NoSuchComponent") &&
                    !sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                        j->all_missing = false;
                        job_keep_error(j, e);
                }
        } else if (!j->instance && sd_bus_message_read(reply, "s", &text) > 0) {
                j->instance = parse_json(text);
                if (j->instance) {
                        free(j->component);
                        j->component = TAKE_PTR(a->component);
                }
        }
        free(a->component);
        free(a);
        job_done_one(j);
        return 0;
}

static int ask_instance(Job *j, ComponentInfo *ci) {
        const char *bus_name;
        char path[300];
        Ask *a;
        int r;

        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        *a = (Ask) { .job = j, .component = strdup(ci->name) };
        if (!a->component) {
                free(a);
                return -ENOMEM;
        }
        component_target(ci, &bus_name, path, sizeof path);
        r = sd_bus_call_method_async(j->http->bus, NULL, bus_name, path, "org.xfsm1.Component", "GetInstance",
                                     on_get_instance, a, "s", j->x->req.id);
        if (r < 0) {
                free(a->component);
                free(a);
                return r;
        }
        j->outstanding++;
        return 0;
}

static void resolved(Job *j);
static void send_event(Job *j, ComponentInfo *ci);

static void on_resolve_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;

        if (error) {
                job_fail(j, error);
                return;
        }
        j->then = resolved;
        j->all_missing = true;
        j->asked_everyone = true;
        sd_bus_error_free(&j->error);
        for (size_t k = 0; k < components_count(c); k++) {
                ComponentInfo *ci = components_nth(c, k);

                if (component_reachable(ci) && ask_instance(j, ci) < 0) {
                        job_keep_error(j, &SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_MEMORY, "Out of memory"));
                        j->all_missing = false;
                }
        }
        job_done_one(j);
}

/* Find x's instance: in the component it was last seen in, else in every
 * component. */
static void resolve(Job *j) {
        Components *c = j->http->components;
        const char *home = components_home_of(c, j->x->req.id);
        ComponentInfo *ci = home ? components_find(c, home) : NULL;

        if (ci && component_reachable(ci)) {
                /* an event goes straight there: one call, not two (on_sent() looks further when the
                 * instance is not there) */
                if (j->x->req.route == ROUTE_EVENT) {
                        j->component = strdup(ci->name);
                        if (!j->component) {
                                reply_oom(j->x);
                                return;
                        }
                        send_event(j, ci);
                        return;
                }
                j->then = resolved;
                j->all_missing = true;
                if (ask_instance(j, ci) >= 0)
                        return;
        }
        j->then = NULL;
        with_targets(j, on_resolve_list);
}

static void route_resolved(Job *j);

static void resolved(Job *j) {
        if (!j->instance || !j->component) {
                /* the cache was wrong (or empty): ask every component once */
                if (!j->asked_everyone) {
                        j->then = NULL;
                        with_targets(j, on_resolve_list);
                        return;
                }
                if (sd_bus_error_is_set(&j->error) && !j->all_missing)
                        reply_bus_error(j->x, &j->error);
                else
                        exchange_reply_error(j->x, 404, "Instance not found", "org.xfsm1.Error.NoSuchInstance");
                return;
        }
        components_note_home(j->http->components, j->x->req.id, j->component);
        route_resolved(j);
}

/* ---- what the instance routes do once the instance is found ---------------------- */

static bool no_transition(const sd_bus_error *e) {
        return error_is(e, "NoTransition") || error_is(e, "GuardFailed");
}

static int on_sent(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        json_object *out;
        const char *state;

        j->outstanding--;
        if (e && error_is(e, "NoSuchInstance") && !j->asked_everyone && j->x->req.route == ROUTE_EVENT) {
                /* sent where the instance was last seen, and it is not there (any more): find it (not
                 * when the route names the component: the instance is in that one or not found) */
                with_targets(j, on_resolve_list);
                return 0;
        }
        if (e && no_transition(e)) {
                /* xcomponent-ai answers success for an ignored event; xfsm says it was not taken */
                out = json_object_new_object();
                json_object_object_add(out, "success", json_object_new_boolean(true));
                json_object_object_add(out, "accepted", json_object_new_boolean(false));
                json_object_object_add(out, "error", json_object_new_string(e->message ?: e->name));
                json_object_object_add(out, "name", json_object_new_string(e->name));
                exchange_reply_json(j->x, j->http->config->lenient ? 200 : 409, out);
                return 0;
        }
        if (e) {
                if (error_is(e, "NoSuchInstance"))
                        exchange_reply_error(j->x, 404, "Instance not found", e->name);
                else
                        reply_bus_error(j->x, e);
                return 0;
        }
        if (sd_bus_message_read(reply, "s", &state) <= 0) {
                exchange_reply_error(j->x, 503, "Send answered something else", NULL);
                return 0;
        }
        out = json_object_new_object();
        json_object_object_add(out, "success", json_object_new_boolean(true));
        json_object_object_add(out, "accepted", json_object_new_boolean(true));
        json_object_object_add(out, "state", json_object_new_string(state));
        exchange_reply_json(j->x, 200, out);
        return 0;
}

static void send_event(Job *j, ComponentInfo *ci) {
        const char *bus_name;
        char path[300];
        int r;

        if (!may_write(j->x, ci->name))
                return;
        component_target(ci, &bus_name, path, sizeof path);
        r = sd_bus_call_method_async(j->http->bus, NULL, bus_name, path, "org.xfsm1.Component", "Send", on_sent, j,
                                     "sss", j->x->req.id, j->x->req.event,
                                     j->x->req.payload ?
                                     json_object_to_json_string_ext(j->x->req.payload, JSON_C_TO_STRING_PLAIN) : "{}");
        if (r < 0) {
                reply_oom(j->x);
                return;
        }
        j->outstanding++;
}

static int on_history(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        json_object *in, *out, *list, *machine = NULL;
        const char *text;
        size_t n;

        j->outstanding--;
        if (e) {
                reply_bus_error(j->x, e);
                return 0;
        }
        if (sd_bus_message_read(reply, "s", &text) <= 0 || !(in = parse_json(text)) ||
            !json_object_is_type(in, json_type_array)) {
                exchange_reply_error(j->x, 503, "GetHistory answered something else", NULL);
                return 0;
        }
        json_object_object_get_ex(j->instance, "machine", &machine);
        list = json_object_new_array();
        n = json_object_array_length(in);
        for (size_t k = 0; k < n; k++) {
                json_object *h = json_object_array_get_idx(in, k), *o = json_object_new_object(),
                            *ev = json_object_new_object(), *at = member_or_null(h, "at");

                json_object_object_add(ev, "type", member_or_null(h, "event"));
                json_object_object_add(ev, "timestamp", json_object_get(at));
                json_object_object_add(o, "instanceId", json_object_new_string(j->x->req.id));
                json_object_object_add(o, "machineName", json_object_get(machine));
                json_object_object_add(o, "componentName", json_object_new_string(j->component));
                json_object_object_add(o, "event", ev);
                json_object_object_add(o, "stateBefore", member_or_null(h, "from"));
                json_object_object_add(o, "stateAfter", member_or_null(h, "to"));
                json_object_object_add(o, "persistedAt", at);
                json_object_array_add(list, o);
        }
        json_object_put(in);
        out = json_object_new_object();
        json_object_object_add(out, "history", list);
        exchange_reply_json(j->x, 200, out);
        return 0;
}

static void route_resolved(Job *j) {
        Exchange *x = j->x;
        ComponentInfo *ci = components_find(j->http->components, j->component);
        const char *bus_name;
        char path[300];
        int r;

        switch (x->req.route) {
        case ROUTE_INSTANCE: {
                json_object *out = json_object_new_object();

                json_object_object_add(out, "instance", instance_view(j->instance, j->component, false));
                exchange_reply_json(x, 200, out);
                return;
        }
        case ROUTE_EVENT:
                if (!ci) {
                        exchange_reply_error(x, 404, "Instance not found", "org.xfsm1.Error.NoSuchInstance");
                        return;
                }
                send_event(j, ci);
                return;
        case ROUTE_HISTORY:
                if (!ci) {
                        exchange_reply_error(x, 404, "Instance not found", "org.xfsm1.Error.NoSuchInstance");
                        return;
                }
                component_target(ci, &bus_name, path, sizeof path);
                r = sd_bus_call_method_async(j->http->bus, NULL, bus_name, path, "org.xfsm1.Component", "GetHistory",
                                             on_history, j, "s", x->req.id);
                if (r < 0)
                        reply_oom(x);
                else
                        j->outstanding++;
                return;
        default:
                assert(false);
        }
}

/* POST /api/components/:c/instances/:id/events: the component is named */
static void on_component_event_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;
        ComponentInfo *ci;

        j->outstanding--;
        ci = route_component(j, error);
        if (ci)
                send_event(j, ci);
}

/* ---- GET /api/instances ---------------------------------------------------------- */

static void instances_answer(Job *j) {
        json_object *out = json_object_new_object(), *list = json_object_new_array();

        for (size_t k = 0; k < j->n_slots; k++)
                if (j->slots[k])
                        json_object_array_add(list, TAKE_PTR(j->slots[k]));
        json_object_object_add(out, "instances", list);
        exchange_reply_json(j->x, 200, out);
}

typedef struct Slot {
        Job *job;
        size_t index;
        char *component;
} Slot;

static int on_listed_instance(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Slot *s = userdata;
        Job *j = s->job;
        const char *text;

        /* an instance that went away meanwhile is not listed */
        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "s", &text) > 0) {
                json_object *o = parse_json(text);

                if (o) {
                        j->slots[s->index] = instance_view(o, s->component, true);
                        json_object_put(o);
                }
        }
        free(s->component);
        free(s);
        job_done_one(j);
        return 0;
}

static int on_list_instances(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Slot *s = userdata;
        Job *j = s->job;
        const char *id, *machine, *state, *path, *bus_name;
        ComponentInfo *ci = components_find(j->http->components, s->component);
        char cpath[300];
        int r;

        if (ci && !sd_bus_message_is_method_error(reply, NULL) &&
            sd_bus_message_enter_container(reply, 'a', "(ssso)") > 0) {
                component_target(ci, &bus_name, cpath, sizeof cpath);
                while ((r = sd_bus_message_read(reply, "(ssso)", &id, &machine, &state, &path)) > 0) {
                        json_object **v = realloc(j->slots, (j->n_slots + 1) * sizeof *v);
                        Slot *t;

                        if (!v)
                                break;
                        j->slots = v;
                        j->slots[j->n_slots] = NULL;
                        t = calloc(1, sizeof *t);
                        if (!t)
                                break;
                        *t = (Slot) { .job = j, .index = j->n_slots, .component = strdup(ci->name) };
                        j->n_slots++;
                        if (!t->component ||
                            sd_bus_call_method_async(j->http->bus, NULL, bus_name, cpath, "org.xfsm1.Component",
                                                     "GetInstance", on_listed_instance, t, "s", id) < 0) {
                                free(t->component);
                                free(t);
                                continue;
                        }
                        j->outstanding++;
                }
        }
        free(s->component);
        free(s);
        job_done_one(j);
        return 0;
}

static void on_instances_list(Components *c, const sd_bus_error *error, void *userdata) {
        Job *j = userdata;

        if (error) {
                job_fail(j, error);
                return;
        }
        j->then = instances_answer;
        for (size_t k = 0; k < components_count(c); k++) {
                ComponentInfo *ci = components_nth(c, k);
                const char *bus_name;
                char path[300];
                Slot *s;

                if (!component_reachable(ci))
                        continue;
                s = calloc(1, sizeof *s);
                if (!s)
                        continue;
                *s = (Slot) { .job = j, .component = strdup(ci->name) };
                component_target(ci, &bus_name, path, sizeof path);
                if (!s->component ||
                    sd_bus_call_method_async(j->http->bus, NULL, bus_name, path, "org.xfsm1.Component",
                                             "ListInstances", on_list_instances, s, "ss", "", "") < 0) {
                        free(s->component);
                        free(s);
                        continue;
                }
                j->outstanding++;
        }
        job_done_one(j);
}

/* ---- the dashboard, the session, the health check ---------------------------------- */

static const char *content_type_of(const char *file) {
        const char *ext = strrchr(file, '.');

        if (streq_ptr(ext, ".html"))
                return "text/html; charset=utf-8";
        if (streq_ptr(ext, ".js"))
                return "text/javascript; charset=utf-8";
        if (streq_ptr(ext, ".css"))
                return "text/css; charset=utf-8";
        if (streq_ptr(ext, ".svg"))
                return "image/svg+xml";
        return "application/octet-stream";
}

static void serve_file(Exchange *x) {
        _cleanup_(closep) int fd = -1;
        struct MHD_Response *r;
        struct stat st;
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/%s", x->http->config->dashboard_dir, x->req.file);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
                exchange_reply_error(x, 404, "Not found", NULL);
                return;
        }
        r = MHD_create_response_from_fd((uint64_t) st.st_size, TAKE_FD(fd));
        if (!r) {
                reply_oom(x);
                return;
        }
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(x->req.file));
        (void) MHD_add_response_header(r, "Content-Security-Policy",
                                       "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
        exchange_reply_response(x, 200, r);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void open_session(Exchange *x) {
        _cleanup_(grant_done) Grant g = {};
        struct MHD_Response *r;
        char id[65], cookie[200];
        json_object *out, *scopes;
        const char *text;
        int q;

        q = access_grant_for_token(x->http->access, x->req.token, x->loopback, &g);
        if (q == -ENOMEM) {
                reply_oom(x);
                return;
        }
        if (q < 0) {
                exchange_reply_error(x, 401, q == -EPERM ? "A token is required" : "Unknown token", NULL);
                return;
        }
        q = access_session_new(x->http->access, &g, now_usec(), id);
        if (q < 0) {
                reply_oom(x);
                return;
        }

        out = json_object_new_object();
        scopes = json_object_new_array();
        json_object_array_add(scopes, json_object_new_string("read"));
        for (char **p = g.write; p && *p; p++) {
                char s[300];

                snprintf(s, sizeof s, "write:%s", *p);
                json_object_array_add(scopes, json_object_new_string(s));
        }
        json_object_object_add(out, "success", json_object_new_boolean(true));
        json_object_object_add(out, "scopes", scopes);
        text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
        r = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_MUST_COPY);
        json_object_put(out);
        if (!r) {
                reply_oom(x);
                return;
        }
        snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%llu%s", SESSION_COOKIE,
                 id, SESSION_LIFETIME_USEC / 1000000, x->http->tls ? "; Secure" : "");
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
        exchange_reply_response(x, 200, r);
}

static void redirect(Exchange *x, const char *location) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

        if (!r) {
                reply_oom(x);
                return;
        }
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
        exchange_reply_response(x, 302, r);
}

/* ---- dispatch --------------------------------------------------------------------- */

void api_dispatch(Exchange *x) {
        Job *j;
        int r;

        switch (x->req.route) {
        case ROUTE_HEALTHZ: {
                json_object *o = json_object_new_object();

                json_object_object_add(o, "status", json_object_new_string("ok"));
                json_object_object_add(o, "eventStreams",
                                       json_object_new_int64((int64_t) events_subscribers(x->http->events)));
                exchange_reply_json(x, 200, o);
                return;
        }
        case ROUTE_ROOT:
                redirect(x, "/dashboard");
                return;
        case ROUTE_DASHBOARD:
                serve_file(x);
                return;
        case ROUTE_SESSION:
                open_session(x);
                return;
        case ROUTE_EVENTS: {
                const char *component = MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND, "component");

                if (component && *component && !name_is_identifier(component, HTTP_NAME_MAX)) {
                        exchange_reply_error(x, 400, "Invalid component name", NULL);
                        return;
                }
                r = events_subscribe(x->http->events, x, component && *component ? component : NULL);
                if (r == -EBUSY)
                        exchange_reply_error(x, 429, "Too many event streams from this client", NULL);
                else if (r < 0)
                        reply_oom(x);
                return;
        }
        default:
                break;
        }

        j = job_new(x);
        if (!j) {
                reply_oom(x);
                return;
        }

        switch (x->req.route) {
        case ROUTE_COMPONENTS:
                with_components(j, on_components_list);
                return;
        case ROUTE_COMPONENT:
        case ROUTE_MERMAID:
        case ROUTE_SVG:
                with_targets(j, on_component_list);
                return;
        case ROUTE_CREATE:
                with_targets(j, on_create_list);
                return;
        case ROUTE_COMPONENT_EVENT:
                with_targets(j, on_component_event_list);
                return;
        case ROUTE_INSTANCES:
                with_components(j, on_instances_list);
                return;
        case ROUTE_INSTANCE:
        case ROUTE_EVENT:
        case ROUTE_HISTORY:
                resolve(j);
                return;
        default:
                exchange_reply_error(x, 404, "Not found", NULL);
        }
}
