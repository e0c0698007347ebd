/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A component's machines as Graphviz dot or a Mermaid state diagram. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine-internal.h"
#include "macro.h"

/* the loaded definitions, by index */
static const Component *lookup(const xfsm_engine *e, const char *component) {
        for (size_t i = 0; i < xfsm_engine_n_components(e); i++) {
                const char *name = xfsm_engine_component_name(e, i);
                if (!component || streq(name, component))
                        return engine_component(e, i);
        }
        return NULL;
}

static void edge_label(const Transition *t, char *buf, size_t size) {
        /* an eventless transition has no event to show; a targetless one is drawn as a loop on its source */
        const char *event = t->event ?: "(eventless)";
        size_t len;

        switch (t->type) {
        case TRANSITION_TIMEOUT:
                snprintf(buf, size, "%s (timeout %" PRIu64 " ms)", event, t->timeout_ms);
                break;
        case TRANSITION_AUTO:
                if (t->timeout_ms > 0)
                        snprintf(buf, size, "%s (auto after %" PRIu64 " ms)", event, t->timeout_ms);
                else
                        snprintf(buf, size, "%s (auto)", event);
                break;
        case TRANSITION_INTER_MACHINE:
                snprintf(buf, size, "%s / create %s", event, t->target_machine);
                break;
        case TRANSITION_CROSS_COMPONENT:
                if (t->target_event)
                        snprintf(buf, size, "%s / %s to %s.%s", event, t->target_event, t->target_component,
                                 t->target_machine);
                else
                        snprintf(buf, size, "%s / create %s.%s", event, t->target_component, t->target_machine);
                break;
        default:
                snprintf(buf, size, "%s%s", event, t->guard ? " [guarded]" : "");
                break;
        }
        len = strlen(buf);
        if (t->targetless && len < size)
                snprintf(buf + len, size - len, " (targetless)");
}

static void dot_escape(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
}

/* A state, and for a compound or parallel one, its children in a cluster
 * (dashed for parallel regions), the state itself a node inside it. */
static void dot_state(const Machine *m, unsigned k, int indent, FILE *f) {
        const State *st = &m->states[k];

        if (st->n_children > 0) {
                fprintf(f, "%*ssubgraph \"cluster_%s_%s\" {\n%*slabel=\"%s%s\"; style=%s;\n", indent * 2, "", m->name,
                        st->name, indent * 2 + 2, "", st->name, st->parallel ? " (parallel)" : "",
                        st->parallel ? "dashed" : "rounded");
                fprintf(f, "%*s\"%s.%s\" [label=\"%s\", shape=plaintext];\n", indent * 2 + 2, "", m->name, st->name,
                        st->history == HISTORY_DEEP ? "H*" : st->history == HISTORY_SHALLOW ? "H" : "");
                for (size_t c = 0; c < st->n_children; c++)
                        dot_state(m, st->children[c], indent + 1, f);
                fprintf(f, "%*s}\n", indent * 2, "");
                return;
        }
        fprintf(f, "%*s\"%s.%s\" [label=\"%s\"", indent * 2, "", m->name, st->name, st->name);
        if (st->type == STATE_FINAL)
                fputs(", peripheries=2", f);
        else if (st->type == STATE_ERROR)
                fputs(", peripheries=2, color=red", f);
        fputs("];\n", f);
}

static void write_dot(const Component *c, const Machine *only, FILE *f) {
        char label[512];

        fprintf(f, "digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", c->name);
        for (size_t mi = 0; mi < c->n_machines; mi++) {
                const Machine *m = &c->machines[mi];
                if (only && m != only)
                        continue;
                fprintf(f, "  subgraph \"cluster_%s\" {\n    label=\"%s\";\n", m->name, m->name);
                fprintf(f, "    \"%s.__start\" [shape=point, label=\"\"];\n", m->name);
                for (size_t s = 0; s < m->n_states; s++)
                        if (m->states[s].parent < 0)
                                dot_state(m, (unsigned) s, 2, f);
                fprintf(f, "    \"%s.__start\" -> \"%s.%s\";\n", m->name, m->name, m->states[m->initial].name);
                for (size_t t = 0; t < m->n_transitions; t++) {
                        const Transition *tr = &m->transitions[t];
                        edge_label(tr, label, sizeof label);
                        fprintf(f, "    \"%s.%s\" -> \"%s.%s\" [label=\"", m->name, m->states[tr->from].name, m->name,
                                m->states[tr->to].name);
                        dot_escape(f, label);
                        fputc('"', f);
                        if (tr->type == TRANSITION_TIMEOUT)
                                fputs(", style=dashed", f);
                        else if (tr->type == TRANSITION_AUTO || tr->eventless)
                                fputs(", style=dotted", f);
                        fputs("];\n", f);
                }
                fputs("  }\n", f);
        }
        /* cascades, drawn between machines */
        for (size_t mi = 0; mi < c->n_machines; mi++) {
                const Machine *m = &c->machines[mi];
                if (only && m != only)
                        continue;
                for (size_t s = 0; s < m->n_states; s++)
                        for (size_t k = 0; k < m->states[s].n_cascades; k++) {
                                const CascadingRule *cr = &m->states[s].cascades[k];
                                bool local = !cr->target_component || streq(cr->target_component, c->name);
                                if (local && !only)
                                        fprintf(f, "  \"%s.%s\" -> \"%s.%s\" [label=\"cascade %s\", style=dashed, color=blue];\n",
                                                m->name, m->states[s].name, cr->target_machine, cr->target_state,
                                                cr->event);
                                else {
                                        fprintf(f, "  \"%s.%s.%s\" [shape=note, label=\"%s.%s in %s\"];\n",
                                                cr->target_component ?: c->name, cr->target_machine, cr->target_state,
                                                cr->target_component ?: c->name, cr->target_machine, cr->target_state);
                                        fprintf(f, "  \"%s.%s\" -> \"%s.%s.%s\" [label=\"cascade %s\", style=dashed, color=blue];\n",
                                                m->name, m->states[s].name, cr->target_component ?: c->name,
                                                cr->target_machine, cr->target_state, cr->event);
                                }
                        }
        }
        fputs("}\n", f);
}

