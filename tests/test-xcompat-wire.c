/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xcomponent-ai's message and xfsm's routed wire form, each way
 * (daemon/bridge/xcompat-wire.c): what the bridge publishes is byte for
 * byte what xcomponent-ai 0.6.0's JSON.stringify writes, and what it reads
 * becomes a routed event the worker applies as xcomponent-ai would. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xcompat-wire.h"

static const char *get(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : NULL;
}

static json_object *in(const char *msg, char **ret_source) {
        json_object *r = NULL;
        XcompatBad why;
        char *source = NULL;

        assert_int_equal(xcompat_message_to_routed("PaymentComponent", msg, strlen(msg), "00ff", &r, &source, &why), 0);
        if (ret_source)
                *ret_source = source;
        else
                free(source);
        return r;
}

static XcompatBad refused_n(const char *msg, size_t len) {
        json_object *r = NULL;
        XcompatBad why = _XCOMPAT_BAD_MAX;
        char *source = NULL;

        assert_int_equal(xcompat_message_to_routed("PaymentComponent", msg, len, "00ff", &r, &source, &why), -EBADMSG);
        assert_null(r);
        assert_null(source);
        return why;
}

static XcompatBad refused(const char *msg) {
        return refused_n(msg, strlen(msg));
}

static void test_message_read_as_a_routed_event(void **state) {
        char *source = NULL;
        json_object *r = in("{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"Elsewhere\","
                            "\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\","
                            "\"payload\":{\"amount\":10},\"timestamp\":1},\"filters\":[{\"property\":\"a.b\","
                            "\"value\":null},{\"property\":\"c\",\"operator\":\">\"}]}",
                            &source);

        assert_string_equal(source, "xcomponent:OrderComponent");
        /* the channel names the component, not targetComponent */
        assert_string_equal(get(r, "targetComponent"), "\"PaymentComponent\"");
        assert_string_equal(get(r, "targetState"), "\"Pending\"");
        assert_string_equal(get(r, "event"), "\"PROCESS\"");
        assert_string_equal(get(r, "payload"), "{\"amount\":10}");
        assert_string_equal(get(r, "sourceIncarnation"), "\"00ff\"");
        /* a null value is a value; an absent operator stays absent (=== on receipt) */
        assert_string_equal(get(r, "filters"),
                            "[{\"property\":\"a.b\",\"value\":null},{\"property\":\"c\",\"operator\":\">\"}]");
        json_object_put(r);
        free(source);

        /* no sourceComponent: "unknown", as xcomponent-ai names it; "*", "" and absent: no targetState */
        r = in("{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\"}}", &source);
        assert_string_equal(source, "xcomponent:unknown");
        assert_null(get(r, "targetState"));
        assert_string_equal(get(r, "payload"), "{}");
        assert_string_equal(get(r, "filters"), "[]");
        json_object_put(r);
        free(source);
        /* receivers ignore sourceComponent: one xfsm cannot name a source by is "unknown" too */
        static const char *const odd[] = { "{}", "5", "\"Order Component\"", "\"\"", "\"\\u00e9\"" };
        for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
                char msg[200];
                snprintf(msg, sizeof msg, "{\"sourceComponent\":%s,\"targetMachine\":\"Payment\",\"event\":{\"type\":\"E\"}}",
                         odd[k]);
                r = in(msg, &source);
                assert_string_equal(source, "xcomponent:unknown");
                assert_string_equal(get(r, "sourceComponent"), "\"xcomponent:unknown\"");
                json_object_put(r);
                free(source);
        }
        r = in("{\"targetMachine\":\"Payment\",\"targetState\":\"*\",\"event\":{\"type\":\"PROCESS\"}}", NULL);
        assert_null(get(r, "targetState"));
        json_object_put(r);
        r = in("{\"targetMachine\":\"Payment\",\"targetState\":\"\",\"event\":{\"type\":\"PROCESS\"}}", NULL);
        assert_null(get(r, "targetState"));
        json_object_put(r);
}

