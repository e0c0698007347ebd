/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Diagrams of machines: mermaid text for xcomponent-ai's route, SVG through
 * Graphviz's libgvc (layout "dot", renderer "svg"). */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* before Graphviz's headers, which define MIN and MAX only when not yet there */
#include "macro.h"

#include <graphviz/gvc.h>

#include "http-diagram.h"

struct Diagrammer {
        GVC_t *gvc;
};

Diagrammer *diagrammer_new(void) {
        Diagrammer *d = calloc(1, sizeof *d);

        if (!d)
                return NULL;
        d->gvc = gvContext();
        if (!d->gvc)
                return mfree(d);
        return d;
}

Diagrammer *diagrammer_free(Diagrammer *d) {
        if (!d)
                return NULL;
        gvFreeContext(d->gvc);
        return mfree(d);
}

static const char *member_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static json_object *member_array(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
                return NULL;
        return v;
}

json_object *definition_find_machine(json_object *definition, const char *machine) {
        json_object *machines = member_array(definition, "stateMachines");
        size_t n = machines ? json_object_array_length(machines) : 0;

        for (size_t k = 0; k < n; k++) {
                json_object *m = json_object_array_get_idx(machines, k);

                if (streq_ptr(member_string(m, "name"), machine))
                        return m;
        }
        return NULL;
}

static bool state_is_terminal(json_object *state) {
        const char *type = member_string(state, "type");
        return streq_ptr(type, "final") || streq_ptr(type, "error");
}

static const char *initial_state(json_object *m) {
        json_object *states = member_array(m, "states");
        const char *init = member_string(m, "initialState");
        size_t n = states ? json_object_array_length(states) : 0;

        if (init)
                return init;
        for (size_t k = 0; k < n; k++) {
                json_object *s = json_object_array_get_idx(states, k);

                if (streq_ptr(member_string(s, "type"), "entry"))
                        return member_string(s, "name");
        }
        return n > 0 ? member_string(json_object_array_get_idx(states, 0), "name") : NULL;
}

/* mermaid takes [A-Za-z0-9_] in state ids: names are identifiers already; an
 * event label loses what could end its line */
static void put_label(FILE *f, const char *s) {
        for (; s && *s; s++)
                fputc(*s == '\n' || *s == '\r' || *s == ':' ? ' ' : *s, f);
}

static bool machine_has_state(json_object *states, const char *name) {
        size_t n = states ? json_object_array_length(states) : 0;

        for (size_t k = 0; name && k < n; k++)
                if (streq_ptr(member_string(json_object_array_get_idx(states, k), "name"), name))
                        return true;
        return false;
}

int diagram_mermaid(json_object *definition, const char *machine, const char *current, json_object **ret) {
        _cleanup_(freep) char *text = NULL;
        json_object *m, *states, *transitions, *out, *terminal, *list;
        size_t size = 0, n_states, n_trans;
        const char *init;
        FILE *f;

        m = definition_find_machine(definition, machine);
        if (!m)
                return -ENOENT;
        states = member_array(m, "states");
        transitions = member_array(m, "transitions");
        n_states = states ? json_object_array_length(states) : 0;
        n_trans = transitions ? json_object_array_length(transitions) : 0;
        init = initial_state(m);

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fputs("stateDiagram-v2\n", f);
        if (init)
                fprintf(f, "    [*] --> %s\n", init);
        for (size_t k = 0; k < n_trans; k++) {
                json_object *t = json_object_array_get_idx(transitions, k);
                const char *from = member_string(t, "from"), *to = member_string(t, "to");

                if (!from || !to)
                        continue;
                fprintf(f, "    %s --> %s : ", from, to);
                put_label(f, member_string(t, "event"));
                fputc('\n', f);
        }
        for (size_t k = 0; k < n_states; k++) {
                json_object *s = json_object_array_get_idx(states, k);

                if (state_is_terminal(s) && member_string(s, "name"))
                        fprintf(f, "    %s --> [*]\n", member_string(s, "name"));
        }
        /* current comes from the query string: only a state of the machine is written out (anything
         * else could add lines, mermaid's "click" among them) */
        if (machine_has_state(states, current)) {
                fputs("    classDef currentState fill:#f9f,stroke:#333,stroke-width:4px\n", f);
                fprintf(f, "    class %s currentState\n", current);
        }
        if (fclose(f) != 0 || !text)
                return -ENOMEM;

        out = json_object_new_object();
        terminal = json_object_new_array();
        list = json_object_new_array();
        json_object_object_add(out, "diagram", json_object_new_string(text));
        for (size_t k = 0; k < n_states; k++) {
                json_object *s = json_object_array_get_idx(states, k);

                if (state_is_terminal(s) && member_string(s, "name"))
                        json_object_array_add(terminal, json_object_new_string(member_string(s, "name")));
        }
        json_object_object_add(out, "terminalStates", terminal);
        for (size_t k = 0; k < n_trans; k++) {
                json_object *t = json_object_array_get_idx(transitions, k), *e = json_object_new_object();

                json_object_object_add(e, "index", json_object_new_int64((int64_t) k));
                json_object_object_add(e, "from", json_object_new_string(member_string(t, "from") ?: ""));
                json_object_object_add(e, "to", json_object_new_string(member_string(t, "to") ?: ""));
                json_object_object_add(e, "event", json_object_new_string(member_string(t, "event") ?: ""));
                json_object_object_add(e, "type", json_object_new_string(member_string(t, "type") ?: "triggerable"));
                json_object_array_add(list, e);
        }
        json_object_object_add(out, "transitions", list);
        *ret = out;
        return 0;
}

