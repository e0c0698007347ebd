/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl, driven as a user drives it: the built binary ($XFSMCTL), real
 * files, exit codes and output checked (JSON parsed with json-c). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

typedef struct Run {
        int status;
        char *out;
        char *err;
} Run;

static const char *data(const char *name) {
        static char buf[4][1024];
        static unsigned k;
        const char *d = getenv("XFSM_TEST_DATA");
        char *b = buf[k++ % 4];
        snprintf(b, 1024, "%s/%s", d ? d : "tests/data", name);
        return b;
}

static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        char *s = NULL;
        size_t n = 0;
        if (!f)
                return strdup("");
        FILE *m = open_memstream(&s, &n);
        char buf[65536];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, r, m);
        fclose(m);
        fclose(f);
        return s;
}

/* Run xfsmctl with a shell-quoted argument string. */
static Run run(const char *fmt, ...) {
        char args[8192], cmd[16384], out[] = "/tmp/xfsmctl-out-XXXXXX", err[] = "/tmp/xfsmctl-err-XXXXXX";
        const char *bin = getenv("XFSMCTL");
        va_list ap;
        Run r;
        int fo = mkstemp(out), fe = mkstemp(err);

        assert_true(fo >= 0 && fe >= 0);
        close(fo);
        close(fe);
        va_start(ap, fmt);
        vsnprintf(args, sizeof args, fmt, ap);
        va_end(ap);
        snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", bin ? bin : "build/tools/xfsmctl", args, out, err);
        r.status = system(cmd);
        r.status = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128;
        r.out = slurp(out);
        r.err = slurp(err);
        unlink(out);
        unlink(err);
        return r;
}

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
}

static json_object *get(json_object *o, const char *path) {
        char key[128];
        while (o && *path) {
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t) (dot - path) : strlen(path);
                snprintf(key, sizeof key, "%.*s", (int) n, path);
                if (json_object_is_type(o, json_type_array))
                        o = json_object_array_get_idx(o, (size_t) atoi(key));
                else if (!json_object_object_get_ex(o, key, &o))
                        return NULL;
                path += n + (dot ? 1 : 0);
        }
        return o;
}

static const char *str(json_object *o, const char *path) {
        json_object *v = get(o, path);
        assert_non_null(v);
        return json_object_get_string(v);
}

static void test_simulate_demo_pair_shows_the_cascade(void **state) {
        (void) state;
        Run r = run("--json simulate %s %s --machine Order --context '{\"orderId\":\"O1\",\"amount\":10,\"customerId\":\"C1\"}' "
                    "--create 'Payment:{\"orderId\":\"O1\"}' --create 'Payment:{\"orderId\":\"O2\"}' VALIDATE COMPLETE",
                    data("xcomponent/demo-order.yaml"), data("xcomponent/demo-payment.yaml"));
        json_object *o = json_tokener_parse(r.out), *t;
        unsigned payments = 0;

        assert_int_equal(r.status, 0);
        assert_non_null(o);
        assert_string_equal(str(o, "machine"), "Order");
        assert_int_equal(json_object_array_length(get(o, "steps")), 2);
        assert_string_equal(str(o, "steps.0.event"), "VALIDATE");
        assert_string_equal(str(o, "steps.0.from"), "Created");
        assert_string_equal(str(o, "steps.0.to"), "Validated");
        assert_true(json_object_get_boolean(get(o, "steps.0.accepted")));
        assert_string_equal(str(o, "final.state"), "Completed");
        assert_string_equal(str(o, "final.status"), "completed");
        assert_string_equal(str(o, "final.context.orderId"), "O1");
        t = get(o, "transitions");
        for (size_t k = 0; k < json_object_array_length(t); k++) {
                json_object *x = json_object_array_get_idx(t, k);
                if (strcmp(str(x, "machine"), "Payment") == 0) {
                        assert_string_equal(str(x, "from"), "Pending");
                        assert_string_equal(str(x, "to"), "Processing");
                        assert_string_equal(str(x, "event"), "PROCESS");
                        payments++;
                }
        }
        assert_int_equal(payments, 2); /* no matchingRules: every Payment in Pending */
        /* order of transitions: Order, Payment, Payment, Order */
        assert_string_equal(str(t, "0.machine"), "Order");
        assert_string_equal(str(t, "3.to"), "Completed");
        json_object_put(o);
        run_done(&r);
}

