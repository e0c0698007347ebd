/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: any bytes as a component. Loading must never crash or
 * leak; what loads is also started, instantiated, timed and drawn. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xfsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        xfsm_engine *e = xfsm_engine_new();
        FILE *null;

        if (!e)
                return 0;
        xfsm_engine_use_virtual_clock(e, 1);
        xfsm_engine_seed(e, 1);
        if (xfsm_engine_load_string(e, "fuzz.yaml", (const char *) data, size, NULL, NULL) == 0) {
                const char *c = xfsm_engine_component_name(e, 0);
                (void) xfsm_engine_start(e);
                for (size_t i = 0; i < xfsm_component_n_machines(e, c) && i < 8; i++) {
                        xfsm_instance *inst = NULL;
                        if (xfsm_engine_create(e, c, xfsm_component_machine(e, c, i), "{\"id\":1}", &inst) == 0 && inst)
                                (void) xfsm_instance_send(e, inst, "GO", "{\"id\":1}", NULL);
                }
                (void) xfsm_engine_advance(e, 100000);
                null = fopen("/dev/null", "we");
                if (null) {
                        (void) xfsm_engine_write_graph(e, c, NULL, "dot", null);
                        (void) xfsm_engine_write_graph(e, c, NULL, "mermaid", null);
                        fclose(null);
                }
                (void) xfsm_component_definition_json(e, c);
        }
        xfsm_engine_free(e);
        return 0;
}
