/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A managed connection to Redis on sd-event (xfsm-redis-bridge(8)).
 *
 * hiredis 0.14 resolves names synchronously and has no asynchronous
 * timeouts, so this file does both around it: a name is looked up off
 * the event loop (resolve.c; numeric addresses need no lookup) and
 * hiredis connects to the numeric addresses in turn; one timer bounds an
 * attempt (lookup, TCP, then AUTH, SELECT and PING, sent at once and
 * answered in order), and one timer per command bounds it. A command past
 * its deadline drops the connection: its reply may still come, and the
 * replies of one connection are matched to commands only by their order.
 *
 * The states: IDLE (not started, or being freed) → RESOLVING → CONNECTING
 * → UP, and from any of them on a failure → WAITING (backoff) → RESOLVING.
 * Every failure goes through conn_down(), the one place that closes the
 * hiredis context, fails the pending commands, schedules the next attempt
 * and tells the owner.
 *
 * Who frees what. A RedisCmd has two references: hiredis's (from the send
 * until hiredis calls on_reply(), which it does exactly once: with the
 * reply, or with NULL when the context goes) and the pending list's (until
 * its callback ran). When a connection goes, its commands are first
 * orphaned (cmd->conn = NULL, so hiredis's later calls only drop its
 * reference), then the context is freed, then the callbacks run. The
 * context is freed with redisAsyncFree() only when we decide to close it;
 * when hiredis closes it itself (I/O error, EOF, a failed connect) it is
 * detached and left to hiredis, which frees it after its callback returns
 * (calling redisAsyncFree() there would free it twice). Inside a reply
 * callback hiredis defers redisAsyncFree() until the callback returns,
 * which is what makes freeing the RedisConn from a reply callback safe.
 * The RedisConn itself is reference-counted inside this file only: every
 * dispatch that calls the owner holds a reference, so a free from inside a
 * callback keeps the memory until the dispatch is over. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>

#include "log.h"
#include "redis-event.h"
#include "redis.h"
#include "resolve.h"

/* timers may fire this much late, to be coalesced with others */
#define TIMER_ACCURACY_USEC (10ULL * 1000ULL)
/* addresses of one name tried per attempt */
#define ADDRESSES_MAX HOST_LOOKUP_ADDRESSES_MAX

typedef enum RedisState {
        REDIS_STATE_IDLE,
        REDIS_STATE_RESOLVING,
        REDIS_STATE_CONNECTING,
        REDIS_STATE_UP,
        REDIS_STATE_WAITING,
} RedisState;

/* What a command is for: the owner's, or a step of the handshake. */
typedef enum RedisStep {
        STEP_COMMAND,
        STEP_AUTH,
        STEP_SELECT,
        STEP_PING,
} RedisStep;

typedef struct RedisCmd RedisCmd;
typedef struct RedisSub RedisSub;

/* A channel subscribed to (redis_subscribe()): hiredis's privdata for it. */
struct RedisSub {
        RedisSub *next;
        char *channel;
        redis_message_fn fn;
        void *userdata;
};

struct RedisCmd {
        unsigned n_ref;
        RedisConn *conn; /* NULL once answered or orphaned */
        RedisCmd *prev, *next;
        sd_event_source *timer;
        RedisStep step;
        redis_reply_fn cb;
        void *userdata;
        char name[24]; /* the command, for the logs */
};

struct RedisConn {
        unsigned n_ref;
        sd_event *event;
        RedisTarget target;
        char *role;
        char *address; /* host:port or [host]:port, for the logs */
        RedisConnCallbacks callbacks;
        void *userdata;

        uint64_t connect_timeout_usec, command_timeout_usec;
        uint64_t backoff_min_usec, backoff_max_usec, backoff_usec;

        RedisState state;
        bool freeing;

        HostLookup *lookup;
        char *addrs[ADDRESSES_MAX]; /* numeric, tried in order */
        size_t n_addrs, i_addr;

        redisAsyncContext *ac;
        sd_event_source *connect_timer, *retry_timer;
        unsigned n_failures;

        /* sent and not answered, oldest first */
        RedisCmd *pending, *pending_tail;
        size_t n_pending;

        int last_error;
        char *last_reason;

        RedisSub *subs; /* pub/sub: the channels subscribed to, again at every connection */
};

static void conn_down(RedisConn *c, int error, const char *reason, bool hiredis_closing, RedisCmd *timed_out);
static void conn_connect_next(RedisConn *c);
static int conn_send_subscribe(RedisConn *c, RedisSub *sub);

