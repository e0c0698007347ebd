/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The journal on real files: records back in order, a torn tail truncated, a
 * corrupt middle record kept aside (never skipped), snapshot + replay, the
 * directory lock. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"

static char dir[256];

typedef struct Seen {
        char text[8192];
        size_t len;
        uint64_t snapshot_seq;
} Seen;

static int on_snapshot(void *userdata, uint64_t seq, uint32_t meta, const char *body, size_t len) {
        Seen *s = userdata;
        s->snapshot_seq = seq;
        if (meta)
                s->len += (size_t) snprintf(s->text + s->len, sizeof s->text - s->len, "m%u/", meta);
        s->len += (size_t) snprintf(s->text + s->len, sizeof s->text - s->len, "S%llu:%.*s;", (unsigned long long) seq,
                                    (int) len, body);
        return 0;
}

static int on_record(void *userdata, uint64_t seq, uint32_t meta, const char *body, size_t len) {
        Seen *s = userdata;
        if (meta)
                s->len += (size_t) snprintf(s->text + s->len, sizeof s->text - s->len, "m%u/", meta);
        s->len += (size_t) snprintf(s->text + s->len, sizeof s->text - s->len, "%llu:%.*s;", (unsigned long long) seq,
                                    (int) len, body);
        return 0;
}

static int setup(void **state) {
        (void) state;
        snprintf(dir, sizeof dir, "/tmp/xfsm-journal-XXXXXX");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown(void **state) {
        char cmd[300];
        (void) state;
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static Journal *open_recovered(Seen *s, JournalReport *rep) {
        Journal *j = NULL;
        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_recover(j, on_snapshot, on_record, s, rep), 0);
        return j;
}

static void append(Journal *j, const char *text) {
        assert_int_equal(journal_append(j, 0, text, strlen(text), NULL), 0);
}

static void test_records_come_back_in_order_and_the_directory_is_locked(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j, *other = NULL;
        (void) state;

        j = open_recovered(&s, &rep);
        assert_int_equal(rep.records, 0);
        append(j, "a");
        append(j, "bb");
        append(j, "ccc");
        assert_int_equal(journal_sync(j), 0);
        assert_int_equal(journal_open(dir, &other), -EBUSY); /* two processes never host one component */
        journal_close(j);

        j = open_recovered(&s, &rep);
        assert_string_equal(s.text, "1:a;2:bb;3:ccc;");
        assert_int_equal(rep.last_seq, 3);
        assert_false(rep.torn_tail || rep.corrupt);
        append(j, "d"); /* numbering carries on */
        assert_int_equal(journal_last_seq(j), 4);
        journal_close(j);
}

static void test_torn_tail_is_truncated(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j;
        char path[300];
        struct stat st;
        (void) state;

        j = open_recovered(&s, &rep);
        append(j, "one");
        append(j, "two");
        journal_close(j);
        /* a crash in the middle of writing the third record */
        snprintf(path, sizeof path, "%s/journal", dir);
        assert_int_equal(stat(path, &st), 0);
        int fd = open(path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "XFJ1\x10\x00\x00\x00\x03", 9), 9);
        close(fd);

        memset(&s, 0, sizeof s);
        j = open_recovered(&s, &rep);
        assert_true(rep.torn_tail);
        assert_false(rep.corrupt);
        assert_string_equal(s.text, "1:one;2:two;");
        append(j, "three");
        journal_close(j);
        memset(&s, 0, sizeof s);
        j = open_recovered(&s, &rep);
        assert_string_equal(s.text, "1:one;2:two;3:three;");
        assert_false(rep.torn_tail);
        journal_close(j);
}

static void test_corrupt_middle_record_is_kept_aside_not_skipped(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j;
        char path[300];
        (void) state;

        j = open_recovered(&s, &rep);
        append(j, "first");
        append(j, "second");
        append(j, "third");
        journal_close(j);
        /* flip a byte of the second record's body */
        snprintf(path, sizeof path, "%s/journal", dir);
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "X", 1, 24 + 5 + 24 + 1), 1);
        close(fd);

        memset(&s, 0, sizeof s);
        j = open_recovered(&s, &rep);
        assert_true(rep.corrupt);
        assert_int_equal(rep.corrupt_offset, 24 + 5);
        assert_string_equal(s.text, "1:first;"); /* stops there: "third" is not applied past a hole */
        assert_int_equal(access(rep.kept_aside, F_OK), 0);
        journal_close(j);
}

