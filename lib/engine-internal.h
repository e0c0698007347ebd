/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The engine's own structures and the calls its files make to each other:
 * engine.c (life, components, entry points), engine-step.c (steps, effects,
 * undo, the queue), transition.c (flat machines' transitions and what
 * statecharts share with them), statechart.c, action.c (actions and the
 * events they send), engine-timers.c, engine-routed.c (routed events in),
 * image.c (images and recovery), instance.c (storage: id map, lists),
 * history.c, intern.c, timer-heap.c and routed.c. */

#include <errno.h>
#include <stdint.h>

#include <json-c/json.h>

#include "guard.h"
#include "macro.h"
#include "model.h"
#include "xfsm.h"

#define ID_LEN 36

typedef struct ComponentRt ComponentRt;
typedef struct History History;

typedef struct ConfigText {
        const Machine *machine;
        uint64_t bits[STATECHART_WORDS];
        char *text;
} ConfigText;

typedef struct Timer {
        const Transition *t;        /* a timeout or delayed auto transition, or */
        const Action *send;         /* a delayed send (with its rendered payload) */
        json_object *payload;
        const char *event;
        uint64_t deadline;          /* engine time (boottime), ms */
        uint64_t realtime_deadline; /* ms since the epoch, as armed */
        uint64_t seq;               /* unique; heap entries refer to it */
} Timer;

typedef enum InstanceStatus {
        STATUS_ACTIVE,
        STATUS_COMPLETED,
        STATUS_ERROR,
} InstanceStatus;

struct xfsm_instance {
        char id[ID_LEN + 1];
        uint8_t status;
        bool entry_point : 1;
        bool dead : 1;      /* removed; freed once no heap entry refers to it */
        bool drop_at_commit : 1;
        uint16_t heap_refs;
        uint8_t n_timers, cap_timers;
        unsigned state;
        uint32_t touched;   /* savepoint serial of the last undo save */
        uint32_t committed; /* commit serial, to visit each instance once */
        const Machine *machine;
        ComponentRt *comp;
        uint64_t seq; /* creation order */
        uint64_t created_at, updated_at; /* ms since the epoch */
        uint64_t retention_deadline;     /* engine time; 0: none */
        json_object *context;
        char *parent_id;
        const Machine *parent_machine;
        Timer *timers;
        History *log;   /* the last transitions (history.c); NULL: none yet */
        void *userdata; /* the host's */
        /* statecharts: the active states, the history memory, State as text */
        uint64_t *active;     /* n_words */
        uint64_t *hist;       /* n_history * n_words */
        const char *state_text; /* interned in the component */
        xfsm_instance *state_prev, *state_next; /* same machine and state */
        xfsm_instance *all_prev, *all_next;     /* same component, creation order */
};

typedef struct StateList {
        xfsm_instance *head, *tail;
        size_t n;
} StateList;

struct ComponentRt {
        Component *def;
        bool retired; /* an older version, kept for the instances created with it (Reload) */
        StateList **lists; /* [machine][state] */
        xfsm_instance *all_head, *all_tail;
        size_t n_instances;
        uint64_t seq; /* committed steps */
        char *definition_json;
        struct ConfigText *texts; /* statechart configurations and their text, interned */
        size_t n_texts, cap_texts;
};

/* An xcomponent-ai filter a routed event carries (the Redis bridge's
 * xcomponent-ai compatibility): "instance value OP value" with JavaScript's
 * comparison rules (js-compare.h). */
typedef struct RoutedFilter {
        char *property;    /* dot path into the receiving instance's context */
        char *op_text;     /* the operator as written */
        MatchOp op;
        bool op_known;     /* an unknown operator matches nothing */
        bool has_value;    /* an absent value matches the instances that lack property */
        json_object *value;
} RoutedFilter;

