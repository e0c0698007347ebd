/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One managed connection to Redis on sd-event, what the rest of the bridge
 * talks to Redis through (xfsm-redis-bridge(8)). The bridge keeps one per
 * role ("writer", "reader", "pubsub"): a blocking read holds up every
 * command behind it on its connection.
 *
 * A RedisConn resolves its host without blocking, connects, authenticates
 * (AUTH [user] password), selects its database and checks the server
 * answers (PING) before it reports itself up; it bounds the connect and
 * every command with a deadline (hiredis 0.14 has none of its own), and
 * after any failure connects again with exponential backoff and jitter.
 * Nothing is queued while it is down: commands fail at once.
 *
 * The callback contract:
 * - A command accepted (redis_command*() returned 0) has its callback
 *   called exactly once: with error 0 and the server's reply (which may be
 *   a Redis error reply, REDIS_REPLY_ERROR), or with a negative errno and no
 *   reply: -ETIMEDOUT its deadline passed (the connection is dropped, since
 *   the reply may still come), -ECONNABORTED the connection was dropped for
 *   another command's deadline, -ECONNRESET/-EIO/-EPROTO the connection was
 *   lost, -ECANCELED the RedisConn was freed. Whether a command that failed
 *   was executed is unknown. A command refused (negative return) never has
 *   its callback called. The reply is valid during the callback only.
 * - connected is called when the connection is up (after AUTH, SELECT and
 *   PING succeeded); disconnected once when a connection that was up goes
 *   down, after the callbacks of its commands. They alternate.
 *   A failed attempt to connect calls neither (see redis_conn_last_error()).
 * - Any callback may issue commands (on this or another connection) and may
 *   free this RedisConn. redis_conn_free() calls the callbacks of the
 *   commands still pending with -ECANCELED before it returns and calls
 *   neither connected nor disconnected after; during those callbacks, and
 *   the rest of a teardown in progress, c stays valid: commands on it fail
 *   with -ENOTCONN and redis_conn_free() on it does nothing.
 *
 * A server that moves (Redis Sentinel). When the target names a locator
 * (redis-sentinel.h is one), each attempt asks it where the server is now
 * (the target's host and port are not used), and the handshake also checks
 * with ROLE that the server is a primary (a replica fails the attempt: the
 * next one asks again). The locator may tell a connection that the server
 * moved (redis_conn_moved()): unless it is at the new address already, it
 * is dropped (its commands fail with -ECONNRESET) and connects again at
 * once. A command answered READONLY or UNBLOCKED (the server became a
 * replica) drops the connection the same way, after its callback.
 *
 * Pub/sub: a connection given channels (redis_conn_subscribe()) subscribes
 * to them as part of its handshake, every time it connects, and is up
 * once the server confirmed them; it then takes no other command (-EBUSY):
 * give pub/sub a connection of its own.
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "redis-url.h"

#define REDIS_CONNECT_TIMEOUT_USEC (2ULL * 1000000ULL)
#define REDIS_COMMAND_TIMEOUT_USEC (5ULL * 1000000ULL)
#define REDIS_BACKOFF_MIN_USEC (100ULL * 1000ULL)
#define REDIS_BACKOFF_MAX_USEC (5ULL * 1000000ULL)
/* a command without a deadline (a pub/sub wait: use with care) */
#define REDIS_TIMEOUT_NONE UINT64_MAX

typedef struct RedisConn RedisConn;

typedef void (*redis_reply_fn)(RedisConn *c, int error, const redisReply *reply, void *userdata);

/* What a locator does for the connections whose target names it; every
 * call gets userdata. */
struct RedisLocator {
        const char *what; /* the server, for the logs until it is located ("the primary of NAME") */
        /* c was made (redis_conn_new()) / is being freed: from then on, no call about it */
        void (*attach)(RedisConn *c, void *userdata);
        void (*detach)(RedisConn *c, void *userdata);
        /* Find the server for c's attempt number ticket and answer with
         * redis_conn_located(), at once or later. A negative errno fails the
         * attempt. */
        int (*locate)(RedisConn *c, uint64_t ticket, void *userdata);
        /* c no longer waits for the answer (its attempt ended, or it is
         * being freed); may be called when it was answered already */
        void (*cancel)(RedisConn *c, void *userdata);
        void *userdata;
};

typedef void (*redis_message_fn)(RedisConn *c, const char *channel, const char *message, size_t size,
                                 void *userdata);

typedef struct RedisConnCallbacks {
        void (*connected)(RedisConn *c, void *userdata);
        /* error: a negative errno; reason: a sentence, valid during the call */
        void (*disconnected)(RedisConn *c, int error, const char *reason, void *userdata);
} RedisConnCallbacks;

/* A connection to target (copied) on event, named role in the logs;
 * callbacks (copied; either may be NULL) get userdata. Does not connect
 * yet: redis_conn_start(). */
int redis_conn_new(RedisConn **ret, sd_event *event, const RedisTarget *target, const char *role,
                   const RedisConnCallbacks *callbacks, void *userdata);
/* See the contract above. Returns NULL. */
RedisConn *redis_conn_free(RedisConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RedisConn *, redis_conn_free);

/* Settings, before redis_conn_start(): the deadline of an attempt to connect
 * (name lookup, TCP, AUTH, SELECT, PING), the deadline of a command sent
 * with timeout 0, and the backoff between attempts (from min, doubling up
 * to max, each wait drawn from its upper half). 0 keeps the default. */
void redis_conn_set_connect_timeout(RedisConn *c, uint64_t usec);
void redis_conn_set_command_timeout(RedisConn *c, uint64_t usec);
void redis_conn_set_backoff(RedisConn *c, uint64_t min_usec, uint64_t max_usec);

/* Starts connecting; from then on c connects again by itself until freed.
 * -EALREADY when started already. */
int redis_conn_start(RedisConn *c);

bool redis_conn_is_up(const RedisConn *c);
const char *redis_conn_role(const RedisConn *c);
/* Commands sent and not yet answered. */
size_t redis_conn_n_pending(const RedisConn *c);
/* Attempts to connect that failed since the connection was last up. */
unsigned redis_conn_n_failures(const RedisConn *c);
/* Why the last attempt or connection failed: a negative errno (0 when
 * nothing failed yet) and, when ret_reason is not NULL, a sentence (valid
 * until c's next failure). */
int redis_conn_last_error(const RedisConn *c, const char **ret_reason);

/* Where c connects: host:port or [host]:port (the locator's "what" until
 * located). Valid until c's next attempt. */
const char *redis_conn_address(const RedisConn *c);

/* The locator's answer to attempt ticket: host and port, or error < 0 and
 * a sentence. Answers to an attempt that is over are ignored. */
void redis_conn_located(RedisConn *c, uint64_t ticket, int error, const char *reason, const char *host,
                        uint16_t port);
/* The server is now host:port (see the top): reason goes to the logs. */
void redis_conn_moved(RedisConn *c, const char *host, uint16_t port, const char *reason);

/* Subscribes c to channel (copied): cb gets each message, with userdata,
 * for as long as c lives, across reconnections. Before redis_conn_start()
 * or after; -EEXIST when subscribed already, -ENOMEM. */
int redis_conn_subscribe(RedisConn *c, const char *channel, redis_message_fn cb, void *userdata);

/* Sends a command, hiredis's format (%s a C string, %b a pointer and a
 * size_t length, binary-safe), with a deadline of timeout_usec from now (0:
 * the connection's default, REDIS_TIMEOUT_NONE: none); cb (may be NULL)
 * gets the reply as the contract above says. Commands sent back to back form
 * a pipeline: replies come in order. Returns 0, or -ENOTCONN when c is not
 * up, -EBUSY when c has subscriptions, -EINVAL for an empty or malformed command, -EOPNOTSUPP for commands
 * that change the connection itself (AUTH, SELECT, HELLO, RESET, CLIENT
 * REPLY, MONITOR, SYNC, PSYNC, (S|P)SUBSCRIBE, (S|P)UNSUBSCRIBE), -ENOMEM. */
int redis_command(RedisConn *c, uint64_t timeout_usec, redis_reply_fn cb, void *userdata, const char *fmt, ...);
/* The same, with each argument given with its length: binary-safe. */
int redis_command_argv(RedisConn *c, uint64_t timeout_usec, redis_reply_fn cb, void *userdata, size_t argc,
                       const char *const *argv, const size_t *argvlen);