static void test_simulate_matching_variant_moves_only_that_payment(void **state) {
        (void) state;
        Run r = run("--json simulate %s %s --machine Order --context '{\"orderId\":\"O2\",\"amount\":10}' "
                    "--create 'Payment:{\"orderId\":\"O1\"}' --create 'Payment:{\"orderId\":\"O2\"}' VALIDATE",
                    data("demo-order-matching.yaml"), data("xcomponent/demo-payment.yaml"));
        json_object *o = json_tokener_parse(r.out), *t;
        unsigned moved = 0;

        assert_int_equal(r.status, 0);
        t = get(o, "transitions");
        for (size_t k = 0; k < json_object_array_length(t); k++)
                if (strcmp(str(json_object_array_get_idx(t, k), "machine"), "Payment") == 0)
                        moved++;
        assert_int_equal(moved, 1);
        json_object_put(o);
        run_done(&r);
}

static void test_simulate_refused_event_keeps_state_and_exits_1(void **state) {
        (void) state;
        Run r = run("--json simulate %s --machine Order COMPLETE VALIDATE", data("xcomponent/demo-order.yaml"));
        json_object *o = json_tokener_parse(r.out);

        assert_int_equal(r.status, 1);
        assert_false(json_object_get_boolean(get(o, "steps.0.accepted")));
        assert_string_equal(str(o, "steps.0.from"), "Created");
        assert_string_equal(str(o, "steps.0.to"), "Created");
        assert_true(json_object_get_boolean(get(o, "steps.1.accepted")));
        assert_non_null(strstr(r.err, "org.xfsm1.Error.NoTransition"));
        json_object_put(o);
        run_done(&r);
}

static void test_simulate_clock_steps_fire_timers(void **state) {
        (void) state;
        Run r = run("--json simulate %s LOGIN +999 HEARTBEAT +999 LOGOUT +200", data("timers.yaml"));
        json_object *o = json_tokener_parse(r.out);

        assert_int_equal(r.status, 0);
        assert_int_equal(json_object_array_length(get(o, "steps")), 3); /* +MS entries make none */
        assert_string_equal(str(o, "final.state"), "Closed");
        json_object_put(o);
        run_done(&r);

        r = run("--json simulate %s LOGIN +1000 --advance 5", data("timers.yaml"));
        o = json_tokener_parse(r.out);
        assert_string_equal(str(o, "final.state"), "Expired");
        assert_string_equal(str(o, "final.status"), "error");
        assert_string_equal(str(o, "transitions.1.event"), "IDLE_TIMEOUT");
        json_object_put(o);
        run_done(&r);
}

static void test_simulate_events_from_file_and_quiet(void **state) {
        (void) state;
        char path[] = "/tmp/xfsmctl-events-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs("# a comment\n\n", f);
        for (int k = 0; k < 100001; k++)
                fputs("TOGGLE\n", f);
        fclose(f);

        Run r = run("simulate %s --quiet --events-from %s", data("toggle.yaml"), path);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "state=On"));
        assert_non_null(strstr(r.out, "100001 handled"));
        assert_null(strstr(r.out, "Off -> On")); /* quiet: no transitions */
        run_done(&r);

        r = run("--json simulate %s --quiet --events-from - < %s", data("toggle.yaml"), path);
        json_object *o = json_tokener_parse(r.out);
        assert_int_equal(r.status, 0);
        assert_int_equal(json_object_get_int(get(o, "events")), 100001);
        assert_string_equal(str(o, "final.state"), "On");
        json_object_put(o);
        run_done(&r);
        unlink(path);
}

