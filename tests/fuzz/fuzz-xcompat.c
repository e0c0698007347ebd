/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: what may come on an xcomponent:C channel, and what a
 * worker may hand the bridge for a component served by xcomponent-ai
 * (daemon/bridge/xcompat-wire.c). Reading must never crash or leak; a
 * message taken must become a routed event the worker reads back
 * (xfsm_routed_parse) and applies to an engine without failing on its form;
 * a routed event turned into a message must be JSON xcomponent-ai reads.
 *
 * The first byte chooses: bit 0 clear, the rest is a message as published
 * on xcomponent:Payment; set, the rest is a routed event's wire form. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "xcompat-wire.h"
#include "xfsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char payment_yaml[] = "name: Payment\n"
                                   "stateMachines:\n"
                                   "  - name: Payment\n"
                                   "    initialState: Pending\n"
                                   "    states: [{name: Pending, type: entry}, {name: Done}]\n"
                                   "    transitions:\n"
                                   "      - {from: Pending, to: Done, event: PROCESS}\n"
                                   "      - {from: Pending, to: Done, event: MATCH,\n"
                                   "         matchingRules: [{eventProperty: id, instanceProperty: id}]}\n";

static xfsm_engine *engine(void) {
        static xfsm_engine *e;

        if (!e) {
                e = xfsm_engine_new();
                if (!e || xfsm_engine_load_string(e, "payment.yaml", payment_yaml, strlen(payment_yaml), NULL, NULL) < 0)
                        abort();
                for (int k = 0; k < 4; k++) {
                        static const char *const ctx[] = { "{\"id\":1,\"a\":{\"b\":\"x\"}}", "{\"id\":\"1\"}", "{}",
                                                           "{\"a\":[1,2],\"n\":null}" };
                        if (xfsm_engine_create(e, NULL, "Payment", ctx[k], NULL) < 0)
                                abort();
                }
        }
        return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size < 1)
                return 0;
        text = malloc(size);
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;

        if (!(data[0] & 1)) {
                json_object *r = NULL;
                char *source = NULL;
                XcompatBad why;
                int k = xcompat_message_to_routed("Payment", text, size - 1, "00112233445566778899aabbccddeeff", &r,
                                                  &source, &why);

                if (k == 0) {
                        xfsm_routed *rt = NULL;
                        unsigned delivered = 0;
                        int q;

                        json_object_object_add(r, "sourceSeq", json_object_new_uint64(1));
                        if (!source || strncmp(source, XCOMPAT_SOURCE_PREFIX, strlen(XCOMPAT_SOURCE_PREFIX)) != 0 ||
                            xfsm_routed_parse(json_object_to_json_string(r), &rt) < 0)
                                abort();
                        q = xfsm_engine_deliver(engine(), rt, &delivered);
                        /* the form is always readable: only what the component lacks may fail */
                        if (q < 0 && q != -XFSM_E_NO_SUCH_MACHINE && q != -XFSM_E_INVALID_ARGUMENT)
                                abort();
                        xfsm_routed_free(rt);
                        json_object_put(r);
                        free(source);
                } else if (k != -EBADMSG || r || source || why >= _XCOMPAT_BAD_MAX)
                        abort();
        } else {
                char *m = NULL;
                int k = xcompat_routed_to_message(text, 1700000000000ULL, &m);

                if (k == 0) {
                        json_object *o = json_tokener_parse(m);
                        if (!o || !json_object_is_type(o, json_type_object))
                                abort();
                        json_object_put(o);
                        free(m);
                } else if (k != -EBADMSG && k != -EOPNOTSUPP)
                        abort();
        }
        free(text);
        return 0;
}
