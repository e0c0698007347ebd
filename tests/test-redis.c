/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The bridge's Redis connection (daemon/bridge/redis.c) against a real
 * redis-server that the test starts on a free loopback port: the handshake
 * (AUTH with and without an ACL user, a wrong password, SELECT), a name
 * looked up without blocking, round trips and pipelines, binary-safe
 * arguments, commands refused, a command past its deadline, the server
 * killed and restarted on the same port, an attempt that gets no answer,
 * the RedisConn freed from inside each kind of callback, channels
 * subscribed on every connection, a connection that asks a locator where
 * its primary is (ROLE checked, moved, READONLY), and Redis Sentinel as
 * that locator against a real sentinel. Only loopback,
 * always. Bounds on time are generous lower bounds (a deadline never fires
 * early) or upper bounds of seconds. Exit 77 without redis-server. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "redis-sentinel.h"
#include "redis.h"

#define SEC 1000000ULL
#define MSEC 1000ULL

static const char *redis_server;
static char dir[256];
static sd_event *ev;
static pid_t shared_pid;
static uint16_t shared_port;
static unsigned n_logs;

/* ---- time and the loop ---------------------------------------------------------------- */

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Runs the loop until cond holds or timeout passed; the value of cond. */
#define RUN_UNTIL(cond, timeout)                                             \
        ({                                                                   \
                uint64_t _end = now_usec() + (timeout);                      \
                while (!(cond) && now_usec() < _end)                         \
                        assert_true(sd_event_run(ev, 20 * MSEC) >= 0);       \
                (cond);                                                      \
        })

static void run_for(uint64_t usec) {
        uint64_t end = now_usec() + usec;

        while (now_usec() < end)
                assert_true(sd_event_run(ev, 20 * MSEC) >= 0);
}

/* ---- redis-server ---------------------------------------------------------------------- */

static uint16_t free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static bool port_accepts(uint16_t port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd, r;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        r = connect(fd, (struct sockaddr *) &a, sizeof a);
        close(fd);
        return r == 0;
}

/* redis-server on 127.0.0.1:port with extra arguments (NULL-terminated),
 * killed with the test if the test dies; returns once it accepts. */
static pid_t server_start(uint16_t port, const char *const *extra) {
        char portstr[8], log[320];
        const char *argv[40] = { redis_server, "--port", portstr, "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--logfile", "" };
        size_t n = 15;
        uint64_t end;
        pid_t pid;

        snprintf(portstr, sizeof portstr, "%u", port);
        snprintf(log, sizeof log, "%s/redis-%u-%u.log", dir, port, n_logs++);
        for (size_t i = 0; extra && extra[i] && n < ELEMENTSOF(argv) - 1; i++)
                argv[n++] = extra[i];
        argv[n] = NULL;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }

        end = now_usec() + 10 * SEC;
        while (!port_accepts(port)) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        fail_msg("redis-server exited at start, see %s", log);
                if (now_usec() > end)
                        fail_msg("redis-server did not listen within 10 s, see %s", log);
                usleep(10 * 1000);
        }

        return pid;
}

static void server_stop(pid_t pid, int sig) {
        if (pid <= 0)
                return;
        kill(pid, sig);
        waitpid(pid, NULL, 0);
}

/* ---- a connection and its callbacks ------------------------------------------------------ */

typedef struct Ctx {
        RedisConn *conn;
        int n_connected, n_disconnected;
        int disconnect_error;
        char disconnect_reason[256];
        bool free_on_connected, free_on_disconnected;
        struct Reply *send_on_connected; /* a command sent from connected, before the free */
} Ctx;

typedef struct Reply {
        int n; /* calls of the callback */
        int error;
        int type;
        long long integer;
        char str[256];
        size_t len;
        bool free_conn;   /* the callback frees the connection it is given */
        Ctx *ctx;         /* ... and clears ctx->conn */
        int *order;       /* the callback appends its index here */
        int index;
        int *n_order;
} Reply;

static void reply_cb(RedisConn *c, int error, const redisReply *r, void *userdata) {
        Reply *rep = userdata;

        rep->n++;
        rep->error = error;
        if (r) {
                rep->type = r->type;
                rep->integer = r->integer;
                if (r->str) {
                        rep->len = r->len;
                        memcpy(rep->str, r->str, MIN(r->len, sizeof rep->str - 1));
                        rep->str[MIN(r->len, sizeof rep->str - 1)] = 0;
                }
        } else
                assert_true(error < 0);
        if (rep->order)
                rep->order[(*rep->n_order)++] = rep->index;
        if (rep->free_conn) {
                assert_null(redis_conn_free(c));
                if (rep->ctx)
                        rep->ctx->conn = NULL;
        }
}

static void on_connected(RedisConn *c, void *userdata) {
        Ctx *ctx = userdata;

        assert_ptr_equal(c, ctx->conn);
        assert_true(redis_conn_is_up(c));
        ctx->n_connected++;
        assert_int_equal(ctx->n_connected, ctx->n_disconnected + 1);
        if (ctx->send_on_connected)
                assert_int_equal(redis_command(c, 10 * SEC, reply_cb, ctx->send_on_connected, "BLPOP %s 0", "nothing"), 0);
        if (ctx->free_on_connected)
                ctx->conn = redis_conn_free(c);
}

static void on_disconnected(RedisConn *c, int error, const char *reason, void *userdata) {
        Ctx *ctx = userdata;

        assert_ptr_equal(c, ctx->conn);
        assert_false(redis_conn_is_up(c));
        assert_true(error < 0);
        assert_non_null(reason);
        ctx->n_disconnected++;
        assert_int_equal(ctx->n_connected, ctx->n_disconnected);
        ctx->disconnect_error = error;
        snprintf(ctx->disconnect_reason, sizeof ctx->disconnect_reason, "%s", reason);
        if (ctx->free_on_disconnected)
                ctx->conn = redis_conn_free(c);
}