/* ---- references ------------------------------------------------------------------- */

static RedisConn *conn_ref(RedisConn *c) {
        c->n_ref++;
        return c;
}

static void conn_clear_addrs(RedisConn *c) {
        for (size_t i = 0; i < c->n_addrs; i++)
                c->addrs[i] = mfree(c->addrs[i]);
        c->n_addrs = c->i_addr = 0;
}

static RedisConn *conn_unref(RedisConn *c) {
        if (!c)
                return NULL;

        assert(c->n_ref > 0);
        if (--c->n_ref > 0)
                return NULL;

        /* conn_down() ran: no context, nothing pending, no timers */
        assert(!c->ac);
        assert(!c->pending);

        conn_clear_addrs(c);
        while (c->subs) {
                RedisSub *sub = c->subs;
                c->subs = sub->next;
                free(sub->channel);
                free(sub);
        }
        host_lookup_free(c->lookup);
        sd_event_source_disable_unref(c->connect_timer);
        sd_event_source_disable_unref(c->retry_timer);
        sd_event_unref(c->event);
        redis_target_done(&c->target);
        free(c->role);
        free(c->address);
        free(c->last_reason);
        free(c);
        return NULL;
}

static RedisCmd *cmd_unref(RedisCmd *cmd) {
        if (!cmd)
                return NULL;

        assert(cmd->n_ref > 0);
        if (--cmd->n_ref > 0)
                return NULL;

        sd_event_source_disable_unref(cmd->timer);
        free(cmd);
        return NULL;
}

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t conn_now(RedisConn *c) {
        uint64_t now = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        return now;
}

static uint64_t random_u64(void) {
        uint64_t v;
        struct timespec ts;

        if (getrandom(&v, sizeof v, GRND_NONBLOCK) == sizeof v)
                return v;

        /* no entropy yet: the jitter only has to differ between processes */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_nsec * 6364136223846793005ULL ^ (uint64_t) getpid();
}

