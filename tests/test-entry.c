/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Signed stream entries and node keys (daemon/bridge/entry.c,
 * daemon/bridge/node-key.c), alone: an entry written by one node reads
 * back on its receiver; every way an entry can never apply is told apart
 * with its reason (unsigned, forged, tampered, from an unknown node, signed
 * by a node that is not its source's home, oversized, not UTF-8, not JSON,
 * not a routed event, a newer version); a home that cannot be told yet is
 * not a dead entry; the key files read and are made; both nodes of a pair
 * derive the same keys. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "capture.h"
#include "entry.h"
#include "node-key.h"

#define INC "0123456789abcdef0123456789abcdef"

static char dir[] = "/tmp/test-entry-XXXXXX";

/* three nodes that accept each other, and delta that only beta does not know */
static NodeKeyring *alpha, *beta, *gamma_, *delta;

static NodeKeyring *make_ring(const char *self, uint8_t ret_public[NODE_KEY_SIZE]) {
        uint8_t pk[NODE_KEY_SIZE], sk[NODE_KEY_SIZE];
        NodeKeyring *k = NULL;

        crypto_kx_keypair(pk, sk);
        assert_int_equal(node_keyring_new(self, sk, &k), 0);
        assert_memory_equal(node_keyring_public(k), pk, NODE_KEY_SIZE);
        if (ret_public)
                memcpy(ret_public, pk, NODE_KEY_SIZE);
        return k;
}

static void accept_each_other(NodeKeyring *a, NodeKeyring *b) {
        assert_int_equal(node_keyring_add_peer(a, node_keyring_self(b), node_keyring_public(b)), 0);
        assert_int_equal(node_keyring_add_peer(b, node_keyring_self(a), node_keyring_public(a)), 0);
}

