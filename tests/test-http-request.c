/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http's pure parts alone: the request parser (routes, methods,
 * parameters, bodies), the access rules (tokens and scopes, anonymous
 * loopback, sessions, Host and Origin) and the diagrams. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http-access.h"
#include "http-diagram.h"
#include "http-errors.h"
#include "http-request.h"

static int parse(const char *method, const char *path, const char *type, const char *body, HttpRequest *r,
                 HttpProblem *p) {
        *r = (HttpRequest) {};
        *p = (HttpProblem) {};
        return http_request_parse(method, path, type, body, body ? strlen(body) : 0, r, p);
}

static void test_routes(void **state) {
        static const struct {
                const char *method, *path;
                HttpRoute route;
                bool write;
        } ok[] = {
                { "GET", "/", ROUTE_ROOT, false },
                { "GET", "/healthz", ROUTE_HEALTHZ, false },
                { "HEAD", "/healthz", ROUTE_HEALTHZ, false },
                { "GET", "/api/components", ROUTE_COMPONENTS, false },
                { "GET", "/api/components/", ROUTE_COMPONENTS, false },
                { "GET", "/api/components/OrderComponent", ROUTE_COMPONENT, false },
                { "GET", "/api/components/OrderComponent/diagrams/Order", ROUTE_MERMAID, false },
                { "GET", "/api/components/OrderComponent/machines/Order/diagram.svg", ROUTE_SVG, false },
                { "GET", "/api/instances", ROUTE_INSTANCES, false },
                { "GET", "/api/instances/abc-123", ROUTE_INSTANCE, false },
                { "GET", "/api/instances/abc-123/history", ROUTE_HISTORY, false },
                { "GET", "/api/events", ROUTE_EVENTS, false },
                { "GET", "/dashboard", ROUTE_DASHBOARD, false },
                { "GET", "/dashboard/dashboard.js", ROUTE_DASHBOARD, false },
        };
        HttpRequest r;
        HttpProblem p;

        for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
                assert_int_equal(parse(ok[k].method, ok[k].path, NULL, NULL, &r, &p), 0);
                assert_int_equal(r.route, ok[k].route);
                assert_int_equal(r.write, ok[k].write);
                http_request_done(&r);
        }

        assert_int_equal(parse("GET", "/api/components/OrderComponent/diagrams/Order", NULL, NULL, &r, &p), 0);
        assert_string_equal(r.component, "OrderComponent");
        assert_string_equal(r.machine, "Order");
        http_request_done(&r);

        assert_int_equal(parse("GET", "/dashboard", NULL, NULL, &r, &p), 0);
        assert_string_equal(r.file, "index.html");
        http_request_done(&r);
}

static void test_route_errors(void **state) {
        static const struct {
                const char *method, *path;
                unsigned status;
        } bad[] = {
                { "GET", "/api", 404 },
                { "GET", "/api/nothing", 404 },
                { "GET", "//api/components", 404 },
                { "GET", "/api/components//x", 404 },
                { "GET", "relative", 404 },
                { "GET", "/api/instances/x/y", 404 },
                { "GET", "/a/b/c/d/e/f/g/h/i/j", 404 },
                { "DELETE", "/api/components", 405 },
                { "POST", "/api/components", 405 },
                { "GET", "/api/session", 405 },
                { "PUT", "/api/instances/x/events", 405 },
                { "GET", "/api/components/Bad-Name", 400 },
                { "GET", "/api/components/9starts", 400 },
                { "GET", "/api/components/C/diagrams/bad.name", 400 },
                { "GET", "/api/instances/with space", 400 },
                { "GET", "/dashboard/../etc", 404 },
                { "GET", "/dashboard/.hidden", 404 },
                { "GET", "/dashboard/noext", 404 },
                { "GET", "/dashboard/UPPER.js", 404 },
        };
        HttpRequest r;
        HttpProblem p;

        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                assert_int_equal(parse(bad[k].method, bad[k].path, NULL, NULL, &r, &p), -EINVAL);
                if (p.status != bad[k].status)
                        fail_msg("%s %s: %u, wanted %u", bad[k].method, bad[k].path, p.status, bad[k].status);
                assert_true(strlen(p.message) > 0);
        }
        assert_int_equal(parse("DELETE", "/api/components", NULL, NULL, &r, &p), -EINVAL);
        assert_string_equal(p.allow, "GET, HEAD");
        {
                char name[300];

                memset(name, 'a', 299);
                name[0] = '/';
                name[299] = '\0';
                char path[400];
                snprintf(path, sizeof path, "/api/components%s", name);
                assert_int_equal(parse("GET", path, NULL, NULL, &r, &p), -EINVAL);
                assert_int_equal(p.status, 400);
        }
}