static bool host_is_numeric(const char *host) {
        unsigned char buf[sizeof(struct in6_addr)];

        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* hiredis's error of a context it closes, as an errno */
static int hiredis_error(const redisAsyncContext *ac) {
        switch (ac->err) {
        case REDIS_ERR_EOF:
                return -ECONNRESET;
        case REDIS_ERR_PROTOCOL:
                return -EPROTO;
        case REDIS_ERR_OOM:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

static const char *step_name(RedisStep step) {
        switch (step) {
        case STEP_AUTH:
                return "AUTH";
        case STEP_SELECT:
                return "SELECT";
        case STEP_PING:
                return "PING";
        default:
                return "command";
        }
}

/* ---- pending commands -------------------------------------------------------------- */

static void conn_append(RedisConn *c, RedisCmd *cmd) {
        cmd->prev = c->pending_tail;
        cmd->next = NULL;
        if (c->pending_tail)
                c->pending_tail->next = cmd;
        else
                c->pending = cmd;
        c->pending_tail = cmd;
        c->n_pending++;
}

/* cmd answered: off the list, its timer gone, the list's reference
 * dropped (hiredis still holds its own). */
static void conn_unlink(RedisConn *c, RedisCmd *cmd) {
        assert(cmd->conn == c);

        if (cmd->prev)
                cmd->prev->next = cmd->next;
        else
                c->pending = cmd->next;
        if (cmd->next)
                cmd->next->prev = cmd->prev;
        else
                c->pending_tail = cmd->prev;
        cmd->prev = cmd->next = NULL;
        c->n_pending--;

        cmd->timer = sd_event_source_disable_unref(cmd->timer);
        cmd->conn = NULL;
        cmd_unref(cmd);
}

/* Every pending command orphaned and handed to the caller, oldest first,
 * each with the list's reference (the caller runs the callbacks and drops
 * it). */
static RedisCmd *conn_take_pending(RedisConn *c) {
        RedisCmd *list = TAKE_PTR(c->pending);

        for (RedisCmd *cmd = list; cmd; cmd = cmd->next) {
                cmd->conn = NULL;
                cmd->timer = sd_event_source_disable_unref(cmd->timer);
        }
        c->pending_tail = NULL;
        c->n_pending = 0;

        return list;
}

/* The hiredis context taken from c: hiredis's calls back find nothing of c
 * any more. The caller frees it, or leaves it to hiredis when hiredis is
 * closing it. */
static redisAsyncContext *conn_detach(RedisConn *c) {
        redisAsyncContext *ac = TAKE_PTR(c->ac);

        if (ac) {
                ac->data = NULL;
                ac->onConnect = NULL;
                ac->onDisconnect = NULL;
        }

        return ac;
}

/* ---- reconnecting ------------------------------------------------------------------- */

static void conn_attempt(RedisConn *c);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisConn *c = userdata;

        c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
        conn_attempt(c);
        return 0;
}

/* The next attempt after a wait drawn from the upper half of the backoff,
 * which doubles up to its maximum (jitter keeps the bridges of many nodes
 * from coming back to a restarted Redis all at once). */
static void conn_schedule_retry(RedisConn *c) {
        uint64_t wait;
        int r;

        wait = c->backoff_usec / 2 + random_u64() % (c->backoff_usec / 2 + 1);
        c->backoff_usec = MIN(c->backoff_usec * 2, c->backoff_max_usec);

        r = sd_event_add_time(c->event, &c->retry_timer, CLOCK_MONOTONIC, conn_now(c) + wait, TIMER_ACCURACY_USEC,
                              on_retry, c);
        if (r < 0) {
                log_error_errno(r, "Redis %s: failed to schedule the next attempt to connect to %s, giving up: %m",
                                c->role, c->address);
                return;
        }
        (void) sd_event_source_set_description(c->retry_timer, "redis-retry");

        log_debug("Redis %s: next attempt to connect to %s in %llu ms", c->role, c->address,
                  (unsigned long long) (wait / 1000));
}

/* The end of a connection or of an attempt, whatever the cause (see the
 * top of the file). error and reason go to the log, to the owner's
 * disconnected callback, and to every pending command, except that when
 * timed_out is given, it gets -ETIMEDOUT and the others -ECONNABORTED.
 * hiredis_closing: hiredis is freeing the context itself. */
static void conn_down(RedisConn *c, int error, const char *reason, bool hiredis_closing, RedisCmd *timed_out) {
        _cleanup_(freep) char *why = NULL;
        redisAsyncContext *ac;
        RedisCmd *pending;
        bool was_up;

        assert(error < 0);

        conn_ref(c);

        /* reason may be hiredis's errstr, freed with the context */
        why = strdup(reason ? reason : "unknown error");
        was_up = c->state == REDIS_STATE_UP;

        pending = conn_take_pending(c);
        ac = conn_detach(c);
        if (ac && !hiredis_closing)
                redisAsyncFree(ac);

        c->connect_timer = sd_event_source_disable_unref(c->connect_timer);
        c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
        c->lookup = host_lookup_free(c->lookup);
        conn_clear_addrs(c);

        if (c->freeing) {
                if (c->state != REDIS_STATE_IDLE)
                        log_debug("Redis %s: closing the connection to %s", c->role, c->address);
                c->state = REDIS_STATE_IDLE;
        } else {
                c->last_error = error;
                free(c->last_reason);
                c->last_reason = why ? strdup(why) : NULL;

                if (was_up)
                        log_warning("Redis %s: connection to %s lost: %s; connecting again", c->role, c->address,
                                    why ? why : "out of memory");
                else if (++c->n_failures == 1)
                        log_warning("Redis %s: cannot connect to %s: %s; trying again with backoff", c->role,
                                    c->address, why ? why : "out of memory");
                else
                        log_debug("Redis %s: attempt %u to connect to %s failed: %s", c->role, c->n_failures,
                                  c->address, why ? why : "out of memory");

                c->state = REDIS_STATE_WAITING;
                conn_schedule_retry(c);
        }

        /* the owner's commands, oldest first; the handshake's have no callback */
        while (pending) {
                RedisCmd *cmd = pending;
                int e = !timed_out ? error : cmd == timed_out ? -ETIMEDOUT : -ECONNABORTED;

                pending = cmd->next;
                cmd->prev = cmd->next = NULL;
                if (cmd->cb)
                        cmd->cb(c, e, NULL, cmd->userdata);
                cmd_unref(cmd);
        }

        if (was_up && !c->freeing && c->callbacks.disconnected)
                c->callbacks.disconnected(c, error, why ? why : "out of memory", c->userdata);

        conn_unref(c);
}

/* ---- hiredis's callbacks ------------------------------------------------------------ */

static void conn_handshake_reply(RedisConn *c, RedisStep step, const redisReply *reply) {
        if (reply->type == REDIS_REPLY_ERROR) {
                _cleanup_(freep) char *reason = NULL;
                int error;

                /* NOAUTH: the server wants a password and has none from us;
                 * LOADING: it is reading its data set, try again later */
                if (step == STEP_AUTH || strncmp(reply->str, "NOAUTH", 6) == 0 ||
                    strncmp(reply->str, "WRONGPASS", 9) == 0)
                        error = -EACCES;
                else if (strncmp(reply->str, "LOADING", 7) == 0)
                        error = -EBUSY;
                else if (step == STEP_SELECT)
                        error = -EINVAL;
                else
                        error = -EIO;

                if (asprintf(&reason, "%s refused: %s", step_name(step), reply->str) < 0)
                        reason = NULL;
                conn_down(c, error, reason ? reason : "the handshake was refused", false, NULL);
                return;
        }

        if (step != STEP_PING)
                return;

        c->state = REDIS_STATE_UP;
        c->connect_timer = sd_event_source_disable_unref(c->connect_timer);
        c->backoff_usec = c->backoff_min_usec;
        c->n_failures = 0;
        conn_clear_addrs(c);

        log_info("Redis %s: connected to %s", c->role, c->address);

        for (RedisSub *sub = c->subs; sub; sub = sub->next) {
                int r = conn_send_subscribe(c, sub);
                if (r < 0) {
                        conn_down(c, r, "failed to subscribe", false, NULL);
                        return;
                }
        }

        if (c->callbacks.connected)
                c->callbacks.connected(c, c->userdata);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
        RedisCmd *cmd = privdata;
        RedisConn *c = cmd->conn;
        redisReply *reply = r;

        /* orphaned: its connection went and its callback ran */
        if (!c) {
                cmd_unref(cmd);
                return;
        }

        /* hiredis is closing the context (I/O error, EOF, a protocol error):
         * the first of the pending commands tells us */
        if (!reply) {
                conn_down(c, ac->err != 0 ? hiredis_error(ac) : -ECONNRESET,
                          ac->errstr ? ac->errstr : "connection closed", true, NULL);
                cmd_unref(cmd);
                return;
        }

        conn_ref(c);
        conn_unlink(c, cmd);

        if (cmd->step != STEP_COMMAND)
                conn_handshake_reply(c, cmd->step, reply);
        else if (cmd->cb)
                cmd->cb(c, 0, reply, cmd->userdata);

        conn_unref(c);
        cmd_unref(cmd);
}

/* The TCP connect finished. On failure hiredis frees the context after this
 * returns: the next address is tried on a new one, or the attempt fails. */
static void on_connect(const redisAsyncContext *cac, int status) {
        redisAsyncContext *ac = (redisAsyncContext *) cac;
        RedisConn *c = ac->data;
        int e = errno; /* hiredis leaves the socket's error there */
        RedisCmd *handshake;

        if (!c)
                return;

        if (status == REDIS_OK) {
                log_debug("Redis %s: TCP connection to %s established", c->role, c->address);
                return;
        }

        if (c->i_addr >= c->n_addrs) {
                conn_down(c, e > 0 ? -e : -ECONNREFUSED, ac->c.errstr, true, NULL);
                return;
        }

        log_debug("Redis %s: connecting to %s failed: %s; trying its next address", c->role,
                  c->addrs[c->i_addr - 1], ac->c.errstr);

        /* the handshake commands of this context: no callbacks to run */
        handshake = conn_take_pending(c);
        while (handshake) {
                RedisCmd *cmd = handshake;

                handshake = cmd->next;
                cmd_unref(cmd);
        }
        (void) conn_detach(c);

        conn_connect_next(c);
}

/* A context that was connected is gone. Commands pending on it told us
 * already (on_reply() with no reply): then this finds no RedisConn. */
static void on_disconnect(const redisAsyncContext *cac, int status) {
        redisAsyncContext *ac = (redisAsyncContext *) cac;
        RedisConn *c = ac->data;

        if (!c)
                return;

        conn_down(c, ac->err != 0 ? hiredis_error(ac) : -ECONNRESET, ac->errstr ? ac->errstr : "connection closed",
                  true, NULL);
}

/* ---- sending ---------------------------------------------------------------------------- */

static int on_command_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisCmd *cmd = userdata;
        RedisConn *c = cmd->conn;

        assert(c);

        log_warning("Redis %s: %s got no answer from %s within its deadline; dropping the connection", c->role,
                    cmd->name, c->address);
        conn_down(c, -ETIMEDOUT, "a command got no answer within its deadline", false, cmd);
        return 0;
}

/* Sends the formatted command buf (len bytes) on c's context. */
static int conn_send(RedisConn *c, RedisStep step, uint64_t timeout_usec, redis_reply_fn cb, void *userdata,
                     const char *name, size_t name_len, const char *buf, size_t len) {
        RedisCmd *cmd;
        uint64_t now;
        int r;

        assert(c->ac);

        cmd = calloc(1, sizeof *cmd);
        if (!cmd)
                return -ENOMEM;
        cmd->n_ref = 1;
        cmd->step = step;
        cmd->cb = cb;
        cmd->userdata = userdata;
        snprintf(cmd->name, sizeof cmd->name, "%.*s", (int) MIN(name_len, sizeof cmd->name - 1), name);

        now = conn_now(c);
        if (timeout_usec != REDIS_TIMEOUT_NONE && timeout_usec < UINT64_MAX - now) {
                r = sd_event_add_time(c->event, &cmd->timer, CLOCK_MONOTONIC, now + timeout_usec,
                                      TIMER_ACCURACY_USEC, on_command_timeout, cmd);
                if (r < 0) {
                        cmd_unref(cmd);
                        return r;
                }
                (void) sd_event_source_set_description(cmd->timer, "redis-command");
        }

        /* refused only when the context is closing, which a context of ours
         * never is while c holds it */
        if (redisAsyncFormattedCommand(c->ac, on_reply, cmd, buf, len) != REDIS_OK) {
                cmd_unref(cmd);
                return -ENOTCONN;
        }
        cmd->n_ref++; /* hiredis's */
        cmd->conn = c;
        conn_append(c, cmd);

        return 0;
}

/* The first two arguments of a formatted command (RESP: an array of bulk
 * strings, as hiredis formats them); *ret_arg2 NULL when there is one. */
static int command_args(const char *buf, size_t len, const char **ret_name, size_t *ret_name_len,
                        const char **ret_arg2, size_t *ret_arg2_len) {
        const char *p = buf, *end = buf + len, *args[2] = {};
        size_t lens[2] = {};
        unsigned long argc;
        char *e;

        if (len < 4 || *p != '*')
                return -EINVAL;
        argc = strtoul(p + 1, &e, 10);
        if (argc == 0 || e + 2 > end || e[0] != '\r' || e[1] != '\n')
                return -EINVAL;
        p = e + 2;

        for (unsigned long i = 0; i < MIN(argc, 2UL); i++) {
                unsigned long n;

                if (p >= end || *p != '$')
                        return -EINVAL;
                n = strtoul(p + 1, &e, 10);
                if (e + 2 > end || e[0] != '\r' || e[1] != '\n' || n > (size_t) (end - e - 2))
                        return -EINVAL;
                args[i] = e + 2;
                lens[i] = n;
                p = e + 2 + n + 2;
        }

        *ret_name = args[0];
        *ret_name_len = lens[0];
        *ret_arg2 = args[1];
        *ret_arg2_len = lens[1];
        return 0;
}

static bool arg_is(const char *a, size_t n, const char *word) {
        return a && n == strlen(word) && strncasecmp(a, word, n) == 0;
}

/* Commands that change the connection itself: its credentials, database,
 * protocol or reply stream (hiredis matches replies to commands by order
 * only), which a reconnect would silently undo or which hiredis 0.14
 * cannot follow. Pub/sub gets its own calls. */
static bool command_is_refused(const char *name, size_t n, const char *arg2, size_t n2) {
        static const char *const refused[] = {
                "AUTH", "SELECT", "HELLO", "RESET", "MONITOR", "SYNC", "PSYNC", "QUIT",
                "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        };

        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                if (arg_is(name, n, refused[i]))
                        return true;

        return arg_is(name, n, "CLIENT") && arg_is(arg2, n2, "REPLY");
}

static int conn_send_command(RedisConn *c, uint64_t timeout_usec, redis_reply_fn cb, void *userdata, const char *buf,
                             size_t len) {
        const char *name, *arg2;
        size_t name_len, arg2_len;
        int r;

        r = command_args(buf, len, &name, &name_len, &arg2, &arg2_len);
        if (r < 0)
                return r;
        if (command_is_refused(name, name_len, arg2, arg2_len))
                return -EOPNOTSUPP;

        return conn_send(c, STEP_COMMAND, timeout_usec == 0 ? c->command_timeout_usec : timeout_usec, cb, userdata,
                         name, name_len, buf, len);
}

static int conn_send_argv(RedisConn *c, RedisStep step, int argc, const char **argv) {
        char *buf = NULL;
        int len, r;

        len = redisFormatCommandArgv(&buf, argc, argv, NULL);
        if (len < 0)
                return -ENOMEM;

        r = conn_send(c, step, REDIS_TIMEOUT_NONE, NULL, NULL, argv[0], strlen(argv[0]), buf, len);
        redisFreeCommand(buf);
        return r;
}

/* AUTH, SELECT, PING, sent at once: hiredis writes them once the TCP
 * connection is up; the attempt's timer bounds them. */
static int conn_send_handshake(RedisConn *c) {
        int r;

        if (c->target.password) {
                const char *argv[] = { "AUTH", c->target.user, c->target.password };

                if (c->target.user)
                        r = conn_send_argv(c, STEP_AUTH, 3, argv);
                else {
                        argv[1] = c->target.password;
                        r = conn_send_argv(c, STEP_AUTH, 2, argv);
                }
                if (r < 0)
                        return r;
        }

        if (c->target.db != 0) {
                char db[16];
                const char *argv[] = { "SELECT", db };

                snprintf(db, sizeof db, "%u", c->target.db);
                r = conn_send_argv(c, STEP_SELECT, 2, argv);
                if (r < 0)
                        return r;
        }

        return conn_send_argv(c, STEP_PING, 1, (const char *[]) { "PING" });
}

/* ---- connecting ------------------------------------------------------------------------ */

/* Connects to the next numeric address of the attempt; when none is left,
 * the attempt failed. */
static void conn_connect_next(RedisConn *c) {
        _cleanup_(freep) char *reason = NULL;
        int error = -EADDRNOTAVAIL, r;

        assert(!c->ac);

        while (c->i_addr < c->n_addrs) {
                const char *ip = c->addrs[c->i_addr++];
                redisAsyncContext *ac;

                errno = 0;
                ac = redisAsyncConnect(ip, c->target.port);
                if (!ac) {
                        conn_down(c, -ENOMEM, "out of memory", false, NULL);
                        return;
                }
                if (ac->err) {
                        error = errno > 0 ? -errno : -ECONNREFUSED;
                        free(reason);
                        reason = strdup(ac->errstr);
                        log_debug("Redis %s: connecting to %s failed: %s", c->role, ip, ac->errstr);
                        redisAsyncFree(ac);
                        continue;
                }

                /* hiredis 0.14 opens its sockets without O_CLOEXEC */
                (void) fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC);
                (void) redisEnableKeepAlive(&ac->c);

                r = redis_event_attach(ac, c->event);
                if (r < 0) {
                        redisAsyncFree(ac);
                        conn_down(c, r, "failed to watch the socket", false, NULL);
                        return;
                }
                ac->data = c;
                redisAsyncSetConnectCallback(ac, on_connect);
                redisAsyncSetDisconnectCallback(ac, on_disconnect);
                c->ac = ac;

                r = conn_send_handshake(c);
                if (r < 0)
                        conn_down(c, r, "failed to send the handshake", false, NULL);
                return;
        }

        conn_down(c, error, reason ? reason : "no address to connect to", false, NULL);
}

static void on_resolved(HostLookup *l, int error, const char *reason, char *const *addrs, size_t n_addrs,
                        void *userdata) {
        RedisConn *c = userdata;

        c->lookup = host_lookup_free(c->lookup);

        if (error < 0) {
                _cleanup_(freep) char *why = NULL;

                if (asprintf(&why, "cannot resolve %s: %s", c->target.host, reason) < 0)
                        why = NULL;
                conn_down(c, error, why ? why : "cannot resolve the host", false, NULL);
                return;
        }

        conn_clear_addrs(c);
        for (size_t i = 0; i < n_addrs && i < ADDRESSES_MAX; i++) {
                c->addrs[i] = strdup(addrs[i]);
                if (!c->addrs[i]) {
                        conn_down(c, -ENOMEM, "out of memory", false, NULL);
                        return;
                }
                c->n_addrs++;
        }

        log_debug("Redis %s: %s has %zu address(es), the first %s", c->role, c->target.host, c->n_addrs,
                  c->addrs[0]);

        c->state = REDIS_STATE_CONNECTING;
        conn_connect_next(c);
}

static int on_connect_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RedisConn *c = userdata;
        char reason[128];

        snprintf(reason, sizeof reason, "no answer within %llu ms",
                 (unsigned long long) (c->connect_timeout_usec / 1000));
        conn_down(c, -ETIMEDOUT, reason, false, NULL);
        return 0;
}

