/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON text to json-c objects, the way the engine parses every payload,
 * context, image and routed event. */

#include <stddef.h>

#include <json-c/json.h>

/* json_tokener_parse_ex(tok, s, len) with the tokener's flags set to flags
 * (json_tokener_set_flags()), and:
 * - the thread in the C locale object for the call (its own locale back
 *   after): the same result, without the locale json-c makes and frees for
 *   every call otherwise;
 * - JSON_TOKENER_VALIDATE_UTF8 left out when s is all ASCII, where it can
 *   find nothing (json-c checks it byte by byte, a twentieth of a parse). */
json_object *json_parse_ex(json_tokener *tok, int flags, const char *s, size_t len);
