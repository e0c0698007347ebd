/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Signed stream entries: writing one (fields, values and MAC for XADD) and
 * reading one back with every check that decides whether it can ever
 * apply (entry.h has the form; xfsm-redis-bridge(8) what the bridge does
 * with dead entries). Reading checks, in order: the shape, v, the required
 * fields, the body's size, the signer and its MAC, and only then the body
 * itself (UTF-8, JSON, a routed event for this inbox whose source has the
 * signer as home), so that nothing unauthenticated is parsed as JSON. */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "entry.h"

_Static_assert(crypto_auth_BYTES == NODE_KEY_SIZE, "a MAC is read with the key parser");
_Static_assert(crypto_auth_hmacsha512256_BYTES == crypto_auth_BYTES, "crypto_auth is HMAC-SHA512-256");

#define MAC_CONTEXT "xfsm-redis-bridge entry"

static const char *const kind_names[_ENTRY_KIND_MAX] = {
        [ENTRY_ROUTED] = "routed",
        [ENTRY_CALL] = "call",
        [ENTRY_REPLY] = "reply",
};

const char *entry_kind_to_string(EntryKind k) {
        return k >= 0 && k < _ENTRY_KIND_MAX ? kind_names[k] : NULL;
}

static const char *const dead_names[_ENTRY_DEAD_MAX] = {
        [ENTRY_DEAD_MALFORMED] = "malformed",
        [ENTRY_DEAD_VERSION] = "version",
        [ENTRY_DEAD_FIELD_MISSING] = "field-missing",
        [ENTRY_DEAD_KIND] = "kind",
        [ENTRY_DEAD_TOO_LARGE] = "too-large",
        [ENTRY_DEAD_UNKNOWN_NODE] = "unknown-node",
        [ENTRY_DEAD_BAD_MAC] = "bad-mac",
        [ENTRY_DEAD_NOT_UTF8] = "not-utf8",
        [ENTRY_DEAD_NOT_JSON] = "not-json",
        [ENTRY_DEAD_NOT_ROUTED] = "not-routed",
        [ENTRY_DEAD_WRONG_TARGET] = "wrong-target",
        [ENTRY_DEAD_NOT_HOME] = "not-home",
};

const char *entry_dead_reason_to_string(EntryDeadReason r) {
        return r >= 0 && r < _ENTRY_DEAD_MAX ? dead_names[r] : NULL;
}

/* ---- the MAC ------------------------------------------------------------------ */

