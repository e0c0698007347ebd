/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Transition history kept by the engine (xfsm_engine_set_history_limit()),
 * through the public API: what a ring keeps and drops, that only committed
 * steps add to it, and that it survives the images recovery goes through
 * (snapshot lines with "log", record images with "logAdded", the staged
 * snapshot a tail supersedes, images written before history was kept). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "xfsm.h"

#define T0 1700000000000ULL

static const char toggle_yaml[] = "name: T\n"
                                  "stateMachines:\n"
                                  "  - name: Toggle\n"
                                  "    initialState: Off\n"
                                  "    states: [{name: Off, type: entry}, {name: On}, {name: Spin}]\n"
                                  "    transitions:\n"
                                  "      - {from: Off, to: On, event: FLIP}\n"
                                  "      - {from: On, to: Off, event: FLIP}\n"
                                  "      - {from: Off, to: Spin, event: SPIN}\n"
                                  "      - {from: Spin, to: Spin, event: AGAIN, type: auto}\n"
                                  "      - {from: On, to: Spin, event: LATE, type: timeout, timeoutMs: 100}\n";

/* A toggle whose Off -> On goes on to Off again at once (two entries, one step). */
static const char bounce_yaml[] = "name: T\n"
                                  "stateMachines:\n"
                                  "  - name: Toggle\n"
                                  "    initialState: Off\n"
                                  "    states: [{name: Off, type: entry}, {name: On}]\n"
                                  "    transitions:\n"
                                  "      - {from: Off, to: On, event: FLIP}\n"
                                  "      - {from: On, to: Off, event: BACK, type: auto}\n";

static void fail_on_error(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                          const char *message) {
        (void) userdata;
        if (severity == XFSM_DIAG_ERROR)
                fail_msg("%s:%u:%u: %s", file, line, column, message);
}

static xfsm_engine *engine(const char *yaml, unsigned limit, size_t max_bytes) {
        xfsm_engine *e = xfsm_engine_new();

        assert_non_null(e);
        xfsm_engine_use_virtual_clock(e, T0);
        xfsm_engine_seed(e, 7);
        xfsm_engine_set_history_limit(e, limit, max_bytes);
        assert_int_equal(xfsm_engine_load_string(e, "test.yaml", yaml, strlen(yaml), fail_on_error, NULL), 0);
        return e;
}

static const char *example(const char *name) {
        static char buf[1024];
        const char *d = getenv("XFSM_EXAMPLES");
        snprintf(buf, sizeof buf, "%s/%s", d ? d : "examples", name);
        return buf;
}

static xfsm_instance *create(xfsm_engine *e, const char *machine, const char *ctx) {
        xfsm_instance *i = NULL;
        if (xfsm_engine_create(e, NULL, machine, ctx, &i) < 0)
                fail_msg("create %s: %s", machine, xfsm_engine_last_error(e));
        assert_non_null(i);
        return i;
}

static void send_ok(xfsm_engine *e, xfsm_instance *i, const char *event) {
        if (xfsm_instance_send(e, i, event, NULL, NULL) < 0)
                fail_msg("send %s: %s", event, xfsm_engine_last_error(e));
}

/* The history of id in e as GetHistory has it (malloc'd). */
static char *history(xfsm_engine *e, const char *id) {
        xfsm_instance *i = xfsm_engine_find(e, id);
        assert_non_null(i);
        char *s = xfsm_instance_history_json(i);
        assert_non_null(s);
        return s;
}

static void assert_same_history(xfsm_engine *a, xfsm_engine *b, const char *id) {
        char *x = history(a, id), *y = history(b, id);
        assert_string_equal(x, y);
        free(x);
        free(y);
}

/* The image with its history key cut off: what an image looked like before
 * history was kept (malloc'd). */
static char *without_history(const char *image) {
        const char *p = NULL;
        char *s;
        for (const char *q = strstr(image, ",\"log"); q; q = strstr(q + 1, ",\"log"))
                p = q; /* the last: the context may have a key "log" too */
        assert_non_null(p);
        assert_true(asprintf(&s, "%.*s}", (int) (p - image), image) > 0);
        return s;
}

/* ---- the ring -------------------------------------------------------------------- */

