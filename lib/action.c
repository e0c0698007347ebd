/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Actions and the events transitions send: running a list of actions
 * (methods reported, assign, send, cancel, unit and exec; ACTIONS in
 * xfsm.component(5)), sends to self, the parent, the instances of a machine
 * or another component (routed), cascading rules, notifyParent, and which
 * instances an event sent to a machine reaches. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "guard.h"
#include "json-path.h"
#include "macro.h"

/* Run a list of actions (ACTIONS in xfsm.component(5)) for instance i; event
 * and payload are those of the event being handled (NULL when entering at
 * creation). */
int actions_run(xfsm_engine *e, xfsm_instance *i, const Action *a, size_t n, const char *event,
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
                                r = undo_context_set(e, i, NULL, a[k].assigns[j].key, v);
                                json_object_put(v);
                                if (r < 0)
                                        return r;
                        }
                        if (!effect_add(e, XFSM_EFFECT_CONTEXT_CHANGED, i))
                                return -ENOMEM;
                        break;
                case ACTION_SEND: {
                        json_object *p = a[k].payload ? json_template_apply(a[k].payload, i->context)
                                                      : json_object_new_object();
                        if (!p)
                                return -ENOMEM;
                        if (a[k].has_delay)
                                r = timer_arm_send(e, i, &a[k], p);
                        else {
                                r = action_send(e, i, &a[k], p);
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
                             const Selector *sel, json_object *payload, xfsm_instance ***pv, size_t *pn,
                             size_t *pcap) {
        xfsm_instance **v = *pv;
        size_t n = *pn, cap = *pcap;

        for (size_t s = 0; s < m->n_states; s++) {
                /* a statechart instance may be in several states: look at each once, through the first */
                if (m->statechart ? s > 0 : (state && state->index != s))
                        continue;
                for (xfsm_instance *i = m->statechart ? c->all_head : c->lists[m->index][s].head; i;
                     i = m->statechart ? i->all_next : i->state_next) {
                        const Transition *t;
                        Selection chosen;
                        if (i->status != STATUS_ACTIVE || i->machine != m)
                                continue;
                        if (m->statechart && state && !engine_in_state(i, state->index))
                                continue;
                        if (sel->n_rules > 0 && !json_rules_hold(sel->rules, sel->n_rules, payload, i->context))
                                continue;
                        if (sel->n_filters > 0 && !routed_filters_hold(sel->filters, sel->n_filters, i->context))
                                continue;
                        if (m->statechart ? sc_choose(e, i, event, payload, !sel->direct, &chosen) < 0
                                          : transition_choose(e, i, event, payload, !sel->direct, &t) < 0)
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
int engine_select_receivers(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                            const Selector *sel, json_object *payload, xfsm_instance ***ret, size_t *ret_n) {
        _cleanup_(freep) xfsm_instance **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        assert(ret);
        assert(ret_n);

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
                r = select_in_version(e, cc, mm, ss, event, sel, payload, &v, &n, &cap);
        }
        if (r < 0)
                return r;
        e->last_error[0] = 0;
        if (n > 1)
                qsort(v, n, sizeof *v, collect_by_creation);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int send_routed(xfsm_engine *e, const xfsm_instance *src, xfsm_routed_kind kind, const char *component,
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
        if (n_rules > 0 && routed_resolve_values(r, src->context) < 0) {
                routed_free(r);
                return -ENOMEM;
        }
        f = effect_add(e, XFSM_EFFECT_ROUTED, src);
        if (!f) {
                routed_free(r);
                return -ENOMEM;
        }
        f->routed = r;
        f->event = r->event;
        return 0;
}

int send_fan_out(xfsm_engine *e, ComponentRt *c, const Machine *m, const State *state, const char *event,
                 const MatchingRule *rules, size_t n_rules, json_object *payload) {
        _cleanup_(freep) xfsm_instance **v = NULL;
        size_t n = 0;
        int r;

        r = engine_select_receivers(e, c, m, state, event, &(Selector) { .rules = rules, .n_rules = n_rules }, payload,
                                    &v, &n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n && r >= 0; k++)
                r = step_enqueue(e, v[k], event, json_object_get(payload), NULL, true);
        return r;
}

int cascades_run(xfsm_engine *e, xfsm_instance *i, const State *st) {
        int r = 0;

        for (size_t k = 0; k < st->n_cascades && r >= 0; k++) {
                const CascadingRule *cr = &st->cascades[k];
                json_object *payload = cr->payload ? json_template_apply(cr->payload, i->context)
                                                   : json_object_new_object();
                if (!payload)
                        return -ENOMEM;
                if (!cr->target_component || streq(cr->target_component, i->comp->def->name)) {
                        const Machine *tm = component_find_machine(i->comp->def, cr->target_machine);
                        r = send_fan_out(e, i->comp, tm, machine_find_state(tm, cr->target_state), cr->event,
                                         cr->rules, cr->n_rules, payload);
                } else
                        r = send_routed(e, i, XFSM_ROUTED_EVENT, cr->target_component, cr->target_machine,
                                        cr->target_state, cr->event, payload, cr->rules, cr->n_rules);
                json_object_put(payload);
        }
        return r;
}

int parent_notify(xfsm_engine *e, xfsm_instance *i, const Transition *t, const char *previous) {
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
                engine_fail(e, -XFSM_E_NO_SUCH_INSTANCE, "parent %s is gone", i->parent_id);
                step_refused(e, i, event, -XFSM_E_NO_SUCH_INSTANCE);
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
        return step_enqueue(e, parent, event, p, NULL, false);
}

int action_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload) {
        xfsm_instance *parent;
        const Machine *tm;

        switch (a->to) {
        case SEND_SELF:
                return step_enqueue(e, i, a->event, json_object_get(payload), NULL, false);
        case SEND_PARENT:
                parent = i->parent_id ? instance_map_get(&e->map, i->parent_id) : NULL;
                if (!parent || parent->dead) {
                        engine_fail(e, -XFSM_E_NO_SUCH_INSTANCE, "send to parent: %s",
                                    i->parent_id ? "the parent is gone" : "no parent");
                        step_refused(e, i, a->event, -XFSM_E_NO_SUCH_INSTANCE);
                        return 0;
                }
                return step_enqueue(e, parent, a->event, json_object_get(payload), NULL, false);
        case SEND_COMPONENT:
                if (!streq(a->to_component, i->comp->def->name))
                        return send_routed(e, i, XFSM_ROUTED_EVENT, a->to_component, a->to_machine, NULL, a->event,
                                           payload, a->rules, a->n_rules);
                _fallthrough_;
        case SEND_MACHINE:
                tm = component_find_machine(i->comp->def, a->to_machine);
                return send_fan_out(e, i->comp, tm, NULL, a->event, a->rules, a->n_rules, payload);
        }
        return 0;
}