static void conn_attempt(RedisConn *c) {
        int r;

        assert(!c->ac);
        assert(!c->lookup);

        r = sd_event_add_time(c->event, &c->connect_timer, CLOCK_MONOTONIC, conn_now(c) + c->connect_timeout_usec,
                              TIMER_ACCURACY_USEC, on_connect_timeout, c);
        if (r < 0) {
                conn_down(c, r, "failed to arm the connect timer", false, NULL);
                return;
        }
        (void) sd_event_source_set_description(c->connect_timer, "redis-connect");

        conn_clear_addrs(c);

        if (host_is_numeric(c->target.host)) {
                c->addrs[0] = strdup(c->target.host);
                if (!c->addrs[0]) {
                        conn_down(c, -ENOMEM, "out of memory", false, NULL);
                        return;
                }
                c->n_addrs = 1;
                c->state = REDIS_STATE_CONNECTING;
                conn_connect_next(c);
                return;
        }

        c->state = REDIS_STATE_RESOLVING;
        r = host_lookup_start(&c->lookup, c->event, c->target.host, on_resolved, c);
        if (r < 0)
                conn_down(c, r, "failed to start resolving the host", false, NULL);
}

/* ---- the API ---------------------------------------------------------------------------- */

int redis_conn_new(RedisConn **ret, sd_event *event, const RedisTarget *target, const char *role,
                   const RedisConnCallbacks *callbacks, void *userdata) {
        RedisConn *c;
        int r;

        assert(ret);
        assert(event);
        assert(target);
        assert(target->host);
        assert(role);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->event = sd_event_ref(event);
        c->connect_timeout_usec = REDIS_CONNECT_TIMEOUT_USEC;
        c->command_timeout_usec = REDIS_COMMAND_TIMEOUT_USEC;
        c->backoff_min_usec = c->backoff_usec = REDIS_BACKOFF_MIN_USEC;
        c->backoff_max_usec = REDIS_BACKOFF_MAX_USEC;
        if (callbacks)
                c->callbacks = *callbacks;
        c->userdata = userdata;

        r = redis_target_copy(&c->target, target);
        if (r < 0) {
                conn_unref(c);
                return r;
        }
        c->role = strdup(role);
        r = asprintf(&c->address, strchr(target->host, ':') ? "[%s]:%u" : "%s:%u", target->host, target->port);
        if (r < 0)
                c->address = NULL;
        if (!c->role || !c->address) {
                conn_unref(c);
                return -ENOMEM;
        }

        *ret = c;
        return 0;
}