static int setup(void **state) {
        unsetenv("JOURNAL_STREAM");
        if (sodium_init() < 0 || !mkdtemp(dir))
                return -1;

        alpha = make_ring("alpha", NULL);
        beta = make_ring("beta", NULL);
        gamma_ = make_ring("gamma", NULL);
        delta = make_ring("delta", NULL);
        accept_each_other(alpha, beta);
        accept_each_other(alpha, gamma_);
        accept_each_other(beta, gamma_);
        assert_int_equal(node_keyring_add_peer(delta, "beta", node_keyring_public(beta)), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[256];

        alpha = node_keyring_free(alpha);
        beta = node_keyring_free(beta);
        gamma_ = node_keyring_free(gamma_);
        delta = node_keyring_free(delta);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Homes: Order and Stock on alpha, Shipping on gamma, Delta on delta;
 * Flaky cannot be told now. */
static int is_home(const char *component, const char *node, void *userdata) {
        static const char *const homes[][2] = {
                { "Order", "alpha" }, { "Stock", "alpha" }, { "Shipping", "gamma" }, { "Delta", "delta" },
        };
        unsigned *calls = userdata;

        if (calls)
                (*calls)++;
        if (strcmp(component, "Flaky") == 0)
                return -EAGAIN;
        for (size_t i = 0; i < ELEMENTSOF(homes); i++)
                if (strcmp(homes[i][0], component) == 0)
                        return strcmp(homes[i][1], node) == 0;
        return 0;
}

/* A routed event's wire form, as the sender's worker writes it. */
static char *routed_wire(const char *source, const char *target) {
        xfsm_routed *r = NULL;
        char json[512], *wire;

        snprintf(json, sizeof json,
                 "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"%s\",\"sourceSeq\":7,\"ruleIndex\":1,"
                 "\"targetComponent\":\"%s\",\"targetMachine\":\"Pay\",\"event\":\"GO\","
                 "\"payload\":{\"amount\":12,\"who\":\"Zo\\u00e9\"},\"matchingRules\":[],\"hops\":1}",
                 source, target);
        assert_int_equal(xfsm_routed_parse(json, &r), 0);
        wire = xfsm_routed_to_wire(r, INC, 7);
        assert_non_null(wire);
        xfsm_routed_free(r);
        return wire;
}

/* What a reader makes of fields (n strings); the dead reason, or -1 for a
 * valid entry (freed), or the negative errno. */
static int verdict(const NodeKeyring *reader, const char *inbox, const char *const *argv, const size_t *argvlen,
                   size_t n, EntryDead *ret_dead) {
        Entry *e = NULL;
        EntryDead d = { .reason = _ENTRY_DEAD_MAX };
        int r;

        r = entry_parse(reader, inbox, is_home, NULL, argv, argvlen, n, &e, &d);
        if (r == ENTRY_VALID) {
                assert_non_null(e);
                assert_int_equal(d.reason, _ENTRY_DEAD_MAX);
                entry_free(e);
                return -1;
        }
        assert_null(e);
        if (r < 0)
                return r;
        assert_int_equal(r, ENTRY_DEAD);
        assert_non_null(entry_dead_reason_to_string(d.reason));
        assert_true(d.detail[0] != 0);
        if (ret_dead)
                *ret_dead = d;
        return (int) d.reason;
}

static int verdict_fields(const NodeKeyring *reader, const char *inbox, const EntryFields *f, EntryDead *ret_dead) {
        return verdict(reader, inbox, f->argv, f->argvlen, f->n, ret_dead);
}

/* An entry from writer to receiver carrying the routed event source -> target. */
static void encode_routed(const NodeKeyring *writer, const char *receiver, const char *source, const char *target,
                          EntryFields *ret) {
        char *wire = routed_wire(source, target);

        assert_int_equal(entry_encode(writer, receiver, ENTRY_ROUTED, wire, strlen(wire), ret), 0);
        free(wire);
}

/* A copy of f's strings that a test may change: the argv array is
 * writable, each value a malloc'd copy (freed by copy_done). */
typedef struct Copy {
        size_t n;
        char *argv[16];
        size_t argvlen[16];
} Copy;

static void copy_fields(const EntryFields *f, Copy *c) {
        *c = (Copy) { .n = f->n };
        for (size_t i = 0; i < f->n; i++) {
                c->argv[i] = malloc(f->argvlen[i] + 1);
                assert_non_null(c->argv[i]);
                memcpy(c->argv[i], f->argv[i], f->argvlen[i] + 1);
                c->argvlen[i] = f->argvlen[i];
        }
}

static void copy_set(Copy *c, size_t i, const char *s) {
        free(c->argv[i]);
        c->argv[i] = strdup(s);
        c->argvlen[i] = strlen(s);
}

static int copy_find(const Copy *c, const char *field) {
        for (size_t i = 0; i < c->n; i += 2)
                if (strcmp(c->argv[i], field) == 0)
                        return (int) i;
        fail_msg("no field %s", field);
        return -1;
}

/* Drop field and its value. */
static void copy_drop(Copy *c, const char *field) {
        int i = copy_find(c, field);

        free(c->argv[i]);
        free(c->argv[i + 1]);
        memmove(c->argv + i, c->argv + i + 2, (c->n - (size_t) i - 2) * sizeof c->argv[0]);
        memmove(c->argvlen + i, c->argvlen + i + 2, (c->n - (size_t) i - 2) * sizeof c->argvlen[0]);
        c->n -= 2;
}

static void copy_add(Copy *c, const char *field, const char *value) {
        assert_true(c->n + 2 <= ELEMENTSOF(c->argv));
        c->argv[c->n] = strdup(field);
        c->argvlen[c->n++] = strlen(field);
        c->argv[c->n] = strdup(value);
        c->argvlen[c->n++] = strlen(value);
}

static int copy_verdict(const NodeKeyring *reader, const char *inbox, const Copy *c, EntryDead *ret_dead) {
        return verdict(reader, inbox, (const char *const *) c->argv, c->argvlen, c->n, ret_dead);
}

static void copy_done(Copy *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->argv[i]);
        c->n = 0;
}

/* ---- round trip --------------------------------------------------------------- */

/* What alpha writes for beta reads back on beta: the signer, the body byte
 * for byte, the routed event in it; the fields are the documented ones. */
static void test_round_trip(void **state) {
        _cleanup_(entry_freep) Entry *e = NULL;
        EntryFields f = {};
        EntryDead d = {};
        char *wire = routed_wire("Order", "Payment");
        unsigned calls = 0;

        assert_int_equal(entry_encode(alpha, "beta", ENTRY_ROUTED, wire, strlen(wire), &f), 0);
        assert_int_equal(f.n, 10);
        assert_string_equal(f.argv[0], "v");
        assert_string_equal(f.argv[1], "1");
        assert_string_equal(f.argv[2], "node");
        assert_string_equal(f.argv[3], "alpha");
        assert_string_equal(f.argv[4], "kind");
        assert_string_equal(f.argv[5], "routed");
        assert_string_equal(f.argv[6], "body");
        assert_int_equal(f.argvlen[7], strlen(wire));
        assert_memory_equal(f.argv[7], wire, strlen(wire));
        assert_string_equal(f.argv[8], "mac");
        assert_int_equal(f.argvlen[9], 64);
        for (size_t i = 0; i < f.n; i++)
                assert_int_equal(f.argvlen[i], strlen(f.argv[i]));

        assert_int_equal(entry_parse(beta, "Payment", is_home, &calls, f.argv, f.argvlen, f.n, &e, &d),
                         ENTRY_VALID);
        assert_int_equal(calls, 1);
        assert_int_equal(e->kind, ENTRY_ROUTED);
        assert_string_equal(e->node, "alpha");
        assert_int_equal(e->body_len, strlen(wire));
        assert_string_equal(e->body, wire);
        assert_string_equal(xfsm_routed_source_component(e->routed), "Order");
        assert_string_equal(xfsm_routed_source_incarnation(e->routed), INC);
        assert_int_equal(xfsm_routed_source_seq(e->routed), 7);
        assert_int_equal(xfsm_routed_rule_index(e->routed), 1);
        assert_string_equal(xfsm_routed_target_component(e->routed), "Payment");
        assert_string_equal(xfsm_routed_target_machine(e->routed), "Pay");
        assert_string_equal(xfsm_routed_event(e->routed), "GO");

        /* a node writing into an inbox of its own reads it back too */
        entry_fields_done(&f);
        assert_int_equal(entry_encode(alpha, "alpha", ENTRY_ROUTED, wire, strlen(wire), &f), 0);
        assert_int_equal(verdict_fields(alpha, "Payment", &f, NULL), -1);

        entry_fields_done(&f);
        free(wire);
}

/* The writer and the reader of a pair derive the same key for each
 * direction, the two directions differ, and a node's key to itself is one. */
static void test_both_sides_derive_the_same_pair_key(void **state) {
        uint8_t ab_send[NODE_KEY_SIZE], ab_recv[NODE_KEY_SIZE], ba_send[NODE_KEY_SIZE], ba_recv[NODE_KEY_SIZE],
                self_send[NODE_KEY_SIZE], self_recv[NODE_KEY_SIZE], ag[NODE_KEY_SIZE];

        assert_int_equal(node_keyring_mac_key(alpha, "beta", NODE_KEY_SEND, ab_send), 0);
        assert_int_equal(node_keyring_mac_key(beta, "alpha", NODE_KEY_RECEIVE, ab_recv), 0);
        assert_int_equal(node_keyring_mac_key(beta, "alpha", NODE_KEY_SEND, ba_send), 0);
        assert_int_equal(node_keyring_mac_key(alpha, "beta", NODE_KEY_RECEIVE, ba_recv), 0);
        assert_memory_equal(ab_send, ab_recv, NODE_KEY_SIZE);
        assert_memory_equal(ba_send, ba_recv, NODE_KEY_SIZE);
        assert_memory_not_equal(ab_send, ba_send, NODE_KEY_SIZE);

        /* another pair, another key */
        assert_int_equal(node_keyring_mac_key(alpha, "gamma", NODE_KEY_SEND, ag), 0);
        assert_memory_not_equal(ab_send, ag, NODE_KEY_SIZE);

        assert_int_equal(node_keyring_mac_key(alpha, "alpha", NODE_KEY_SEND, self_send), 0);
        assert_int_equal(node_keyring_mac_key(alpha, "alpha", NODE_KEY_RECEIVE, self_recv), 0);
        assert_memory_equal(self_send, self_recv, NODE_KEY_SIZE);

        assert_int_equal(node_keyring_mac_key(beta, "delta", NODE_KEY_RECEIVE, ag), -ENOKEY);
        assert_false(node_keyring_knows(beta, "delta"));
        assert_true(node_keyring_knows(delta, "beta"));
}

/* The keyed HMAC state a MAC starts from is the pair key's, in each
 * direction: the same tag as HMAC-SHA-512-256 with the key itself, and a
 * copy used up leaves the next one whole. */
static void test_keyed_state_is_the_pair_keys_hmac(void **state) {
        static const uint8_t msg[] = "xfsm entry";
        uint8_t key[NODE_KEY_SIZE], want[crypto_auth_hmacsha512256_BYTES], got[crypto_auth_hmacsha512256_BYTES];
        crypto_auth_hmacsha512256_state st;

        for (int d = NODE_KEY_SEND; d <= NODE_KEY_RECEIVE; d++)
                for (int round = 0; round < 2; round++) {
                        assert_int_equal(node_keyring_mac_key(alpha, "beta", (NodeKeyDirection) d, key), 0);
                        crypto_auth_hmacsha512256(want, msg, sizeof msg, key);
                        assert_int_equal(node_keyring_mac_state(alpha, "beta", (NodeKeyDirection) d, &st), 0);
                        crypto_auth_hmacsha512256_update(&st, msg, sizeof msg);
                        crypto_auth_hmacsha512256_final(&st, got);
                        assert_memory_equal(want, got, sizeof want);
                }
        assert_int_equal(node_keyring_mac_state(beta, "delta", NODE_KEY_RECEIVE, &st), -ENOKEY);
}

/* ---- authentication ----------------------------------------------------------- */

/* Without a mac field, an entry is unsigned: dead. */
static void test_no_mac_is_dead(void **state) {
        EntryFields f = {};
        Copy c;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        copy_fields(&f, &c);
        copy_drop(&c, "mac");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        copy_done(&c);
        entry_fields_done(&f);
}

/* A MAC with one digit changed, one that is not hex, one too short: dead. */
static void test_wrong_mac_is_dead(void **state) {
        static const char *const bad[] = {
                "0000000000000000000000000000000000000000000000000000000000000000",
                "zz", "", " 0000000000000000000000000000000000000000000000000000000000000000",
        };
        EntryFields f = {};
        Copy c;
        int i;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        copy_fields(&f, &c);
        i = copy_find(&c, "mac");
        c.argv[i + 1][10] = c.argv[i + 1][10] == 'a' ? 'b' : 'a';
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                copy_set(&c, (size_t) i + 1, bad[k]);
                assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        }
        copy_done(&c);
        entry_fields_done(&f);
}