static void test_snapshot_then_replay(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j;
        (void) state;

        j = open_recovered(&s, &rep);
        append(j, "r1");
        append(j, "r2");
        assert_int_equal(journal_snapshot(j, 0, "{state after r2}", 16), 0);
        assert_int_equal(journal_records_since_snapshot(j), 0);
        append(j, "r3");
        journal_close(j);

        memset(&s, 0, sizeof s);
        j = open_recovered(&s, &rep);
        assert_string_equal(s.text, "S2:{state after r2};3:r3;");
        assert_int_equal(rep.snapshot_seq, 2);
        assert_int_equal(rep.records, 1);
        journal_close(j);
}

/* What the snapshot policy reads (xfsmd(8)): the room the records after the
 * snapshot take, headers included, and the snapshot's own; both as they
 * are in the files after a restart. */
static void test_room_since_snapshot_is_counted_across_restarts(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j;
        uint64_t header;
        (void) state;

        j = open_recovered(&s, &rep);
        assert_int_equal(journal_bytes_since_snapshot(j), 0);
        assert_int_equal(journal_snapshot_bytes(j), 0);
        append(j, "r1");
        header = journal_bytes_since_snapshot(j) - 2;
        assert_true(header > 0);
        append(j, "r2-longer");
        assert_int_equal(journal_bytes_since_snapshot(j), 2 * header + 2 + 9);
        assert_int_equal(journal_snapshot(j, 0, "{state after r2}", 16), 0);
        assert_int_equal(journal_bytes_since_snapshot(j), 0);
        assert_int_equal(journal_snapshot_bytes(j), header + 16);
        append(j, "r3");
        journal_close(j);

        memset(&s, 0, sizeof s);
        j = open_recovered(&s, &rep);
        assert_int_equal(journal_bytes_since_snapshot(j), header + 2);
        assert_int_equal(journal_snapshot_bytes(j), header + 16);
        append(j, "r4");
        assert_int_equal(journal_bytes_since_snapshot(j), 2 * (header + 2));
        journal_close(j);
}

/* The meta word beside each body comes back as written, 0 for records of
 * journals written before it; it is covered by the checksum (a flipped meta
 * is a torn record, not a record of another format). */
static void test_meta_word_comes_back_and_is_checksummed(void **state) {
        Seen s = {};
        JournalReport rep;
        Journal *j = open_recovered(&s, &rep);
        uint8_t word[4];
        char path[300];
        int fd;

        append(j, "{old}");
        assert_int_equal(journal_append(j, 0x102, "{new}", 5, NULL), 0);
        assert_int_equal(journal_snapshot(j, 2, "{snap}", 6), 0);
        assert_int_equal(journal_append(j, 0x102, "{after}", 7, NULL), 0);
        journal_close(j);

        s = (Seen) {};
        j = open_recovered(&s, &rep);
        assert_string_equal(s.text, "m2/S2:{snap};m258/3:{after};");
        journal_close(j);

        /* the meta word of the last record, changed on disk */
        snprintf(path, sizeof path, "%s/journal", dir);
        fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, word, 4, 20), 4);
        word[0] ^= 0x01;
        assert_int_equal(pwrite(fd, word, 4, 20), 4);
        close(fd);
        s = (Seen) {};
        j = open_recovered(&s, &rep);
        assert_true(rep.torn_tail);
        assert_string_equal(s.text, "m2/S2:{snap};");
        journal_close(j);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_records_come_back_in_order_and_the_directory_is_locked, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_torn_tail_is_truncated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_middle_record_is_kept_aside_not_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_snapshot_then_replay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_room_since_snapshot_is_counted_across_restarts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_meta_word_comes_back_and_is_checksummed, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