static void test_bodies(void **state) {
        HttpRequest r;
        HttpProblem p;

        assert_int_equal(parse("POST", "/api/components/C/instances", "application/json",
                               "{\"machineName\":\"Order\",\"context\":{\"a\":1}}", &r, &p), 0);
        assert_true(r.write);
        assert_string_equal(r.machine, "Order");
        assert_non_null(r.payload);
        http_request_done(&r);

        assert_int_equal(parse("POST", "/api/instances/i/events", "application/json; charset=utf-8",
                               "{\"type\":\"GO\",\"payload\":{\"x\":[1,2]}}", &r, &p), 0);
        assert_string_equal(r.event, "GO");
        http_request_done(&r);

        assert_int_equal(parse("POST", "/api/instances/i/events", "APPLICATION/JSON", "{\"type\":\"GO\"}", &r, &p), 0);
        assert_null(r.payload);
        http_request_done(&r);

        static const struct {
                const char *path, *type, *body;
                unsigned status;
        } bad[] = {
                { "/api/instances/i/events", NULL, "{\"type\":\"GO\"}", 415 },
                { "/api/instances/i/events", "application/x-www-form-urlencoded", "type=GO", 415 },
                { "/api/instances/i/events", "text/plain", "{\"type\":\"GO\"}", 415 },
                { "/api/instances/i/events", "application/jsonx", "{\"type\":\"GO\"}", 415 },
                { "/api/instances/i/events", "application/json", "", 400 },
                { "/api/instances/i/events", "application/json", "{", 400 },
                { "/api/instances/i/events", "application/json", "[]", 400 },
                { "/api/instances/i/events", "application/json", "\"GO\"", 400 },
                { "/api/instances/i/events", "application/json", "{\"type\":\"GO\"}{}", 400 },
                { "/api/instances/i/events", "application/json", "{\"type\":1}", 400 },
                { "/api/instances/i/events", "application/json", "{\"type\":\"has space\"}", 400 },
                { "/api/instances/i/events", "application/json", "{\"type\":\"GO\",\"payload\":3}", 400 },
                { "/api/instances/i/events", "application/json", "{\"type\":\"G\xff\"}", 400 },
                { "/api/instances/i/events", "application/json", "{'type':'GO'}", 400 },
                { "/api/components/C/instances", "application/json", "{}", 400 },
                { "/api/components/C/instances", "application/json", "{\"machineName\":\"a-b\"}", 400 },
                { "/api/components/C/instances", "application/json", "{\"machineName\":\"M\",\"context\":\"x\"}", 400 },
                { "/api/session", "application/json", "{\"token\":5}", 400 },
        };
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                assert_int_equal(parse("POST", bad[k].path, bad[k].type, bad[k].body, &r, &p), -EINVAL);
                if (p.status != bad[k].status)
                        fail_msg("%s: %u, wanted %u", bad[k].body, p.status, bad[k].status);
        }

        /* too deep, too big */
        {
                char deep[400] = "{\"type\":\"GO\",\"payload\":{\"a\":";
                size_t n = strlen(deep);

                for (int k = 0; k < 100; k++)
                        deep[n++] = '[';
                deep[n] = '\0';
                assert_int_equal(parse("POST", "/api/instances/i/events", "application/json", deep, &r, &p), -EINVAL);
                assert_int_equal(p.status, 400);

                r = (HttpRequest) { .route = ROUTE_EVENT };
                assert_int_equal(http_request_body(&r, "application/json", "{}", HTTP_BODY_MAX + 1, &p), -EINVAL);
                assert_int_equal(p.status, 413);
                http_request_done(&r);
        }

        /* an empty session request (anonymous) needs no content type */
        assert_int_equal(parse("POST", "/api/session", NULL, NULL, &r, &p), 0);
        assert_null(r.token);
        http_request_done(&r);
}

