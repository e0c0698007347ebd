/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* exec and unit actions through the real xfsmd on a private dbus-daemon
 * (no systemd here: exec runs as a plain child process, unit actions find
 * no systemd to ask): every outcome of a command, the context on stdin, the
 * limits, a crash while a command runs (one outcome after the restart,
 * "interrupted"), and the allow list of unit actions at load. */

#include <errno.h>
#include <fcntl.h>
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
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"

static char dir[256], address[512];
static pid_t broker_pid;
static sd_bus *bus;

static int setup(void **state) {
        (void) state;
        snprintf(dir, sizeof dir, "/tmp/xfsm-work-XXXXXX");
        assert_non_null(mkdtemp(dir));
        broker_pid = private_bus_start(dir, address, sizeof address, &bus);
        assert_true(broker_pid > 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[300];
        (void) state;
        sd_bus_flush_close_unref(bus);
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                (void) !system(cmd);
        return 0;
}

/* xfsmd hosting file; with a state directory and a configuration when given. */
static pid_t start_xfsmd(const char *file, const char *name, const char *state, const char *config, const char *log) {
        char *argv[16] = {};
        int n = 0;
        pid_t pid;

        argv[n++] = (char *) env_or("XFSMD", "build/daemon/xfsmd");
        argv[n++] = (char *) "--bus-address";
        argv[n++] = address;
        argv[n++] = (char *) "--config";
        argv[n++] = (char *) (config ? config : "/dev/null");
        if (state) {
                argv[n++] = (char *) "--state-dir";
                argv[n++] = (char *) state;
        }
        argv[n++] = (char *) file;
        pid = spawn(argv, log);
        assert_true(pid > 0);
        if (name)
                assert_true(wait_name(bus, name, true));
        return pid;
}

static void stop_xfsmd(pid_t pid, const char *name) {
        int status;
        kill(pid, SIGTERM);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(wait_name(bus, name, false));
}

static char *create(const char *component, const char *machine, const char *ctx) {
        sd_bus_message *reply = NULL;
        char dest[128], path[128];
        const char *p, *id;
        char *r;

        snprintf(dest, sizeof dest, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        assert_true(sd_bus_call_method(bus, dest, path, "org.xfsm1.Component", "CreateInstance", NULL, &reply, "ss",
                                       machine, ctx) >= 0);
        assert_true(sd_bus_message_read(reply, "os", &p, &id) > 0);
        r = strdup(id);
        sd_bus_message_unref(reply);
        return r;
}

static void send_event(const char *component, const char *id, const char *event) {
        char dest[128], path[128];
        snprintf(dest, sizeof dest, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        assert_true(sd_bus_call_method(bus, dest, path, "org.xfsm1.Component", "Send", NULL, NULL, "sss", id, event,
                                       "{}") >= 0);
}

static json_object *get_json(const char *component, const char *id, const char *method) {
        sd_bus_message *reply = NULL;
        char dest[128], path[128];
        const char *s;
        json_object *o;

        snprintf(dest, sizeof dest, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        assert_true(sd_bus_call_method(bus, dest, path, "org.xfsm1.Component", method, NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &s) > 0);
        o = json_tokener_parse(s);
        assert_non_null(o);
        sd_bus_message_unref(reply);
        return o;
}

/* The state once it is not `busy` any more (5 s at most): malloc'd. */
static char *settled_state(const char *component, const char *id, const char *busy) {
        for (int k = 0; k < 500; k++) {
                json_object *h = get_json(component, id, "GetHistory");
                size_t n = json_object_array_length(h);
                const char *to = NULL;
                if (n > 0) {
                        json_object *last = json_object_array_get_idx(h, n - 1), *v;
                        if (json_object_object_get_ex(last, "to", &v))
                                to = json_object_get_string(v);
                }
                if (to && strcmp(to, busy) != 0) {
                        char *r = strdup(to);
                        json_object_put(h);
                        return r;
                }
                json_object_put(h);
                usleep(10000);
        }
        return strdup(busy);
}

static const char *ctx_str(json_object *ctx, const char *key) {
        json_object *v;
        return json_object_object_get_ex(ctx, key, &v) ? json_object_get_string(v) : NULL;
}

static int ctx_int(json_object *ctx, const char *key) {
        json_object *v;
        return json_object_object_get_ex(ctx, key, &v) ? json_object_get_int(v) : -1000;
}

/* Run a Job with mode; its final state and context. */
static char *run_job(const char *mode, json_object **ret_ctx) {
        char ctx[128];
        char *id, *st;

        snprintf(ctx, sizeof ctx, "{\"mode\":\"%s\"}", mode);
        id = create("Jobs", "Job", ctx);
        send_event("Jobs", id, "RUN");
        st = settled_state("Jobs", id, "Running");
        *ret_ctx = get_json("Jobs", id, "GetContext");
        free(id);
        return st;
}

static void test_exec_outcomes_done_failed_timeout_garbage_signal_limit(void **state) {
        char log[300];
        json_object *ctx, *got;
        char *st;
        pid_t pid;
        (void) state;

        snprintf(log, sizeof log, "%s/jobs.log", dir);
        pid = start_xfsmd(data("jobs.yaml"), "org.xfsm1.Jobs", NULL, NULL, log);

        /* exit 0, a JSON object on stdout: EXEC_DONE with it as the payload; the context came on stdin */
        st = run_job("ok", &ctx);
        assert_string_equal(st, "Done");
        assert_int_equal(ctx_int(ctx, "answer"), 42);
        assert_true(json_object_object_get_ex(ctx, "got", &got));
        assert_string_equal(ctx_str(got, "mode"), "ok");
        free(st);
        json_object_put(ctx);

        /* printing nothing is done too, with nothing to merge */
        st = run_job("quiet", &ctx);
        assert_string_equal(st, "Done");
        free(st);
        json_object_put(ctx);

        st = run_job("fail", &ctx);
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "exit-status");
        assert_int_equal(ctx_int(ctx, "status"), 3);
        assert_string_equal(ctx_str(ctx, "stderr"), "first line\nboom\n");
        free(st);
        json_object_put(ctx);

        st = run_job("sleep", &ctx); /* timeoutMs 1500 */
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "timeout");
        free(st);
        json_object_put(ctx);

        st = run_job("garbage", &ctx);
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "not-json");
        assert_int_equal(ctx_int(ctx, "status"), 0);
        free(st);
        json_object_put(ctx);

        st = run_job("array", &ctx); /* JSON, but not an object */
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "not-json");
        free(st);
        json_object_put(ctx);

        st = run_job("signal", &ctx);
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "signal");
        assert_string_equal(ctx_str(ctx, "signal"), "TERM");
        free(st);
        json_object_put(ctx);

        st = run_job("flood", &ctx); /* 3 MB on stdout: over the 1 MiB limit */
        assert_string_equal(st, "Failed");
        assert_string_equal(ctx_str(ctx, "reason"), "output-limit");
        free(st);
        json_object_put(ctx);

        stop_xfsmd(pid, "org.xfsm1.Jobs");
        /* it said that exec runs unsandboxed here */
        FILE *f = fopen(log, "re");
        char line[1024];
        bool said = false;
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                said = said || strstr(line, "unsandboxed");
        fclose(f);
        assert_true(said);
}

