/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The engine's own structures, shared by engine.c (events, steps, undo),
 * instance.c (storage: id map, lists, timers), history.c, intern.c and
 * routed.c. */

#include <stdint.h>

#include <json-c/json.h>

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
        char *event_buf;
        xfsm_routed *routed; /* the routed event being delivered, if any */
        xfsm_effect *v;
        size_t n, cap;
};

xfsm_routed *routed_free(xfsm_routed *r);
xfsm_routed *routed_copy(const xfsm_routed *r);
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

/* ---- history.c: the last transitions of an instance ------------------------ */

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

/* ---- engine.c, for graph.c ---------------------------------------------- */
const Component *engine_component(const xfsm_engine *e, size_t i);
/* state is active (for a flat machine: is the state) */
bool engine_in_state(const xfsm_instance *i, unsigned state);