/* gamma signs an entry for beta correctly, then puts alpha's name on it:
 * beta checks it with alpha's key, and it fails. */
static void test_another_nodes_name_with_a_third_nodes_mac_is_dead(void **state) {
        EntryFields f = {};
        EntryDead d;
        Copy c;

        encode_routed(gamma_, "beta", "Order", "Payment", &f);
        assert_int_equal(verdict_fields(beta, "Payment", &f, NULL), ENTRY_DEAD_NOT_HOME); /* signed by gamma */
        copy_fields(&f, &c);
        copy_set(&c, (size_t) copy_find(&c, "node") + 1, "alpha");
        assert_int_equal(copy_verdict(beta, "Payment", &c, &d), ENTRY_DEAD_BAD_MAC);
        assert_non_null(strstr(d.detail, "alpha"));
        copy_done(&c);
        entry_fields_done(&f);
}

/* What alpha wrote for beta does not pass elsewhere: gamma (who knows
 * alpha) refuses it, and so does alpha itself (the key of alpha to beta is
 * not the key of beta to alpha, nor alpha's own). */
static void test_entry_for_one_node_does_not_pass_on_another(void **state) {
        EntryFields f = {};

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        assert_int_equal(verdict_fields(gamma_, "Payment", &f, NULL), ENTRY_DEAD_BAD_MAC);
        assert_int_equal(verdict_fields(alpha, "Payment", &f, NULL), ENTRY_DEAD_BAD_MAC);
        entry_fields_done(&f);
}

