/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What an operator of xfsm-redis-bridge(8) sees, on two nodes joined by
 * their bridges through a real redis-server (the set-up of test-bridge:
 * node A hosts OrderComponent and StreamSender, node B PaymentComponent and
 * StreamReceiver; polkitd on node A's bus when run as root). xfsmctl watch
 * on A for a component homed on B; the rate limit of unprivileged callers; a
 * call that waits past its deadline is never run; xfsmctl bridge release
 * refused while routed events wait, then accepted; a hand-over with a
 * routed event waiting for the component moved. No mocks: exit 77 when
 * redis-server is not installed. */

#include <errno.h>
#include <grp.h>
#include <poll.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "nodes.h"

#define NOBODY 65534
#define DAEMON_UID 1 /* the user daemon (Debian, Fedora) */
#define BIN_UID 2    /* the user bin */
#define REMOTE "/org/xfsm1/Bridge/PaymentComponent"

static char dir[256];
static int redis_port;
static pid_t redis_pid, polkit_pid;
static char empty_config[320];
static Node A = { .name = "nodeA",
                  .files = { "xcomponent/demo-order.yaml", "stream-sender.yaml" },
                  .stems = { "order", "sender" } };
static Node B = { .name = "nodeB",
                  .files = { "xcomponent/demo-payment.yaml", "stream-receiver.yaml" },
                  .stems = { "payment", "receiver" } };

/* ---- set-up ------------------------------------------------------------------ */

static void node_init(Node *n) {
        char nodes[300];

        snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
        node_setup(n, dir, nodes);
        snprintf(n->redis_url, sizeof n->redis_url, "redis://127.0.0.1:%d", redis_port);
        snprintf(n->config, sizeof n->config, "%s", empty_config); /* never the host's bridge.conf */
}

/* xfsmd for n's stems; returns once it serves the first. */
static void start_xfsmd(Node *n) {
        char *options[] = { (char *) "--durability", (char *) "batch", NULL }, name[128];

        n->xfsmd = node_spawn_xfsmd(n, options, NULL);
        assert_true(n->xfsmd > 0);
        snprintf(name, sizeof name, "org.xfsm1.%s", n == &A ? "OrderComponent" : "StreamReceiver");
        for (int k = 0; k < 500 && !name_has_owner(n->bus, name); k++)
                usleep(10000);
        assert_true(name_has_owner(n->bus, name));
}

static void start_bridge(Node *n, const char *remote) {
        n->bridge = node_spawn_bridge(n, NULL, NULL, NULL);
        assert_true(n->bridge > 0);
        if (remote)
                node_wait_bridge(n, remote, 1000);
}

static bool polkit_possible(void) {
        return geteuid() == 0 && access("/usr/lib/polkit-1/polkitd", X_OK) == 0 &&
               access("/usr/bin/unshare", X_OK) == 0 && access("/etc/polkit-1/rules.d", F_OK) == 0 &&
               access("/usr/share/polkit-1/actions", F_OK) == 0;
}

static int setup(void **state) {
        if (access("/usr/bin/redis-server", X_OK) < 0) {
                fprintf(stderr, "redis-server is not installed: skipping\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-bridge-operate-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755); /* polkitd reads its rules here as its own user */
        redis_port = nodes_free_port();
        snprintf(empty_config, sizeof empty_config, "%s/empty.conf", dir);
        nodes_run(": > %s", empty_config);
        redis_pid = redis_server_start(dir, "redis", redis_port, true, NULL);
        node_init(&A);
        node_init(&B);
        if (polkit_possible()) {
                /* the callers other than root on node A are asked of polkit */
                char actions[300], rules[300], log[300];

                snprintf(actions, sizeof actions, "%s/polkit-actions", dir);
                snprintf(rules, sizeof rules, "%s/polkit-rules", dir);
                snprintf(log, sizeof log, "%s/polkitd.log", dir);
                nodes_run("mkdir -p %s %s && cp %s/../polkit/org.xfsm1.policy %s/", actions, rules,
                          env_or("XFSM_TEST_DIR", "tests"), actions);
                polkit_pid = polkitd_start(actions, rules, A.address, log);
                assert_true(wait_name(A.bus, "org.freedesktop.PolicyKit1", true));
        }
        start_xfsmd(&A);
        start_xfsmd(&B);
        start_bridge(&A, NULL);
        start_bridge(&B, NULL);
        node_wait_bridge(&A, "PaymentComponent", 1000);
        node_wait_bridge(&A, "StreamReceiver", 1000);
        node_wait_bridge(&B, "StreamSender", 1000);
        return 0;
}

static int teardown(void **state) {
        /* SIGTERM is a clean stop (and under the sanitizers, no leak) */
        int bad = node_stop(&A) + node_stop(&B);

        process_stop(&polkit_pid, SIGTERM);
        process_stop(&redis_pid, SIGTERM);
        nodes_remove(dir);
        assert_int_equal(bad, 0);
        return 0;
}

/* ---- helpers ----------------------------------------------------------------- */

/* A Component method of PaymentComponent (homed on B) on node A's bridge, as root. */
/* A call of PaymentComponent (homed on node B) through node A's bridge. */
#define remote_call(method, error, reply, ...) \
        node_remote_call(&A, "PaymentComponent", method, error, reply, __VA_ARGS__)

/* The number after "key": in the JSON of xfsmctl bridge status --json on n; -1 when absent. */
static long status_number(Node *n, const char *key) {
        char needle[64], *out, *p;
        int status;
        long v = -1;

        out = node_xfsmctl(n, &status, "bridge status --json");
        snprintf(needle, sizeof needle, "\"%s\":", key);
        if (status == 0 && (p = strstr(out, needle)))
                v = strtol(p + strlen(needle), NULL, 10);
        free(out);
        return v;
}

/* The OutboxPending property of n's component: routed events its worker still has to send. */
static long outbox_pending(Node *n, const char *component) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        uint32_t v = 0;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_get_property(n->bus, bn, path, "org.xfsm1.Component", "OutboxPending", NULL, &reply, "u") < 0)
                return -1;
        if (sd_bus_message_read(reply, "u", &v) < 0)
                v = (uint32_t) -1;
        sd_bus_message_unref(reply);
        return (long) v;
}

static long redis_number(const char *fmt, const char *arg) {
        return strtol(redis_cli(redis_port, fmt, arg), NULL, 10);
}

/* ---- xfsmctl watch ----------------------------------------------------------- */

/* xfsmctl watch PaymentComponent on node A prints the transitions made on
 * node B, its home, as it prints those of a local component. */
static void test_watch_shows_transitions_of_another_node(void **state) {
        char line[512] = "", want[512] = "", *id = NULL;
        size_t len = 0;
        int fds[2], status;
        pid_t watcher;

        assert_int_equal(pipe(fds), 0);
        watcher = fork();
        assert_true(watcher >= 0);
        if (watcher == 0) {
                dup2(fds[1], STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                execl(env_or("XFSMCTL", "build/tools/xfsmctl"), "xfsmctl", "--bus", A.address, "watch",
                      "PaymentComponent", (char *) NULL);
                _exit(127);
        }
        close(fds[1]);
        /* the watcher subscribes when it is ready: make a transition on B until one shows */
        for (int round = 0; round < 30 && !strchr(line, '\n'); round++) {
                struct pollfd p = { .fd = fds[0], .events = POLLIN };

                if (len == 0) {
                        free(id);
                        id = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"WATCH-2\"}");
                        assert_int_equal(node_send(&B, "PaymentComponent", id, "PROCESS", "{}"), 0);
                        snprintf(want, sizeof want, "PaymentComponent Payment %s: Pending -> Processing on PROCESS\n",
                                 id);
                }
                if (poll(&p, 1, 1000) > 0) {
                        ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
                        assert_true(n > 0);
                        len += (size_t) n;
                        line[len] = 0;
                }
        }
        status = process_stop(&watcher, SIGTERM);
        close(fds[0]);
        fprintf(stderr, "# xfsmctl watch on nodeA printed: %s", line);
        assert_string_equal(line, want);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(id);
}

/* ---- the rate limit ---------------------------------------------------------- */

#define BURST 500
#define WINDOW 100 /* calls awaiting their answer at once (the bus allows 128) */

typedef struct Burst {
        unsigned answered, ok, busy, other;
        char other_name[128], busy_message[256];
} Burst;

static int on_burst_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Burst *b = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        b->answered++;
        if (!e)
                b->ok++;
        else if (strcmp(e->name, "org.xfsm1.Error.Busy") == 0) {
                b->busy++;
                snprintf(b->busy_message, sizeof b->busy_message, "%s", e->message ?: "");
        } else {
                b->other++;
                snprintf(b->other_name, sizeof b->other_name, "%s", e->name);
        }
        return 0;
}

