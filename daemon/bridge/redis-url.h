/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Where the bridge finds Redis: the redis:// address of bridge.conf's
 * Redis= (xfsm-redis-bridge(8)) parsed into a RedisTarget, a
 * redis-sentinel:// address into a RedisSentinelUrl (the sentinels to ask
 * and the name of the primary), and whether a host is this machine's
 * loopback (the bridge refuses an address that is not, unless
 * Insecure=yes: hiredis here has no TLS). Pure: no I/O, no name lookups,
 * tested alone by test-redis-url. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_SENTINEL_DEFAULT_PORT 26379
#define REDIS_SENTINELS_MAX 16
#define REDIS_MASTER_NAME_MAX 64

/* Who finds the server of a connection whose address is not fixed (Redis
 * Sentinel: redis.h, redis-sentinel.h). */
typedef struct RedisLocator RedisLocator;

typedef struct RedisTarget {
        char *host;     /* a name, an IPv4 address, or an IPv6 address without brackets */
        uint16_t port;
        unsigned db;    /* SELECT db after connecting, when not 0 */
        char *user;     /* ACL user (AUTH user password), or NULL */
        char *password; /* AUTH password, or NULL */
        RedisLocator *locator; /* not owned; when set, host and port are asked of it at each attempt */
} RedisTarget;

/* redis-sentinel://[user:password@]HOST[:PORT][,HOST[:PORT]...]/MASTERNAME */
typedef struct RedisSentinelUrl {
        RedisTarget *sentinels; /* host and port of each, in the order given */
        size_t n_sentinels;
        char *master;           /* the name the sentinels know the primary by */
        char *user, *password;  /* for the data nodes (AUTH), or NULL */
} RedisSentinelUrl;

/* Frees the strings of t (the password wiped first) and zeroes it (the
 * locator is not owned). */
void redis_target_done(RedisTarget *t);
/* A deep copy of src into *ret; nothing written on failure. */
int redis_target_copy(RedisTarget *ret, const RedisTarget *src);

/* Parses redis://[user:password@]HOST[:PORT][/DB]: HOST a name, an IPv4
 * address or an IPv6 address in brackets; PORT 1-65535 (6379 when absent);
 * DB a number (0 when absent); user and password percent-decoded,
 * ":password@" for a password without an ACL user. On success fills *ret
 * (free with redis_target_done()); on failure returns -EINVAL and, when
 * ret_why is not NULL, a sentence saying what is wrong (static), or
 * -ENOMEM. */
int redis_url_parse(const char *url, RedisTarget *ret, const char **ret_why);

/* Parses a redis-sentinel:// URL: one to REDIS_SENTINELS_MAX sentinels
 * separated by ',', each HOST[:PORT] as in redis:// (PORT 26379 when
 * absent), then '/' and the master name (1-64 letters, digits, '.', '_',
 * '-', ':'). The user information, as in redis://, is the data nodes'
 * (sentinels have their own credential: xfsm-redis-bridge(8)). On success
 * fills *ret (free with redis_sentinel_url_done()); -EINVAL and why (static)
 * or -ENOMEM otherwise. */
int redis_sentinel_url_parse(const char *url, RedisSentinelUrl *ret, const char **ret_why);
void redis_sentinel_url_done(RedisSentinelUrl *u);

/* True for localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; host as in
 * RedisTarget (no brackets). */
bool redis_host_is_loopback(const char *host);
