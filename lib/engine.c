/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The engine: events in, steps out (the semantics xfsm.component(5)
 * describes).
 *
 * Every call that changes anything runs as one *step*: the event, and every
 * microstep it raises (auto transitions, notifyParent, cascades within the
 * component, child creation), run to completion through a FIFO queue. Changes
 * are recorded in an undo log as they are made, so that a step that fails
 * (its own event refused, or more than XFSM_MAX_MICROSTEPS) leaves every
 * instance as it was. A committed step hands its effects, in order, to the
 * step handler, then its routed events to the router. */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine-internal.h"
#include "guard.h"
#include "json-path.h"
#include "macro.h"
#include "names.h"
#include "yaml-load.h"

typedef enum UndoKind {
        UNDO_SAVE,
        UNDO_CTX_KEY,
        UNDO_CREATED,
} UndoKind;

typedef struct Undo {
        UndoKind kind;
        xfsm_instance *inst;
        union {
                struct {
                        unsigned state;
                        uint8_t status;
                        bool drop;
                        uint8_t n_timers, cap_timers;
                        uint64_t updated_at, retention_deadline;
                        Timer *timers;
                        uint64_t active[STATECHART_WORDS]; /* statecharts */
                        uint64_t *hist;
                        const char *state_text;
                } save;
                struct {
                        const char *key;     /* owned by holder */
                        json_object *holder; /* the payload the key came from */
                        json_object *old;
                } ctx;
        };
} Undo;

typedef struct Item {
        xfsm_instance *inst;
        const char *event;
        json_object *payload;
        const Transition *forced; /* a timer or auto transition */
        bool routed;              /* matchingRules select (routed) rather than choose (direct) */
} Item;

typedef struct Savepoint {
        size_t n_undo, n_effects;
} Savepoint;

struct xfsm_engine {
        ComponentRt **comps;
        size_t n_comps;
        InstanceMap map;
        Heap timers, retention;

        bool virtual_clock;
        uint64_t vnow, vreal_base;
        uint64_t rng[4];
        uint64_t next_inst_seq, next_timer_seq, step_timer_base;
        uint32_t serial, commit_serial;

        xfsm_step steps[2];
        xfsm_step *step; /* the one being built */
        Undo *undo;
        size_t n_undo, cap_undo;
        Item *q;
        size_t qh, qt, qcap;
        unsigned microsteps;
        unsigned step_routed;
        unsigned step_hops;
        ComponentRt *step_comp;

        xfsm_routed **local;
        size_t lh, lt, lcap;
        bool delivering;

        xfsm_router_fn router;
        void *router_ud;
        xfsm_unit_filter_fn unit_filter;
        void *unit_filter_ud;
        xfsm_version_loader_fn version_loader;
        void *version_loader_ud;
        xfsm_step_fn step_fn;
        void *step_ud;
        bool guard_div_zero; /* a guard of the current choice divided by zero */
        json_tokener *tok; /* reused: a new one per payload costs more than the parse */
        struct Staged *staged; /* recovery: snapshot images not restored yet */
        HistoryLimits history; /* what each instance's history keeps */
        struct LogSpan *spans; /* recovery: the history keys of a record's images */
        size_t cap_spans;
        char *cut; /* and the record without them */
        size_t cap_cut;
        StringTable strings;   /* its strings, interned (they outlive reloads) */
        char last_error[512];
};

static void staged_free(xfsm_engine *e);

const char *xfsm_engine_last_error(const xfsm_engine *e) {
        return e->last_error;
}

__attribute__((format(printf, 3, 4))) static int fail(xfsm_engine *e, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->last_error, sizeof e->last_error, fmt, ap);
        va_end(ap);
        return r;
}

/* ---- clock -------------------------------------------------------------- */

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

/* ---- engine life ---------------------------------------------------------- */

xfsm_engine *xfsm_engine_new(void) {
        xfsm_engine *e = calloc(1, sizeof *e);
        uint64_t seed = 0;

        if (!e)
                return NULL;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
                seed = clock_ms(CLOCK_REALTIME) ^ (uint64_t) (uintptr_t) e;
        rng_seed(e->rng, seed);
        e->step = &e->steps[0];
        return e;
}

static void effects_reset(xfsm_step *s, size_t from) {
        for (size_t i = from; i < s->n; i++) {
                free(s->v[i].message);
                routed_free(s->v[i].routed);
        }
        s->n = from;
}

static void step_reset(xfsm_step *s) {
        effects_reset(s, 0);
        free(s->event_buf);
        s->event_buf = NULL;
        s->routed = routed_free(s->routed);
        s->has_id = false;
        s->event = NULL;
        s->component = NULL;
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
        staged_free(e);
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
static ComponentRt *find_comp(const xfsm_engine *e, const char *name) {
        for (size_t i = 0; i < e->n_comps; i++)
                if (!e->comps[i]->retired && streq(e->comps[i]->def->name, name))
                        return e->comps[i];
        return NULL;
}

/* A version of a component by its definition hash (current or retired). */
static ComponentRt *find_version(const xfsm_engine *e, const char *name, const char *hash) {
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
        if (find_comp(e, def->name))
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
        cur = find_comp(e, def->name);
        if (!cur)
                return refuse_component(fn, userdata, name, def, -XFSM_E_NO_SUCH_COMPONENT,
                                        "component '%s' is not loaded: nothing to reload");
        if (streq(cur->def->hash, def->hash)) {
                component_free(def);
                return 0; /* unchanged */
        }
        /* a version seen before (reloaded back, or restored from the state): make it current again */
        known = find_version(e, def->name, def->hash);
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
        if (find_version(e, def->name, def->hash)) {
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
        FILE *f;
        char *data = NULL;
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
                        if (!d) {
                                free(data);
                                fclose(f);
                                return -ENOMEM;
                        }
                        data = d;
                }
                n = fread(data + len, 1, cap - len - 1, f);
                len += n;
        } while (n > 0 && len < 16 * 1024 * 1024);
        fclose(f);
        data[len] = 0;
        r = xfsm_engine_load_string(e, path, data, len, fn, userdata);
        free(data);
        return r;
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
        ComponentRt *c = find_comp(e, component);
        return c ? c->def->hash : NULL;
}
const char *xfsm_component_version(const xfsm_engine *e, const char *component) {
        ComponentRt *c = find_comp(e, component);
        return c ? c->def->version : NULL;
}
size_t xfsm_component_n_machines(const xfsm_engine *e, const char *component) {
        ComponentRt *c = find_comp(e, component);
        return c ? c->def->n_machines : 0;
}
bool xfsm_component_has_action(const xfsm_engine *e, const char *component, const char *kind) {
        ComponentRt *c = find_comp(e, component);
        ActionKind want = streq(kind, "exec") ? ACTION_EXEC : streq(kind, "unit") ? ACTION_UNIT : ACTION_METHOD;
        for (size_t m = 0; c && m < c->def->n_machines; m++)
                for (size_t k = 0; k < c->def->machines[m].n_actions; k++)
                        if (c->def->machines[m].actions[k] && c->def->machines[m].actions[k]->kind == want)
                                return true;
        return false;
}
const char *xfsm_component_machine(const xfsm_engine *e, const char *component, size_t i) {
        ComponentRt *c = find_comp(e, component);
        return c && i < c->def->n_machines ? c->def->machines[i].name : NULL;
}
const char *xfsm_component_definition_json(const xfsm_engine *e, const char *component) {
        ComponentRt *c = find_comp(e, component);
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

/* ---- steps, effects, undo ---------------------------------------------- */

static void begin_step(xfsm_engine *e, xfsm_step_cause cause, ComponentRt *c, const char *id,
                       const char *event) {
        e->step = &e->steps[e->delivering ? 1 : 0];
        step_reset(e->step);
        e->step->cause = cause;
        e->step->component = c->def->name;
        if (id) {
                memcpy(e->step->id, id, ID_LEN + 1);
                e->step->has_id = true;
        }
        e->step->event = event;
        e->step_comp = c;
        e->n_undo = 0;
        e->serial++;
        e->step_routed = 0;
        e->microsteps = 0;
        e->step_timer_base = e->next_timer_seq;
        e->last_error[0] = 0;
}

static xfsm_effect *effect_add(xfsm_engine *e, xfsm_effect_kind kind, const xfsm_instance *i) {
        xfsm_step *s = e->step;
        xfsm_effect *f;

        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                xfsm_effect *v = realloc(s->v, cap * sizeof *v);
                if (!v)
                        return NULL;
                s->v = v;
                s->cap = cap;
        }
        f = &s->v[s->n++];
        f->kind = kind;
        f->error = 0;
        f->machine = f->from = f->to = f->event = f->method = f->status = NULL;
        f->deadline = f->realtime_deadline = 0;
        f->message = NULL;
        f->routed = NULL;
        f->action = NULL;
        if (i) {
                memcpy(f->id, i->id, ID_LEN + 1);
                f->machine = i->machine->name;
        } else
                f->id[0] = 0;
        return f;
}