/* A body, kind or node changed after signing is refused; so is a byte
 * moved from one field into the next (lengths are part of what is signed). */
static void test_tampered_entry_is_dead(void **state) {
        EntryFields f = {};
        Copy c;
        int b;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        copy_fields(&f, &c);
        b = copy_find(&c, "body") + 1;
        *strstr(c.argv[b], "12") = '9'; /* "amount":92 */
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        copy_done(&c);

        /* the body one byte shorter */
        copy_fields(&f, &c);
        c.argvlen[b]--;
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        copy_done(&c);
        entry_fields_done(&f);
}

/* The fields are length-prefixed in the MAC. Without that, node
 * "abrouted" + kind "routed" + body "xy" would sign the same bytes as node
 * "ab" + kind "routed" + body "routedxy"; with one key pair accepted under
 * both names (the pair keys come from the keys, not the names), that would
 * let one pass for the other. */
static void test_fields_cannot_shift_into_each_other(void **state) {
        _cleanup_(node_keyring_freep) NodeKeyring *long_name = NULL, *short_name = NULL;
        uint8_t sk[NODE_KEY_SIZE], pk[NODE_KEY_SIZE];
        EntryFields f = {};
        Copy c;

        crypto_kx_keypair(pk, sk);
        assert_int_equal(node_keyring_new("abrouted", sk, &long_name), 0);
        assert_int_equal(node_keyring_new("ab", sk, &short_name), 0);
        assert_int_equal(node_keyring_add_peer(long_name, "beta", node_keyring_public(beta)), 0);
        assert_int_equal(node_keyring_add_peer(short_name, "beta", node_keyring_public(beta)), 0);
        assert_int_equal(node_keyring_add_peer(beta, "abrouted", pk), 0);
        assert_int_equal(node_keyring_add_peer(beta, "ab", pk), 0);

        /* signed as it is, each passes the MAC (and is then not JSON) */
        assert_int_equal(entry_encode(short_name, "beta", ENTRY_ROUTED, "routedxy", 8, &f), 0);
        assert_int_equal(verdict_fields(beta, "Payment", &f, NULL), ENTRY_DEAD_NOT_JSON);
        entry_fields_done(&f);
        assert_int_equal(entry_encode(long_name, "beta", ENTRY_ROUTED, "xy", 2, &f), 0);
        assert_int_equal(verdict_fields(beta, "Payment", &f, NULL), ENTRY_DEAD_NOT_JSON);

        /* the same bytes cut otherwise do not */
        copy_fields(&f, &c);
        copy_set(&c, (size_t) copy_find(&c, "node") + 1, "ab");
        copy_set(&c, (size_t) copy_find(&c, "body") + 1, "routedxy");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_BAD_MAC);
        copy_done(&c);
        entry_fields_done(&f);
}

/* A node without a public key here is unknown; so is a name that is not a
 * node name (it would name a file). */
static void test_unknown_node_is_dead(void **state) {
        EntryFields f = {};
        EntryDead d;
        Copy c;

        encode_routed(delta, "beta", "Delta", "Payment", &f);
        assert_int_equal(verdict_fields(beta, "Payment", &f, &d), ENTRY_DEAD_UNKNOWN_NODE);
        assert_non_null(strstr(d.detail, "delta"));

        copy_fields(&f, &c);
        copy_set(&c, (size_t) copy_find(&c, "node") + 1, "../../etc/passwd");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_UNKNOWN_NODE);
        copy_set(&c, (size_t) copy_find(&c, "node") + 1, "");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_UNKNOWN_NODE);
        c.argvlen[copy_find(&c, "node") + 1] = 1; /* a NUL byte */
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_UNKNOWN_NODE);
        copy_done(&c);
        entry_fields_done(&f);
}

/* alpha signs an event whose source, Shipping, has gamma as home: alpha
 * may not speak for Shipping. */
