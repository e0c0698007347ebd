/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Steps as the engine builds them: effects added in order, every change to
 * an instance recorded in an undo log as it is made (so that a step, or the
 * part of it after a savepoint, can be undone), the FIFO queue of events a
 * step raises and its run to completion, and the commit that hands the step
 * to the step handler, its transitions to history and its routed events to
 * the router. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "macro.h"

static void effects_reset(xfsm_step *s, size_t from) {
        for (size_t i = from; i < s->n; i++) {
                free(s->v[i].message);
                routed_free(s->v[i].routed);
        }
        s->n = from;
}

void step_reset(xfsm_step *s) {
        effects_reset(s, 0);
        s->routed = routed_free(s->routed);
        s->has_id = false;
        s->event = NULL;
        s->component = NULL;
}

void step_begin(xfsm_engine *e, xfsm_step_cause cause, ComponentRt *c, const char *id, const char *event) {
        assert(c);

        e->step = &e->steps[e->delivering ? 1 : 0];
        step_reset(e->step);
        e->step->cause = cause;
        e->step->component = c->def->name;
        if (id) {
                memcpy(e->step->id, id, ID_LEN + 1);
                e->step->has_id = true;
        }
        e->step->event = event;
        e->step->origin = e->call_origin;
        e->step_comp = c;
        e->n_undo = 0;
        e->serial++;
        e->step_routed = 0;
        e->microsteps = 0;
        e->step_timer_base = e->next_timer_seq;
        e->last_error[0] = 0;
}

xfsm_effect *effect_add(xfsm_engine *e, xfsm_effect_kind kind, const xfsm_instance *i) {
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
        f->inst = (xfsm_instance *) i;
        if (i) {
                memcpy(f->id, i->id, ID_LEN + 1);
                f->machine = i->machine->name;
        } else
                f->id[0] = 0;
        return f;
}

int undo_push(xfsm_engine *e, Undo **ret) {
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
int undo_save(xfsm_engine *e, xfsm_instance *i) {
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

/* Set key (a key of holder, kept alive with it) in the instance's context:
 * one lookup in the context's table, the old value (a JSON null too) kept
 * for the undo with the reference the context held. */
int undo_context_set(xfsm_engine *e, xfsm_instance *i, json_object *holder, const char *key, json_object *v) {
        struct lh_table *t = json_object_get_object(i->context);
        struct lh_entry *ent;
        Undo *u;
        int r;

        assert(t);

        r = undo_push(e, &u);
        if (r < 0)
                return r;
        ent = lh_table_lookup_entry_w_hash(t, key, lh_get_hash(t, key));
        if (ent) {
                u->ctx.old = (json_object *) lh_entry_v(ent);
                u->ctx.had = true;
                lh_entry_set_val(ent, json_object_get(v));
        } else {
                if (json_object_object_add_ex(i->context, key, json_object_get(v), JSON_C_OBJECT_ADD_KEY_IS_NEW) < 0) {
                        json_object_put(v);
                        e->n_undo--;
                        return -ENOMEM;
                }
                u->ctx.old = NULL;
                u->ctx.had = false;
        }
        u->kind = UNDO_CTX_KEY;
        u->inst = i;
        u->ctx.key = key;
        u->ctx.holder = json_object_get(holder);
        return 0;
}

Savepoint step_savepoint(xfsm_engine *e) {
        e->serial++; /* instances are saved again after a savepoint */
        return (Savepoint) { e->n_undo, e->step->n };
}

static void queue_clear(xfsm_engine *e) {
        for (size_t k = e->qh; k < e->qt; k++)
                json_object_put(e->q[k].payload);
        e->qh = e->qt = 0;
}

void step_rollback(xfsm_engine *e, Savepoint sp) {
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
                        if (u->ctx.had)
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

/* The step's transitions go into the history of their instances once it
 * commits (a step undone leaves history as it was), before the step handler
 * sees the step: xfsm_step_instance_json() writes what they appended. */
static void history_commit(xfsm_engine *e) {
        if (e->history.limit == 0)
                return;
        for (size_t k = 0; k < e->step->n; k++) {
                const xfsm_effect *f = &e->step->v[k];
                xfsm_instance *i = f->inst; /* dropped ones go after this */

                if (f->kind != XFSM_EFFECT_TRANSITION || !i || i->dead)
                        continue;
                /* out of memory: the entry is left out, the step stands */
                (void) history_record(&i->log, &e->strings, f->event, f->from, f->to, i->updated_at, &e->history);
        }
}

void step_commit(xfsm_engine *e) {
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
                                (void) engine_route_default(NULL, e, e->step->v[k].routed);
                }
}

int step_enqueue(xfsm_engine *e, xfsm_instance *i, const char *event, json_object *payload,
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

void step_refused(xfsm_engine *e, const xfsm_instance *i, const char *event, int r) {
        xfsm_effect *f = effect_add(e, XFSM_EFFECT_REFUSED, i);
        if (!f)
                return;
        f->event = event;
        f->error = r;
        f->message = strdup(e->last_error[0] ? e->last_error : xfsm_strerror(r));
        if (i)
                f->from = xfsm_instance_state(i);
}

/* Handle one queued event. Refusals of raised events are effects; the
 * caller decides about the first (the step's own) event. */
int step_process_item(xfsm_engine *e, Item *it) {
        xfsm_instance *i;

        assert(it);
        i = it->inst;

        if (++e->microsteps > XFSM_MAX_MICROSTEPS)
                return engine_fail(e, -XFSM_E_LOOP, "more than %d microsteps for one event: loop refused",
                                   XFSM_MAX_MICROSTEPS);
        if (i->dead || i->drop_at_commit)
                return engine_fail(e, -XFSM_E_NO_SUCH_INSTANCE, "instance %s is gone", i->id);
        if (i->status != STATUS_ACTIVE)
                return engine_fail(e, -XFSM_E_NO_TRANSITION, "instance %s is %s in state '%s': no transition", i->id,
                                   xfsm_instance_status(i), xfsm_instance_state(i));
        return i->machine->statechart ? sc_process(e, it) : transition_process(e, it);
}

static bool is_fatal(int r) {
        return r == -ENOMEM || r == -XFSM_E_LOOP || r == -E2BIG;
}

/* Run the queue to completion. Refused raised events become effects. */
int step_drain(xfsm_engine *e) {
        while (e->qh < e->qt) {
                Item it = e->q[e->qh++];
                int r = step_process_item(e, &it);
                if (r < 0) {
                        if (is_fatal(r)) {
                                json_object_put(it.payload);
                                return r;
                        }
                        /* a done.state event nobody waits for is discarded, as in SCXML */
                        if (!(r == -XFSM_E_NO_TRANSITION && strncmp(it.event, "done.state.", 11) == 0))
                                step_refused(e, it.inst->dead ? NULL : it.inst, it.event, r);
                }
                json_object_put(it.payload);
        }
        e->qh = e->qt = 0;
        return 0;
}