static int undo_push(xfsm_engine *e, Undo **ret) {
        if (e->n_undo == e->cap_undo) {
                size_t cap = e->cap_undo ? e->cap_undo * 2 : 64;
                Undo *v = realloc(e->undo, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                e->undo = v;
                e->cap_undo = cap;
        }
        *ret = &e->undo[e->n_undo++];
        return 0;
}

/* Remember an instance as it is before this step (or savepoint) changes it. */
static int touch(xfsm_engine *e, xfsm_instance *i) {
        Undo *u;
        int r;

        if (i->touched == e->serial)
                return 0;
        r = undo_push(e, &u);
        if (r < 0)
                return r;
        u->kind = UNDO_SAVE;
        u->inst = i;
        u->save.state = i->state;
        u->save.status = i->status;
        u->save.drop = i->drop_at_commit;
        u->save.updated_at = i->updated_at;
        u->save.retention_deadline = i->retention_deadline;
        u->save.n_timers = i->n_timers;
        u->save.cap_timers = i->n_timers;
        u->save.timers = NULL;
        if (i->n_timers > 0) {
                u->save.timers = malloc(i->n_timers * sizeof(Timer));
                if (!u->save.timers) {
                        e->n_undo--;
                        return -ENOMEM;
                }
                memcpy(u->save.timers, i->timers, i->n_timers * sizeof(Timer));
                for (unsigned k = 0; k < i->n_timers; k++)
                        json_object_get(u->save.timers[k].payload);
        }
        u->save.hist = NULL;
        u->save.state_text = i->state_text;
        if (i->machine->statechart) {
                const Machine *m = i->machine;
                u->save.hist = m->n_history ? malloc(m->n_history * m->n_words * sizeof(uint64_t)) : NULL;
                if (m->n_history && !u->save.hist) {
                        for (unsigned k = 0; k < u->save.n_timers; k++)
                                json_object_put(u->save.timers[k].payload);
                        free(u->save.timers);
                        e->n_undo--;
                        return -ENOMEM;
                }
                memcpy(u->save.active, i->active, m->n_words * sizeof(uint64_t));
                if (m->n_history)
                        memcpy(u->save.hist, i->hist, m->n_history * m->n_words * sizeof(uint64_t));
        }
        i->touched = e->serial;
        return 0;
}

/* Set key (a key of holder, kept alive with it) in the instance's context. */
static int context_set(xfsm_engine *e, xfsm_instance *i, json_object *holder, const char *key, json_object *v) {
        json_object *old = NULL;
        Undo *u;
        int r;

        r = undo_push(e, &u);
        if (r < 0)
                return r;
        u->kind = UNDO_CTX_KEY;
        u->inst = i;
        u->ctx.key = key;
        u->ctx.holder = json_object_get(holder);
        if (json_object_object_get_ex(i->context, key, &old))
                json_object_get(old);
        u->ctx.old = old;
        json_object_object_add(i->context, key, json_object_get(v));
        return 0;
}

static Savepoint savepoint(xfsm_engine *e) {
        e->serial++; /* instances are saved again after a savepoint */
        return (Savepoint) { e->n_undo, e->step->n };
}

static void queue_clear(xfsm_engine *e) {
        for (size_t k = e->qh; k < e->qt; k++)
                json_object_put(e->q[k].payload);
        e->qh = e->qt = 0;
}

static void rollback(xfsm_engine *e, Savepoint sp) {
        while (e->n_undo > sp.n_undo) {
                Undo *u = &e->undo[--e->n_undo];
                xfsm_instance *i = u->inst;

                switch (u->kind) {
                case UNDO_SAVE:
                        instance_set_state(i, u->save.state);
                        i->status = u->save.status;
                        i->drop_at_commit = u->save.drop;
                        i->updated_at = u->save.updated_at;
                        i->retention_deadline = u->save.retention_deadline;
                        for (unsigned k = 0; k < i->n_timers; k++)
                                json_object_put(i->timers[k].payload);
                        free(i->timers);
                        i->timers = u->save.timers;
                        i->n_timers = u->save.n_timers;
                        i->cap_timers = u->save.cap_timers;
                        if (i->machine->statechart) {
                                memcpy(i->active, u->save.active, i->machine->n_words * sizeof(uint64_t));
                                if (u->save.hist) {
                                        free(i->hist);
                                        i->hist = u->save.hist;
                                }
                                i->state_text = u->save.state_text;
                        }
                        break;
                case UNDO_CTX_KEY:
                        if (u->ctx.old)
                                json_object_object_add(i->context, u->ctx.key, u->ctx.old);
                        else
                                json_object_object_del(i->context, u->ctx.key);
                        json_object_put(u->ctx.holder);
                        break;
                case UNDO_CREATED:
                        instance_unlink(i);
                        instance_map_remove(&e->map, i);
                        instance_free(i);
                        break;
                }
        }
        effects_reset(e->step, sp.n_effects);
        queue_clear(e);
        e->serial++;
}

static int route_default(void *userdata, xfsm_engine *e, const xfsm_routed *r);

/* The step's transitions go into the history of their instances once it
 * commits (a step undone leaves history as it was), before the step handler
 * sees the step: xfsm_step_instance_json() writes what they appended. */
static void history_commit(xfsm_engine *e) {
        if (e->history.limit == 0)
                return;
        for (size_t k = 0; k < e->step->n; k++) {
                const xfsm_effect *f = &e->step->v[k];
                xfsm_instance *i;

                if (f->kind != XFSM_EFFECT_TRANSITION || !(i = instance_map_get(&e->map, f->id)))
                        continue;
                /* out of memory: the entry is left out, the step stands */
                (void) history_record(&i->log, &e->strings, f->event, f->from, f->to, i->updated_at, &e->history);
        }
}

static void commit(xfsm_engine *e) {
        uint32_t mark = ++e->commit_serial;

        for (size_t k = 0; k < e->n_undo; k++) {
                Undo *u = &e->undo[k];
                xfsm_instance *i = u->inst;

                if (u->kind == UNDO_SAVE) {
                        for (unsigned t = 0; t < u->save.n_timers; t++)
                                json_object_put(u->save.timers[t].payload);
                        free(u->save.timers);
                        free(u->save.hist);
                }
                else if (u->kind == UNDO_CTX_KEY) {
                        json_object_put(u->ctx.old);
                        json_object_put(u->ctx.holder);
                }
                if (u->kind == UNDO_CTX_KEY || i->committed == mark)
                        continue;
                i->committed = mark;
                for (size_t t = 0; t < i->n_timers; t++)
                        if (i->timers[t].seq > e->step_timer_base &&
                            heap_push(&e->timers, i->timers[t].deadline, i->timers[t].seq, i) >= 0)
                                i->heap_refs++;
                if (i->retention_deadline > 0 && !(u->kind == UNDO_SAVE && u->save.retention_deadline) &&
                    heap_push(&e->retention, i->retention_deadline, 0, i) >= 0)
                        i->heap_refs++;
        }
        e->step_comp->seq++;
        history_commit(e);
        /* the handler may still read instances this step drops */
        if (e->step_fn)
                e->step_fn(e->step_ud, e->step);

        /* drops last: an instance may appear more than once above */
        for (size_t k = 0; k < e->n_undo; k++) {
                xfsm_instance *i = e->undo[k].inst;
                if (e->undo[k].kind != UNDO_CTX_KEY && i->drop_at_commit && !i->dead) {
                        instance_unlink(i);
                        instance_map_remove(&e->map, i);
                        instance_release(i);
                }
        }
        e->n_undo = 0;
        for (size_t k = 0; k < e->step->n; k++)
                if (e->step->v[k].kind == XFSM_EFFECT_ROUTED) {
                        if (e->router)
                                (void) e->router(e->router_ud, e, e->step->v[k].routed);
                        else
                                (void) route_default(NULL, e, e->step->v[k].routed);
                }
}

static int enqueue(xfsm_engine *e, xfsm_instance *i, const char *event, json_object *payload,
                   const Transition *forced, bool routed) {
        if (e->qt == e->qcap) {
                if (e->qh > 0) {
                        memmove(e->q, e->q + e->qh, (e->qt - e->qh) * sizeof *e->q);
                        e->qt -= e->qh;
                        e->qh = 0;
                } else {
                        size_t cap = e->qcap ? e->qcap * 2 : 32;
                        Item *q = realloc(e->q, cap * sizeof *q);
                        if (!q) {
                                json_object_put(payload);
                                return -ENOMEM;
                        }
                        e->q = q;
                        e->qcap = cap;
                }
        }
        e->q[e->qt++] = (Item) { i, event, payload, forced, routed };
        return 0;
}

static void refused(xfsm_engine *e, const xfsm_instance *i, const char *event, int r) {
        xfsm_effect *f = effect_add(e, XFSM_EFFECT_REFUSED, i);
        if (!f)
                return;
        f->event = event;
        f->error = r;
        f->message = strdup(e->last_error[0] ? e->last_error : xfsm_strerror(r));
        if (i)
                f->from = xfsm_instance_state(i);
}

/* ---- choosing a transition --------------------------------------------- */

static bool guard_holds(xfsm_engine *e, const Transition *t, const xfsm_instance *i, json_object *payload) {
        GuardResult r;

        if (!t->guard_expr)
                return true;
        r = guard_eval(t->guard_expr, i->context, payload);
        if (r == GUARD_DIV_ZERO)
                e->guard_div_zero = true;
        return r == GUARD_TRUE;
}

static bool event_is(const Transition *t, const char *event) {
        return t->event == event || streq(t->event, event);
}

static int choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
                  const Transition **ret) {
        const State *st = &i->machine->states[i->state];
        const Transition *only = NULL;
        unsigned n_event = 0, n_cand = 0;

        e->guard_div_zero = false;
        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                if (!event_is(t, event))
                        continue;
                n_event++;
                if (!guard_holds(e, t, i, payload))
                        continue;
                if (n_cand++ == 0)
                        only = t;
        }
        if (n_event == 0)
                return fail(e, -XFSM_E_NO_TRANSITION, "no transition from '%s' on '%s' in machine '%s'", st->name,
                            event, i->machine->name);
        if (n_cand == 0)
                return fail(e, -XFSM_E_GUARD_FAILED, "no guard holds for '%s' in state '%s' of machine '%s'%s", event,
                            st->name, i->machine->name,
                            e->guard_div_zero ? " (a guard divided by zero)" : "");
        if (!routed && n_cand == 1) {
                *ret = only;
                return 0;
        }
        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                if (!event_is(t, event) || !guard_holds(e, t, i, payload))
                        continue;
                if (t->n_rules == 0 || json_rules_hold(t->rules, t->n_rules, payload, i->context)) {
                        *ret = t;
                        return 0;
                }
        }
        return fail(e, -XFSM_E_NO_TRANSITION,
                    "no transition from '%s' on '%s' in machine '%s' matches the event's properties", st->name, event,
                    i->machine->name);
}

/* ---- timers ----------------------------------------------------------- */

static Timer *timer_add(xfsm_engine *e, xfsm_instance *i, uint64_t delay_ms) {
        if (i->n_timers == i->cap_timers) {
                unsigned cap = i->cap_timers ? i->cap_timers * 2u : 2u;
                Timer *v;
                if (cap > 255)
                        return NULL;
                v = realloc(i->timers, cap * sizeof *v);
                if (!v)
                        return NULL;
                i->timers = v;
                i->cap_timers = (uint8_t) cap;
        }
        Timer *tm = &i->timers[i->n_timers++];
        *tm = (Timer) { .deadline = xfsm_engine_now(e) + delay_ms,
                        .realtime_deadline = xfsm_engine_realtime(e) + delay_ms,
                        .seq = ++e->next_timer_seq };
        return tm;
}

static int timer_arm(xfsm_engine *e, xfsm_instance *i, const Transition *t) {
        Timer *tm = timer_add(e, i, t->timeout_ms);
        xfsm_effect *f;

        if (!tm)
                return -E2BIG;
        tm->t = t;
        tm->event = t->event;
        f = effect_add(e, XFSM_EFFECT_TIMER_ARMED, i);
        if (!f)
                return -ENOMEM;
        f->event = t->event;
        f->deadline = tm->deadline;
        f->realtime_deadline = tm->realtime_deadline;
        f->from = i->machine->states[t->from].name;
        f->to = i->machine->states[t->to].name;
        return 0;
}

/* A delayed send: payload (a reference) is kept until it fires. */
static int timer_arm_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload) {
        Timer *tm = timer_add(e, i, a->delay_ms);
        xfsm_effect *f;

        if (!tm) {
                json_object_put(payload);
                return -E2BIG;
        }
        tm->send = a;
        tm->event = a->event;
        tm->payload = payload;
        f = effect_add(e, XFSM_EFFECT_TIMER_ARMED, i);
        if (!f)
                return -ENOMEM;
        f->event = a->event;
        f->deadline = tm->deadline;
        f->realtime_deadline = tm->realtime_deadline;
        return 0;
}

static void timer_remove(xfsm_engine *e, xfsm_instance *i, size_t k, bool report) {
        if (report) {
                xfsm_effect *f = effect_add(e, XFSM_EFFECT_TIMER_CANCELLED, i);
                if (f) {
                        f->event = i->timers[k].event;
                        f->deadline = i->timers[k].deadline;
                }
        }
        json_object_put(i->timers[k].payload);
        memmove(i->timers + k, i->timers + k + 1, (i->n_timers - k - 1) * sizeof *i->timers);
        i->n_timers--;
}

/* Leaving a state cancels its timeouts; delayed sends live on until they
 * fire, are cancelled, or the instance completes. */
static void timers_cancel_all(xfsm_engine *e, xfsm_instance *i, bool sends_too) {
        for (size_t k = i->n_timers; k > 0; k--)
                if (sends_too || !i->timers[k - 1].send)
                        timer_remove(e, i, k - 1, true);
}

static int schedule_timers(xfsm_engine *e, xfsm_instance *i, bool self) {
        const State *st = &i->machine->states[i->state];
        int r;

        if (i->status != STATUS_ACTIVE) {
                timers_cancel_all(e, i, true);
                return 0;
        }
        if (!self)
                timers_cancel_all(e, i, false);
        if (!st->has_timers && !st->has_auto)
                return 0;

        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                bool delayed = t->type == TRANSITION_TIMEOUT || (t->type == TRANSITION_AUTO && t->timeout_ms > 0);

                if (t->type != TRANSITION_TIMEOUT && t->type != TRANSITION_AUTO)
                        continue;
                if (delayed) {
                        ssize_t existing = -1;
                        for (size_t j = 0; j < i->n_timers; j++)
                                if (i->timers[j].t == t)
                                        existing = (ssize_t) j;
                        if (existing >= 0) {
                                if (t->type == TRANSITION_TIMEOUT && !t->reset_on_transition)
                                        continue; /* keeps running through self-loops */
                                timer_remove(e, i, (size_t) existing, true);
                        }
                        r = timer_arm(e, i, t);
                } else
                        r = enqueue(e, i, t->event, NULL, t, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- transitions ------------------------------------------------------------ */

static int create_instance(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx,
                           const xfsm_instance *parent, bool entry_point, xfsm_instance **ret);
static int sc_start(xfsm_engine *e, xfsm_instance *i);
static int sc_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
                     const Transition **ret, size_t *ret_n);

static int perform_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload);

/* Run a list of actions (ACTIONS in xfsm.component(5)) for instance i; event
 * and payload are those of the event being handled (NULL when entering at
 * creation). */
static int run_actions(xfsm_engine *e, xfsm_instance *i, const Action *a, size_t n, const char *event,
                       json_object *payload) {
        xfsm_effect *f;
        int r;

        for (size_t k = 0; k < n; k++)
                switch (a[k].kind) {
                case ACTION_METHOD:
                        f = effect_add(e, XFSM_EFFECT_METHOD, i);
                        if (!f)
                                return -ENOMEM;
                        f->method = a[k].name;
                        f->event = event;
                        f->to = xfsm_instance_state(i);
                        break;
                case ACTION_ASSIGN:
                        for (size_t j = 0; j < a[k].n_assigns; j++) {
                                bool div_zero = false;
                                json_object *v =
                                        guard_eval_value(a[k].assigns[j].expr, i->context, payload, &div_zero);
                                r = context_set(e, i, NULL, a[k].assigns[j].key, v);
                                json_object_put(v);
                                if (r < 0)
                                        return r;
                        }
                        if (!effect_add(e, XFSM_EFFECT_CONTEXT_CHANGED, i))
                                return -ENOMEM;
                        break;
                case ACTION_SEND: {
                        json_object *p = a[k].payload ? json_template_render(a[k].payload, i->context)
                                                      : json_object_new_object();
                        if (!p)
                                return -ENOMEM;
                        if (a[k].has_delay)
                                r = timer_arm_send(e, i, &a[k], p);
                        else {
                                r = perform_send(e, i, &a[k], p);
                                json_object_put(p);
                        }
                        if (r < 0)
                                return r;
                        break;
                }
                case ACTION_CANCEL:
                        for (size_t t = i->n_timers; t > 0; t--)
                                if (i->timers[t - 1].send && streq_ptr(i->timers[t - 1].send->send_id, a[k].name))
                                        timer_remove(e, i, t - 1, true);
                        break;
                case ACTION_UNIT:
                case ACTION_EXEC:
                        f = effect_add(e, a[k].kind == ACTION_UNIT ? XFSM_EFFECT_UNIT : XFSM_EFFECT_EXEC, i);
                        if (!f)
                                return -ENOMEM;
                        f->action = &a[k];
                        f->event = event;
                        break;
                }
        return 0;
}