static void test_history_is_off_by_default(void **state) {
        (void) state;
        xfsm_engine *e = xfsm_engine_new();
        assert_int_equal(xfsm_engine_load_string(e, "t.yaml", toggle_yaml, strlen(toggle_yaml), fail_on_error, NULL),
                         0);
        xfsm_instance *i = create(e, "Toggle", NULL);
        send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 0);
        char *h = xfsm_instance_history_json(i);
        assert_string_equal(h, "[]");
        free(h);
        xfsm_engine_free(e);
}

static void test_history_keeps_the_last_transitions_oldest_first(void **state) {
        (void) state;
        xfsm_engine *e = engine(toggle_yaml, 3, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);

        assert_int_equal(xfsm_instance_n_history(i), 0); /* creation is not a transition */
        for (int k = 0; k < 5; k++) {
                xfsm_engine_advance(e, 10);
                send_ok(e, i, "FLIP");
        }
        assert_int_equal(xfsm_instance_n_history(i), 3);
        char *h = xfsm_instance_history_json(i), want[512];
        snprintf(want, sizeof want,
                 "[{\"event\":\"FLIP\",\"from\":\"Off\",\"to\":\"On\",\"at\":%llu},"
                 "{\"event\":\"FLIP\",\"from\":\"On\",\"to\":\"Off\",\"at\":%llu},"
                 "{\"event\":\"FLIP\",\"from\":\"Off\",\"to\":\"On\",\"at\":%llu}]",
                 T0 + 30, T0 + 40, T0 + 50);
        assert_string_equal(h, want);
        assert_int_equal(xfsm_instance_updated_at(i), T0 + 50);
        free(h);
        xfsm_engine_free(e);
}

static void test_history_text_is_capped_in_bytes_oldest_first(void **state) {
        (void) state;
        /* FLIP+Off+On: 9 bytes an entry; 40 bytes hold 4 of them */
        xfsm_engine *e = engine(toggle_yaml, 100, 40);
        xfsm_instance *i = create(e, "Toggle", NULL);

        for (int k = 0; k < 4; k++)
                send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 4);
        send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 4);
        /* the newest stays: it goes Off -> On after five flips */
        char *h = xfsm_instance_history_json(i);
        assert_non_null(strstr(h, "\"from\":\"Off\",\"to\":\"On\",\"at\":1700000000000}]"));
        free(h);
        xfsm_engine_free(e);
}

static void test_lower_limit_trims_what_instances_hold(void **state) {
        (void) state;
        xfsm_engine *e = engine(toggle_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);

        for (int k = 0; k < 6; k++)
                send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 6);
        xfsm_engine_set_history_limit(e, 2, 0);
        assert_int_equal(xfsm_instance_n_history(i), 2);
        send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 2);
        xfsm_engine_set_history_limit(e, 0, 0);
        assert_int_equal(xfsm_instance_n_history(i), 0);
        send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 0);
        xfsm_engine_free(e);
}

static void test_every_transition_of_a_step_is_an_entry(void **state) {
        (void) state;
        xfsm_engine *e = engine(bounce_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);

        send_ok(e, i, "FLIP");
        assert_string_equal(xfsm_instance_state(i), "Off");
        char *h = xfsm_instance_history_json(i);
        assert_string_equal(h, "[{\"event\":\"FLIP\",\"from\":\"Off\",\"to\":\"On\",\"at\":1700000000000},"
                               "{\"event\":\"BACK\",\"from\":\"On\",\"to\":\"Off\",\"at\":1700000000000}]");
        free(h);
        xfsm_engine_free(e);
}

static void test_statechart_history_has_the_configurations(void **state) {
        (void) state;
        xfsm_engine *e = xfsm_engine_new();
        xfsm_engine_use_virtual_clock(e, T0);
        xfsm_engine_set_history_limit(e, 10, 0);
        assert_int_equal(xfsm_engine_load_file(e, example("media-player.yaml"), fail_on_error, NULL), 0);
        xfsm_instance *i = create(e, "Player", "{\"track\":1}");
        send_ok(e, i, "POWER");
        send_ok(e, i, "PLAY");
        char *h = xfsm_instance_history_json(i);
        assert_string_equal(h, "[{\"event\":\"POWER\",\"from\":\"Off\",\"to\":\"Stopped\",\"at\":1700000000000},"
                               "{\"event\":\"PLAY\",\"from\":\"Stopped\",\"to\":\"Playing\",\"at\":1700000000000}]");
        free(h);
        xfsm_engine_free(e);
}