static const RedisConnCallbacks callbacks = {
        .connected = on_connected,
        .disconnected = on_disconnected,
};

static void ctx_start_target(Ctx *ctx, const RedisTarget *t, const char *role) {
        assert_int_equal(redis_conn_new(&ctx->conn, ev, t, role, &callbacks, ctx), 0);
        redis_conn_set_backoff(ctx->conn, 50 * MSEC, 400 * MSEC);
        assert_int_equal(redis_conn_start(ctx->conn), 0);
        assert_int_equal(redis_conn_start(ctx->conn), -EALREADY);
}

static void ctx_start(Ctx *ctx, const char *url) {
        RedisTarget t = {};
        const char *why = NULL;

        if (redis_url_parse(url, &t, &why) < 0)
                fail_msg("%s: %s", url, why);
        ctx_start_target(ctx, &t, "test");
        redis_target_done(&t);
}

static void ctx_wait_up(Ctx *ctx) {
        const char *reason = NULL;

        if (!RUN_UNTIL(ctx->conn && redis_conn_is_up(ctx->conn), 10 * SEC)) {
                int r = ctx->conn ? redis_conn_last_error(ctx->conn, &reason) : 0;
                fail_msg("not connected within 10 s: %s (%d)", reason ? reason : "", r);
        }
}

static char *url_for(uint16_t port, const char *fmt_tail) {
        static char buf[4][256];
        static unsigned k;
        char *b = buf[k++ % 4];

        snprintf(b, 256, "redis://127.0.0.1:%u%s", port, fmt_tail ? fmt_tail : "");
        return b;
}

/* A command and its reply, synchronously. */
static Reply roundtrip(RedisConn *c, const char *cmd, const char *arg) {
        Reply rep = {};

        if (arg)
                assert_int_equal(redis_command(c, 5 * SEC, reply_cb, &rep, cmd, arg), 0);
        else
                assert_int_equal(redis_command(c, 5 * SEC, reply_cb, &rep, cmd), 0);
        assert_true(RUN_UNTIL(rep.n > 0, 10 * SEC));
        assert_int_equal(rep.n, 1);
        return rep;
}

/* ---- the tests --------------------------------------------------------------------------- */

static void test_round_trip_and_pipeline(void **state) {
        static const char value[] = "a\0b\r\nc$3\r\n";
        const char *argv[] = { "SET", "bin\0key", value };
        const size_t lens[] = { 3, 7, sizeof value - 1 };
        Reply set = {}, get = {}, incr[200] = {}, err = {};
        int order[200], n_order = 0;
        Ctx ctx = {};
        Reply r;

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);
        assert_int_equal(ctx.n_connected, 1);
        assert_string_equal(redis_conn_role(ctx.conn), "test");

        r = roundtrip(ctx.conn, "PING", NULL);
        assert_int_equal(r.error, 0);
        assert_int_equal(r.type, REDIS_REPLY_STATUS);
        assert_string_equal(r.str, "PONG");

        /* binary-safe, both forms */
        assert_int_equal(redis_command_argv(ctx.conn, 0, reply_cb, &set, 3, argv, lens), 0);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &get, "GET %b", "bin\0key", (size_t) 7), 0);
        assert_int_equal(redis_conn_n_pending(ctx.conn), 2);
        assert_true(RUN_UNTIL(get.n > 0, 10 * SEC));
        assert_int_equal(set.n, 1);
        assert_int_equal(set.error, 0);
        assert_string_equal(set.str, "OK");
        assert_int_equal(get.error, 0);
        assert_int_equal(get.type, REDIS_REPLY_STRING);
        assert_int_equal(get.len, sizeof value - 1);
        assert_memory_equal(get.str, value, sizeof value - 1);

        /* a pipeline: replies in order */
        r = roundtrip(ctx.conn, "DEL %s", "counter");
        assert_int_equal(r.error, 0);
        for (int i = 0; i < 200; i++) {
                incr[i] = (Reply) { .order = order, .index = i, .n_order = &n_order };
                assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &incr[i], "INCR %s", "counter"), 0);
        }
        assert_int_equal(redis_conn_n_pending(ctx.conn), 200);
        assert_true(RUN_UNTIL(n_order == 200, 10 * SEC));
        for (int i = 0; i < 200; i++) {
                assert_int_equal(order[i], i);
                assert_int_equal(incr[i].n, 1);
                assert_int_equal(incr[i].error, 0);
                assert_int_equal(incr[i].integer, i + 1);
        }
        assert_int_equal(redis_conn_n_pending(ctx.conn), 0);

        /* a Redis error is a reply, not a failure */
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &err, "HGET %s %s", "counter", "x"), 0);
        assert_true(RUN_UNTIL(err.n > 0, 10 * SEC));
        assert_int_equal(err.error, 0);
        assert_int_equal(err.type, REDIS_REPLY_ERROR);
        assert_non_null(strstr(err.str, "WRONGTYPE"));

        /* a callback may be left out */
        assert_int_equal(redis_command(ctx.conn, 0, NULL, NULL, "SET %s %s", "fire", "forget"), 0);
        r = roundtrip(ctx.conn, "GET %s", "fire");
        assert_string_equal(r.str, "forget");

        assert_true(redis_conn_is_up(ctx.conn));
        assert_int_equal(ctx.n_disconnected, 0);
        ctx.conn = redis_conn_free(ctx.conn);
        assert_int_equal(ctx.n_disconnected, 0);
}