static void test_simulate_payloads_merge(void **state) {
        (void) state;
        Run r = run("--json simulate %s --machine Order 'VALIDATE:{\"by\":\"ann\",\"n\":3}'",
                    data("xcomponent/demo-order.yaml"));
        json_object *o = json_tokener_parse(r.out);
        assert_int_equal(r.status, 0);
        assert_string_equal(str(o, "final.context.by"), "ann");
        assert_int_equal(json_object_get_int(get(o, "final.context.n")), 3);
        json_object_put(o);
        run_done(&r);

        r = run("simulate %s --machine Order 'VALIDATE:[1]'", data("xcomponent/demo-order.yaml"));
        assert_int_equal(r.status, 1);
        assert_non_null(strstr(r.err, "InvalidPayload"));
        run_done(&r);
}

static void test_simulate_bad_usage_exits_2(void **state) {
        (void) state;
        Run r = run("simulate --machine Order VALIDATE");
        assert_int_equal(r.status, 2);
        run_done(&r);
        r = run("simulate %s --machine Order +soon", data("xcomponent/demo-order.yaml"));
        assert_int_equal(r.status, 2);
        run_done(&r);
        r = run("simulate %s %s VALIDATE", data("xcomponent/demo-order.yaml"), data("xcomponent/demo-payment.yaml"));
        assert_int_equal(r.status, 2); /* which machine? */
        run_done(&r);
        r = run("frobnicate");
        assert_int_equal(r.status, 2);
        run_done(&r);
        r = run("--help");
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "simulate"));
        run_done(&r);
}