/* BURST GetContext calls of id on node A's bridge as fast as they are
 * answered, WINDOW at a time, as uid, in a child. */
static Burst burst_as(uid_t uid, const char *id, bool distinct) {
        Burst b = {};
        int fds[2], status;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sd_bus *bus = NULL;
                Burst mine = {};

                close(fds[0]);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
                        _exit(10);
                if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, A.address) < 0 ||
                    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0)
                        _exit(11);
                for (unsigned sent = 0; mine.answered < BURST;) {
                        for (; sent < BURST && sent - mine.answered < WINDOW; sent++) {
                                char other[64];

                                snprintf(other, sizeof other, "%s-%u", id, sent);
                                if (sd_bus_call_method_async(bus, NULL, "org.xfsm1.Bridge", REMOTE,
                                                             "org.xfsm1.Component", "GetContext", on_burst_reply,
                                                             &mine, "s", distinct ? other : id) < 0)
                                        _exit(12);
                        }
                        if (sd_bus_process(bus, NULL) == 0 && sd_bus_wait(bus, 30 * 1000000ULL) <= 0)
                                _exit(13);
                }
                (void) !write(fds[1], &mine, sizeof mine);
                sd_bus_flush_close_unref(bus);
                _exit(0);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], &b, sizeof b), (ssize_t) sizeof b);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return b;
}

