/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Record and snapshot bodies (daemon/record.c), alone: the format and the
 * members flag in the meta word, members handed to their readers (and
 * bodies without them never parsed), snapshots split into the engine's part
 * and the members' part, records and snapshots of format 1 read as before,
 * and a newer format refused. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "xfsm.h"

typedef struct Seen {
        int outbox, hwm;
        char outbox_text[256];
} Seen;

static int read_outbox(void *userdata, json_object *v) {
        Seen *s = userdata;
        s->outbox++;
        snprintf(s->outbox_text, sizeof s->outbox_text, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        return 0;
}

static int read_hwm(void *userdata, json_object *v) {
        Seen *s = userdata;
        s->hwm++;
        return json_object_is_type(v, json_type_object) ? 0 : -EBADMSG;
}

static const RecordReader readers[] = {
        { "outbox", read_outbox },
        { "hwm", read_hwm },
};

static void test_record_carries_boot_id_members_and_meta(void **state) {
        RecordBuf rb;
        json_object *o, *v;
        Seen seen = {};

        assert_int_equal(record_open(&rb, "boot-\"1\""), 0);
        fputs("[]", record_member(&rb, "instances"));
        fputs("[{\"target\":\"Payment\"}]", record_member(&rb, "outbox"));
        assert_int_equal(record_close(&rb), 0);
        assert_int_equal(rb.meta, RECORD_FORMAT | RECORD_HAS_MEMBERS);

        o = json_tokener_parse(rb.buf);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "bootId", &v));
        assert_string_equal(json_object_get_string(v), "boot-\"1\"");
        assert_false(json_object_object_get_ex(o, "v", &v)); /* the version is in the meta word, not parsed */
        json_object_put(o);

        assert_int_equal(record_dispatch(rb.meta, rb.buf, rb.len, readers, 2, &seen), 0);
        assert_int_equal(seen.outbox, 1);
        assert_int_equal(seen.hwm, 0);
        assert_string_equal(seen.outbox_text, "[{\"target\":\"Payment\"}]");
        record_done(&rb);
}

/* A record of images only says so: it is not parsed again, even when an
 * image's context happens to hold a member's key. */
static void test_records_with_images_only_are_not_parsed_again(void **state) {
        static const char not_json[] = "{\"instances\":[ this is not json";
        RecordBuf rb;
        Seen seen = {};

        assert_int_equal(record_open(&rb, "b"), 0);
        fputs("[{\"context\":{\"outbox\":[1]}}]", record_member(&rb, "instances"));
        fputs("[]", record_member(&rb, "dropped"));
        assert_int_equal(record_close(&rb), 0);
        assert_int_equal(rb.meta, RECORD_FORMAT);
        assert_int_equal(record_dispatch(rb.meta, rb.buf, rb.len, readers, 2, &seen), 0);
        assert_int_equal(seen.outbox, 0);
        record_done(&rb);
        assert_int_equal(record_dispatch(RECORD_FORMAT, not_json, strlen(not_json), readers, 2, &seen), 0);
}

/* Format 1 (meta 0): parsed when a member's key occurs, skipped otherwise;
 * a reader's refusal is the dispatch's. */
static void test_format_1_records_are_read_by_their_keys(void **state) {
        static const char images[] = "{\"bootId\":\"\",\"instances\":[],\"dropped\":[]}";
        static const char hwm[] = "{\"bootId\":\"\",\"instances\":[],\"dropped\":[],\"hwm\":{\"source\":\"X\"}}";
        static const char bad[] = "{\"hwm\":[1,2]}";
        Seen seen = {};

        assert_int_equal(record_dispatch(0, images, strlen(images), readers, 2, &seen), 0);
        assert_int_equal(seen.hwm, 0);
        assert_int_equal(record_dispatch(0, hwm, strlen(hwm), readers, 2, &seen), 0);
        assert_int_equal(seen.hwm, 1);
        assert_int_equal(record_dispatch(0, bad, strlen(bad), readers, 2, &seen), -EBADMSG);
}