struct xfsm_routed {
        xfsm_routed_kind kind;
        char *source_component;
        char *source_incarnation; /* NULL: none given (in process, or a sender older than incarnations) */
        uint64_t source_seq;
        unsigned rule_index;
        char *target_component;
        char *target_machine;
        char *target_state;
        char *event;
        json_object *payload;
        MatchingRule *rules;
        size_t n_rules;
        /* per rule, the value the sender resolved for it (its eventProperty in
         * the payload, else in the source instance's context): what a peer
         * that cannot see the source (xcomponent-ai) compares with; always
         * owned, NULL when no rule resolved */
        json_object **rule_values;
        bool *rule_has_value;
        RoutedFilter *filters; /* xcomponent-ai's, with xcomponent */
        size_t n_filters;
        bool xcomponent; /* from xcomponent-ai: filters select, and each instance takes it as a direct send */
        unsigned hops;
        bool borrowed; /* strings and rules belong to a definition (a step's own effects) */
};

/* One effect of a step, and the step: built by engine.c, read through
 * step.c. Strings point into the definitions, or into the step itself (the
 * event of a send, the routed event delivered), so they live as long as the
 * step does. */
struct xfsm_effect {
        xfsm_effect_kind kind;
        int error;
        char id[ID_LEN + 1];
        xfsm_instance *inst; /* the instance of id, valid while the step is built and committed */
        const char *machine, *from, *to, *event, *method, *status;
        uint64_t deadline, realtime_deadline;
        char *message;
        xfsm_routed *routed;
        const Action *action; /* unit and exec effects */
};

struct xfsm_step {
        xfsm_step_cause cause;
        const char *component;
        bool has_id;
        char id[ID_LEN + 1];
        const char *event;
        char event_buf[XFSM_MAX_NAME + 1]; /* the event of a send (name_is_event(): at most 255) */
        xfsm_routed *routed; /* the routed event being delivered, if any */
        void *origin;        /* the host's, for the call that made the step (xfsm_step_origin()) */
        xfsm_effect *v;
        size_t n, cap;
};

/* Which instances of a machine (in a state) a routed event or a fan-out
 * selects: the sender's matchingRules against the payload, xcomponent-ai
 * filters against the context; and how each instance's transition is
 * chosen: selected by its own matchingRules (routed), or as on a direct send
 * (xcomponent-ai applies its messages as ordinary events). */
typedef struct Selector {
        const MatchingRule *rules;
        size_t n_rules;
        const RoutedFilter *filters;
        size_t n_filters;
        bool direct;
} Selector;

xfsm_routed *routed_free(xfsm_routed *r);
/* The filters hold for context (JavaScript's comparison rules). */
bool routed_filters_hold(const RoutedFilter *filters, size_t n, json_object *context);
/* Resolve each rule's value for the wire (payload first, then context). */
int routed_resolve_values(xfsm_routed *r, json_object *context);
DEFINE_TRIVIAL_CLEANUP_FUNC(xfsm_routed *, routed_free);
xfsm_routed *routed_copy(const xfsm_routed *r);
/* A copy of a borrowed event (a step's own effect) that borrows the same
 * strings, the definitions' (kept, retired versions too, as long as the
 * engine); any other event is copied whole. */
xfsm_routed *routed_borrow(const xfsm_routed *r);
int routed_from_json(const char *text, xfsm_routed **ret);

/* ---- timer-heap.c: a binary min-heap of (deadline, seq, instance) -------- */

typedef struct HeapEntry {
        uint64_t deadline;
        uint64_t seq;
        xfsm_instance *inst;
} HeapEntry;

typedef struct Heap {
        HeapEntry *v;
        size_t n, cap;
} Heap;

int heap_push(Heap *h, uint64_t deadline, uint64_t seq, xfsm_instance *inst);
bool heap_peek(const Heap *h, HeapEntry *ret);
void heap_pop(Heap *h);
void heap_done(Heap *h);

/* ---- instance.c: storage ------------------------------------------------- */

typedef struct MapSlot {
        uint64_t hash; /* compared first: no visit to the instance on a miss */
        xfsm_instance *i;
} MapSlot;

typedef struct InstanceMap {
        MapSlot *slots;
        size_t cap, n;
} InstanceMap;

int instance_map_put(InstanceMap *m, xfsm_instance *i);
xfsm_instance *instance_map_get(const InstanceMap *m, const char *id);
void instance_map_remove(InstanceMap *m, xfsm_instance *i);
void instance_map_done(InstanceMap *m);

void instance_link(xfsm_instance *i);   /* into its component's lists */
void instance_unlink(xfsm_instance *i); /* out of them */
void instance_set_state(xfsm_instance *i, unsigned state);
xfsm_instance *instance_free(xfsm_instance *i);
/* Remove from lists; free now, or once the last heap entry lets go. */
void instance_release(xfsm_instance *i);
void instance_heap_unref(xfsm_instance *i);

