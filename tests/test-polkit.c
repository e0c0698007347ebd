/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmd asks a real polkitd. A private dbus-daemon, polkitd on it (in a
 * mount namespace of its own, where /usr/share/polkit-1/actions holds
 * polkit/org.xfsm1.policy and /etc/polkit-1/rules.d a directory of this
 * test), xfsmd as root, and callers as the user nobody: what polkit says,
 * what the rules grant, the rules changing under a running daemon, polkitd
 * going away, the worker socket, the denial log. Needs root (exit 77
 * otherwise). */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#define POLKITD "/usr/lib/polkit-1/polkitd"
#define NOBODY 65534

static char dir[256], address[512], rules[300];
static pid_t broker_pid, polkit_pid, daemon_pid;
static sd_bus *bus;

static void start_polkitd(void) {
        char actions[300], log[300];

        snprintf(actions, sizeof actions, "%s/actions", dir);
        snprintf(log, sizeof log, "%s/polkitd.log", dir);
        polkit_pid = polkitd_start(actions, rules, address, log);
        assert_true(wait_name(bus, "org.freedesktop.PolicyKit1", true));
}

static void stop_polkitd(void) {
        kill(polkit_pid, SIGTERM);
        waitpid(polkit_pid, NULL, 0);
        polkit_pid = 0;
        assert_true(wait_name(bus, "org.freedesktop.PolicyKit1", false));
}

static int setup(void **state) {
        char cmd[1200], log[300];
        (void) state;

        if (geteuid() != 0 || access(POLKITD, X_OK) < 0 || access("/usr/bin/unshare", X_OK) < 0 ||
            access("/etc/polkit-1/rules.d", F_OK) < 0 || access("/usr/share/polkit-1/actions", F_OK) < 0) {
                print_message("SKIPPED: needs root, polkitd (apt-get install polkitd) and unshare\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-polkit-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755);
        snprintf(rules, sizeof rules, "%s/rules.d", dir);
        snprintf(cmd, sizeof cmd, "mkdir -p %s/actions %s && cp %s/../polkit/org.xfsm1.policy %s/actions/", dir, rules,
                 env_or("XFSM_TEST_DIR", "tests"), dir);
        assert_int_equal(system(cmd), 0);
        broker_pid = private_bus_start(dir, address, sizeof address, &bus);
        assert_true(broker_pid > 0);
        start_polkitd();

        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) data("xcomponent/demo-order.yaml"), (char *) data("xcomponent/demo-payment.yaml"),
                         NULL };
        snprintf(log, sizeof log, "%s/xfsmd.log", dir);
        daemon_pid = spawn(argv, log);
        assert_true(wait_name(bus, "org.xfsm1.PaymentComponent", true));
        return 0;
}

static int teardown(void **state) {
        char cmd[400];
        int status = 0;
        (void) state;

        sd_bus_flush_close_unref(bus);
        kill(daemon_pid, SIGTERM);
        waitpid(daemon_pid, &status, 0);
        if (polkit_pid > 0) {
                kill(polkit_pid, SIGTERM);
                waitpid(polkit_pid, NULL, 0);
        }
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                assert_int_equal(system(cmd), 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return 0;
}

/* ---- calls as root and as nobody -------------------------------------------- */

static char *create(const char *component, const char *machine, const char *ctx) {
        sd_bus_message *reply = NULL;
        char path[128];
        const char *p, *id;
        char *r;

        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        char name[128];
        snprintf(name, sizeof name, "org.xfsm1.%s", component);
        assert_true(sd_bus_call_method(bus, name, path, "org.xfsm1.Component", "CreateInstance", NULL, &reply, "ss",
                                       machine, ctx) >= 0);
        assert_true(sd_bus_message_read(reply, "os", &p, &id) > 0);
        r = strdup(id);
        sd_bus_message_unref(reply);
        return r;
}

typedef struct Call {
        const char *peer;      /* a socket address: peer to peer; NULL: the bus */
        bool interactive;      /* the allow-interactive-authorization flag */
        const char *component; /* org.xfsm1.<component> at /org/xfsm1/<component> */
        const char *member;    /* of org.xfsm1.Component */
} Call;

/* Call as nobody, in a child: "OK" or the error name (malloc'd). */
static char *call_as_nobody(const Call *c, const char *types, ...) {
        char buf[256] = "";
        int fds[2];
        pid_t pid;
        va_list ap;

        assert_int_equal(pipe(fds), 0);
        va_start(ap, types);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sd_bus *b = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                char dest[128], path[128];
                const char *out = "OK";
                int r;

                close(fds[0]);
                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(10);
                snprintf(dest, sizeof dest, "org.xfsm1.%s", c->component);
                snprintf(path, sizeof path, "/org/xfsm1/%s", c->component);
                r = sd_bus_new(&b);
                if (r >= 0)
                        r = sd_bus_set_address(b, c->peer ? c->peer : address);
                if (r >= 0 && !c->peer)
                        r = sd_bus_set_bus_client(b, 1);
                if (r >= 0)
                        r = sd_bus_start(b);
                if (r < 0)
                        _exit(11);
                (void) sd_bus_set_allow_interactive_authorization(b, c->interactive);
                r = sd_bus_call_methodv(b, c->peer ? NULL : dest, path, "org.xfsm1.Component", c->member, &error, NULL,
                                        types, ap);
                if (r < 0)
                        out = error.name ? error.name : "failed";
                (void) !write(fds[1], out, strlen(out));
                sd_bus_flush_close_unref(b);
                _exit(0);
        }
        va_end(ap);
        close(fds[1]);
        ssize_t n = read(fds[0], buf, sizeof buf - 1);
        close(fds[0]);
        buf[n > 0 ? n : 0] = '\0';
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                print_message("the caller as nobody ended with wait status 0x%x (exit 10: setuid, 11: connect)\n",
                              (unsigned) status);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return strdup(buf);
}

