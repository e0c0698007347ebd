/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: any bytes as a guard expression. Parsing and evaluating
 * must never crash, leak or take unbounded time. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static json_object *ctx, *ev;
        char *text = malloc(size + 1);
        size_t off;
        const char *msg;
        Guard *g;

        if (!text)
                return 0;
        if (!ctx) {
                ctx = json_tokener_parse("{\"a\":1,\"b\":\"x\",\"c\":[1,2,{\"d\":null}],\"e\":{\"f\":2.5},\"t\":true}");
                ev = json_tokener_parse("{\"a\":0,\"payload\":{\"b\":1}}");
        }
        memcpy(text, data, size);
        text[size] = 0;
        g = guard_parse(text, &off, &msg);
        if (g) {
                bool dz;
                (void) guard_eval(g, ctx, ev);
                json_object_put(guard_eval_value(g, ctx, ev, &dz));
                guard_free(g);
        } else if (off > size)
                abort(); /* an error must point into the text */
        free(text);
        return 0;
}
