/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The dashboard in a real browser: Debian's chromium, headless, driven over
 * the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
 * ended by NUL, commands on fd 3, answers on fd 4), against xfsm-http, xfsmd
 * and a private dbus-daemon. It loads the dashboard, waits until the page's
 * event stream is open, sends an event through the REST API and sees the
 * page show the new state without a reload; then sends an event and
 * creates an instance from the page's forms and finds them through the API.
 * Against a second xfsm-http with tokens and no anonymous write: the page
 * reads anonymously, is refused a creation, signs in with a token through
 * its form and creates; the session cookie is HttpOnly (the page's script
 * cannot read it) and SameSite=Strict as the browser keeps it. Exit 77
 * without chromium. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "http-client.h"

static char dir[256], address[512], page[128];
#define WRITE_TOKEN "write-token-0123456789abcdef"

static pid_t broker_pid, daemon_pid, http_pid, http_tokens_pid, chrome_pid;
static unsigned port, port_tokens;
static sd_bus *bus;
static int to_chrome = -1, from_chrome = -1;
static char session[128];
static unsigned next_id = 1;

static const char *find_chromium(void) {
        static const char *const candidates[] = { "/usr/bin/chromium", "/usr/bin/chromium-browser", NULL };
        const char *env = getenv("CHROMIUM");

        if (env)
                return access(env, X_OK) == 0 ? env : NULL;
        for (size_t k = 0; candidates[k]; k++)
                if (access(candidates[k], X_OK) == 0)
                        return candidates[k];
        return NULL;
}

/* ---- the DevTools protocol on the pipe --------------------------------------------------- */

static char *inbuf;
static size_t inlen, incap;

/* the next message from the browser (NUL-terminated JSON), up to timeout_ms */
static json_object *cdp_read(int timeout_ms) {
        for (;;) {
                char *nul = inbuf ? memchr(inbuf, '\0', inlen) : NULL;

                if (nul) {
                        json_object *o = json_tokener_parse(inbuf);
                        size_t used = nul + 1 - inbuf;

                        memmove(inbuf, inbuf + used, inlen - used);
                        inlen -= used;
                        return o;
                }
                struct pollfd p = { .fd = from_chrome, .events = POLLIN };
                if (poll(&p, 1, timeout_ms) <= 0)
                        return NULL;
                if (incap - inlen < 65536) {
                        inbuf = realloc(inbuf, incap + 262144);
                        assert_non_null(inbuf);
                        incap += 262144;
                }
                ssize_t n = read(from_chrome, inbuf + inlen, incap - inlen);
                if (n <= 0)
                        return NULL;
                inlen += (size_t) n;
        }
}

/* Send method with params (JSON text, may be NULL) in the page's session
 * (or the browser's when with_session is false); the answer's "result" (a
 * new reference), or a test failure on an error. */
static json_object *cdp_call(bool with_session, const char *method, const char *params) {
        unsigned id = next_id++;
        char *msg = NULL;
        int n;

        if (with_session)
                n = asprintf(&msg, "{\"id\":%u,\"sessionId\":\"%s\",\"method\":\"%s\",\"params\":%s}", id, session,
                             method, params ?: "{}");
        else
                n = asprintf(&msg, "{\"id\":%u,\"method\":\"%s\",\"params\":%s}", id, method, params ?: "{}");
        assert_true(n > 0);
        assert_int_equal(write(to_chrome, msg, (size_t) n + 1), n + 1); /* with its NUL */
        free(msg);

        for (;;) {
                json_object *o = cdp_read(30000), *v, *result;

                if (!o)
                        fail_msg("no answer from chromium to %s", method);
                if (json_object_object_get_ex(o, "id", &v) && (unsigned) json_object_get_int(v) == id) {
                        if (json_object_object_get_ex(o, "error", &v))
                                fail_msg("%s: %s", method, json_object_to_json_string(v));
                        assert_true(json_object_object_get_ex(o, "result", &result));
                        json_object_get(result);
                        json_object_put(o);
                        return result;
                }
                json_object_put(o); /* an event */
        }
}

/* The value of a JavaScript expression in the page, as JSON text (free it);
 * an exception fails the test, or is "null" when tolerated (the page is
 * still loading). */
