/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bodies of journal records and snapshots (docs/xfsmd.8, DURABILITY):
 * their framing, version and dispatch. Each module writes and reads its own
 * members (the engine its instance images, outbox.c its entries, hwm.c its
 * marks, work.c its work, durable.c the event ids); this module puts them
 * together and hands each member to its reader.
 *
 * A record is one JSON object:
 *   {"v": 2, "bootId": ..., "instances": [images], "dropped": [ids], <members>}
 * Records without "v" are format 1 (xfsm before history in images and
 * incarnations in routed-event ids) and read the same way.
 *
 * A snapshot of format 2 is a header line, the image lines, and one line of
 * members (a record without images):
 *   {"v":2,"bootId":...,"images":N}\n<N bytes: one image per line>{"v":2,...}
 * so that the engine reads the images and the modules their members, with
 * nothing written after the snapshot that a crash could lose. A snapshot of
 * format 1 is the header line and the images; its members followed in the
 * first record after it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#define RECORD_FORMAT 2

typedef struct RecordBuf {
        FILE *f;
        char *buf;
        size_t len;
} RecordBuf;

/* Start a record: {"v":2,"bootId":"..." (members follow with record_member()). */
int record_open(RecordBuf *rb, const char *boot_id);
/* Start member key: writes ,"key": and returns the stream to write its value to. */
FILE *record_member(RecordBuf *rb, const char *key);
/* Finish: the body is rb->buf, rb->len. */
int record_close(RecordBuf *rb);
void record_done(RecordBuf *rb);

/* Readers of members: called for each member present, in this table's order. */
typedef int (*record_member_fn)(void *userdata, json_object *value);
typedef struct RecordReader {
        const char *key;
        record_member_fn read;
} RecordReader;

/* Hand the members of body that readers know to them. Bodies are parsed
 * only when one of the keys occurs in them (most records hold only images,
 * which the engine reads). Returns the first reader's failure, or -EBADMSG
 * when body is not a JSON object. */
int record_dispatch(const char *body, size_t len, const RecordReader *readers, size_t n_readers, void *userdata);

/* Snapshots. Writing: snapshot_open() writes the header with a placeholder
 * for the images' size, the caller writes the image lines to rb->f, then
 * snapshot_members() closes the images and opens the members' record,
 * whose members the caller adds with record_member(), then record_close(). */
int snapshot_open(RecordBuf *rb, const char *boot_id);
int snapshot_members(RecordBuf *rb, const char *boot_id);
/* Reading: the part for the engine (header and images), and the members'
 * record (NULL, 0 for a snapshot of format 1). */
int snapshot_split(const char *body, size_t len, size_t *ret_images_len, const char **ret_members,
                   size_t *ret_members_len);