/* A caller other than root makes at most 100 calls to other nodes at once
 * (then 50 a second), counted per uid: past that, org.xfsm1.Error.Busy;
 * every call admitted is answered by the home. Asking the home the machine
 * of an instance is limited as well. Root is not limited. */
static void test_unprivileged_callers_are_rate_limited(void **state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *id;
        Burst b;

        if (!polkit_pid) {
                /* the bridge asks polkit about any caller but root: without polkitd every one is refused */
                print_message("SKIPPED: calls as another user need root and polkitd (apt-get install polkitd)\n");
                skip();
        }
        id = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"RATE-1\"}");
        /* A learns the instance's machine (polkit's details) once, before the burst */
        assert_int_equal(remote_call("GetContext", &error, &reply, "s", id), 1);
        reply = sd_bus_message_unref(reply);

        b = burst_as(NOBODY, id, false);
        fprintf(stderr, "# %d calls as nobody, %d awaiting at once: %u answered by the home, %u Busy, %u other (%s)\n",
                BURST, WINDOW, b.ok, b.busy, b.other, b.other_name);
        assert_int_equal(b.other, 0);
        assert_true(b.ok >= 100);
        assert_true(b.busy > 0);
        assert_int_equal(b.ok + b.busy, BURST);
        assert_string_equal(b.busy_message, "too many calls to other nodes: retry later");

        /* the limit is per uid: another unprivileged user has its own 100 */
        b = burst_as(DAEMON_UID, id, false);
        fprintf(stderr, "# then %d calls as uid %d: %u answered by the home, %u Busy, %u other (%s)\n", BURST,
                DAEMON_UID, b.ok, b.busy, b.other, b.other_name);
        assert_int_equal(b.other, 0);
        assert_true(b.ok >= 100);
        assert_true(b.busy > 0);

        /* instances not known here: the bridge asks their machine of the home (polkit's details), a call too */
        b = burst_as(BIN_UID, "no-such-instance", true);
        fprintf(stderr, "# then %d calls of instances not known as uid %d: %u answered, %u Busy, %u other (%s)\n",
                BURST, BIN_UID, b.ok, b.busy, b.other, b.other_name);
        assert_int_equal(b.ok, 0);
        assert_true(b.busy > 0);
        assert_int_equal(b.busy + b.other, BURST);
        assert_string_equal(b.other_name, "org.xfsm1.Error.NoSuchInstance");

        b = burst_as(0, id, false);
        fprintf(stderr, "# %d calls as root, %d awaiting at once: %u answered by the home, %u Busy, %u other (%s)\n",
                BURST, WINDOW, b.ok, b.busy, b.other, b.other_name);
        assert_int_equal(b.ok, BURST);
        free(id);
}

