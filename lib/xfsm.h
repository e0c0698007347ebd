/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libxfsm: the xfsm state machine engine.
 *
 * An engine holds one or more components (YAML files), their instances and a
 * clock. It takes events and returns, for each event, one *step*: the whole
 * effect of that event (transitions, context changes, timers armed or
 * cancelled, routed events out, methods to report) in order. The engine knows
 * nothing of D-Bus, sd-event or Redis: events for components it does not
 * hold go out through a router callback.
 *
 * Conventions: functions return 0 (or a positive value) on success and a
 * negative errno-style code on failure; output parameters are written only
 * on success. xfsm's own failures use the XFSM_E_* codes (negated), which
 * xfsm_error_name() maps to their org.xfsm1.Error.* names. Strings returned
 * by accessors are owned by the engine. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xfsm_engine xfsm_engine;
typedef struct xfsm_instance xfsm_instance;
typedef struct xfsm_step xfsm_step;
typedef struct xfsm_effect xfsm_effect;
typedef struct xfsm_routed xfsm_routed;

/* Error codes, returned negated. */
enum {
        XFSM_E_BASE = 10000,
        XFSM_E_NO_SUCH_COMPONENT,
        XFSM_E_NO_SUCH_MACHINE,
        XFSM_E_NO_SUCH_INSTANCE,
        XFSM_E_NO_TRANSITION,
        XFSM_E_GUARD_FAILED,
        XFSM_E_LOOP,
        XFSM_E_INVALID_PAYLOAD,
        XFSM_E_INVALID_ARGUMENT,
        XFSM_E_SINGLETON_EXISTS,
        XFSM_E_BUSY,
        XFSM_E_LOAD_FAILED,
        XFSM_E_UNAVAILABLE,
        XFSM_E_MAX,
};

/* "org.xfsm1.Error.NoTransition" for -XFSM_E_NO_TRANSITION, NULL otherwise. */
const char *xfsm_error_name(int r);
/* The other way: -XFSM_E_* for an org.xfsm1.Error.* name, 0 if it is not one. */
int xfsm_error_from_name(const char *name);
/* A human sentence for any code this library returns (errno values too). */
const char *xfsm_strerror(int r);
/* The message of the last failure of this engine ("no transition from
 * Created on PAY"), or "" if none. */
const char *xfsm_engine_last_error(const xfsm_engine *e);

/* ---- Engine ---------------------------------------------------------- */

xfsm_engine *xfsm_engine_new(void);
xfsm_engine *xfsm_engine_free(xfsm_engine *e);

/* Diagnostics of loading: severity, then where and what. file may be the
 * name given to xfsm_engine_load_string(). line/column are 1-based. */
enum { XFSM_DIAG_WARNING = 1, XFSM_DIAG_ERROR = 2 };
typedef void (*xfsm_diag_fn)(void *userdata, int severity, const char *file, unsigned line,
                             unsigned column, const char *message);

/* Load a component. Every problem is reported through fn (may be NULL); on
 * any error nothing is added and -XFSM_E_LOAD_FAILED is returned. */
int xfsm_engine_load_file(xfsm_engine *e, const char *path, xfsm_diag_fn fn, void *userdata);
int xfsm_engine_load_string(xfsm_engine *e, const char *name, const char *data, size_t len,
                            xfsm_diag_fn fn, void *userdata);

/* Create the entry point instances of the loaded components that ask for it
 * (autoCreateEntryPoint). Idempotent. */
int xfsm_engine_start(xfsm_engine *e);

size_t xfsm_engine_n_components(const xfsm_engine *e);
const char *xfsm_engine_component_name(const xfsm_engine *e, size_t i);
/* The definition hash of a component (instances' Version), its `version`
 * key (may be NULL), its machines and its definition as JSON text. */
const char *xfsm_component_hash(const xfsm_engine *e, const char *component);
const char *xfsm_component_version(const xfsm_engine *e, const char *component);
size_t xfsm_component_n_machines(const xfsm_engine *e, const char *component);
const char *xfsm_component_machine(const xfsm_engine *e, const char *component, size_t i);
const char *xfsm_component_definition_json(const xfsm_engine *e, const char *component);
/* Whether any machine of a component has an action of this kind: "exec", "unit". */
bool xfsm_component_has_action(const xfsm_engine *e, const char *component, const char *kind);

