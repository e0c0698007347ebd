/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The settings of xfsm-redis-bridge (xfsm-redis-bridge(8)): the command
 * line, /etc/xfsm/bridge.conf, and the effective settings made of both
 * (options win over the file, then the defaults that depend on other
 * settings: the node name from the host name, MinReplicas=1 under
 * Sentinel). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "node-name.h"

#define BRIDGE_CONFIG_FILE "/etc/xfsm/bridge.conf"
#define BRIDGE_REDIS_DEFAULT "redis://127.0.0.1:6379"

typedef enum BridgeBusKind {
        BRIDGE_BUS_SYSTEM,
        BRIDGE_BUS_USER,
        BRIDGE_BUS_ADDRESS,
} BridgeBusKind;

typedef enum BridgeRedisKind {
        BRIDGE_REDIS_DIRECT,   /* redis://HOST:PORT[/DB] */
        BRIDGE_REDIS_SENTINEL, /* redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTERNAME */
} BridgeRedisKind;

/* What the command line said; strings point into argv. */
typedef struct BridgeOptions {
        const char *config;      /* --config: this file, which must exist */
        BridgeBusKind bus;
        bool has_bus;
        const char *bus_address; /* --bus-address */
        const char *node;        /* --node */
        const char *redis;       /* --redis */
        bool xcomponent_compat;  /* --xcomponent-compat */
        const char *state_dir;   /* --state-dir: the node's UUID (default $STATE_DIRECTORY or /var/lib/xfsm-bridge) */
        const char *nodes_dir;   /* --nodes-dir: the nodes' public keys (default /etc/xfsm/nodes.d) */
        const char *node_key;    /* --node-key: this node's secret key (default the credential node-key) */
        const char *generate_key; /* --generate-key PREFIX: write PREFIX.key and PREFIX.pub, then exit */
        bool help, version;
} BridgeOptions;

typedef struct BridgeConfig {
        BridgeBusKind bus;
        char *bus_address;
        char *node;               /* Node=, or the host name */
        char *redis_url;          /* Redis=, as written (redis.c reads it) */
        BridgeRedisKind redis_kind;
        unsigned min_replicas;    /* MinReplicas= */
        bool has_min_replicas;    /* set by the file (else 1 under Sentinel, 0 otherwise) */
        uint64_t wait_ms;         /* WaitMs= */
        uint64_t inbox_limit;     /* InboxLimit= */
        bool insecure;            /* Insecure= */
        bool xcomponent_compat;   /* XcomponentCompat= */
        char **xcomponent_components; /* XcomponentComponents=, NULL-terminated (NULL: none) */
} BridgeConfig;

/* The command line. Returns 0, or -EINVAL after printing what was wrong.
 * --help and --version only set their flag. */
int bridge_options_parse(BridgeOptions *o, int argc, char *argv[]);

/* The defaults, before any file. */
void bridge_config_init(BridgeConfig *c);
void bridge_config_done(BridgeConfig *c);

/* Read a bridge.conf over c. A missing file is not an error when !required.
 * Unknown keys are warnings, bad values errors "FILE:LINE: why" (all are
 * reported, then -EINVAL). */
int bridge_config_read(BridgeConfig *c, const char *path, bool required);

/* The command line's settings over c, then the defaults that depend on the
 * others. -EINVAL after saying which option was wrong. */
int bridge_config_apply(BridgeConfig *c, const BridgeOptions *o);

/* All of it: defaults, the file (--config, or BRIDGE_CONFIG_FILE if there),
 * the options. On failure c is left initialized and empty. */
int bridge_config_load(BridgeConfig *c, const BridgeOptions *o);

/* The effective settings as a bridge.conf (the bus as a comment). */
void bridge_config_dump(const BridgeConfig *c, FILE *f);

/* Only the scheme and the shape of a Redis= URL (redis.c reads the rest). 0
 * and the kind, or -EINVAL and why. */
int bridge_redis_url_check(const char *url, BridgeRedisKind *ret_kind, const char **ret_why);

const char *bridge_redis_kind_to_string(BridgeRedisKind k);
