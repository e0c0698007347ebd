/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Node keys: the key files (one line of hex each), making a key pair, and
 * the keyring of the nodes this one accepts with the MAC keys it shares
 * with each (see node-key.h for the roles and directions, and
 * xfsm-redis-bridge(8), AUTHENTICATION). Secrets are wiped from memory
 * once used. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "macro.h"
#include "node-key.h"

_Static_assert(NODE_KEY_SIZE == crypto_kx_SECRETKEYBYTES, "kx secret key size");
_Static_assert(NODE_KEY_SIZE == crypto_kx_PUBLICKEYBYTES, "kx public key size");
_Static_assert(NODE_KEY_SIZE == crypto_kx_SESSIONKEYBYTES, "kx session key size");
_Static_assert(NODE_KEY_SIZE == crypto_scalarmult_BYTES, "scalarmult size");
_Static_assert(NODE_KEY_SIZE == crypto_auth_KEYBYTES, "auth key size");

#define KEY_FILE_MAX 512 /* one line of hex, with room for blanks */

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* ---- key files ------------------------------------------------------------ */

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int node_key_parse_hex(const char *text, size_t len, uint8_t ret[NODE_KEY_SIZE], const char **ret_why) {
        uint8_t key[NODE_KEY_SIZE];
        size_t start = 0, end = len;

        assert(text || len == 0);
        assert(ret);
        assert(ret_why);

        while (start < end && is_blank(text[start]))
                start++;
        while (end > start && is_blank(text[end - 1]))
                end--;

        if (start == end) {
                *ret_why = "empty, where a key is 64 hex digits";
                return -EINVAL;
        }
        for (size_t i = start; i < end; i++)
                if (unhexchar(text[i]) < 0) {
                        *ret_why = "not hex, where a key is 64 hex digits";
                        return -EINVAL;
                }
        if (end - start != 2 * NODE_KEY_SIZE) {
                *ret_why = "the wrong length, where a key is 64 hex digits (32 bytes)";
                return -EINVAL;
        }

        for (size_t i = 0; i < NODE_KEY_SIZE; i++)
                key[i] = (uint8_t) (unhexchar(text[start + 2 * i]) << 4 | unhexchar(text[start + 2 * i + 1]));

        memcpy(ret, key, NODE_KEY_SIZE);
        sodium_memzero(key, sizeof key);
        return 0;
}

/* The key in the file at path; *ret_world_readable when others may read it. */
static int load_key_file(const char *path, uint8_t ret[NODE_KEY_SIZE], bool *ret_world_readable) {
        char text[KEY_FILE_MAX + 1];
        const char *why;
        struct stat st;
        size_t len = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to read the node key %s: %m", path);
        if (fstat(fd, &st) < 0) {
                r = log_error_errno(-errno, "Failed to read the node key %s: %m", path);
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                log_error("%s: a node key is a regular file", path);
                return -EINVAL;
        }

        for (;;) {
                ssize_t n = read(fd, text + len, sizeof text - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(-errno, "Failed to read the node key %s: %m", path);
                        close(fd);
                        sodium_memzero(text, sizeof text);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == sizeof text)
                        break;
        }
        close(fd);

        if (len > KEY_FILE_MAX) {
                sodium_memzero(text, sizeof text);
                log_error("%s: too long for a node key (one line of 64 hex digits)", path);
                return -EINVAL;
        }
        r = node_key_parse_hex(text, len, ret, &why);
        sodium_memzero(text, sizeof text);
        if (r < 0) {
                log_error("%s: %s", path, why);
                return r;
        }

        if (ret_world_readable)
                *ret_world_readable = st.st_mode & S_IROTH;
        return 0;
}

int node_key_load_secret(const char *path, uint8_t ret_secret[NODE_KEY_SIZE], uint8_t ret_public[NODE_KEY_SIZE]) {
        uint8_t secret[NODE_KEY_SIZE], public[NODE_KEY_SIZE];
        bool world;
        int r;

        assert(path);
        assert(ret_secret);
        assert(ret_public);

        r = load_key_file(path, secret, &world);
        if (r < 0)
                return r;
        if (world)
                log_warning("%s: the node's secret key is readable by everyone; give it mode 0400, or pass it with "
                            "LoadCredential=",
                            path);

        if (crypto_scalarmult_base(public, secret) < 0) {
                sodium_memzero(secret, sizeof secret);
                log_error("%s: not a usable X25519 secret key", path);
                return -EINVAL;
        }

        memcpy(ret_secret, secret, NODE_KEY_SIZE);
        memcpy(ret_public, public, NODE_KEY_SIZE);
        sodium_memzero(secret, sizeof secret);
        return 0;
}

int node_key_load_public(const char *path, uint8_t ret[NODE_KEY_SIZE]) {
        assert(path);
        assert(ret);

        return load_key_file(path, ret, NULL);
}