/* Write the machines of a component (or one machine, if machine is not
 * NULL) as a graph: format "dot" or "mermaid". */
int xfsm_engine_write_graph(const xfsm_engine *e, const char *component, const char *machine,
                            const char *format, FILE *f);

/* ---- Clock ----------------------------------------------------------- */

/* By default the engine reads CLOCK_BOOTTIME (timers) and CLOCK_REALTIME
 * (timestamps). A virtual clock starts at start_realtime_ms (ms since the
 * epoch, 0: now) and moves only through xfsm_engine_advance(). */
void xfsm_engine_use_virtual_clock(xfsm_engine *e, uint64_t start_realtime_ms);
/* Engine time in ms (boottime, or virtual). */
uint64_t xfsm_engine_now(const xfsm_engine *e);
/* Wall time in ms since the epoch, as the engine sees it. */
uint64_t xfsm_engine_realtime(const xfsm_engine *e);
/* Virtual clock: move forward by ms, firing every timer that falls due in
 * deadline order, each as its own step. Returns the number fired. */
int xfsm_engine_advance(xfsm_engine *e, uint64_t ms);
/* Fire every timer due at the current engine time. Returns the number fired. */
int xfsm_engine_run_due(xfsm_engine *e);
/* Earliest transition timer deadline (engine time, ms); false if none.
 * Retention expiry is not a transition timer: see
 * xfsm_engine_next_retention(). */
bool xfsm_engine_next_deadline(const xfsm_engine *e, uint64_t *ret);
bool xfsm_engine_next_retention(const xfsm_engine *e, uint64_t *ret);

/* Seed the id generator (tests); by default it is seeded from getrandom(). */
void xfsm_engine_seed(xfsm_engine *e, uint64_t seed);

/* ---- Instances and events ---------------------------------------------- */

/* Create an instance of machine in component (NULL: the only component, or
 * the one holding machine). context_json: a JSON object or NULL. */
int xfsm_engine_create(xfsm_engine *e, const char *component, const char *machine,
                       const char *context_json, xfsm_instance **ret);

/* Send an event to one instance (by id). payload_json: a JSON object or NULL.
 * On success *ret_state is the instance's state once the event and all it
 * raised are done. */
int xfsm_engine_send(xfsm_engine *e, const char *id, const char *event, const char *payload_json,
                     const char **ret_state);
/* The same, by handle (the fast path). */
int xfsm_instance_send(xfsm_engine *e, xfsm_instance *i, const char *event,
                       const char *payload_json, const char **ret_state);
/* The same, with what the host knows of the call beyond the engine (an
 * event id, a correlation id, ...): every step the call makes carries it,
 * the call's own first (xfsm_step_origin()); the engine never reads it. */
int xfsm_instance_send_from(xfsm_engine *e, xfsm_instance *i, const char *event,
                            const char *payload_json, void *origin, const char **ret_state);

/* Send event to every instance of machine in state (NULL or "*": any state)
 * that accepts it, matchingRules selecting, in creation order, as one step. */
int xfsm_engine_broadcast(xfsm_engine *e, const char *component, const char *machine,
                          const char *state, const char *event, const char *payload_json,
                          unsigned *ret_delivered);

xfsm_instance *xfsm_engine_find(const xfsm_engine *e, const char *id);

/* Visit instances in creation order; machine/state filters may be NULL or
 * "". Stop early by returning non-zero from fn (returned). */
typedef int (*xfsm_instance_fn)(void *userdata, xfsm_instance *i);
int xfsm_engine_foreach(xfsm_engine *e, const char *component, const char *machine,
                        const char *state, xfsm_instance_fn fn, void *userdata);
size_t xfsm_engine_n_instances(const xfsm_engine *e);

