/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guard expression language (xfsm.component(5)): parsed once at load into a
 * small tree, evaluated over the context and the event payload without
 * allocation and without eval, in time bounded by the expression's size.
 *
 *   a || b   a && b   !a   a == b   a != b (=== and !== too)   < <= > >=
 *   + - * /   (a)   x in [1, 'two', context.y]   exists(path)
 *   'text' "text" 12 1.5 true false null
 *   context.a.b   event.a (the payload)   a (bare: context.a)
 *
 * Types a user can predict: a missing path is null; values of different types
 * are never equal (so != is true) and never ordered; arithmetic is on numbers
 * only (else null); a division by zero makes the whole guard false and is
 * reported; && || ! take JavaScript's truthiness. */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

typedef struct Guard Guard;

/* Parse text. On a syntax error returns NULL with *ret_offset (0-based, into
 * text) and *ret_message set. */
Guard *guard_parse(const char *text, size_t *ret_offset, const char **ret_message);
Guard *guard_free(Guard *g);

typedef enum GuardResult {
        GUARD_FALSE,
        GUARD_TRUE,
        GUARD_DIV_ZERO, /* false, and worth a word */
} GuardResult;

GuardResult guard_eval(const Guard *g, json_object *context, json_object *payload);

/* Evaluate as a value (assign actions): a new reference, NULL for null. */
json_object *guard_eval_value(const Guard *g, json_object *context, json_object *payload, bool *ret_div_zero);