static void test_tokens(void **state) {
        HttpAccess a = {};
        Grant g = {};

        assert_int_equal(access_parse_tokens(&a, "# comment\n\nread-token-1234567890 read\r\n"
                                                 "write-token-123456789 write:Order* write:Pay\n", "tokens"), 0);
        assert_int_equal(a.n_tokens, 2);

        assert_int_equal(access_grant(&a, "Bearer read-token-1234567890", NULL, false, 0, &g), 0);
        assert_true(g.read);
        assert_false(grant_may_write(&g, "OrderComponent"));
        grant_done(&g);

        assert_int_equal(access_grant(&a, "bearer  write-token-123456789", NULL, false, 0, &g), 0);
        assert_true(grant_may_write(&g, "OrderComponent"));
        assert_true(grant_may_write(&g, "Pay"));
        assert_false(grant_may_write(&g, "PaymentComponent"));
        grant_done(&g);

        assert_int_equal(access_grant(&a, "Bearer write-token-12345678", NULL, true, 0, &g), -EACCES);
        assert_int_equal(access_grant(&a, "Bearer write-token-1234567890", NULL, true, 0, &g), -EACCES);
        assert_int_equal(access_grant(&a, "Basic eA==", NULL, true, 0, &g), -EACCES);

        /* anonymous: loopback only, read only unless AnonymousWrite= */
        assert_int_equal(access_grant(&a, NULL, NULL, false, 0, &g), -EPERM);
        assert_int_equal(access_grant(&a, NULL, NULL, true, 0, &g), 0);
        assert_true(g.read);
        assert_false(grant_may_write(&g, "OrderComponent"));
        grant_done(&g);
        a.anonymous_write = true;
        assert_int_equal(access_grant(&a, NULL, NULL, true, 0, &g), 0);
        assert_true(grant_may_write(&g, "OrderComponent"));
        grant_done(&g);
        assert_int_equal(access_grant(&a, NULL, NULL, false, 0, &g), -EPERM);
        a.anonymous_write = false;

        /* sessions: a cookie with the token's grant, until it expires */
        {
                char id[65], cookie[128];
                Grant t = {};

                assert_int_equal(access_grant_for_token(&a, "write-token-123456789", false, &t), 0);
                assert_int_equal(access_session_new(&a, &t, 1000, id), 0);
                grant_done(&t);
                assert_int_equal(strlen(id), 64);
                snprintf(cookie, sizeof cookie, "other=1; " SESSION_COOKIE "=%s; more=2", id);
                assert_int_equal(access_grant(&a, NULL, cookie, false, 2000, &g), 0);
                assert_true(grant_may_write(&g, "OrderX"));
                grant_done(&g);
                assert_int_equal(access_grant(&a, NULL, cookie, false, 1000 + SESSION_LIFETIME_USEC + 1, &g), -EACCES);
                assert_int_equal(access_grant(&a, NULL, SESSION_COOKIE "=00", true, 2000, &g), -EACCES);
        }

        a.hosts = NULL;
        http_access_free(calloc(1, sizeof(HttpAccess))); /* frees NULL members */
        {
                HttpAccess *p = calloc(1, sizeof *p);

                *p = a;
                http_access_free(p);
        }
}

static void test_bad_tokens(void **state) {
        HttpAccess *a = calloc(1, sizeof *a);

        assert_int_equal(access_parse_tokens(a, "short read\n", "t"), -EINVAL);
        assert_int_equal(access_parse_tokens(a, "long-enough-token-123 admin\n", "t"), -EINVAL);
        assert_int_equal(access_parse_tokens(a, "long-enough-token-123\n", "t"), -EINVAL);
        assert_int_equal(access_parse_tokens(a, "long-enough-token-123 write:\n", "t"), -EINVAL);
        assert_int_equal(a->n_tokens, 0);
        http_access_free(a);
}

static void test_host_origin(void **state) {
        char *hosts[] = { (char *) "localhost", (char *) "127.0.0.1", (char *) "[::1]", NULL };
        HttpAccess a = { .hosts = hosts };

        assert_true(access_host_allowed(&a, "localhost"));
        assert_true(access_host_allowed(&a, "LOCALHOST:3000"));
        assert_true(access_host_allowed(&a, "127.0.0.1:3000"));
        assert_true(access_host_allowed(&a, "[::1]:3000"));
        assert_true(access_host_allowed(&a, "[::1]"));
        assert_false(access_host_allowed(&a, NULL));
        assert_false(access_host_allowed(&a, ""));
        assert_false(access_host_allowed(&a, "attacker.example"));
        assert_false(access_host_allowed(&a, "localhost.attacker.example"));
        assert_false(access_host_allowed(&a, "localhost:"));
        assert_false(access_host_allowed(&a, "localhost:80x"));
        assert_false(access_host_allowed(&a, "127.0.0.1.nip.io"));

        assert_true(access_origin_allowed(NULL, "localhost:3000"));
        assert_true(access_origin_allowed("http://localhost:3000", "localhost:3000"));
        assert_true(access_origin_allowed("https://localhost:3000", "localhost:3000"));
        assert_false(access_origin_allowed("http://localhost:3001", "localhost:3000"));
        assert_false(access_origin_allowed("http://attacker.example", "localhost:3000"));
        assert_false(access_origin_allowed("null", "localhost:3000"));
        assert_false(access_origin_allowed("file://", "localhost:3000"));
        assert_false(access_origin_allowed("http://localhost:3000", NULL));
}