/* A format newer than this reader's is refused, not misread. */
static void test_newer_format_is_refused(void **state) {
        static const char body[] = "{\"bootId\":\"\"}";
        const char *members;
        size_t images_len, members_len;
        Seen seen = {};

        assert_int_equal(record_check_format(RECORD_FORMAT + 1), -EPROTONOSUPPORT);
        assert_int_equal(record_check_format(RECORD_FORMAT | RECORD_HAS_MEMBERS), 0);
        assert_int_equal(record_dispatch(RECORD_FORMAT + 1, body, strlen(body), readers, 2, &seen), -EPROTONOSUPPORT);
        assert_int_equal(snapshot_split(RECORD_FORMAT + 1, body, strlen(body), &images_len, &members, &members_len),
                         -EPROTONOSUPPORT);
}

/* A snapshot of format 2: the engine gets the header and the images, the
 * modules the members; the engine restores the images from its part. */
static void test_snapshot_splits_images_and_members(void **state) {
        RecordBuf rb;
        const char *members;
        size_t images_len, members_len;
        xfsm_engine *e = xfsm_engine_new(), *e2 = xfsm_engine_new();
        static const char yaml[] = "name: C\nstateMachines:\n  - name: M\n    initialState: A\n"
                                   "    states: [{name: A}, {name: B}]\n"
                                   "    transitions: [{from: A, to: B, event: GO}]\n";
        xfsm_instance *i;
        char *image;
        Seen seen = {};
        unsigned restored = 0;

        assert_int_equal(xfsm_engine_load_string(e, "c.yaml", yaml, strlen(yaml), NULL, NULL), 0);
        assert_int_equal(xfsm_engine_load_string(e2, "c.yaml", yaml, strlen(yaml), NULL, NULL), 0);
        assert_int_equal(xfsm_engine_create(e, "C", "M", "{\"n\":1}", &i), 0);
        image = xfsm_instance_to_json(i);

        assert_int_equal(snapshot_open(&rb, "b1"), 0);
        fputs(image, rb.f);
        fputc('\n', rb.f);
        assert_int_equal(snapshot_members(&rb, "b1"), 0);
        fputs("{\"source\":\"X\",\"seq\":1,\"rule\":0}", record_member(&rb, "hwm"));
        assert_int_equal(record_close(&rb), 0);
        assert_int_equal(rb.meta, RECORD_FORMAT | RECORD_HAS_MEMBERS);

        assert_int_equal(snapshot_split(rb.meta, rb.buf, rb.len, &images_len, &members, &members_len), 0);
        assert_non_null(members);
        assert_int_equal(images_len + members_len, rb.len);
        assert_true(members[0] == '{' && members[members_len - 1] == '}');
        assert_int_equal(record_dispatch(rb.meta, members, members_len, readers, 2, &seen), 0);
        assert_int_equal(seen.hwm, 1);

        assert_int_equal(xfsm_engine_stage_images(e2, rb.buf, images_len, "b1"), 0);
        assert_int_equal(xfsm_engine_restore_finish(e2, &restored), 0);
        assert_int_equal(restored, 1);
        assert_non_null(xfsm_engine_find(e2, xfsm_instance_id(i)));

        free(image);
        record_done(&rb);
        xfsm_engine_free(e);
        xfsm_engine_free(e2);
}

/* A snapshot of format 1 (meta 0) is all images. */
static void test_snapshot_of_format_1_is_all_images(void **state) {
        static const char old[] = "{\"bootId\":\"b1\"}\n{\"id\":\"x\"}\n";
        const char *members = "unset";
        size_t images_len = 0, members_len = 1;

        assert_int_equal(snapshot_split(0, old, strlen(old), &images_len, &members, &members_len), 0);
        assert_int_equal(images_len, strlen(old));
        assert_null(members);
        assert_int_equal(members_len, 0);
        assert_int_equal(snapshot_split(RECORD_FORMAT, "no newline", 10, &images_len, &members, &members_len),
                         -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_carries_boot_id_members_and_meta),
                cmocka_unit_test(test_records_with_images_only_are_not_parsed_again),
                cmocka_unit_test(test_format_1_records_are_read_by_their_keys),
                cmocka_unit_test(test_newer_format_is_refused),
                cmocka_unit_test(test_snapshot_splits_images_and_members),
                cmocka_unit_test(test_snapshot_of_format_1_is_all_images),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