/* Interned strings outlive the definition they came from. */
static void test_history_survives_a_reload(void **state) {
        (void) state;
        xfsm_engine *e = engine(toggle_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);
        char *before, *after;

        send_ok(e, i, "FLIP");
        before = xfsm_instance_history_json(i);
        assert_int_equal(xfsm_engine_reload_string(e, "test.yaml", bounce_yaml, strlen(bounce_yaml), fail_on_error,
                                                   NULL),
                         1);
        after = xfsm_instance_history_json(i);
        assert_string_equal(before, after);
        free(before);
        free(after);
        xfsm_engine_free(e);
}

/* ---- only committed steps --------------------------------------------------------------- */

static void test_refused_and_looping_steps_leave_history_unchanged(void **state) {
        (void) state;
        xfsm_engine *e = engine(toggle_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL), *j = create(e, "Toggle", NULL);
        char id[64], *before, *after;
        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));

        send_ok(e, i, "FLIP");
        send_ok(e, i, "FLIP");
        before = xfsm_instance_history_json(i);

        /* refused: no transition */
        assert_int_equal(xfsm_instance_send(e, i, "NOPE", NULL, NULL), -XFSM_E_NO_TRANSITION);
        /* a loop: Off -> Spin, then AGAIN forever; the whole step is undone */
        assert_int_equal(xfsm_instance_send(e, i, "SPIN", NULL, NULL), -XFSM_E_LOOP);
        assert_string_equal(xfsm_instance_state(i), "Off");
        after = xfsm_instance_history_json(i);
        assert_string_equal(before, after);
        free(after);

        /* a timer whose step loops: refused as an effect, its transitions undone */
        send_ok(e, j, "FLIP");
        assert_int_equal(xfsm_instance_n_history(j), 1);
        assert_int_equal(xfsm_engine_advance(e, 200), 1);
        assert_string_equal(xfsm_instance_state(j), "On");
        assert_int_equal(xfsm_instance_n_history(j), 1);

        free(before);
        xfsm_engine_free(e);
}

/* ---- images ------------------------------------------------------------------------------ */

typedef struct Capture {
        xfsm_engine *e;
        const char *id;
        char *image; /* the record image of id for the last step */
} Capture;

static void capture_step_image(void *userdata, const xfsm_step *s) {
        Capture *c = userdata;
        xfsm_instance *i = xfsm_engine_find(c->e, c->id);

        assert_non_null(i);
        free(c->image);
        c->image = xfsm_step_instance_json(s, i);
        assert_non_null(c->image);
}

static void test_images_end_with_the_whole_history(void **state) {
        (void) state;
        xfsm_engine *e = engine(toggle_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);
        char *image;

        image = xfsm_instance_to_json(i);
        assert_non_null(strstr(image, ",\"log\":[]}"));
        assert_int_equal(strlen(strstr(image, ",\"log\":[]}")), strlen(",\"log\":[]}"));
        free(image);
        send_ok(e, i, "FLIP");
        send_ok(e, i, "FLIP");
        image = xfsm_instance_to_json(i);
        const char *tail = ",\"log\":[[\"FLIP\",\"Off\",\"On\",1700000000000],[\"FLIP\",\"On\",\"Off\",1700000000000]]}";
        assert_true(strlen(image) > strlen(tail));
        assert_string_equal(image + strlen(image) - strlen(tail), tail);
        json_object *o = json_tokener_parse(image);
        assert_non_null(o);
        json_object_put(o);
        free(image);
        xfsm_engine_free(e);
}