static void test_commands_refused(void **state) {
        const char *none[] = { NULL };
        Reply rep = {};
        Ctx ctx = {};

        ctx_start(&ctx, url_for(shared_port, NULL));
        /* connecting: not up yet, nothing queued */
        assert_false(redis_conn_is_up(ctx.conn));
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "PING"), -ENOTCONN);
        ctx_wait_up(&ctx);

        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, ""), -EINVAL);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "   "), -EINVAL);
        assert_int_equal(redis_command_argv(ctx.conn, 0, reply_cb, &rep, 0, none, NULL), -EINVAL);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "SUBSCRIBE %s", "x"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "psubscribe x*"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "ssubscribe x"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "unsubscribe"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "SELECT 1"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "AUTH %s", "x"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "HELLO 3"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "client reply off"), -EOPNOTSUPP);
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rep, "MONITOR"), -EOPNOTSUPP);
        assert_int_equal(redis_conn_n_pending(ctx.conn), 0);

        /* CLIENT with another subcommand is fine */
        rep = roundtrip(ctx.conn, "CLIENT %s", "ID");
        assert_int_equal(rep.error, 0);
        assert_int_equal(rep.type, REDIS_REPLY_INTEGER);

        run_for(50 * MSEC);
        assert_int_equal(rep.n, 1);
        ctx.conn = redis_conn_free(ctx.conn);
}

static void test_select_database(void **state) {
        Ctx db5 = {}, db0 = {};
        Reply r;

        ctx_start(&db5, url_for(shared_port, "/5"));
        ctx_start(&db0, url_for(shared_port, "/0"));
        ctx_wait_up(&db5);
        ctx_wait_up(&db0);

        r = roundtrip(db5.conn, "SET %s in-five", "where");
        assert_int_equal(r.error, 0);
        r = roundtrip(db0.conn, "EXISTS %s", "where");
        assert_int_equal(r.integer, 0);
        r = roundtrip(db5.conn, "GET %s", "where");
        assert_string_equal(r.str, "in-five");
        r = roundtrip(db5.conn, "CLIENT %s", "INFO");
        assert_non_null(strstr(r.str, "db=5"));

        db5.conn = redis_conn_free(db5.conn);
        db0.conn = redis_conn_free(db0.conn);
}

static void test_host_name_resolved_on_the_loop(void **state) {
        RedisTarget t = { .host = (char *) "localhost", .port = shared_port };
        Ctx ctx = {};
        Reply r;

        /* localhost may come first as ::1, where nothing listens: the next
         * address is tried within the same attempt */
        ctx_start_target(&ctx, &t, "resolved");
        ctx_wait_up(&ctx);
        r = roundtrip(ctx.conn, "PING", NULL);
        assert_string_equal(r.str, "PONG");
        ctx.conn = redis_conn_free(ctx.conn);

        /* freed while the name is being looked up */
        ctx_start_target(&ctx, &t, "resolved");
        ctx.conn = redis_conn_free(ctx.conn);
        run_for(100 * MSEC);
        assert_int_equal(ctx.n_connected, 1);
}

static bool ipv6_loopback_works(void) {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        int fd, r;

        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        r = bind(fd, (struct sockaddr *) &a, sizeof a);
        close(fd);
        return r == 0;
}

static void test_ipv6_loopback(void **state) {
        const char *extra[] = { "--bind", "127.0.0.1", "::1", NULL };
        char url[64];
        uint16_t port;
        Ctx ctx = {};
        pid_t pid;
        Reply r;

        if (!ipv6_loopback_works()) {
                print_message("SKIPPED: no ::1 here\n");
                skip();
        }

        port = free_port();
        pid = server_start(port, extra);
        snprintf(url, sizeof url, "redis://[::1]:%u/2", port);
        ctx_start(&ctx, url);
        ctx_wait_up(&ctx);
        r = roundtrip(ctx.conn, "CLIENT %s", "INFO");
        assert_true(strstr(r.str, "addr=[::1]:") || strstr(r.str, "addr=::1:"));
        assert_non_null(strstr(r.str, "db=2"));

        ctx.conn = redis_conn_free(ctx.conn);
        server_stop(pid, SIGTERM);
}

static void test_auth(void **state) {
        const char *extra[] = { "--requirepass", "pass word", "--user", "bridge", "on", ">bridge-pw", "~*", "&*", "+@all",
                                NULL };
        uint16_t port = free_port();
        pid_t pid = server_start(port, extra);
        RedisTarget t = { .host = (char *) "127.0.0.1", .port = port };
        Ctx def = {}, acl = {}, wrong = {}, none = {}, wrong_user = {};
        const char *reason;
        Reply r;

        t.password = (char *) "pass word";
        ctx_start_target(&def, &t, "default-user");
        t.user = (char *) "bridge";
        t.password = (char *) "bridge-pw";
        ctx_start_target(&acl, &t, "acl-user");
        t.user = NULL;
        t.password = (char *) "wrong";
        ctx_start_target(&wrong, &t, "wrong-password");
        t.user = (char *) "nobody";
        t.password = (char *) "bridge-pw";
        ctx_start_target(&wrong_user, &t, "wrong-user");
        t.user = t.password = NULL;
        ctx_start_target(&none, &t, "no-password");

        ctx_wait_up(&def);
        ctx_wait_up(&acl);
        r = roundtrip(def.conn, "ACL %s", "WHOAMI");
        assert_string_equal(r.str, "default");
        r = roundtrip(acl.conn, "ACL %s", "WHOAMI");
        assert_string_equal(r.str, "bridge");

        /* refused: never up, the reason kept, attempts spaced by the backoff
         * (50 ms doubling to 400 ms here: a few per second, not thousands) */
        run_for(1500 * MSEC);
        assert_false(redis_conn_is_up(wrong.conn));
        assert_false(redis_conn_is_up(wrong_user.conn));
        assert_false(redis_conn_is_up(none.conn));
        assert_int_equal(redis_conn_last_error(wrong.conn, &reason), -EACCES);
        assert_non_null(strstr(reason, "AUTH refused"));
        assert_non_null(strstr(reason, "WRONGPASS"));
        assert_int_equal(redis_conn_last_error(wrong_user.conn, &reason), -EACCES);
        assert_non_null(strstr(reason, "WRONGPASS"));
        assert_int_equal(redis_conn_last_error(none.conn, &reason), -EACCES);
        assert_non_null(strstr(reason, "NOAUTH"));
        print_message("wrong password: %u attempts in 1.5 s\n", redis_conn_n_failures(wrong.conn));
        assert_true(redis_conn_n_failures(wrong.conn) >= 2);
        assert_true(redis_conn_n_failures(wrong.conn) <= 20);
        assert_int_equal(wrong.n_connected + none.n_connected + wrong_user.n_connected, 0);
        assert_int_equal(wrong.n_disconnected + none.n_disconnected + wrong_user.n_disconnected, 0);

        def.conn = redis_conn_free(def.conn);
        acl.conn = redis_conn_free(acl.conn);
        wrong.conn = redis_conn_free(wrong.conn);
        wrong_user.conn = redis_conn_free(wrong_user.conn);
        none.conn = redis_conn_free(none.conn);
        server_stop(pid, SIGTERM);
}

