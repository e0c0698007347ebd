/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm nodes and Redis for the integration tests (nodes.h): what
 * test-bridge, test-bridge-sentinel, test-xcompat and test-http-remote set
 * up alike, each with its own Redis URL, bridge configuration, durability
 * and components. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "nodes.h"

int nodes_free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &l), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

void nodes_run(const char *fmt, ...) {
        char cmd[8192];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        if (system(cmd) != 0)
                fail_msg("failed: %s", cmd);
}

int process_stop(pid_t *pid, int sig) {
        int status = 0;

        if (*pid <= 0)
                return 0;
        kill(*pid, sig);
        waitpid(*pid, &status, 0);
        *pid = 0;
        return status;
}

/* ---- Redis ------------------------------------------------------------------------ */

char *redis_cli(int port, const char *fmt, ...) {
        /* CLIENT LIST of a server with a dozen clients (sentinels, replicas,
         * bridges) runs past 4 KiB, and a client cut off there is not seen */
        static char out[1 << 16];
        char cmd[8192], args[7000], line[512];
        size_t n = 0;
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        vsnprintf(args, sizeof args, fmt, ap);
        va_end(ap);
        snprintf(cmd, sizeof cmd, "redis-cli -p %d %s 2>/dev/null", port, args);
        out[0] = 0;
        p = popen(cmd, "re");
        if (!p)
                return out;
        while (fgets(line, sizeof line, p)) {
                line[strcspn(line, "\n")] = 0;
                n += snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "", line);
                if (n >= sizeof out)
                        break;
        }
        pclose(p);
        return out;
}

void redis_wait_ready(int port) {
        for (int k = 0; k < 500 && strcmp(redis_cli(port, "PING"), "PONG") != 0; k++)
                usleep(10000);
        assert_string_equal(redis_cli(port, "PING"), "PONG");
}

pid_t redis_server_start(const char *root, const char *name, int port, bool durable, char *const extra[]) {
        char p[16], rdir[400], log[420];
        char *argv[48] = { (char *) "/usr/bin/redis-server", (char *) "--port", p, (char *) "--bind",
                           (char *) "127.0.0.1", (char *) "--dir", rdir, (char *) "--save", (char *) "",
                           (char *) "--maxmemory-policy", (char *) "noeviction", (char *) "--appendonly" };
        size_t n = 12;
        pid_t pid;

        snprintf(p, sizeof p, "%d", port);
        snprintf(rdir, sizeof rdir, "%s/%s", root, name);
        snprintf(log, sizeof log, "%s/%s.log", root, name);
        mkdir(rdir, 0755);
        if (durable) {
                argv[n++] = (char *) "yes";
                argv[n++] = (char *) "--appendfsync";
                argv[n++] = (char *) "always";
        } else
                argv[n++] = (char *) "no";
        for (size_t k = 0; extra && extra[k]; k++) {
                assert_true(n < sizeof argv / sizeof *argv - 1);
                argv[n++] = extra[k];
        }
        argv[n] = NULL;
        pid = spawn(argv, log);
        assert_true(pid > 0);
        redis_wait_ready(port);
        return pid;
}

/* ---- nodes ------------------------------------------------------------------------ */

static const char *bridge_bin(void) {
        return env_or("XFSM_BRIDGE", "build/daemon/bridge/xfsm-redis-bridge");
}

void node_setup(Node *n, const char *root, const char *nodes_dir) {
        snprintf(n->dir, sizeof n->dir, "%s/%s", root, n->name);
        if (nodes_dir)
                snprintf(n->nodes_dir, sizeof n->nodes_dir, "%s", nodes_dir);
        else
                snprintf(n->nodes_dir, sizeof n->nodes_dir, "%s/nodes.d", n->dir);
        nodes_run("mkdir -p %s/comp %s/state %s/bridge-state %s", n->dir, n->dir, n->dir, n->nodes_dir);
        for (size_t k = 0; k < NODE_COMPONENTS_MAX && n->files[k]; k++)
                nodes_run("cp %s %s/comp/%s.yaml", data(n->files[k]), n->dir, n->stems[k]);
        nodes_run("%s --generate-key %s/key > /dev/null && cp %s/key.pub %s/%s.pub", bridge_bin(), n->dir, n->dir,
                  n->nodes_dir, n->name);
        n->broker = private_bus_start(n->dir, n->address, sizeof n->address, &n->bus);
        assert_true(n->broker > 0);
}

