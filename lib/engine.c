/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The engine: its life, the components it holds and their versions, its
 * clock, and the public entry points that run a step (create, send,
 * broadcast, start) or look instances up.
 *
 * Every call that changes anything runs as one *step* (engine-step.c): the
 * event, and every microstep it raises, run to completion; a step that fails
 * leaves every instance as it was. What a step does is the semantics
 * xfsm.component(5) describes: flat machines' transitions in transition.c,
 * statecharts in statechart.c, actions and the events they send in
 * action.c, timers in engine-timers.c, routed events in engine-routed.c,
 * images and recovery in image.c. */

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine-internal.h"
#include "json-parse.h"
#include "macro.h"
#include "names.h"
#include "yaml-load.h"

const char *xfsm_engine_last_error(const xfsm_engine *e) {
        return e->last_error;
}

int engine_fail(xfsm_engine *e, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->last_error, sizeof e->last_error, fmt, ap);
        va_end(ap);
        return r;
}

/* ---- clock --------------------------------------------------------------- */

static uint64_t clock_ms(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

uint64_t xfsm_engine_now(const xfsm_engine *e) {
        return e->virtual_clock ? e->vnow : clock_ms(CLOCK_BOOTTIME);
}

uint64_t xfsm_engine_realtime(const xfsm_engine *e) {
        return e->virtual_clock ? e->vreal_base + e->vnow : clock_ms(CLOCK_REALTIME);
}

void xfsm_engine_use_virtual_clock(xfsm_engine *e, uint64_t start_realtime_ms) {
        e->virtual_clock = true;
        e->vnow = 0;
        e->vreal_base = start_realtime_ms ? start_realtime_ms : clock_ms(CLOCK_REALTIME);
}

void xfsm_engine_seed(xfsm_engine *e, uint64_t seed) {
        rng_seed(e->rng, seed);
}

/* ---- engine life --------------------------------------------------------- */

xfsm_engine *xfsm_engine_new(void) {
        xfsm_engine *e = calloc(1, sizeof *e);
        uint64_t seed = 0;

        if (!e)
                return NULL;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
                seed = clock_ms(CLOCK_REALTIME) ^ (uint64_t) (uintptr_t) e;
        rng_seed(e->rng, seed);
        e->step = &e->steps[0];
        /* a check for the tests (docs/internals.md), too dear to run always */
        e->check_configuration = getenv("XFSM_CHECK_CONFIGURATION") && streq(getenv("XFSM_CHECK_CONFIGURATION"), "1");
        return e;
}

static ComponentRt *component_rt_free(ComponentRt *c) {
        if (!c)
                return NULL;
        for (xfsm_instance *i = c->all_head, *next; i; i = next) {
                next = i->all_next;
                instance_free(i);
        }
        if (c->lists)
                for (size_t m = 0; m < c->def->n_machines; m++)
                        free(c->lists[m]);
        free(c->lists);
        free(c->definition_json);
        for (size_t k = 0; k < c->n_texts; k++)
                free(c->texts[k].text);
        free(c->texts);
        component_free(c->def);
        free(c);
        return NULL;
}

xfsm_engine *xfsm_engine_free(xfsm_engine *e) {
        if (!e)
                return NULL;
        for (size_t k = 0; k < 2; k++) {
                step_reset(&e->steps[k]);
                free(e->steps[k].v);
        }
        for (size_t i = e->qh; i < e->qt; i++)
                json_object_put(e->q[i].payload);
        free(e->q);
        free(e->undo);
        for (size_t i = e->lh; i < e->lt; i++)
                routed_free(e->local[i]);
        free(e->local);
        /* zombies (dead, still referred to by a heap entry) go with their last entry */
        for (Heap *h = &e->timers; h; h = h == &e->timers ? &e->retention : NULL)
                for (size_t i = 0; i < h->n; i++)
                        instance_heap_unref(h->v[i].inst);
        heap_done(&e->timers);
        heap_done(&e->retention);
        if (e->tok)
                json_tokener_free(e->tok);
        image_staged_free(e);
        free(e->spans);
        free(e->cut);
        for (size_t i = 0; i < e->n_comps; i++)
                component_rt_free(e->comps[i]);
        free(e->comps);
        instance_map_done(&e->map);
        string_table_done(&e->strings);
        free(e);
        return NULL;
}

/* The current version of a component. */
ComponentRt *engine_find_comp(const xfsm_engine *e, const char *name) {
        for (size_t i = 0; i < e->n_comps; i++)
                if (!e->comps[i]->retired && streq(e->comps[i]->def->name, name))
                        return e->comps[i];
        return NULL;
}

/* A version of a component by its definition hash (current or retired). */
ComponentRt *engine_find_version(const xfsm_engine *e, const char *name, const char *hash) {
        for (size_t i = 0; i < e->n_comps; i++)
                if (streq(e->comps[i]->def->name, name) && streq(e->comps[i]->def->hash, hash))
                        return e->comps[i];
        return NULL;
}

/* Parse a component and check what the host allows (its unit actions). */
static int load_checked(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                        void *userdata, Component **ret) {
        Component *def = NULL;
        int r;

        r = component_load(name, data, len, fn, userdata, &def);
        if (r < 0)
                return r;
        /* unit actions: only the units the host allows (never a name from event data: names are literal) */
        for (size_t m = 0; e->unit_filter && m < def->n_machines; m++)
                for (size_t k = 0; k < def->machines[m].n_actions; k++) {
                        const Action *a = def->machines[m].actions[k];
                        if (!a || a->kind != ACTION_UNIT || e->unit_filter(e->unit_filter_ud, a->name))
                                continue;
                        if (fn) {
                                char msg[512];
                                snprintf(msg, sizeof msg,
                                         "unit '%s' is not allowed here (the allowed units are set by the "
                                         "administrator: [Units] Allow= in xfsm.conf)",
                                         a->name);
                                fn(userdata, XFSM_DIAG_ERROR, name, a->line, a->column, msg);
                        }
                        component_free(def);
                        return -XFSM_E_LOAD_FAILED;
                }
        *ret = def;
        return 0;
}

/* A component runtime for def (taken): the current version, or a retired one. */
static int add_version(xfsm_engine *e, Component *def, bool retired) {
        ComponentRt *c, **comps;

        c = calloc(1, sizeof *c);
        comps = realloc(e->comps, (e->n_comps + 1) * sizeof *comps);
        if (!c || !comps) {
                free(c);
                if (comps)
                        e->comps = comps;
                component_free(def);
                return -ENOMEM;
        }
        e->comps = comps;
        c->def = def;
        c->retired = retired;
        c->lists = calloc(def->n_machines, sizeof *c->lists);
        if (!c->lists) {
                component_rt_free(c);
                return -ENOMEM;
        }
        for (size_t m = 0; m < def->n_machines; m++) {
                c->lists[m] = calloc(def->machines[m].n_states, sizeof **c->lists);
                if (!c->lists[m]) {
                        component_rt_free(c);
                        return -ENOMEM;
                }
        }
        e->comps[e->n_comps++] = c;
        return 0;
}

/* An error about the component as a whole (reported at its file's start); frees def. */
static int refuse_component(xfsm_diag_fn fn, void *userdata, const char *name, Component *def, int r,
                            const char *fmt) {
        if (fn) {
                char msg[256];
                snprintf(msg, sizeof msg, fmt, def->name);
                fn(userdata, XFSM_DIAG_ERROR, name, 1, 1, msg);
        }
        component_free(def);
        return r;
}

int xfsm_engine_load_string(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                            void *userdata) {
        Component *def = NULL;
        int r;

        r = load_checked(e, name, data, len, fn, userdata, &def);
        if (r < 0)
                return r;
        if (engine_find_comp(e, def->name))
                return refuse_component(fn, userdata, name, def, -XFSM_E_LOAD_FAILED,
                                        "component '%s' is loaded already");
        return add_version(e, def, false);
}

int xfsm_engine_reload_string(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                              void *userdata) {
        Component *def = NULL;
        ComponentRt *cur, *known;
        int r;

        r = load_checked(e, name, data, len, fn, userdata, &def);
        if (r < 0)
                return r;
        cur = engine_find_comp(e, def->name);
        if (!cur)
                return refuse_component(fn, userdata, name, def, -XFSM_E_NO_SUCH_COMPONENT,
                                        "component '%s' is not loaded: nothing to reload");
        if (streq(cur->def->hash, def->hash)) {
                component_free(def);
                return 0; /* unchanged */
        }
        /* a version seen before (reloaded back, or restored from the state): make it current again */
        known = engine_find_version(e, def->name, def->hash);
        cur->retired = true;
        if (known) {
                component_free(def);
                known->retired = false;
                return 1;
        }
        r = add_version(e, def, false);
        if (r < 0) {
                cur->retired = false;
                return r;
        }
        return 1;
}

int xfsm_engine_load_version(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                             void *userdata) {
        Component *def = NULL;
        int r;

        r = load_checked(e, name, data, len, fn, userdata, &def);
        if (r < 0)
                return r;
        if (engine_find_version(e, def->name, def->hash)) {
                component_free(def);
                return 0;
        }
        return add_version(e, def, true);
}

void xfsm_engine_set_version_loader(xfsm_engine *e, xfsm_version_loader_fn fn, void *userdata) {
        e->version_loader = fn;
        e->version_loader_ud = userdata;
}

void xfsm_engine_set_unit_filter(xfsm_engine *e, xfsm_unit_filter_fn fn, void *userdata) {
        e->unit_filter = fn;
        e->unit_filter_ud = userdata;
}

int xfsm_engine_load_file(xfsm_engine *e, const char *path, xfsm_diag_fn fn, void *userdata) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *data = NULL;
        size_t len = 0, cap = 0, n;
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                if (fn) {
                        char msg[512];
                        snprintf(msg, sizeof msg, "cannot open: %s", strerror(-r));
                        fn(userdata, XFSM_DIAG_ERROR, path, 0, 0, msg);
                }
                return r;
        }
        do {
                if (len + 4096 > cap) {
                        char *d = realloc(data, cap = cap ? cap * 2 : 16384);
                        if (!d)
                                return -ENOMEM;
                        data = d;
                }
                n = fread(data + len, 1, cap - len - 1, f);
                len += n;
        } while (n > 0 && len < 16 * 1024 * 1024);
        data[len] = 0;
        return xfsm_engine_load_string(e, path, data, len, fn, userdata);
}