static void test_command_deadline_drops_the_connection(void **state) {
        Reply blpop = {}, behind = {}, ping = {};
        uint64_t start;
        Ctx ctx = {};

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);

        /* blocks forever on the server: only the deadline ends it */
        start = now_usec();
        assert_int_equal(redis_command(ctx.conn, 200 * MSEC, reply_cb, &blpop, "BLPOP %s 0", "never"), 0);
        assert_int_equal(redis_command(ctx.conn, 10 * SEC, reply_cb, &behind, "PING"), 0);
        assert_true(RUN_UNTIL(blpop.n > 0, 10 * SEC));
        /* never early (less the loop's cached clock) */
        assert_true(now_usec() - start >= 150 * MSEC);
        assert_int_equal(blpop.error, -ETIMEDOUT);
        /* the one behind it on the same connection fails with it, at once */
        assert_int_equal(behind.n, 1);
        assert_int_equal(behind.error, -ECONNABORTED);
        assert_int_equal(ctx.n_disconnected, 1);
        assert_int_equal(ctx.disconnect_error, -ETIMEDOUT);
        assert_false(redis_conn_is_up(ctx.conn));
        assert_int_equal(redis_conn_n_pending(ctx.conn), 0);

        /* and it comes back by itself */
        assert_true(RUN_UNTIL(ctx.n_connected == 2, 10 * SEC));
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &ping, "PING"), 0);
        assert_true(RUN_UNTIL(ping.n > 0, 10 * SEC));
        assert_int_equal(ping.error, 0);
        assert_string_equal(ping.str, "PONG");
        run_for(100 * MSEC);
        assert_int_equal(blpop.n, 1);
        assert_int_equal(behind.n, 1);

        ctx.conn = redis_conn_free(ctx.conn);
}

static void test_server_killed_and_restarted(void **state) {
        uint16_t port = free_port();
        pid_t pid = server_start(port, NULL);
        Reply blocked = {}, refused = {};
        unsigned failures;
        Ctx ctx = {};
        Reply r;

        ctx_start(&ctx, url_for(port, NULL));
        ctx_wait_up(&ctx);
        assert_int_equal(redis_command(ctx.conn, 30 * SEC, reply_cb, &blocked, "BLPOP %s 0", "never"), 0);
        run_for(50 * MSEC);

        server_stop(pid, SIGKILL);
        assert_true(RUN_UNTIL(ctx.n_disconnected == 1, 10 * SEC));
        print_message("lost: %s (%d)\n", ctx.disconnect_reason, ctx.disconnect_error);
        assert_true(ctx.disconnect_error == -ECONNRESET || ctx.disconnect_error == -EIO);
        assert_int_equal(blocked.n, 1);
        assert_int_equal(blocked.error, ctx.disconnect_error);

        /* down: commands fail at once, nothing is kept */
        for (int i = 0; i < 10000; i++)
                assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &refused, "SET %s %d", "k", i), -ENOTCONN);
        assert_int_equal(redis_conn_n_pending(ctx.conn), 0);

        /* attempts while down are spaced by the backoff */
        run_for(1500 * MSEC);
        failures = redis_conn_n_failures(ctx.conn);
        print_message("%u attempts in 1.5 s while down\n", failures);
        assert_true(failures >= 2);
        assert_true(failures <= 20);
        assert_int_equal(redis_conn_last_error(ctx.conn, NULL), -ECONNREFUSED);
        assert_false(redis_conn_is_up(ctx.conn));

        pid = server_start(port, NULL);
        assert_true(RUN_UNTIL(ctx.n_connected == 2, 10 * SEC));
        assert_int_equal(redis_conn_n_failures(ctx.conn), 0);
        r = roundtrip(ctx.conn, "PING", NULL);
        assert_string_equal(r.str, "PONG");
        assert_int_equal(refused.n, 0);
        assert_int_equal(blocked.n, 1);

        ctx.conn = redis_conn_free(ctx.conn);
        server_stop(pid, SIGTERM);
}

/* A listener that never accepts: TCP completes (the kernel queues it), the
 * handshake is never answered. */