static void test_source_not_homed_at_signer_is_dead(void **state) {
        EntryFields f = {};
        EntryDead d;

        encode_routed(alpha, "beta", "Shipping", "Payment", &f);
        assert_int_equal(verdict_fields(beta, "Payment", &f, &d), ENTRY_DEAD_NOT_HOME);
        assert_non_null(strstr(d.detail, "Shipping"));
        assert_non_null(strstr(d.detail, "alpha"));
        entry_fields_done(&f);

        /* a source no node has as home */
        encode_routed(alpha, "beta", "Nowhere", "Payment", &f);
        assert_int_equal(verdict_fields(beta, "Payment", &f, NULL), ENTRY_DEAD_NOT_HOME);
        entry_fields_done(&f);
}

/* An entry copied into another component's inbox is refused there. */
static void test_entry_in_another_inbox_is_dead(void **state) {
        EntryFields f = {};

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        assert_int_equal(verdict_fields(beta, "Audit", &f, NULL), ENTRY_DEAD_WRONG_TARGET);
        entry_fields_done(&f);
}

/* When the home cannot be told now, the entry is not dead: the error comes
 * back, and nothing is returned. */
static void test_unknown_home_is_transient(void **state) {
        Entry *e = (Entry *) 0x1;
        EntryDead d = { .reason = _ENTRY_DEAD_MAX };
        EntryFields f = {};

        encode_routed(alpha, "beta", "Flaky", "Payment", &f);
        assert_int_equal(entry_parse(beta, "Payment", is_home, NULL, f.argv, f.argvlen, f.n, &e, &d), -EAGAIN);
        assert_ptr_equal(e, (Entry *) 0x1);
        assert_int_equal(d.reason, _ENTRY_DEAD_MAX);
        entry_fields_done(&f);
}

/* ---- the body ----------------------------------------------------------------- */

/* Over 1 MiB: dead before anything is checked, and never written. */
static void test_oversized_body_is_dead(void **state) {
        size_t big = ENTRY_BODY_MAX + 1;
        char *body = malloc(big + 1);
        EntryFields f = {};
        Copy c;
        int b;

        assert_non_null(body);
        memset(body, ' ', big);
        body[big] = 0;
        assert_int_equal(entry_encode(alpha, "beta", ENTRY_ROUTED, body, big, &f), -EMSGSIZE);

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        copy_fields(&f, &c);
        b = copy_find(&c, "body") + 1;
        free(c.argv[b]);
        c.argv[b] = body;
        c.argvlen[b] = big;
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_TOO_LARGE);
        copy_done(&c);
        entry_fields_done(&f);

        /* exactly 1 MiB is not too large (it fails later, as not JSON) */
        body = malloc(ENTRY_BODY_MAX + 1);
        assert_non_null(body);
        memset(body, ' ', ENTRY_BODY_MAX);
        body[ENTRY_BODY_MAX] = 0;
        assert_int_equal(entry_encode(alpha, "beta", ENTRY_ROUTED, body, ENTRY_BODY_MAX, &f), 0);
        assert_int_equal(verdict_fields(beta, "Payment", &f, NULL), ENTRY_DEAD_NOT_JSON);
        entry_fields_done(&f);
        free(body);
}

static int signed_body_verdict(const char *body, size_t len) {
        EntryFields f = {};
        int r;

        assert_int_equal(entry_encode(alpha, "beta", ENTRY_ROUTED, body, len, &f), 0);
        r = verdict_fields(beta, "Payment", &f, NULL);
        entry_fields_done(&f);
        return r;
}

/* Bytes that are not UTF-8 (a stray byte, an overlong form, a surrogate, a
 * truncated sequence, past U+10FFFF) are dead, even signed; UTF-8 passes. */
static void test_body_not_utf8_is_dead(void **state) {
        static const char *const bad[] = { "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xe2\x82",
                                           "\xf4\x90\x80\x80", "\x80" };
        char body[512];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(body, sizeof body,
                         "{\"v\":1,\"sourceComponent\":\"Order\",\"targetComponent\":\"Payment\","
                         "\"targetMachine\":\"Pay\",\"event\":\"GO\",\"payload\":{\"x\":\"%s\"}}",
                         bad[i]);
                assert_int_equal(signed_body_verdict(body, strlen(body)), ENTRY_DEAD_NOT_UTF8);
        }

        snprintf(body, sizeof body,
                 "{\"v\":1,\"sourceComponent\":\"Order\",\"targetComponent\":\"Payment\","
                 "\"targetMachine\":\"Pay\",\"event\":\"GO\",\"payload\":{\"x\":\"%s\"}}",
                 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        assert_int_equal(signed_body_verdict(body, strlen(body)), -1);
}

/* Not JSON, not an object, a NUL inside, not a routed event, a routed
 * event of a newer version or without its source: dead. */