/* The i-th current component (retired versions are not listed). */
static ComponentRt *nth_current(const xfsm_engine *e, size_t i) {
        for (size_t k = 0; k < e->n_comps; k++)
                if (!e->comps[k]->retired && i-- == 0)
                        return e->comps[k];
        return NULL;
}

size_t xfsm_engine_n_components(const xfsm_engine *e) {
        size_t n = 0;
        for (size_t k = 0; k < e->n_comps; k++)
                n += !e->comps[k]->retired;
        return n;
}

const char *xfsm_engine_component_name(const xfsm_engine *e, size_t i) {
        ComponentRt *c = nth_current(e, i);
        return c ? c->def->name : NULL;
}

size_t xfsm_component_n_versions(const xfsm_engine *e, const char *component) {
        size_t n = 0;
        for (size_t k = 0; k < e->n_comps; k++)
                n += streq(e->comps[k]->def->name, component);
        return n;
}

const char *xfsm_component_hash(const xfsm_engine *e, const char *component) {
        ComponentRt *c = engine_find_comp(e, component);
        return c ? c->def->hash : NULL;
}

const char *xfsm_component_version(const xfsm_engine *e, const char *component) {
        ComponentRt *c = engine_find_comp(e, component);
        return c ? c->def->version : NULL;
}

