/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* xfsm nodes and Redis for the integration tests that join nodes through
 * xfsm-redis-bridge(8): a free loopback port, a real redis-server and
 * redis-cli, a node (its directory, components, state, key pair, private
 * dbus-daemon), its xfsmd and its bridge, and stopping them. Built on
 * harness.h. */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#define NODE_COMPONENTS_MAX 4

typedef struct Node {
        /* set by the test */
        const char *name;
        const char *files[NODE_COMPONENTS_MAX]; /* tests/data files it hosts (NULL-terminated) */
        const char *stems[NODE_COMPONENTS_MAX]; /* their names in comp/ and for --component */
        char redis_url[256];                     /* --redis of its bridge */
        char config[400];                        /* --config of its bridge */
        const char *credentials;                 /* CREDENTIALS_DIRECTORY of its bridge, or NULL */
        bool log_append;                         /* the bridge's log keeps every start */

        /* set by node_setup() */
        char dir[300], nodes_dir[320], address[512];
        sd_bus *bus;
        pid_t broker, xfsmd, bridge;
} Node;

/* A TCP port free on 127.0.0.1 a moment ago. */
int nodes_free_port(void);
/* system() of the formatted command; fails the test unless it exits 0. */
void nodes_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Signal pid, reap it, zero it; its wait status (0 when there was none). */
int process_stop(pid_t *pid, int sig);

/* redis-cli's answer on port, its lines joined by spaces (static buffer), "" when none. */
char *redis_cli(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Wait up to 5 s for port to answer PONG; fail the test when it does not. */
void redis_wait_ready(int port);
/* redis-server on 127.0.0.1:port, its files in root/name, its log
 * root/name.log; no snapshots, no eviction; durable: appendonly with
 * appendfsync always. extra: more options (NULL-terminated) or NULL.
 * Returns when it answers PING. */
pid_t redis_server_start(const char *root, const char *name, int port, bool durable, char *const extra[]);

/* root/name with comp/ (n->files as stem.yaml), state/, bridge-state/, a key
 * pair made by xfsm-redis-bridge --generate-key whose public half goes to
 * nodes_dir (NULL: the node's own nodes.d), and a private dbus-daemon. */
void node_setup(Node *n, const char *root, const char *nodes_dir);
/* xfsmd --bus-address ADDR OPTIONS... --state-dir dir/state --component S...
 * for every stem, logging to log (NULL: dir/xfsmd.log). */
pid_t node_spawn_xfsmd(Node *n, char *const options[], const char *log);
/* xfsm-redis-bridge for n as node_name (NULL: n->name), with state_dir
 * (NULL: dir/bridge-state) and log (NULL: dir/bridge.log). */
pid_t node_spawn_bridge(Node *n, const char *node_name, const char *state_dir, const char *log);
/* Whether n's bridge lists remote among its components (/org/xfsm1/Bridge/remote). */
bool node_bridge_knows(Node *n, const char *remote);
/* Wait up to tries × 10 ms for n's bridge to know remote; fail the test when it does not. */
void node_wait_bridge(Node *n, const char *remote, int tries);
/* CreateInstance of machine with ctx on n's component; the new id (malloc'd);
 * fails the test with the error when refused. */
char *node_create(Node *n, const char *component, const char *machine, const char *ctx);
/* Stop bridge and xfsmd (SIGTERM), close the bus, stop the dbus-daemon;
 * how many of bridge and xfsmd did not exit 0. */
int node_stop(Node *n);
/* rm -rf dir unless XFSM_TEST_KEEP is set. */
void nodes_remove(const char *dir);

/* Send to n's component (its own worker, not through the bridge): 0 when
 * acknowledged, <0 when not (the worker gone, say). */
int node_send(Node *n, const char *component, const char *id, const char *event, const char *payload);
/* A call of component's org.xfsm1.Component method through n's bridge
 * (/org/xfsm1/Bridge/COMPONENT: the component homed on another node), the
 * arguments of signature types; sd_bus_call()'s result, error and reply. */
int node_remote_call(Node *n, const char *component, const char *method, sd_bus_error *error,
                     sd_bus_message **reply, const char *types, ...);
/* The number at key in instance id's context on n's component; -1 when none. */
long node_context_number(Node *n, const char *component, const char *id, const char *key);
/* The State of instance id (malloc'd), "?" when it cannot be read. */
char *node_state(Node *n, const char *component, const char *machine, const char *id);
/* How many transitions GetHistory lists for instance id. */
size_t node_history_length(Node *n, const char *component, const char *id);
/* xfsmctl's output (stdout and stderr) run with args on n's bus; its wait status in *ret_status. */
char *node_xfsmctl(Node *n, int *ret_status, const char *args);
/* Whether n's bridge says component is homed there; its home in ret_node (when not NULL). */
bool node_home_here(Node *n, const char *component, char *ret_node, size_t size);
