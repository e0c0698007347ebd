/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A component's durable state (xfsmd(8), DURABILITY): an append-only
 * journal of checksummed records, one per event's whole effect, and a
 * snapshot that compacts it, in one directory locked with flock(). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Journal Journal;

typedef enum JournalPolicy {
        JOURNAL_SYNC,  /* fdatasync per record */
        JOURNAL_BATCH, /* group commit: fdatasync once for the records of a few ms */
        JOURNAL_NONE,  /* written, never synced */
} JournalPolicy;

int journal_policy_from_string(const char *s, JournalPolicy *ret);
const char *journal_policy_to_string(JournalPolicy p);

/* Open (creating) dir and lock it: -EBUSY if another process holds it. */
int journal_open(const char *dir, Journal **ret);
Journal *journal_close(Journal *j);

typedef struct JournalReport {
        uint64_t snapshot_seq;   /* 0: no snapshot */
        uint64_t records;        /* records replayed after it */
        uint64_t last_seq;
        bool torn_tail;          /* a torn last record was truncated */
        bool corrupt;            /* a corrupt record in the middle: the file was kept aside */
        uint64_t corrupt_offset; /* where it stopped */
        char kept_aside[4200];   /* the name it was kept under */
} JournalReport;

/* Each record and snapshot carries, beside its body, a 32-bit meta word
 * that its writer gives (the body's format and flags: record.h), covered by
 * the checksum; journals written before it have 0 there. */
typedef int (*journal_body_fn)(void *userdata, uint64_t seq, uint32_t meta, const char *body, size_t len);

/* Read the snapshot (if any), then every record after it, in order. A torn
 * tail is truncated; a corrupt record followed by more data stops the
 * replay there, and the journal is renamed aside and started anew. */
int journal_recover(Journal *j, journal_body_fn snapshot, journal_body_fn record, void *userdata,
                    JournalReport *ret);

/* Append one record (written at once; durable after journal_sync()). */
int journal_append(Journal *j, uint32_t meta, const char *body, size_t len, uint64_t *ret_seq);
int journal_sync(Journal *j);
uint64_t journal_records_since_snapshot(const Journal *j);
/* The room the records since the snapshot take in the file (headers
 * included), and the last snapshot's (0: none yet). */
uint64_t journal_bytes_since_snapshot(const Journal *j);
uint64_t journal_snapshot_bytes(const Journal *j);
uint64_t journal_last_seq(const Journal *j);

/* Write a snapshot covering everything up to the last record, durably, and
 * start an empty journal after it. */
int journal_snapshot(Journal *j, uint32_t meta, const char *body, size_t len);

/* For tests: the file names. */
const char *journal_path(const Journal *j);