/* ---- deadlines --------------------------------------------------------------- */

/* The home's bridge stopped (SIGSTOP) longer than a call's 10 s: the caller
 * is answered Unavailable; the home, once it runs again, reads the call,
 * counts it expired and does not run it: the instance is as it was. */
static void test_call_past_its_deadline_is_never_run(void **state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *id = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"LATE-1\"}"), *st;
        long expired;

        /* A knows the instance's machine first (asked of the home once) */
        assert_int_equal(remote_call("GetInstance", &error, &reply, "s", id), 1);
        reply = sd_bus_message_unref(reply);
        expired = status_number(&B, "callsExpired");
        assert_true(expired >= 0);

        assert_int_equal(kill(B.bridge, SIGSTOP), 0);
        assert_true(remote_call("Send", &error, &reply, "sss", id, "PROCESS", "{}") < 0);
        assert_int_equal(kill(B.bridge, SIGCONT), 0);
        assert_string_equal(error.name, "org.xfsm1.Error.Unavailable");
        fprintf(stderr, "# the caller was answered %s: %s\n", error.name, error.message);
        sd_bus_error_free(&error);

        /* B's bridge reads the call now, and refuses it */
        for (int k = 0; k < 200 && status_number(&B, "callsExpired") <= expired; k++)
                usleep(50000);
        assert_int_equal(status_number(&B, "callsExpired"), expired + 1);
        st = node_state(&B, "PaymentComponent", "Payment", id);
        assert_string_equal(st, "Pending");
        free(st);
        assert_int_equal(node_history_length(&B, "PaymentComponent", id), 0);

        /* and the same call made now goes through, once */
        for (int k = 0; k < 100; k++) {
                if (remote_call("Send", &error, &reply, "sss", id, "PROCESS", "{}") >= 0)
                        break;
                sd_bus_error_free(&error);
                usleep(100000);
        }
        reply = sd_bus_message_unref(reply);
        st = node_state(&B, "PaymentComponent", "Payment", id);
        assert_string_equal(st, "Processing");
        free(st);
        assert_int_equal(node_history_length(&B, "PaymentComponent", id), 1);
        free(id);
}

/* ---- the home key ------------------------------------------------------------ */

/* Routed events are added to an inbox only while its home key names the
 * node they are signed for: a home key Redis lost is written again by its
 * home's bridge, and events flow again. */
static void test_lost_home_key_is_claimed_again(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        long count = -1;

        assert_string_equal(redis_cli(redis_port, "DEL xfsm:{StreamReceiver}:home"), "1");
        for (int k = 0; k < 500 && strcmp(redis_cli(redis_port, "EXISTS xfsm:{StreamReceiver}:home"), "1") != 0; k++)
                usleep(20000);
        assert_non_null(strstr(redis_cli(redis_port, "GET xfsm:{StreamReceiver}:home"), "\"node\":\"nodeB\""));
        assert_int_equal(node_send(&A, "StreamSender", sender, "NEXT", "{\"n\":1}"), 0);
        for (int k = 0; k < 1500 && (count = node_context_number(&B, "StreamReceiver", receiver, "count")) < 1; k++)
                usleep(20000);
        assert_int_equal(count, 1);
        free(receiver);
        free(sender);
}

/* ---- release ----------------------------------------------------------------- */

/* xfsmctl bridge release is refused (Busy, and says why) while routed
 * events of the component wait in its worker's outbox, or in its inbox;
 * nothing changes; once they are delivered it is accepted. */