const char *xfsm_instance_id(const xfsm_instance *i);
const char *xfsm_instance_component(const xfsm_instance *i);
const char *xfsm_instance_machine(const xfsm_instance *i);
const char *xfsm_instance_state(const xfsm_instance *i);
/* "active", "completed" or "error" */
const char *xfsm_instance_status(const xfsm_instance *i);
const char *xfsm_instance_version(const xfsm_instance *i);
uint64_t xfsm_instance_created_at(const xfsm_instance *i); /* ms since the epoch */
uint64_t xfsm_instance_updated_at(const xfsm_instance *i);
const char *xfsm_instance_parent_id(const xfsm_instance *i);      /* NULL: none */
const char *xfsm_instance_parent_machine(const xfsm_instance *i); /* NULL: none */
bool xfsm_instance_is_entry_point(const xfsm_instance *i);
/* The context as JSON text (malloc'd, the caller frees). */
char *xfsm_instance_context_json(const xfsm_instance *i);
/* Pending transition timers: event, deadline (engine time, ms) and the
 * realtime deadline it had when armed (ms since the epoch). Any output may
 * be NULL. */
size_t xfsm_instance_n_timers(const xfsm_instance *i);
int xfsm_instance_timer(const xfsm_instance *i, size_t idx, const char **ret_event,
                        uint64_t *ret_deadline, uint64_t *ret_realtime_deadline);
/* One pointer for the host (the engine never touches it). Read it in the
 * step handler's XFSM_EFFECT_DROPPED to free what it points to. */
void *xfsm_instance_get_userdata(const xfsm_instance *i);
void xfsm_instance_set_userdata(xfsm_instance *i, void *userdata);

/* ---- History -------------------------------------------------------------- */

/* History: each instance keeps its last transitions, oldest first, a ring of
 * at most limit entries whose text (event, from, to) takes at most max_bytes
 * (the oldest go first); limit 0 (the default) keeps none. max_bytes 0 means
 * XFSM_HISTORY_DEFAULT_MAX_BYTES. One entry per XFSM_EFFECT_TRANSITION of a
 * committed step (event, from and to as the effect has them; for a
 * statechart the configurations as text), at the instance's updatedAt; a
 * step undone or refused adds none. The limits apply at once to what
 * instances hold, and to what recovery restores. History is part of an
 * instance's image (xfsm_instance_to_json()), so it survives a restart. */
void xfsm_engine_set_history_limit(xfsm_engine *e, unsigned limit, size_t max_bytes);
#define XFSM_HISTORY_DEFAULT_MAX_BYTES (64 * 1024)
/* The history as a JSON array, oldest first: [{"event","from","to","at"}]
 * with at in ms since the epoch (malloc'd, the caller frees). */
char *xfsm_instance_history_json(const xfsm_instance *i);
size_t xfsm_instance_n_history(const xfsm_instance *i);

/* ---- Persistence ---------------------------------------------------------- */

/* The whole of an instance as one JSON object (malloc'd): what a host
 * persists after a step touched it (a snapshot). Timer deadlines are engine
 * time (boottime) and realtime; a host recovering after a reboot rewrites
 * "deadline" from "realtimeDeadline" before restoring. Its last key, "log",
 * is the history: [[event, from, to, at], ...]. */
char *xfsm_instance_to_json(const xfsm_instance *i);
/* The image of an instance for the journal record of step s: the same as
 * xfsm_instance_to_json() except that it carries only the history entries
 * this step appended, not the whole ring (records stay small): its last key
 * is "logAdded" instead of "log". Call it from the step handler. */
char *xfsm_step_instance_json(const xfsm_step *s, const xfsm_instance *i);
/* Put an instance back from its image (recovery): no step, no effects; one
 * of the same id is replaced. An image with "log" sets the history; one
 * with "logAdded" appends to the history of the instance it replaces (or of
 * the staged snapshot line it supersedes); one with neither restores
 * none. */
int xfsm_engine_restore_json(xfsm_engine *e, const char *image_json);
/* Recovery of a whole journal record or snapshot {"bootId", "instances":
 * [images], "dropped": [ids]} from one parse. When its bootId is not
 * boot_id (a reboot since), timer deadlines are counted from their realtime
 * deadlines (overdue ones fire at once). Other keys are left to the host. */
