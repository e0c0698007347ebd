/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Signed stream entries (xfsm-redis-bridge(8), STREAM ENTRIES): what one
 * node writes into another component's stream xfsm:{C}:inbox, and what the
 * home of C reads back. An entry is a list of field/value pairs:
 *
 *   v     "1"
 *   node  the node that wrote and signed it
 *   kind  "routed", "call" or "reply"
 *   body  for "routed": the routed event's wire form (xfsm_routed_to_wire());
 *         for "call" and "reply": a JSON object (calls.h)
 *   mac   64 hex digits: HMAC-SHA512-256 (crypto_auth) under the key the
 *         writer and the reader share for that direction (node-key.h), over
 *         "xfsm-redis-bridge entry" and then v, node, kind and body, each
 *         preceded by its length as 8 bytes big-endian
 *
 * Other fields are ignored (room for optional ones). The reader tells an
 * entry that can never apply, for the dead stream xfsm:{C}:dead with its
 * reason, from a failure that may pass (out of memory, the home of a
 * component not known yet), after which the entry is read again. */

#include <stdint.h>
#include <stddef.h>

#include "macro.h"
#include "node-key.h"
#include "xfsm.h"

#define ENTRY_VERSION "1"
#define ENTRY_BODY_MAX (1024 * 1024)

typedef enum EntryKind {
        ENTRY_ROUTED,
        ENTRY_CALL,  /* a call from another node, in xfsm:{C}:calls */
        ENTRY_REPLY, /* its answer, in xfsm:node:{N}:replies */
        _ENTRY_KIND_MAX,
} EntryKind;

const char *entry_kind_to_string(EntryKind k);

/* ---- writing -------------------------------------------------------------- */

#define ENTRY_N_FIELDS 5

/* The fields and values of one entry, for XADD KEY * argv[0] argv[1] ...
 * (redisCommandArgv() takes argv and argvlen as they are). */
typedef struct EntryFields {
        size_t n; /* strings in argv: 2 * ENTRY_N_FIELDS */
        const char *argv[2 * ENTRY_N_FIELDS];
        size_t argvlen[2 * ENTRY_N_FIELDS];
        char *buffer; /* what the values point into */
} EntryFields;

void entry_fields_done(EntryFields *f);

/* An entry of kind with body (body_len bytes), written by this node for
 * node receiver (the home of the target component), signed. -ENOKEY when
 * receiver is not accepted, -EMSGSIZE for a body over ENTRY_BODY_MAX. */
int entry_encode(const NodeKeyring *k, const char *receiver, EntryKind kind, const char *body, size_t body_len,
                 EntryFields *ret);

/* ---- reading -------------------------------------------------------------- */

typedef struct Entry {
        EntryKind kind;
        char *node;          /* who signed it */
        char *body;          /* body_len bytes, NUL-terminated */
        size_t body_len;
        xfsm_routed *routed; /* ENTRY_ROUTED: the body, read */
} Entry;

Entry *entry_free(Entry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Entry *, entry_free);

typedef enum EntryDeadReason {
        ENTRY_DEAD_MALFORMED,     /* not field/value pairs, or a field given twice */
        ENTRY_DEAD_VERSION,       /* v is not one this node reads */
        ENTRY_DEAD_FIELD_MISSING, /* node, kind or body missing */
        ENTRY_DEAD_KIND,          /* a kind this node does not read */
        ENTRY_DEAD_TOO_LARGE,     /* body over ENTRY_BODY_MAX */
        ENTRY_DEAD_UNKNOWN_NODE,  /* no public key for the node (or not a node name) */
        ENTRY_DEAD_BAD_MAC,       /* no mac, or not the node's */
        ENTRY_DEAD_NOT_UTF8,      /* body is not UTF-8 */
        ENTRY_DEAD_NOT_JSON,      /* body is not a JSON object */
        ENTRY_DEAD_NOT_ROUTED,    /* body is not a routed event this node reads */
        ENTRY_DEAD_WRONG_TARGET,  /* the routed event is for another component */
        ENTRY_DEAD_NOT_HOME,      /* its source component's home is not the signer */
        _ENTRY_DEAD_MAX,
} EntryDeadReason;

/* A short name for the dead stream's reason field: "bad-mac", ... */
const char *entry_dead_reason_to_string(EntryDeadReason r);

typedef struct EntryDead {
        EntryDeadReason reason;
        char detail[256]; /* for people: what exactly, names from the entry made printable */
} EntryDead;

/* Is component's home node? >0 yes, 0 no, negative errno when it cannot be
 * told now (the entry is read again later). */
typedef int (*EntryHomeFn)(const char *component, const char *node, void *userdata);

/* The verdicts of entry_parse(); failures that may pass are negative. */
enum {
        ENTRY_VALID = 0,
        ENTRY_DEAD = 1,
};

/* Read the entry in inbox (the component C of xfsm:{C}:inbox) made of the
 * n strings argv/argvlen (field, value, field, value ... as XREADGROUP
 * gives them), checked with the keyring and is_home. Returns ENTRY_VALID
 * and *ret_entry; ENTRY_DEAD and *ret_dead when it can never apply; or a
 * negative errno (-ENOMEM, is_home's error) and neither. */
int entry_parse(const NodeKeyring *k, const char *inbox, EntryHomeFn is_home, void *userdata,
                const char *const *argv, const size_t *argvlen, size_t n, Entry **ret_entry, EntryDead *ret_dead);

/* Read a call or reply entry (kind) the same way: signed by a node this
 * one accepts, its body a JSON object in UTF-8 (not parsed here: calls.c
 * reads it). */
int entry_parse_message(const NodeKeyring *k, EntryKind kind, const char *const *argv, const size_t *argvlen,
                        size_t n, Entry **ret_entry, EntryDead *ret_dead);