size_t xfsm_component_n_machines(const xfsm_engine *e, const char *component) {
        ComponentRt *c = engine_find_comp(e, component);
        return c ? c->def->n_machines : 0;
}

bool xfsm_component_has_action(const xfsm_engine *e, const char *component, const char *kind) {
        ComponentRt *c = engine_find_comp(e, component);
        ActionKind want = streq(kind, "exec") ? ACTION_EXEC : streq(kind, "unit") ? ACTION_UNIT : ACTION_METHOD;
        for (size_t m = 0; c && m < c->def->n_machines; m++)
                for (size_t k = 0; k < c->def->machines[m].n_actions; k++)
                        if (c->def->machines[m].actions[k] && c->def->machines[m].actions[k]->kind == want)
                                return true;
        return false;
}

const char *xfsm_component_machine(const xfsm_engine *e, const char *component, size_t i) {
        ComponentRt *c = engine_find_comp(e, component);
        return c && i < c->def->n_machines ? c->def->machines[i].name : NULL;
}

const char *xfsm_component_definition_json(const xfsm_engine *e, const char *component) {
        ComponentRt *c = engine_find_comp(e, component);
        if (!c)
                return NULL;
        if (!c->definition_json)
                c->definition_json =
                        strdup(json_object_to_json_string_ext(c->def->definition, JSON_C_TO_STRING_PLAIN));
        return c->definition_json;
}