int xfsm_engine_restore_record(xfsm_engine *e, const char *json, size_t len, const char *boot_id,
                               unsigned *ret_restored);
/* Recovery of a snapshot: a line {"bootId": ...}, then one image per line. */
int xfsm_engine_restore_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id,
                               unsigned *ret_restored);
/* Recovery of a snapshot and the journal tail after it, parsing each image
 * at most once: stage the snapshot (copied), restore the tail's records and
 * drops, then xfsm_engine_restore_finish() restores the staged images that
 * no record superseded and puts instances back in creation order. */
int xfsm_engine_stage_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id);
int xfsm_engine_restore_finish(xfsm_engine *e, unsigned *ret_restored);
/* Recovery of a drop: the instance goes, with no step. */
int xfsm_engine_forget(xfsm_engine *e, const char *id);

/* ---- Steps and effects --------------------------------------------------- */

/* Called once for each committed step, in order: from sends, creations,
 * timers, broadcasts and routed deliveries alike. The step is valid during
 * the call only. The handler may read instances (xfsm_engine_find() and the
 * accessors; instances this step drops are still there) but must not change
 * anything. */
typedef void (*xfsm_step_fn)(void *userdata, const xfsm_step *s);
void xfsm_engine_set_step_handler(xfsm_engine *e, xfsm_step_fn fn, void *userdata);

/* Reload a component from a changed definition (RELOAD in xfsmd(8)):
 * instances created from now on use it; live instances keep the definition
 * they were created with (their Version) until they end, and routed events,
 * broadcasts and listings reach them all, machines and states matched by
 * name. Returns 1 when the definition changed, 0 when it is the same (its
 * hash), <0 on a load error (nothing changes). */
int xfsm_engine_reload_string(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                              void *userdata);
/* Load an older version of a loaded component, for instances restored with
 * it (0 if that version is there already). */
int xfsm_engine_load_version(xfsm_engine *e, const char *name, const char *data, size_t len, xfsm_diag_fn fn,
                             void *userdata);
/* Called by recovery for an instance image whose version is not loaded:
 * the host may load it (xfsm_engine_load_version) from what it kept. */
typedef int (*xfsm_version_loader_fn)(void *userdata, xfsm_engine *e, const char *component, const char *hash);
void xfsm_engine_set_version_loader(xfsm_engine *e, xfsm_version_loader_fn fn, void *userdata);
/* How many versions of a component are loaded (the current one and older
 * ones kept for their instances). */
size_t xfsm_component_n_versions(const xfsm_engine *e, const char *component);

/* Which units `unit` actions may name (the host's configuration): when set,
 * loading a component whose unit action names a unit fn refuses fails with an
 * error at that action. Set it before loading. */
typedef bool (*xfsm_unit_filter_fn)(void *userdata, const char *unit);
void xfsm_engine_set_unit_filter(xfsm_engine *e, xfsm_unit_filter_fn fn, void *userdata);

/* The step of the last call into the engine (valid until the next call). For
 * a send it is the step of that event; routed deliveries that followed it
 * are their own steps (see the step handler). */
const xfsm_step *xfsm_engine_last_step(const xfsm_engine *e);

typedef enum xfsm_step_cause {
        XFSM_STEP_SEND,      /* an event sent to one instance */
        XFSM_STEP_CREATE,    /* an instance created */
        XFSM_STEP_TIMER,     /* a timer fired */
        XFSM_STEP_BROADCAST, /* xfsm_engine_broadcast() */
        XFSM_STEP_ROUTED,    /* a routed event delivered */
        XFSM_STEP_RETENTION, /* completed instances dropped */
} xfsm_step_cause;