static bool access_error(const char *r) {
        return strcmp(r, "org.freedesktop.DBus.Error.AccessDenied") == 0 ||
               strcmp(r, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") == 0;
}

static char *state_of(const char *component, const char *id) {
        sd_bus_message *reply = NULL;
        const char *ctx;
        char dest[128], path[128];
        char *r;

        snprintf(dest, sizeof dest, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        /* ListInstances: a(ssso) id, machine, state, path */
        assert_true(sd_bus_call_method(bus, dest, path, "org.xfsm1.Component", "ListInstances", NULL, &reply, "ss", "",
                                       "") >= 0);
        r = NULL;
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssso)") > 0);
        const char *i, *m, *s, *p;
        while (sd_bus_message_read(reply, "(ssso)", &i, &m, &s, &p) > 0)
                if (strcmp(i, id) == 0)
                        r = strdup(s);
        (void) ctx;
        sd_bus_message_unref(reply);
        assert_non_null(r);
        return r;
}

static void write_rule(const char *name, const char *text) {
        char path[400];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", rules, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        chmod(path, 0644);
}

static void remove_rule(const char *name) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", rules, name);
        assert_int_equal(unlink(path), 0);
}

/* The shipped example, for the group of nobody (nogroup) instead of orderdesk. */
static void install_example_rule(void) {
        char src[400], line[512], text[4096] = "";
        FILE *f;

        snprintf(src, sizeof src, "%s/../polkit/rules.d/60-xfsm-orderdesk.rules.example",
                 env_or("XFSM_TEST_DIR", "tests"));
        f = fopen(src, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
                char *g = strstr(line, "\"orderdesk\"");
                if (g) {
                        char fixed[512];
                        snprintf(fixed, sizeof fixed, "%.*s\"nogroup\"%s", (int) (g - line), line,
                                 g + strlen("\"orderdesk\""));
                        strcat(text, fixed);
                } else
                        strcat(text, line);
        }
        fclose(f);
        assert_non_null(strstr(text, "\"nogroup\""));
        write_rule("60-xfsm-orderdesk.rules", text);
}

/* A shipped rule file of polkit/rules.d for the user nobody instead of
 * xfsm-http, as name. */
static void install_http_rule(const char *src_name, const char *name) {
        char src[400], text[8192] = "", *p;
        size_t n;
        FILE *f;

        snprintf(src, sizeof src, "%s/../polkit/rules.d/%s", env_or("XFSM_TEST_DIR", "tests"), src_name);
        f = fopen(src, "re");
        assert_non_null(f);
        n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        assert_non_null(strstr(text, "\"xfsm-http\""));
        while ((p = strstr(text, "\"xfsm-http\""))) {
                memmove(p + strlen("\"nobody\""), p + strlen("\"xfsm-http\""), strlen(p + strlen("\"xfsm-http\"")) + 1);
                memcpy(p, "\"nobody\"", strlen("\"nobody\""));
        }
        write_rule(name, text);
}

/* Until the answer to c is (or is not) an access error: polkitd reads rules
 * a moment after they change. Returns the last answer. */
