/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* xcomponent-ai's cross-component message (xfsm-redis-bridge(8),
 * XCOMPONENT-AI COMPATIBILITY), as xcomponent-ai 0.6.0 writes it with
 * JSON.stringify:
 *   {"sourceComponent":S,"targetComponent":C,"targetMachine":M,
 *    "targetState":T,"event":{"type":E,"payload":{...},"timestamp":MS},
 *    "filters":[{"property":P,"operator":OP,"value":V},...]}
 * "filters" absent when the rule has no matchingRules; "timestamp" may be
 * absent; targetState "*", "" or absent: every state; a filter's operator
 * may be absent (===) and its value absent (undefined). Pure: the
 * conversions between it and xfsm's routed wire form (xfsm.h), no I/O. */

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define XCOMPAT_CHANNEL_PREFIX "xcomponent:"
#define XCOMPAT_SOURCE_PREFIX "xcomponent:"
#define XCOMPAT_MESSAGE_MAX (1024 * 1024)

/* Why a message can never be delivered. */
typedef enum XcompatBad {
        XCOMPAT_BAD_TOO_LARGE,
        XCOMPAT_BAD_NOT_JSON,    /* not JSON in UTF-8, or not a JSON object */
        XCOMPAT_BAD_WRONG_TYPE,  /* a field missing or of the wrong type */
        XCOMPAT_BAD_NAME,        /* a machine, state, event or source name xfsm cannot carry */
        _XCOMPAT_BAD_MAX,
} XcompatBad;

const char *xcompat_bad_to_string(XcompatBad b);

/* A message read on xcomponent:<component> as xfsm's routed wire form (a
 * new JSON object in *ret, without its number: the caller sets
 * "sourceSeq" before writing it) and its source ("xcomponent:S", malloc'd)
 * in *ret_source. -EBADMSG with *ret_bad when it can never be delivered,
 * -ENOMEM. */
int xcompat_message_to_routed(const char *component, const char *message, size_t len, const char *incarnation,
                              json_object **ret, char **ret_source, XcompatBad *ret_bad);

/* A routed event's wire form as the message xcomponent-ai reads (malloc'd),
 * timestamp_ms the time of sending. -EOPNOTSUPP for a creation (no such
 * message), -EBADMSG when it is not a routed event, -ENOMEM. */
int xcompat_routed_to_message(const char *routed_json, uint64_t timestamp_ms, char **ret);