static void mac_add(crypto_auth_hmacsha512256_state *st, const char *s, size_t len) {
        uint8_t prefix[8];

        for (int i = 0; i < 8; i++)
                prefix[i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        crypto_auth_hmacsha512256_update(st, prefix, sizeof prefix);
        crypto_auth_hmacsha512256_update(st, (const uint8_t *) s, len);
}

/* The MAC of (v, node, kind, body), each length-prefixed, after the
 * context string, so that no field can be shifted into another. */
static void entry_mac(crypto_auth_hmacsha512256_state *keyed, const char *v, size_t v_len, const char *node,
                      size_t node_len, const char *kind, size_t kind_len, const char *body, size_t body_len,
                      uint8_t ret[crypto_auth_BYTES]) {
        crypto_auth_hmacsha512256_state *st = keyed; /* the pair's key already in (node_keyring_mac_state()) */

        mac_add(st, MAC_CONTEXT, strlen(MAC_CONTEXT));
        mac_add(st, v, v_len);
        mac_add(st, node, node_len);
        mac_add(st, kind, kind_len);
        mac_add(st, body, body_len);
        crypto_auth_hmacsha512256_final(st, ret);
        sodium_memzero(st, sizeof *st);
}

/* ---- writing ------------------------------------------------------------------ */

void entry_fields_done(EntryFields *f) {
        assert(f);

        free(f->buffer);
        *f = (EntryFields) {};
}

int entry_encode(const NodeKeyring *k, const char *receiver, EntryKind kind, const char *body, size_t body_len,
                 EntryFields *ret) {
        const char *self, *kind_name;
        crypto_auth_hmacsha512256_state st;
        uint8_t mac[crypto_auth_BYTES];
        size_t self_len;
        char *buf, *p;
        int r;

        assert(k);
        assert(receiver);
        assert(body || body_len == 0);
        assert(ret);

        kind_name = entry_kind_to_string(kind);
        assert(kind_name);
        if (body_len > ENTRY_BODY_MAX)
                return -EMSGSIZE;

        r = node_keyring_mac_state(k, receiver, NODE_KEY_SEND, &st);
        if (r < 0)
                return r;

        self = node_keyring_self(k);
        self_len = strlen(self);
        entry_mac(&st, ENTRY_VERSION, strlen(ENTRY_VERSION), self, self_len, kind_name, strlen(kind_name),
                  body ?: "", body_len, mac);

        /* node, body and the MAC's hex, each NUL-terminated */
        buf = malloc(self_len + 1 + body_len + 1 + 2 * sizeof mac + 1);
        if (!buf)
                return -ENOMEM;
        p = buf;

        *ret = (EntryFields) { .n = 2 * ENTRY_N_FIELDS, .buffer = buf };
        ret->argv[0] = "v";
        ret->argv[1] = ENTRY_VERSION;
        ret->argv[2] = "node";
        ret->argv[3] = memcpy(p, self, self_len + 1);
        ret->argvlen[3] = self_len;
        p += self_len + 1;
        ret->argv[4] = "kind";
        ret->argv[5] = kind_name;
        ret->argv[6] = "body";
        ret->argv[7] = p;
        ret->argvlen[7] = body_len;
        if (body_len > 0)
                memcpy(p, body, body_len);
        p[body_len] = 0;
        p += body_len + 1;
        ret->argv[8] = "mac";
        ret->argv[9] = sodium_bin2hex(p, 2 * sizeof mac + 1, mac, sizeof mac);
        ret->argvlen[9] = 2 * sizeof mac;
        for (size_t i = 0; i < ret->n; i++)
                if (i != 3 && i != 7 && i != 9)
                        ret->argvlen[i] = strlen(ret->argv[i]);

        return 0;
}

/* ---- reading ------------------------------------------------------------------ */

Entry *entry_free(Entry *e) {
        if (!e)
                return NULL;

        free(e->node);
        free(e->body);
        xfsm_routed_free(e->routed);
        free(e);
        return NULL;
}

/* s (len bytes from Redis: anything) for a message: at most 64 printable
 * ASCII characters, others as '?'. */
static const char *printable(char buf[static 72], const char *s, size_t len) {
        size_t n = MIN(len, (size_t) 64), i;

        for (i = 0; i < n; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        if (len > n) {
                memcpy(buf + i, "...", 3);
                i += 3;
        }
        buf[i] = 0;
        return buf;
}

/* The verdict: never to apply, why. */
__attribute__((format(printf, 3, 4))) static int dead(EntryDead *d, EntryDeadReason reason, const char *fmt, ...) {
        va_list ap;

        d->reason = reason;
        va_start(ap, fmt);
        vsnprintf(d->detail, sizeof d->detail, fmt, ap);
        va_end(ap);
        return ENTRY_DEAD;
}

/* RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_is_valid(const uint8_t *s, size_t len) {
        size_t i = 0;

        while (i < len) {
                uint8_t c = s[i];
                uint32_t cp;
                size_t n;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else
                        return false;
                if (len - i - 1 < n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

enum {
        FIELD_V,
        FIELD_NODE,
        FIELD_KIND,
        FIELD_BODY,
        FIELD_MAC,
        _FIELD_MAX,
};

static const char *const field_names[_FIELD_MAX] = { "v", "node", "kind", "body", "mac" };

static bool value_is(const char *s, size_t len, const char *what) {
        return len == strlen(what) && memcmp(s, what, len) == 0;
}

/* Everything but the body's meaning: the shape, v, the fields, the size,
 * the signer and its MAC, the body's UTF-8; kind must be want. */
static int parse_signed(const NodeKeyring *k, EntryKind wanted, const char *const *argv, const size_t *argvlen,
                        size_t n, Entry **ret_entry, EntryDead *ret_dead) {
        const char *val[_FIELD_MAX] = {};
        size_t len[_FIELD_MAX] = {};
        crypto_auth_hmacsha512256_state st;
        uint8_t want[crypto_auth_BYTES], got[crypto_auth_BYTES];
        _cleanup_(entry_freep) Entry *e = NULL;
        EntryKind kind = _ENTRY_KIND_MAX;
        char node[NODE_NAME_MAX + 1], pb[72];
        const char *why;

        assert(k);
        assert(argv || n == 0);
        assert(argvlen || n == 0);
        assert(ret_entry);
        assert(ret_dead);

        /* the shape: pairs, each known field once */
        if (n % 2 != 0)
                return dead(ret_dead, ENTRY_DEAD_MALFORMED, "%zu strings, not field/value pairs", n);
        for (size_t i = 0; i < n; i += 2)
                for (size_t f = 0; f < _FIELD_MAX; f++) {
                        if (!value_is(argv[i], argvlen[i], field_names[f]))
                                continue;
                        if (val[f])
                                return dead(ret_dead, ENTRY_DEAD_MALFORMED, "field %s given twice", field_names[f]);
                        val[f] = argv[i + 1];
                        len[f] = argvlen[i + 1];
                }

        /* the version first: a newer entry may be made otherwise */
        if (!val[FIELD_V])
                return dead(ret_dead, ENTRY_DEAD_FIELD_MISSING, "no field v");
        if (!value_is(val[FIELD_V], len[FIELD_V], ENTRY_VERSION))
                return dead(ret_dead, ENTRY_DEAD_VERSION, "version '%s', this node reads " ENTRY_VERSION,
                            printable(pb, val[FIELD_V], len[FIELD_V]));

        for (size_t f = FIELD_NODE; f <= FIELD_BODY; f++)
                if (!val[f])
                        return dead(ret_dead, ENTRY_DEAD_FIELD_MISSING, "no field %s", field_names[f]);

        for (EntryKind i = 0; i < _ENTRY_KIND_MAX; i++)
                if (value_is(val[FIELD_KIND], len[FIELD_KIND], kind_names[i]))
                        kind = i;
        if (kind != wanted)
                return dead(ret_dead, ENTRY_DEAD_KIND, "kind '%s' where %s is read",
                            printable(pb, val[FIELD_KIND], len[FIELD_KIND]), kind_names[wanted]);

        if (len[FIELD_BODY] > ENTRY_BODY_MAX)
                return dead(ret_dead, ENTRY_DEAD_TOO_LARGE, "body of %zu bytes, over %d", len[FIELD_BODY],
                            ENTRY_BODY_MAX);

        /* the signer and its MAC */
        if (len[FIELD_NODE] > NODE_NAME_MAX || memchr(val[FIELD_NODE], 0, len[FIELD_NODE]))
                return dead(ret_dead, ENTRY_DEAD_UNKNOWN_NODE, "node '%s' is not a node name",
                            printable(pb, val[FIELD_NODE], len[FIELD_NODE]));
        memcpy(node, val[FIELD_NODE], len[FIELD_NODE]);
        node[len[FIELD_NODE]] = 0;
        if (!node_name_is_valid(node))
                return dead(ret_dead, ENTRY_DEAD_UNKNOWN_NODE, "node '%s' is not a node name",
                            printable(pb, node, strlen(node)));
        if (!node_keyring_knows(k, node))
                return dead(ret_dead, ENTRY_DEAD_UNKNOWN_NODE, "node '%s' is not accepted here (no %s/%s.pub)", node,
                            NODE_KEYS_DIR, node);

        if (!val[FIELD_MAC])
                return dead(ret_dead, ENTRY_DEAD_BAD_MAC, "no field mac: unsigned");
        if (node_key_parse_hex(val[FIELD_MAC], len[FIELD_MAC], got, &why) < 0 ||
            len[FIELD_MAC] != 2 * sizeof got)
                return dead(ret_dead, ENTRY_DEAD_BAD_MAC, "mac is not 64 hex digits");
        if (node_keyring_mac_state(k, node, NODE_KEY_RECEIVE, &st) < 0)
                return dead(ret_dead, ENTRY_DEAD_UNKNOWN_NODE, "node '%s' is not accepted here (no %s/%s.pub)", node,
                            NODE_KEYS_DIR, node);
        entry_mac(&st, val[FIELD_V], len[FIELD_V], val[FIELD_NODE], len[FIELD_NODE], val[FIELD_KIND],
                  len[FIELD_KIND], val[FIELD_BODY], len[FIELD_BODY], want);
        if (sodium_memcmp(want, got, sizeof want) != 0)
                return dead(ret_dead, ENTRY_DEAD_BAD_MAC, "mac is not node %s's", node);

        /* the body, now that it is known who wrote it */
        if (memchr(val[FIELD_BODY], 0, len[FIELD_BODY]))
                return dead(ret_dead, ENTRY_DEAD_NOT_JSON, "body holds a NUL byte");
        if (!utf8_is_valid((const uint8_t *) val[FIELD_BODY], len[FIELD_BODY]))
                return dead(ret_dead, ENTRY_DEAD_NOT_UTF8, "body is not UTF-8");

        e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        e->kind = kind;
        e->node = strdup(node);
        e->body = malloc(len[FIELD_BODY] + 1);
        if (!e->node || !e->body)
                return -ENOMEM;
        memcpy(e->body, val[FIELD_BODY], len[FIELD_BODY]);
        e->body[len[FIELD_BODY]] = 0;
        e->body_len = len[FIELD_BODY];

        *ret_entry = TAKE_PTR(e);
        return ENTRY_VALID;
}

int entry_parse(const NodeKeyring *k, const char *inbox, EntryHomeFn is_home, void *userdata,
                const char *const *argv, const size_t *argvlen, size_t n, Entry **ret_entry, EntryDead *ret_dead) {
        _cleanup_(entry_freep) Entry *e = NULL;
        const char *source, *target;
        char pb[72];
        int r;

        assert(inbox);
        assert(is_home);
        r = parse_signed(k, ENTRY_ROUTED, argv, argvlen, n, &e, ret_dead);
        if (r != ENTRY_VALID)
                return r;

        r = xfsm_routed_parse(e->body, &e->routed);
        if (r == -ENOMEM)
                return r;
        if (r == -XFSM_E_INVALID_PAYLOAD)
                return dead(ret_dead, ENTRY_DEAD_NOT_JSON, "body is not a JSON object");
        if (r < 0)
                return dead(ret_dead, ENTRY_DEAD_NOT_ROUTED,
                            "body is not a routed event this node reads "
                            "(a required field missing or wrong, or a newer v)");

        source = xfsm_routed_source_component(e->routed);
        target = xfsm_routed_target_component(e->routed);
        if (isempty(source))
                return dead(ret_dead, ENTRY_DEAD_NOT_ROUTED, "body has no sourceComponent");
        if (!streq(target, inbox))
                return dead(ret_dead, ENTRY_DEAD_WRONG_TARGET, "routed event for %s in the inbox of %s",
                            printable(pb, target, strlen(target)), inbox);

        r = is_home(source, e->node, userdata);
        if (r < 0)
                return r;
        if (r == 0)
                return dead(ret_dead, ENTRY_DEAD_NOT_HOME, "source component %s does not have node %s as its home",
                            printable(pb, source, strlen(source)), e->node);

        *ret_entry = TAKE_PTR(e);
        return ENTRY_VALID;
}

int entry_parse_message(const NodeKeyring *k, EntryKind kind, const char *const *argv, const size_t *argvlen,
                        size_t n, Entry **ret_entry, EntryDead *ret_dead) {
        _cleanup_(entry_freep) Entry *e = NULL;
        int r;

        assert(kind == ENTRY_CALL || kind == ENTRY_REPLY);
        r = parse_signed(k, kind, argv, argvlen, n, &e, ret_dead);
        if (r != ENTRY_VALID)
                return r;
        if (e->body_len == 0 || e->body[0] != '{')
                return dead(ret_dead, ENTRY_DEAD_NOT_JSON, "body is not a JSON object");
        *ret_entry = TAKE_PTR(e);
        return ENTRY_VALID;
}
