/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Redis Sentinel for the bridge (xfsm-redis-bridge(8), REDIS SENTINEL): a
 * RedisSentinel is the locator of every RedisConn of the bridge when
 * Redis= is a redis-sentinel:// URL. It keeps two connections to each
 * sentinel: one for questions, one subscribed to +switch-master.
 *
 * - Where the primary is: at each attempt of a connection, the sentinels
 *   are asked in turn (SENTINEL get-master-addr-by-name NAME), skipping those
 *   not connected, until one answers; that one is asked first from then on
 *   (and so is the first to announce a +switch-master).
 *   Attempts that ask at the same time share one question. While no
 *   sentinel is connected the attempts wait (bounded by their own connect
 *   deadline). The connection then checks ROLE (redis.c): a replica fails
 *   the attempt and the next one asks again.
 * - When it moves: a +switch-master for NAME from any sentinel moves every
 *   connection to the new primary (redis_conn_moved(): those at the new
 *   address stay, the others are dropped and connect again at once), and so
 *   does the answer to a question asked each time a subscription connects
 *   (a message may have been missed while it was down).
 * - A primary that is not on this machine is refused unless insecure (as
 *   Insecure= says of redis:// addresses).
 *
 * The RedisSentinel must outlive the connections that name its locator. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "redis-url.h"
#include "redis.h"

/* deadlines of the connections to the sentinels and of a question */
#define REDIS_SENTINEL_CONNECT_USEC (1000ULL * 1000ULL)
#define REDIS_SENTINEL_COMMAND_USEC (1000ULL * 1000ULL)

typedef struct RedisSentinel RedisSentinel;

/* url: the sentinels and the master name (copied; its user and password,
 * the data nodes', are not used here); user and password (either may be
 * NULL): the sentinels' AUTH. Does not connect yet. */
int redis_sentinel_new(RedisSentinel **ret, sd_event *event, const RedisSentinelUrl *url, const char *user,
                       const char *password, bool insecure);
RedisSentinel *redis_sentinel_free(RedisSentinel *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RedisSentinel *, redis_sentinel_free);

/* Connects to the sentinels. */
int redis_sentinel_start(RedisSentinel *s);

/* The locator to put in the RedisTarget of the data connections. */
RedisLocator *redis_sentinel_locator(RedisSentinel *s);

/* The primary last learned (NULL when none yet), and how many times
 * +switch-master moved it since the start. */
const char *redis_sentinel_primary(const RedisSentinel *s, uint16_t *ret_port);
unsigned redis_sentinel_n_switches(const RedisSentinel *s);