static int collect_by_creation(const void *a, const void *b) {
        const xfsm_instance *x = *(xfsm_instance *const *) a, *y = *(xfsm_instance *const *) b;
        return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Instances of machine m (in state, if not NULL) that event selects: rules
 * of the sender (may be none), and a transition of their own whose rules
 * hold. In creation order. */
static int select_in_version(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                             const MatchingRule *rules, size_t n_rules, json_object *payload, xfsm_instance ***pv,
                             size_t *pn, size_t *pcap) {
        xfsm_instance **v = *pv;
        size_t n = *pn, cap = *pcap;

        for (size_t s = 0; s < m->n_states; s++) {
                /* a statechart instance may be in several states: look at each once, through the first */
                if (m->statechart ? s > 0 : (state && state->index != s))
                        continue;
                for (xfsm_instance *i = m->statechart ? c->all_head : c->lists[m->index][s].head; i;
                     i = m->statechart ? i->all_next : i->state_next) {
                        const Transition *t, *ts[STATECHART_MAX_STATES];
                        size_t n_ts;
                        if (i->status != STATUS_ACTIVE || i->machine != m)
                                continue;
                        if (m->statechart && state && !engine_in_state(i, state->index))
                                continue;
                        if (n_rules > 0 && !json_rules_hold(rules, n_rules, payload, i->context))
                                continue;
                        if (m->statechart ? sc_choose(e, i, event, payload, true, ts, &n_ts) < 0
                                          : choose(e, i, event, payload, true, &t) < 0)
                                continue;
                        if (n == cap) {
                                xfsm_instance **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *nv);
                                if (!nv) {
                                        *pv = v;
                                        *pn = n;
                                        return -ENOMEM;
                                }
                                v = nv;
                        }
                        v[n++] = i;
                }
        }
        *pv = v;
        *pn = n;
        *pcap = cap;
        return 0;
}

/* ... in every version of the component (Reload keeps older ones for their
 * instances), machine and state matched by name; in creation order. */
static int select_receivers(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                            const MatchingRule *rules, size_t n_rules, json_object *payload,
                            xfsm_instance ***ret, size_t *ret_n) {
        xfsm_instance **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        for (size_t k = 0; k < e->n_comps && r >= 0; k++) {
                ComponentRt *cc = e->comps[k];
                const Machine *mm;
                const State *ss = NULL;
                if (cc == c)
                        mm = m, ss = state;
                else if (!streq(cc->def->name, c->def->name) || !(mm = component_find_machine(cc->def, m->name)))
                        continue;
                else if (state && !(ss = machine_find_state(mm, state->name)))
                        continue;
                r = select_in_version(e, cc, mm, ss, event, rules, n_rules, payload, &v, &n, &cap);
        }
        if (r < 0) {
                free(v);
                return r;
        }
        e->last_error[0] = 0;
        if (n > 1)
                qsort(v, n, sizeof *v, collect_by_creation);
        *ret = v;
        *ret_n = n;
        return 0;
}

static int emit_routed(xfsm_engine *e, const xfsm_instance *src, xfsm_routed_kind kind, const char *component,
                       const char *machine, const char *state, const char *event, json_object *payload,
                       const MatchingRule *rules, size_t n_rules) {
        xfsm_effect *f;
        xfsm_routed *r = malloc(sizeof *r);

        if (!r)
                return -ENOMEM;
        /* the strings and rules are the definition's, which outlives the step:
         * borrowed, not copied (a router that keeps the event copies it) */
        *r = (xfsm_routed) {
                .kind = kind,
                .source_component = src->comp->def->name,
                .source_seq = src->comp->seq + 1,
                .rule_index = e->step_routed++,
                .target_component = (char *) component,
                .target_machine = (char *) machine,
                .target_state = (char *) state,
                .event = (char *) event,
                .payload = json_object_get(payload),
                .rules = (MatchingRule *) rules,
                .n_rules = n_rules,
                .hops = e->step_hops + 1,
                .borrowed = true,
        };
        f = effect_add(e, XFSM_EFFECT_ROUTED, src);
        if (!f) {
                routed_free(r);
                return -ENOMEM;
        }
        f->routed = r;
        f->event = r->event;
        return 0;
}

static int fan_out_local(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                         const MatchingRule *rules, size_t n_rules, json_object *payload) {
        xfsm_instance **v = NULL;
        size_t n = 0;
        int r;

        r = select_receivers(e, c, m, state, event, rules, n_rules, payload, &v, &n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n && r >= 0; k++)
                r = enqueue(e, v[k], event, json_object_get(payload), NULL, true);
        free(v);
        return r;
}

static int run_cascades(xfsm_engine *e, xfsm_instance *i, const State *st) {
        int r = 0;

        for (size_t k = 0; k < st->n_cascades && r >= 0; k++) {
                const CascadingRule *cr = &st->cascades[k];
                json_object *payload = cr->payload ? json_template_render(cr->payload, i->context)
                                                   : json_object_new_object();
                if (!payload)
                        return -ENOMEM;
                if (!cr->target_component || streq(cr->target_component, i->comp->def->name)) {
                        const Machine *tm = component_find_machine(i->comp->def, cr->target_machine);
                        r = fan_out_local(e, i->comp, tm, machine_find_state(tm, cr->target_state), cr->event,
                                          cr->rules, cr->n_rules, payload);
                } else
                        r = emit_routed(e, i, XFSM_ROUTED_EVENT, cr->target_component, cr->target_machine,
                                        cr->target_state, cr->event, payload, cr->rules, cr->n_rules);
                json_object_put(payload);
        }
        return r;
}

static int notify_parent(xfsm_engine *e, xfsm_instance *i, const Transition *t, const char *previous) {
        const char *event;
        bool with_state, with_context;
        xfsm_instance *parent;
        json_object *p;

        if (!i->parent_id)
                return 0;
        if (t->notify_parent) {
                event = t->notify_event;
                with_state = t->notify_include_state;
                with_context = t->notify_include_context;
        } else if (i->machine->parent_link) {
                event = i->machine->parent_link_event;
                with_state = true;
                with_context = false;
        } else
                return 0;

        parent = instance_map_get(&e->map, i->parent_id);
        if (!parent || parent->dead) {
                fail(e, -XFSM_E_NO_SUCH_INSTANCE, "parent %s is gone", i->parent_id);
                refused(e, i, event, -XFSM_E_NO_SUCH_INSTANCE);
                return 0;
        }
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_object_object_add(p, "childInstanceId", json_object_new_string(i->id));
        json_object_object_add(p, "childMachine", json_object_new_string(i->machine->name));
        json_object_object_add(p, "previousState", json_object_new_string(previous));
        if (with_state)
                json_object_object_add(p, "newState", json_object_new_string(xfsm_instance_state(i)));
        if (with_context)
                json_object_object_add(p, "childContext", json_object_get(i->context));
        return enqueue(e, parent, event, p, NULL, false);
}

static int perform_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload) {
        xfsm_instance *parent;
        const Machine *tm;

        switch (a->to) {
        case SEND_SELF:
                return enqueue(e, i, a->event, json_object_get(payload), NULL, false);
        case SEND_PARENT:
                parent = i->parent_id ? instance_map_get(&e->map, i->parent_id) : NULL;
                if (!parent || parent->dead) {
                        fail(e, -XFSM_E_NO_SUCH_INSTANCE, "send to parent: %s", i->parent_id ? "the parent is gone"
                                                                                             : "no parent");
                        refused(e, i, a->event, -XFSM_E_NO_SUCH_INSTANCE);
                        return 0;
                }
                return enqueue(e, parent, a->event, json_object_get(payload), NULL, false);
        case SEND_COMPONENT:
                if (!streq(a->to_component, i->comp->def->name))
                        return emit_routed(e, i, XFSM_ROUTED_EVENT, a->to_component, a->to_machine, NULL, a->event,
                                           payload, a->rules, a->n_rules);
                _fallthrough_;
        case SEND_MACHINE:
                tm = component_find_machine(i->comp->def, a->to_machine);
                return fan_out_local(e, i->comp, tm, NULL, a->event, a->rules, a->n_rules, payload);
        }
        return 0;
}

/* The context a child or a cross_component target starts with: the mapping
 * if there is one, else the source context with the payload over it. */
static json_object *mapped_context(const Transition *t, json_object *ctx, json_object *payload) {
        json_object *o;

        if (t->n_mappings == 0)
                return json_merge_shallow(ctx, payload);
        o = json_object_new_object();
        for (size_t k = 0; o && k < t->n_mappings; k++) {
                json_object *v = json_mapping_source(ctx, payload, t->mappings[k].source_path);
                if (v)
                        json_object_object_add(o, t->mappings[k].target_key, json_object_get(v));
        }
        return o;
}