static void test_record_image_carries_only_what_its_step_appended(void **state) {
        (void) state;
        xfsm_engine *e = engine(bounce_yaml, 10, 0);
        xfsm_instance *i = create(e, "Toggle", NULL);
        Capture c = { .e = e, .id = xfsm_instance_id(i) };

        send_ok(e, i, "FLIP");
        xfsm_engine_advance(e, 5);
        xfsm_engine_set_step_handler(e, capture_step_image, &c);
        send_ok(e, i, "FLIP");
        assert_int_equal(xfsm_instance_n_history(i), 4);
        assert_non_null(c.image);
        json_object *o = json_tokener_parse(c.image), *added;
        assert_non_null(o);
        assert_false(json_object_object_get_ex(o, "log", NULL));
        assert_true(json_object_object_get_ex(o, "logAdded", &added));
        assert_int_equal(json_object_array_length(added), 2);
        assert_string_equal(c.image + strlen(c.image) - strlen("1700000000005]]}"), "1700000000005]]}");
        json_object_put(o);

        /* a step with no transition of the instance appends nothing */
        xfsm_instance *other = create(e, "Toggle", NULL);
        (void) other;
        assert_non_null(strstr(c.image, ",\"logAdded\":[]}"));
        free(c.image);
        xfsm_engine_free(e);
}

static void test_snapshot_images_restore_the_same_history(void **state) {
        (void) state;
        xfsm_engine *a = xfsm_engine_new(), *b = xfsm_engine_new();
        char flat[64], chart[64], *ia, *ic;

        xfsm_engine_use_virtual_clock(a, T0);
        xfsm_engine_use_virtual_clock(b, T0);
        xfsm_engine_set_history_limit(a, 100, 0);
        xfsm_engine_set_history_limit(b, 100, 0);
        assert_int_equal(xfsm_engine_load_string(a, "t.yaml", toggle_yaml, strlen(toggle_yaml), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_string(b, "t.yaml", toggle_yaml, strlen(toggle_yaml), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_file(a, example("media-player.yaml"), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_file(b, example("media-player.yaml"), fail_on_error, NULL), 0);

        xfsm_instance *t = create(a, "Toggle", "{\"log\":[\"not\",\"the\",\"history\"]}");
        snprintf(flat, sizeof flat, "%s", xfsm_instance_id(t));
        for (int k = 0; k < 7; k++) {
                xfsm_engine_advance(a, 3);
                send_ok(a, t, "FLIP");
        }
        xfsm_instance *p = create(a, "Player", "{\"track\":1}");
        snprintf(chart, sizeof chart, "%s", xfsm_instance_id(p));
        send_ok(a, p, "POWER");
        send_ok(a, p, "PLAY");
        send_ok(a, p, "PAUSE");
        send_ok(a, p, "POWER");

        ia = xfsm_instance_to_json(t);
        ic = xfsm_instance_to_json(p);
        assert_int_equal(xfsm_engine_restore_json(b, ia), 0);
        assert_int_equal(xfsm_engine_restore_json(b, ic), 0);
        assert_same_history(a, b, flat);
        assert_same_history(a, b, chart);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, flat)), 7);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, chart)), 4);

        /* an engine keeping less keeps the newest */
        xfsm_engine_set_history_limit(b, 2, 0);
        assert_int_equal(xfsm_engine_restore_json(b, ia), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, flat)), 2);

        free(ia);
        free(ic);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

/* The source engine records each step's image as the daemon does; the
 * tests restore them in other engines. */
typedef struct Journal {
        xfsm_engine *e;
        char *records[64];
        size_t n;
} Journal;

static void journal_step(void *userdata, const xfsm_step *s) {
        Journal *j = userdata;
        const char *id = xfsm_step_instance_id(s);
        xfsm_instance *i = id ? xfsm_engine_find(j->e, id) : NULL;
        char *image;

        if (!i || j->n == 64)
                return;
        image = xfsm_step_instance_json(s, i);
        assert_non_null(image);
        assert_true(asprintf(&j->records[j->n++], "{\"bootId\":\"x\",\"instances\":[%s],\"dropped\":[]}", image) > 0);
        free(image);
}

static void journal_free(Journal *j) {
        for (size_t k = 0; k < j->n; k++)
                free(j->records[k]);
        j->n = 0;
}