void uuid4_format(uint64_t rng[4], char ret[ID_LEN + 1]);
void rng_seed(uint64_t rng[4], uint64_t seed);

/* ---- intern.c: one copy of each string, for the engine's life ------------ */

typedef struct Interned Interned;

typedef struct StringTable {
        Interned **slots;
        size_t cap, n;
} StringTable;

/* *ret: the one copy of s[0..len) (NUL-terminated), valid until string_table_done(). */
int string_intern(StringTable *t, const char *s, size_t len, const char **ret);
/* The length of an interned string, without strlen(). */
size_t string_interned_len(const char *s);
void string_table_done(StringTable *t);

/* ---- history.c: the last transitions of an instance ---------------------- */

typedef struct HistoryLimits {
        unsigned limit;   /* entries; 0: none kept */
        size_t max_bytes; /* of their text (event, from, to) */
} HistoryLimits;

History *history_free(History *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(History *, history_free);
size_t history_n(const History *h);
/* Append one transition (its strings interned into t), dropping the oldest
 * past the limits; nothing with a limit of 0. */
int history_record(History **h, StringTable *t, const char *event, const char *from, const char *to, uint64_t at,
                   const HistoryLimits *lim);
/* Append the entries of an image's array ([[event, from, to, at], ...]). */
int history_append_json(History **h, StringTable *t, json_object *entries, const HistoryLimits *lim);
/* The same from the array's text, read here rather than by json-c;
 * -EBADMSG when it is not of that form (the entries before stay). */
int history_append_text(History **h, StringTable *t, const char *text, size_t len, const HistoryLimits *lim);
/* Drop what new limits do not allow (all of it for a limit of 0). */
void history_trim(History **h, const HistoryLimits *lim);
/* GetHistory's form: [{"event","from","to","at"}, ...], oldest first (malloc'd). */
char *history_to_json(const History *h);
/* image (a JSON object's text, len bytes) with "key": the entries of h from
 * the from-th on, as its last key (malloc'd). */
char *history_image(const char *image, size_t len, const char *key, const History *h, size_t from);

/* ---- the engine and the step it builds ----------------------------------- */

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
                        bool had;            /* the key was there (old may be a JSON null) */
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
        void *call_origin; /* the origin of the call in progress: every step it makes carries it */
        bool guard_div_zero; /* a guard of the current choice divided by zero */
        bool check_configuration; /* $XFSM_CHECK_CONFIGURATION: every statechart microstep's result checked */
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

/* Statecharts: configurations and history memory are bitsets of states. */
static inline bool bit(const uint64_t *v, unsigned k) {
        return (v[k >> 6] >> (k & 63)) & 1;
}
static inline void bit_set(uint64_t *v, unsigned k) {
        v[k >> 6] |= 1ULL << (k & 63);
}
static inline void bit_clear(uint64_t *v, unsigned k) {
        v[k >> 6] &= ~(1ULL << (k & 63));
}

/* ---- engine.c: life, components, versions, entry points ------------------ */

/* Set the last error (xfsm_engine_last_error()) and return r. */
__attribute__((format(printf, 3, 4))) int engine_fail(xfsm_engine *e, int r, const char *fmt, ...);
/* The current version of a component; a version by its definition hash (current or retired). */
ComponentRt *engine_find_comp(const xfsm_engine *e, const char *name);
ComponentRt *engine_find_version(const xfsm_engine *e, const char *name, const char *hash);
/* The i-th current component's definition (graph.c). */
const Component *engine_component(const xfsm_engine *e, size_t i);
/* m is c's singleton entry point machine and an instance of it exists (in any version). */
bool engine_singleton_taken(const xfsm_engine *e, const ComponentRt *c, const Machine *m);

/* ---- engine-step.c: steps, effects, undo, the queue ---------------------- */

void step_reset(xfsm_step *s);
/* Start building a step (for the instance id, if not NULL). */
void step_begin(xfsm_engine *e, xfsm_step_cause cause, ComponentRt *c, const char *id, const char *event);
/* The next effect of the step, about i (may be NULL); NULL when out of memory. */
xfsm_effect *effect_add(xfsm_engine *e, xfsm_effect_kind kind, const xfsm_instance *i);
int undo_push(xfsm_engine *e, Undo **ret);
/* Remember i as it is before this step (or savepoint) changes it. */
int undo_save(xfsm_engine *e, xfsm_instance *i);
/* Set key (a key of holder, kept alive with it) in i's context, undoably. */
int undo_context_set(xfsm_engine *e, xfsm_instance *i, json_object *holder, const char *key, json_object *v);
Savepoint step_savepoint(xfsm_engine *e);
/* Undo everything since sp: changes, effects, the queue. */
void step_rollback(xfsm_engine *e, Savepoint sp);
/* The step stands: timers into the heap, history, the step handler, drops, routed events out. */
void step_commit(xfsm_engine *e);
/* Queue an event (payload taken) for i in this step. */
int step_enqueue(xfsm_engine *e, xfsm_instance *i, const char *event, json_object *payload, const Transition *forced,
                 bool routed);
/* An event i (or no instance) did not take, as an effect (the last error's message). */
void step_refused(xfsm_engine *e, const xfsm_instance *i, const char *event, int r);
/* Handle one queued event; run the queue to completion. */
int step_process_item(xfsm_engine *e, Item *it);
int step_drain(xfsm_engine *e);

/* ---- transition.c: flat machines' transitions, and what statecharts share --- */

static inline bool transition_guard_holds(xfsm_engine *e, const Transition *t, const xfsm_instance *i,
                                          json_object *payload) {
        GuardResult r;

        if (!t->guard_expr)
                return true;
        r = guard_eval(t->guard_expr, i->context, payload);
        if (r == GUARD_DIV_ZERO)
                e->guard_div_zero = true;
        return r == GUARD_TRUE;
}
static inline bool transition_event_is(const Transition *t, const char *event) {
        return t->event == event || (t->event && streq(t->event, event));
}
/* The transition a flat machine's instance takes on event (routed: matchingRules select). */
int transition_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
                      const Transition **ret);
