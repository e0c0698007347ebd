/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Two xfsm nodes joined through Redis under Redis Sentinel, all real
 * processes on loopback: a primary, a replica (both min-replicas-to-write
 * 1), three sentinels (down-after-milliseconds 1000), and the two nodes of
 * test-bridge (private buses, xfsmd, bridges) whose bridges are given
 * Redis=redis-sentinel://S1,S2,S3/main and so MinReplicas=1. The bridges
 * log in as the ACL user xfsm everywhere, with the ACLs of
 * xfsm-redis-bridge(8) (data nodes and sentinels), from the credentials
 * redis-password and redis-sentinel-password. In the middle
 * of a counted stream of events from node A to node B (the receiver takes
 * only the next number, and counts any other as late) the primary is killed
 * with SIGKILL; the sentinels promote the replica, and the old primary is
 * started again (empty: the sentinels make it the new primary's replica, so
 * that WAIT 1 can be met again). Every acknowledged event is applied exactly
 * once, in order, and the bridges followed without a restart. Then a
 * switch-over asked of the sentinels, one of them down, the old primary
 * alive: the same. Then, without Sentinel, a primary and its replica and
 * bridges on redis://primary with MinReplicas=1 in bridge.conf: the replica
 * stopped (SIGSTOP), WAIT confirms nothing, the senders keep their events
 * and send them again; continued (SIGCONT), every event is applied once, in
 * order. Prints the fault counts. No mocks: exit 77 when redis-server is not
 * installed. */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "nodes.h"

#define N_SENTINELS 3
#define MASTER "main"
/* the ACLs of xfsm-redis-bridge(8), REDIS REQUIREMENTS (with +role, REDIS
 * SENTINEL) and the sentinels' of REDIS SENTINEL; TIME, XREAD, XPENDING,
 * XRANGE, DEL, XDEL, EXISTS and SREM are for the calls from other nodes and
 * the operator tools.
 * DATA_ACL is quoted for the shell of redis-cli, SENTINEL_ACL for printf's. */
#define DATA_ACL                                                                                                 \
        "xfsm on '>data-secret' resetkeys '~xfsm:*' resetchannels '&xfsm:*' -@all +ping +role +select +get +set "  \
        "+sadd +smembers +eval +xlen +xadd '+xgroup|create' +xreadgroup +xack +xtrim +publish +wait +time "        \
        "+xread +xpending +xrange +del +xdel +exists +srem +subscribe"
#define SENTINEL_ACL                                                                                             \
        "xfsm on >sentinel-secret -@all +ping +sentinel|get-master-addr-by-name +subscribe resetchannels "       \
        "&+switch-master"

typedef struct Server {
        const char *name;
        int port;
        pid_t pid;
} Server;

static char dir[256], empty_config[320], creds[320];
static Server primary = { .name = "primary" }, replica = { .name = "replica" };
static Server sentinels[N_SENTINELS] = { { .name = "sentinel1" }, { .name = "sentinel2" }, { .name = "sentinel3" } };
static Node A = { .name = "nodeA",
                  .files = { "xcomponent/demo-order.yaml", "stream-sender.yaml" },
                  .stems = { "order", "sender" } };
static Node B = { .name = "nodeB",
                  .files = { "xcomponent/demo-payment.yaml", "stream-receiver.yaml" },
                  .stems = { "payment", "receiver" } };

/* ---- processes -------------------------------------------------------------------- */