static void test_record_images_append_to_the_instance_they_replace(void **state) {
        (void) state;
        xfsm_engine *a = engine(toggle_yaml, 100, 0), *b = engine(toggle_yaml, 100, 0);
        Journal j = { .e = a };
        xfsm_instance *i = create(a, "Toggle", NULL);
        char id[64], *snap;

        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        send_ok(a, i, "FLIP");
        send_ok(a, i, "FLIP");
        snap = xfsm_instance_to_json(i);
        xfsm_engine_set_step_handler(a, journal_step, &j);
        for (int k = 0; k < 3; k++) {
                xfsm_engine_advance(a, 1);
                send_ok(a, i, "FLIP");
        }
        assert_int_equal(j.n, 3);

        assert_int_equal(xfsm_engine_restore_json(b, snap), 0);
        for (size_t k = 0; k < j.n; k++)
                assert_int_equal(xfsm_engine_restore_record(b, j.records[k], strlen(j.records[k]), "x", NULL), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 5);
        assert_same_history(a, b, id);
        assert_string_equal(xfsm_instance_state(xfsm_engine_find(b, id)), "On");

        /* records alone (an instance created after the snapshot) hold its whole history */
        xfsm_engine_free(b);
        b = engine(toggle_yaml, 100, 0);
        journal_free(&j);
        xfsm_instance *n = create(a, "Toggle", NULL);
        char nid[64];
        snprintf(nid, sizeof nid, "%s", xfsm_instance_id(n));
        send_ok(a, n, "FLIP");
        send_ok(a, n, "FLIP");
        for (size_t k = 0; k < j.n; k++)
                assert_int_equal(xfsm_engine_restore_record(b, j.records[k], strlen(j.records[k]), "x", NULL), 0);
        assert_same_history(a, b, nid);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, nid)), 2);

        journal_free(&j);
        free(snap);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

static void test_staged_snapshot_superseded_by_a_record_keeps_its_history(void **state) {
        (void) state;
        xfsm_engine *a = engine(toggle_yaml, 100, 0), *b = engine(toggle_yaml, 100, 0);
        Journal j = { .e = a };
        /* context keys named like the history, to mislead a search for it */
        xfsm_instance *i = create(a, "Toggle", "{\"x\":{\"log\":[[\"a\",\"b\",\"c\",1]]},\"log\":[1]}");
        xfsm_instance *other = create(a, "Toggle", NULL);
        char id[64], oid[64], *si, *so, *snap;
        unsigned n = 0;

        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        snprintf(oid, sizeof oid, "%s", xfsm_instance_id(other));
        for (int k = 0; k < 3; k++) {
                xfsm_engine_advance(a, 1);
                send_ok(a, i, "FLIP");
        }
        send_ok(a, other, "FLIP");
        si = xfsm_instance_to_json(i);
        so = xfsm_instance_to_json(other);
        assert_true(asprintf(&snap, "{\"bootId\":\"x\"}\n%s\n%s\n", si, so) > 0);

        /* the tail: two more flips of i, one record each */
        xfsm_engine_set_step_handler(a, journal_step, &j);
        xfsm_engine_advance(a, 1);
        send_ok(a, i, "FLIP");
        xfsm_engine_advance(a, 1);
        send_ok(a, i, "FLIP");
        assert_int_equal(j.n, 2);

        assert_int_equal(xfsm_engine_stage_images(b, snap, strlen(snap), "x"), 0);
        for (size_t k = 0; k < j.n; k++)
                assert_int_equal(xfsm_engine_restore_record(b, j.records[k], strlen(j.records[k]), "x", NULL), 0);
        assert_int_equal(xfsm_engine_restore_finish(b, &n), 0);
        assert_int_equal(n, 1); /* other came from the snapshot, i from the records */
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 5);
        assert_same_history(a, b, id);
        assert_same_history(a, b, oid);
        char *ctx = xfsm_instance_context_json(xfsm_engine_find(b, id));
        assert_string_equal(ctx, "{\"x\":{\"log\":[[\"a\",\"b\",\"c\",1]]},\"log\":[1]}");
        free(ctx);

        /* a snapshot line from before history was kept, superseded: none */
        char *old_si = without_history(si), *old_snap;
        assert_true(asprintf(&old_snap, "{\"bootId\":\"x\"}\n%s\n", old_si) > 0);
        xfsm_engine_free(b);
        b = engine(toggle_yaml, 100, 0);
        assert_int_equal(xfsm_engine_stage_images(b, old_snap, strlen(old_snap), "x"), 0);
        assert_int_equal(xfsm_engine_restore_record(b, j.records[0], strlen(j.records[0]), "x", NULL), 0);
        assert_int_equal(xfsm_engine_restore_finish(b, &n), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 1);

        journal_free(&j);
        free(old_si);
        free(old_snap);
        free(si);
        free(so);
        free(snap);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