static bool singleton_taken(const xfsm_engine *e, const ComponentRt *c, const Machine *m) {
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

/* Steps 7 and 8 of a transition: an inter_machine child, a cross_component send. */
static int transition_targets(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload) {
        int r = 0;

        if (t->type == TRANSITION_INTER_MACHINE) {
                const Machine *cm = component_find_machine(i->comp->def, t->target_machine);
                if (singleton_taken(e, i->comp, cm)) {
                        fail(e, -XFSM_E_SINGLETON_EXISTS, "singleton %s exists already", cm->name);
                        refused(e, i, t->event, -XFSM_E_SINGLETON_EXISTS);
                } else {
                        json_object *ctx = mapped_context(t, i->context, payload);
                        if (!ctx)
                                return -ENOMEM;
                        r = create_instance(e, i->comp, cm, ctx, i, false, NULL);
                        if (r < 0)
                                return r;
                }
        }
        if (t->type == TRANSITION_CROSS_COMPONENT) {
                json_object *ctx = mapped_context(t, i->context, payload);
                xfsm_routed_kind kind = t->target_event ? XFSM_ROUTED_EVENT : XFSM_ROUTED_CREATE;
                if (!ctx)
                        return -ENOMEM;
                if (streq(t->target_component, i->comp->def->name)) {
                        const Machine *tm = component_find_machine(i->comp->def, t->target_machine);
                        if (kind == XFSM_ROUTED_CREATE)
                                r = singleton_taken(e, i->comp, tm)
                                            ? 0
                                            : create_instance(e, i->comp, tm, json_object_get(ctx), NULL, false, NULL);
                        else
                                r = fan_out_local(e, i->comp, tm, NULL, t->target_event, t->rules, t->n_rules, ctx);
                } else
                        r = emit_routed(e, i, kind, t->target_component, t->target_machine, NULL, t->target_event, ctx,
                                        t->rules, t->n_rules);
                json_object_put(ctx);
        }
        return r;
}

/* Step 9: a final or error state (top level, for a statechart) completes the instance. */
static int complete_instance(xfsm_engine *e, xfsm_instance *i, const State *st) {
        const Machine *m = i->machine;
        xfsm_effect *f;

        i->status = st->type == STATE_FINAL ? STATUS_COMPLETED : STATUS_ERROR;
        f = effect_add(e, XFSM_EFFECT_COMPLETED, i);
        if (!f)
                return -ENOMEM;
        f->status = xfsm_instance_status(i);
        f->to = st->name;
        if (!i->entry_point) {
                if (m->retention_drop) {
                        i->drop_at_commit = true;
                        if (!effect_add(e, XFSM_EFFECT_DROPPED, i))
                                return -ENOMEM;
                } else
                        i->retention_deadline = xfsm_engine_now(e) + m->retention_keep_ms;
        }
        return 0;
}

static int exec_transition(xfsm_engine *e, xfsm_instance *i, const Transition *t, const char *event,
                           json_object *payload) {
        const Machine *m = i->machine;
        const char *previous = m->states[i->state].name;
        bool self = t->from == t->to, internal = self && t->type == TRANSITION_INTERNAL;
        xfsm_effect *f;
        int r;

        r = touch(e, i);
        if (r < 0)
                return r;

        /* 1. exit actions of the source */
        if (!internal &&
            (r = run_actions(e, i, m->states[i->state].on_exit, m->states[i->state].n_on_exit, t->event, payload)) < 0)
                return r;
        /* 2. the transition's own method and actions */
        if (t->triggered_method) {
                f = effect_add(e, XFSM_EFFECT_METHOD, i);
                if (!f)
                        return -ENOMEM;
                f->method = t->triggered_method;
                f->event = t->event;
        }
        if (t->n_actions > 0 && (r = run_actions(e, i, t->actions, t->n_actions, t->event, payload)) < 0)
                return r;
        /* 3. payload merged into the context (shallow; not with matchingRules) */
        if (payload && t->n_rules == 0 && json_object_object_length(payload) > 0) {
                json_object_object_foreach(payload, k, v) if ((r = context_set(e, i, payload, k, v)) < 0) return r;
                if (!effect_add(e, XFSM_EFFECT_CONTEXT_CHANGED, i))
                        return -ENOMEM;
        }
        /* 4. state update */
        instance_set_state(i, t->to);
        i->updated_at = xfsm_engine_realtime(e);
        f = effect_add(e, XFSM_EFFECT_TRANSITION, i);
        if (!f)
                return -ENOMEM;
        f->from = previous;
        f->to = m->states[t->to].name;
        f->event = t->event;
        (void) event;

        /* 5. entry actions, cascades of the entered state */
        if (!internal) {
                if ((r = run_actions(e, i, m->states[t->to].on_entry, m->states[t->to].n_on_entry, t->event,
                                     payload)) < 0)
                        return r;
                if ((r = run_cascades(e, i, &m->states[t->to])) < 0)
                        return r;
        }
        /* 6. notifyParent / parentLink */
        if ((r = notify_parent(e, i, t, previous)) < 0)
                return r;
        /* 7. inter_machine child, 8. cross_component */
        if ((r = transition_targets(e, i, t, payload)) < 0)
                return r;
        /* 9. final / error */
        if (m->states[t->to].type == STATE_FINAL || m->states[t->to].type == STATE_ERROR)
                if ((r = complete_instance(e, i, &m->states[t->to])) < 0)
                        return r;
        /* 10. timeout scheduling (and auto transitions) */
        return schedule_timers(e, i, self);
}

static int create_instance(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx,
                           const xfsm_instance *parent, bool entry_point, xfsm_instance **ret) {
        xfsm_instance *i;
        xfsm_effect *f;
        Undo *u;
        int r;

        i = calloc(1, sizeof *i);
        if (!i) {
                json_object_put(ctx);
                return -ENOMEM;
        }
        uuid4_format(e->rng, i->id);
        i->machine = m;
        i->comp = c;
        i->state = m->initial;
        i->seq = ++e->next_inst_seq;
        i->created_at = i->updated_at = xfsm_engine_realtime(e);
        i->context = ctx ? ctx : json_object_new_object();
        i->entry_point = entry_point || (c->def->entry_machine == m && c->def->entry_mode == ENTRY_SINGLETON);
        i->touched = e->serial;
        if (parent) {
                i->parent_id = strdup(parent->id);
                i->parent_machine = parent->machine;
                if (!i->parent_id) {
                        instance_free(i);
                        return -ENOMEM;
                }
        }
        r = undo_push(e, &u);
        if (r < 0) {
                instance_free(i);
                return r;
        }
        while ((r = instance_map_put(&e->map, i)) == -EEXIST)
                uuid4_format(e->rng, i->id); /* 2^-122: but never two with one id */
        if (r < 0) {
                e->n_undo--;
                instance_free(i);
                return r;
        }
        u->kind = UNDO_CREATED;
        u->inst = i;
        instance_link(i);

        f = effect_add(e, XFSM_EFFECT_INSTANCE_CREATED, i);
        if (!f)
                return -ENOMEM;
        f->to = m->states[m->initial].name;
        size_t created_effect = e->step->n - 1;

        /* entering the initial state */
        if (m->statechart) {
                if ((r = sc_start(e, i)) < 0)
                        return r;
                e->step->v[created_effect].to = i->state_text;
        } else {
                if ((r = run_actions(e, i, m->states[m->initial].on_entry, m->states[m->initial].n_on_entry, NULL,
                                     NULL)) < 0)
                        return r;
                if ((r = run_cascades(e, i, &m->states[m->initial])) < 0)
                        return r;
                if (m->states[m->initial].type == STATE_FINAL || m->states[m->initial].type == STATE_ERROR)
                        i->status = m->states[m->initial].type == STATE_FINAL ? STATUS_COMPLETED : STATUS_ERROR;
                if ((r = schedule_timers(e, i, false)) < 0)
                        return r;
        }
        if (ret)
                *ret = i;
        return 0;
}

/* ---- statecharts ---------------------------------------------------------------
 *
 * A statechart instance's configuration is a bitset of active states (states
 * are numbered in document order, parents first, so a subtree is a range).
 * One event selects, for each active atomic state in document order, the
 * innermost transition that takes it (its own, else its ancestors'); a
 * transition whose exit set overlaps an earlier one's is left out. The
 * microstep then exits states innermost first (recording history), runs the
 * transitions' actions, and enters states outermost first, as SCXML does. */

static inline bool bit(const uint64_t *v, unsigned k) {
        return (v[k >> 6] >> (k & 63)) & 1;
}
static inline void bit_set(uint64_t *v, unsigned k) {
        v[k >> 6] |= 1ULL << (k & 63);
}
static inline void bit_clear(uint64_t *v, unsigned k) {
        v[k >> 6] &= ~(1ULL << (k & 63));
}

/* k is a proper descendant of a (a == -1: the machine itself) */
static bool sc_below(const Machine *m, unsigned k, int a) {
        return a < 0 || (k > (unsigned) a && k < m->states[a].end);
}

static bool sc_any(const uint64_t *v, unsigned from, unsigned to) {
        for (unsigned k = from; k < to; k++)
                if (bit(v, k))
                        return true;
        return false;
}

bool engine_in_state(const xfsm_instance *i, unsigned state) {
        return i->machine->statechart ? bit(i->active, state) : i->state == state;
}

/* The configuration as text: the active atomic states joined by ',',
 * interned in the component so that effects and histories may point at it. */
static int sc_refresh(xfsm_instance *i) {
        const Machine *m = i->machine;
        ComponentRt *c = i->comp;
        char buf[4096];
        size_t len = 0;
        int first_leaf = -1;

        for (unsigned k = 0; k < m->n_states && first_leaf < 0; k++)
                if (bit(i->active, k) && m->states[k].n_children == 0)
                        first_leaf = (int) k;
        if (first_leaf >= 0)
                instance_set_state(i, (unsigned) first_leaf);
        /* a configuration seen before: its text is there already */
        for (size_t k = 0; k < c->n_texts; k++)
                if (c->texts[k].machine == m && memcmp(c->texts[k].bits, i->active, m->n_words * sizeof(uint64_t)) == 0) {
                        i->state_text = c->texts[k].text;
                        return 0;
                }
        buf[0] = 0;
        for (unsigned k = 0; k < m->n_states; k++)
                if (bit(i->active, k) && m->states[k].n_children == 0) {
                        int n = snprintf(buf + len, sizeof buf - len, "%s%s", len ? "," : "", m->states[k].name);
                        if (n > 0 && (size_t) n < sizeof buf - len)
                                len += (size_t) n;
                }
        if (c->n_texts == c->cap_texts) {
                size_t cap = c->cap_texts ? c->cap_texts * 2 : 16;
                ConfigText *v = realloc(c->texts, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                c->texts = v;
                c->cap_texts = cap;
        }
        ConfigText *t = &c->texts[c->n_texts];
        *t = (ConfigText) { .machine = m, .text = strdup(buf) };
        if (!t->text)
                return -ENOMEM;
        memcpy(t->bits, i->active, m->n_words * sizeof(uint64_t));
        c->n_texts++;
        i->state_text = t->text;
        return 0;
}

/* Default entry of state s: itself, and below it its initial child, its
 * remembered history, or (parallel) every region. */
static void sc_add_descendants(const xfsm_instance *i, unsigned s, uint64_t *enter) {
        const Machine *m = i->machine;
        const State *st = &m->states[s];

        bit_set(enter, s);
        if (st->n_children == 0)
                return;
        if (st->parallel) {
                for (size_t c = 0; c < st->n_children; c++)
                        if (!sc_any(enter, st->children[c], m->states[st->children[c]].end))
                                sc_add_descendants(i, st->children[c], enter);
                return;
        }
        if (st->history) {
                const uint64_t *h = i->hist + (size_t) st->history_slot * m->n_words;
                if (sc_any(h, s + 1, st->end)) {
                        if (st->history == HISTORY_DEEP) {
                                for (unsigned k = s + 1; k < st->end; k++)
                                        if (bit(h, k))
                                                bit_set(enter, k);
                        } else
                                for (size_t c = 0; c < st->n_children; c++)
                                        if (bit(h, st->children[c]))
                                                sc_add_descendants(i, st->children[c], enter);
                        return;
                }
        }
        sc_add_descendants(i, (unsigned) st->initial, enter);
}

/* The ancestors of t below domain, and the other regions of parallel ones. */
static void sc_add_ancestors(const xfsm_instance *i, unsigned t, int domain, uint64_t *enter) {
        const Machine *m = i->machine;
        for (int a = m->states[t].parent; a >= 0 && a != domain; a = m->states[a].parent) {
                bit_set(enter, (unsigned) a);
                if (m->states[a].parallel)
                        for (size_t c = 0; c < m->states[a].n_children; c++) {
                                unsigned ch = m->states[a].children[c];
                                if (!sc_any(enter, ch, m->states[ch].end))
                                        sc_add_descendants(i, ch, enter);
                        }
        }
}

/* The state whose descendants a transition exits: the least common compound
 * ancestor of source and target (the source itself for an internal
 * transition to a descendant); -1 is the machine. */
static int sc_domain(const Machine *m, const Transition *t) {
        if (t->type == TRANSITION_INTERNAL && t->to != t->from && sc_below(m, t->to, (int) t->from))
                return (int) t->from;
        for (int a = m->states[t->from].parent; a >= 0; a = m->states[a].parent)
                if (!m->states[a].parallel && sc_below(m, t->to, a))
                        return a;
        return -1;
}

static void sc_exit_set(const xfsm_instance *i, const Transition *t, uint64_t *exit) {
        const Machine *m = i->machine;
        int d = sc_domain(m, t);
        unsigned from = d < 0 ? 0 : (unsigned) d + 1, to = d < 0 ? m->n_states : m->states[d].end;
        for (unsigned k = from; k < to; k++)
                if (bit(i->active, k))
                        bit_set(exit, k);
}

/* Select the transitions an event takes (see above). */
static int sc_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
                     const Transition **ret, size_t *ret_n) {
        const Machine *m = i->machine;
        uint64_t taken[STATECHART_WORDS] = {};
        unsigned n_event = 0;
        size_t n = 0;

        e->guard_div_zero = false;
        for (unsigned leaf = 0; leaf < m->n_states; leaf++) {
                const Transition *found = NULL;
                if (!bit(i->active, leaf) || m->states[leaf].n_children > 0)
                        continue;
                for (int s = (int) leaf; s >= 0 && !found; s = m->states[s].parent) {
                        const State *st = &m->states[s];
                        unsigned here = 0;
                        for (size_t k = 0; k < st->n_out; k++)
                                here += event_is(st->out[k], event);
                        n_event += here;
                        for (size_t k = 0; k < st->n_out && !found; k++) {
                                const Transition *t = st->out[k];
                                if (!event_is(t, event) || !guard_holds(e, t, i, payload))
                                        continue;
                                if (t->n_rules > 0 && (routed || here > 1) &&
                                    !json_rules_hold(t->rules, t->n_rules, payload, i->context))
                                        continue;
                                found = t;
                        }
                }
                if (!found)
                        continue;
                bool dup = false;
                for (size_t k = 0; k < n; k++)
                        dup = dup || ret[k] == found;
                if (dup || n >= STATECHART_MAX_STATES)
                        continue;
                uint64_t exit[STATECHART_WORDS] = {}, overlap = 0;
                sc_exit_set(i, found, exit);
                for (unsigned w = 0; w < m->n_words; w++)
                        overlap |= exit[w] & taken[w];
                if (overlap)
                        continue; /* an earlier transition exits these states: it wins */
                for (unsigned w = 0; w < m->n_words; w++)
                        taken[w] |= exit[w];
                ret[n++] = found;
        }
        if (n == 0) {
                if (n_event == 0)
                        return fail(e, -XFSM_E_NO_TRANSITION, "no transition from '%s' on '%s' in machine '%s'",
                                    i->state_text, event, m->name);
                return fail(e, -XFSM_E_GUARD_FAILED, "no guard holds for '%s' in '%s' of machine '%s'%s", event,
                            i->state_text, m->name, e->guard_div_zero ? " (a guard divided by zero)" : "");
        }
        *ret_n = n;
        return 0;
}

/* Leave state k: its timeouts go, unless it is entered again at once and
 * the timeout keeps running through self-loops. */
static void sc_exit_timers(xfsm_engine *e, xfsm_instance *i, unsigned k, const uint64_t *enter) {
        for (size_t t = i->n_timers; t > 0; t--) {
                const Transition *tr = i->timers[t - 1].t;
                if (!tr || tr->from != k)
                        continue;
                if (bit(enter, k) && tr->type == TRANSITION_TIMEOUT && !tr->reset_on_transition)
                        continue;
                timer_remove(e, i, t - 1, true);
        }
}

static int sc_enter_timers(xfsm_engine *e, xfsm_instance *i, unsigned k) {
        const State *st = &i->machine->states[k];
        int r = 0;

        if (!st->has_timers && !st->has_auto)
                return 0;
        for (size_t n = 0; n < st->n_out && r >= 0; n++) {
                const Transition *t = st->out[n];
                bool kept = false;
                if (t->type != TRANSITION_TIMEOUT && t->type != TRANSITION_AUTO)
                        continue;
                if (t->type == TRANSITION_AUTO && t->timeout_ms == 0) {
                        r = enqueue(e, i, t->event, NULL, t, false);
                        continue;
                }
                for (size_t j = 0; j < i->n_timers; j++)
                        kept = kept || i->timers[j].t == t;
                if (!kept)
                        r = timer_arm(e, i, t);
        }
        return r;
}

/* Enter the states of enter (not yet active), outermost first. */
static int sc_enter(xfsm_engine *e, xfsm_instance *i, const uint64_t *enter, const char *event, json_object *payload) {
        const Machine *m = i->machine;
        int r;

        for (unsigned k = 0; k < m->n_states; k++) {
                const State *st = &m->states[k];
                if (!bit(enter, k))
                        continue;
                bit_set(i->active, k);
                if ((r = run_actions(e, i, st->on_entry, st->n_on_entry, event, payload)) < 0 ||
                    (r = run_cascades(e, i, st)) < 0 || (r = sc_enter_timers(e, i, k)) < 0)
                        return r;
                if (st->type != STATE_FINAL && st->type != STATE_ERROR)
                        continue;
                if (st->parent < 0) {
                        if ((r = complete_instance(e, i, st)) < 0)
                                return r;
                        continue;
                }
                /* a final child: done.state.<Parent>, and for a parallel grandparent once
                 * every region is done */
                const State *p = &m->states[st->parent];
                if (st->type == STATE_FINAL &&
                    (r = enqueue(e, i, p->done_event, NULL, NULL, false)) < 0)
                        return r;
                if (st->type == STATE_FINAL && p->parent >= 0 && m->states[p->parent].parallel) {
                        const State *g = &m->states[p->parent];
                        bool all = true;
                        for (size_t c = 0; c < g->n_children && all; c++) {
                                const State *region = &m->states[g->children[c]];
                                bool done = false;
                                for (size_t x = 0; x < region->n_children; x++)
                                        done = done || ((bit(i->active, region->children[x]) || bit(enter, region->children[x])) &&
                                                        m->states[region->children[x]].type == STATE_FINAL);
                                all = done;
                        }
                        if (all && (r = enqueue(e, i, g->done_event, NULL, NULL, false)) < 0)
                                return r;
                }
        }
        return 0;
}

static int sc_microstep(xfsm_engine *e, xfsm_instance *i, const Transition **ts, size_t n, const char *event,
                        json_object *payload) {
        const Machine *m = i->machine;
        uint64_t exit[STATECHART_WORDS] = {}, enter[STATECHART_WORDS] = {};
        const char *previous = i->state_text;
        xfsm_effect *f;
        int r;

        r = touch(e, i);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n; k++)
                sc_exit_set(i, ts[k], exit);
        /* history is what was active when the state was left */
        for (unsigned k = 0; k < m->n_states; k++) {
                const State *st = &m->states[k];
                if (!bit(exit, k) || !st->history)
                        continue;
                uint64_t *h = i->hist + (size_t) st->history_slot * m->n_words;
                for (unsigned x = k + 1; x < st->end; x++) {
                        bit_clear(h, x);
                        if (bit(i->active, x) &&
                            (st->history == HISTORY_DEEP || m->states[x].parent == (int) k))
                                bit_set(h, x);
                }
        }
        for (size_t k = 0; k < n; k++) {
                int d = sc_domain(m, ts[k]);
                sc_add_descendants(i, ts[k]->to, enter);
                sc_add_ancestors(i, ts[k]->to, d, enter);
        }
        /* exit, innermost (last in document order) first */
        for (unsigned k = m->n_states; k > 0; k--) {
                const State *st = &m->states[k - 1];
                if (!bit(exit, k - 1))
                        continue;
                if ((r = run_actions(e, i, st->on_exit, st->n_on_exit, event, payload)) < 0)
                        return r;
                sc_exit_timers(e, i, k - 1, enter);
                bit_clear(i->active, k - 1);
        }
        /* the transitions' own methods and actions, then the payload */
        for (size_t k = 0; k < n; k++) {
                if (ts[k]->triggered_method) {
                        f = effect_add(e, XFSM_EFFECT_METHOD, i);
                        if (!f)
                                return -ENOMEM;
                        f->method = ts[k]->triggered_method;
                        f->event = ts[k]->event;
                }
                if ((r = run_actions(e, i, ts[k]->actions, ts[k]->n_actions, event, payload)) < 0)
                        return r;
        }
        if (payload && ts[0]->n_rules == 0 && json_object_object_length(payload) > 0) {
                json_object_object_foreach(payload, key, v) if ((r = context_set(e, i, payload, key, v)) < 0) return r;
                if (!effect_add(e, XFSM_EFFECT_CONTEXT_CHANGED, i))
                        return -ENOMEM;
        }
        if ((r = sc_enter(e, i, enter, event, payload)) < 0)
                return r;
        if ((r = sc_refresh(i)) < 0)
                return r;
        i->updated_at = xfsm_engine_realtime(e);
        f = effect_add(e, XFSM_EFFECT_TRANSITION, i);
        if (!f)
                return -ENOMEM;
        f->from = previous;
        f->to = i->state_text;
        f->event = ts[0]->event;
        for (size_t k = 0; k < n; k++) {
                if ((r = notify_parent(e, i, ts[k], previous)) < 0 || (r = transition_targets(e, i, ts[k], payload)) < 0)
                        return r;
        }
        if (i->status != STATUS_ACTIVE)
                timers_cancel_all(e, i, true);
        return 0;
}

