/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: any bytes as a sequence of events, clock steps and
 * instance creations run against statecharts that use every construct the
 * SCXML algorithm has (compound and parallel states, history shallow and
 * deep, internal transitions from compound, parallel and atomic states,
 * eventless and targetless transitions with counters, done.state events
 * (of a parallel state with a parallel region too), timeouts, delayed
 * sends, sends to self). The engine checks the
 * configuration after every microstep (XFSM_CHECK_CONFIGURATION) and
 * aborts on an illegal one; a crash, a leak or a hang is a finding too. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xfsm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char chart_yaml[] =
        "name: Fuzz\n"
        "stateMachines:\n"
        "  - name: Chart\n"
        "    initialState: Top\n"
        "    states:\n"
        "      - name: Top\n"
        "        history: deep\n"
        "        states:\n"
        "          - name: Idle\n"
        "            onEntry: [{send: {to: self, event: PING}}]\n"
        "          - name: P\n"
        "            type: parallel\n"
        "            onEntry: [{assign: {n: 'n + 1'}}]\n"
        "            states:\n"
        "              - name: R1\n"
        "                history: shallow\n"
        "                states:\n"
        "                  - {name: A1}\n"
        "                  - name: A2\n"
        "                    states: [{name: A2a}, {name: A2b}]\n"
        "                  - {name: A3, type: final}\n"
        "              - name: R2\n"
        "                states:\n"
        "                  - {name: B1}\n"
        "                  - {name: B2, onEntry: [{send: {to: self, event: NEXT}}]}\n"
        "                  - {name: B3, type: final}\n"
        "              - name: R3\n"
        "                type: parallel\n"
        "                states:\n"
        "                  - name: Q1\n"
        "                    states: [{name: C1}, {name: C2}, {name: C3, type: final}]\n"
        "                  - name: Q2\n"
        "                    states: [{name: D1}, {name: D2}, {name: D3, type: final}]\n"
        "          - name: Wait\n"
        "      - {name: Away}\n"
        "      - {name: End, type: final}\n"
        "    transitions:\n"
        "      - {from: Idle, to: P, event: GO}\n"
        "      - {from: Idle, to: Wait, event: PING}\n"
        "      - {from: Wait, to: A2b, event: GO}\n"
        "      - {from: Wait, to: Idle, event: TICK, type: timeout, timeoutMs: 30}\n"
        "      - {from: P, to: A2, event: NEXT, type: internal}\n"
        "      - {from: P, to: B2, event: JUMP, type: internal}\n"
        "      - {from: R1, to: A2b, event: NEXT, type: internal}\n"
        "      - {from: A1, to: A2, event: NEXT}\n"
        "      - {from: A2a, to: A2b, event: NEXT}\n"
        "      - {from: A2b, to: A3, guard: 'n >= 3'}\n"
        "      - {from: A2, to: A1, event: BACK}\n"
        "      - {from: B1, to: B2, event: NEXT}\n"
        "      - {from: B2, to: B3, event: NEXT}\n"
        "      - {from: B2, to: B1, guard: 'n == 6'}\n"
        "      - {from: C1, to: C2, event: FLIP}\n"
        "      - {from: C2, to: C1, event: FLIP}\n"
        "      - {from: D1, to: D2, guard: 'n > 1'}\n"
        "      - {from: D2, to: D1, event: FLIP, type: internal}\n"
        "      - {from: Q1, to: D2, event: CROSS}\n"
        "      - {from: R3, event: COUNT, actions: [{assign: {n: 'n + 1'}}]}\n"
        "      - {from: C2, to: C3, event: TICK}\n"
        "      - {from: D2, to: D3, event: TICK}\n"
        "      - {from: P, event: done.state.R3, actions: [{assign: {n: 'n + 1'}}]}\n"
        "      - {from: R3, event: LATER, actions: [{send: {to: self, event: FLIP, delayMs: 20}}]}\n"
        "      - {from: P, to: Wait, event: done.state.P}\n"
        "      - {from: P, event: done.state.R1, actions: [{assign: {n: 'n + 1'}}]}\n"
        "      - {from: Top, to: Away, event: OUT}\n"
        "      - {from: Away, to: Top, event: BACK}\n"
        "      - {from: Away, to: P, event: GO}\n"
        "      - {from: Top, to: Top, event: RESET}\n"
        "      - {from: Top, to: End, event: STOP}\n"
        "      - {from: Top, event: COUNT, actions: [{assign: {n: 'n + 1'}}]}\n"
        "  - name: Flat\n"
        "    initialState: A\n"
        "    semantics: scxml\n"
        "    states: [{name: A}, {name: B}, {name: C}]\n"
        "    transitions:\n"
        "      - {from: A, to: B, event: GO}\n"
        "      - {from: B, to: C, guard: 'n >= 2'}\n"
        "      - {from: B, event: COUNT, actions: [{assign: {n: 'n + 1'}}]}\n"
        "      - {from: C, to: A, event: BACK}\n"
        "      - {from: C, to: A, type: auto, event: AGAIN, guard: 'n < 4'}\n"
        "      - {from: A, to: A, event: RESET, type: internal}\n";

