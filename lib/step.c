/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Steps and their effects, as callers read them. */

#include "engine-internal.h"
#include "macro.h"

xfsm_step_cause xfsm_step_get_cause(const xfsm_step *s) {
        return s->cause;
}
const char *xfsm_step_component(const xfsm_step *s) {
        return s->component;
}
const char *xfsm_step_instance_id(const xfsm_step *s) {
        return s->has_id ? s->id : NULL;
}
const char *xfsm_step_event(const xfsm_step *s) {
        return s->event;
}
size_t xfsm_step_n_effects(const xfsm_step *s) {
        return s->n;
}
const xfsm_effect *xfsm_step_effect(const xfsm_step *s, size_t i) {
        return i < s->n ? &s->v[i] : NULL;
}

xfsm_effect_kind xfsm_effect_get_kind(const xfsm_effect *f) {
        return f->kind;
}

const char *xfsm_effect_kind_to_string(xfsm_effect_kind k) {
        static const char *const names[] = {
                [XFSM_EFFECT_INSTANCE_CREATED] = "created",   [XFSM_EFFECT_TRANSITION] = "transition",
                [XFSM_EFFECT_CONTEXT_CHANGED] = "context",    [XFSM_EFFECT_METHOD] = "method",
                [XFSM_EFFECT_TIMER_ARMED] = "timer-armed",    [XFSM_EFFECT_TIMER_CANCELLED] = "timer-cancelled",
                [XFSM_EFFECT_ROUTED] = "routed",              [XFSM_EFFECT_COMPLETED] = "completed",
                [XFSM_EFFECT_DROPPED] = "dropped",            [XFSM_EFFECT_REFUSED] = "refused",
                [XFSM_EFFECT_UNIT] = "unit",                  [XFSM_EFFECT_EXEC] = "exec",
        };
        return (unsigned) k < ELEMENTSOF(names) ? names[k] : "unknown";
}

const char *xfsm_effect_instance_id(const xfsm_effect *f) {
        return f->id[0] ? f->id : NULL;
}
const char *xfsm_effect_machine(const xfsm_effect *f) {
        return f->machine;
}
const char *xfsm_effect_from(const xfsm_effect *f) {
        return f->from;
}
const char *xfsm_effect_to(const xfsm_effect *f) {
        return f->to;
}
const char *xfsm_effect_event(const xfsm_effect *f) {
        return f->event;
}
const char *xfsm_effect_method(const xfsm_effect *f) {
        return f->method;
}
const char *xfsm_effect_status(const xfsm_effect *f) {
        return f->status;
}
uint64_t xfsm_effect_deadline(const xfsm_effect *f) {
        return f->deadline;
}
uint64_t xfsm_effect_realtime_deadline(const xfsm_effect *f) {
        return f->realtime_deadline;
}
int xfsm_effect_error(const xfsm_effect *f) {
        return f->error;
}
const char *xfsm_effect_message(const xfsm_effect *f) {
        return f->message;
}
const xfsm_routed *xfsm_effect_routed(const xfsm_effect *f) {
        return f->routed;
}
const char *xfsm_effect_unit_verb(const xfsm_effect *f) {
        return f->action && f->action->kind == ACTION_UNIT ? f->action->verb : NULL;
}
const char *xfsm_effect_unit_name(const xfsm_effect *f) {
        return f->action && f->action->kind == ACTION_UNIT ? f->action->name : NULL;
}
const char *const *xfsm_effect_exec_argv(const xfsm_effect *f) {
        return f->action && f->action->kind == ACTION_EXEC ? (const char *const *) f->action->argv : NULL;
}
uint64_t xfsm_effect_exec_timeout(const xfsm_effect *f) {
        return f->action && f->action->kind == ACTION_EXEC ? f->action->timeout_ms : 0;
}


void *xfsm_step_origin(const xfsm_step *s) {
        return s->origin;
}