RedisConn *redis_conn_free(RedisConn *c) {
        if (!c || c->freeing)
                return NULL;

        c->freeing = true;
        conn_down(c, -ECANCELED, "the connection was freed", false, NULL);
        conn_unref(c);
        return NULL;
}

void redis_conn_set_connect_timeout(RedisConn *c, uint64_t usec) {
        assert(c);
        c->connect_timeout_usec = usec > 0 ? usec : REDIS_CONNECT_TIMEOUT_USEC;
}

void redis_conn_set_command_timeout(RedisConn *c, uint64_t usec) {
        assert(c);
        c->command_timeout_usec = usec > 0 ? usec : REDIS_COMMAND_TIMEOUT_USEC;
}

void redis_conn_set_backoff(RedisConn *c, uint64_t min_usec, uint64_t max_usec) {
        assert(c);
        c->backoff_min_usec = c->backoff_usec = min_usec > 0 ? min_usec : REDIS_BACKOFF_MIN_USEC;
        c->backoff_max_usec = MAX(max_usec > 0 ? max_usec : REDIS_BACKOFF_MAX_USEC, c->backoff_min_usec);
}

int redis_conn_start(RedisConn *c) {
        assert(c);

        if (c->freeing)
                return -ESHUTDOWN;
        if (c->state != REDIS_STATE_IDLE)
                return -EALREADY;

        conn_attempt(c);
        return 0;
}

