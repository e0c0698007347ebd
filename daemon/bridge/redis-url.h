/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Where the bridge finds Redis: the redis:// address of bridge.conf's
 * Redis= (xfsm-redis-bridge(8)) parsed into a RedisTarget, and whether a
 * host is this machine's loopback (the bridge refuses a redis:// address
 * that is not, unless Insecure=yes: hiredis here has no TLS). Pure: no I/O,
 * no name lookups, tested alone by test-redis-url. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define REDIS_DEFAULT_PORT 6379

typedef struct RedisTarget {
        char *host;     /* a name, an IPv4 address, or an IPv6 address without brackets */
        uint16_t port;
        unsigned db;    /* SELECT db after connecting, when not 0 */
        char *user;     /* ACL user (AUTH user password), or NULL */
        char *password; /* AUTH password, or NULL */
} RedisTarget;

/* Frees the strings of t (the password wiped first) and zeroes it. */
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

/* True for localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; host as in
 * RedisTarget (no brackets). */
bool redis_host_is_loopback(const char *host);