xfsm_step_cause xfsm_step_get_cause(const xfsm_step *s);
/* The origin the host gave the call that made this step (NULL: none). */
void *xfsm_step_origin(const xfsm_step *s);
const char *xfsm_step_component(const xfsm_step *s);
/* The instance the step was for (NULL for broadcasts and routed deliveries). */
const char *xfsm_step_instance_id(const xfsm_step *s);
const char *xfsm_step_event(const xfsm_step *s);
size_t xfsm_step_n_effects(const xfsm_step *s);
const xfsm_effect *xfsm_step_effect(const xfsm_step *s, size_t i);

typedef enum xfsm_effect_kind {
        XFSM_EFFECT_INSTANCE_CREATED, /* instance, machine, to = initial state */
        XFSM_EFFECT_TRANSITION,       /* instance, from, to, event */
        XFSM_EFFECT_CONTEXT_CHANGED,  /* instance */
        XFSM_EFFECT_METHOD,           /* instance, method: a named method to report */
        XFSM_EFFECT_TIMER_ARMED,      /* instance, event, deadline */
        XFSM_EFFECT_TIMER_CANCELLED,  /* instance, event */
        XFSM_EFFECT_ROUTED,           /* routed event out (see xfsm_effect_routed) */
        XFSM_EFFECT_COMPLETED,        /* instance reached a final/error state: status */
        XFSM_EFFECT_DROPPED,          /* instance removed (retention) */
        XFSM_EFFECT_REFUSED,          /* an internal or routed event an instance did not
                                         take: error code and message */
        XFSM_EFFECT_UNIT,             /* instance, unit verb and name: for the host to run */
        XFSM_EFFECT_EXEC,             /* instance, argv and time limit: for the host to run */
} xfsm_effect_kind;

xfsm_effect_kind xfsm_effect_get_kind(const xfsm_effect *f);
const char *xfsm_effect_kind_to_string(xfsm_effect_kind k);
const char *xfsm_effect_instance_id(const xfsm_effect *f);
const char *xfsm_effect_machine(const xfsm_effect *f);
const char *xfsm_effect_from(const xfsm_effect *f);
const char *xfsm_effect_to(const xfsm_effect *f);
const char *xfsm_effect_event(const xfsm_effect *f);
const char *xfsm_effect_method(const xfsm_effect *f);
const char *xfsm_effect_status(const xfsm_effect *f);
uint64_t xfsm_effect_deadline(const xfsm_effect *f);
uint64_t xfsm_effect_realtime_deadline(const xfsm_effect *f);
int xfsm_effect_error(const xfsm_effect *f);
const char *xfsm_effect_message(const xfsm_effect *f);
const xfsm_routed *xfsm_effect_routed(const xfsm_effect *f);
/* XFSM_EFFECT_UNIT: "start", "stop" or "restart", and the unit's name, as
 * written in the component (never built from event data). */
const char *xfsm_effect_unit_verb(const xfsm_effect *f);
const char *xfsm_effect_unit_name(const xfsm_effect *f);
/* XFSM_EFFECT_EXEC: the NULL-terminated argv and the time limit in ms. */
const char *const *xfsm_effect_exec_argv(const xfsm_effect *f);
uint64_t xfsm_effect_exec_timeout(const xfsm_effect *f);

/* ---- Routed events ------------------------------------------------------- */

/* An event for another component: a cascade, a cross_component send or
 * create. Its id is (source component, source incarnation, source sequence,
 * rule index): the host gives the incarnation (a random id made with the
 * source's state, so that a source that lost its state never reuses an id)
 * and the sequence when it writes the wire form (xfsm_routed_to_wire()). */
typedef enum xfsm_routed_kind {
        XFSM_ROUTED_EVENT,  /* deliver event to instances of machine (in state, if set) */
        XFSM_ROUTED_CREATE, /* create an instance of machine with payload as context */
} xfsm_routed_kind;

xfsm_routed_kind xfsm_routed_get_kind(const xfsm_routed *r);
const char *xfsm_routed_source_component(const xfsm_routed *r);
uint64_t xfsm_routed_source_seq(const xfsm_routed *r);
unsigned xfsm_routed_rule_index(const xfsm_routed *r);
const char *xfsm_routed_target_component(const xfsm_routed *r);
const char *xfsm_routed_target_machine(const xfsm_routed *r);
const char *xfsm_routed_target_state(const xfsm_routed *r); /* NULL: any */
const char *xfsm_routed_event(const xfsm_routed *r);
unsigned xfsm_routed_hops(const xfsm_routed *r);
/* The source's incarnation, "" when the event carries none (an event made in
 * this process, or one from a sender older than incarnations). */