static bool alive(pid_t pid) {
        return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

/* A data node: nothing kept on disk (what it acknowledged is on the other
 * node, through WAIT), never more than it can confirm (min-replicas-to-write
 * 1), no eviction, a replica synchronized at once (no diskless delay).
 * replica_of: the primary's port, or 0. */
static void server_start(Server *s, int replica_of) {
        char of[32];
        char *extra[] = { (char *) "--repl-diskless-sync-delay", (char *) "0", (char *) "--min-replicas-to-write",
                          (char *) "1", (char *) "--min-replicas-max-lag", (char *) "10", (char *) "--replicaof",
                          (char *) "127.0.0.1", of, NULL };

        snprintf(of, sizeof of, "%d", replica_of);
        if (replica_of == 0)
                extra[6] = NULL;
        s->pid = redis_server_start(dir, s->name, s->port, false, extra);
        /* the bridges' user (the default user stays open for the sentinels and the replicas) */
        assert_string_equal(redis_cli(s->port, "ACL SETUSER " DATA_ACL), "OK");
}

static void sentinel_start(Server *s) {
        char conf[320], sdir[300], log[320];

        snprintf(sdir, sizeof sdir, "%s/%s", dir, s->name);
        snprintf(conf, sizeof conf, "%s/sentinel.conf", sdir);
        snprintf(log, sizeof log, "%s/%s.log", dir, s->name);
        nodes_run("mkdir -p %s && printf 'port %d\\nbind 127.0.0.1\\ndir %s\\n"
            "sentinel monitor " MASTER " 127.0.0.1 %d 2\\n"
            "sentinel down-after-milliseconds " MASTER " 1000\\n"
            "sentinel failover-timeout " MASTER " 10000\\n"
            "sentinel parallel-syncs " MASTER " 1\\n"
            "user " SENTINEL_ACL "\\n' > %s",
            sdir, s->port, sdir, primary.port, conf);
        char *argv[] = { (char *) "/usr/bin/redis-server", conf, (char *) "--sentinel", NULL };
        s->pid = spawn(argv, log);
        redis_wait_ready(s->port);
}

/* The port of the primary the sentinel names, or 0. */
static int sentinel_primary_port(const Server *s) {
        const char *a = redis_cli(s->port, "SENTINEL get-master-addr-by-name " MASTER);
        const char *sp = strchr(a, ' ');

        return sp ? atoi(sp + 1) : 0;
}

/* Every sentinel sees the others and the replica. */
static void sentinels_ready(void) {
        bool ok = false;

        for (int k = 0; k < 3000 && !ok; k++) {
                ok = true;
                for (size_t i = 0; i < N_SENTINELS && ok; i++)
                        ok = strncmp(redis_cli(sentinels[i].port, "SENTINEL ckquorum " MASTER), "OK 3 usable", 11) == 0 &&
                             strstr(redis_cli(sentinels[i].port, "SENTINEL replicas " MASTER), "slave") != NULL;
                if (!ok)
                        usleep(10000);
        }
        assert_true(ok);
}

/* ---- nodes ------------------------------------------------------------------------ */

static void node_init(Node *n) {
        char nodes[300];

        snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
        node_setup(n, dir, nodes);
        snprintf(n->redis_url, sizeof n->redis_url, "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/" MASTER,
                 sentinels[0].port, sentinels[1].port, sentinels[2].port);
        /* never the host's /etc/xfsm/bridge.conf: an empty one, so MinReplicas=1 (the sentinel default) */
        snprintf(n->config, sizeof n->config, "%s", empty_config);
        n->credentials = creds;
}

static void start_xfsmd(Node *n) {
        char *options[] = { (char *) "--durability", (char *) "batch", NULL };

        n->xfsmd = node_spawn_xfsmd(n, options, NULL);
        assert_true(n->xfsmd > 0);
        for (int k = 0; k < 500 && !name_has_owner(n->bus, n == &A ? "org.xfsm1.StreamSender" : "org.xfsm1.StreamReceiver");
             k++)
                usleep(10000);
}

static void start_bridge(Node *n) {
        n->bridge = node_spawn_bridge(n, NULL, NULL, NULL);
        assert_true(n->bridge > 0);
}

static void wait_bridge(Node *n, const char *remote) {
        node_wait_bridge(n, remote, 1500);
}

/* ---- calls ------------------------------------------------------------------------- */

/* NEXT {n} to the sender on node A: 0 when acknowledged (the routed event is
 * in the sender's outbox), <0 when not. */
static int send_number(const char *sender, long n) {
        char payload[64];
        sd_bus_message *reply = NULL;
        int r;

        snprintf(payload, sizeof payload, "{\"n\":%ld}", n);
        r = sd_bus_call_method(A.bus, "org.xfsm1.StreamSender", "/org/xfsm1/StreamSender", "org.xfsm1.Component", "Send",
                               NULL, &reply, "sss", sender, "NEXT", payload);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 0;
}

static long receiver_number(const char *id, const char *key) {
        return node_context_number(&B, "StreamReceiver", id, key);
}

static long wait_count(const char *receiver, long want, int seconds) {
        long c = -1;

        for (int k = 0; k < seconds * 50 && (c = receiver_number(receiver, "count")) < want; k++)
                usleep(20000);
        return c;
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static bool file_contains(const char *path, const char *needle) {
        char cmd[1024];

        snprintf(cmd, sizeof cmd, "grep -qF -- '%s' %s", needle, path);
        return system(cmd) == 0;
}

/* ---- setup ------------------------------------------------------------------------- */

/* Both nodes: xfsmd, then the bridges, until each has learned the other's component. */
static void start_nodes(void) {
        start_xfsmd(&A);
        start_xfsmd(&B);
        start_bridge(&A);
        start_bridge(&B);
        wait_bridge(&A, "StreamReceiver");
        wait_bridge(&B, "StreamSender");
}

static int setup(void **state) {
        if (access("/usr/bin/redis-server", X_OK) < 0 || system("command -v redis-cli > /dev/null") != 0) {
                fprintf(stderr, "redis-server or redis-cli is not installed: skipping\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-sentinel-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(empty_config, sizeof empty_config, "%s/empty.conf", dir);
        nodes_run(": > %s", empty_config);
        snprintf(creds, sizeof creds, "%s/credentials", dir);
        nodes_run("mkdir -m 0700 %s && printf 'xfsm\\ndata-secret\\n' > %s/redis-password && "
            "printf 'xfsm\\nsentinel-secret\\n' > %s/redis-sentinel-password",
            creds, creds, creds);

        primary.port = nodes_free_port();
        replica.port = nodes_free_port();
        for (size_t i = 0; i < N_SENTINELS; i++)
                sentinels[i].port = nodes_free_port();
        server_start(&primary, 0);
        server_start(&replica, primary.port);
        for (size_t i = 0; i < N_SENTINELS; i++)
                sentinel_start(&sentinels[i]);
        sentinels_ready();

        node_init(&A);
        node_init(&B);
        start_nodes();
        return 0;
}

static int teardown(void **state) {
        /* SIGTERM is a clean stop (and under the sanitizers, no leak) */
        int bad = node_stop(&A) + node_stop(&B);

        for (size_t i = 0; i < N_SENTINELS; i++)
                process_stop(&sentinels[i].pid, SIGTERM);
        process_stop(&primary.pid, SIGTERM);
        process_stop(&replica.pid, SIGTERM);

        nodes_remove(dir);
        assert_int_equal(bad, 0);
        return 0;
}

/* ---- the test ---------------------------------------------------------------------- */

/* kill -9 of the primary in the middle of a counted stream from A to B: the
 * replica is promoted, the bridges follow it without a restart, and every
 * acknowledged event is applied once, in order. */
static void test_primary_killed_mid_stream_nothing_lost_nothing_doubled(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        pid_t bridge_a = A.bridge, bridge_b = B.bridge;
        long sent = 0, acked = 0, before = 100, after = 200;
        char needle[128], log_a[400], log_b[400];
        double killed, promoted, done;
        int new_port = 0;

        /* the stream flows through the primary */
        for (; sent < before / 2; sent++)
                acked += send_number(sender, sent + 1) == 0;
        assert_int_equal(wait_count(receiver, acked, 20), acked);

        /* the rest of the first half, then the primary dies with events in flight */
        for (; sent < before; sent++)
                acked += send_number(sender, sent + 1) == 0;
        process_stop(&primary.pid, SIGKILL);
        killed = now_s();
        for (; sent < before + after; sent++)
                acked += send_number(sender, sent + 1) == 0;

        /* the sentinels promote the replica */
        for (int k = 0; k < 3000 && (new_port = sentinel_primary_port(&sentinels[0])) != replica.port; k++)
                usleep(10000);
        assert_int_equal(new_port, replica.port);
        promoted = now_s();

        /* the old primary comes back, empty: the sentinels make it the new primary's replica */
        server_start(&primary, 0);
        assert_int_equal(wait_count(receiver, acked, 90), acked);
        done = now_s();

        long applied = receiver_number(receiver, "count"), last = receiver_number(receiver, "last"),
             twice = receiver_number(receiver, "late");
        fprintf(stderr,
                "# Sentinel fail-over (kill -9 of the primary mid-stream): sent %ld, acknowledged %ld, applied %ld "
                "(last %ld), applied twice or out of order %ld; replica promoted %.1f s after the kill, stream "
                "complete %.1f s after it\n",
                sent, acked, applied, last, twice, promoted - killed, done - killed);

        assert_int_equal(acked, sent);
        assert_int_equal(applied, acked);
        assert_int_equal(last, acked);
        assert_int_equal(twice, 0);

        /* the same bridges, connected to the promoted replica */
        assert_int_equal(A.bridge, bridge_a);
        assert_int_equal(B.bridge, bridge_b);
        assert_true(alive(A.bridge));
        assert_true(alive(B.bridge));
        snprintf(log_a, sizeof log_a, "%s/bridge.log", A.dir);
        snprintf(log_b, sizeof log_b, "%s/bridge.log", B.dir);
        snprintf(needle, sizeof needle, "connected to 127.0.0.1:%d", replica.port);
        assert_true(file_contains(log_a, needle));
        assert_true(file_contains(log_b, needle));

        /* as the user xfsm, within its ACLs, on the primary the sentinels name now
         * and on the sentinels. On a loaded machine the sentinels may have moved
         * the primary again since (down-after is 1 s here), and the bridges are
         * then between two connections for a moment: wait for them, bounded. */
        int now_port = 0;
        bool seen = false;
        for (int k = 0; k < 1500 && !seen; k++) {
                now_port = sentinel_primary_port(&sentinels[0]);
                seen = now_port > 0 && strstr(redis_cli(now_port, "CLIENT LIST"), "user=xfsm") != NULL;
                if (!seen)
                        usleep(10000);
        }
        if (!seen)
                fprintf(stderr, "# the primary named now (port %d) has no client of user xfsm: %s\n", now_port,
                        now_port > 0 ? redis_cli(now_port, "CLIENT LIST") : "(none)");
        assert_true(now_port == replica.port || now_port == primary.port);
        assert_true(seen);
        assert_string_equal(redis_cli(replica.port, "ACL LOG"), "");
        for (size_t i = 0; i < N_SENTINELS; i++) {
                assert_non_null(strstr(redis_cli(sentinels[i].port, "CLIENT LIST"), "user=xfsm"));
                assert_string_equal(redis_cli(sentinels[i].port, "ACL LOG"), "");
        }

        free(receiver);
        free(sender);
}

static int count_lines(const char *path, const char *needle) {
        char cmd[1024];
        FILE *p;
        int n = -1;

        snprintf(cmd, sizeof cmd, "grep -cF -- '%s' %s", needle, path);
        p = popen(cmd, "r");
        if (p) {
                if (fscanf(p, "%d", &n) != 1)
                        n = -1;
                pclose(p);
        }
        return n;
}

/* A switch-over asked of the sentinels (SENTINEL FAILOVER) while one of
 * them is down and events flow: the old primary lives on and is made a
 * replica, so only the sentinels' +switch-master (and READONLY) move the
 * bridges' connections; nothing lost, nothing doubled. */
static void test_switchover_with_a_sentinel_down(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        int from = sentinel_primary_port(&sentinels[1]), to_port = 0;
        Server *to = from == primary.port ? &replica : &primary;
        long sent = 0, acked = 0;
        char needle[128], log_a[400], log_b[400];
        int before_a, before_b;
        double asked, done;

        assert_true(from == primary.port || from == replica.port);
        /* the replica in sync, and known to the sentinels */
        for (int k = 0; k < 3000 && !strstr(redis_cli(to->port, "INFO replication"), "master_link_status:up"); k++)
                usleep(10000);
        assert_non_null(strstr(redis_cli(to->port, "INFO replication"), "master_link_status:up"));
        snprintf(log_a, sizeof log_a, "%s/bridge.log", A.dir);
        snprintf(log_b, sizeof log_b, "%s/bridge.log", B.dir);
        snprintf(needle, sizeof needle, "writer: connected to 127.0.0.1:%d", to->port);
        before_a = count_lines(log_a, needle);
        before_b = count_lines(log_b, needle);

        /* the sentinel the bridges asked first goes away */
        process_stop(&sentinels[0].pid, SIGKILL);
        for (; sent < 50; sent++)
                acked += send_number(sender, sent + 1) == 0;

        for (int k = 0; k < 100 && strcmp(redis_cli(sentinels[1].port, "SENTINEL FAILOVER " MASTER), "OK") != 0; k++)
                usleep(100000); /* refused while the sentinels still settle the last fail-over */
        asked = now_s();
        for (; sent < 150; sent++)
                acked += send_number(sender, sent + 1) == 0;
        for (int k = 0; k < 3000 && (to_port = sentinel_primary_port(&sentinels[1])) != to->port; k++)
                usleep(10000);
        assert_int_equal(to_port, to->port);
        /* and after it: these go through the new primary */
        for (; sent < 200; sent++)
                acked += send_number(sender, sent + 1) == 0;
        assert_int_equal(wait_count(receiver, acked, 90), acked);
        done = now_s();

        long applied = receiver_number(receiver, "count"), last = receiver_number(receiver, "last"),
             twice = receiver_number(receiver, "late");
        fprintf(stderr,
                "# Sentinel switch-over (SENTINEL FAILOVER, one sentinel down): sent %ld, acknowledged %ld, applied "
                "%ld (last %ld), applied twice or out of order %ld; stream complete %.1f s after it was asked\n",
                sent, acked, applied, last, twice, done - asked);
        assert_int_equal(acked, sent);
        assert_int_equal(applied, acked);
        assert_int_equal(last, acked);
        assert_int_equal(twice, 0);

        /* the same bridges, their writers connected again to the new primary */
        assert_true(alive(A.bridge));
        assert_true(alive(B.bridge));
        for (int k = 0; k < 100 && (count_lines(log_a, needle) <= before_a || count_lines(log_b, needle) <= before_b);
             k++)
                usleep(100000);
        assert_true(count_lines(log_a, needle) > before_a);
        assert_true(count_lines(log_b, needle) > before_b);

        free(receiver);
        free(sender);
}

/* ---- WAIT without Sentinel: MinReplicas= on a redis:// URL --------------------------- */

/* A primary and its replica (no Sentinel, no min-replicas-to-write: only
 * the bridges' WAIT holds writes back), the bridges on redis://primary with
 * MinReplicas=1 and WaitMs=500 in bridge.conf. */
static int setup_wait(void **state) {
        char conf[320], of[32];
        char *sync_at_once[] = { (char *) "--repl-diskless-sync-delay", (char *) "0", NULL };
        char *replica_of[] = { (char *) "--repl-diskless-sync-delay", (char *) "0", (char *) "--replicaof",
                               (char *) "127.0.0.1", of, NULL };

        snprintf(dir, sizeof dir, "/tmp/xfsm-wait-XXXXXX");
        assert_non_null(mkdtemp(dir));
        primary.port = nodes_free_port();
        replica.port = nodes_free_port();
        snprintf(of, sizeof of, "%d", primary.port);
        primary.pid = redis_server_start(dir, primary.name, primary.port, false, sync_at_once);
        replica.pid = redis_server_start(dir, replica.name, replica.port, false, replica_of);
        for (int k = 0; k < 500 && !strstr(redis_cli(replica.port, "INFO replication"), "master_link_status:up"); k++)
                usleep(10000);
        assert_non_null(strstr(redis_cli(replica.port, "INFO replication"), "master_link_status:up"));

        snprintf(conf, sizeof conf, "%s/bridge.conf", dir);
        nodes_run("printf '[Bridge]\\nMinReplicas=1\\nWaitMs=500\\n' > %s", conf);
        for (Node *n = &A; n; n = n == &A ? &B : NULL) {
                char nodes[300];

                snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
                node_setup(n, dir, nodes);
                snprintf(n->redis_url, sizeof n->redis_url, "redis://127.0.0.1:%d", primary.port);
                snprintf(n->config, sizeof n->config, "%s", conf);
                n->credentials = NULL;
        }
        start_nodes();
        return 0;
}

static int teardown_wait(void **state) {
        int bad = node_stop(&A) + node_stop(&B);

        process_stop(&primary.pid, SIGTERM);
        if (replica.pid > 0)
                kill(replica.pid, SIGCONT);
        process_stop(&replica.pid, SIGTERM);
        nodes_remove(dir);
        assert_int_equal(bad, 0);
        return 0;
}

/* The routed events the sender's worker on node A has yet to hand over (OutboxPending); -1 when not asked. */
static long sender_outbox_pending(void) {
        uint32_t v = 0;

        if (sd_bus_get_property_trivial(A.bus, "org.xfsm1.StreamSender", "/org/xfsm1/StreamSender",
                                        "org.xfsm1.Component", "OutboxPending", NULL, 'u', &v) < 0)
                return -1;
        return v;
}

/* How many entries were ever added to key (XINFO STREAM entries-added), -1 when not known. */
static long entries_added(const char *key) {
        const char *p = strstr(redis_cli(primary.port, "XINFO STREAM %s", key), "entries-added ");

        return p ? strtol(p + strlen("entries-added "), NULL, 10) : -1;
}

/* The replica stopped (SIGSTOP) with events in flight: WAIT 1 confirms none
 * within WaitMs=, so the sending bridge answers Unavailable (and says so
 * once in its log) and the sender keeps the events in its outbox. Redis
 * took them before WAIT, so the receiver has them already: unconfirmed is
 * not unapplied, it is "may be lost with the primary, so sent again". The
 * replica continued (SIGCONT): the sender's retries are confirmed, the
 * outbox empties, the second copies in the stream take no effect: every
 * number applied once, in order. */
static void test_wait_too_few_replicas_the_sender_retries(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        char log_a[400], log_sender[400];
        long sent = 0, added;

        snprintf(log_a, sizeof log_a, "%s/bridge.log", A.dir);
        snprintf(log_sender, sizeof log_sender, "%s/xfsmd.log", A.dir);

        /* the replica confirms: through at once */
        for (; sent < 10; sent++)
                assert_int_equal(send_number(sender, sent + 1), 0);
        assert_int_equal(wait_count(receiver, sent, 20), sent);
        for (int k = 0; k < 100 && sender_outbox_pending() != 0; k++)
                usleep(50000);
        assert_int_equal(sender_outbox_pending(), 0);

        /* the replica stopped: nothing confirmed */
        assert_int_equal(kill(replica.pid, SIGSTOP), 0);
        for (; sent < 20; sent++)
                assert_int_equal(send_number(sender, sent + 1), 0);
        for (int k = 0; k < 200 && !file_contains(log_a, "WAIT 1: fewer replicas confirmed within 500 ms"); k++)
                usleep(50000);
        assert_true(file_contains(log_a, "WAIT 1: fewer replicas confirmed within 500 ms (MinReplicas=, WaitMs=): "
                                         "the senders retry"));
        for (int k = 0; k < 200 && !file_contains(log_sender, "fewer replicas than MinReplicas= confirmed"); k++)
                usleep(50000);
        assert_true(file_contains(log_sender, "fewer replicas than MinReplicas= confirmed StreamReceiver in time"));
        /* in the stream, so applied; not confirmed, so still in the sender's outbox */
        assert_int_equal(wait_count(receiver, sent, 20), sent);
        assert_true(sender_outbox_pending() > 0);

        /* the replica goes on: confirmed, the outbox empties, nothing applied twice */
        assert_int_equal(kill(replica.pid, SIGCONT), 0);
        for (int k = 0; k < 300 && sender_outbox_pending() != 0; k++)
                usleep(100000);
        assert_int_equal(sender_outbox_pending(), 0);
        for (; sent < 25; sent++)
                assert_int_equal(send_number(sender, sent + 1), 0);
        assert_int_equal(wait_count(receiver, sent, 20), sent);
        for (int k = 0; k < 100 && !file_contains(log_a, "WAIT 1: the replicas confirm again"); k++)
                usleep(50000);
        assert_true(file_contains(log_a, "WAIT 1: the replicas confirm again"));

        added = entries_added("xfsm:{StreamReceiver}:inbox");
        fprintf(stderr, "# WAIT 1 unmet while the replica was stopped: sent %ld, added to the stream %ld times, "
                        "applied %ld (last %ld), applied twice or out of order %ld\n",
                sent, added, receiver_number(receiver, "count"), receiver_number(receiver, "last"),
                receiver_number(receiver, "late"));
        assert_true(added > sent); /* the retries wrote second copies ... */
        assert_int_equal(receiver_number(receiver, "count"), sent); /* ... which took no effect */
        assert_int_equal(receiver_number(receiver, "last"), sent);
        assert_int_equal(receiver_number(receiver, "late"), 0);
        free(receiver);
        free(sender);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_primary_killed_mid_stream_nothing_lost_nothing_doubled),
                cmocka_unit_test(test_switchover_with_a_sentinel_down),
        };
        const struct CMUnitTest wait_tests[] = {
                cmocka_unit_test(test_wait_too_few_replicas_the_sender_retries),
        };
        int failed = cmocka_run_group_tests_name("sentinel", tests, setup, teardown);

        return failed + cmocka_run_group_tests_name("wait", wait_tests, setup_wait, teardown_wait);
}
