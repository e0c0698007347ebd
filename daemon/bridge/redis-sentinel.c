/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Following Redis Sentinel (see redis-sentinel.h). One question at a time:
 * the attempts that want the primary wait on it (waiters, each with its
 * attempt's ticket), and it goes from sentinel to sentinel in the order of
 * preference until one answers. The connections to the sentinels are
 * RedisConns too (no locator: fixed addresses), so they have deadlines,
 * backoff and reconnection of their own. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis-sentinel-util.h"
#include "redis-sentinel.h"

#define SWITCH_CHANNEL "+switch-master"

typedef struct Sentinel {
        RedisSentinel *owner;
        RedisConn *query;  /* questions */
        RedisConn *events; /* subscribed to +switch-master */
        bool warned;       /* its refusal was logged: not again until it answers */
} Sentinel;

typedef struct Waiter {
        RedisConn *conn;
        uint64_t ticket;
} Waiter;

struct RedisSentinel {
        sd_event *event;
        char *master;
        bool insecure, freeing;

        Sentinel *sentinels;
        size_t n_sentinels;
        size_t *order; /* indexes into sentinels, the one that answered last first */
        bool *up;      /* scratch for sentinel_next() */

        RedisLocator locator;
        char *what;

        RedisConn **conns; /* attached: every connection to move */
        size_t n_conns;
        unsigned conns_changed;

        Waiter *waiters;
        size_t n_waiters;

        bool asking;       /* a question is out or being moved along */
        bool move_all;     /* its answer moves every connection */
        size_t ask_pos;    /* the position in order to ask next */
        int ask_error;     /* why the last sentinel asked did not answer */

        char *primary_host;
        uint16_t primary_port;
        unsigned n_switches;
};

static void ask_next(RedisSentinel *s);

/* A new question, from the first sentinel, unless one is out. */
static void ask_start(RedisSentinel *s) {
        if (s->asking)
                return;

        s->asking = true;
        s->ask_pos = 0;
        s->ask_error = 0;
        ask_next(s);
}

/* ---- the connections that follow the primary ------------------------------------------- */

static void remove_waiter(RedisSentinel *s, RedisConn *c) {
        for (size_t i = 0; i < s->n_waiters; i++)
                if (s->waiters[i].conn == c) {
                        s->waiters[i] = s->waiters[--s->n_waiters];
                        return;
                }
}

static void locator_attach(RedisConn *c, void *userdata) {
        RedisSentinel *s = userdata;
        RedisConn **v;

        v = reallocarray(s->conns, s->n_conns + 1, sizeof *v);
        if (!v) {
                /* it still finds the primary at each attempt; only +switch-master passes it by */
                log_warning("Redis Sentinel: out of memory: %s will not be moved by +switch-master",
                            redis_conn_role(c));
                return;
        }
        s->conns = v;
        s->conns[s->n_conns++] = c;
        s->conns_changed++;
}

static void locator_detach(RedisConn *c, void *userdata) {
        RedisSentinel *s = userdata;

        remove_waiter(s, c);
        for (size_t i = 0; i < s->n_conns; i++)
                if (s->conns[i] == c) {
                        memmove(s->conns + i, s->conns + i + 1, (s->n_conns - i - 1) * sizeof *s->conns);
                        s->n_conns--;
                        s->conns_changed++;
                        return;
                }
}

static int locator_locate(RedisConn *c, uint64_t ticket, void *userdata) {
        RedisSentinel *s = userdata;
        Waiter *v;

        remove_waiter(s, c);
        v = reallocarray(s->waiters, s->n_waiters + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        s->waiters = v;
        s->waiters[s->n_waiters++] = (Waiter) { .conn = c, .ticket = ticket };

        ask_start(s);
        return 0;
}

static void locator_cancel(RedisConn *c, void *userdata) {
        remove_waiter(userdata, c);
}

/* Every connection to host:port. The callbacks of the connections dropped
 * may attach or detach others: then the walk starts again (moving is
 * idempotent). */
static void move_all(RedisSentinel *s, const char *host, uint16_t port, const char *reason) {
        bool again = true;

        while (again) {
                unsigned changed = s->conns_changed;

                again = false;
                for (size_t i = 0; i < s->n_conns; i++) {
                        redis_conn_moved(s->conns[i], host, port, reason);
                        if (s->conns_changed != changed) {
                                again = true;
                                break;
                        }
                }
        }
}

/* ---- questions ------------------------------------------------------------------------ */

static const char *ask_error_str(int error) {
        switch (error) {
        case -ENOENT:
                return "it does not know that name";
        case -EIO:
                return "it answered an error";
        case -EBADMSG:
                return "its answer could not be read";
        default:
                return strerror(-error);
        }
}

static bool set_primary(RedisSentinel *s, const char *host, uint16_t port) {
        char *h;

        if (s->primary_host && streq(s->primary_host, host) && s->primary_port == port)
                return false;

        h = strdup(host);
        if (!h)
                return false;
        free(s->primary_host);
        s->primary_host = h;
        s->primary_port = port;
        return true;
}

/* t is asked first from now on. */
static void prefer(RedisSentinel *s, const Sentinel *t) {
        for (size_t pos = 0; pos < s->n_sentinels; pos++)
                if (&s->sentinels[s->order[pos]] == t) {
                        sentinel_prefer(s->order, s->n_sentinels, pos);
                        return;
                }
}

/* The question is over: every waiter gets the answer (host) or the error. */
static void answer(RedisSentinel *s, int error, const char *reason, const char *host, uint16_t port) {
        Waiter *waiters = TAKE_PTR(s->waiters);
        size_t n = s->n_waiters;
        bool moving = s->move_all;

        s->n_waiters = 0;
        s->asking = false;
        s->move_all = false;

        /* redis_conn_located() calls none of the owner's callbacks: the
         * connections stay put while we go through them */
        for (size_t i = 0; i < n; i++)
                redis_conn_located(waiters[i].conn, waiters[i].ticket, error, reason, host, port);
        free(waiters);

        if (error >= 0 && moving) {
                _cleanup_(freep) char *why = NULL;

                if (asprintf(&why, "the sentinels name %s:%u as the primary of %s", host, port, s->master) < 0)
                        why = NULL;
                move_all(s, host, port, why);
        }

        /* attempts that came while the answer was being given */
        if (s->n_waiters > 0)
                ask_start(s);
}

static void on_master_addr(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        Sentinel *t = userdata;
        RedisSentinel *s = t->owner;
        _cleanup_(freep) char *host = NULL;
        uint16_t port = 0;
        int r;

        if (s->freeing)
                return;

        r = error < 0 ? error : sentinel_parse_master_addr(reply, &host, &port);
        if (r < 0) {
                if (r == -ENOENT && !t->warned)
                        log_warning("Redis Sentinel %s does not know a master named %s", redis_conn_address(conn),
                                    s->master);
                else if (r == -EIO && !t->warned)
                        log_warning("Redis Sentinel %s: SENTINEL get-master-addr-by-name: %s",
                                    redis_conn_address(conn), reply->str);
                else
                        log_debug("Redis Sentinel %s did not answer: %s", redis_conn_address(conn), ask_error_str(r));
                t->warned = t->warned || r == -ENOENT || r == -EIO;
                s->ask_error = r;
                ask_next(s);
                return;
        }
        t->warned = false;

        if (!s->insecure && !redis_host_is_loopback(host)) {
                _cleanup_(freep) char *why = NULL;

                if (asprintf(&why,
                             "the primary %s:%u is not on this machine and this hiredis has no TLS "
                             "(use a TLS tunnel or a private network, and say Insecure=yes)",
                             host, port) < 0)
                        why = NULL;
                log_error("Redis Sentinel: %s", why ?: "the primary is not on this machine");
                answer(s, -EPERM, why ?: "the primary is not on this machine", NULL, 0);
                return;
        }

        prefer(s, t);

        if (set_primary(s, host, port))
                log_info("Redis Sentinel: the primary of %s is %s:%u (said %s)", s->master, host, port,
                         redis_conn_address(conn));

        answer(s, 0, NULL, host, port);
}

/* Asks the next sentinel that is connected. None left: when none could be
 * asked at all, the waiters wait for one to connect; otherwise they get the
 * last error. */
static void ask_next(RedisSentinel *s) {
        assert(s->asking);

        for (;;) {
                size_t pos;
                Sentinel *t;
                int r;

                for (size_t i = 0; i < s->n_sentinels; i++)
                        s->up[i] = redis_conn_is_up(s->sentinels[i].query);
                pos = sentinel_next(s->order, s->n_sentinels, s->ask_pos, s->up);
                if (pos >= s->n_sentinels)
                        break;

                s->ask_pos = pos + 1;
                t = &s->sentinels[s->order[pos]];
                r = redis_command(t->query, REDIS_SENTINEL_COMMAND_USEC, on_master_addr, t,
                                  "SENTINEL get-master-addr-by-name %s", s->master);
                if (r >= 0)
                        return;
                s->ask_error = r;
        }

        if (s->ask_error == 0) {
                /* nobody to ask: a sentinel that connects asks again (on_query_connected()) */
                s->asking = false;
                log_debug("Redis Sentinel: no sentinel connected; %zu connection(s) wait", s->n_waiters);
                return;
        }

        {
                _cleanup_(freep) char *why = NULL;

                if (asprintf(&why, "no sentinel could name the primary of %s (the last one asked: %s)", s->master,
                             ask_error_str(s->ask_error)) < 0)
                        why = NULL;
                answer(s, -EHOSTUNREACH, why ?: "no sentinel could name the primary", NULL, 0);
        }
}

/* A question for every connection's sake: its answer moves them all. */
static void ask_for_all(RedisSentinel *s) {
        s->move_all = true;
        ask_start(s);
}

static void on_query_connected(RedisConn *c, void *userdata) {
        Sentinel *t = userdata;
        RedisSentinel *s = t->owner;

        if (s->n_waiters > 0 || s->move_all)
                ask_start(s);
}

/* ---- +switch-master -------------------------------------------------------------------- */

static void on_switch_master(RedisConn *c, const char *channel, const char *message, size_t size, void *userdata) {
        Sentinel *t = userdata;
        RedisSentinel *s = t->owner;
        _cleanup_(freep) char *host = NULL, *why = NULL;
        uint16_t port;
        int r;

        r = sentinel_parse_switch_master(message, size, s->master, &host, &port);
        if (r == -EBADMSG) {
                log_warning("Redis Sentinel %s: a +switch-master message that cannot be read: %.*s, ignoring",
                            redis_conn_address(c), (int) MIN(size, 200u), message);
                return;
        }
        if (r <= 0)
                return;

        if (!s->insecure && !redis_host_is_loopback(host)) {
                log_error("Redis Sentinel: the new primary %s:%u is not on this machine and this hiredis has no TLS "
                          "(say Insecure=yes): not following it",
                          host, port);
                return;
        }

        /* every sentinel says it: the first one moves, and is asked first (the
         * others may still name the old primary for a while) */
        if (set_primary(s, host, port)) {
                prefer(s, t);
                s->n_switches++;
                log_notice("Redis Sentinel %s: +switch-master: the primary of %s is now %s:%u; moving every "
                           "connection there",
                           redis_conn_address(c), s->master, host, port);
        }

        if (asprintf(&why, "+switch-master: the primary of %s is now %s:%u", s->master, host, port) < 0)
                why = NULL;
        move_all(s, host, port, why);
}

/* Subscribed (again): a switch may have passed meanwhile. */
static void on_events_connected(RedisConn *c, void *userdata) {
        Sentinel *t = userdata;

        ask_for_all(t->owner);
}

/* ---- the object ------------------------------------------------------------------------ */

RedisSentinel *redis_sentinel_free(RedisSentinel *s) {
        if (!s)
                return NULL;

        s->freeing = true;
        for (size_t i = 0; i < s->n_sentinels; i++) {
                redis_conn_free(s->sentinels[i].query);
                redis_conn_free(s->sentinels[i].events);
        }
        free(s->sentinels);
        free(s->order);
        free(s->up);
        free(s->conns);
        free(s->waiters);
        free(s->what);
        free(s->master);
        free(s->primary_host);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int redis_sentinel_new(RedisSentinel **ret, sd_event *event, const RedisSentinelUrl *url, const char *user,
                       const char *password, bool insecure) {
        _cleanup_(redis_sentinel_freep) RedisSentinel *s = NULL;
        int r;

        assert(ret);
        assert(event);
        assert(url);
        assert(url->n_sentinels > 0);
        assert(url->master);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->insecure = insecure;
        s->master = strdup(url->master);
        s->sentinels = calloc(url->n_sentinels, sizeof *s->sentinels);
        s->order = calloc(url->n_sentinels, sizeof *s->order);
        s->up = calloc(url->n_sentinels, sizeof *s->up);
        if (!s->master || !s->sentinels || !s->order || !s->up ||
            asprintf(&s->what, "the primary of %s", url->master) < 0)
                return -ENOMEM;
        s->locator = (RedisLocator) {
                .what = s->what,
                .attach = locator_attach,
                .detach = locator_detach,
                .locate = locator_locate,
                .cancel = locator_cancel,
                .userdata = s,
        };

        for (size_t i = 0; i < url->n_sentinels; i++) {
                Sentinel *t = &s->sentinels[i];
                RedisTarget target = {
                        .host = url->sentinels[i].host,
                        .port = url->sentinels[i].port,
                        .user = (char *) user,
                        .password = (char *) password,
                };

                t->owner = s;
                s->order[i] = i;
                s->n_sentinels++;

                r = redis_conn_new(&t->query, event, &target, "sentinel",
                                   &(RedisConnCallbacks) { .connected = on_query_connected }, t);
                if (r < 0)
                        return r;
                r = redis_conn_new(&t->events, event, &target, "sentinel-events",
                                   &(RedisConnCallbacks) { .connected = on_events_connected }, t);
                if (r < 0)
                        return r;
                redis_conn_set_connect_timeout(t->query, REDIS_SENTINEL_CONNECT_USEC);
                redis_conn_set_connect_timeout(t->events, REDIS_SENTINEL_CONNECT_USEC);
                redis_conn_set_command_timeout(t->query, REDIS_SENTINEL_COMMAND_USEC);
                r = redis_conn_subscribe(t->events, SWITCH_CHANNEL, on_switch_master, t);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

int redis_sentinel_start(RedisSentinel *s) {
        int r;

        assert(s);

        for (size_t i = 0; i < s->n_sentinels; i++) {
                r = redis_conn_start(s->sentinels[i].query);
                if (r < 0)
                        return r;
                r = redis_conn_start(s->sentinels[i].events);
                if (r < 0)
                        return r;
        }

        log_info("Redis Sentinel: following the primary of %s through %zu sentinel(s)", s->master, s->n_sentinels);
        return 0;
}

RedisLocator *redis_sentinel_locator(RedisSentinel *s) {
        assert(s);
        return &s->locator;
}

const char *redis_sentinel_primary(const RedisSentinel *s, uint16_t *ret_port) {
        assert(s);

        if (ret_port)
                *ret_port = s->primary_port;
        return s->primary_host;
}

unsigned redis_sentinel_n_switches(const RedisSentinel *s) {
        assert(s);
        return s->n_switches;
}