static int sc_process(xfsm_engine *e, Item *it) {
        xfsm_instance *i = it->inst;
        const Transition *ts[STATECHART_MAX_STATES];
        size_t n = 0;
        int r;

        if (it->forced) {
                if (!bit(i->active, it->forced->from))
                        return 0; /* left the state meanwhile */
                if (!guard_holds(e, it->forced, i, it->payload))
                        return fail(e, -XFSM_E_GUARD_FAILED, "guard of '%s' does not hold", it->forced->event);
                ts[0] = it->forced;
                n = 1;
        } else if ((r = sc_choose(e, i, it->event, it->payload, it->routed, ts, &n)) < 0)
                return r;
        return sc_microstep(e, i, ts, n, it->event, it->payload);
}

/* A statechart instance comes to life in the initial state and its default descendants. */
static int sc_start(xfsm_engine *e, xfsm_instance *i) {
        const Machine *m = i->machine;
        uint64_t enter[STATECHART_WORDS] = {};
        int r;

        i->active = calloc(m->n_words, sizeof(uint64_t));
        i->hist = m->n_history ? calloc((size_t) m->n_history * m->n_words, sizeof(uint64_t)) : NULL;
        if (!i->active || (m->n_history && !i->hist))
                return -ENOMEM;
        sc_add_descendants(i, m->initial, enter);
        sc_add_ancestors(i, m->initial, -1, enter);
        if ((r = sc_enter(e, i, enter, NULL, NULL)) < 0)
                return r;
        return sc_refresh(i);
}

/* Handle one queued event. Refusals of raised events are effects; the
 * caller decides about the first (the step's own) event. */
static int process_item(xfsm_engine *e, Item *it) {
        const Transition *t = it->forced;
        xfsm_instance *i = it->inst;
        int r;

        if (++e->microsteps > XFSM_MAX_MICROSTEPS)
                return fail(e, -XFSM_E_LOOP, "more than %d microsteps for one event: loop refused",
                            XFSM_MAX_MICROSTEPS);
        if (i->dead || i->drop_at_commit)
                return fail(e, -XFSM_E_NO_SUCH_INSTANCE, "instance %s is gone", i->id);
        if (i->status != STATUS_ACTIVE)
                return fail(e, -XFSM_E_NO_TRANSITION, "instance %s is %s in state '%s': no transition", i->id,
                            xfsm_instance_status(i), xfsm_instance_state(i));
        if (i->machine->statechart)
                return sc_process(e, it);
        if (t) {
                if (t->from != i->state)
                        return 0; /* left the state meanwhile */
                if (!guard_holds(e, t, i, it->payload))
                        return fail(e, -XFSM_E_GUARD_FAILED, "guard of '%s' does not hold%s", t->event,
                                    e->guard_div_zero ? " (it divided by zero)" : "");
        } else if ((r = choose(e, i, it->event, it->payload, it->routed, &t)) < 0)
                return r;
        return exec_transition(e, i, t, it->event, it->payload);
}

static bool is_fatal(int r) {
        return r == -ENOMEM || r == -XFSM_E_LOOP || r == -E2BIG;
}

/* Run the queue to completion. Refused raised events become effects. */
static int drain(xfsm_engine *e) {
        while (e->qh < e->qt) {
                Item it = e->q[e->qh++];
                int r = process_item(e, &it);
                if (r < 0) {
                        if (is_fatal(r)) {
                                json_object_put(it.payload);
                                return r;
                        }
                        /* a done.state event nobody waits for is discarded, as in SCXML */
                        if (!(r == -XFSM_E_NO_TRANSITION && strncmp(it.event, "done.state.", 11) == 0))
                                refused(e, it.inst->dead ? NULL : it.inst, it.event, r);
                }
                json_object_put(it.payload);
        }
        e->qh = e->qt = 0;
        return 0;
}

/* ---- routed events in ------------------------------------------------------ */

static int route_default(void *userdata, xfsm_engine *e, const xfsm_routed *r) {
        (void) userdata;
        if (!find_comp(e, r->target_component))
                return -XFSM_E_NO_SUCH_COMPONENT; /* stays visible as an effect */
        if (e->lt == e->lcap) {
                if (e->lh > 0) {
                        memmove(e->local, e->local + e->lh, (e->lt - e->lh) * sizeof *e->local);
                        e->lt -= e->lh;
                        e->lh = 0;
                } else {
                        size_t cap = e->lcap ? e->lcap * 2 : 16;
                        xfsm_routed **v = realloc(e->local, cap * sizeof *v);
                        if (!v)
                                return -ENOMEM;
                        e->local = v;
                        e->lcap = cap;
                }
        }
        e->local[e->lt] = routed_copy(r);
        if (!e->local[e->lt])
                return -ENOMEM;
        e->lt++;
        return 0;
}

int xfsm_engine_route_local(xfsm_engine *e, const xfsm_routed *r) {
        return route_default(NULL, e, r);
}

/* Still in the state of that name (of its own definition: versions differ)? */
static bool in_state_named(const xfsm_instance *i, const char *name) {
        const State *st = machine_find_state(i->machine, name);
        if (!st)
                return false;
        return i->machine->statechart ? engine_in_state(i, st->index) : i->state == st->index;
}

/* Deliver r (owned) as one step. */
static int deliver(xfsm_engine *e, xfsm_routed *r, xfsm_step_cause cause, unsigned *ret_delivered) {
        ComponentRt *c = find_comp(e, r->target_component);
        const Machine *m;
        const State *st = NULL;
        unsigned delivered = 0;
        xfsm_instance **v = NULL;
        size_t n = 0;
        int k;

        if (!c) {
                k = fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s' here", r->target_component);
                routed_free(r);
                return k;
        }
        m = component_find_machine(c->def, r->target_machine);
        if (!m) {
                k = fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in component '%s'", r->target_machine,
                         c->def->name);
                routed_free(r);
                return k;
        }
        if (r->target_state && !streq(r->target_state, "*") && !(st = machine_find_state(m, r->target_state))) {
                k = fail(e, -XFSM_E_INVALID_ARGUMENT, "machine '%s' has no state '%s'", m->name, r->target_state);
                routed_free(r);
                return k;
        }

        begin_step(e, cause, c, NULL, r->event);
        e->step->routed = r;
        e->step_hops = r->hops;

        if (r->hops > XFSM_MAX_HOPS) {
                fail(e, -XFSM_E_LOOP, "routed event '%s' took more than %d hops: loop refused", r->event ?: "create",
                     XFSM_MAX_HOPS);
                refused(e, NULL, r->event, -XFSM_E_LOOP);
                commit(e);
                e->step_hops = 0;
                return -XFSM_E_LOOP;
        }

        if (r->kind == XFSM_ROUTED_CREATE) {
                Savepoint sp = savepoint(e);
                int q;
                if (singleton_taken(e, c, m)) {
                        fail(e, -XFSM_E_SINGLETON_EXISTS, "singleton %s exists already", m->name);
                        refused(e, NULL, NULL, -XFSM_E_SINGLETON_EXISTS);
                } else {
                        json_object *ctx = json_merge_shallow(r->payload, NULL);
                        q = ctx ? create_instance(e, c, m, ctx, NULL, false, NULL) : -ENOMEM;
                        if (q >= 0)
                                q = drain(e);
                        if (q < 0) {
                                rollback(e, sp);
                                refused(e, NULL, NULL, q);
                        } else
                                delivered = 1;
                }
        } else {
                k = select_receivers(e, c, m, st, r->event, r->rules, r->n_rules, r->payload, &v, &n);
                if (k < 0) {
                        rollback(e, (Savepoint) {});
                        e->step_hops = 0;
                        return k;
                }
                for (size_t j = 0; j < n; j++) {
                        xfsm_instance *i = v[j];
                        Savepoint sp = savepoint(e);
                        Item it = { i, r->event, json_object_get(r->payload), NULL, true };
                        int q;

                        if (i->dead || i->drop_at_commit ||
                            (st && (i->machine == m ? i->state != st->index : !in_state_named(i, st->name)))) {
                                json_object_put(it.payload);
                                continue; /* moved meanwhile */
                        }
                        q = process_item(e, &it);
                        json_object_put(it.payload);
                        if (q >= 0)
                                q = drain(e);
                        if (q < 0) {
                                rollback(e, sp);
                                refused(e, i, r->event, q);
                        } else
                                delivered++;
                }
                free(v);
        }
        commit(e);
        e->step_hops = 0;
        if (ret_delivered)
                *ret_delivered = delivered;
        return 0;
}

/* Deliver what the default router queued, in order, each its own step. */
static void deliver_local(xfsm_engine *e) {
        if (e->delivering)
                return;
        e->delivering = true;
        while (e->lh < e->lt) {
                xfsm_routed *r = e->local[e->lh++];
                (void) deliver(e, r, XFSM_STEP_ROUTED, NULL);
        }
        e->lh = e->lt = 0;
        e->delivering = false;
        e->step = &e->steps[0];
}

int xfsm_engine_deliver(xfsm_engine *e, const xfsm_routed *r, unsigned *ret_delivered) {
        xfsm_routed *c = routed_copy(r);
        int k;

        if (!c)
                return -ENOMEM;
        k = deliver(e, c, XFSM_STEP_ROUTED, ret_delivered);
        deliver_local(e);
        return k;
}