static const char *const events[] = {
        "GO",   "PING", "TICK",  "NEXT", "JUMP",  "BACK", "FLIP",  "CROSS",
        "COUNT", "LATER", "OUT", "RESET", "STOP", "AGAIN", "done.state.P", "NOPE",
};

static xfsm_engine *engine;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        setenv("XFSM_CHECK_CONFIGURATION", "1", 1);
        return 0;
}

static xfsm_engine *new_engine(void) {
        xfsm_engine *e = xfsm_engine_new();
        if (!e)
                abort();
        xfsm_engine_use_virtual_clock(e, 1700000000000ULL);
        xfsm_engine_seed(e, 1);
        if (xfsm_engine_load_string(e, "fuzz.yaml", chart_yaml, sizeof chart_yaml - 1, NULL, NULL) < 0)
                abort(); /* the definition itself is wrong */
        return e;
}

/* One engine (loading is dearer than a run); each run's instances are
 * forgotten at its end. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        xfsm_instance *inst[4] = {};
        size_t n_inst = 0;

        if (!engine)
                engine = new_engine();
        for (size_t k = 0; k < size; k++) {
                uint8_t b = data[k];
                const char *st = NULL;

                if (b >= 0xf0) {
                        /* a new instance: Chart or Flat, n from the low bits */
                        char ctx[32];
                        xfsm_instance *i = NULL;
                        snprintf(ctx, sizeof ctx, "{\"n\": %d}", b & 3);
                        if (n_inst < 4 &&
                            xfsm_engine_create(engine, NULL, (b & 4) ? "Flat" : "Chart", ctx, &i) >= 0)
                                inst[n_inst++] = i;
                } else if (b >= 0xe0)
                        (void) xfsm_engine_advance(engine, (uint64_t) (b & 0x0f) * 5);
                else {
                        if (n_inst == 0) {
                                xfsm_instance *i = NULL;
                                if (xfsm_engine_create(engine, NULL, "Chart", "{\"n\": 0}", &i) < 0)
                                        continue;
                                inst[n_inst++] = i;
                        }
                        xfsm_instance *i = inst[(b >> 4) % n_inst];
                        (void) xfsm_instance_send(engine, i, events[b & 0x0f], NULL, &st);
                        if (st && !*st)
                                abort(); /* a configuration always has a text */
                }
        }
        for (size_t k = 0; k < n_inst; k++) {
                char id[64];
                snprintf(id, sizeof id, "%s", xfsm_instance_id(inst[k]));
                if (xfsm_engine_forget(engine, id) < 0)
                        abort();
        }
        if (xfsm_engine_n_instances(engine) != 0)
                abort(); /* an instance nobody created */
        /* past every retention deadline: the forgotten instances' heap entries go, and them with them */
        (void) xfsm_engine_advance(engine, 25ULL * 3600 * 1000);
        return 0;
}