int node_key_credential_path(char **ret) {
        const char *d = getenv("CREDENTIALS_DIRECTORY");
        char *p;

        assert(ret);

        if (isempty(d))
                return -ENXIO;
        if (asprintf(&p, "%s/%s", d, NODE_KEY_CREDENTIAL) < 0)
                return -ENOMEM;

        *ret = p;
        return 0;
}

static int write_hex_line(FILE *f, const uint8_t key[NODE_KEY_SIZE]) {
        char hex[2 * NODE_KEY_SIZE + 1];
        int r = 0;

        sodium_bin2hex(hex, sizeof hex, key, NODE_KEY_SIZE);
        if (fprintf(f, "%s\n", hex) < 0 || fflush(f) != 0 || ferror(f))
                r = -EIO;
        sodium_memzero(hex, sizeof hex);
        return r;
}

int node_key_generate(FILE *secret_out, FILE *public_out) {
        uint8_t secret[NODE_KEY_SIZE], public[NODE_KEY_SIZE];
        int r;

        assert(secret_out);
        assert(public_out);

        if (sodium_init() < 0)
                return -EIO;

        crypto_kx_keypair(public, secret);
        r = write_hex_line(secret_out, secret);
        if (r >= 0)
                r = write_hex_line(public_out, public);
        sodium_memzero(secret, sizeof secret);
        return r;
}

/* ---- the keyring ------------------------------------------------------------ */

typedef struct NodePeer {
        char name[NODE_NAME_MAX + 1];
        uint8_t public[NODE_KEY_SIZE];
        uint8_t send[NODE_KEY_SIZE];    /* MACs of what this node writes for the peer */
        uint8_t receive[NODE_KEY_SIZE]; /* MACs of what the peer writes for this node */
        /* HMAC states keyed with send and receive once: each MAC starts from a
         * copy instead of hashing the key's two blocks again */
        crypto_auth_hmacsha512256_state send_mac, receive_mac;
} NodePeer;

struct NodeKeyring {
        char self[NODE_NAME_MAX + 1];
        uint8_t secret[NODE_KEY_SIZE];
        uint8_t public[NODE_KEY_SIZE];
        NodePeer *peers;
        size_t n_peers;
        char *dir;              /* where the peers' keys were read from, read again by node_keyring_refresh() */
        uint64_t last_refresh;  /* CLOCK_MONOTONIC usec */
};

NodeKeyring *node_keyring_free(NodeKeyring *k) {
        if (!k)
                return NULL;

        free(k->dir);
        if (k->peers)
                sodium_memzero(k->peers, k->n_peers * sizeof *k->peers);
        free(k->peers);
        sodium_memzero(k, sizeof *k);
        free(k);
        return NULL;
}

/* The pair's keys: see node-key.h for the roles. */
static int derive(const NodeKeyring *k, NodePeer *p) {
        uint8_t rx[NODE_KEY_SIZE], tx[NODE_KEY_SIZE];
        int c = strcmp(k->self, p->name), r = 0;

        if (c == 0) {
                /* to itself: sent as the client, received as the server, whose rx is the client's tx */
                if (crypto_kx_client_session_keys(rx, tx, k->public, k->secret, p->public) < 0)
                        r = -EINVAL;
                memcpy(p->send, tx, NODE_KEY_SIZE);
                memcpy(p->receive, tx, NODE_KEY_SIZE);
        } else {
                if ((c < 0 ? crypto_kx_client_session_keys(rx, tx, k->public, k->secret, p->public)
                           : crypto_kx_server_session_keys(rx, tx, k->public, k->secret, p->public)) < 0)
                        r = -EINVAL; /* a weak public key */
                memcpy(p->send, tx, NODE_KEY_SIZE);
                memcpy(p->receive, rx, NODE_KEY_SIZE);
        }

        sodium_memzero(rx, sizeof rx);
        sodium_memzero(tx, sizeof tx);
        if (r == 0) {
                crypto_auth_hmacsha512256_init(&p->send_mac, p->send, NODE_KEY_SIZE);
                crypto_auth_hmacsha512256_init(&p->receive_mac, p->receive, NODE_KEY_SIZE);
        }
        return r;
}

static NodePeer *find_peer(const NodeKeyring *k, const char *name) {
        for (size_t i = 0; i < k->n_peers; i++)
                if (streq(k->peers[i].name, name))
                        return &k->peers[i];
        return NULL;
}

int node_keyring_add_peer(NodeKeyring *k, const char *name, const uint8_t public[NODE_KEY_SIZE]) {
        NodePeer p = {}, *slot;
        int r;

        assert(k);
        assert(name);
        assert(public);

        if (!node_name_is_valid(name))
                return -EINVAL;
        if (streq(name, k->self) && sodium_memcmp(public, k->public, NODE_KEY_SIZE) != 0)
                return -EKEYREJECTED;

        strcpy(p.name, name);
        memcpy(p.public, public, NODE_KEY_SIZE);
        r = derive(k, &p);
        if (r < 0) {
                sodium_memzero(&p, sizeof p);
                return r;
        }

        slot = find_peer(k, name);
        if (!slot) {
                NodePeer *n = realloc(k->peers, (k->n_peers + 1) * sizeof *n);
                if (!n) {
                        sodium_memzero(&p, sizeof p);
                        return -ENOMEM;
                }
                k->peers = n;
                slot = &k->peers[k->n_peers++];
        }
        *slot = p;
        sodium_memzero(&p, sizeof p);
        return 0;
}