void xfsm_engine_set_router(xfsm_engine *e, xfsm_router_fn fn, void *userdata) {
        e->router = fn;
        e->router_ud = userdata;
}

void xfsm_engine_set_step_handler(xfsm_engine *e, xfsm_step_fn fn, void *userdata) {
        e->step_fn = fn;
        e->step_ud = userdata;
}

const xfsm_step *xfsm_engine_last_step(const xfsm_engine *e) {
        return &e->steps[0];
}

void xfsm_engine_set_history_limit(xfsm_engine *e, unsigned limit, size_t max_bytes) {
        assert(e);

        e->history = (HistoryLimits) { limit, max_bytes ?: XFSM_HISTORY_DEFAULT_MAX_BYTES };
        /* what the instances hold already follows the new limits at once */
        for (size_t k = 0; k < e->n_comps; k++)
                for (xfsm_instance *i = e->comps[k]->all_head; i; i = i->all_next)
                        history_trim(&i->log, &e->history);
}

const Component *engine_component(const xfsm_engine *e, size_t i) {
        ComponentRt *c = nth_current(e, i);
        return c ? c->def : NULL;
}

bool engine_singleton_taken(const xfsm_engine *e, const ComponentRt *c, const Machine *m) {
        if (c->def->entry_machine != m || c->def->entry_mode != ENTRY_SINGLETON)
                return false;
        /* in any version of the component: an instance of an older one counts too */
        for (size_t k = 0; k < e->n_comps; k++) {
                const ComponentRt *v = e->comps[k];
                const Machine *vm = v == c ? m : streq(v->def->name, c->def->name) ? component_find_machine(v->def, m->name) : NULL;
                for (size_t s = 0; vm && s < vm->n_states; s++)
                        if (v->lists[vm->index][s].n > 0)
                                return true;
        }
        return false;
}

/* ---- public entry points ------------------------------------------------- */

/* Whether every number in v is finite. */
static bool json_all_finite(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_double:
                return isfinite(json_object_get_double(v));
        case json_type_object: {
                json_object_object_foreach(v, key, child) {
                        (void) key;
                        if (!json_all_finite(child))
                                return false;
                }
                return true;
        }
        case json_type_array:
                for (size_t k = 0; k < json_object_array_length(v); k++)
                        if (!json_all_finite(json_object_array_get_idx(v, k)))
                                return false;
                return true;
        default:
                return true;
        }
}

static int parse_payload(xfsm_engine *e, const char *text, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t len;

        *ret = NULL;
        if (!text)
                return 0;
        len = strlen(text);
        if (len > XFSM_MAX_PAYLOAD)
                return engine_fail(e, -XFSM_E_INVALID_PAYLOAD, "payload larger than 1 MiB");
        if (!e->tok) {
                e->tok = json_tokener_new();
                if (!e->tok)
                        return -ENOMEM;
        }
        tok = e->tok;
        json_tokener_reset(tok);
        o = json_parse_ex(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8, text, len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            (size_t) json_tokener_get_parse_end(tok) != len) {
                enum json_tokener_error err = json_tokener_get_error(tok);
                json_object_put(o);
                return engine_fail(e, -XFSM_E_INVALID_PAYLOAD, "payload is not valid JSON: %s",
                                   err == json_tokener_continue ? "unexpected end of input"
                                                         : json_tokener_error_desc(err));
        }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return engine_fail(e, -XFSM_E_INVALID_PAYLOAD, "payload must be a JSON object");
        }
        if (!json_all_finite(o)) {
                /* json-c reads NaN and Infinity even when strict; JSON has no such numbers */
                json_object_put(o);
                return engine_fail(e, -XFSM_E_INVALID_PAYLOAD, "payload is not valid JSON: NaN or Infinity");
        }
        *ret = o;
        return 0;
}

