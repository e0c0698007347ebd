/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who is where (xfsm-redis-bridge(8), HOMES AND LIVENESS): this node's
 * name and UUID, the homes of components, and which nodes are alive.
 *
 * - The node claims its name with its UUID (xfsm:node:{N}, with expiry,
 *   refreshed every second, listing the components it hosts); a live name
 *   held by another UUID is refused (directory_start() fails).
 * - Each component this node hosts claims its home once, for good
 *   (SET xfsm:{C}:home NX, no expiry); a component whose home is another
 *   node is not served here.
 * - Every two seconds the directory reads the other nodes' heartbeats
 *   (members of xfsm:nodes) and the homes of the components they list, so
 *   that a component hosted elsewhere is known within 5 s; a node whose
 *   heartbeat expired is not alive.
 * Homes never change without an operator (a hand-over): once learned, a home
 * is kept even while Redis is unreachable. */

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "redis.h"

typedef struct Directory Directory;

typedef struct DirectoryCallbacks {
        /* homes learned or nodes came and went: the remote components may have changed */
        void (*changed)(Directory *d, void *userdata);
        /* the node name is held by another bridge: stop */
        void (*conflict)(Directory *d, const char *holder_uuid, void *userdata);
} DirectoryCallbacks;

/* node: this node's name; uuid its UUID; local: the components installed
 * on this node (NULL-terminated, copied); cache: a file where the homes
 * learned are kept, so that they are known at start even without Redis
 * (NULL: none). */
int directory_new(Directory **ret, sd_event *event, RedisConn *writer, const char *node, const char *uuid,
                  char *const *local, const char *cache, const DirectoryCallbacks *cb, void *userdata);
Directory *directory_free(Directory *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Directory *, directory_free);

/* Redis is up (again): claim the name and the homes, beat, scan. */
void directory_connected(Directory *d);

const char *directory_node(const Directory *d);
/* The home of component (NULL: not known yet). */
const char *directory_home(const Directory *d, const char *component);
/* The home of component, asked of Redis now when it is not known (and
 * claimed first for a component installed here): cb gets it (NULL when it
 * cannot be told: Redis unreachable). */
typedef void (*directory_home_fn)(Directory *d, const char *component, const char *home, void *userdata);
int directory_ask_home(Directory *d, const char *component, directory_home_fn cb, void *userdata);
/* Is component homed here (claimed by this node)? */
bool directory_is_home(const Directory *d, const char *component);
/* Is node's heartbeat alive? (This node always is.) */
bool directory_node_alive(const Directory *d, const char *node);
/* Components homed on other nodes, in a stable order. */
size_t directory_n_remote(const Directory *d);
const char *directory_remote(const Directory *d, size_t i);
bool directory_is_remote(const Directory *d, const char *component);

/* The other nodes seen (alive or not), and a node's UUID (NULL: not seen). */
size_t directory_n_nodes(const Directory *d);
const char *directory_nth_node(const Directory *d, size_t i);
const char *directory_node_uuid(const Directory *d, const char *node);
/* Node was decommissioned: not listed any more (unless it beats again). */
void directory_forget_node(Directory *d, const char *node);
/* Every home known: component i and its node. */
size_t directory_n_homes(const Directory *d);
const char *directory_nth_home(const Directory *d, size_t i, const char **ret_node);

/* The hand-over (xfsmctl bridge release): component, homed here, is not any
 * more; this bridge never claims it again until its home is seen elsewhere.
 * The caller deleted xfsm:{C}:home. */
void directory_release(Directory *d, const char *component);
/* A release of component (homed here) is under way, or over (on false):
 * meanwhile the scan does not write its home key again. */
void directory_releasing(Directory *d, const char *component, bool on);
bool directory_is_released(const Directory *d, const char *component);
/* The components installed here changed (copied): claim the new ones. */
int directory_set_local(Directory *d, char *const *local);
