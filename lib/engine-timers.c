/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Timers: timeouts, delayed auto transitions and delayed sends armed on an
 * instance (and in the engine's heap once the step commits), cancelled when
 * their state is left, and fired when due, each as its own step; retention
 * expiry of completed instances. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "engine-internal.h"
#include "macro.h"

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
int timer_arm_send(xfsm_engine *e, xfsm_instance *i, const Action *a, json_object *payload) {
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

void timer_remove(xfsm_engine *e, xfsm_instance *i, size_t k, bool report) {
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
void timers_cancel_all(xfsm_engine *e, xfsm_instance *i, bool sends_too) {
        for (size_t k = i->n_timers; k > 0; k--)
                if (sends_too || !i->timers[k - 1].send)
                        timer_remove(e, i, k - 1, true);
}

/* A timeout of st still running when st is entered again (a statechart
 * kept it through the exit, a flat machine's self-transition) keeps running
 * when resetOnTransition is false, and starts again otherwise. */
int timers_arm_entered(xfsm_engine *e, xfsm_instance *i, const State *st) {
        int r;

        if (!st->has_timers && !st->has_auto)
                return 0;
        for (size_t k = 0; k < st->n_out; k++) {
                const Transition *t = st->out[k];
                bool delayed = t->type == TRANSITION_TIMEOUT || (t->type == TRANSITION_AUTO && t->timeout_ms > 0);

                if ((t->type != TRANSITION_TIMEOUT && t->type != TRANSITION_AUTO) || t->eventless)
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
                        r = step_enqueue(e, i, t->event, NULL, t, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool timers_cancel_completed(xfsm_engine *e, xfsm_instance *i) {
        if (i->status == STATUS_ACTIVE)
                return false;
        timers_cancel_all(e, i, true);
        return true;
}

/* Leaving a state cancels its timeouts (not across a self-transition). */
int timers_schedule(xfsm_engine *e, xfsm_instance *i, bool self) {
        if (timers_cancel_completed(e, i))
                return 0;
        if (!self)
                timers_cancel_all(e, i, false);
        return timers_arm_entered(e, i, &i->machine->states[i->state]);
}

/* ---- timers due ---------------------------------------------------------- */

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

        step_begin(e, XFSM_STEP_TIMER, i->comp, i->id, fired.event);
        r = undo_save(e, i);
        if (r < 0)
                return r;
        json_object_get(fired.payload); /* the timer goes, the send keeps its payload */
        for (size_t k = 0; k < i->n_timers; k++)
                if (i->timers[k].seq == h->seq) {
                        timer_remove(e, i, k, false);
                        break;
                }
        sp = step_savepoint(e);
        if (fired.send)
                r = action_send(e, i, fired.send, fired.payload);
        else {
                Item it = { i, fired.event, NULL, fired.t, false };
                r = step_process_item(e, &it);
        }
        json_object_put(fired.payload);
        if (r >= 0)
                r = step_drain(e);
        if (r < 0) {
                step_rollback(e, sp);
                step_refused(e, i, fired.event, r);
        }
        step_commit(e);
        engine_deliver_local(e);
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
                                step_commit(e);
                        c = i->comp;
                        step_begin(e, XFSM_STEP_RETENTION, c, NULL, NULL);
                }
                if (undo_save(e, i) < 0) {
                        instance_heap_unref(i);
                        continue;
                }
                i->drop_at_commit = true;
                effect_add(e, XFSM_EFFECT_DROPPED, i);
                instance_heap_unref(i);
        }
        if (c)
                step_commit(e);
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