static void test_connect_deadline_unanswered_handshake(void **state) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        const char *reason;
        uint64_t start;
        Ctx ctx = {};
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 16), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);

        assert_int_equal(redis_conn_new(&ctx.conn, ev, &(RedisTarget) { .host = (char *) "127.0.0.1",
                                                                       .port = ntohs(a.sin_port) },
                                        "silent", &callbacks, &ctx),
                         0);
        redis_conn_set_connect_timeout(ctx.conn, 300 * MSEC);
        redis_conn_set_backoff(ctx.conn, 10 * SEC, 10 * SEC);
        start = now_usec();
        assert_int_equal(redis_conn_start(ctx.conn), 0);

        assert_true(RUN_UNTIL(redis_conn_n_failures(ctx.conn) >= 1, 10 * SEC));
        assert_true(now_usec() - start >= 250 * MSEC);
        assert_int_equal(redis_conn_last_error(ctx.conn, &reason), -ETIMEDOUT);
        assert_non_null(strstr(reason, "300 ms"));
        assert_false(redis_conn_is_up(ctx.conn));
        assert_int_equal(ctx.n_connected + ctx.n_disconnected, 0);

        ctx.conn = redis_conn_free(ctx.conn);
        close(fd);
}

/* A listener whose accept queue is full: SYNs are dropped, connect(2)
 * itself never finishes. */
static void test_connect_deadline_full_backlog(void **state) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd, fill[4];
        Ctx ctx = {};

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
        assert_int_equal(listen(fd, 0), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++) {
                fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                assert_true(fill[i] >= 0);
                (void) connect(fill[i], (struct sockaddr *) &a, sizeof a);
                usleep(20 * 1000);
        }

        assert_int_equal(redis_conn_new(&ctx.conn, ev, &(RedisTarget) { .host = (char *) "127.0.0.1",
                                                                       .port = ntohs(a.sin_port) },
                                        "full", &callbacks, &ctx),
                         0);
        redis_conn_set_connect_timeout(ctx.conn, 300 * MSEC);
        redis_conn_set_backoff(ctx.conn, 10 * SEC, 10 * SEC);
        assert_int_equal(redis_conn_start(ctx.conn), 0);

        assert_true(RUN_UNTIL(redis_conn_n_failures(ctx.conn) >= 1, 10 * SEC));
        assert_int_equal(redis_conn_last_error(ctx.conn, NULL), -ETIMEDOUT);
        assert_false(redis_conn_is_up(ctx.conn));

        ctx.conn = redis_conn_free(ctx.conn);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++)
                close(fill[i]);
        close(fd);
}

static void test_free_with_commands_pending(void **state) {
        Reply rep[5] = {};
        Ctx ctx = {};

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);
        for (int i = 0; i < 5; i++)
                assert_int_equal(redis_command(ctx.conn, 30 * SEC, reply_cb, &rep[i], "BLPOP %s 0", "never"), 0);
        run_for(50 * MSEC);

        /* each told once, before the free returns; no disconnected callback */
        ctx.conn = redis_conn_free(ctx.conn);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(rep[i].n, 1);
                assert_int_equal(rep[i].error, -ECANCELED);
        }
        run_for(100 * MSEC);
        for (int i = 0; i < 5; i++)
                assert_int_equal(rep[i].n, 1);
        assert_int_equal(ctx.n_disconnected, 0);

        /* freed before it was up, and while waiting to try again */
        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx.conn = redis_conn_free(ctx.conn);
        ctx_start(&ctx, url_for(free_port(), NULL));
        assert_true(RUN_UNTIL(redis_conn_n_failures(ctx.conn) >= 1, 10 * SEC));
        ctx.conn = redis_conn_free(ctx.conn);
        run_for(100 * MSEC);
}

static void test_free_in_reply_callback(void **state) {
        Reply first = {}, rest[3] = {};
        Ctx ctx = {};

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);

        /* the first reply frees the connection; the replies pipelined behind
         * it are not delivered, each callback gets -ECANCELED once, and
         * freeing again from those callbacks does nothing */
        first.free_conn = true;
        first.ctx = &ctx;
        assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &first, "PING"), 0);
        for (int i = 0; i < 3; i++) {
                rest[i].free_conn = i == 1;
                assert_int_equal(redis_command(ctx.conn, 0, reply_cb, &rest[i], "PING"), 0);
        }
        assert_true(RUN_UNTIL(first.n > 0, 10 * SEC));
        assert_null(ctx.conn);
        assert_int_equal(first.error, 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(rest[i].n, 1);
                assert_int_equal(rest[i].error, -ECANCELED);
        }
        run_for(100 * MSEC);
        assert_int_equal(first.n, 1);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rest[i].n, 1);
        assert_int_equal(ctx.n_disconnected, 0);
}

static void test_free_in_connected_callback(void **state) {
        Reply sent = {};
        Ctx ctx = { .free_on_connected = true, .send_on_connected = &sent };

        ctx_start(&ctx, url_for(shared_port, NULL));
        assert_true(RUN_UNTIL(ctx.n_connected > 0, 10 * SEC));
        assert_null(ctx.conn);
        assert_int_equal(sent.n, 1);
        assert_int_equal(sent.error, -ECANCELED);
        run_for(100 * MSEC);
        assert_int_equal(ctx.n_connected, 1);
        assert_int_equal(ctx.n_disconnected, 0);
        assert_int_equal(sent.n, 1);
}

/* CLIENT KILL from another connection drops ours: hiredis sees EOF. */
static void kill_clients(void) {
        Ctx killer = {};
        Reply r;

        ctx_start(&killer, url_for(shared_port, NULL));
        ctx_wait_up(&killer);
        r = roundtrip(killer.conn, "CLIENT KILL TYPE %s SKIPME yes", "normal");
        assert_int_equal(r.error, 0);
        assert_true(r.integer >= 1);
        killer.conn = redis_conn_free(killer.conn);
}

