/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON text to json-c objects, the way the engine parses every payload,
 * context, image and routed event. */

#include <stddef.h>

#include <json-c/json.h>

/* json_tokener_parse_ex(tok, s, len) with the thread in the C locale object
 * for the call (its own locale back after): the same result, without the
 * locale json-c makes and frees for every call otherwise. */
json_object *json_parse_ex(json_tokener *tok, const char *s, size_t len);