static void test_release_waits_for_routed_events(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}"), conf[400], payload[64], *out;
        int status;
        long count = -1;

        /* B's bridge down and A's bridge holding StreamReceiver's inbox to 2 entries: the
         * rest of 10 events wait in StreamSender's outbox on A */
        snprintf(conf, sizeof conf, "%s/inbox-limit.conf", dir);
        nodes_run("printf '[Bridge]\\nInboxLimit=2\\n' > %s", conf);
        process_stop(&B.bridge, SIGTERM);
        process_stop(&A.bridge, SIGTERM);
        snprintf(A.config, sizeof A.config, "%s", conf);
        start_bridge(&A, "StreamReceiver");
        for (long n = 1; n <= 10; n++) {
                snprintf(payload, sizeof payload, "{\"n\":%ld}", n);
                assert_int_equal(node_send(&A, "StreamSender", sender, "NEXT", payload), 0);
        }
        for (int k = 0; k < 250 && redis_number("XLEN xfsm:{%s}:inbox", "StreamReceiver") < 2; k++)
                usleep(20000);
        assert_int_equal(redis_number("XLEN xfsm:{%s}:inbox", "StreamReceiver"), 2);
        assert_true(outbox_pending(&A, "StreamSender") > 0);

        out = node_xfsmctl(&A, &status, "bridge release StreamSender");
        fprintf(stderr, "# release with routed events in the outbox: %s", out);
        assert_int_not_equal(status, 0);
        assert_non_null(strstr(out, "org.xfsm1.Error.Busy"));
        assert_non_null(strstr(out, "StreamSender's worker still has routed events to send"));
        free(out);
        assert_true(node_home_here(&A, "StreamSender", NULL, 0));
        assert_non_null(strstr(redis_cli(redis_port, "GET xfsm:{StreamSender}:home"), "\"node\":\"nodeA\""));

        /* B's bridge back, B's worker gone: the inbox entries wait for it */
        process_stop(&B.xfsmd, SIGTERM);
        start_bridge(&B, "StreamSender");
        out = node_xfsmctl(&B, &status, "bridge release StreamReceiver");
        fprintf(stderr, "# release with routed events in the inbox: %s", out);
        assert_int_not_equal(status, 0);
        assert_non_null(strstr(out, "org.xfsm1.Error.Busy"));
        assert_non_null(strstr(out, "StreamReceiver's inbox"));
        free(out);
        assert_true(node_home_here(&B, "StreamReceiver", NULL, 0));
        assert_non_null(strstr(redis_cli(redis_port, "GET xfsm:{StreamReceiver}:home"), "\"node\":\"nodeB\""));

        /* the worker back: everything is delivered, once */
        start_xfsmd(&B);
        for (int k = 0; k < 1000 && (count = node_context_number(&B, "StreamReceiver", receiver, "count")) < 10; k++)
                usleep(20000);
        assert_int_equal(count, 10);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "late"), 0);

        /* then the release is accepted (the inbox is acknowledged a moment after the last event) */
        for (int k = 0; k < 100; k++) {
                out = node_xfsmctl(&A, &status, "bridge release StreamSender");
                if (status == 0)
                        break;
                assert_non_null(strstr(out, "org.xfsm1.Error.Busy"));
                free(out);
                out = NULL;
                usleep(100000);
        }
        assert_int_equal(status, 0);
        free(out);
        assert_false(node_home_here(&A, "StreamSender", NULL, 0));
        assert_string_equal(redis_cli(redis_port, "EXISTS xfsm:{StreamSender}:home"), "0");

        snprintf(A.config, sizeof A.config, "%s", empty_config);
        free(receiver);
        free(sender);
}

/* ---- a hand-over with a routed event waiting --------------------------------- */

/* A component's worker on n, apart from n's xfsmd, for stem (its comp/ and state/). */
static pid_t spawn_worker(Node *n, const char *stem, const char *bus_name) {
        char comp[400], st[400], log[400];
        pid_t pid;

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(st, sizeof st, "%s/state", n->dir);
        snprintf(log, sizeof log, "%s/%s.log", n->dir, stem);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", n->address,
                         (char *) "--durability", (char *) "batch", (char *) "--state-dir", st,
                         (char *) "--component", (char *) stem, NULL };
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !name_has_owner(n->bus, bus_name); k++)
                usleep(10000);
        assert_true(name_has_owner(n->bus, bus_name));
        return pid;
}