static void test_old_images_without_history_restore_empty(void **state) {
        (void) state;
        xfsm_engine *a = engine(toggle_yaml, 100, 0), *b = engine(toggle_yaml, 100, 0);
        xfsm_instance *i = create(a, "Toggle", NULL);
        char id[64], *image, *old, *rec;

        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        send_ok(a, i, "FLIP");
        image = xfsm_instance_to_json(i);
        old = without_history(image);
        assert_null(strstr(old, "log"));

        assert_int_equal(xfsm_engine_restore_json(b, old), 0);
        assert_string_equal(xfsm_instance_state(xfsm_engine_find(b, id)), "On");
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 0);
        /* an old record image replacing one with history: none either */
        assert_int_equal(xfsm_engine_restore_json(b, image), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 1);
        assert_true(asprintf(&rec, "{\"bootId\":\"x\",\"instances\":[%s],\"dropped\":[]}", old) > 0);
        assert_int_equal(xfsm_engine_restore_record(b, rec, strlen(rec), "x", NULL), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 0);
        /* and the history goes on from there */
        send_ok(b, xfsm_engine_find(b, id), "FLIP");
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 1);

        free(rec);
        free(image);
        free(old);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

/* Recovery reads history out of the text of records and images itself:
 * whatever the layout, the escapes or the keys around it, it is what json-c
 * would read. */
static void test_history_is_read_back_whatever_the_layout(void **state) {
        (void) state;
        xfsm_engine *a = engine(toggle_yaml, 100, 0);
        xfsm_instance *i = create(a, "Toggle", "{\"x\":{\"y\":1,\"log\":[[\"a\",\"b\",\"c\",1]]}}");
        char id[64], *image, *bare, *text;
        const char *entries = "[[\"E\\\"x\\\\y\\u00e9\\ud83d\\ude00\\n\",\"A\",\"B\",5] , [ \"F\",\"B\",\"A\",6]]";
        const char *event = "E\"x\\y\xc3\xa9\xf0\x9f\x98\x80\n";
        json_object *h, *v;

        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        image = xfsm_instance_to_json(i);
        bare = without_history(image);
        bare[strlen(bare) - 1] = 0; /* open: keys go on */

        const char *layouts[] = {
                "%s,\"log\":%s}",                  /* as written, with escapes and spaces */
                "%s ,\"log\" : %s }",              /* spaced out: json-c reads it */
                "{\"log\":%2$s,%1$s}",             /* first: json-c reads it */
        };
        for (size_t k = 0; k < sizeof layouts / sizeof *layouts; k++) {
                xfsm_engine *b = engine(toggle_yaml, 100, 0);
                if (k == 2)
                        assert_true(asprintf(&text, layouts[k], bare + 1, entries) > 0);
                else
                        assert_true(asprintf(&text, layouts[k], bare, entries) > 0);
                assert_int_equal(xfsm_engine_restore_json(b, text), 0);
                char *got = history(b, id);
                h = json_tokener_parse(got);
                assert_non_null(h);
                assert_int_equal(json_object_array_length(h), 2);
                assert_true(json_object_object_get_ex(json_object_array_get_idx(h, 0), "event", &v));
                assert_string_equal(json_object_get_string(v), event);
                assert_true(json_object_object_get_ex(json_object_array_get_idx(h, 1), "at", &v));
                assert_int_equal(json_object_get_uint64(v), 6);
                json_object_put(h);
                /* and it is written back as read */
                char *again = xfsm_instance_to_json(xfsm_engine_find(b, id));
                xfsm_engine *c = engine(toggle_yaml, 100, 0);
                assert_int_equal(xfsm_engine_restore_json(c, again), 0);
                assert_same_history(b, c, id);
                xfsm_engine_free(c);
                free(again);
                free(got);
                free(text);
                xfsm_engine_free(b);
        }

        /* not of the form written here: left out, the rest restores */
        xfsm_engine *b = engine(toggle_yaml, 100, 0);
        assert_true(asprintf(&text, "%s,\"log\":[[\"E\",\"A\",\"B\",-1],[1,2]]}", bare) > 0);
        assert_int_equal(xfsm_engine_restore_json(b, text), 0);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, id)), 0);
        char *ctx = xfsm_instance_context_json(xfsm_engine_find(b, id));
        assert_string_equal(ctx, "{\"x\":{\"y\":1,\"log\":[[\"a\",\"b\",\"c\",1]]}}");
        free(ctx);
        free(text);
        xfsm_engine_free(b);

        free(bare);
        free(image);
        xfsm_engine_free(a);
}