pid_t node_spawn_xfsmd(Node *n, char *const options[], const char *log) {
        char comp[400], state[400], default_log[400];
        char *argv[32] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", n->address };
        size_t a = 3;

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(state, sizeof state, "%s/state", n->dir);
        snprintf(default_log, sizeof default_log, "%s/xfsmd.log", n->dir);
        for (size_t k = 0; options && options[k]; k++)
                argv[a++] = options[k];
        argv[a++] = (char *) "--state-dir";
        argv[a++] = state;
        for (size_t k = 0; k < NODE_COMPONENTS_MAX && n->stems[k]; k++) {
                argv[a++] = (char *) "--component";
                argv[a++] = (char *) n->stems[k];
        }
        assert_true(a < sizeof argv / sizeof *argv);
        argv[a] = NULL;
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        return spawn(argv, log ?: default_log);
}

pid_t node_spawn_bridge(Node *n, const char *node_name, const char *state_dir, const char *log) {
        char comp[400], key[400], state[400], default_log[400];
        pid_t pid;

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(key, sizeof key, "%s/key.key", n->dir);
        snprintf(state, sizeof state, "%s/bridge-state", n->dir);
        snprintf(default_log, sizeof default_log, "%s/bridge.log", n->dir);
        /* --config always: never the host's /etc/xfsm/bridge.conf */
        char *argv[] = { (char *) bridge_bin(), (char *) "--bus-address", n->address, (char *) "--node",
                         (char *) (node_name ?: n->name), (char *) "--redis", n->redis_url, (char *) "--state-dir",
                         (char *) (state_dir ?: state), (char *) "--nodes-dir", n->nodes_dir, (char *) "--node-key",
                         key, (char *) "--config", n->config, NULL };

        assert_true(n->redis_url[0] && n->config[0]);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        if (n->credentials)
                setenv("CREDENTIALS_DIRECTORY", n->credentials, 1);
        if (n->log_append) {
                /* appended: the log of every start */
                char *sh[5 + sizeof argv / sizeof *argv] = { (char *) "/bin/sh", (char *) "-c",
                                                             (char *) "log=$1; shift; exec \"$@\" >>\"$log\" 2>&1",
                                                             (char *) "sh", (char *) (log ?: default_log) };

                for (size_t k = 0; argv[k]; k++)
                        sh[5 + k] = argv[k];
                pid = spawn(sh, NULL);
        } else
                pid = spawn(argv, log ?: default_log);
        if (n->credentials)
                unsetenv("CREDENTIALS_DIRECTORY");
        return pid;
}

bool node_bridge_knows(Node *n, const char *remote) {
        sd_bus_message *reply = NULL;
        const char *xml;
        char needle[128];
        bool found = false;

        if (sd_bus_call_method(n->bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.freedesktop.DBus.Introspectable",
                               "Introspect", NULL, &reply, "") < 0)
                return false;
        snprintf(needle, sizeof needle, "<node name=\"%s\"", remote);
        if (sd_bus_message_read(reply, "s", &xml) > 0)
                found = strstr(xml, needle) != NULL;
        sd_bus_message_unref(reply);
        return found;
}

void node_wait_bridge(Node *n, const char *remote, int tries) {
        for (int k = 0; k < tries && !node_bridge_knows(n, remote); k++)
                usleep(10000);
        assert_true(node_bridge_knows(n, remote));
}

char *node_create(Node *n, const char *component, const char *machine, const char *ctx) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *p, *id;
        char *r;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "CreateInstance", &error, &reply, "ss", machine,
                               ctx) < 0)
                fail_msg("CreateInstance %s: %s", component, error.message);
        assert_int_equal(sd_bus_message_read(reply, "os", &p, &id), 1);
        r = strdup(id);
        sd_bus_message_unref(reply);
        return r;
}