/* PaymentComponent moves from node B to node A while the PROCESS an Order
 * on A routes to it waits in OrderComponent's outbox (A's bridge down when
 * it is released on B, then back while its state directory moves to A):
 * started on A, it takes the event, once; nothing goes to the dead stream. */
static void test_hand_over_with_a_routed_event_waiting(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"MOVE-1\"}");
        char *o = node_create(&A, "OrderComponent", "Order", "{\"orderId\":\"MOVE-1\",\"amount\":10}");
        char *out, *s = NULL, dead[32];
        int status;
        long before;
        pid_t payment;

        snprintf(dead, sizeof dead, "%s", redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:dead"));
        process_stop(&A.bridge, SIGTERM);
        before = outbox_pending(&A, "OrderComponent"); /* the process's outbox, StreamSender's events too */
        assert_true(before >= 0);
        assert_int_equal(node_send(&A, "OrderComponent", o, "VALIDATE", "{}"), 0);
        for (int k = 0; k < 250 && outbox_pending(&A, "OrderComponent") < before + 1; k++)
                usleep(20000);
        assert_int_equal(outbox_pending(&A, "OrderComponent"), before + 1);
        assert_int_equal(redis_number("XLEN xfsm:{%s}:inbox", "PaymentComponent"), 0);

        /* released on B */
        out = node_xfsmctl(&B, &status, "bridge release PaymentComponent");
        assert_int_equal(status, 0);
        free(out);
        assert_false(node_home_here(&B, "PaymentComponent", NULL, 0));

        /* A's bridge back, still knowing nodeB as the home: the event is not written for nodeB into
         * the inbox (its next home could not read it): it waits in the outbox */
        start_bridge(&A, "StreamReceiver");
        for (int k = 0; k < 50; k++) {
                assert_int_equal(redis_number("XLEN xfsm:{%s}:inbox", "PaymentComponent"), 0);
                usleep(20000);
        }
        assert_int_equal(outbox_pending(&A, "OrderComponent"), before + 1);

        /* B's worker goes (it serves StreamReceiver alone again); the state directory moves to A */
        process_stop(&B.xfsmd, SIGTERM);
        nodes_run("mv %s/state/payment %s/state/payment && mv %s/comp/payment.yaml %s/comp/payment.yaml", B.dir, A.dir,
                  B.dir, A.dir);
        B.stems[0] = "receiver";
        B.stems[1] = NULL;
        start_xfsmd(&B);

        /* PaymentComponent's worker on A: A's bridge claims it, reads its inbox */
        payment = spawn_worker(&A, "payment", "org.xfsm1.PaymentComponent");
        assert_true(node_home_here(&A, "PaymentComponent", NULL, 0));
        /* the worker retries with a backoff that grew while the home was away (at most 30 s) */
        for (int k = 0; k < 1500; k++) {
                free(s);
                s = node_state(&A, "PaymentComponent", "Payment", p);
                if (strcmp(s, "Processing") == 0 ||
                    strcmp(redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:dead"), dead) != 0)
                        break;
                usleep(20000);
        }
        fprintf(stderr, "# after the hand-over: %s, %s dead entries (%s before)\n", s,
                redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:dead"), dead);
        assert_string_equal(redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:dead"), dead);
        assert_string_equal(s, "Processing");
        free(s);
        /* nothing left to deliver, and it was applied once */
        for (int k = 0; k < 250 && (outbox_pending(&A, "OrderComponent") != before ||
                                    redis_number("XLEN xfsm:{%s}:inbox", "PaymentComponent") != 0);
             k++)
                usleep(20000);
        assert_int_equal(outbox_pending(&A, "OrderComponent"), before);
        assert_int_equal(redis_number("XLEN xfsm:{%s}:inbox", "PaymentComponent"), 0);
        assert_int_equal(node_history_length(&A, "PaymentComponent", p), 1);

        status = process_stop(&payment, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(p);
        free(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_watch_shows_transitions_of_another_node),
                cmocka_unit_test(test_unprivileged_callers_are_rate_limited),
                cmocka_unit_test(test_call_past_its_deadline_is_never_run),
                cmocka_unit_test(test_lost_home_key_is_claimed_again),
                cmocka_unit_test(test_release_waits_for_routed_events),
                cmocka_unit_test(test_hand_over_with_a_routed_event_waiting),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