static void test_free_in_disconnected_callback(void **state) {
        Ctx ctx = { .free_on_disconnected = true };

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);
        kill_clients();
        assert_true(RUN_UNTIL(ctx.n_disconnected > 0, 10 * SEC));
        assert_null(ctx.conn);
        assert_int_equal(ctx.disconnect_error, -ECONNRESET);
        run_for(300 * MSEC);
        assert_int_equal(ctx.n_connected, 1);
        assert_int_equal(ctx.n_disconnected, 1);
}

static void test_free_in_error_callback(void **state) {
        Reply rep[3] = {};
        Ctx ctx = {};

        ctx_start(&ctx, url_for(shared_port, NULL));
        ctx_wait_up(&ctx);
        /* the first to learn of the loss frees; the others still hear of it
         * once; the owner hears no disconnected after its free */
        for (int i = 0; i < 3; i++) {
                rep[i].free_conn = true;
                rep[i].ctx = &ctx;
                assert_int_equal(redis_command(ctx.conn, 30 * SEC, reply_cb, &rep[i], "BLPOP %s 0", "never"), 0);
        }
        run_for(50 * MSEC);
        kill_clients();
        assert_true(RUN_UNTIL(rep[0].n > 0, 10 * SEC));
        assert_null(ctx.conn);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(rep[i].n, 1);
                assert_int_equal(rep[i].error, -ECONNRESET);
        }
        run_for(300 * MSEC);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rep[i].n, 1);
        assert_int_equal(ctx.n_disconnected, 0);
}

/* ---- setup ------------------------------------------------------------------------------- */

static int group_setup(void **state) {
        shared_port = free_port();
        shared_pid = server_start(shared_port, NULL);
        return 0;
}