/* A record of several images: each gets its own history, whatever else the
 * record holds. */
static void test_record_of_several_images_shares_out_their_histories(void **state) {
        (void) state;
        xfsm_engine *a = engine(toggle_yaml, 100, 0), *b = engine(toggle_yaml, 100, 0);
        xfsm_instance *x = create(a, "Toggle", "{\"log\":[[\"n\",\"o\",\"t\",1]]}"), *y = create(a, "Toggle", NULL),
                      *z = create(a, "Toggle", NULL);
        char idx[64], idy[64], idz[64], *ix, *iy, *iz, *old_iy, *rec;

        snprintf(idx, sizeof idx, "%s", xfsm_instance_id(x));
        snprintf(idy, sizeof idy, "%s", xfsm_instance_id(y));
        snprintf(idz, sizeof idz, "%s", xfsm_instance_id(z));
        send_ok(a, x, "FLIP");
        send_ok(a, x, "FLIP");
        send_ok(a, y, "FLIP");
        send_ok(a, z, "FLIP");
        send_ok(a, z, "FLIP");
        send_ok(a, z, "FLIP");
        ix = xfsm_instance_to_json(x);
        iy = xfsm_instance_to_json(y);
        old_iy = without_history(iy);
        iz = xfsm_instance_to_json(z);
        assert_true(asprintf(&rec,
                             "{\"bootId\":\"x\",\"outbox\":[{\"event\":{\"log\":[1]}}],\"instances\":[%s,%s,%s],"
                             "\"dropped\":[],\"log\":[[\"r\",\"e\",\"c\",1]],\"eventId\":{\"id\":\"a\",\"log\":[]}}",
                             ix, old_iy, iz) > 0);
        unsigned n = 0;
        assert_int_equal(xfsm_engine_restore_record(b, rec, strlen(rec), "x", &n), 0);
        assert_int_equal(n, 3);
        assert_same_history(a, b, idx);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, idy)), 0);
        assert_same_history(a, b, idz);
        assert_int_equal(xfsm_instance_n_history(xfsm_engine_find(b, idz)), 3);
        char *ctx = xfsm_instance_context_json(xfsm_engine_find(b, idx));
        assert_string_equal(ctx, "{\"log\":[[\"n\",\"o\",\"t\",1]]}");
        free(ctx);

        free(rec);
        free(ix);
        free(iy);
        free(old_iy);
        free(iz);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_history_is_off_by_default),
                cmocka_unit_test(test_history_keeps_the_last_transitions_oldest_first),
                cmocka_unit_test(test_history_text_is_capped_in_bytes_oldest_first),
                cmocka_unit_test(test_lower_limit_trims_what_instances_hold),
                cmocka_unit_test(test_every_transition_of_a_step_is_an_entry),
                cmocka_unit_test(test_statechart_history_has_the_configurations),
                cmocka_unit_test(test_history_survives_a_reload),
                cmocka_unit_test(test_refused_and_looping_steps_leave_history_unchanged),
                cmocka_unit_test(test_images_end_with_the_whole_history),
                cmocka_unit_test(test_record_image_carries_only_what_its_step_appended),
                cmocka_unit_test(test_snapshot_images_restore_the_same_history),
                cmocka_unit_test(test_record_images_append_to_the_instance_they_replace),
                cmocka_unit_test(test_staged_snapshot_superseded_by_a_record_keeps_its_history),
                cmocka_unit_test(test_old_images_without_history_restore_empty),
                cmocka_unit_test(test_history_is_read_back_whatever_the_layout),
                cmocka_unit_test(test_record_of_several_images_shares_out_their_histories),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
