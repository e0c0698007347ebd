/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JavaScript's comparison operators over JSON values, as xcomponent-ai
 * applies its filters (docs/xfsm-redis-bridge.8, XCOMPONENT-AI
 * COMPATIBILITY): "instance value OP filter value" with === !== > < >= <=,
 * where either side may be undefined (absent). Strict equality: same type
 * and value (objects and arrays are never ===, being distinct objects once
 * parsed); relational operators: both sides to primitives (an array joins
 * its elements with ",", an object is "[object Object]"), two strings
 * compare by UTF-16 code units, anything else as numbers (null 0, booleans
 * 0/1, strings by JavaScript's StringToNumber: trimmed, "" is 0, 0x/0o/0b,
 * Infinity, otherwise NaN), and NaN (undefined among them) makes every
 * relational comparison false. Pure: no allocation outside the call. */

#include <stdbool.h>

#include <json-c/json.h>

#include "model.h"

/* A JSON value or undefined: json-c writes JSON null as NULL, so
 * definedness travels beside it. */
typedef struct JsValue {
        json_object *v;
        bool defined;
} JsValue;

static inline JsValue js_undefined(void) {
        return (JsValue) { .v = NULL, .defined = false };
}
static inline JsValue js_value(json_object *v) {
        return (JsValue) { .v = v, .defined = true };
}

/* a OP b. */
bool js_compare(JsValue a, MatchOp op, JsValue b);

/* JavaScript's StringToNumber of s[0..len) (NaN when not a number). */
double js_string_to_number(const char *s, size_t len);