static ComponentRt *comp_for_machine(xfsm_engine *e, const char *component, const char *machine, int *ret_err) {
        if (component) {
                ComponentRt *c = engine_find_comp(e, component);
                if (!c)
                        *ret_err = engine_fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s'", component);
                return c;
        }
        for (size_t k = 0; k < e->n_comps; k++)
                if (!e->comps[k]->retired && component_find_machine(e->comps[k]->def, machine))
                        return e->comps[k];
        *ret_err = engine_fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in any component", machine);
        return NULL;
}

/* Create an instance (taking ctx) as one step; ret gets it, or NULL when it
 * may be gone (dropped at once, or events delivered after the step: then
 * xfsm_engine_find() its id, which ret_id gets). */
static int create_step(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx, bool entry_point,
                       char ret_id[ID_LEN + 1], xfsm_instance **ret) {
        xfsm_instance *i = NULL;
        int r;

        step_begin(e, XFSM_STEP_CREATE, c, NULL, NULL);
        r = instance_create(e, c, m, ctx, NULL, entry_point, &i);
        if (r >= 0) {
                memcpy(e->step->id, i->id, ID_LEN + 1);
                e->step->has_id = true;
                if (ret_id)
                        memcpy(ret_id, i->id, ID_LEN + 1);
                r = step_drain(e);
        }
        if (r < 0) {
                step_rollback(e, (Savepoint) {});
                return r;
        }
        if (i->drop_at_commit)
                i = NULL;
        step_commit(e);
        if (e->lh < e->lt) {
                engine_deliver_local(e);
                i = NULL;
        }
        if (ret)
                *ret = i;
        return 0;
}

int xfsm_engine_create(xfsm_engine *e, const char *component, const char *machine, const char *context_json,
                       xfsm_instance **ret) {
        xfsm_instance *i;
        ComponentRt *c;
        const Machine *m;
        json_object *ctx;
        char id[ID_LEN + 1];
        int r = 0;

        if (!machine || strlen(machine) > XFSM_MAX_NAME)
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "machine name missing or too long");
        c = comp_for_machine(e, component, machine, &r);
        if (!c)
                return r;
        m = component_find_machine(c->def, machine);
        if (!m)
                return engine_fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in component '%s'", machine,
                                   c->def->name);
        if (engine_singleton_taken(e, c, m))
                return engine_fail(e, -XFSM_E_SINGLETON_EXISTS, "the singleton entry point %s of %s exists already",
                                   machine, c->def->name);
        r = parse_payload(e, context_json, &ctx);
        if (r < 0)
                return r;

        r = create_step(e, c, m, ctx, false, id, &i);
        if (r < 0)
                return r;
        if (ret)
                *ret = i ?: instance_map_get(&e->map, id);
        return 0;
}

int xfsm_instance_send(xfsm_engine *e, xfsm_instance *i, const char *event, const char *payload_json,
                       const char **ret_state) {
        json_object *payload = NULL;
        Item it;
        char id[ID_LEN + 1];
        const char *state;
        int r;

        if (!name_is_event(event))
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "event name must be 1-255 printable characters");
        r = parse_payload(e, payload_json, &payload);
        if (r < 0)
                return r;

        step_begin(e, XFSM_STEP_SEND, i->comp, i->id, event);
        static_assert(sizeof e->step->event_buf > 255, "name_is_event() allows 255 characters");
        strcpy(e->step->event_buf, event); /* name_is_event(): it fits */
        e->step->event = e->step->event_buf;
        it = (Item) { i, e->step->event_buf, payload, NULL, false };
        r = step_process_item(e, &it);
        json_object_put(payload);
        if (r >= 0)
                r = step_drain(e);
        if (r < 0) {
                char msg[sizeof e->last_error];
                memcpy(msg, e->last_error, sizeof msg);
                step_rollback(e, (Savepoint) {});
                memcpy(e->last_error, msg, sizeof msg);
                return r;
        }
        memcpy(id, i->id, sizeof id);
        state = xfsm_instance_state(i);
        step_commit(e); /* may drop i */
        if (e->lh < e->lt) {
                engine_deliver_local(e);
                i = instance_map_get(&e->map, id);
                if (i)
                        state = xfsm_instance_state(i);
        }
        if (ret_state)
                *ret_state = state;
        return 0;
}