/* Handle a queued event for an instance of a flat machine. */
int transition_process(xfsm_engine *e, Item *it);
/* The payload into the context, shallow (not when matchingRules chose t). */
int transition_merge_payload(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload);
/* An inter_machine child, a cross_component event. */
int transition_targets(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload);
/* A final or error state (top level) completes the instance. */
int instance_complete(xfsm_engine *e, xfsm_instance *i, const State *st);
/* Create an instance of m (taking ctx) in this step, entering its initial state. */
int instance_create(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx, const xfsm_instance *parent,
                    bool entry_point, xfsm_instance **ret);

/* ---- action.c: actions and the events they send -------------------------- */

int actions_run(xfsm_engine *e, xfsm_instance *i, const Action *a, size_t n, const char *event, json_object *payload);
int cascades_run(xfsm_engine *e, xfsm_instance *i, const State *st);
/* notifyParent / parentLink of t, previous: the state left. */
int parent_notify(xfsm_engine *e, xfsm_instance *i, const Transition *t, const char *previous);
/* A send action (payload rendered), now. */
int action_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload);
/* A routed event out, as an effect of src. */
int send_routed(xfsm_engine *e, const xfsm_instance *src, xfsm_routed_kind kind, const char *component,
                const char *machine, const char *state, const char *event, json_object *payload,
                const MatchingRule *rules, size_t n_rules);
/* An event to the instances of a machine of this component that it selects. */
int send_fan_out(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                 const MatchingRule *rules, size_t n_rules, json_object *payload);
/* Those instances (in state, if not NULL), in every version, in creation order (malloc'd). */
int engine_select_receivers(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                            const Selector *sel, json_object *payload, xfsm_instance ***ret, size_t *ret_n);

/* ---- engine-timers.c: timers armed, cancelled, due ----------------------- */

/* A delayed send: payload (a reference, taken) kept until it fires. */
int timer_arm_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload);
void timer_remove(xfsm_engine *e, xfsm_instance *i, size_t k, bool report);
/* Timeouts go (and delayed sends, with sends_too). */
void timers_cancel_all(xfsm_engine *e, xfsm_instance *i, bool sends_too);
/* A completed instance keeps no timer, delayed sends neither: true if i completed. */
bool timers_cancel_completed(xfsm_engine *e, xfsm_instance *i);
/* Entering st: its timers armed, its immediate auto transitions queued
 * (a statechart's are eventless: not queued). */