int xfsm_engine_deliver_json(xfsm_engine *e, const char *routed_json, unsigned *ret_delivered) {
        xfsm_routed *r;
        int k;

        k = routed_from_json(routed_json, &r);
        if (k < 0)
                return fail(e, k, "routed event is not valid");
        k = deliver(e, r, XFSM_STEP_ROUTED, ret_delivered);
        deliver_local(e);
        return k;
}

/* ---- public entry points ---------------------------------------------------- */

static int parse_payload(xfsm_engine *e, const char *text, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t len;

        *ret = NULL;
        if (!text)
                return 0;
        len = strlen(text);
        if (len > XFSM_MAX_PAYLOAD)
                return fail(e, -XFSM_E_INVALID_PAYLOAD, "payload larger than 1 MiB");
        if (!e->tok) {
                e->tok = json_tokener_new();
                if (!e->tok)
                        return -ENOMEM;
                json_tokener_set_flags(e->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        }
        tok = e->tok;
        json_tokener_reset(tok);
        o = json_tokener_parse_ex(tok, text, (int) len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            (size_t) json_tokener_get_parse_end(tok) != len) {
                enum json_tokener_error err = json_tokener_get_error(tok);
                json_object_put(o);
                return fail(e, -XFSM_E_INVALID_PAYLOAD, "payload is not valid JSON: %s",
                            err == json_tokener_continue ? "unexpected end of input"
                                                         : json_tokener_error_desc(err));
        }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return fail(e, -XFSM_E_INVALID_PAYLOAD, "payload must be a JSON object");
        }
        *ret = o;
        return 0;
}

static ComponentRt *comp_for_machine(xfsm_engine *e, const char *component, const char *machine, int *ret_err) {
        if (component) {
                ComponentRt *c = find_comp(e, component);
                if (!c)
                        *ret_err = fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s'", component);
                return c;
        }
        for (size_t k = 0; k < e->n_comps; k++)
                if (!e->comps[k]->retired && component_find_machine(e->comps[k]->def, machine))
                        return e->comps[k];
        *ret_err = fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in any component", machine);
        return NULL;
}

/* Create an instance (taking ctx) as one step; ret_id gets its id. */
static int create_step(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx, bool entry_point,
                       char ret_id[ID_LEN + 1]) {
        xfsm_instance *i = NULL;
        int r;

        begin_step(e, XFSM_STEP_CREATE, c, NULL, NULL);
        r = create_instance(e, c, m, ctx, NULL, entry_point, &i);
        if (r >= 0) {
                memcpy(e->step->id, i->id, ID_LEN + 1);
                e->step->has_id = true;
                if (ret_id)
                        memcpy(ret_id, i->id, ID_LEN + 1);
                r = drain(e);
        }
        if (r < 0) {
                rollback(e, (Savepoint) {});
                return r;
        }
        commit(e);
        deliver_local(e);
        return 0;
}

int xfsm_engine_create(xfsm_engine *e, const char *component, const char *machine, const char *context_json,
                       xfsm_instance **ret) {
        ComponentRt *c;
        const Machine *m;
        json_object *ctx;
        char id[ID_LEN + 1];
        int r = 0;

        if (!machine || strlen(machine) > XFSM_MAX_NAME)
                return fail(e, -XFSM_E_INVALID_ARGUMENT, "machine name missing or too long");
        c = comp_for_machine(e, component, machine, &r);
        if (!c)
                return r;
        m = component_find_machine(c->def, machine);
        if (!m)
                return fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in component '%s'", machine, c->def->name);
        if (singleton_taken(e, c, m))
                return fail(e, -XFSM_E_SINGLETON_EXISTS, "the singleton entry point %s of %s exists already",
                            machine, c->def->name);
        r = parse_payload(e, context_json, &ctx);
        if (r < 0)
                return r;

        r = create_step(e, c, m, ctx, false, id);
        if (r < 0)
                return r;
        if (ret)
                *ret = instance_map_get(&e->map, id);
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
                return fail(e, -XFSM_E_INVALID_ARGUMENT, "event name must be 1-255 printable characters");
        r = parse_payload(e, payload_json, &payload);
        if (r < 0)
                return r;

        begin_step(e, XFSM_STEP_SEND, i->comp, i->id, event);
        e->step->event_buf = strdup(event);
        if (!e->step->event_buf) {
                json_object_put(payload);
                return -ENOMEM;
        }
        e->step->event = e->step->event_buf;
        it = (Item) { i, e->step->event_buf, payload, NULL, false };
        r = process_item(e, &it);
        json_object_put(payload);
        if (r >= 0)
                r = drain(e);
        if (r < 0) {
                char msg[sizeof e->last_error];
                memcpy(msg, e->last_error, sizeof msg);
                rollback(e, (Savepoint) {});
                memcpy(e->last_error, msg, sizeof msg);
                return r;
        }
        memcpy(id, i->id, sizeof id);
        state = xfsm_instance_state(i);
        commit(e); /* may drop i */
        if (e->lh < e->lt) {
                deliver_local(e);
                i = instance_map_get(&e->map, id);
                if (i)
                        state = xfsm_instance_state(i);
        }
        if (ret_state)
                *ret_state = state;
        return 0;
}

int xfsm_engine_send(xfsm_engine *e, const char *id, const char *event, const char *payload_json,
                     const char **ret_state) {
        xfsm_instance *i;

        if (!id || strlen(id) != ID_LEN)
                return fail(e, -XFSM_E_NO_SUCH_INSTANCE, "no instance '%s'", id ?: "");
        i = instance_map_get(&e->map, id);
        if (!i)
                return fail(e, -XFSM_E_NO_SUCH_INSTANCE, "no instance '%s'", id);
        return xfsm_instance_send(e, i, event, payload_json, ret_state);
}

int xfsm_engine_broadcast(xfsm_engine *e, const char *component, const char *machine, const char *state,
                          const char *event, const char *payload_json, unsigned *ret_delivered) {
        ComponentRt *c;
        xfsm_routed *r;
        json_object *payload;
        int k = 0;

        if (!name_is_event(event))
                return fail(e, -XFSM_E_INVALID_ARGUMENT, "event name must be 1-255 printable characters");
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
        if (!r->source_component || !r->target_component || !r->target_machine || !r->event) {
                routed_free(r);
                return -ENOMEM;
        }
        k = deliver(e, r, XFSM_STEP_BROADCAST, ret_delivered);
        deliver_local(e);
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
                r = create_step(e, c, m, NULL, true, NULL);
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

/* ---- timers due ------------------------------------------------------------ */

static int fire_one(xfsm_engine *e, const HeapEntry *h) {
        xfsm_instance *i = h->inst;
        Timer fired = {};
        bool found = false;
        Savepoint sp;
        int r;

        heap_pop(&e->timers);
        if (!i->dead)
                for (size_t k = 0; k < i->n_timers; k++)
                        if (i->timers[k].seq == h->seq) {
                                fired = i->timers[k];
                                found = true;
                        }
        if (!found) {
                instance_heap_unref(i);
                return 0; /* cancelled meanwhile */
        }
        i->heap_refs--;

        begin_step(e, XFSM_STEP_TIMER, i->comp, i->id, fired.event);
        r = touch(e, i);
        if (r < 0)
                return r;
        json_object_get(fired.payload); /* the timer goes, the send keeps its payload */
        for (size_t k = 0; k < i->n_timers; k++)
                if (i->timers[k].seq == h->seq) {
                        timer_remove(e, i, k, false);
                        break;
                }
        sp = savepoint(e);
        if (fired.send)
                r = perform_send(e, i, fired.send, fired.payload);
        else {
                Item it = { i, fired.event, NULL, fired.t, false };
                r = process_item(e, &it);
        }
        json_object_put(fired.payload);
        if (r >= 0)
                r = drain(e);
        if (r < 0) {
                rollback(e, sp);
                refused(e, i, fired.event, r);
        }
        commit(e);
        deliver_local(e);
        return 1;
}

static void expire_retention(xfsm_engine *e, uint64_t now) {
        HeapEntry h;
        ComponentRt *c = NULL;

        while (heap_peek(&e->retention, &h) && h.deadline <= now) {
                xfsm_instance *i = h.inst;
                heap_pop(&e->retention);
                if (i->dead || i->retention_deadline != h.deadline || i->status == STATUS_ACTIVE) {
                        instance_heap_unref(i);
                        continue;
                }
                if (c != i->comp) {
                        if (c)
                                commit(e);
                        c = i->comp;
                        begin_step(e, XFSM_STEP_RETENTION, c, NULL, NULL);
                }
                if (touch(e, i) < 0) {
                        instance_heap_unref(i);
                        continue;
                }
                i->drop_at_commit = true;
                effect_add(e, XFSM_EFFECT_DROPPED, i);
                instance_heap_unref(i);
        }
        if (c)
                commit(e);
}

int xfsm_engine_run_due(xfsm_engine *e) {
        uint64_t now = xfsm_engine_now(e);
        HeapEntry h;
        int n = 0, r;

        while (heap_peek(&e->timers, &h) && h.deadline <= now) {
                r = fire_one(e, &h);
                if (r < 0)
                        return r;
                n += r;
        }
        expire_retention(e, now);
        return n;
}

int xfsm_engine_advance(xfsm_engine *e, uint64_t ms) {
        uint64_t target;
        HeapEntry h;
        int n = 0, r;

        if (!e->virtual_clock)
                return -EOPNOTSUPP;
        target = e->vnow + ms;
        while (heap_peek(&e->timers, &h) && h.deadline <= target) {
                if (h.deadline > e->vnow)
                        e->vnow = h.deadline;
                r = fire_one(e, &h);
                if (r < 0)
                        return r;
                n += r;
        }
        e->vnow = target;
        expire_retention(e, target);
        return n;
}

bool xfsm_engine_next_deadline(const xfsm_engine *e, uint64_t *ret) {
        HeapEntry h;
        if (!heap_peek(&e->timers, &h))
                return false;
        *ret = h.deadline;
        return true;
}

bool xfsm_engine_next_retention(const xfsm_engine *e, uint64_t *ret) {
        HeapEntry h;
        if (!heap_peek(&e->retention, &h))
                return false;
        *ret = h.deadline;
        return true;
}

const Component *engine_component(const xfsm_engine *e, size_t i) {
        ComponentRt *c = nth_current(e, i);
        return c ? c->def : NULL;
}

/* ---- instance images: what the daemon persists, and recovery ----------------- */

/* The image of i, its history from the log_from-th entry on as its last key
 * (see xfsm_instance_to_json()). */
static char *image_json(const xfsm_instance *i, const char *log_key, size_t log_from) {
        const Machine *m = i->machine;
        json_object *o = json_object_new_object(), *timers;
        const char *text;
        size_t len;
        char *s;

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(i->id));
        json_object_object_add(o, "component", json_object_new_string(i->comp->def->name));
        json_object_object_add(o, "machine", json_object_new_string(m->name));
        json_object_object_add(o, "version", json_object_new_string(i->comp->def->hash));
        json_object_object_add(o, "seq", json_object_new_uint64(i->seq));
        if (m->statechart) {
                json_object *a = json_object_new_array(), *h = json_object_new_object();
                for (unsigned k = 0; k < m->n_states; k++)
                        if (bit(i->active, k))
                                json_object_array_add(a, json_object_new_string(m->states[k].name));
                json_object_object_add(o, "active", a);
                for (unsigned k = 0; k < m->n_states; k++) {
                        const State *st = &m->states[k];
                        if (!st->history)
                                continue;
                        const uint64_t *hv = i->hist + (size_t) st->history_slot * m->n_words;
                        json_object *l = json_object_new_array();
                        for (unsigned x = k + 1; x < st->end; x++)
                                if (bit(hv, x))
                                        json_object_array_add(l, json_object_new_string(m->states[x].name));
                        json_object_object_add(h, st->name, l);
                }
                json_object_object_add(o, "history", h);
        } else
                json_object_object_add(o, "state", json_object_new_string(m->states[i->state].name));
        json_object_object_add(o, "status", json_object_new_string(xfsm_instance_status(i)));
        json_object_object_add(o, "createdAt", json_object_new_uint64(i->created_at));
        json_object_object_add(o, "updatedAt", json_object_new_uint64(i->updated_at));
        if (i->entry_point)
                json_object_object_add(o, "entryPoint", json_object_new_boolean(1));
        if (i->parent_id) {
                json_object_object_add(o, "parentId", json_object_new_string(i->parent_id));
                json_object_object_add(o, "parentMachine", json_object_new_string(i->parent_machine->name));
        }
        if (i->retention_deadline)
                json_object_object_add(o, "retentionDeadline", json_object_new_uint64(i->retention_deadline));
        json_object_object_add(o, "context", json_object_get(i->context));
        timers = json_object_new_array();
        for (unsigned k = 0; k < i->n_timers; k++) {
                const Timer *t = &i->timers[k];
                json_object *j = json_object_new_object();
                if (t->t)
                        json_object_object_add(j, "transition", json_object_new_int((int) t->t->index));
                else {
                        json_object_object_add(j, "send", json_object_new_int((int) t->send->id));
                        json_object_object_add(j, "payload", json_object_get(t->payload));
                }
                json_object_object_add(j, "event", json_object_new_string(t->event));
                json_object_object_add(j, "deadline", json_object_new_uint64(t->deadline));
                json_object_object_add(j, "realtimeDeadline", json_object_new_uint64(t->realtime_deadline));
                json_object_array_add(timers, j);
        }
        json_object_object_add(o, "timers", timers);
        /* the history last, written here: a superseded snapshot line gives it back without being parsed
         * (staged_line_log()) */
        text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        s = text ? history_image(text, len, log_key, i->log, log_from) : NULL;
        json_object_put(o);
        return s;
}

