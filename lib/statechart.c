/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Statecharts (STATECHARTS in xfsm.component(5)): compound and parallel
 * states, history, done.state events, eventless and targetless transitions,
 * run as the SCXML 1.0 algorithm (W3C, Appendix D) runs them. The steps of a
 * transition they share with flat machines (actions, payload, completion,
 * timers, notifyParent, children) are transition.c's, action.c's and
 * engine-timers.c's.
 *
 * A statechart instance's configuration is a bitset of active states (states
 * are numbered in document order, parents first, so a subtree is a range).
 * An event selects, for each active atomic state in document order, the
 * first transition that takes it in the state itself, else in its nearest
 * ancestor that has one; of two whose exit sets meet, the one whose source
 * is a descendant of the other's wins, else the one selected first
 * (SCXML's removeConflictingTransitions). The set is one microstep: exits
 * innermost first (recording history), the transitions' actions in that
 * order, entries outermost first. After every microstep, before the next
 * event is taken from the queue, the eventless transitions are selected the
 * same way and taken, again and again while any is enabled. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "json-path.h"
#include "macro.h"

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
int sc_refresh(xfsm_instance *i) {
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

/* The state whose descendants a transition exits (SCXML's transition
 * domain): the source itself for an internal transition from a compound
 * state to a descendant, else the least compound ancestor of source and
 * target (an internal transition from a parallel or atomic state is an
 * external one); -1 is the machine. */
static int sc_domain(const Machine *m, const Transition *t) {
        const State *src = &m->states[t->from];

        if (t->type == TRANSITION_INTERNAL && src->n_children > 0 && !src->parallel && sc_below(m, t->to, (int) t->from))
                return (int) t->from;
        for (int a = src->parent; a >= 0; a = m->states[a].parent)
                if (!m->states[a].parallel && sc_below(m, t->to, a))
                        return a;
        return -1;
}

/* The active proper descendants of domain d (-1: the machine). */
static void sc_exit_set(const xfsm_instance *i, int d, uint64_t *exit) {
        const Machine *m = i->machine;
        unsigned from = d < 0 ? 0 : (unsigned) d + 1, to = d < 0 ? m->n_states : m->states[d].end;

        for (unsigned k = from; k < to; k++)
                if (bit(i->active, k))
                        bit_set(exit, k);
}

static bool sc_meet(const uint64_t *a, const uint64_t *b, unsigned n_words) {
        uint64_t x = 0;
        for (unsigned w = 0; w < n_words; w++)
                x |= a[w] & b[w];
        return x != 0;
}

/* Select the transitions event takes (event NULL: the eventless ones), see
 * above, into sel (sel->n may be 0), with their domains and the states they
 * exit (none for a targetless one), for the microstep. n_event counts the
 * transitions on the event met on the way (for the refusal's reason). */
static inline int sc_select(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload,
                            bool routed, Selection *sel, unsigned *ret_n_event) {
        const Machine *m = i->machine;
        uint64_t (*exits)[STATECHART_WORDS] = NULL;
        uint64_t exit_buf[4][STATECHART_WORDS];
        unsigned n_event = 0;
        size_t n = 0;

        memset(sel->exit, 0, sizeof sel->exit);
        e->guard_div_zero = false;
        for (unsigned leaf = 0; leaf < m->n_states; leaf++) {
                const Transition *found = NULL;
                if (!bit(i->active, leaf) || m->states[leaf].n_children > 0)
                        continue;
                for (int s = (int) leaf; s >= 0 && !found; s = m->states[s].parent) {
                        const State *st = &m->states[s];
                        unsigned here = 0;
                        if (!event) {
                                if (!st->has_eventless)
                                        continue;
                                for (size_t k = 0; k < st->n_out && !found; k++)
                                        if (st->out[k]->eventless && transition_guard_holds(e, st->out[k], i, payload))
                                                found = st->out[k];
                                continue;
                        }
                        for (size_t k = 0; k < st->n_out; k++)
                                here += transition_event_is(st->out[k], event);
                        n_event += here;
                        for (size_t k = 0; k < st->n_out && !found; k++) {
                                const Transition *t = st->out[k];
                                if (!transition_event_is(t, event) || !transition_guard_holds(e, t, i, payload))
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
                        dup = dup || sel->t[k] == found;
                if (dup || n >= STATECHART_MAX_STATES)
                        continue;
                if (n == 4 && !exits) {
                        /* more than a few at once: room for as many as there are states */
                        exits = malloc(STATECHART_MAX_STATES * sizeof *exits);
                        if (!exits)
                                return -ENOMEM;
                        memcpy(exits, exit_buf, sizeof exit_buf);
                }
                uint64_t (*x)[STATECHART_WORDS] = exits ?: exit_buf;
                int d = found->targetless ? 0 : sc_domain(m, found);
                for (unsigned w = 0; w < m->n_words; w++)
                        x[n][w] = 0;
                if (!found->targetless)
                        sc_exit_set(i, d, x[n]);
                if (sc_meet(x[n], sel->exit, m->n_words)) {
                        /* conflicts: a transition from a descendant of an earlier one's source
                         * preempts it, else the earlier one wins */
                        bool preempted = false;
                        for (size_t k = 0; k < n && !preempted; k++)
                                if (sc_meet(x[n], x[k], m->n_words) && !sc_below(m, found->from, (int) sel->t[k]->from))
                                        preempted = true;
                        if (preempted)
                                continue;
                        size_t kept = 0;
                        memset(sel->exit, 0, sizeof sel->exit);
                        for (size_t k = 0; k < n; k++) {
                                if (sc_meet(x[n], x[k], m->n_words))
                                        continue;
                                sel->t[kept] = sel->t[k];
                                sel->domain[kept] = sel->domain[k];
                                memcpy(x[kept], x[k], m->n_words * sizeof(uint64_t));
                                for (unsigned w = 0; w < m->n_words; w++)
                                        sel->exit[w] |= x[kept][w];
                                kept++;
                        }
                        memcpy(x[kept], x[n], m->n_words * sizeof(uint64_t));
                        n = kept;
                }
                for (unsigned w = 0; w < m->n_words; w++)
                        sel->exit[w] |= x[n][w];
                sel->t[n] = found;
                sel->domain[n++] = d;
        }
        free(exits);
        sel->n = n;
        if (ret_n_event)
                *ret_n_event = n_event;
        return 0;
}

int sc_choose(xfsm_engine *e, const xfsm_instance *i, const char *event, json_object *payload, bool routed,
              Selection *sel) {
        const Machine *m = i->machine;
        unsigned n_event = 0;
        int r;

        assert(event);

        r = sc_select(e, i, event, payload, routed, sel, &n_event);
        if (r < 0)
                return r;
        if (sel->n > 0)
                return 0;
        if (n_event == 0)
                return engine_fail(e, -XFSM_E_NO_TRANSITION, "no transition from '%s' on '%s' in machine '%s'",
                                   i->state_text, event, m->name);
        return engine_fail(e, -XFSM_E_GUARD_FAILED, "no guard holds for '%s' in '%s' of machine '%s'%s", event,
                           i->state_text, m->name, e->guard_div_zero ? " (a guard divided by zero)" : "");
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

/* SCXML's isInFinalState: a compound state whose active child is final, a
 * parallel state whose every region is in a final state (a region that is
 * itself parallel too, recursively). */
static bool sc_in_final(const xfsm_instance *i, int s) {
        const Machine *m = i->machine;
        const State *st = &m->states[s];

        if (st->n_children == 0)
                return false;
        for (size_t c = 0; c < st->n_children; c++) {
                unsigned ch = st->children[c];
                if (st->parallel && !sc_in_final(i, (int) ch))
                        return false;
                if (!st->parallel && bit(i->active, ch) && m->states[ch].type == STATE_FINAL)
                        return true;
        }
        return st->parallel;
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
                if ((r = state_enter_actions(e, i, st, event, payload)) < 0 ||
                    (r = timers_arm_entered(e, i, st)) < 0)
                        return r;
                if (st->type != STATE_FINAL && st->type != STATE_ERROR)
                        continue;
                if (st->parent < 0) {
                        if ((r = instance_complete(e, i, st)) < 0)
                                return r;
                        continue;
                }
                /* a final child: done.state.<Parent>, and for a parallel grandparent once
                 * every region is done */
                const State *p = &m->states[st->parent];
                if (st->type == STATE_FINAL &&
                    (r = step_enqueue(e, i, p->done_event, NULL, NULL, false)) < 0)
                        return r;
                /* the regions entered later in this microstep are not in yet (SCXML's
                 * enterStates): the last region's final raises it, once */
                if (st->type == STATE_FINAL && p->parent >= 0 && m->states[p->parent].parallel &&
                    sc_in_final(i, p->parent) &&
                    (r = step_enqueue(e, i, m->states[p->parent].done_event, NULL, NULL, false)) < 0)
                        return r;
        }
        return 0;
}

/* The configuration is one SCXML allows: one top-level state active, the
 * parent of every active state active, one child of an active compound
 * state active, every child of an active parallel state. */
bool sc_configuration_legal(const Machine *m, const uint64_t *active, char *why, size_t size) {
        unsigned top = 0;

        for (unsigned k = 0; k < m->n_states; k++) {
                const State *st = &m->states[k];
                unsigned n = 0;
                if (!bit(active, k))
                        continue;
                if (st->parent < 0)
                        top++;
                else if (!bit(active, (unsigned) st->parent)) {
                        snprintf(why, size, "'%s' is active, its parent '%s' is not", st->name,
                                 m->states[st->parent].name);
                        return false;
                }
                for (size_t c = 0; c < st->n_children; c++)
                        n += bit(active, st->children[c]);
                if (st->n_children > 0 && (st->parallel ? n != st->n_children : n != 1)) {
                        snprintf(why, size, "%s state '%s' is active with %u of its %zu children active",
                                 st->parallel ? "parallel" : "compound", st->name, n, st->n_children);
                        return false;
                }
        }
        if (top != 1) {
                snprintf(why, size, "%u top-level states are active", top);
                return false;
        }
        return true;
}

/* With XFSM_CHECK_CONFIGURATION set (the tests set it), an illegal
 * configuration after a microstep is a bug of the engine: abort, loudly. */
static void sc_check(const xfsm_engine *e, const xfsm_instance *i) {
        char why[256];

        if (!e->check_configuration || sc_configuration_legal(i->machine, i->active, why, sizeof why))
                return;
        fprintf(stderr, "xfsm: illegal configuration of %s instance %s after a microstep: %s\n", i->machine->name,
                i->id, why);
        abort();
}

/* One microstep: the transitions of sel (selected together, with their
 * domains and exit set) taken at once. An eventless microstep (event NULL)
 * merges no payload; payload is still the last event's, which guards and
 * assignments see. */
static int sc_microstep(xfsm_engine *e, xfsm_instance *i, const Selection *sel, const char *event,
                        json_object *payload) {
        const Machine *m = i->machine;
        const Transition *const *ts = sel->t;
        const uint64_t *exit = sel->exit;
        size_t n = sel->n;
        uint64_t enter[STATECHART_WORDS] = {};
        const char *previous = i->state_text;
        int r;

        assert(n > 0);

        r = undo_save(e, i);
        if (r < 0)
                return r;
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
                if (ts[k]->targetless)
                        continue;
                sc_add_descendants(i, ts[k]->to, enter);
                sc_add_ancestors(i, ts[k]->to, sel->domain[k], enter);
        }
        /* exit, innermost (last in document order) first */
        for (unsigned k = m->n_states; k > 0; k--) {
                const State *st = &m->states[k - 1];
                if (!bit(exit, k - 1))
                        continue;
                if ((r = state_exit_actions(e, i, st, event, payload)) < 0)
                        return r;
                sc_exit_timers(e, i, k - 1, enter);
                bit_clear(i->active, k - 1);
        }
        /* the transitions' own methods and actions, in the order selected, then the payload */
        for (size_t k = 0; k < n; k++)
                if ((r = transition_run_actions(e, i, ts[k], event, payload)) < 0)
                        return r;
        if (event && (r = transition_merge_payload(e, i, ts[0], payload)) < 0)
                return r;
        if ((r = sc_enter(e, i, enter, event, payload)) < 0)
                return r;
        if ((r = sc_refresh(i)) < 0)
                return r;
        /* an eventless transition's record names its event if it has one (an auto), else none */
        if ((r = transition_record(e, i, previous, i->state_text, ts[0]->event ?: "")) < 0)
                return r;
        for (size_t k = 0; k < n; k++)
                if ((r = parent_notify(e, i, ts[k], previous)) < 0 ||
                    (r = transition_targets(e, i, ts[k], payload)) < 0)
                        return r;
        (void) timers_cancel_completed(e, i);
        sc_check(e, i);
        return 0;
}

/* The eventless transitions enabled now, taken as one microstep, again and
 * again while any is (each a microstep within the bound on loops). */
int sc_eventless(xfsm_engine *e, xfsm_instance *i, json_object *payload) {
        Selection sel;
        int r;

        if (!i->machine->has_eventless)
                return 0;
        while (i->status == STATUS_ACTIVE) {
                r = sc_select(e, i, NULL, payload, false, &sel, NULL);
                if (r < 0)
                        return r;
                if (sel.n == 0)
                        break;
                if (++e->microsteps > XFSM_MAX_MICROSTEPS)
                        return engine_fail(e, -XFSM_E_LOOP,
                                           "more than %d microsteps for one event (eventless transitions enabled "
                                           "again and again in machine '%s'): loop refused",
                                           XFSM_MAX_MICROSTEPS, i->machine->name);
                r = sc_microstep(e, i, &sel, NULL, payload);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sc_process(xfsm_engine *e, Item *it) {
        xfsm_instance *i = it->inst;
        Selection sel;
        int r;

        if (it->forced) {
                const Transition *t = it->forced;
                if (!bit(i->active, t->from))
                        return 0; /* left the state meanwhile */
                if (!transition_guard_holds(e, t, i, it->payload))
                        return engine_fail(e, -XFSM_E_GUARD_FAILED, "guard of '%s' does not hold", t->event);
                sel.t[0] = t;
                sel.n = 1;
                memset(sel.exit, 0, sizeof sel.exit);
                if (!t->targetless) {
                        sel.domain[0] = sc_domain(i->machine, t);
                        sc_exit_set(i, sel.domain[0], sel.exit);
                }
        } else if ((r = sc_choose(e, i, it->event, it->payload, it->routed, &sel)) < 0)
                return r;
        r = sc_microstep(e, i, &sel, it->event, it->payload);
        if (r < 0)
                return r;
        /* before the next event: the eventless transitions this microstep enabled */
        return i->machine->has_eventless ? sc_eventless(e, i, it->payload) : 0;
}

/* A statechart instance comes to life in the initial state and its default descendants. */
int sc_start(xfsm_engine *e, xfsm_instance *i) {
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
        if ((r = sc_refresh(i)) < 0)
                return r;
        sc_check(e, i);
        return 0;
}