static char *until(bool want_denied, const Call *c, const char *id, const char *event) {
        char *r = NULL;
        for (int k = 0; k < 100; k++) {
                free(r);
                r = call_as_nobody(c, "sss", id, event, "{}");
                if (access_error(r) == want_denied)
                        break;
                usleep(100000);
        }
        return r;
}

/* As nobody, on one connection: Send VALIDATE to id, then (polkitd stopped
 * with SIGSTOP meanwhile) the same again with a 3 s timeout: the answer of
 * the second call. Without the cache it would time out. */
static char *second_call_with_polkitd_frozen(const char *id) {
        int up[2], down[2];
        char buf[256] = "", c;
        pid_t pid;

        assert_int_equal(pipe(up), 0);
        assert_int_equal(pipe(down), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sd_bus *b = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *call = NULL, *reply = NULL;
                const char *out = "OK";

                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(10);
                if (sd_bus_new(&b) < 0 || sd_bus_set_address(b, address) < 0 || sd_bus_set_bus_client(b, 1) < 0 ||
                    sd_bus_start(b) < 0)
                        _exit(11);
                for (int k = 0; k < 2; k++) {
                        if (k == 1) {
                                (void) !write(up[1], "1", 1);
                                (void) !read(down[0], &c, 1);
                        }
                        sd_bus_error_free(&error);
                        if (sd_bus_message_new_method_call(b, &call, "org.xfsm1.OrderComponent",
                                                           "/org/xfsm1/OrderComponent", "org.xfsm1.Component",
                                                           "Send") < 0 ||
                            sd_bus_message_append(call, "sss", id, "VALIDATE", "{}") < 0)
                                _exit(12);
                        out = sd_bus_call(b, call, 3 * 1000000ULL, &error, &reply) >= 0 ? "OK" : error.name;
                        call = sd_bus_message_unref(call);
                        reply = sd_bus_message_unref(reply);
                }
                (void) !write(up[1], out, strlen(out));
                _exit(0);
        }
        close(up[1]);
        close(down[0]);
        assert_int_equal(read(up[0], &c, 1), 1);
        kill(polkit_pid, SIGSTOP);
        assert_int_equal(write(down[1], "1", 1), 1);
        ssize_t n = read(up[0], buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        kill(polkit_pid, SIGCONT);
        close(up[0]);
        close(down[1]);
        waitpid(pid, NULL, 0);
        return strdup(buf);
}

static unsigned count_in_log(const char *needle) {
        char path[400], line[2048];
        unsigned n = 0;
        FILE *f;

        snprintf(path, sizeof path, "%s/xfsmd.log", dir);
        f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                n += strstr(line, needle) != NULL;
        fclose(f);
        return n;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_unprivileged_caller_denied_and_nothing_changes(void **state) {
        Call send = { .component = "OrderComponent", .member = "Send" };
        Call create_call = { .component = "OrderComponent", .member = "CreateInstance" };
        char *id = create("OrderComponent", "Order", "{\"orderId\":\"A\"}"), *r;
        (void) state;

        r = call_as_nobody(&send, "sss", id, "VALIDATE", "{}");
        assert_true(access_error(r));
        free(r);
        /* with the interactive flag and no agent: still no */
        send.interactive = true;
        r = call_as_nobody(&send, "sss", id, "VALIDATE", "{}");
        assert_true(access_error(r));
        free(r);
        r = call_as_nobody(&create_call, "ss", "Order", "{}");
        assert_true(access_error(r));
        free(r);
        r = state_of("OrderComponent", id);
        assert_string_equal(r, "Created");
        free(r);

        /* reading stays open: ListInstances, and GetContext (org.xfsm1.read-context defaults to yes) */
        Call list = { .component = "OrderComponent", .member = "ListInstances" };
        r = call_as_nobody(&list, "ss", "", "");
        assert_string_equal(r, "OK");
        free(r);
        Call ctx = { .component = "OrderComponent", .member = "GetContext" };
        r = call_as_nobody(&ctx, "s", id);
        assert_string_equal(r, "OK");
        free(r);
        free(id);
}

static void test_example_rule_grants_one_group_one_component_until_removed(void **state) {
        Call order = { .component = "OrderComponent", .member = "Send" };
        Call payment = { .component = "PaymentComponent", .member = "Send" };
        char *o = create("OrderComponent", "Order", "{\"orderId\":\"B\"}"), *p, *r;
        (void) state;

        install_example_rule();
        r = until(false, &order, o, "VALIDATE");
        assert_string_equal(r, "OK");
        free(r);
        r = state_of("OrderComponent", o);
        assert_string_equal(r, "Validated");
        free(r);
        p = create("PaymentComponent", "Payment", "{\"orderId\":\"B-other\"}"); /* after the cascade */
        /* the other component: still no */
        r = call_as_nobody(&payment, "sss", p, "PROCESS", "{}");
        assert_true(access_error(r));
        free(r);
        r = state_of("PaymentComponent", p);
        assert_string_equal(r, "Pending");
        free(r);

        /* removing the rule takes effect without restarting xfsmd (the grant cache is dropped) */
        remove_rule("60-xfsm-orderdesk.rules");
        r = until(true, &order, o, "COMPLETE");
        assert_true(access_error(r));
        free(r);
        r = state_of("OrderComponent", o);
        assert_string_equal(r, "Validated");
        free(r);
        free(o);
        free(p);
}

/* xfsm-http's shipped rule (for nobody here): reading yes, creating and
 * sending no, even where an administrator could have authenticated; then
 * the example rule granting writes to one component, read before it. */
static void test_http_rule_reads_only_until_an_admin_grants_writes(void **state) {
        Call create_i = { .component = "OrderComponent", .member = "CreateInstance", .interactive = true };
        Call create_p = { .component = "PaymentComponent", .member = "CreateInstance", .interactive = true };
        Call ctx = { .component = "OrderComponent", .member = "GetContext" };
        char *id = create("OrderComponent", "Order", "{\"orderId\":\"H\"}"), *r = NULL;

        /* the defaults: an administrator could authenticate */
        r = call_as_nobody(&create_i, "ss", "Order", "{}");
        assert_string_equal(r, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
        free(r);
        r = NULL;

        install_http_rule("50-xfsm-http.rules", "50-xfsm-http.rules");
        for (int k = 0; k < 100; k++) {
                free(r);
                r = call_as_nobody(&create_i, "ss", "Order", "{}");
                if (strcmp(r, "org.freedesktop.DBus.Error.AccessDenied") == 0)
                        break;
                usleep(100000);
        }
        assert_string_equal(r, "org.freedesktop.DBus.Error.AccessDenied");
        free(r);
        r = call_as_nobody(&ctx, "s", id);
        assert_string_equal(r, "OK");
        free(r);

        /* the example: OrderComponent only */
        install_http_rule("40-xfsm-http-write.rules.example", "40-xfsm-http-write.rules");
        r = NULL;
        for (int k = 0; k < 100; k++) {
                free(r);
                r = call_as_nobody(&create_i, "ss", "Order", "{}");
                if (!access_error(r))
                        break;
                usleep(100000);
        }
        assert_string_equal(r, "OK");
        free(r);
        r = call_as_nobody(&create_p, "ss", "Payment", "{}");
        assert_string_equal(r, "org.freedesktop.DBus.Error.AccessDenied");
        free(r);

        remove_rule("40-xfsm-http-write.rules");
        remove_rule("50-xfsm-http.rules");
        free(id);
}

static void test_read_context_restricted_by_a_rule(void **state) {
        Call ctx = { .component = "OrderComponent", .member = "GetContext" };
        Call hist = { .component = "OrderComponent", .member = "GetHistory" };
        Call list = { .component = "OrderComponent", .member = "ListInstances" };
        char *id = create("OrderComponent", "Order", "{\"orderId\":\"secret\"}"), *r = NULL;
        (void) state;

        write_rule("40-xfsm-private.rules",
                   "polkit.addRule(function(action, subject) {\n"
                   "        if (action.id == \"org.xfsm1.read-context\" && subject.user == \"nobody\")\n"
                   "                return polkit.Result.NO;\n"
                   "});\n");
        for (int k = 0; k < 100; k++) {
                free(r);
                r = call_as_nobody(&ctx, "s", id);
                if (access_error(r))
                        break;
                usleep(100000);
        }
        assert_string_equal(r, "org.freedesktop.DBus.Error.AccessDenied");
        free(r);
        r = call_as_nobody(&hist, "s", id);
        assert_string_equal(r, "org.freedesktop.DBus.Error.AccessDenied");
        free(r);
        r = call_as_nobody(&list, "ss", "", "");
        assert_string_equal(r, "OK");
        free(r);
        remove_rule("40-xfsm-private.rules");
        free(id);
}

static void test_grants_are_cached_and_dropped_when_polkitd_goes(void **state) {
        Call order = { .component = "OrderComponent", .member = "Send" };
        char *o = create("OrderComponent", "Order", "{\"orderId\":\"C\"}"), *r;
        (void) state;

        write_rule("60-nobody-order.rules",
                   "polkit.addRule(function(action, subject) {\n"
                   "        if (action.id == \"org.xfsm1.send-event\" && subject.user == \"nobody\" &&\n"
                   "            action.lookup(\"component\") == \"OrderComponent\")\n"
                   "                return polkit.Result.YES;\n"
                   "});\n");
        r = until(false, &order, o, "VALIDATE");
        assert_string_equal(r, "OK");
        free(r);

        /* the same caller asking the same again is answered from the cache, even with polkitd frozen */
        r = second_call_with_polkitd_frozen(o);
        assert_string_equal(r, "org.xfsm1.Error.NoTransition"); /* past access, refused by the machine */
        free(r);

        /* polkitd gone: the grants go with it, and an unreachable polkit means no */
        stop_polkitd();
        r = call_as_nobody(&order, "sss", o, "COMPLETE", "{}");
        assert_string_equal(r, "org.freedesktop.DBus.Error.AccessDenied");
        free(r);
        r = state_of("OrderComponent", o);
        assert_string_equal(r, "Validated");
        free(r);
        assert_true(count_in_log("polkit could not be asked") >= 1);

        start_polkitd();
        r = until(false, &order, o, "COMPLETE");
        assert_string_equal(r, "OK");
        free(r);
        remove_rule("60-nobody-order.rules");
        free(o);
}

static void test_denials_logged_once_per_uid_and_action(void **state) {
        Call create_call = { .component = "PaymentComponent", .member = "CreateInstance" };
        char *r;
        (void) state;

        for (int k = 0; k < 5; k++) {
                r = call_as_nobody(&create_call, "ss", "Payment", "{}");
                assert_true(access_error(r));
                free(r);
        }
        /* one line for the five (the first denial of this action here), naming uid, pid, action and details */
        assert_int_equal(count_in_log("Denied org.xfsm1.create-instance to uid 65534 (pid "), 1);
        assert_int_equal(count_in_log("component=PaymentComponent machine=Payment event=: "), 1);
}

static void test_worker_socket_peer_is_checked_as_a_process(void **state) {
        char sock[300], log[300], peer[400];
        pid_t pid;
        char *r;
        (void) state;

        snprintf(sock, sizeof sock, "%s/worker.sock", dir);
        snprintf(log, sizeof log, "%s/worker.log", dir);
        char *args[] = { (char *) "--bus-address", address, (char *) data("toggle.yaml"), NULL };
        pid = spawn_socket_activated(sock, args, log);
        if (pid == 0) {
                print_message("SKIPPED: systemd-socket-activate is not installed\n");
                skip();
        }
        chmod(sock, 0777); /* in a real system: 0660, group xfsm */
        snprintf(peer, sizeof peer, "unix:path=%s", sock);

        Call c = { .peer = peer, .component = "Toggle", .member = "CreateInstance" };
        r = call_as_nobody(&c, "ss", "Switch", "{}");
        assert_true(access_error(r));
        free(r);

        write_rule("60-nobody-toggle.rules",
                   "polkit.addRule(function(action, subject) {\n"
                   "        if (action.id == \"org.xfsm1.create-instance\" && subject.user == \"nobody\" &&\n"
                   "            action.lookup(\"component\") == \"Toggle\" && action.lookup(\"machine\") == \"Switch\")\n"
                   "                return polkit.Result.YES;\n"
                   "});\n");
        for (int k = 0; k < 100; k++) {
                r = call_as_nobody(&c, "ss", "Switch", "{}");
                if (!access_error(r))
                        break;
                free(r);
                usleep(100000);
        }
        assert_string_equal(r, "OK");
        free(r);
        remove_rule("60-nobody-toggle.rules");
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        assert_true(wait_name(bus, "org.xfsm1.Toggle", false));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                /* first: it counts the denials of create-instance */
                cmocka_unit_test(test_denials_logged_once_per_uid_and_action),
                cmocka_unit_test(test_unprivileged_caller_denied_and_nothing_changes),
                cmocka_unit_test(test_example_rule_grants_one_group_one_component_until_removed),
                cmocka_unit_test(test_read_context_restricted_by_a_rule),
                cmocka_unit_test(test_http_rule_reads_only_until_an_admin_grants_writes),
                cmocka_unit_test(test_grants_are_cached_and_dropped_when_polkitd_goes),
                cmocka_unit_test(test_worker_socket_peer_is_checked_as_a_process),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
