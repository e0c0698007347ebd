/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Dot paths, {{path}} templates and matchingRules over json-c values. */

#include <stdbool.h>

#include <json-c/json.h>

#include "model.h"

/* Follow "a.b.c" through objects (and array indexes). NULL if missing. */
json_object *json_path_get(json_object *root, const char *path);
/* The same, telling a JSON null that is there (*ret_found true, NULL
 * returned) from nothing there. */
json_object *json_path_lookup(json_object *root, const char *path, bool *ret_found);

/* eventProperty lookup: a path into the payload; "payload.x" also reaches x
 * when the payload itself has no "payload" key (xcomponent files write both). */
json_object *json_event_property(json_object *payload, const char *path);

/* A contextMapping source: "context.x" / "x" from the context, "event.x" /
 * "payload.x" from the event payload. */
json_object *json_mapping_source(json_object *context, json_object *payload, const char *path);

/* Fill {{path}} templates from ctx: a value that is exactly "{{path}}" keeps
 * the JSON type of what it names (null if missing); inside a longer string
 * it is rendered as text. Returns a new reference. */
json_object *json_template_render(json_object *tmpl, json_object *ctx);

/* A payload template (an object), compiled once when the definition is
 * loaded: which of its members are as written, exactly "{{path}}" or text
 * with {{path}} inside, so that rendering it for each event does not look
 * for the braces again. Takes tmpl. NULL when out of memory. */
Template *json_template_compile(json_object *tmpl);
Template *json_template_free(Template *t);
/* What json_template_render() gives for the template: a new object whose
 * keys are the template's own (borrowed: the definition outlives what it
 * renders), so none is copied. */
json_object *json_template_apply(const Template *t, json_object *ctx);

/* instance_value OP event_value, with JavaScript-like strictness: values of
 * different types are never equal; ordering compares numbers with numbers
 * and strings with strings; a missing side fails every rule. */
bool json_match(json_object *instance_value, MatchOp op, json_object *event_value);
bool json_rules_hold(const MatchingRule *rules, size_t n, json_object *payload, json_object *context);

/* Shallow: a new reference to a copy of a with every key of b set. */
json_object *json_merge_shallow(json_object *a, json_object *b);