bool redis_conn_is_up(const RedisConn *c) {
        assert(c);
        return c->state == REDIS_STATE_UP;
}

const char *redis_conn_role(const RedisConn *c) {
        assert(c);
        return c->role;
}

size_t redis_conn_n_pending(const RedisConn *c) {
        assert(c);
        return c->n_pending;
}

unsigned redis_conn_n_failures(const RedisConn *c) {
        assert(c);
        return c->n_failures;
}

int redis_conn_last_error(const RedisConn *c, const char **ret_reason) {
        assert(c);

        if (ret_reason)
                *ret_reason = c->last_reason ? c->last_reason : c->last_error < 0 ? "out of memory" : "";
        return c->last_error;
}

int redis_command(RedisConn *c, uint64_t timeout_usec, redis_reply_fn cb, void *userdata, const char *fmt, ...) {
        char *buf = NULL;
        va_list ap;
        int len, r;

        assert(c);
        assert(fmt);

        if (c->state != REDIS_STATE_UP)
                return -ENOTCONN;

        va_start(ap, fmt);
        len = redisvFormatCommand(&buf, fmt, ap);
        va_end(ap);
        if (len == -1)
                return -ENOMEM;
        if (len < 0)
                return -EINVAL;

        r = conn_send_command(c, timeout_usec, cb, userdata, buf, len);
        redisFreeCommand(buf);
        return r;
}