static void test_malformed_messages_are_refused_with_their_kind(void **state) {
        static const char big_head[] = "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":\"";
        size_t n = XCOMPAT_MESSAGE_MAX + 16;
        char *big = malloc(n);

        assert_int_equal(refused("nope"), XCOMPAT_BAD_NOT_JSON);
        assert_int_equal(refused("[]"), XCOMPAT_BAD_NOT_JSON);
        /* not UTF-8: the worker's bus would refuse it */
        assert_int_equal(refused("{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":\"\xff\"}}}"),
                         XCOMPAT_BAD_NOT_JSON);
        assert_int_equal(refused("{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"}} x"), XCOMPAT_BAD_NOT_JSON);
        /* what json-c reads but JSON.parse refuses: not JSON */
        static const char *const loose[] = {
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":NaN}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":-Infinity}}}",
                "{'targetMachine':'M','event':{'type':'E'}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"},}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"}/* c */}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":01}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":1.}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":TRUE}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":\"a\tb\"}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":\"\\x41\"}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":{\"x\":\"\\u12\"}}}",
                "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"}}{}",
                "",
                " ",
        };
        for (size_t k = 0; k < sizeof loose / sizeof loose[0]; k++)
                if (refused(loose[k]) != XCOMPAT_BAD_NOT_JSON)
                        fail_msg("not refused as not JSON: %s", loose[k]);
        static const char nul[] = "{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"}}\0";
        assert_int_equal(refused_n(nul, sizeof nul - 1), XCOMPAT_BAD_NOT_JSON);
        /* and what JSON.parse takes, is taken: white space around, escapes, exponents, nesting */
        json_object_put(in(" \r\n{\"targetMachine\" : \"Payment\",\t\"event\":{\"type\":\"PROCESS\",\"payload\":"
                           "{\"a\":[-0,0.5e-3,1E+2,true,false,null,{},[]],\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\u00e9\"}}} \n",
                           NULL));
        assert_int_equal(refused("{\"event\":{\"type\":\"E\"}}"), XCOMPAT_BAD_WRONG_TYPE);
        assert_int_equal(refused("{\"targetMachine\":\"M\",\"event\":{\"type\":1}}"), XCOMPAT_BAD_WRONG_TYPE);
        assert_int_equal(refused("{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\",\"payload\":[]}}"),
                         XCOMPAT_BAD_WRONG_TYPE);
        assert_int_equal(refused("{\"targetMachine\":\"M\",\"event\":{\"type\":\"E\"},\"filters\":[1]}"),
                         XCOMPAT_BAD_WRONG_TYPE);
        assert_int_equal(refused("{\"targetMachine\":\"M M\",\"event\":{\"type\":\"E\"}}"), XCOMPAT_BAD_NAME);
        assert_non_null(big);
        memcpy(big, big_head, strlen(big_head));
        memset(big + strlen(big_head), 'a', n - strlen(big_head));
        assert_int_equal(refused_n(big, n), XCOMPAT_BAD_TOO_LARGE);
        free(big);
}

static void test_routed_event_written_as_xcomponent_ai_writes_it(void **state) {
        char *m = NULL;

        assert_int_equal(xcompat_routed_to_message(
                                 "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"OrderComponent\",\"sourceSeq\":3,"
                                 "\"ruleIndex\":0,\"targetComponent\":\"PaymentComponent\",\"targetMachine\":\"Payment\","
                                 "\"targetState\":\"Pending\",\"event\":\"PROCESS\",\"payload\":{\"url\":\"a/b\",\"n\":2},"
                                 "\"matchingRules\":[{\"eventProperty\":\"orderId\",\"instanceProperty\":\"orderId\","
                                 "\"operator\":\"===\",\"value\":\"O1\"},{\"eventProperty\":\"r\",\"instanceProperty\":"
                                 "\"region\",\"operator\":\"!==\"},{\"eventProperty\":\"z\",\"instanceProperty\":\"z\","
                                 "\"operator\":\"<=\",\"value\":null}],\"hops\":1}",
                                 1700000000123ULL, &m),
                         0);
        assert_string_equal(m, "{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"PaymentComponent\","
                               "\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\","
                               "\"payload\":{\"url\":\"a/b\",\"n\":2},\"timestamp\":1700000000123},\"filters\":["
                               "{\"property\":\"orderId\",\"operator\":\"===\",\"value\":\"O1\"},"
                               "{\"property\":\"region\",\"operator\":\"!==\"},"
                               "{\"property\":\"z\",\"operator\":\"<=\",\"value\":null}]}");
        free(m);

        /* no rules: no "filters"; no state: "*" */
        assert_int_equal(xcompat_routed_to_message("{\"sourceComponent\":\"S\",\"targetComponent\":\"C\","
                                                   "\"targetMachine\":\"M\",\"event\":\"E\",\"matchingRules\":[]}",
                                                   5, &m),
                         0);
        assert_string_equal(m, "{\"sourceComponent\":\"S\",\"targetComponent\":\"C\",\"targetMachine\":\"M\","
                               "\"targetState\":\"*\",\"event\":{\"type\":\"E\",\"payload\":{},\"timestamp\":5}}");
        free(m);

        /* a creation has no such message */
        assert_int_equal(xcompat_routed_to_message("{\"kind\":\"create\",\"sourceComponent\":\"S\",\"targetComponent\":"
                                                   "\"C\",\"targetMachine\":\"M\"}",
                                                   5, &m),
                         -EOPNOTSUPP);
        assert_int_equal(xcompat_routed_to_message("]", 5, &m), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_message_read_as_a_routed_event),
                cmocka_unit_test(test_malformed_messages_are_refused_with_their_kind),
                cmocka_unit_test(test_routed_event_written_as_xcomponent_ai_writes_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