int xfsm_instance_send_from(xfsm_engine *e, xfsm_instance *i, const char *event, const char *payload_json,
                            void *origin, const char **ret_state) {
        int r;

        e->call_origin = origin;
        r = xfsm_instance_send(e, i, event, payload_json, ret_state);
        e->call_origin = NULL;
        return r;
}

int xfsm_engine_send(xfsm_engine *e, const char *id, const char *event, const char *payload_json,
                     const char **ret_state) {
        xfsm_instance *i;

        if (!id || strlen(id) != ID_LEN)
                return engine_fail(e, -XFSM_E_NO_SUCH_INSTANCE, "no instance '%s'", id ?: "");
        i = instance_map_get(&e->map, id);
        if (!i)
                return engine_fail(e, -XFSM_E_NO_SUCH_INSTANCE, "no instance '%s'", id);
        return xfsm_instance_send(e, i, event, payload_json, ret_state);
}

int xfsm_engine_broadcast(xfsm_engine *e, const char *component, const char *machine, const char *state,
                          const char *event, const char *payload_json, unsigned *ret_delivered) {
        _cleanup_(routed_freep) xfsm_routed *r = NULL;
        ComponentRt *c;
        json_object *payload;
        int k = 0;

        if (!name_is_event(event))
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "event name must be 1-255 printable characters");
        c = comp_for_machine(e, component, machine, &k);
        if (!c)
                return k;
        k = parse_payload(e, payload_json, &payload);
        if (k < 0)
                return k;
        r = calloc(1, sizeof *r);
        if (!r) {
                json_object_put(payload);
                return -ENOMEM;
        }
        r->kind = XFSM_ROUTED_EVENT;
        r->source_component = strdup(c->def->name);
        r->target_component = strdup(c->def->name);
        r->target_machine = strdup(machine);
        r->target_state = isempty(state) ? NULL : strdup(state);
        r->event = strdup(event);
        r->payload = payload ? payload : json_object_new_object();
        if (!r->source_component || !r->target_component || !r->target_machine || !r->event)
                return -ENOMEM;
        k = engine_deliver(e, TAKE_PTR(r), XFSM_STEP_BROADCAST, ret_delivered);
        engine_deliver_local(e);
        return k;
}

int xfsm_engine_start(xfsm_engine *e) {
        for (size_t k = 0; k < e->n_comps; k++) {
                ComponentRt *c = e->comps[k];
                const Machine *m = c->def->entry_machine;
                bool exists = false;
                int r;

                if (!m || !c->def->auto_create)
                        continue;
                for (xfsm_instance *i = c->all_head; i && !exists; i = i->all_next)
                        exists = i->machine == m && i->entry_point;
                if (exists)
                        continue;
                r = create_step(e, c, m, NULL, true, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

xfsm_instance *xfsm_engine_find(const xfsm_engine *e, const char *id) {
        if (!id)
                return NULL;
        return instance_map_get(&e->map, id);
}

size_t xfsm_engine_n_instances(const xfsm_engine *e) {
        return e->map.n;
}

/* The state filter of ListInstances: a state's name (for a statechart: any
 * active state), or a statechart's whole configuration as text. */
static bool instance_matches_state(const xfsm_instance *i, const char *state) {
        const State *st;
        if (!i->machine->statechart)
                return streq(i->machine->states[i->state].name, state);
        if (streq(i->state_text, state))
                return true;
        st = machine_find_state(i->machine, state);
        return st && engine_in_state(i, st->index);
}

int xfsm_engine_foreach(xfsm_engine *e, const char *component, const char *machine, const char *state,
                        xfsm_instance_fn fn, void *userdata) {
        for (size_t k = 0; k < e->n_comps; k++) {
                ComponentRt *c = e->comps[k];
                if (!isempty(component) && !streq(c->def->name, component))
                        continue;
                for (xfsm_instance *i = c->all_head, *next; i; i = next) {
                        next = i->all_next;
                        if (!isempty(machine) && !streq(i->machine->name, machine))
                                continue;
                        if (!isempty(state) && !instance_matches_state(i, state))
                                continue;
                        int r = fn(userdata, i);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}