static int group_teardown(void **state) {
        char cmd[300];

        server_stop(shared_pid, SIGTERM);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

/* ---- pub/sub and servers that move ------------------------------------------------------ */

typedef struct Messages {
        int n;
        char channel[64], last[64];
} Messages;

static void message_cb(RedisConn *c, const char *channel, const char *message, size_t size, void *userdata) {
        Messages *m = userdata;

        m->n++;
        snprintf(m->channel, sizeof m->channel, "%s", channel);
        snprintf(m->last, sizeof m->last, "%.*s", (int) size, message);
}

/* PUBLISH until someone got it (a subscription sent may not be confirmed yet). */
static void publish(RedisConn *c, const char *channel, const char *message, Messages *m) {
        int before = m->n;

        for (int k = 0; k < 100 && m->n == before; k++) {
                Reply r = {};

                assert_int_equal(redis_command(c, 5 * SEC, reply_cb, &r, "PUBLISH %s %s", channel, message), 0);
                assert_true(RUN_UNTIL(r.n > 0, 10 * SEC));
                (void) RUN_UNTIL(m->n > before, r.integer > 0 ? 2 * SEC : 50 * MSEC);
        }
        assert_int_equal(m->n, before + 1);
        assert_string_equal(m->channel, channel);
        assert_string_equal(m->last, message);
}

/* Channels are subscribed as part of connecting, again after the server
 * came back, and one added while up is subscribed at once; a subscribed
 * connection takes no other command. */
static void test_subscriptions_renewed_on_every_connection(void **state) {
        uint16_t port = free_port();
        pid_t pid = server_start(port, NULL);
        Ctx sub = {}, pub = {};
        Messages m = {};
        RedisTarget t = {};
        Reply r = {};

        assert_int_equal(redis_url_parse(url_for(port, NULL), &t, NULL), 0);
        assert_int_equal(redis_conn_new(&sub.conn, ev, &t, "pubsub", &callbacks, &sub), 0);
        redis_conn_set_backoff(sub.conn, 50 * MSEC, 400 * MSEC);
        assert_int_equal(redis_conn_subscribe(sub.conn, "xfsm:{C}:transitions", message_cb, &m), 0);
        assert_int_equal(redis_conn_subscribe(sub.conn, "xfsm:{C}:transitions", message_cb, &m), -EEXIST);
        assert_int_equal(redis_conn_start(sub.conn), 0);
        ctx_start_target(&pub, &t, "publisher");
        redis_target_done(&t);
        ctx_wait_up(&sub);
        ctx_wait_up(&pub);

        /* up means subscribed: the first PUBLISH reaches it */
        assert_int_equal(redis_command(pub.conn, 5 * SEC, reply_cb, &r, "PUBLISH %s %s", "xfsm:{C}:transitions", "one"),
                         0);
        assert_true(RUN_UNTIL(m.n == 1, 10 * SEC));
        assert_int_equal(r.integer, 1);
        assert_string_equal(m.last, "one");
        assert_int_equal(redis_command(sub.conn, 0, reply_cb, &r, "PING"), -EBUSY);

        server_stop(pid, SIGKILL);
        assert_true(RUN_UNTIL(sub.n_disconnected == 1 && pub.n_disconnected == 1, 10 * SEC));
        pid = server_start(port, NULL);
        assert_true(RUN_UNTIL(sub.n_connected == 2 && pub.n_connected == 2, 10 * SEC));
        publish(pub.conn, "xfsm:{C}:transitions", "two", &m);

        assert_int_equal(redis_conn_subscribe(sub.conn, "xcomponent:C", message_cb, &m), 0);
        publish(pub.conn, "xcomponent:C", "three", &m);
        assert_int_equal(sub.n_connected, 2);

        sub.conn = redis_conn_free(sub.conn);
        pub.conn = redis_conn_free(pub.conn);
        server_stop(pid, SIGTERM);
}

/* A locator that answers from a table: the port of the primary now. It
 * stands for Redis Sentinel (tested end to end by test-bridge-sentinel). */
typedef struct TableLocator {
        RedisLocator ops;
        uint16_t port;
        int n_attached, n_located;
} TableLocator;

static void table_attach(RedisConn *c, void *userdata) {
        ((TableLocator *) userdata)->n_attached++;
}

static void table_detach(RedisConn *c, void *userdata) {
        ((TableLocator *) userdata)->n_attached--;
}

static int table_locate(RedisConn *c, uint64_t ticket, void *userdata) {
        TableLocator *l = userdata;

        l->n_located++;
        redis_conn_located(c, ticket, 0, NULL, "127.0.0.1", l->port);
        return 0;
}

/* The port the connection is at, as the server sees it (CLIENT INFO). */
static bool conn_is_at(RedisConn *c, uint16_t port) {
        char needle[64];
        Reply r = roundtrip(c, "CLIENT INFO", NULL);

        snprintf(needle, sizeof needle, "laddr=127.0.0.1:%u ", port);
        return strstr(r.str, needle) != NULL;
}

/* With a locator: each attempt asks it; ROLE must say master (a replica
 * fails the attempt, the next asks again); moved elsewhere, the connection
 * goes there at once, and stays when it is there already; a command
 * answered READONLY drops the connection after its callback. */
static void test_locator_follows_the_primary(void **state) {
        uint16_t p1 = free_port(), p2 = free_port();
        pid_t pid1 = server_start(p1, NULL), pid2 = server_start(p2, NULL);
        TableLocator l = { .ops = { .what = "the primary of test", .attach = table_attach, .detach = table_detach,
                                    .locate = table_locate },
                           .port = p1 };
        RedisTarget t = { .locator = &l.ops };
        Ctx ctx = {}, admin1 = {}, admin2 = {};
        const char *reason = NULL;
        Reply r;
        char of[32];

        l.ops.userdata = &l;
        ctx_start(&admin1, url_for(p1, NULL));
        ctx_start(&admin2, url_for(p2, NULL));
        ctx_start_target(&ctx, &t, "located");
        assert_int_equal(l.n_attached, 1);
        ctx_wait_up(&ctx);
        ctx_wait_up(&admin1);
        ctx_wait_up(&admin2);
        assert_int_equal(l.n_located, 1);
        assert_true(conn_is_at(ctx.conn, p1));
        snprintf(of, sizeof of, "127.0.0.1:%u", p1);
        assert_string_equal(redis_conn_address(ctx.conn), of);

        /* moved where it is: nothing happens */
        redis_conn_moved(ctx.conn, "127.0.0.1", p1, "test: the same primary");
        run_for(100 * MSEC);
        assert_int_equal(ctx.n_connected, 1);

        /* moved: dropped and connected there at once */
        l.port = p2;
        redis_conn_moved(ctx.conn, "127.0.0.1", p2, "test: the primary moved");
        assert_int_equal(ctx.n_disconnected, 1);
        assert_true(RUN_UNTIL(ctx.n_connected == 2, 2 * SEC));
        assert_true(conn_is_at(ctx.conn, p2));
        assert_int_equal(l.n_located, 2);

        /* a replica is not a primary: the attempts fail until the locator names the primary */
        snprintf(of, sizeof of, "%u", p2);
        r = roundtrip(admin1.conn, "REPLICAOF 127.0.0.1 %s", of);
        assert_string_equal(r.str, "OK");
        l.port = p1;
        redis_conn_moved(ctx.conn, "127.0.0.1", p1, "test: a stale answer");
        assert_true(RUN_UNTIL(redis_conn_n_failures(ctx.conn) >= 2, 5 * SEC));
        assert_int_equal(redis_conn_last_error(ctx.conn, &reason), -EAGAIN);
        print_message("refused: %s\n", reason);
        assert_non_null(strstr(reason, "not the primary"));
        assert_false(redis_conn_is_up(ctx.conn));
        l.port = p2;
        assert_true(RUN_UNTIL(ctx.n_connected == 3, 5 * SEC));
        assert_true(conn_is_at(ctx.conn, p2));

        /* the primary becomes a replica (p1 the primary again): READONLY drops the connection */
        r = roundtrip(admin1.conn, "REPLICAOF NO ONE", NULL);
        assert_string_equal(r.str, "OK");
        snprintf(of, sizeof of, "%u", p1);
        r = roundtrip(admin2.conn, "REPLICAOF 127.0.0.1 %s", of);
        assert_string_equal(r.str, "OK");
        l.port = p1;
        r = roundtrip(ctx.conn, "SET %s 1", "k");
        assert_int_equal(r.type, REDIS_REPLY_ERROR);
        assert_non_null(strstr(r.str, "READONLY"));
        assert_int_equal(ctx.n_disconnected, 3);
        assert_int_equal(ctx.disconnect_error, -EROFS);
        assert_true(RUN_UNTIL(ctx.n_connected == 4, 5 * SEC));
        assert_true(conn_is_at(ctx.conn, p1));
        r = roundtrip(ctx.conn, "SET %s 1", "k");
        assert_string_equal(r.str, "OK");

        ctx.conn = redis_conn_free(ctx.conn);
        assert_int_equal(l.n_attached, 0);
        admin1.conn = redis_conn_free(admin1.conn);
        admin2.conn = redis_conn_free(admin2.conn);
        server_stop(pid1, SIGTERM);
        server_stop(pid2, SIGTERM);
}

/* redis-server --sentinel on 127.0.0.1:port watching the primary "m" at
 * 127.0.0.1:primary (quorum 1), killed with the test if the test dies. */
static pid_t sentinel_start(uint16_t port, uint16_t primary) {
        char conf[320], log[320];
        uint64_t end;
        FILE *f;
        pid_t pid;

        snprintf(conf, sizeof conf, "%s/sentinel-%u.conf", dir, port);
        snprintf(log, sizeof log, "%s/sentinel-%u.log", dir, port);
        f = fopen(conf, "we");
        assert_non_null(f);
        fprintf(f, "port %u\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %u 1\n", port, dir, primary);
        assert_int_equal(fclose(f), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                execl(redis_server, redis_server, conf, "--sentinel", (char *) NULL);
                _exit(127);
        }

        end = now_usec() + 10 * SEC;
        while (!port_accepts(port)) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        fail_msg("redis-server --sentinel exited at start, see %s", log);
                if (now_usec() > end)
                        fail_msg("the sentinel did not listen within 10 s, see %s", log);
                usleep(10 * 1000);
        }

        return pid;
}