int redis_command_argv(RedisConn *c, uint64_t timeout_usec, redis_reply_fn cb, void *userdata, size_t argc,
                       const char *const *argv, const size_t *argvlen) {
        char *buf = NULL;
        int len, r;

        assert(c);
        assert(argv || argc == 0);

        if (c->state != REDIS_STATE_UP)
                return -ENOTCONN;
        if (argc == 0 || argc > INT32_MAX)
                return -EINVAL;

        len = redisFormatCommandArgv(&buf, (int) argc, (const char **) argv, argvlen);
        if (len < 0)
                return -ENOMEM;

        r = conn_send_command(c, timeout_usec, cb, userdata, buf, len);
        redisFreeCommand(buf);
        return r;
}

/* ---- pub/sub ------------------------------------------------------------------------------ */

/* hiredis calls this for the subscription's confirmation, for each message
 * on its channel, and with no reply when the context goes; a context we
 * detached (closed or left to hiredis) finds no RedisConn, and then sub may
 * be gone: it is not touched. */
static void on_pubsub(redisAsyncContext *ac, void *r, void *privdata) {
        RedisConn *c = ac->data;
        redisReply *reply = r;
        RedisSub *sub = privdata;

        if (!c)
                return;
        if (!reply) {
                conn_down(c, ac->err != 0 ? hiredis_error(ac) : -ECONNRESET,
                          ac->errstr ? ac->errstr : "connection closed", true, NULL);
                return;
        }
        /* ["message", channel, payload]; the confirmation is ["subscribe", channel, count] */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING ||
            strcmp(reply->element[0]->str, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
                return;
        conn_ref(c);
        sub->fn(c, sub->channel, reply->element[2]->str, reply->element[2]->len, sub->userdata);
        conn_unref(c);
}

static int conn_send_subscribe(RedisConn *c, RedisSub *sub) {
        assert(c->ac);

        /* no deadline: a subscription waits for messages as long as the connection lives */
        if (redisAsyncCommand(c->ac, on_pubsub, sub, "SUBSCRIBE %s", sub->channel) != REDIS_OK)
                return -ENOTCONN;
        return 0;
}

int redis_subscribe(RedisConn *c, const char *channel, redis_message_fn fn, void *userdata) {
        RedisSub *sub;
        int r;

        assert(c);
        assert(channel);
        assert(fn);

        if (c->freeing)
                return -ESHUTDOWN;
        for (sub = c->subs; sub; sub = sub->next)
                if (streq(sub->channel, channel))
                        return -EEXIST;
        sub = calloc(1, sizeof *sub);
        if (!sub)
                return -ENOMEM;
        sub->channel = strdup(channel);
        if (!sub->channel) {
                free(sub);
                return -ENOMEM;
        }
        sub->fn = fn;
        sub->userdata = userdata;
        sub->next = c->subs;
        c->subs = sub;

        if (c->state != REDIS_STATE_UP)
                return 0; /* at the connection */
        r = conn_send_subscribe(c, sub);
        if (r < 0)
                conn_down(c, r, "failed to subscribe", false, NULL);
        return 0;
}