static const char *definition_text =
        "{\"name\":\"C\",\"stateMachines\":[{\"name\":\"M\",\"initialState\":\"A\","
        "\"states\":[{\"name\":\"A\",\"type\":\"entry\"},{\"name\":\"B\",\"type\":\"regular\"},"
        "{\"name\":\"Done\",\"type\":\"final\"},{\"name\":\"Err\",\"type\":\"error\"}],"
        "\"transitions\":[{\"from\":\"A\",\"to\":\"B\",\"event\":\"GO\",\"type\":\"triggerable\"},"
        "{\"from\":\"B\",\"to\":\"Done\",\"event\":\"END\"},{\"from\":\"B\",\"to\":\"Err\",\"event\":\"FAIL\",\"type\":\"timeout\"}]}]}";

static void test_mermaid(void **state) {
        json_object *def = json_tokener_parse(definition_text), *out = NULL, *t;
        const char *text;

        assert_int_equal(diagram_mermaid(def, "M", "B", &out), 0);
        text = json_object_get_string(json_object_object_get(out, "diagram"));
        assert_non_null(strstr(text, "stateDiagram-v2\n"));
        assert_non_null(strstr(text, "[*] --> A\n"));
        assert_non_null(strstr(text, "A --> B : GO\n"));
        assert_non_null(strstr(text, "Done --> [*]\n"));
        assert_non_null(strstr(text, "class B currentState\n"));
        t = json_object_object_get(out, "terminalStates");
        assert_int_equal(json_object_array_length(t), 2);
        t = json_object_object_get(out, "transitions");
        assert_int_equal(json_object_array_length(t), 3);
        assert_string_equal(json_object_get_string(json_object_object_get(json_object_array_get_idx(t, 1), "type")),
                            "triggerable");
        assert_string_equal(json_object_get_string(json_object_object_get(json_object_array_get_idx(t, 2), "type")),
                            "timeout");
        json_object_put(out);

        /* a current state that is not one of the machine's: no highlight, nothing of it written */
        assert_int_equal(diagram_mermaid(def, "M", "B\n    click B href \"javascript:alert(1)\"", &out), 0);
        text = json_object_get_string(json_object_object_get(out, "diagram"));
        assert_null(strstr(text, "click"));
        assert_null(strstr(text, "currentState"));
        json_object_put(out);
        assert_int_equal(diagram_mermaid(def, "M", "Nope", &out), 0);
        assert_null(strstr(json_object_get_string(json_object_object_get(out, "diagram")), "Nope"));
        json_object_put(out);

        assert_int_equal(diagram_mermaid(def, "Nope", NULL, &out), -ENOENT);
        json_object_put(def);
}

static void test_svg(void **state) {
        json_object *def = json_tokener_parse(definition_text);
        Diagrammer *d = diagrammer_new();
        char *svg = NULL;
        size_t size = 0;

        assert_non_null(d);
        assert_int_equal(diagram_svg(d, def, "M", "B", &svg, &size), 0);
        assert_true(size > 0);
        assert_non_null(strstr(svg, "<svg"));
        assert_non_null(strstr(svg, "state&#45;Done"));
        assert_non_null(strstr(svg, ">GO<"));
        assert_non_null(strstr(svg, "#ffd54f"));
        free(svg);
        assert_int_equal(diagram_svg(d, def, "Nope", NULL, &svg, &size), -ENOENT);
        diagrammer_free(d);
        json_object_put(def);
}

static void test_bus_error_statuses(void **state) {
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.NoSuchInstance"), 404);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.NoSuchComponent"), 404);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.NoTransition"), 409);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.GuardFailed"), 409);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.SingletonExists"), 409);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.InvalidPayload"), 400);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.InvalidArgument"), 400);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.Busy"), 429);
        assert_int_equal(http_status_of_bus_error("org.xfsm1.Error.Unavailable"), 503);
        assert_int_equal(http_status_of_bus_error("org.freedesktop.DBus.Error.AccessDenied"), 403);
        assert_int_equal(http_status_of_bus_error("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), 403);
        assert_int_equal(http_status_of_bus_error("org.freedesktop.DBus.Error.ServiceUnknown"), 503);
        assert_int_equal(http_status_of_bus_error("org.freedesktop.DBus.Error.NoReply"), 503);
        assert_int_equal(http_status_of_bus_error("com.example.Whatever"), 503);
        assert_int_equal(http_status_of_bus_error(NULL), 503);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_route_errors),
                cmocka_unit_test(test_bodies),
                cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_bad_tokens),
                cmocka_unit_test(test_host_origin),
                cmocka_unit_test(test_mermaid),
                cmocka_unit_test(test_svg),
                cmocka_unit_test(test_bus_error_statuses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