static void test_body_not_a_routed_event_is_dead(void **state) {
        static const struct {
                const char *body;
                int reason;
        } cases[] = {
                { "hello", ENTRY_DEAD_NOT_JSON },
                { "[1,2]", ENTRY_DEAD_NOT_JSON },
                { "", ENTRY_DEAD_NOT_JSON },
                { "{\"v\":1}", ENTRY_DEAD_NOT_ROUTED },
                { "{\"v\":2,\"sourceComponent\":\"Order\",\"targetComponent\":\"Payment\",\"targetMachine\":\"Pay\","
                  "\"event\":\"GO\"}",
                  ENTRY_DEAD_NOT_ROUTED },
                { "{\"v\":1,\"targetComponent\":\"Payment\",\"targetMachine\":\"Pay\",\"event\":\"GO\"}",
                  ENTRY_DEAD_NOT_ROUTED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(signed_body_verdict(cases[i].body, strlen(cases[i].body)), cases[i].reason);

        assert_int_equal(signed_body_verdict("{\"v\":1}\0{}", 10), ENTRY_DEAD_NOT_JSON);
}

/* ---- the shape ---------------------------------------------------------------- */

/* Fields a reader does not know are ignored, wherever they are. */
static void test_unknown_fields_are_ignored(void **state) {
        EntryFields f = {};
        Copy c;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        copy_fields(&f, &c);
        copy_add(&c, "trace", "abc");
        copy_add(&c, "", "");
        copy_add(&c, "V", "2"); /* field names are case-sensitive */
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), -1);
        copy_done(&c);
        entry_fields_done(&f);
}

/* A v other than 1 is refused before anything else is looked at (a newer
 * entry may be made otherwise); no v at all is a missing field. */
static void test_newer_version_is_refused(void **state) {
        static const char *const versions[] = { "2", "0", "01", "1.0", "" };
        EntryFields f = {};
        EntryDead d;
        Copy c;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                copy_fields(&f, &c);
                copy_set(&c, (size_t) copy_find(&c, "v") + 1, versions[i]);
                copy_drop(&c, "mac"); /* not even looked at */
                assert_int_equal(copy_verdict(beta, "Payment", &c, &d), ENTRY_DEAD_VERSION);
                copy_done(&c);
        }
        assert_non_null(strstr(d.detail, "version"));

        copy_fields(&f, &c);
        copy_drop(&c, "v");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_FIELD_MISSING);
        copy_done(&c);
        entry_fields_done(&f);
}

/* node, kind or body missing; a kind not read yet; an odd count of
 * strings; a field given twice: dead. */
static void test_required_fields_and_shape(void **state) {
        static const char *const required[] = { "node", "kind", "body" };
        EntryFields f = {};
        EntryDead d;
        Copy c;

        encode_routed(alpha, "beta", "Order", "Payment", &f);
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                copy_fields(&f, &c);
                copy_drop(&c, required[i]);
                assert_int_equal(copy_verdict(beta, "Payment", &c, &d), ENTRY_DEAD_FIELD_MISSING);
                assert_non_null(strstr(d.detail, required[i]));
                copy_done(&c);
        }

        copy_fields(&f, &c);
        copy_set(&c, (size_t) copy_find(&c, "kind") + 1, "call");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_KIND);
        copy_done(&c);

        assert_int_equal(verdict(beta, "Payment", f.argv, f.argvlen, f.n - 1, NULL), ENTRY_DEAD_MALFORMED);
        assert_int_equal(verdict(beta, "Payment", f.argv, f.argvlen, 0, NULL), ENTRY_DEAD_FIELD_MISSING);

        copy_fields(&f, &c);
        copy_add(&c, "body", "{}");
        assert_int_equal(copy_verdict(beta, "Payment", &c, NULL), ENTRY_DEAD_MALFORMED);
        copy_done(&c);
        entry_fields_done(&f);
}

/* Every reason has a name for the dead stream. */
static void test_every_reason_has_a_name(void **state) {
        for (int r = 0; r < _ENTRY_DEAD_MAX; r++)
                assert_non_null(entry_dead_reason_to_string((EntryDeadReason) r));
        assert_null(entry_dead_reason_to_string(_ENTRY_DEAD_MAX));
        assert_string_equal(entry_dead_reason_to_string(ENTRY_DEAD_BAD_MAC), "bad-mac");
        assert_string_equal(entry_kind_to_string(ENTRY_ROUTED), "routed");
}

/* ---- key files ---------------------------------------------------------------- */

static const char *write_file(const char *name, const char *text, mode_t mode) {
        static char path[512];
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        (void) unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
        return path;
}

/* 64 hex digits in either case, blanks around them; what else is wrong is
 * said: empty, not hex, the wrong length. */
