/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: stream entries as Redis could hand them to the bridge
 * (daemon/bridge/entry.c). Reading must never crash, leak, or give
 * anything but a valid entry, a dead one with a reason, or an error.
 *
 * The first byte chooses how the rest is used:
 *   bit 0 clear: the rest is the entry's strings, each a length byte and
 *          that many bytes (length 255: the rest of the input), read on
 *          node beta as they are (the shape, the version, the fields, the
 *          signer, the MAC);
 *   bit 0 set: the rest is a body, signed properly for beta by alpha,
 *          gamma or delta (bits 1-2; beta does not know delta), so that
 *          what comes after the MAC (UTF-8, JSON, the routed event, the
 *          inbox, the home) is reached; bit 3: read in the inbox of Audit
 *          rather than Payment.
 * Keys come from fixed seeds: the same input gives the same path. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "entry.h"

#define MAX_STRINGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static NodeKeyring *ring(const char *name, uint8_t seed_byte) {
        uint8_t seed[crypto_kx_SEEDBYTES], pk[NODE_KEY_SIZE], sk[NODE_KEY_SIZE];
        NodeKeyring *k = NULL;

        memset(seed, seed_byte, sizeof seed);
        crypto_kx_seed_keypair(pk, sk, seed);
        if (node_keyring_new(name, sk, &k) < 0)
                abort();
        return k;
}

static void accept_each_other(NodeKeyring *a, NodeKeyring *b) {
        if (node_keyring_add_peer(a, node_keyring_self(b), node_keyring_public(b)) < 0 ||
            node_keyring_add_peer(b, node_keyring_self(a), node_keyring_public(a)) < 0)
                abort();
}

/* Order's home is alpha; Flaky's cannot be told; nothing else has one. */
static int is_home(const char *component, const char *node, void *userdata) {
        if (strcmp(component, "Flaky") == 0)
                return -EAGAIN;
        return strcmp(component, "Order") == 0 && strcmp(node, "alpha") == 0;
}

static void check(int r, Entry *e, const EntryDead *d) {
        if (r == ENTRY_VALID) {
                if (!e || !e->node || !e->body || strlen(e->body) != e->body_len || !e->routed ||
                    strcmp(xfsm_routed_source_component(e->routed), "Order") != 0 ||
                    strcmp(e->node, "alpha") != 0)
                        abort();
        } else if (r == ENTRY_DEAD) {
                if (e || !entry_dead_reason_to_string(d->reason) || !memchr(d->detail, 0, sizeof d->detail) ||
                    !d->detail[0])
                        abort();
        } else if (r >= 0 || e)
                abort();
        entry_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static NodeKeyring *alpha, *beta, *gamma_, *delta;
        EntryDead d = { .reason = _ENTRY_DEAD_MAX };
        Entry *e = NULL;
        uint8_t flags;
        int r;

        if (!alpha) {
                alpha = ring("alpha", 1);
                beta = ring("beta", 2);
                gamma_ = ring("gamma", 3);
                delta = ring("delta", 4);
                accept_each_other(alpha, beta);
                accept_each_other(gamma_, beta);
                if (node_keyring_add_peer(delta, "beta", node_keyring_public(beta)) < 0)
                        abort();
        }

        if (size < 1)
                return 0;
        flags = data[0];
        data++;
        size--;

        if (flags & 1) {
                NodeKeyring *const signers[] = { alpha, gamma_, delta, alpha };
                EntryFields f = {};

                if (entry_encode(signers[(flags >> 1) & 3], "beta", ENTRY_ROUTED, (const char *) data, size, &f) < 0)
                        return 0;
                r = entry_parse(beta, flags & 8 ? "Audit" : "Payment", is_home, NULL, f.argv, f.argvlen, f.n, &e,
                                &d);
                check(r, e, &d);
                entry_fields_done(&f);
        } else {
                const char *argv[MAX_STRINGS];
                size_t argvlen[MAX_STRINGS], n = 0;

                while (size > 0 && n < MAX_STRINGS) {
                        size_t len = data[0];

                        data++;
                        size--;
                        if (len == 255 || len > size)
                                len = size;
                        argv[n] = (const char *) data;
                        argvlen[n++] = len;
                        data += len;
                        size -= len;
                }
                r = entry_parse(beta, "Payment", is_home, NULL, argv, argvlen, n, &e, &d);
                check(r, e, &d);
        }

        return 0;
}