char *xfsm_instance_to_json(const xfsm_instance *i) {
        assert(i);
        return image_json(i, "log", 0);
}

char *xfsm_step_instance_json(const xfsm_step *s, const xfsm_instance *i) {
        size_t added = 0, n;

        assert(s);
        assert(i);

        /* the step appended one entry per transition of i, unless the limits dropped some again */
        for (size_t k = 0; k < s->n; k++)
                added += s->v[k].kind == XFSM_EFFECT_TRANSITION && streq(s->v[k].id, i->id);
        n = history_n(i->log);
        return image_json(i, "logAdded", n - (added < n ? added : n));
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static uint64_t juint(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* ---- history in images, found without json-c ----------------------------------------
 *
 * json-c costs about a hundred instructions a byte, and history is most of
 * the bytes of an image once its instance has some. Recovery finds the
 * history key of each image by following strings and nesting only, gives
 * json-c the rest, and reads the history itself (history_append_text()):
 * still one parse of each record or line, shared out. A key's quotes are
 * never inside a string (they would be escaped), so following strings is
 * enough to know where keys are. */

typedef struct LogRef {
        const char *text; /* the array, from [ to ] */
        size_t len;
        bool added; /* "logAdded": what one step appended to the history the instance had */
} LogRef;

typedef struct LogSpan {
        size_t image;      /* which image of a record's "instances" */
        size_t start, end; /* the text cut out: ,"log":[...] */
        LogRef log;
} LogSpan;

/* Past the string that begins at p (its opening quote); NULL if it does not end. */
static const char *skip_string(const char *p, const char *end) {
        for (p++; p < end;) {
                const char *q = memchr(p, '"', (size_t) (end - p)), *b;
                if (!q)
                        return NULL;
                /* escaped when an odd number of backslashes comes before it */
                for (b = q; b > p && b[-1] == '\\'; b--)
                        ;
                if ((q - b) % 2 == 0)
                        return q + 1;
                p = q + 1;
        }
        return NULL;
}

/* Past the array that begins at p (its [); NULL if it does not end. */
static const char *skip_array(const char *p, const char *end) {
        unsigned depth = 0;

        while (p < end) {
                if (*p == '"') {
                        p = skip_string(p, end);
                        if (!p)
                                return NULL;
                        continue;
                }
                if (*p == '[' || *p == '{')
                        depth++;
                else if ((*p == ']' || *p == '}') && --depth == 0)
                        return p + 1;
                p++;
        }
        return NULL;
}

/* The key at p (past its opening quote, klen bytes) names a history: 1 "log", 2 "logAdded", 0 neither. */
static int log_key(const char *p, size_t klen) {
        if (klen == 3 && memcmp(p, "log", 3) == 0)
                return 1;
        if (klen == 8 && memcmp(p, "logAdded", 8) == 0)
                return 2;
        return 0;
}

/* The history keys of the images in a record's "instances" (written compact,
 * after a comma: the others are left to json-c), into e->spans in text
 * order. A record that is not JSON gives none: json-c says what is wrong. */
static int record_log_spans(xfsm_engine *e, const char *s, size_t len, size_t *ret_n) {
        const char *p = s, *end = s + len;
        bool instances_key = false, in_instances = false;
        size_t n = 0, images = 0;
        unsigned depth = 0;

        *ret_n = 0;
        while (p < end) {
                switch (*p) {
                case '"': {
                        const char *q = skip_string(p, end);
                        const char *close;
                        int kind;

                        if (!q)
                                return 0;
                        if (q >= end || *q != ':') {
                                p = q;
                                continue;
                        }
                        if (depth == 1)
                                instances_key = q - p == 11 && memcmp(p + 1, "instances", 9) == 0;
                        else if (depth == 3 && in_instances && p[-1] == ',' && q + 1 < end && q[1] == '[' &&
                                 (kind = log_key(p + 1, (size_t) (q - p) - 2)) > 0) {
                                close = skip_array(q + 1, end);
                                if (!close)
                                        return 0;
                                if (n == e->cap_spans) {
                                        size_t cap = e->cap_spans ? e->cap_spans * 2 : 16;
                                        LogSpan *v = realloc(e->spans, cap * sizeof *v);
                                        if (!v)
                                                return -ENOMEM;
                                        e->spans = v;
                                        e->cap_spans = cap;
                                }
                                e->spans[n++] = (LogSpan) {
                                        .image = images - 1,
                                        .start = (size_t) (p - 1 - s),
                                        .end = (size_t) (close - s),
                                        .log = { q + 1, (size_t) (close - (q + 1)), kind == 2 },
                                };
                                p = close;
                                continue;
                        }
                        p = q;
                        continue;
                }
                case '[':
                case '{':
                        depth++;
                        if (depth == 2 && *p == '[' && instances_key)
                                in_instances = true;
                        else if (depth == 3 && *p == '{' && in_instances)
                                images++;
                        break;
                case ']':
                case '}':
                        if (depth == 2)
                                in_instances = false;
                        depth--;
                        break;
                }
                p++;
        }
        *ret_n = n;
        return 0;
}

/* The history key of a lone image (a snapshot line): the last key, as
 * image_json() writes it, found from the end: the last ,"log":[ or
 * ,"logAdded":[ of the text, if the array it opens ends the object (only a
 * value of the outermost object is followed by its last brace). */
static bool line_log_span(const char *s, size_t len, LogSpan *ret) {
        if (len < 12 || s[len - 1] != '}' || s[len - 2] != ']')
                return false;
        for (size_t k = len - 2; k-- > 1;) {
                const char *q;
                int kind;

                if (s[k] != ',' || s[k + 1] != '"')
                        continue;
                q = memchr(s + k + 2, '"', len - k - 2);
                if (!q || q + 2 >= s + len || q[1] != ':' || q[2] != '[' ||
                    !(kind = log_key(s + k + 2, (size_t) (q - (s + k + 2)))))
                        continue;
                if (skip_array(q + 2, s + len - 1) != s + len - 1)
                        return false; /* in a value inside: this image has no history key */
                *ret = (LogSpan) {
                        .start = k,
                        .end = len - 1,
                        .log = { q + 2, len - 1 - (size_t) (q + 2 - s), kind == 2 },
                };
                return true;
        }
        return false;
}

/* json-c's parse of s with the spans cut out (of a copy: one call to the
 * tokener costs more than the copy). */
static json_object *parse_without(xfsm_engine *e, const char *s, size_t len, const LogSpan *spans, size_t n) {
        size_t pos = 0, l = 0;

        json_tokener_reset(e->tok);
        if (n == 0)
                return json_tokener_parse_ex(e->tok, s, (int) len);
        if (len > e->cap_cut) {
                char *b = realloc(e->cut, len);
                if (!b)
                        return NULL;
                e->cut = b;
                e->cap_cut = len;
        }
        for (size_t k = 0; k <= n; k++) {
                size_t stop = k < n ? spans[k].start : len;
                memcpy(e->cut + l, s + pos, stop - pos);
                l += stop - pos;
                if (k < n)
                        pos = spans[k].end;
        }
        return json_tokener_parse_ex(e->tok, e->cut, (int) l);
}

static int restore_object(xfsm_engine *e, json_object *o, const LogRef *log);
static bool staged_supersede(xfsm_engine *e, const char *id, const char **ret_line, size_t *ret_len);
static int staged_line_log(xfsm_engine *e, const char *line, size_t len, History **log);

static int engine_tokener(xfsm_engine *e) {
        if (!e->tok && !(e->tok = json_tokener_new()))
                return -ENOMEM;
        return 0;
}

/* After a reboot boottime deadlines mean nothing: count them from the
 * realtime ones (overdue timers fire at once); retention restarts too. */
static void rebase_after_reboot(xfsm_engine *e, json_object *image) {
        json_object *timers;

        if (json_object_object_get_ex(image, "timers", &timers)) {
                uint64_t now = xfsm_engine_now(e), rt_now = xfsm_engine_realtime(e);
                for (size_t t = 0; t < json_object_array_length(timers); t++) {
                        json_object *tm = json_object_array_get_idx(timers, t);
                        uint64_t rt = juint(tm, "realtimeDeadline");
                        json_object_object_add(tm, "deadline",
                                               json_object_new_uint64(now + (rt > rt_now ? rt - rt_now : 0)));
                }
                json_object_object_del(image, "retentionDeadline");
        }
}

/* One image from its text (a snapshot line, or xfsm_engine_restore_json()). */
static int restore_text(xfsm_engine *e, const char *s, size_t len, bool rebase) {
        LogSpan span;
        bool cut;
        json_object *o;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        cut = e->history.limit > 0 && line_log_span(s, len, &span);
        o = parse_without(e, s, len, &span, cut);
        if (!o)
                return fail(e, -XFSM_E_INVALID_ARGUMENT, "an image (a snapshot line) is not JSON");
        if (rebase)
                rebase_after_reboot(e, o);
        r = restore_object(e, o, cut ? &span.log : NULL);
        json_object_put(o);
        return r;
}

int xfsm_engine_restore_json(xfsm_engine *e, const char *image) {
        assert(e);
        assert(image);
        return restore_text(e, image, strlen(image), false);
}

int xfsm_engine_restore_record(xfsm_engine *e, const char *json, size_t len, const char *boot_id,
                               unsigned *ret_restored) {
        json_object *o, *v, *list;
        size_t n_spans = 0, span = 0;
        bool same_boot;
        unsigned n = 0;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        if (e->history.limit > 0 && (r = record_log_spans(e, json, len, &n_spans)) < 0)
                return r;
        o = parse_without(e, json, len, e->spans, n_spans);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return fail(e, -XFSM_E_INVALID_ARGUMENT, "a record is not a JSON object");
        }
        same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                    streq(json_object_get_string(v), boot_id);
        if (json_object_object_get_ex(o, "instances", &list))
                for (size_t k = 0; k < json_object_array_length(list) && r >= 0; k++) {
                        json_object *image = json_object_array_get_idx(list, k);
                        const LogRef *log = NULL;
                        while (span < n_spans && e->spans[span].image < k)
                                span++;
                        if (span < n_spans && e->spans[span].image == k)
                                log = &e->spans[span].log;
                        if (!same_boot)
                                rebase_after_reboot(e, image);
                        r = restore_object(e, image, log);
                        n += r >= 0;
                }
        if (r >= 0 && json_object_object_get_ex(o, "dropped", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++)
                        (void) xfsm_engine_forget(e, json_object_get_string(json_object_array_get_idx(list, k)));
        json_object_put(o);
        if (r >= 0 && ret_restored)
                *ret_restored = n;
        return r;
}

/* A snapshot: a header line {"bootId": ...}, then one image per line. */
int xfsm_engine_restore_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id,
                               unsigned *ret_restored) {
        const char *p = text, *end = text + len;
        bool first = true, same_boot = false;
        unsigned n = 0;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
                json_object *o, *v;

                if (l == 0) {
                        p += 1;
                        continue;
                }
                if (first) {
                        json_tokener_reset(e->tok);
                        o = json_tokener_parse_ex(e->tok, p, (int) l);
                        if (!o)
                                return fail(e, -XFSM_E_INVALID_ARGUMENT, "a snapshot line is not JSON");
                        same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                                    streq(json_object_get_string(v), boot_id);
                        first = false;
                        json_object_put(o);
                        p += l + 1;
                        continue;
                }
                r = restore_text(e, p, l, !same_boot);
                if (r < 0)
                        return r;
                n++;
                p += l + 1;
        }
        if (ret_restored)
                *ret_restored = n;
        return 0;
}

/* Put an instance back as an image describes it (recovery): no step, no
 * effects. An instance of that id is replaced. */
