/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Routed events in: what the default router queues for components of this
 * engine, and the delivery of a routed event (an event for the instances of
 * a machine that matchingRules select, or that xcomponent-ai's filters
 * select, or a creation) as one step. The
 * routed event itself, its JSON and its accessors, is routed.c's. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "json-path.h"
#include "macro.h"

/* Queue r (taken) for engine_deliver_local(). */
static int local_push(xfsm_engine *e, xfsm_routed *r) {
        if (!r)
                return -ENOMEM;
        if (e->lt == e->lcap) {
                if (e->lh > 0) {
                        memmove(e->local, e->local + e->lh, (e->lt - e->lh) * sizeof *e->local);
                        e->lt -= e->lh;
                        e->lh = 0;
                } else {
                        size_t cap = e->lcap ? e->lcap * 2 : 16;
                        xfsm_routed **v = realloc(e->local, cap * sizeof *v);
                        if (!v) {
                                routed_free(r);
                                return -ENOMEM;
                        }
                        e->local = v;
                        e->lcap = cap;
                }
        }
        e->local[e->lt++] = r;
        return 0;
}

/* The step's own routed events (effects, whose strings are the definitions',
 * which live as long as the engine): a copy that borrows the same strings
 * will do (routed_borrow()), with no string copied and freed per event. */
int engine_route_default(void *userdata, xfsm_engine *e, const xfsm_routed *r) {
        if (!engine_find_comp(e, r->target_component))
                return -XFSM_E_NO_SUCH_COMPONENT; /* stays visible as an effect */
        return local_push(e, routed_borrow(r));
}

/* An event from the caller, queued until the next engine call: copied whole. */
int xfsm_engine_route_local(xfsm_engine *e, const xfsm_routed *r) {
        if (!engine_find_comp(e, r->target_component))
                return -XFSM_E_NO_SUCH_COMPONENT;
        return local_push(e, routed_copy(r));
}

/* Still in the state of that name (of its own definition: versions differ)? */
static bool in_state_named(const xfsm_instance *i, const char *name) {
        const State *st = machine_find_state(i->machine, name);
        if (!st)
                return false;
        return i->machine->statechart ? engine_in_state(i, st->index) : i->state == st->index;
}

/* Deliver r (taken) as one step. */
int engine_deliver(xfsm_engine *e, xfsm_routed *r, xfsm_step_cause cause, unsigned *ret_delivered) {
        _cleanup_(routed_freep) xfsm_routed *owned = r; /* the step's once it begins */
        _cleanup_(freep) xfsm_instance **v = NULL;
        ComponentRt *c;
        const Machine *m;
        const State *st = NULL;
        unsigned delivered = 0;
        size_t n = 0;
        int k;

        assert(r);

        c = engine_find_comp(e, r->target_component);
        if (!c)
                return engine_fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s' here", r->target_component);
        m = component_find_machine(c->def, r->target_machine);
        if (!m)
                return engine_fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in component '%s'", r->target_machine,
                                   c->def->name);
        if (r->target_state && !streq(r->target_state, "*") && !(st = machine_find_state(m, r->target_state)))
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "machine '%s' has no state '%s'", m->name,
                                   r->target_state);

        step_begin(e, cause, c, NULL, r->event);
        e->step->routed = TAKE_PTR(owned);
        e->step_hops = r->hops;

        if (r->hops > XFSM_MAX_HOPS) {
                engine_fail(e, -XFSM_E_LOOP, "routed event '%s' took more than %d hops: loop refused",
                            r->event ?: "create", XFSM_MAX_HOPS);
                step_refused(e, NULL, r->event, -XFSM_E_LOOP);
                step_commit(e);
                e->step_hops = 0;
                return -XFSM_E_LOOP;
        }

        if (r->kind == XFSM_ROUTED_CREATE) {
                Savepoint sp = step_savepoint(e);
                int q;
                if (engine_singleton_taken(e, c, m)) {
                        engine_fail(e, -XFSM_E_SINGLETON_EXISTS, "singleton %s exists already", m->name);
                        step_refused(e, NULL, NULL, -XFSM_E_SINGLETON_EXISTS);
                } else {
                        json_object *ctx = json_merge_shallow(r->payload, NULL);
                        q = ctx ? instance_create(e, c, m, ctx, NULL, false, NULL) : -ENOMEM;
                        if (q >= 0)
                                q = step_drain(e);
                        if (q < 0) {
                                step_rollback(e, sp);
                                step_refused(e, NULL, NULL, q);
                        } else
                                delivered = 1;
                }
        } else {
                /* from xcomponent-ai: its filters select, and each instance takes the event
                 * as a direct send (its transitions' matchingRules only choose among several) */
                Selector sel = r->xcomponent ? (Selector) { .filters = r->filters, .n_filters = r->n_filters,
                                                            .direct = true }
                                             : (Selector) { .rules = r->rules, .n_rules = r->n_rules };
                k = engine_select_receivers(e, c, m, st, r->event, &sel, r->payload, &v, &n);
                if (k < 0) {
                        step_rollback(e, (Savepoint) {});
                        e->step_hops = 0;
                        return k;
                }
                for (size_t j = 0; j < n; j++) {
                        xfsm_instance *i = v[j];
                        Savepoint sp = step_savepoint(e);
                        Item it = { i, r->event, json_object_get(r->payload), NULL, !r->xcomponent };
                        int q;

                        if (i->dead || i->drop_at_commit ||
                            (st && (i->machine == m ? i->state != st->index : !in_state_named(i, st->name)))) {
                                json_object_put(it.payload);
                                continue; /* moved meanwhile */
                        }
                        q = step_process_item(e, &it);
                        json_object_put(it.payload);
                        if (q >= 0)
                                q = step_drain(e);
                        if (q < 0) {
                                step_rollback(e, sp);
                                step_refused(e, i, r->event, q);
                        } else
                                delivered++;
                }
        }
        step_commit(e);
        e->step_hops = 0;
        if (ret_delivered)
                *ret_delivered = delivered;
        return 0;
}

/* Deliver what the default router queued, in order, each its own step. */
void engine_deliver_local(xfsm_engine *e) {
        if (e->delivering)
                return;
        e->delivering = true;
        while (e->lh < e->lt) {
                xfsm_routed *r = e->local[e->lh++];
                (void) engine_deliver(e, r, XFSM_STEP_ROUTED, NULL);
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
        k = engine_deliver(e, c, XFSM_STEP_ROUTED, ret_delivered);
        engine_deliver_local(e);
        return k;
}

int xfsm_engine_deliver_from(xfsm_engine *e, const xfsm_routed *r, void *origin, unsigned *ret_delivered) {
        int k;

        e->call_origin = origin;
        k = xfsm_engine_deliver(e, r, ret_delivered);
        e->call_origin = NULL;
        return k;
}

int xfsm_engine_deliver_json(xfsm_engine *e, const char *routed_json, unsigned *ret_delivered) {
        xfsm_routed *r;
        int k;

        k = routed_from_json(routed_json, &r);
        if (k < 0)
                return engine_fail(e, k, "routed event is not valid");
        k = engine_deliver(e, r, XFSM_STEP_ROUTED, ret_delivered);
        engine_deliver_local(e);
        return k;
}
