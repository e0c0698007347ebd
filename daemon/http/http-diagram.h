/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A machine of a component definition (the Definition property, the YAML
 * as JSON) drawn: the mermaid stateDiagram-v2 text and transition list
 * xcomponent-ai's diagrams route answers, and an SVG laid out by Graphviz's
 * library (dot), each state a node with id "state-NAME" so that the
 * dashboard can highlight the current ones. Pure of the bus. */

#include <stddef.h>

#include <json-c/json.h>

typedef struct Diagrammer Diagrammer;

Diagrammer *diagrammer_new(void);
Diagrammer *diagrammer_free(Diagrammer *d);

/* The machine named machine of definition: NULL when there is none. */
json_object *definition_find_machine(json_object *definition, const char *machine);

/* {"diagram", "terminalStates", "transitions": [{"index", "from", "to",
 * "event", "type"}]}, current (may be NULL) marked. -ENOENT: no machine. */
int diagram_mermaid(json_object *definition, const char *machine, const char *current, json_object **ret);

/* The SVG text (current, may be NULL, filled). -ENOENT: no machine; -EIO:
 * Graphviz failed. */
int diagram_svg(Diagrammer *d, json_object *definition, const char *machine, const char *current, char **ret,
                size_t *ret_size);