int timers_arm_entered(xfsm_engine *e, xfsm_instance *i, const State *st);
/* A flat machine's timers after a transition (self: to the same state). */
int timers_schedule(xfsm_engine *e, xfsm_instance *i, bool self);

/* ---- statechart.c -------------------------------------------------------- */

int sc_start(xfsm_engine *e, xfsm_instance *i);
/* The transitions an event takes together (one microstep), each with its
 * domain (the state below which it exits: -1 the machine), and the states
 * they exit. */
typedef struct Selection {
        const Transition *t[STATECHART_MAX_STATES];
        int domain[STATECHART_MAX_STATES];
        size_t n;
        uint64_t exit[STATECHART_WORDS];
} Selection;

/* The transitions event takes (routed: matchingRules select). */
int sc_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
              Selection *sel);
int sc_process(xfsm_engine *e, Item *it);
/* The eventless transitions, while any is enabled (payload: the last event's). */
int sc_eventless(xfsm_engine *e, xfsm_instance *i, json_object *payload);
/* active is a configuration SCXML allows; else why says what is wrong. */
bool sc_configuration_legal(const Machine *m, const uint64_t *active, char *why, size_t size);
/* The configuration's text (interned in the component) and the state lists. */
int sc_refresh(xfsm_instance *i);
/* state is active (for a flat machine: is the state) */
bool engine_in_state(const xfsm_instance *i, unsigned state);

/* ---- engine-routed.c: routed events in ----------------------------------- */

int engine_route_default(void *userdata, xfsm_engine *e, const xfsm_routed *r);
/* Deliver r (taken) as one step. */
int engine_deliver(xfsm_engine *e, xfsm_routed *r, xfsm_step_cause cause, unsigned *ret_delivered);
/* Deliver what the default router queued, in order, each its own step. */
void engine_deliver_local(xfsm_engine *e);

/* ---- the steps of a transition flat machines and statecharts share ----------
 *
 * Inline: most transitions have no actions, methods or cascades, and these
 * run on every one (out of line, a sixth more instructions for the toggle
 * benchmark's events). */

/* Entering a state: its entry actions, then its cascading rules. */
static inline int state_enter_actions(xfsm_engine *e, xfsm_instance *i, const State *st, const char *event,
                                      json_object *payload) {
        int r = 0;

        if (st->n_on_entry > 0)
                r = actions_run(e, i, st->on_entry, st->n_on_entry, event, payload);
        if (r >= 0 && st->n_cascades > 0)
                r = cascades_run(e, i, st);
        return r;
}

/* Leaving a state: its exit actions. */
static inline int state_exit_actions(xfsm_engine *e, xfsm_instance *i, const State *st, const char *event,
                                     json_object *payload) {
        return st->n_on_exit > 0 ? actions_run(e, i, st->on_exit, st->n_on_exit, event, payload) : 0;
}

/* The transition's own method and actions (given event and payload). */
static inline int transition_run_actions(xfsm_engine *e, xfsm_instance *i, const Transition *t, const char *event,
                                         json_object *payload) {
        if (t->triggered_method) {
                xfsm_effect *f = effect_add(e, XFSM_EFFECT_METHOD, i);
                if (!f)
                        return -ENOMEM;
                f->method = t->triggered_method;
                f->event = t->event;
        }
        return t->n_actions > 0 ? actions_run(e, i, t->actions, t->n_actions, event, payload) : 0;
}

/* The state changed (from, to): updatedAt and the XFSM_EFFECT_TRANSITION. */
static inline int transition_record(xfsm_engine *e, xfsm_instance *i, const char *from, const char *to,
                                    const char *event) {
        xfsm_effect *f;

        i->updated_at = xfsm_engine_realtime(e);
        f = effect_add(e, XFSM_EFFECT_TRANSITION, i);
        if (!f)
                return -ENOMEM;
        f->from = from;
        f->to = to;
        f->event = event;
        return 0;
}

/* ---- image.c: images and recovery ---------------------------------------- */

void image_staged_free(xfsm_engine *e);