const char *xfsm_routed_source_incarnation(const xfsm_routed *r);
/* The whole routed event as one JSON object, its id as the engine made it;
 * malloc'd. */
char *xfsm_routed_to_json(const xfsm_routed *r);
/* The wire form, versioned JSON ({"v": 1, ...}; readers ignore fields they
 * do not know), with the id the host gives it; malloc'd. Fields:
 * "v", "kind" ("event" | "create"), "sourceComponent", "sourceIncarnation",
 * "sourceSeq", "ruleIndex", "targetComponent", "targetMachine",
 * "targetState" (absent: any), "event" (absent for a create), "payload",
 * "matchingRules" ([{eventProperty, instanceProperty, operator, value?}]), "hops".
 * Optional fields, which readers older than them ignore: a matching rule's
 * "value", the value the sender resolved for it (its eventProperty in the
 * payload, else, when absent or null there, in the source instance's
 * context; absent when neither has it), for peers that cannot see the
 * source (the Redis bridge publishes it as an xcomponent-ai filter); and
 * "filters" ([{property, operator?, value?}]), written only by the Redis
 * bridge for a message from xcomponent-ai, for the workers of its own node:
 * instead of matchingRules, those filters select the receivers with
 * JavaScript's comparison rules (an unknown operator matches nothing, an
 * absent value the instances that lack the property), and each takes the
 * event as a direct send (xfsm-redis-bridge(8), XCOMPONENT-AI COMPATIBILITY). */
#define XFSM_ROUTED_WIRE_VERSION 1
char *xfsm_routed_to_wire(const xfsm_routed *r, const char *incarnation, uint64_t seq);
/* Read a wire form: -XFSM_E_INVALID_PAYLOAD when it is not a JSON object,
 * -XFSM_E_INVALID_ARGUMENT when a required field is missing or wrong, or its
 * "v" is newer than this library reads. A form without "v" (xfsm before
 * versioned routed events) is read as version 1 without an incarnation. */
int xfsm_routed_parse(const char *json, xfsm_routed **ret);
xfsm_routed *xfsm_routed_free(xfsm_routed *r);

/* The router is called once per routed event out of a committed step, in
 * order. Return 0 when taken. The default router delivers to components
 * loaded in this engine, after the step that sent it, and leaves others
 * undelivered (they stay visible as XFSM_EFFECT_ROUTED effects). */
typedef int (*xfsm_router_fn)(void *userdata, xfsm_engine *e, const xfsm_routed *r);
void xfsm_engine_set_router(xfsm_engine *e, xfsm_router_fn fn, void *userdata);
/* What the default router does, for a router that keeps local targets local:
 * queue r for delivery to a component of this engine after the current step. */
int xfsm_engine_route_local(xfsm_engine *e, const xfsm_routed *r);

/* Deliver a routed event (its JSON wire form) to a component of this engine,
 * as one step. ret_delivered: instances that took it (or 1 for a create). */
int xfsm_engine_deliver_json(xfsm_engine *e, const char *routed_json, unsigned *ret_delivered);
int xfsm_engine_deliver(xfsm_engine *e, const xfsm_routed *r, unsigned *ret_delivered);
/* The same, with the host's origin for the steps it makes (see xfsm_instance_send_from()). */
int xfsm_engine_deliver_from(xfsm_engine *e, const xfsm_routed *r, void *origin, unsigned *ret_delivered);

/* Limits: microsteps of one event, hops of a routed event, the size of a
 * payload and of a name. */
#define XFSM_MAX_MICROSTEPS 1000
#define XFSM_MAX_HOPS 32
#define XFSM_MAX_PAYLOAD (1024 * 1024)
#define XFSM_MAX_NAME 255

#ifdef __cplusplus
}
#endif