int node_stop(Node *n) {
        int b = process_stop(&n->bridge, SIGTERM), x = process_stop(&n->xfsmd, SIGTERM);

        n->bus = sd_bus_flush_close_unref(n->bus);
        process_stop(&n->broker, SIGTERM);
        return !(WIFEXITED(b) && WEXITSTATUS(b) == 0) + !(WIFEXITED(x) && WEXITSTATUS(x) == 0);
}

void nodes_remove(const char *dir) {
        char cmd[600];

        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                assert_int_equal(system(cmd), 0);
}

/* ---- calls, xfsmctl ---------------------------------------------------------------- */

int node_remote_call(Node *n, const char *component, const char *method, sd_bus_error *error,
                     sd_bus_message **reply, const char *types, ...) {
        sd_bus_message *m = NULL;
        char path[256];
        va_list ap;
        int r;

        snprintf(path, sizeof path, "/org/xfsm1/Bridge/%s", component);
        r = sd_bus_message_new_method_call(n->bus, &m, "org.xfsm1.Bridge", path, "org.xfsm1.Component", method);
        assert_true(r >= 0);
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        assert_true(r >= 0);
        r = sd_bus_call(n->bus, m, 30 * 1000000ULL, error, reply);
        sd_bus_message_unref(m);
        return r;
}

int node_send(Node *n, const char *component, const char *id, const char *event, const char *payload) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        int r;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        r = sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "Send", NULL, &reply, "sss", id, event, payload);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 0;
}

long node_context_number(Node *n, const char *component, const char *id, const char *key) {
        char bn[128], path[128], needle[64];
        sd_bus_message *reply = NULL;
        const char *ctx, *p;
        long v = -1;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "GetContext", NULL, &reply, "s", id) < 0)
                return -1;
        snprintf(needle, sizeof needle, "\"%s\":", key);
        if (sd_bus_message_read(reply, "s", &ctx) > 0 && (p = strstr(ctx, needle)))
                v = strtol(p + strlen(needle), NULL, 10);
        sd_bus_message_unref(reply);
        return v;
}

char *node_state(Node *n, const char *component, const char *machine, const char *id) {
        char bn[128], path[256], *v = NULL, *escaped = NULL, prefix[160];

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(prefix, sizeof prefix, "/org/xfsm1/%s/%s", component, machine);
        assert_true(sd_bus_path_encode(prefix, id, &escaped) >= 0);
        snprintf(path, sizeof path, "%s", escaped);
        free(escaped);
        if (sd_bus_get_property_string(n->bus, bn, path, "org.xfsm1.Instance", "State", NULL, &v) < 0)
                return strdup("?");
        return v;
}

size_t node_history_length(Node *n, const char *component, const char *id) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        const char *json;
        size_t count = 0;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        assert_true(sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "GetHistory", NULL, &reply, "s", id) >=
                    0);
        assert_true(sd_bus_message_read(reply, "s", &json) > 0);
        for (const char *p = json; (p = strstr(p, "\"event\"")); p++)
                count++;
        sd_bus_message_unref(reply);
        return count;
}

char *node_xfsmctl(Node *n, int *ret_status, const char *args) {
        char cmd[1200], *out = NULL;
        size_t len = 0;
        FILE *f;

        snprintf(cmd, sizeof cmd, "%s --no-ask-password --bus '%s' %s 2>&1", env_or("XFSMCTL", "build/tools/xfsmctl"),
                 n->address, args);
        f = popen(cmd, "r");
        assert_non_null(f);
        if (getdelim(&out, &len, 0, f) < 0) {
                free(out);
                out = strdup("");
        }
        *ret_status = pclose(f);
        return out;
}

bool node_home_here(Node *n, const char *component, char *ret_node, size_t size) {
        sd_bus_message *reply = NULL;
        const char *node;
        int here = 0;

        if (sd_bus_call_method(n->bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.xfsm1.Bridge", "Home", NULL,
                               &reply, "s", component) < 0)
                return false;
        if (sd_bus_message_read(reply, "sb", &node, &here) > 0 && ret_node)
                snprintf(ret_node, size, "%s", node);
        sd_bus_message_unref(reply);
        return here;
}