static void test_validate_reports_positions_and_exit_codes(void **state) {
        (void) state;
        Run r = run("validate %s", data("xcomponent/payment.yaml"));
        assert_int_equal(r.status, 1);
        assert_non_null(strstr(r.err, "payment.yaml:93:13: error: 'to' names unknown state 'Refunded'"));
        run_done(&r);

        r = run("validate %s %s", data("xcomponent/demo-order.yaml"), data("xcomponent/kyc.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.err, "demo-order.yaml:39:13: warning: cascade without matchingRules"));
        run_done(&r);

        r = run("--json validate %s %s", data("xcomponent/demo-order.yaml"), data("broken/two-entry-states.yaml"));
        json_object *o = json_tokener_parse(r.out);
        assert_int_equal(r.status, 1);
        assert_false(json_object_get_boolean(get(o, "valid")));
        assert_true(json_object_get_boolean(get(o, "files.0.valid")));
        assert_false(json_object_get_boolean(get(o, "files.1.valid")));
        assert_int_equal(json_object_get_int(get(o, "files.1.diagnostics.0.line")), 10);
        assert_int_equal(json_object_get_int(get(o, "files.1.diagnostics.0.column")), 15);
        json_object_put(o);
        run_done(&r);

        r = run("validate /nonexistent.yaml");
        assert_int_equal(r.status, 1);
        assert_non_null(strstr(r.err, "/nonexistent.yaml"));
        run_done(&r);
        r = run("validate");
        assert_int_equal(r.status, 2);
        run_done(&r);
}

static void test_graph_dot_and_mermaid(void **state) {
        (void) state;
        Run r = run("graph %s", data("xcomponent/demo-order.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "digraph \"OrderComponent\""));
        assert_non_null(strstr(r.out, "\"Order.Created\" -> \"Order.Validated\" [label=\"VALIDATE\"]"));
        run_done(&r);

        r = run("graph %s --format mermaid --machine Payment", data("xcomponent/demo-payment.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "stateDiagram-v2"));
        assert_non_null(strstr(r.out, "[*] --> Payment_Pending"));
        assert_non_null(strstr(r.out, "Payment_Pending --> Payment_Processing : PROCESS"));
        assert_non_null(strstr(r.out, "Payment_Completed --> [*]"));
        run_done(&r);

        r = run("graph %s --format svg", data("xcomponent/demo-payment.yaml"));
        assert_int_equal(r.status, 2);
        run_done(&r);
        r = run("graph %s --machine Nope", data("xcomponent/demo-payment.yaml"));
        assert_int_equal(r.status, 1);
        run_done(&r);
}

static const char *example(const char *name) {
        static char buf[4][1024];
        static unsigned k;
        const char *d = getenv("XFSM_EXAMPLES");
        char *b = buf[k++ % 4];
        snprintf(b, 1024, "%s/%s", d ? d : "examples", name);
        return b;
}

static void test_simulate_statechart_history_and_parallel_regions(void **state) {
        (void) state;
        Run r = run("--json simulate %s --context '{\"track\":1}' POWER PLAY NEXT PAUSE POWER POWER",
                    example("media-player.yaml"));
        json_object *o = json_tokener_parse(r.out);

        assert_int_equal(r.status, 0);
        assert_string_equal(str(o, "steps.0.to"), "Stopped");
        assert_string_equal(str(o, "steps.4.from"), "Paused");
        assert_string_equal(str(o, "steps.4.to"), "Off");
        assert_string_equal(str(o, "steps.5.to"), "Paused"); /* deep history */
        assert_int_equal(json_object_get_int(get(o, "final.context.track")), 2);
        json_object_put(o);
        run_done(&r);

        r = run("--json simulate %s START CHUNK SENT CLEAN", example("upload-job.yaml"));
        o = json_tokener_parse(r.out);
        assert_int_equal(r.status, 0);
        assert_string_equal(str(o, "steps.0.to"), "Sending,Scanning"); /* both regions */
        assert_string_equal(str(o, "steps.2.to"), "Sent,Scanning");
        /* both regions final: done.state.Work takes the job on, within the same event */
        assert_string_equal(str(o, "steps.3.to"), "Published");
        assert_string_equal(str(o, "final.status"), "completed");
        json_object *t = get(o, "transitions");
        assert_string_equal(str(t, "4.event"), "done.state.Work");
        json_object_put(o);
        run_done(&r);
}

/* eventless and targetless transitions: simulated, drawn */
static void test_simulate_and_graph_eventless_and_targetless(void **state) {
        (void) state;
        Run r = run("--json simulate %s --context '{\"items\":0,\"size\":2}' ITEM ITEM SHIP", example("packing.yaml"));
        json_object *o = json_tokener_parse(r.out), *t;

        assert_int_equal(r.status, 0);
        assert_string_equal(str(o, "steps.0.to"), "Filling,Blank"); /* targetless: nothing left */
        assert_string_equal(str(o, "steps.1.to"), "Ready");         /* eventless, then done.state.Open */
        t = get(o, "transitions");
        assert_string_equal(str(t, "2.from"), "Filling,Blank");
        assert_string_equal(str(t, "2.to"), "Sealed,Printed"); /* both regions in one microstep */
        assert_string_equal(str(t, "2.event"), "");
        assert_string_equal(str(o, "final.state"), "Shipped");
        json_object_put(o);
        run_done(&r);

        r = run("simulate %s --context '{\"items\":1,\"size\":2}' ITEM", example("packing.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Filling,Blank -> Sealed,Printed (eventless)"));
        run_done(&r);

        r = run("graph %s", example("packing.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "\"Station.Open\" -> \"Station.Open\" [label=\"ITEM (targetless)\"]"));
        assert_non_null(strstr(r.out, "\"Station.Filling\" -> \"Station.Sealed\" [label=\"(eventless) [guarded]\", style=dotted]"));
        run_done(&r);
        r = run("graph %s --format mermaid", example("packing.yaml"));
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Station_Blank --> Station_Printed : (eventless) [guarded]"));
        run_done(&r);
}

static void test_simulate_guards_and_delayed_sends(void **state) {
        (void) state;
        Run r = run("--json simulate %s CONNECT FAILED +1000 FAILED +1000 FAILED", example("connection.yaml"));
        json_object *o = json_tokener_parse(r.out);

        assert_int_equal(r.status, 0);
        assert_string_equal(str(o, "final.state"), "Down"); /* the guard counted three attempts */
        assert_int_equal(json_object_get_int(get(o, "final.context.attempts")), 3);
        json_object_put(o);
        run_done(&r);

        r = run("--json simulate %s CONNECT +5000", example("connection.yaml"));
        o = json_tokener_parse(r.out);
        assert_string_equal(str(o, "final.state"), "Down"); /* the watchdog's delayed send */
        assert_string_equal(str(o, "transitions.1.event"), "GIVE_UP_WAITING");
        json_object_put(o);
        run_done(&r);

        r = run("--json simulate %s CONNECT CONNECTED +10000", example("connection.yaml"));
        o = json_tokener_parse(r.out);
        assert_string_equal(str(o, "final.state"), "Up"); /* the watchdog was cancelled on leaving */
        json_object_put(o);
        run_done(&r);

        r = run("validate %s %s %s", example("connection.yaml"), example("media-player.yaml"), example("upload-job.yaml"));
        assert_int_equal(r.status, 0);
        run_done(&r);
}

static void test_enable_and_disable_write_the_bus_files(void **state) {
        char tmp[] = "/tmp/xfsmctl-enable-XXXXXX", cmd[2048], env[1024];
        (void) state;

        assert_non_null(mkdtemp(tmp));
        snprintf(cmd, sizeof cmd, "mkdir -p %s/comp %s/svc %s/pol && cp %s %s/comp/order.yaml", tmp, tmp, tmp,
                 data("xcomponent/demo-order.yaml"), tmp);
        assert_int_equal(system(cmd), 0);
        snprintf(env, sizeof env, "XFSM_COMPONENT_PATH=%s/comp XFSM_DBUS_SERVICES_DIR=%s/svc XFSM_DBUS_POLICY_DIR=%s/pol",
                 tmp, tmp, tmp);
        snprintf(cmd, sizeof cmd, "%s %s enable order >/dev/null 2>&1", env, getenv("XFSMCTL") ?: "build/tools/xfsmctl");
        assert_int_equal(WEXITSTATUS(system(cmd)), 0);
        snprintf(cmd, sizeof cmd, "grep -q '^SystemdService=xfsm@order.service$' %s/svc/org.xfsm1.OrderComponent.service && "
                 "grep -q 'allow send_destination=\"org.xfsm1.OrderComponent\"' %s/pol/org.xfsm1.OrderComponent.conf",
                 tmp, tmp);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s %s disable order >/dev/null 2>&1 && ! test -e %s/svc/org.xfsm1.OrderComponent.service",
                 env, getenv("XFSMCTL") ?: "build/tools/xfsmctl", tmp);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s %s enable nosuch >/dev/null 2>&1", env, getenv("XFSMCTL") ?: "build/tools/xfsmctl");
        assert_int_equal(WEXITSTATUS(system(cmd)), 1);
        snprintf(cmd, sizeof cmd, "%s enable ../etc >/dev/null 2>&1", getenv("XFSMCTL") ?: "build/tools/xfsmctl");
        assert_int_equal(WEXITSTATUS(system(cmd)), 2);
        /* two files with one name: refused, nothing written */
        snprintf(cmd, sizeof cmd, "cp %s/comp/order.yaml %s/comp/order2.yaml && %s %s enable order 2>&1 | "
                 "grep -q 'both name component OrderComponent' && ! test -e %s/svc/org.xfsm1.OrderComponent.service",
                 tmp, tmp, env, getenv("XFSMCTL") ?: "build/tools/xfsmctl", tmp);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s %s enable order >/dev/null 2>&1", env, getenv("XFSMCTL") ?: "build/tools/xfsmctl");
        assert_int_equal(WEXITSTATUS(system(cmd)), 1);
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_simulate_demo_pair_shows_the_cascade),
                cmocka_unit_test(test_simulate_matching_variant_moves_only_that_payment),
                cmocka_unit_test(test_simulate_refused_event_keeps_state_and_exits_1),
                cmocka_unit_test(test_simulate_clock_steps_fire_timers),
                cmocka_unit_test(test_simulate_events_from_file_and_quiet),
                cmocka_unit_test(test_simulate_payloads_merge),
                cmocka_unit_test(test_simulate_bad_usage_exits_2),
                cmocka_unit_test(test_validate_reports_positions_and_exit_codes),
                cmocka_unit_test(test_graph_dot_and_mermaid),
                cmocka_unit_test(test_simulate_statechart_history_and_parallel_regions),
                cmocka_unit_test(test_simulate_guards_and_delayed_sends),
                cmocka_unit_test(test_simulate_and_graph_eventless_and_targetless),
                cmocka_unit_test(test_enable_and_disable_write_the_bus_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
