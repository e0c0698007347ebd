/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Node keys (xfsm-redis-bridge(8), AUTHENTICATION): each node has an X25519
 * key pair; its secret key is the systemd credential "node-key", the public
 * keys of the nodes it accepts are /etc/xfsm/nodes.d/NODE.pub. Both files
 * hold one line: the 32-byte key as 64 hex digits.
 *
 * The keyring holds this node's pair and, per accepted node, the two MAC
 * keys this node shares with it, derived with crypto_kx: of the two names,
 * the lexically smaller is the kx "client", the other the "server"; a node
 * MACs what it sends with its transmit key and checks what it receives with
 * its receive key, so the key for A to B is not the key for B to A (an
 * entry cannot be reflected back as the other node's). A node sending to
 * itself takes the client role to send and the server role to receive,
 * which gives one key for both. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sodium.h>

#include "macro.h"
#include "node-name.h"

#define NODE_KEY_SIZE 32 /* X25519 keys, and crypto_auth keys */
#define NODE_KEY_CREDENTIAL "node-key"
#define NODE_KEYS_DIR "/etc/xfsm/nodes.d"

/* ---- key files ---------------------------------------------------------- */

/* text (len bytes, not necessarily NUL-terminated): 64 hex digits, blanks
 * and a newline around them allowed. 0, or -EINVAL and why. */
int node_key_parse_hex(const char *text, size_t len, uint8_t ret[NODE_KEY_SIZE], const char **ret_why);

/* The secret key file at path, and its public key (derived from it). Says
 * what is wrong (unreadable, not hex, wrong length) as "PATH: why"; warns
 * when others may read it. */
int node_key_load_secret(const char *path, uint8_t ret_secret[NODE_KEY_SIZE], uint8_t ret_public[NODE_KEY_SIZE]);
/* A public key file, the same way. */
int node_key_load_public(const char *path, uint8_t ret[NODE_KEY_SIZE]);

/* Where the credential is: $CREDENTIALS_DIRECTORY/node-key (malloc'd);
 * -ENXIO when the service was given no credentials. */
int node_key_credential_path(char **ret);

/* A new key pair: the secret key to secret_out, the public key to
 * public_out, each as one line of hex. 0 or -EIO. */
int node_key_generate(FILE *secret_out, FILE *public_out);

/* ---- the keyring -------------------------------------------------------- */

typedef enum NodeKeyDirection {
        NODE_KEY_SEND,    /* what this node writes for the peer */
        NODE_KEY_RECEIVE, /* what this node reads from the peer */
} NodeKeyDirection;

typedef struct NodeKeyring NodeKeyring;

/* This node, named self, with its secret key. It accepts itself. */
int node_keyring_new(const char *self, const uint8_t secret[NODE_KEY_SIZE], NodeKeyring **ret);
NodeKeyring *node_keyring_free(NodeKeyring *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(NodeKeyring *, node_keyring_free);

const char *node_keyring_self(const NodeKeyring *k);
const uint8_t *node_keyring_public(const NodeKeyring *k);

/* Accept node name with its public key (again: the new key replaces the
 * old). -EINVAL for an invalid name or a weak key, -EKEYREJECTED for a key
 * under this node's own name that is not its own. */
int node_keyring_add_peer(NodeKeyring *k, const char *name, const uint8_t public[NODE_KEY_SIZE]);
/* Every NODE.pub in dir (a missing dir accepts no one more). A bad file is
 * reported and fails the whole, after the others were tried. */
int node_keyring_load_dir(NodeKeyring *k, const char *dir);

bool node_keyring_knows(const NodeKeyring *k, const char *peer);
/* A node not known (yet): read the directory last loaded again, at most once
 * a second, so that keys installed after start are picked up. 1 when peer is
 * known now, 0 when not. */
int node_keyring_refresh(NodeKeyring *k, const char *peer);
/* The MAC key this node shares with peer for dir; -ENOKEY when peer is
 * not accepted. */
int node_keyring_mac_key(const NodeKeyring *k, const char *peer, NodeKeyDirection dir,
                         uint8_t ret[NODE_KEY_SIZE]);
/* The same key as an HMAC-SHA-512-256 state already keyed, ready for
 * crypto_auth_hmacsha512256_update(); the caller wipes its copy after use.
 * -ENOKEY when peer is not accepted. */
int node_keyring_mac_state(const NodeKeyring *k, const char *peer, NodeKeyDirection dir,
                           crypto_auth_hmacsha512256_state *ret);