static Agnode_t *node(Agraph_t *g, const char *name) {
        char id[300];
        Agnode_t *n = agnode(g, (char *) name, 1);

        snprintf(id, sizeof id, "state-%s", name);
        agsafeset(n, (char *) "id", id, "");
        return n;
}

int diagram_svg(Diagrammer *d, json_object *definition, const char *machine, const char *current, char **ret,
                size_t *ret_size) {
        json_object *m, *states, *transitions;
        size_t n_states, n_trans;
        const char *init;
        Agraph_t *g;
        char *data = NULL;
        unsigned len = 0;
        int r;

        assert(d);

        m = definition_find_machine(definition, machine);
        if (!m)
                return -ENOENT;
        states = member_array(m, "states");
        transitions = member_array(m, "transitions");
        n_states = states ? json_object_array_length(states) : 0;
        n_trans = transitions ? json_object_array_length(transitions) : 0;
        init = initial_state(m);

        g = agopen((char *) machine, Agdirected, NULL);
        if (!g)
                return -ENOMEM;
        agattr(g, AGRAPH, (char *) "rankdir", (char *) "LR");
        agattr(g, AGNODE, (char *) "shape", (char *) "box");
        agattr(g, AGNODE, (char *) "style", (char *) "rounded,filled");
        agattr(g, AGNODE, (char *) "fillcolor", (char *) "#ffffff");
        agattr(g, AGNODE, (char *) "fontname", (char *) "sans-serif");
        agattr(g, AGEDGE, (char *) "fontname", (char *) "sans-serif");
        agattr(g, AGEDGE, (char *) "fontsize", (char *) "10");

        for (size_t k = 0; k < n_states; k++) {
                json_object *s = json_object_array_get_idx(states, k);
                const char *name = member_string(s, "name");
                Agnode_t *n;

                if (!name)
                        continue;
                n = node(g, name);
                if (state_is_terminal(s))
                        agsafeset(n, (char *) "peripheries", (char *) "2", "1");
                if (streq_ptr(name, current))
                        agsafeset(n, (char *) "fillcolor", (char *) "#ffd54f", "#ffffff");
        }
        if (init) {
                Agnode_t *start = agnode(g, (char *) "__start", 1);

                agsafeset(start, (char *) "shape", (char *) "point", "box");
                agsafeset(start, (char *) "label", (char *) "", "");
                agedge(g, start, node(g, init), NULL, 1);
        }
        for (size_t k = 0; k < n_trans; k++) {
                json_object *t = json_object_array_get_idx(transitions, k);
                const char *from = member_string(t, "from"), *to = member_string(t, "to");
                char key[32];
                Agedge_t *e;

                if (!from || !to)
                        continue;
                snprintf(key, sizeof key, "t%zu", k);
                e = agedge(g, node(g, from), node(g, to), key, 1);
                if (e)
                        agsafeset(e, (char *) "label", (char *) (member_string(t, "event") ?: ""), "");
        }

        r = gvLayout(d->gvc, g, "dot");
        if (r == 0) {
                r = gvRenderData(d->gvc, g, "svg", &data, &len);
                gvFreeLayout(d->gvc, g);
        }
        agclose(g);
        if (r != 0 || !data) {
                if (data)
                        gvFreeRenderData(data);
                return -EIO;
        }

        *ret = strndup(data, len);
        gvFreeRenderData(data);
        if (!*ret)
                return -ENOMEM;
        *ret_size = len;
        return 0;
}