static void mermaid_state(const Machine *m, unsigned k, int indent, FILE *f) {
        const State *st = &m->states[k];

        if (st->n_children == 0) {
                fprintf(f, "%*sstate \"%s\" as %s_%s\n", indent * 2, "", st->name, m->name, st->name);
                return;
        }
        fprintf(f, "%*sstate \"%s\" as %s_%s {\n", indent * 2, "", st->name, m->name, st->name);
        for (size_t c = 0; c < st->n_children; c++) {
                if (st->parallel && c > 0)
                        fprintf(f, "%*s--\n", indent * 2 + 2, "");
                mermaid_state(m, st->children[c], indent + 1, f);
        }
        if (!st->parallel)
                fprintf(f, "%*s[*] --> %s_%s\n", indent * 2 + 2, "", m->name, m->states[st->initial].name);
        fprintf(f, "%*s}\n", indent * 2, "");
}

static void write_mermaid(const Component *c, const Machine *only, FILE *f) {
        char label[512];
        bool nested = !only && c->n_machines > 1;
        const char *ind = nested ? "    " : "  ";

        fputs("stateDiagram-v2\n", f);
        for (size_t mi = 0; mi < c->n_machines; mi++) {
                const Machine *m = &c->machines[mi];
                if (only && m != only)
                        continue;
                if (nested)
                        fprintf(f, "  state %s {\n", m->name);
                for (size_t s = 0; s < m->n_states; s++)
                        if (m->states[s].parent < 0)
                                mermaid_state(m, (unsigned) s, nested ? 2 : 1, f);
                fprintf(f, "%s[*] --> %s_%s\n", ind, m->name, m->states[m->initial].name);
                for (size_t t = 0; t < m->n_transitions; t++) {
                        const Transition *tr = &m->transitions[t];
                        edge_label(tr, label, sizeof label);
                        /* ':' ends a mermaid label's source: keep it out */
                        for (char *p = label; *p; p++)
                                if (*p == ':')
                                        *p = ' ';
                        fprintf(f, "%s%s_%s --> %s_%s : %s\n", ind, m->name, m->states[tr->from].name, m->name,
                                m->states[tr->to].name, label);
                }
                for (size_t s = 0; s < m->n_states; s++)
                        if ((m->states[s].type == STATE_FINAL || m->states[s].type == STATE_ERROR) &&
                            m->states[s].parent < 0)
                                fprintf(f, "%s%s_%s --> [*]\n", ind, m->name, m->states[s].name);
                for (size_t s = 0; s < m->n_states; s++)
                        if (m->states[s].type == STATE_ERROR)
                                fprintf(f, "%sclass %s_%s error\n", ind, m->name, m->states[s].name);
                if (nested)
                        fputs("  }\n", f);
        }
        if (!only)
                for (size_t mi = 0; mi < c->n_machines; mi++) {
                        const Machine *m = &c->machines[mi];
                        for (size_t s = 0; s < m->n_states; s++)
                                for (size_t k = 0; k < m->states[s].n_cascades; k++) {
                                        const CascadingRule *cr = &m->states[s].cascades[k];
                                        if (!cr->target_component || streq(cr->target_component, c->name))
                                                fprintf(f, "  %s_%s --> %s_%s : cascade %s\n", m->name,
                                                        m->states[s].name, cr->target_machine, cr->target_state,
                                                        cr->event);
                                        else
                                                fprintf(f, "  note right of %s_%s : cascade %s to %s.%s in %s\n",
                                                        m->name, m->states[s].name, cr->event, cr->target_component,
                                                        cr->target_machine, cr->target_state);
                                }
                }
        fputs("  classDef error stroke:#c00\n", f);
}

int xfsm_engine_write_graph(const xfsm_engine *e, const char *component, const char *machine, const char *format,
                            FILE *f) {
        const Component *c = lookup(e, component);
        const Machine *m = NULL;

        if (!c)
                return -XFSM_E_NO_SUCH_COMPONENT;
        if (machine && !(m = component_find_machine(c, machine)))
                return -XFSM_E_NO_SUCH_MACHINE;
        if (!format || streq(format, "dot"))
                write_dot(c, m, f);
        else if (streq(format, "mermaid"))
                write_mermaid(c, m, f);
        else
                return -XFSM_E_INVALID_ARGUMENT;
        return ferror(f) ? -EIO : 0;
}