int node_keyring_new(const char *self, const uint8_t secret[NODE_KEY_SIZE], NodeKeyring **ret) {
        _cleanup_(node_keyring_freep) NodeKeyring *k = NULL;
        int r;

        assert(self);
        assert(secret);
        assert(ret);

        if (!node_name_is_valid(self))
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;

        k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        strcpy(k->self, self);
        memcpy(k->secret, secret, NODE_KEY_SIZE);
        if (crypto_scalarmult_base(k->public, k->secret) < 0)
                return -EINVAL;

        r = node_keyring_add_peer(k, self, k->public);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(k);
        return 0;
}

const char *node_keyring_self(const NodeKeyring *k) {
        assert(k);
        return k->self;
}

const uint8_t *node_keyring_public(const NodeKeyring *k) {
        assert(k);
        return k->public;
}

int node_keyring_load_dir(NodeKeyring *k, const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        assert(k);
        assert(dir);

        if (!streq_ptr(k->dir, dir)) {
                char *copy = strdup(dir);
                if (!copy)
                        return -ENOMEM;
                free(k->dir);
                k->dir = copy;
        }
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        log_debug("No %s: no other node is accepted", dir);
                        return 0;
                }
                return log_error_errno(-errno, "Failed to read %s: %m", dir);
        }

        while ((de = readdir(d))) {
                char name[NODE_NAME_MAX + 1], *path;
                uint8_t public[NODE_KEY_SIZE];
                size_t len = strlen(de->d_name);
                int q;

                if (len <= 4 || !streq(de->d_name + len - 4, ".pub"))
                        continue;
                if (len - 4 > NODE_NAME_MAX) {
                        log_error("%s/%s: not a node name (1 to %d of A-Z a-z 0-9 _ . -) before .pub", dir,
                                  de->d_name, NODE_NAME_MAX);
                        r = -EINVAL;
                        continue;
                }
                memcpy(name, de->d_name, len - 4);
                name[len - 4] = 0;
                if (!node_name_is_valid(name)) {
                        log_error("%s/%s: not a node name (1 to %d of A-Z a-z 0-9 _ . -) before .pub", dir,
                                  de->d_name, NODE_NAME_MAX);
                        r = -EINVAL;
                        continue;
                }

                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return log_oom();
                q = node_key_load_public(path, public);
                if (q >= 0) {
                        q = node_keyring_add_peer(k, name, public);
                        if (q == -EKEYREJECTED)
                                log_error("%s: not this node's public key, though it names this node", path);
                        else if (q == -EINVAL)
                                log_error("%s: a weak public key, refused", path);
                        else if (q < 0)
                                log_error_errno(q, "Failed to accept node %s: %m", name);
                }
                free(path);
                if (q < 0 && r >= 0)
                        r = q;
        }

        return r;
}

bool node_keyring_knows(const NodeKeyring *k, const char *peer) {
        assert(k);
        assert(peer);

        return find_peer(k, peer) != NULL;
}

int node_keyring_mac_key(const NodeKeyring *k, const char *peer, NodeKeyDirection dir, uint8_t ret[NODE_KEY_SIZE]) {
        const NodePeer *p;

        assert(k && peer && ret);
        if (!(p = find_peer(k, peer)))
                return -ENOKEY;
        memcpy(ret, dir == NODE_KEY_SEND ? p->send : p->receive, NODE_KEY_SIZE);
        return 0;
}

int node_keyring_mac_state(const NodeKeyring *k, const char *peer, NodeKeyDirection dir,
                           crypto_auth_hmacsha512256_state *ret) {
        const NodePeer *p;

        assert(k && peer && ret);
        if (!(p = find_peer(k, peer)))
                return -ENOKEY;
        *ret = dir == NODE_KEY_SEND ? p->send_mac : p->receive_mac;
        return 0;
}

int node_keyring_refresh(NodeKeyring *k, const char *peer) {
        struct timespec ts;
        uint64_t now;

        assert(k);
        if (!k->dir || (peer && node_keyring_knows(k, peer)))
                return 0;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
        if (k->last_refresh && now < k->last_refresh + 1000000ULL)
                return 0;
        k->last_refresh = now;
        log_info("Node %s is not known: reading %s again", peer ?: "?", k->dir);
        (void) node_keyring_load_dir(k, k->dir);
        return peer ? node_keyring_knows(k, peer) : 1;
}
