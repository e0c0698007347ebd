/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Transitions: choosing the one an event takes in a flat machine, and what
 * taking a transition does, in order (exit actions, the transition's own
 * method and actions, the payload into the context, the new state, entry
 * actions and cascades, notifyParent, an inter_machine child or a
 * cross_component event, completion, timers; TRANSITIONS and ACTIONS in
 * xfsm.component(5)). The steps statecharts share (statechart.c) are written
 * here once. Creating an instance enters its initial state the same way. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "guard.h"
#include "json-path.h"
#include "macro.h"

int transition_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
                      const Transition **ret) {
        const State *st = &i->machine->states[i->state];
        const Transition *only = NULL;
        unsigned n_event = 0, n_cand = 0;

        e->guard_div_zero = false;
        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                if (!transition_event_is(t, event))
                        continue;
                n_event++;
                if (!transition_guard_holds(e, t, i, payload))
                        continue;
                if (n_cand++ == 0)
                        only = t;
        }
        if (n_event == 0)
                return engine_fail(e, -XFSM_E_NO_TRANSITION, "no transition from '%s' on '%s' in machine '%s'",
                                   st->name, event, i->machine->name);
        if (n_cand == 0)
                return engine_fail(e, -XFSM_E_GUARD_FAILED, "no guard holds for '%s' in state '%s' of machine '%s'%s",
                                   event, st->name, i->machine->name,
                                   e->guard_div_zero ? " (a guard divided by zero)" : "");
        if (!routed && n_cand == 1) {
                *ret = only;
                return 0;
        }
        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                if (!transition_event_is(t, event) || !transition_guard_holds(e, t, i, payload))
                        continue;
                if (t->n_rules == 0 || json_rules_hold(t->rules, t->n_rules, payload, i->context)) {
                        *ret = t;
                        return 0;
                }
        }
        return engine_fail(e, -XFSM_E_NO_TRANSITION,
                           "no transition from '%s' on '%s' in machine '%s' matches the event's properties", st->name,
                           event, i->machine->name);
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

/* Steps 7 and 8 of a transition: an inter_machine child, a cross_component send. */
int transition_targets(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload) {
        int r = 0;

        if (t->type == TRANSITION_INTER_MACHINE) {
                const Machine *cm = component_find_machine(i->comp->def, t->target_machine);
                if (engine_singleton_taken(e, i->comp, cm)) {
                        engine_fail(e, -XFSM_E_SINGLETON_EXISTS, "singleton %s exists already", cm->name);
                        step_refused(e, i, t->event, -XFSM_E_SINGLETON_EXISTS);
                } else {
                        json_object *ctx = mapped_context(t, i->context, payload);
                        if (!ctx)
                                return -ENOMEM;
                        r = instance_create(e, i->comp, cm, ctx, i, false, NULL);
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
                                r = engine_singleton_taken(e, i->comp, tm)
                                            ? 0
                                            : instance_create(e, i->comp, tm, json_object_get(ctx), NULL, false, NULL);
                        else
                                r = send_fan_out(e, i->comp, tm, NULL, t->target_event, t->rules, t->n_rules, ctx);
                } else
                        r = send_routed(e, i, kind, t->target_component, t->target_machine, NULL, t->target_event, ctx,
                                        t->rules, t->n_rules);
                json_object_put(ctx);
        }
        return r;
}

/* Step 9: a final or error state (top level, for a statechart) completes the instance. */
int instance_complete(xfsm_engine *e, xfsm_instance *i, const State *st) {
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

int transition_merge_payload(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload) {
        int r;

        if (!payload || t->n_rules > 0 || json_object_object_length(payload) == 0)
                return 0;
        json_object_object_foreach(payload, k, v) if ((r = undo_context_set(e, i, payload, k, v)) < 0) return r;
        return effect_add(e, XFSM_EFFECT_CONTEXT_CHANGED, i) ? 0 : -ENOMEM;
}

static int exec_transition(xfsm_engine *e, xfsm_instance *i, const Transition *t, json_object *payload) {
        const Machine *m = i->machine;
        const char *previous = m->states[i->state].name;
        bool self, internal;
        int r;

        assert(t);
        self = t->from == t->to;
        /* a targetless transition leaves and enters nothing, like an internal self-loop */
        internal = (self && t->type == TRANSITION_INTERNAL) || t->targetless;

        r = undo_save(e, i);
        if (r < 0)
                return r;

        /* 1. exit actions of the source */
        if (!internal && (r = state_exit_actions(e, i, &m->states[i->state], t->event, payload)) < 0)
                return r;
        /* 2. the transition's own method and actions */
        if ((r = transition_run_actions(e, i, t, t->event, payload)) < 0)
                return r;
        /* 3. payload merged into the context (shallow; not with matchingRules) */
        if ((r = transition_merge_payload(e, i, t, payload)) < 0)
                return r;
        /* 4. state update */
        instance_set_state(i, t->to);
        if ((r = transition_record(e, i, previous, m->states[t->to].name, t->event)) < 0)
                return r;
        /* 5. entry actions, cascades of the entered state */
        if (!internal && (r = state_enter_actions(e, i, &m->states[t->to], t->event, payload)) < 0)
                return r;
        /* 6. notifyParent / parentLink */
        if ((r = parent_notify(e, i, t, previous)) < 0)
                return r;
        /* 7. inter_machine child, 8. cross_component */
        if ((r = transition_targets(e, i, t, payload)) < 0)
                return r;
        /* a targetless transition: its timers run on, nothing is armed again */
        if (t->targetless)
                return 0;
        /* 9. final / error */
        if (m->states[t->to].type == STATE_FINAL || m->states[t->to].type == STATE_ERROR)
                if ((r = instance_complete(e, i, &m->states[t->to])) < 0)
                        return r;
        /* 10. timeout scheduling (and auto transitions) */
        return timers_schedule(e, i, self);
}

int transition_process(xfsm_engine *e, Item *it) {
        const Transition *t = it->forced;
        xfsm_instance *i = it->inst;
        int r;

        assert(!i->machine->statechart);

        if (t) {
                if (t->from != i->state)
                        return 0; /* left the state meanwhile */
                if (!transition_guard_holds(e, t, i, it->payload))
                        return engine_fail(e, -XFSM_E_GUARD_FAILED, "guard of '%s' does not hold%s", t->event,
                                           e->guard_div_zero ? " (it divided by zero)" : "");
        } else if ((r = transition_choose(e, i, it->event, it->payload, it->routed, &t)) < 0)
                return r;
        return exec_transition(e, i, t, it->payload);
}

int instance_create(xfsm_engine *e, ComponentRt *c, const Machine *m, json_object *ctx,
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
        if (!i->context) {
                free(i);
                return -ENOMEM;
        }
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
                /* the initial configuration's eventless transitions, before any event */
                if ((r = sc_eventless(e, i, NULL)) < 0)
                        return r;
        } else {
                if ((r = state_enter_actions(e, i, &m->states[m->initial], NULL, NULL)) < 0)
                        return r;
                if (m->states[m->initial].type == STATE_FINAL || m->states[m->initial].type == STATE_ERROR)
                        i->status = m->states[m->initial].type == STATE_FINAL ? STATUS_COMPLETED : STATUS_ERROR;
                if ((r = timers_schedule(e, i, false)) < 0)
                        return r;
        }
        if (ret)
                *ret = i;
        return 0;
}