/* kill -9 while a command runs: after the restart exactly one outcome, EXEC_FAILED "interrupted" */
static void test_crash_while_exec_runs_gives_one_interrupted_outcome(void **state) {
        char st_dir[300], log[300];
        json_object *ctx;
        unsigned outcomes = 0;
        char *id, *st;
        pid_t pid;
        (void) state;

        snprintf(st_dir, sizeof st_dir, "%s/state", dir);
        snprintf(log, sizeof log, "%s/crash.log", dir);
        pid = start_xfsmd(data("jobs.yaml"), "org.xfsm1.Jobs", st_dir, NULL, log);
        id = create("Jobs", "Job", "{\"mode\":\"sleep\"}");
        send_event("Jobs", id, "RUN"); /* acknowledged: its record, with the exec, is durable */
        usleep(200000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        assert_true(wait_name(bus, "org.xfsm1.Jobs", false));

        snprintf(log, sizeof log, "%s/crash2.log", dir);
        pid = start_xfsmd(data("jobs.yaml"), "org.xfsm1.Jobs", st_dir, NULL, log);
        st = settled_state("Jobs", id, "Running");
        assert_string_equal(st, "Failed");
        free(st);
        ctx = get_json("Jobs", id, "GetContext");
        assert_string_equal(ctx_str(ctx, "reason"), "interrupted");
        json_object_put(ctx);

        /* and only once, across one more restart (counted in the logs, which every start appends to) */
        stop_xfsmd(pid, "org.xfsm1.Jobs");
        snprintf(log, sizeof log, "%s/crash3.log", dir);
        pid = start_xfsmd(data("jobs.yaml"), "org.xfsm1.Jobs", st_dir, NULL, log);
        usleep(300000);
        ctx = get_json("Jobs", id, "GetContext");
        assert_string_equal(ctx_str(ctx, "reason"), "interrupted");
        json_object_put(ctx);
        for (int k = 1; k <= 3; k++) {
                char path[320], line[2048];
                snprintf(path, sizeof path, k == 1 ? "%s/crash.log" : "%s/crash%d.log", dir, k);
                FILE *f = fopen(path, "re");
                assert_non_null(f);
                while (fgets(line, sizeof line, f))
                        outcomes += strstr(line, "→ EXEC_") != NULL;
                fclose(f);
        }
        assert_int_equal(outcomes, 1);
        stop_xfsmd(pid, "org.xfsm1.Jobs");
        free(id);
}

static void test_unit_action_refused_at_load_unless_allowed(void **state) {
        char conf[300], log[300], line[1024];
        bool positioned = false;
        int status;
        pid_t pid;
        FILE *f;
        (void) state;

        /* no [Units] Allow=: the component does not load, with the action's position */
        snprintf(log, sizeof log, "%s/units-refused.log", dir);
        pid = start_xfsmd(data("units.yaml"), NULL, NULL, NULL, log);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        f = fopen(log, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                positioned = positioned || (strstr(line, "units.yaml:10:13:") &&
                                            strstr(line, "unit 'xfsm-test-backup.service' is not allowed"));
        fclose(f);
        assert_true(positioned);

        /* allowed by a glob: it loads; here no systemd answers, so the action fails, as an event */
        snprintf(conf, sizeof conf, "%s/xfsm.conf", dir);
        f = fopen(conf, "we");
        assert_non_null(f);
        fputs("[Units]\nAllow=xfsm-test-*.service\n", f);
        fclose(f);
        snprintf(log, sizeof log, "%s/units.log", dir);
        pid = start_xfsmd(data("units.yaml"), "org.xfsm1.Units", NULL, conf, log);
        char *id = create("Units", "Backup", "{}");
        send_event("Units", id, "GO");
        char *st = settled_state("Units", id, "Starting");
        assert_string_equal(st, "Failed");
        json_object *ctx = get_json("Units", id, "GetContext");
        assert_string_equal(ctx_str(ctx, "unit"), "xfsm-test-backup.service");
        assert_string_equal(ctx_str(ctx, "verb"), "start");
        assert_string_equal(ctx_str(ctx, "reason"), "org.freedesktop.DBus.Error.ServiceUnknown");
        json_object_put(ctx);
        free(st);
        free(id);
        stop_xfsmd(pid, "org.xfsm1.Units");
}

/* examples/fetch-pipeline.yaml for real: done at once, or three attempts and then given up */
static void test_example_fetch_pipeline_retries_three_times(void **state) {
        char file[400], log[300];
        json_object *ctx;
        char *id, *st;
        pid_t pid;
        (void) state;

        snprintf(file, sizeof file, "%s/fetch-pipeline.yaml", env_or("XFSM_EXAMPLES", "examples"));
        snprintf(log, sizeof log, "%s/fetch.log", dir);
        pid = start_xfsmd(file, "org.xfsm1.FetchPipeline", NULL, NULL, log);

        id = create("FetchPipeline", "Pipeline", "{\"path\": \"/etc/passwd\"}");
        send_event("FetchPipeline", id, "START");
        st = settled_state("FetchPipeline", id, "Fetch");
        /* Process is left at once (an auto transition) */
        free(st);
        st = settled_state("FetchPipeline", id, "Process");
        assert_string_equal(st, "Done");
        ctx = get_json("FetchPipeline", id, "GetContext");
        assert_true(ctx_int(ctx, "bytes") > 0);
        assert_int_equal(ctx_int(ctx, "attempts"), 1);
        json_object_put(ctx);
        free(st);
        free(id);

        id = create("FetchPipeline", "Pipeline", "{\"path\": \"/nonexistent\"}");
        send_event("FetchPipeline", id, "START");
        for (int k = 0; k < 500; k++) {
                ctx = get_json("FetchPipeline", id, "GetContext");
                bool gave_up = ctx_int(ctx, "attempts") == 3 && ctx_str(ctx, "lastError") &&
                               strstr(ctx_str(ctx, "lastError"), "cannot read");
                json_object_put(ctx);
                st = settled_state("FetchPipeline", id, "Fetch");
                if (gave_up && strcmp(st, "GaveUp") == 0)
                        break;
                free(st);
                st = NULL;
                usleep(10000);
        }
        assert_non_null(st);
        assert_string_equal(st, "GaveUp");
        json_object *hist = get_json("FetchPipeline", id, "GetHistory");
        unsigned failed = 0;
        for (size_t k = 0; k < json_object_array_length(hist); k++) {
                json_object *e = json_object_array_get_idx(hist, k), *v;
                failed += json_object_object_get_ex(e, "event", &v) && strcmp(json_object_get_string(v), "EXEC_FAILED") == 0;
        }
        assert_int_equal(failed, 3);
        json_object_put(hist);
        free(st);
        free(id);
        stop_xfsmd(pid, "org.xfsm1.FetchPipeline");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec_outcomes_done_failed_timeout_garbage_signal_limit),
                cmocka_unit_test(test_crash_while_exec_runs_gives_one_interrupted_outcome),
                cmocka_unit_test(test_unit_action_refused_at_load_unless_allowed),
                cmocka_unit_test(test_example_fetch_pipeline_retries_three_times),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
