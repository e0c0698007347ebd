/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bodies of journal records and snapshots (xfsmd(8), DURABILITY): their
 * format, the meta word the journal keeps beside each body, and dispatch.
 * Each module writes and reads its own members (the engine its instance
 * images, outbox.c its entries, hwm.c its marks, work.c its work,
 * durable.c the event ids); this module puts them together and hands each
 * member to its reader.
 *
 * A record is one JSON object:
 *   {"bootId":...,"instances":[images],"dropped":[ids],<members>}
 * Its meta word says its format (RECORD_FORMAT) and whether members other
 * than the engine's follow (RECORD_HAS_MEMBERS), so that recovery parses a
 * record a second time only when it has them (most hold only images), and
 * costs the parser nothing per record. Meta 0 is format 1 (xfsm before
 * history in images and incarnations in routed-event ids): read the same
 * way, looking for the members' keys. A format newer than this one is
 * refused (a newer xfsm wrote it).
 *
 * A snapshot of format 2 is a header line, the image lines, and one record
 * of members:
 *   {"bootId":...,"images":N}\n<N bytes: one image per line>{"bootId":...,<members>}
 * so that the engine reads the images and the modules their members, with
 * nothing written after the snapshot that a crash could lose. A snapshot of
 * format 1 is the header line and the images; its members followed in the
 * first record after it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#define RECORD_FORMAT 2
#define RECORD_FORMAT_MASK 0xffu
#define RECORD_HAS_MEMBERS (1u << 8)

typedef struct RecordBuf {
        FILE *f;
        char *buf;
        size_t len;
        uint32_t meta; /* set by record_close(): for journal_append() / journal_snapshot() */
        bool has_members;
} RecordBuf;

/* Start a record: {"bootId":"..." (members follow with record_member()). */
int record_open(RecordBuf *rb, const char *boot_id);
/* Start member key: writes ,"key": and returns the stream to write its value to. */
FILE *record_member(RecordBuf *rb, const char *key);
/* Finish: the body is rb->buf, rb->len, its meta word rb->meta. */
int record_close(RecordBuf *rb);
void record_done(RecordBuf *rb);

/* Is meta of a format this reader knows (-EPROTONOSUPPORT if newer)? */
int record_check_format(uint32_t meta);

/* Readers of members: called for each member present, in this table's order. */
typedef int (*record_member_fn)(void *userdata, json_object *value);
typedef struct RecordReader {
        const char *key;
        record_member_fn read;
} RecordReader;

/* Hand the members of body that readers know to them. A body is parsed
 * only when its meta says it has members (format 2) or one of the keys
 * occurs in it (format 1). Returns the first reader's failure, -EBADMSG
 * when body is not a JSON object, -EPROTONOSUPPORT for a newer format. */
int record_dispatch(uint32_t meta, const char *body, size_t len, const RecordReader *readers, size_t n_readers,
                    void *userdata);

/* Snapshots. Writing: snapshot_open() writes the header with a placeholder
 * for the images' size, the caller writes the image lines to rb->f, then
 * snapshot_members() closes the images and opens the members' record,
 * whose members the caller adds with record_member(), then record_close(). */
int snapshot_open(RecordBuf *rb, const char *boot_id);
int snapshot_members(RecordBuf *rb, const char *boot_id);
/* Reading: the part for the engine (header and images), and the members'
 * record (NULL, 0 for a snapshot of format 1). */
int snapshot_split(uint32_t meta, const char *body, size_t len, size_t *ret_images_len, const char **ret_members,
                   size_t *ret_members_len);