static char *page_eval_full(const char *expression, bool tolerate) {
        json_object *params = json_object_new_object(), *r, *res, *v;
        char *out;

        json_object_object_add(params, "expression", json_object_new_string(expression));
        json_object_object_add(params, "returnByValue", json_object_new_boolean(true));
        r = cdp_call(true, "Runtime.evaluate", json_object_to_json_string(params));
        json_object_put(params);
        if (json_object_object_get_ex(r, "exceptionDetails", &v)) {
                if (!tolerate)
                        fail_msg("%s: %s", expression, json_object_to_json_string(v));
                json_object_put(r);
                return strdup("null");
        }
        assert_true(json_object_object_get_ex(r, "result", &res));
        out = strdup(json_object_object_get_ex(res, "value", &v) ?
                     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null");
        json_object_put(r);
        return out;
}

static char *page_eval(const char *expression) {
        return page_eval_full(expression, false);
}

/* Wait up to 20 s until expression is the JSON text want. */
static bool page_wait(const char *expression, const char *want) {
        char *last = NULL;

        for (int k = 0; k < 400; k++) {
                free(last);
                last = page_eval_full(expression, true);
                if (strcmp(last, want) == 0) {
                        free(last);
                        return true;
                }
                usleep(50000);
        }
        print_message("%s: %s, wanted %s\n", expression, last, want);
        free(last);
        return false;
}

/* ---- the services ---------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to) {
        char cmd[2048];

        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
        assert_int_equal(system(cmd), 0);
}

/* the second xfsm-http, on port_tokens: the tokens of $dir/creds, the settings of $dir/http.conf */
static void start_http_tokens(void) {
        char creds[600], config[600], listen[64], log[600];
        char *argv[] = { (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http"), (char *) "--bus-address", address,
                         (char *) "--listen", listen, (char *) "--config", config, NULL };

        snprintf(creds, sizeof creds, "%s/creds", dir);
        snprintf(config, sizeof config, "%s/http.conf", dir);
        snprintf(listen, sizeof listen, "127.0.0.1:%u", port_tokens);
        snprintf(log, sizeof log, "%s/http-tokens.log", dir);
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        http_tokens_pid = spawn(argv, log);
        unsetenv("CREDENTIALS_DIRECTORY");
        assert_true(http_wait_ready(port_tokens));
}

static int setup(void **state) {
        const char *chromium = find_chromium();
        char comp[512], path[600], listen[64], log[600], profile[600];
        int in[2], out[2];

        if (!chromium) {
                print_message("SKIPPED: chromium is not installed\n");
                exit(77);
        }

        snprintf(dir, sizeof dir, "/tmp/xfsm-http-browser-XXXXXX");
        assert_non_null(mkdtemp(dir));
        broker_pid = private_bus_start(dir, address, sizeof address, &bus);
        assert_true(broker_pid > 0);

        snprintf(comp, sizeof comp, "%s/comp", dir);
        mkdir(comp, 0755);
        snprintf(path, sizeof path, "%s/order.yaml", comp);
        copy_file(data("xcomponent/demo-order.yaml"), path);
        snprintf(path, sizeof path, "%s/payment.yaml", comp);
        copy_file(data("xcomponent/demo-payment.yaml"), path);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        {
                char state_dir[600];
                char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                                 (char *) "--manager", (char *) "--state-dir", state_dir, (char *) "--component",
                                 (char *) "order", (char *) "--component", (char *) "payment", NULL };

                snprintf(state_dir, sizeof state_dir, "%s/state", dir);
                snprintf(log, sizeof log, "%s/xfsmd.log", dir);
                daemon_pid = spawn(argv, log);
        }
        assert_true(wait_name(bus, "org.xfsm1", true));
        assert_true(wait_name(bus, "org.xfsm1.PaymentComponent", true));

        port = http_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
        snprintf(path, sizeof path, "%s/http.conf", dir);
        {
                FILE *f = fopen(path, "we");

                assert_non_null(f);
                fputs("[HTTP]\n", f);
                fclose(f);
        }
        setenv("XFSM_HTTP_DASHBOARD", env_or("XFSM_HTTP_DASHBOARD", "daemon/http/dashboard"), 1);
        {
                char *argv[] = { (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http"), (char *) "--bus-address",
                                 address, (char *) "--listen", listen, (char *) "--config", path,
                                 (char *) "--anonymous-write", NULL };

                snprintf(log, sizeof log, "%s/http.log", dir);
                http_pid = spawn(argv, log);
        }
        assert_true(http_wait_ready(port));

        /* the second: a write token and a read token as the credential, anonymous clients read only */
        {
                char creds[600], tokens[700];
                FILE *f;

                snprintf(creds, sizeof creds, "%s/creds", dir);
                assert_int_equal(mkdir(creds, 0700), 0);
                snprintf(tokens, sizeof tokens, "%s/http-tokens", creds);
                f = fopen(tokens, "we");
                assert_non_null(f);
                fputs(WRITE_TOKEN " write:Order*\nread-token-0123456789abcdef read\n", f);
                fclose(f);
        }
        port_tokens = http_free_port();
        start_http_tokens();

        /* chromium: commands on its fd 3, answers on its fd 4 */
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", dir);
        snprintf(log, sizeof log, "%s/chromium.log", dir);
        chrome_pid = fork();
        assert_true(chrome_pid >= 0);
        if (chrome_pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                dup2(in[0], 3);
                dup2(out[1], 4);
                setenv("HOME", dir, 1);
                execl(chromium, chromium, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                      "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                      "--disable-extensions", "--disable-background-networking", "--disable-sync",
                      "--metrics-recording-only", "--mute-audio", profile, "about:blank", (char *) NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        to_chrome = in[1];
        from_chrome = out[0];
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

static int teardown(void **state) {
        char cmd[600];

        if (to_chrome >= 0) {
                static const char quit[] = "{\"id\":999999,\"method\":\"Browser.close\",\"params\":{}}";

                (void) !write(to_chrome, quit, sizeof quit); /* with its NUL */
                close(to_chrome);
        }
        if (chrome_pid > 0) {
                for (int k = 0; k < 100 && waitpid(chrome_pid, NULL, WNOHANG) == 0; k++)
                        usleep(50000);
                kill(chrome_pid, SIGKILL);
                waitpid(chrome_pid, NULL, 0);
        }
        if (from_chrome >= 0)
                close(from_chrome);
        free(inbuf);
        {
                pid_t pids[] = { http_pid, http_tokens_pid, daemon_pid, broker_pid };

                for (size_t k = 0; k < sizeof pids / sizeof *pids; k++)
                        if (pids[k] > 0) {
                                kill(pids[k], SIGTERM);
                                waitpid(pids[k], NULL, 0);
                        }
        }
        sd_bus_flush_close_unref(bus);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                assert_int_equal(system(cmd), 0);
        return 0;
}

/* base64 (RFC 4648) to bytes; the length */
static size_t base64_decode(const char *in, unsigned char *out) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        uint32_t acc = 0;
        size_t n = 0;
        int bits = 0;

        for (; *in && *in != '='; in++) {
                const char *p = strchr(alphabet, *in);

                if (!p)
                        continue;
                acc = (acc << 6) | (uint32_t) (p - alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (unsigned char) (acc >> bits);
                }
        }
        return n;
}

/* $XFSM_HTTP_SCREENSHOT: the page as it is, as PNG there (for the README) */
static void screenshot(void) {
        const char *path = getenv("XFSM_HTTP_SCREENSHOT");
        json_object *r, *v;
        unsigned char *png;
        size_t n;
        FILE *f;

        if (!path)
                return;
        json_object_put(cdp_call(true, "Emulation.setDeviceMetricsOverride",
                                 "{\"width\":1280,\"height\":900,\"deviceScaleFactor\":1,\"mobile\":false}"));
        usleep(300000);
        r = cdp_call(true, "Page.captureScreenshot", "{\"format\":\"png\"}");
        assert_true(json_object_object_get_ex(r, "data", &v));
        png = malloc(strlen(json_object_get_string(v)));
        assert_non_null(png);
        n = base64_decode(json_object_get_string(v), png);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(png, 1, n, f), n);
        fclose(f);
        free(png);
        json_object_put(r);
}

/* a new page at url, attached (flat sessions): its session in session */
static void page_open(const char *url) {
        char params[256];
        json_object *r, *v;

        snprintf(params, sizeof params, "{\"url\":\"%s\"}", url);
        r = cdp_call(false, "Target.createTarget", params);
        assert_true(json_object_object_get_ex(r, "targetId", &v));
        snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}", json_object_get_string(v));
        json_object_put(r);
        r = cdp_call(false, "Target.attachToTarget", params);
        assert_true(json_object_object_get_ex(r, "sessionId", &v));
        snprintf(session, sizeof session, "%s", json_object_get_string(v));
        json_object_put(r);
        json_object_put(cdp_call(true, "Runtime.enable", NULL));
}

/* ---- the test -------------------------------------------------------------------------------- */

static char *api_create_order(void) {
        HttpAnswer a = {};
        json_object *o, *v;
        char *id;

        assert_int_equal(http_post_json(port, "/api/components/OrderComponent/instances", NULL,
                                        "{\"machineName\":\"Order\",\"context\":{\"orderId\":\"ORD-9\",\"amount\":5,"
                                        "\"customerId\":\"C-9\"}}", &a), 0);
        assert_int_equal(a.status, 200);
        o = json_tokener_parse(a.body);
        assert_true(json_object_object_get_ex(o, "instanceId", &v));
        id = strdup(json_object_get_string(v));
        json_object_put(o);
        http_answer_done(&a);
        return id;
}

static void test_dashboard_live(void **state) {
        char expr[512], want[128], *id, *created;
        HttpAnswer a = {};

        /* a page of its own */
        snprintf(page, sizeof page, "http://127.0.0.1:%u/dashboard", port);
        page_open(page);

        /* the page is up, its event stream open */
        assert_true(page_wait("location.pathname + ' ' + document.readyState", "\"/dashboard complete\""));
        assert_true(page_wait("document.body.getAttribute('data-stream')", "\"open\""));
        assert_true(page_wait("document.querySelectorAll('.component').length >= 2", "true"));
        free(page_eval("window.__xfsm_test_marker = 42"));

        /* an instance created and an event sent through the API: the page follows without a reload */
        id = api_create_order();
        snprintf(expr, sizeof expr, "(document.querySelector('tr[data-id=\"%s\"] .state') || {}).textContent || ''", id);
        assert_true(page_wait(expr, "\"Created\""));
        {
                char path[256];

                snprintf(path, sizeof path, "/api/instances/%s/events", id);
                assert_int_equal(http_post_json(port, path, NULL, "{\"type\":\"VALIDATE\"}", &a), 0);
                assert_int_equal(a.status, 200);
                http_answer_done(&a);
        }
        assert_true(page_wait(expr, "\"Validated\""));
        assert_true(page_wait("document.querySelector('[data-component=\"OrderComponent\"] g#state-Validated')"
                              ".classList.contains('current')", "true"));
        snprintf(want, sizeof want, "42");
        assert_true(page_wait("window.__xfsm_test_marker", want));

        /* the instance's context and history on the page */
        snprintf(expr, sizeof expr, "document.querySelector('tr[data-id=\"%s\"]').click(), true", id);
        free(page_eval(expr));
        assert_true(page_wait("(document.getElementById('instance-state') || {}).textContent || ''", "\"Validated\""));
        assert_true(page_wait("document.getElementById('instance-context').textContent.includes('ORD-9')", "true"));
        assert_true(page_wait("document.querySelectorAll('#instance-history li').length", "1"));

        /* send from the page: the instance selected above, COMPLETE */
        assert_true(page_wait("!document.getElementById('send-form').hidden", "true"));
        free(page_eval("(() => { document.getElementById('send-event').value = 'COMPLETE';"
                       " document.getElementById('send-button').click(); return true; })()"));
        assert_true(page_wait("document.getElementById('send-result').textContent", "\"now in Completed\""));
        snprintf(expr, sizeof expr, "(document.querySelector('tr[data-id=\"%s\"] .state') || {}).textContent || ''", id);
        assert_true(page_wait(expr, "\"Completed\""));
        {
                char path[256];
                json_object *o, *i;

                snprintf(path, sizeof path, "/api/instances/%s", id);
                assert_int_equal(http_request(port, "GET", path, NULL, NULL, &a), 0);
                o = json_tokener_parse(a.body);
                assert_true(json_object_object_get_ex(o, "instance", &i));
                assert_string_equal(json_object_get_string(json_object_object_get(i, "currentState")), "Completed");
                json_object_put(o);
                http_answer_done(&a);
        }

        /* create from the page */
        free(page_eval("(() => { const c = document.getElementById('create-component');"
                       " c.value = 'OrderComponent'; c.dispatchEvent(new Event('change'));"
                       " document.getElementById('create-machine').value = 'Order';"
                       " document.getElementById('create-context').value = "
                       "'{\"orderId\":\"ORD-PAGE\",\"amount\":7,\"customerId\":\"C-P\"}';"
                       " document.getElementById('create-button').click(); return true; })()"));
        assert_true(page_wait("!!document.getElementById('create-result').getAttribute('data-created')", "true"));
        created = page_eval("document.getElementById('create-result').getAttribute('data-created')");
        {
                char path[256];
                json_object *o;

                created[strlen(created) - 1] = '\0'; /* the JSON string's quotes */
                snprintf(path, sizeof path, "/api/instances/%s", created + 1);
                assert_int_equal(http_request(port, "GET", path, NULL, NULL, &a), 0);
                assert_int_equal(a.status, 200);
                o = json_tokener_parse(a.body);
                assert_non_null(strstr(json_object_to_json_string(o), "ORD-PAGE"));
                json_object_put(o);
                http_answer_done(&a);
                /* and the page lists it, live */
                snprintf(expr, sizeof expr, "!!document.querySelector('tr[data-id=\"%s\"]')", created + 1);
                assert_true(page_wait(expr, "true"));
        }
        screenshot();
        free(created);
        free(id);
}

/* The second xfsm-http (tokens; anonymous clients read only): the page reads,
 * is refused a creation, signs in with the write token through its form and
 * creates. The session cookie as the browser keeps it: HttpOnly, SameSite
 * Strict, out of reach of the page's script. (Its own host name, so that the
 * first page's cookie, on 127.0.0.1 whatever the port, is not sent here.) */
static void test_dashboard_sign_in(void **state) {
        char url[128], expr[512], *created, *text;
        json_object *r, *cookies, *c, *v;
        HttpAnswer a = {};
        bool found = false;

        snprintf(url, sizeof url, "http://localhost:%u/dashboard", port_tokens);
        page_open(url);

        /* read only: the diagrams live, the sign-in form offered */
        assert_true(page_wait("location.pathname + ' ' + document.readyState", "\"/dashboard complete\""));
        assert_true(page_wait("document.body.getAttribute('data-stream')", "\"open\""));
        assert_true(page_wait("document.getElementById('who').textContent", "\"read\""));
        assert_true(page_wait("document.getElementById('login').hidden", "false"));
        assert_true(page_wait("document.querySelectorAll('.component').length >= 2", "true"));

        /* the session cookie: set, but not for the page's script */
        text = page_eval("document.cookie");
        assert_string_equal(text, "\"\"");
        free(text);
        snprintf(expr, sizeof expr, "{\"urls\":[\"%s\"]}", url);
        r = cdp_call(true, "Network.getCookies", expr);
        assert_true(json_object_object_get_ex(r, "cookies", &cookies));
        for (size_t k = 0; k < json_object_array_length(cookies); k++) {
                c = json_object_array_get_idx(cookies, k);
                if (strcmp(json_object_get_string(json_object_object_get(c, "name")), "xfsm_session") != 0)
                        continue;
                found = true;
                assert_true(json_object_get_boolean(json_object_object_get(c, "httpOnly")));
                assert_string_equal(json_object_get_string(json_object_object_get(c, "sameSite")), "Strict");
                assert_true(json_object_object_get_ex(c, "domain", &v));
                assert_string_equal(json_object_get_string(v), "localhost");
        }
        assert_true(found);
        json_object_put(r);

#define CREATE_FROM_PAGE(order_id)                                                                              \
        free(page_eval("(() => { const c = document.getElementById('create-component');"                        \
                       " c.value = 'OrderComponent'; c.dispatchEvent(new Event('change'));"                      \
                       " document.getElementById('create-machine').value = 'Order';"                             \
                       " document.getElementById('create-result').textContent = '';"                             \
                       " document.getElementById('create-context').value = "                                     \
                       "'{\"orderId\":\"" order_id "\",\"amount\":7,\"customerId\":\"C-P\"}';"                     \
                       " document.getElementById('create-button').click(); return true; })()"))

        /* refused while anonymous */
        CREATE_FROM_PAGE("ORD-ANON");
        assert_true(page_wait("document.getElementById('create-result').textContent", "\"Not allowed to write\""));
        assert_true(page_wait("document.getElementById('create-result').hasAttribute('data-created')", "false"));

        /* a wrong token: refused, still read only */
        free(page_eval("(() => { document.getElementById('login-token').value = 'wrong-wrong-wrong-wrong';"
                       " document.querySelector('#login-form button').click(); return true; })()"));
        assert_true(page_wait("document.getElementById('login-error').textContent", "\"Unknown token\""));
        assert_true(page_wait("document.getElementById('who').textContent", "\"read\""));

        /* the write token, through the form: the form goes, the page writes */
        free(page_eval("(() => { document.getElementById('login-token').value = '" WRITE_TOKEN "';"
                       " document.querySelector('#login-form button').click(); return true; })()"));
        assert_true(page_wait("document.getElementById('who').textContent", "\"read write:Order*\""));
        assert_true(page_wait("document.getElementById('login').hidden", "true"));
        text = page_eval("document.cookie");
        assert_string_equal(text, "\"\"");
        free(text);
        CREATE_FROM_PAGE("ORD-TOKEN");
        assert_true(page_wait("!!document.getElementById('create-result').getAttribute('data-created')", "true"));
        created = page_eval("document.getElementById('create-result').getAttribute('data-created')");
        created[strlen(created) - 1] = '\0'; /* the JSON string's quotes */
        {
                char path[256];

                snprintf(path, sizeof path, "/api/instances/%s", created + 1);
                assert_int_equal(http_request(port_tokens, "GET", path, NULL, NULL, &a), 0);
                assert_int_equal(a.status, 200);
                assert_non_null(strstr(a.body, "ORD-TOKEN"));
                http_answer_done(&a);
                snprintf(expr, sizeof expr, "!!document.querySelector('tr[data-id=\"%s\"]')", created + 1);
                assert_true(page_wait(expr, "true"));
        }
        free(created);
#undef CREATE_FROM_PAGE
}

/* The second xfsm-http restarted under the page of test_dashboard_sign_in
 * (as a package upgrade does): the stream's reconnection is refused (the
 * session is forgotten), the page signs in again (anonymously: read only,
 * the form offered again), asks everything again and is live as before. */
static void test_dashboard_server_restarted(void **state) {
        char expr[512], *id;
        int status;

        assert_true(page_wait("document.getElementById('who').textContent", "\"read write:Order*\""));
        kill(http_tokens_pid, SIGTERM);
        assert_int_equal(waitpid(http_tokens_pid, &status, 0), http_tokens_pid);
        http_tokens_pid = 0;
        assert_true(page_wait("document.body.getAttribute('data-stream')", "\"closed\""));
        start_http_tokens();

        assert_true(page_wait("document.body.getAttribute('data-stream')", "\"open\""));
        assert_true(page_wait("document.getElementById('who').textContent", "\"read\""));
        assert_true(page_wait("document.getElementById('login').hidden", "false"));

        /* live again: an instance created (through the first xfsm-http) shows up */
        id = api_create_order();
        snprintf(expr, sizeof expr, "(document.querySelector('tr[data-id=\"%s\"] .state') || {}).textContent || ''", id);
        assert_true(page_wait(expr, "\"Created\""));
        free(id);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dashboard_live),
                cmocka_unit_test(test_dashboard_sign_in),
                cmocka_unit_test(test_dashboard_server_restarted),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