static void test_key_hex_parsing(void **state) {
        static const struct {
                const char *text;
                const char *why;
        } bad[] = {
                { "", "empty" },
                { " \n", "empty" },
                { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", "not hex" },
                { "0123456789abcdef0123456789abcdef 0123456789abcdef0123456789abcdef", "not hex" },
                { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", "wrong length" },
                { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00", "wrong length" },
                { "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "not hex" },
        };
        uint8_t key[NODE_KEY_SIZE], want[NODE_KEY_SIZE];
        char hex[2 * NODE_KEY_SIZE + 4];
        const char *why;

        for (size_t i = 0; i < NODE_KEY_SIZE; i++)
                want[i] = (uint8_t) (i * 7 + 0xa0);
        sodium_bin2hex(hex, sizeof hex, want, sizeof want);
        assert_int_equal(node_key_parse_hex(hex, strlen(hex), key, &why), 0);
        assert_memory_equal(key, want, NODE_KEY_SIZE);
        for (char *p = hex; *p; p++)
                *p = (char) (*p >= 'a' ? *p - 32 : *p);
        strcat(hex, " \n");
        assert_int_equal(node_key_parse_hex(hex, strlen(hex), key, &why), 0);
        assert_memory_equal(key, want, NODE_KEY_SIZE);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(node_key_parse_hex(bad[i].text, strlen(bad[i].text), key, &why), -EINVAL);
                if (!strstr(why, bad[i].why))
                        fail_msg("'%s': expected '%s' in '%s'", bad[i].text, bad[i].why, why);
        }
}

/* A generated pair: the secret file loads and gives the public key that
 * was written beside it; two pairs differ. */
static void test_generated_keys_load(void **state) {
        uint8_t secret[NODE_KEY_SIZE], public[NODE_KEY_SIZE], pub_file[NODE_KEY_SIZE], other[NODE_KEY_SIZE];
        char sp[512], pp[512];
        FILE *s, *p;

        snprintf(sp, sizeof sp, "%s/gen.key", dir);
        snprintf(pp, sizeof pp, "%s/gen.pub", dir);
        s = fopen(sp, "we");
        p = fopen(pp, "we");
        assert_non_null(s);
        assert_non_null(p);
        assert_int_equal(node_key_generate(s, p), 0);
        fclose(s);
        fclose(p);
        assert_int_equal(chmod(sp, 0400), 0);

        assert_int_equal(node_key_load_secret(sp, secret, public), 0);
        assert_int_equal(node_key_load_public(pp, pub_file), 0);
        assert_memory_equal(public, pub_file, NODE_KEY_SIZE);

        s = fopen(sp, "we");
        p = fopen(pp, "we");
        assert_int_equal(node_key_generate(s, p), 0);
        fclose(s);
        fclose(p);
        assert_int_equal(node_key_load_public(pp, other), 0);
        assert_memory_not_equal(pub_file, other, NODE_KEY_SIZE);

        /* a full disk is an error */
        p = fopen("/dev/full", "we");
        if (p) {
                assert_int_equal(node_key_generate(p, p), -EIO);
                fclose(p);
        }
}

/* Key files that cannot be used say why, with the path; a secret key that
 * everyone may read loads, with a warning. */
static void test_key_file_errors(void **state) {
        static const struct {
                const char *text;
                const char *says;
        } bad[] = {
                { "xyz\n", "not hex" },
                { "abcd\n", "wrong length" },
                { "", "empty" },
        };
        uint8_t secret[NODE_KEY_SIZE], public[NODE_KEY_SIZE];
        Capture cap;
        char *log, big[2048];
        const char *path;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                path = write_file("bad.key", bad[i].text, 0400);
                capture_start(&cap);
                assert_int_equal(node_key_load_secret(path, secret, public), -EINVAL);
                log = capture_end(&cap);
                assert_non_null(strstr(log, path));
                assert_non_null(strstr(log, bad[i].says));
                free(log);
        }

        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = 0;
        path = write_file("big.key", big, 0400);
        capture_start(&cap);
        assert_int_equal(node_key_load_public(path, public), -EINVAL);
        log = capture_end(&cap);
        assert_non_null(strstr(log, "too long"));
        free(log);

        capture_start(&cap);
        assert_int_equal(node_key_load_secret("/nonexistent/node-key", secret, public), -ENOENT);
        assert_int_equal(node_key_load_public(dir, public), -EINVAL); /* a directory */
        log = capture_end(&cap);
        assert_non_null(strstr(log, "/nonexistent/node-key"));
        assert_non_null(strstr(log, "regular file"));
        free(log);

        path = write_file("open.key", "0000000000000000000000000000000000000000000000000000000000000001\n", 0644);
        capture_start(&cap);
        assert_int_equal(node_key_load_secret(path, secret, public), 0);
        log = capture_end(&cap);
        assert_non_null(strstr(log, "readable by everyone"));
        free(log);

        path = write_file("closed.key", "0000000000000000000000000000000000000000000000000000000000000001\n", 0640);
        capture_start(&cap);
        assert_int_equal(node_key_load_secret(path, secret, public), 0);
        log = capture_end(&cap);
        assert_null(strstr(log, "readable"));
        free(log);
}

/* $CREDENTIALS_DIRECTORY/node-key, and no path without credentials. */
static void test_credential_path(void **state) {
        char *p = NULL;

        unsetenv("CREDENTIALS_DIRECTORY");
        assert_int_equal(node_key_credential_path(&p), -ENXIO);
        assert_null(p);
        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/xfsm-redis-bridge.service", 1);
        assert_int_equal(node_key_credential_path(&p), 0);
        assert_string_equal(p, "/run/credentials/xfsm-redis-bridge.service/node-key");
        free(p);
        unsetenv("CREDENTIALS_DIRECTORY");
}

/* nodes.d: each NODE.pub is accepted; other files are skipped; a bad key,
 * a bad name or this node's name on another key is reported and fails the
 * load, the good ones still accepted. */
static void test_nodes_dir(void **state) {
        _cleanup_(node_keyring_freep) NodeKeyring *k = NULL;
        uint8_t sk[NODE_KEY_SIZE], pk[NODE_KEY_SIZE], key[NODE_KEY_SIZE], theirs[NODE_KEY_SIZE];
        char nodes[512], hex[2 * NODE_KEY_SIZE + 2], name[600], *log;
        Capture cap;

        crypto_kx_keypair(pk, sk);
        assert_int_equal(node_keyring_new("self", sk, &k), 0);
        assert_int_equal(node_keyring_load_dir(k, "/nonexistent/nodes.d"), 0);

        snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
        assert_int_equal(mkdir(nodes, 0755), 0);

        sodium_bin2hex(hex, sizeof hex, node_keyring_public(beta), NODE_KEY_SIZE);
        strcat(hex, "\n");
        write_file("nodes.d/beta.pub", hex, 0644);
        sodium_bin2hex(hex, sizeof hex, pk, NODE_KEY_SIZE);
        write_file("nodes.d/self.pub", hex, 0644);
        write_file("nodes.d/README", "not a key", 0644);
        assert_int_equal(node_keyring_load_dir(k, nodes), 0);
        assert_true(node_keyring_knows(k, "beta"));
        assert_true(node_keyring_knows(k, "self"));

        /* k and beta agree on their keys */
        assert_int_equal(node_keyring_add_peer(beta, "self", pk), 0);
        assert_int_equal(node_keyring_mac_key(k, "beta", NODE_KEY_SEND, key), 0);
        assert_int_equal(node_keyring_mac_key(beta, "self", NODE_KEY_RECEIVE, theirs), 0);
        assert_memory_equal(key, theirs, NODE_KEY_SIZE);

        write_file("nodes.d/broken.pub", "zz\n", 0644);
        write_file("nodes.d/bad name.pub", hex, 0644);
        snprintf(name, sizeof name, "nodes.d/%s.pub",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        write_file(name, hex, 0644);
        sodium_bin2hex(hex, sizeof hex, node_keyring_public(gamma_), NODE_KEY_SIZE);
        write_file("nodes.d/gamma.pub", hex, 0644);
        sodium_bin2hex(hex, sizeof hex, node_keyring_public(delta), NODE_KEY_SIZE);
        write_file("nodes.d/self.pub", hex, 0644); /* not this node's key */

        capture_start(&cap);
        assert_true(node_keyring_load_dir(k, nodes) < 0);
        log = capture_end(&cap);
        assert_non_null(strstr(log, "broken.pub: not hex"));
        assert_non_null(strstr(log, "bad name.pub: not a node name"));
        assert_non_null(strstr(log, "aaaa.pub: not a node name"));
        assert_non_null(strstr(log, "self.pub: not this node's public key"));
        assert_true(node_keyring_knows(k, "gamma"));
        assert_false(node_keyring_knows(k, "broken"));
        free(log);

        /* the keyring's own checks */
        assert_int_equal(node_keyring_add_peer(k, "a/b", pk), -EINVAL);
        assert_int_equal(node_keyring_add_peer(k, "self", node_keyring_public(beta)), -EKEYREJECTED);
        memset(key, 0, sizeof key);
        assert_int_equal(node_keyring_add_peer(k, "zero", key), -EINVAL); /* a weak key */
        assert_int_equal(node_keyring_new("not a name", sk, &(NodeKeyring *) { NULL }), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_both_sides_derive_the_same_pair_key),
                cmocka_unit_test(test_keyed_state_is_the_pair_keys_hmac),
                cmocka_unit_test(test_no_mac_is_dead),
                cmocka_unit_test(test_wrong_mac_is_dead),
                cmocka_unit_test(test_another_nodes_name_with_a_third_nodes_mac_is_dead),
                cmocka_unit_test(test_entry_for_one_node_does_not_pass_on_another),
                cmocka_unit_test(test_tampered_entry_is_dead),
                cmocka_unit_test(test_fields_cannot_shift_into_each_other),
                cmocka_unit_test(test_unknown_node_is_dead),
                cmocka_unit_test(test_source_not_homed_at_signer_is_dead),
                cmocka_unit_test(test_entry_in_another_inbox_is_dead),
                cmocka_unit_test(test_unknown_home_is_transient),
                cmocka_unit_test(test_oversized_body_is_dead),
                cmocka_unit_test(test_body_not_utf8_is_dead),
                cmocka_unit_test(test_body_not_a_routed_event_is_dead),
                cmocka_unit_test(test_unknown_fields_are_ignored),
                cmocka_unit_test(test_newer_version_is_refused),
                cmocka_unit_test(test_required_fields_and_shape),
                cmocka_unit_test(test_every_reason_has_a_name),
                cmocka_unit_test(test_key_hex_parsing),
                cmocka_unit_test(test_generated_keys_load),
                cmocka_unit_test(test_key_file_errors),
                cmocka_unit_test(test_credential_path),
                cmocka_unit_test(test_nodes_dir),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