static RedisSentinel *sentinel_for(const char *url) {
        RedisSentinelUrl u = {};
        RedisSentinel *s = NULL;
        const char *why = NULL;

        if (redis_sentinel_url_parse(url, &u, &why) < 0)
                fail_msg("%s: %s", url, why);
        assert_int_equal(redis_sentinel_new(&s, ev, &u, NULL, NULL, false), 0);
        redis_sentinel_url_done(&u);
        assert_int_equal(redis_sentinel_start(s), 0);
        return s;
}

/* RedisSentinel as the locator: the sentinels asked in turn (one not there
 * skipped) name the primary; a name no sentinel knows fails the attempts
 * with a sentence; attempts made while no sentinel is reachable wait for
 * one and connect once it is there. */
static void test_sentinel_names_the_primary(void **state) {
        uint16_t p = free_port(), sp = free_port(), nobody = free_port(), later = free_port();
        pid_t pid = server_start(p, NULL), spid = sentinel_start(sp, p), later_pid;
        RedisSentinel *s, *unknown, *waiting;
        Ctx ctx = {}, lost = {}, patient = {};
        const char *reason = NULL;
        uint16_t port = 0;
        char url[256];

        snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%u,127.0.0.1:%u/m", nobody, sp);
        s = sentinel_for(url);
        ctx_start_target(&ctx, &(RedisTarget) { .locator = redis_sentinel_locator(s) }, "located");
        ctx_wait_up(&ctx);
        assert_true(conn_is_at(ctx.conn, p));
        assert_string_equal(redis_sentinel_primary(s, &port), "127.0.0.1");
        assert_int_equal(port, p);
        assert_int_equal(redis_sentinel_n_switches(s), 0);

        snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%u/nosuch", sp);
        unknown = sentinel_for(url);
        ctx_start_target(&lost, &(RedisTarget) { .locator = redis_sentinel_locator(unknown) }, "lost");
        assert_true(RUN_UNTIL(redis_conn_n_failures(lost.conn) >= 2, 10 * SEC));
        assert_int_equal(redis_conn_last_error(lost.conn, &reason), -EHOSTUNREACH);
        print_message("unknown master: %s\n", reason);
        assert_non_null(strstr(reason, "does not know that name"));
        assert_false(redis_conn_is_up(lost.conn));

        snprintf(url, sizeof url, "redis-sentinel://127.0.0.1:%u/m", later);
        waiting = sentinel_for(url);
        ctx_start_target(&patient, &(RedisTarget) { .locator = redis_sentinel_locator(waiting) }, "patient");
        run_for(500 * MSEC);
        assert_false(redis_conn_is_up(patient.conn));
        later_pid = sentinel_start(later, p);
        ctx_wait_up(&patient);
        assert_true(conn_is_at(patient.conn, p));

        /* the connections first, then their locators */
        ctx.conn = redis_conn_free(ctx.conn);
        lost.conn = redis_conn_free(lost.conn);
        patient.conn = redis_conn_free(patient.conn);
        redis_sentinel_free(s);
        redis_sentinel_free(unknown);
        redis_sentinel_free(waiting);
        server_stop(later_pid, SIGTERM);
        server_stop(spid, SIGTERM);
        server_stop(pid, SIGTERM);
}

static int setup(void **state) {
        assert_int_equal(sd_event_new(&ev), 0);
        return 0;
}

static int teardown(void **state) {
        /* nothing left on the loop once every connection is freed */
        run_for(10 * MSEC);
        ev = sd_event_unref(ev);
        return 0;
}

static const char *find_redis_server(void) {
        static char buf[4096];
        const char *path = getenv("XFSM_REDIS_SERVER");
        char *p, *save = NULL;

        if (path)
                return access(path, X_OK) == 0 ? path : NULL;

        path = getenv("PATH");
        snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
        for (p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
                static char exe[4200];

                snprintf(exe, sizeof exe, "%s/redis-server", p);
                if (access(exe, X_OK) == 0)
                        return exe;
        }
        return NULL;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_round_trip_and_pipeline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commands_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_select_database, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_name_resolved_on_the_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ipv6_loopback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_deadline_drops_the_connection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_server_killed_and_restarted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_deadline_unanswered_handshake, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_deadline_full_backlog, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_with_commands_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_reply_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_connected_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_disconnected_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_error_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_subscriptions_renewed_on_every_connection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_locator_follows_the_primary, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sentinel_names_the_primary, setup, teardown),
        };

        redis_server = find_redis_server();
        if (!redis_server) {
                print_message("SKIPPED: needs redis-server (apt-get install redis-server)\n");
                return 77;
        }

        /* hiredis writes with write(2) */
        signal(SIGPIPE, SIG_IGN);
        log_setup();

        snprintf(dir, sizeof dir, "/tmp/xfsm-redis-XXXXXX");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