static int restore_object(xfsm_engine *e, json_object *o, const LogRef *log) {
        _cleanup_(history_freep) History *prev = NULL;
        json_object *v, *timers, *log_json = NULL;
        const char *id, *comp_name, *machine_name, *status, *line = NULL;
        ComponentRt *c;
        const Machine *m;
        xfsm_instance *i, *old;
        size_t line_len = 0;
        bool staged, added;
        int r = -XFSM_E_INVALID_ARGUMENT;

        if (!o || !json_object_is_type(o, json_type_object))
                goto finish;
        id = jstr(o, "id");
        comp_name = jstr(o, "component");
        machine_name = jstr(o, "machine");
        status = jstr(o, "status");
        if (!id || strlen(id) != ID_LEN || !comp_name || !machine_name || !status)
                goto finish;
        /* the version it was created with: loaded, or asked of the host (an older definition it kept) */
        c = jstr(o, "version") ? find_version(e, comp_name, jstr(o, "version")) : NULL;
        if (!c && jstr(o, "version") && e->version_loader &&
            e->version_loader(e->version_loader_ud, e, comp_name, jstr(o, "version")) >= 0)
                c = find_version(e, comp_name, jstr(o, "version"));
        if (!c)
                c = find_comp(e, comp_name); /* its definition is gone: the current one, as before Reload existed */
        if (!c) {
                r = fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s'", comp_name);
                goto finish;
        }
        m = component_find_machine(c->def, machine_name);
        if (!m) {
                r = fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in %s", machine_name, comp_name);
                goto finish;
        }
        staged = staged_supersede(e, id, &line, &line_len);
        old = instance_map_get(&e->map, id);
        /* history: "log" is the whole of it; "logAdded" what one step appended to the history of the
         * instance this image replaces (restored already, or a snapshot line it supersedes); an image
         * with neither (written before history was kept) restores none. Cut out of the text already
         * (log), or left to json-c. */
        if (log)
                added = log->added;
        else if (json_object_object_get_ex(o, "log", &log_json))
                added = false;
        else
                added = json_object_object_get_ex(o, "logAdded", &log_json);
        if (added && e->history.limit > 0) {
                if (old)
                        prev = TAKE_PTR(old->log);
                else if (staged && (r = staged_line_log(e, line, line_len, &prev)) < 0)
                        goto finish;
        }
        if (old) {
                instance_unlink(old);
                instance_map_remove(&e->map, old);
                instance_release(old);
        }
        i = calloc(1, sizeof *i);
        if (!i) {
                r = -ENOMEM;
                goto finish;
        }
        memcpy(i->id, id, ID_LEN + 1);
        i->machine = m;
        i->comp = c;
        i->seq = juint(o, "seq");
        if (i->seq > e->next_inst_seq)
                e->next_inst_seq = i->seq;
        i->created_at = juint(o, "createdAt");
        i->updated_at = juint(o, "updatedAt");
        i->retention_deadline = juint(o, "retentionDeadline");
        i->status = streq(status, "completed") ? STATUS_COMPLETED : streq(status, "error") ? STATUS_ERROR : STATUS_ACTIVE;
        i->entry_point = json_object_object_get_ex(o, "entryPoint", &v) && json_object_get_boolean(v);
        i->context = json_object_object_get_ex(o, "context", &v) && json_object_is_type(v, json_type_object)
                             ? json_object_get(v)
                             : json_object_new_object();
        if (jstr(o, "parentId")) {
                i->parent_id = strdup(jstr(o, "parentId"));
                i->parent_machine = jstr(o, "parentMachine") ? component_find_machine(c->def, jstr(o, "parentMachine"))
                                                             : NULL;
        }
        if (m->statechart) {
                i->active = calloc(m->n_words, sizeof(uint64_t));
                i->hist = m->n_history ? calloc((size_t) m->n_history * m->n_words, sizeof(uint64_t)) : NULL;
                if (!i->active || (m->n_history && !i->hist)) {
                        instance_free(i);
                        r = -ENOMEM;
                        goto finish;
                }
                if (json_object_object_get_ex(o, "active", &v))
                        for (size_t k = 0; k < json_object_array_length(v); k++) {
                                const State *st = machine_find_state(m, json_object_get_string(json_object_array_get_idx(v, k)));
                                if (st)
                                        bit_set(i->active, st->index);
                        }
                if (json_object_object_get_ex(o, "history", &v)) {
                        json_object_object_foreach(v, name, list) {
                                const State *st = machine_find_state(m, name);
                                if (!st || !st->history)
                                        continue;
                                uint64_t *hv = i->hist + (size_t) st->history_slot * m->n_words;
                                for (size_t k = 0; k < json_object_array_length(list); k++) {
                                        const State *x = machine_find_state(
                                                m, json_object_get_string(json_object_array_get_idx(list, k)));
                                        if (x)
                                                bit_set(hv, x->index);
                                }
                        }
                }
                i->state = 0;
        } else {
                const State *st = jstr(o, "state") ? machine_find_state(m, jstr(o, "state")) : NULL;
                i->state = st ? st->index : m->initial;
        }
        i->log = TAKE_PTR(prev);
        r = log ? history_append_text(&i->log, &e->strings, log->text, log->len, &e->history)
                : history_append_json(&i->log, &e->strings, log_json, &e->history);
        if (r == -EBADMSG)
                r = 0; /* not of the form written here: left out */
        if (r < 0 || (r = instance_map_put(&e->map, i)) < 0) {
                instance_free(i);
                goto finish;
        }
        instance_link(i);
        if (m->statechart && (r = sc_refresh(i)) < 0)
                goto finish;
        if (json_object_object_get_ex(o, "timers", &timers))
                for (size_t k = 0; k < json_object_array_length(timers); k++) {
                        json_object *t = json_object_array_get_idx(timers, k);
                        Timer *tm;
                        if (i->n_timers == i->cap_timers) {
                                unsigned cap = i->cap_timers ? i->cap_timers * 2u : 2u;
                                Timer *nv = cap > 255 ? NULL : realloc(i->timers, cap * sizeof *nv);
                                if (!nv)
                                        break;
                                i->timers = nv;
                                i->cap_timers = (uint8_t) cap;
                        }
                        tm = &i->timers[i->n_timers];
                        *tm = (Timer) { .deadline = juint(t, "deadline"),
                                        .realtime_deadline = juint(t, "realtimeDeadline"),
                                        .seq = ++e->next_timer_seq };
                        if (json_object_object_get_ex(t, "transition", &v)) {
                                size_t idx = (size_t) json_object_get_int(v);
                                if (idx >= m->n_transitions)
                                        continue;
                                tm->t = &m->transitions[idx];
                                tm->event = tm->t->event;
                        } else if (json_object_object_get_ex(t, "send", &v)) {
                                size_t idx = (size_t) json_object_get_int(v);
                                if (idx >= m->n_actions)
                                        continue;
                                tm->send = m->actions[idx];
                                tm->event = tm->send->event;
                                if (json_object_object_get_ex(t, "payload", &v))
                                        tm->payload = json_object_get(v);
                        } else
                                continue;
                        i->n_timers++;
                        if (heap_push(&e->timers, tm->deadline, tm->seq, i) >= 0)
                                i->heap_refs++;
                }
        if (i->retention_deadline && heap_push(&e->retention, i->retention_deadline, 0, i) >= 0)
                i->heap_refs++;
        r = 0;
finish:
        return r;
}


/* ---- recovery of a snapshot and a tail, each image parsed at most once --------
 *
 * The snapshot's lines are indexed by the id each begins with ({"id":"<uuid>",
 * as xfsm_instance_to_json() writes it) and kept as text; an image of the tail
 * (or a drop) supersedes its line, which is then never parsed; the rest is
 * parsed at the end. A line that does not begin that way is restored at once. */

typedef struct StagedLine {
        size_t off, len;
        bool gone;
} StagedLine;

typedef struct Staged {
        char *text;
        bool same_boot;
        StagedLine *lines;
        size_t n, cap;
        uint32_t *slots; /* open addressing: line index + 1, 0 empty */
        size_t n_slots;
} Staged;

#define IMAGE_ID_PREFIX "{\"id\":\""

static size_t staged_hash(const char *id) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t k = 0; k < ID_LEN; k++)
                h = (h ^ (unsigned char) id[k]) * 1099511628211ULL;
        return (size_t) h;
}

static const char *staged_id(const Staged *st, size_t line) {
        return st->text + st->lines[line].off + strlen(IMAGE_ID_PREFIX);
}

static void staged_free(xfsm_engine *e) {
        if (!e->staged)
                return;
        free(e->staged->text);
        free(e->staged->lines);
        free(e->staged->slots);
        free(e->staged);
        e->staged = NULL;
}

/* A record's image (or drop) of id supersedes its snapshot line: true, and
 * the line, if it was still to be restored. */
static bool staged_supersede(xfsm_engine *e, const char *id, const char **ret_line, size_t *ret_len) {
        Staged *st = e->staged;
        if (!st || !st->n_slots || strlen(id) != ID_LEN)
                return false;
        for (size_t h = staged_hash(id) & (st->n_slots - 1);; h = (h + 1) & (st->n_slots - 1)) {
                uint32_t v = st->slots[h];
                StagedLine *l;
                if (v == 0)
                        return false;
                l = &st->lines[v - 1];
                if (memcmp(staged_id(st, v - 1), id, ID_LEN) == 0) {
                        if (l->gone)
                                return false;
                        l->gone = true;
                        if (ret_line)
                                *ret_line = st->text + l->off;
                        if (ret_len)
                                *ret_len = l->len;
                        return true;
                }
        }
}

/* The history of a superseded snapshot line, for the record's "logAdded" to
 * go on from, without parsing the rest of the line. */
static int staged_line_log(xfsm_engine *e, const char *line, size_t len, History **log) {
        LogSpan span;
        int r;

        if (!line_log_span(line, len, &span))
                return 0; /* written before history was kept */
        r = history_append_text(log, &e->strings, span.log.text, span.log.len, &e->history);
        return r == -EBADMSG ? 0 : r;
}

int xfsm_engine_stage_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id) {
        const size_t plen = strlen(IMAGE_ID_PREFIX);
        const char *p, *end;
        bool first = true;
        Staged *st;

        staged_free(e);
        if (!e->tok && !(e->tok = json_tokener_new()))
                return -ENOMEM;
        st = calloc(1, sizeof *st);
        if (!st || !(st->text = malloc(len + 1))) {
                free(st);
                return -ENOMEM;
        }
        memcpy(st->text, text, len);
        st->text[len] = 0;
        e->staged = st;
        p = st->text;
        end = st->text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
                json_object *o, *v;
                int r;

                if (l == 0) {
                        p++;
                        continue;
                }
                if (first) {
                        json_tokener_reset(e->tok);
                        o = json_tokener_parse_ex(e->tok, p, (int) l);
                        if (!o) {
                                staged_free(e);
                                return fail(e, -XFSM_E_INVALID_ARGUMENT, "a snapshot line is not JSON");
                        }
                        st->same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                                        streq(json_object_get_string(v), boot_id);
                        json_object_put(o);
                        first = false;
                } else if (l > plen + ID_LEN && memcmp(p, IMAGE_ID_PREFIX, plen) == 0 && p[plen + ID_LEN] == '"') {
                        if (st->n == st->cap) {
                                size_t cap = st->cap ? st->cap * 2 : 1024;
                                StagedLine *nv = realloc(st->lines, cap * sizeof *nv);
                                if (!nv) {
                                        staged_free(e);
                                        return -ENOMEM;
                                }
                                st->lines = nv;
                                st->cap = cap;
                        }
                        st->lines[st->n++] = (StagedLine) { .off = (size_t) (p - st->text), .len = l };
                } else {
                        /* not in the form written here: restore it now */
                        r = restore_text(e, p, l, !st->same_boot);
                        if (r < 0) {
                                staged_free(e);
                                return r;
                        }
                }
                p += l + 1;
        }
        if (st->n > UINT32_MAX / 4) {
                staged_free(e);
                return -E2BIG;
        }
        st->n_slots = 16;
        while (st->n_slots < st->n * 2)
                st->n_slots *= 2;
        st->slots = calloc(st->n_slots, sizeof *st->slots);
        if (!st->slots) {
                staged_free(e);
                return -ENOMEM;
        }
        for (size_t k = 0; k < st->n; k++) {
                size_t h = staged_hash(staged_id(st, k)) & (st->n_slots - 1);
                while (st->slots[h] != 0) {
                        /* the same id twice in one snapshot: the later line wins */
                        if (memcmp(staged_id(st, st->slots[h] - 1), staged_id(st, k), ID_LEN) == 0) {
                                st->lines[st->slots[h] - 1].gone = true;
                                break;
                        }
                        h = (h + 1) & (st->n_slots - 1);
                }
                st->slots[h] = (uint32_t) k + 1;
        }
        return 0;
}

static int cmp_instance_seq(const void *a, const void *b) {
        const xfsm_instance *x = *(xfsm_instance *const *) a, *y = *(xfsm_instance *const *) b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int xfsm_engine_restore_finish(xfsm_engine *e, unsigned *ret_restored) {
        Staged *st = e->staged;
        unsigned n = 0;
        int r = 0;

        if (st) {
                e->staged = NULL; /* restoring these supersedes nothing */
                for (size_t k = 0; k < st->n && r >= 0; k++) {
                        if (st->lines[k].gone)
                                continue;
                        r = restore_text(e, st->text + st->lines[k].off, st->lines[k].len, !st->same_boot);
                        n += r >= 0;
                }
                e->staged = st;
                staged_free(e);
                if (r < 0)
                        return r;
        }

        /* creation order, which replacing an instance during recovery disturbs: ListInstances,
         * broadcasts and cascades go by it */
        for (size_t c = 0; c < e->n_comps; c++) {
                ComponentRt *comp = e->comps[c];
                size_t count = comp->n_instances, k = 0;
                xfsm_instance **v;

                if (count < 2)
                        continue;
                v = malloc(count * sizeof *v);
                if (!v)
                        return -ENOMEM;
                for (xfsm_instance *i = comp->all_head; i && k < count; i = i->all_next)
                        v[k++] = i;
                qsort(v, k, sizeof *v, cmp_instance_seq);
                for (size_t j = 0; j < k; j++)
                        instance_unlink(v[j]);
                for (size_t j = 0; j < k; j++)
                        instance_link(v[j]);
                free(v);
        }
        if (ret_restored)
                *ret_restored = n;
        return 0;
}

/* Recovery of a drop: the instance goes, with no step. */
int xfsm_engine_forget(xfsm_engine *e, const char *id) {
        xfsm_instance *i;

        if (id)
                (void) staged_supersede(e, id, NULL, NULL);
        i = id ? instance_map_get(&e->map, id) : NULL;
        if (!i)
                return -XFSM_E_NO_SUCH_INSTANCE;
        instance_unlink(i);
        instance_map_remove(&e->map, i);
        instance_release(i);
        return 0;
}
