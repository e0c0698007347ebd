/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The journal: records framed as
 *
 *   magic "XFJ1" (u32) | length (u32) | sequence (u64) | crc32 (u32) | meta (u32) | body
 *
 * little endian, the body a JSON text, meta a word of the writer's (the
 * body's format and flags). The crc32 covers the sequence, meta when it is
 * not 0, and the body (journals written before meta existed have 0 there,
 * and their crc32 covers the sequence and the body). The snapshot file has one record of
 * the same framing (magic "XFS1") whose sequence is the last record it
 * covers. A new snapshot is written to snapshot.tmp, synced, renamed over
 * snapshot and the directory synced; only then is the journal emptied. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "journal.h"
#include "macro.h"

#define MAGIC_RECORD 0x314a4658u   /* "XFJ1" */
#define MAGIC_SNAPSHOT 0x31534658u /* "XFS1" */
#define HEADER 24
#define MAX_RECORD (64u * 1024u * 1024u)

struct Journal {
        char dir[PATH_MAX];
        char path[PATH_MAX + 16];
        int dir_fd, lock_fd, fd;
        uint64_t seq;          /* the last sequence given */
        uint64_t since_snapshot;
        uint64_t bytes_since_snapshot; /* framed, as in the file */
        uint64_t snapshot_bytes;       /* the last snapshot's, framed; 0: none */
};

int journal_policy_from_string(const char *s, JournalPolicy *ret) {
        if (streq(s, "sync"))
                *ret = JOURNAL_SYNC;
        else if (streq(s, "batch"))
                *ret = JOURNAL_BATCH;
        else if (streq(s, "none"))
                *ret = JOURNAL_NONE;
        else
                return -EINVAL;
        return 0;
}

const char *journal_policy_to_string(JournalPolicy p) {
        return p == JOURNAL_SYNC ? "sync" : p == JOURNAL_BATCH ? "batch" : "none";
}

static uint32_t crc32_update(uint32_t crc, const void *data, size_t len) {
        return (uint32_t) crc32(crc, data, (uInt) len); /* zlib's: the same CRC-32, many times faster */
}

static void put32(uint8_t *p, uint32_t v) {
        for (int k = 0; k < 4; k++)
                p[k] = (uint8_t) (v >> (8 * k));
}

static void put64(uint8_t *p, uint64_t v) {
        for (int k = 0; k < 8; k++)
                p[k] = (uint8_t) (v >> (8 * k));
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get64(const uint8_t *p) {
        return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

static uint32_t record_crc(uint64_t seq, uint32_t meta, const char *body, size_t len) {
        uint8_t s[12];
        put64(s, seq);
        put32(s + 8, meta);
        return crc32_update(crc32_update(0, s, meta ? 12 : 8), body, len);
}

static int write_all(int fd, const void *data, size_t len) {
        const uint8_t *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int frame(int fd, uint32_t magic, uint64_t seq, uint32_t meta, const char *body, size_t len) {
        uint8_t h[HEADER];
        char *buf;
        int r;

        if (len > MAX_RECORD)
                return -E2BIG;
        buf = malloc(HEADER + len);
        if (!buf)
                return -ENOMEM;
        put32(h, magic);
        put32(h + 4, (uint32_t) len);
        put64(h + 8, seq);
        put32(h + 16, record_crc(seq, meta, body, len));
        put32(h + 20, meta);
        memcpy(buf, h, HEADER);
        memcpy(buf + HEADER, body, len);
        r = write_all(fd, buf, HEADER + len); /* one write: a crash tears at most this record */
        free(buf);
        return r;
}

int journal_open(const char *dir, Journal **ret) {
        Journal *j = calloc(1, sizeof *j);
        char lock[PATH_MAX + 16];

        if (!j)
                return -ENOMEM;
        j->dir_fd = j->lock_fd = j->fd = -1;
        snprintf(j->dir, sizeof j->dir, "%s", dir);
        /* mkdir -p */
        for (char *p = j->dir + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(j->dir, 0755);
                        *p = '/';
                }
        if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
                int r = -errno;
                free(j);
                return r;
        }
        j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(lock, sizeof lock, "%s/lock", dir);
        j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (j->dir_fd < 0 || j->lock_fd < 0) {
                int r = -errno;
                journal_close(j);
                return r;
        }
        if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                journal_close(j);
                return r;
        }
        snprintf(j->path, sizeof j->path, "%s/journal", dir);
        j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (j->fd < 0) {
                int r = -errno;
                journal_close(j);
                return r;
        }
        *ret = j;
        return 0;
}

Journal *journal_close(Journal *j) {
        if (!j)
                return NULL;
        if (j->fd >= 0)
                close(j->fd);
        if (j->lock_fd >= 0)
                close(j->lock_fd); /* releases the lock */
        if (j->dir_fd >= 0)
                close(j->dir_fd);
        free(j);
        return NULL;
}

const char *journal_path(const Journal *j) {
        return j->path;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f)
                return -errno;
        do {
                if (len + 65536 > cap) {
                        uint8_t *b = realloc(buf, cap = cap ? cap * 2 : 262144);
                        if (!b) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        fclose(f);
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* A valid record at p (of at most avail bytes)? Its total size, or 0. */
static size_t valid_record(const uint8_t *p, size_t avail, uint32_t magic) {
        uint32_t len;
        if (avail < HEADER || get32(p) != magic)
                return 0;
        len = get32(p + 4);
        if (len > MAX_RECORD || (size_t) len > avail - HEADER)
                return 0;
        if (get32(p + 16) != record_crc(get64(p + 8), get32(p + 20), (const char *) p + HEADER, len))
                return 0;
        return HEADER + len;
}

int journal_recover(Journal *j, journal_body_fn snapshot, journal_body_fn record, void *userdata,
                    JournalReport *ret) {
        JournalReport rep = {};
        char path[PATH_MAX + 32];
        uint8_t *buf = NULL;
        size_t len = 0, off = 0;
        int r;

        snprintf(path, sizeof path, "%s/snapshot", j->dir);
        r = read_file(path, &buf, &len);
        if (r >= 0) {
                size_t n = valid_record(buf, len, MAGIC_SNAPSHOT);
                if (n == 0) {
                        free(buf);
                        return -EBADMSG; /* a snapshot is renamed into place whole: never torn */
                }
                rep.snapshot_seq = get64(buf + 8);
                j->snapshot_bytes = n;
                r = snapshot ? snapshot(userdata, rep.snapshot_seq, get32(buf + 20), (const char *) buf + HEADER,
                                        n - HEADER)
                             : 0;
                free(buf);
                if (r < 0)
                        return r;
        } else if (r != -ENOENT)
                return r;
        j->seq = rep.last_seq = rep.snapshot_seq;

        r = read_file(j->path, &buf, &len);
        if (r < 0)
                return r;
        while (off < len) {
                size_t n = valid_record(buf + off, len - off, MAGIC_RECORD);
                uint64_t seq;

                if (n == 0) {
                        /* torn tail, or corrupt middle: is there a valid record further on? */
                        bool more = false;
                        for (size_t p = off + 1; p + HEADER <= len && !more; p++)
                                more = valid_record(buf + p, len - p, MAGIC_RECORD) > 0;
                        if (!more) {
                                rep.torn_tail = true;
                                if (ftruncate(j->fd, (off_t) off) < 0) {
                                        r = -errno;
                                        free(buf);
                                        return r;
                                }
                                (void) fdatasync(j->fd);
                        } else {
                                rep.corrupt = true;
                                rep.corrupt_offset = off;
                                snprintf(rep.kept_aside, sizeof rep.kept_aside, "%s.corrupt-%llu", j->path,
                                         (unsigned long long) time(NULL));
                                close(j->fd);
                                if (rename(j->path, rep.kept_aside) < 0) {
                                        r = -errno;
                                        j->fd = -1;
                                        free(buf);
                                        return r;
                                }
                                j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
                                if (j->fd < 0) {
                                        r = -errno;
                                        free(buf);
                                        return r;
                                }
                                (void) fsync(j->dir_fd);
                        }
                        break;
                }
                seq = get64(buf + off + 8);
                if (seq > rep.snapshot_seq) {
                        r = record ? record(userdata, seq, get32(buf + off + 20), (const char *) buf + off + HEADER,
                                            n - HEADER)
                                   : 0;
                        if (r < 0) {
                                free(buf);
                                return r;
                        }
                        rep.records++;
                        rep.last_seq = seq;
                }
                off += n;
        }
        free(buf);
        j->seq = rep.last_seq > j->seq ? rep.last_seq : j->seq;
        j->since_snapshot = rep.records;
        j->bytes_since_snapshot = rep.corrupt ? 0 : off;
        /* the records kept aside are not in the new journal: write one that carries on */
        if (rep.corrupt)
                j->since_snapshot = 0;
        if (ret)
                *ret = rep;
        return 0;
}

int journal_append(Journal *j, uint32_t meta, const char *body, size_t len, uint64_t *ret_seq) {
        int r = frame(j->fd, MAGIC_RECORD, j->seq + 1, meta, body, len);
        if (r < 0)
                return r;
        j->seq++;
        j->since_snapshot++;
        j->bytes_since_snapshot += HEADER + len;
        if (ret_seq)
                *ret_seq = j->seq;
        return 0;
}

int journal_sync(Journal *j) {
        return fdatasync(j->fd) < 0 ? -errno : 0;
}

uint64_t journal_records_since_snapshot(const Journal *j) {
        return j->since_snapshot;
}

uint64_t journal_bytes_since_snapshot(const Journal *j) {
        return j->bytes_since_snapshot;
}

uint64_t journal_snapshot_bytes(const Journal *j) {
        return j->snapshot_bytes;
}

uint64_t journal_last_seq(const Journal *j) {
        return j->seq;
}

int journal_snapshot(Journal *j, uint32_t meta, const char *body, size_t len) {
        char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
        int fd, r;

        snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", j->dir);
        snprintf(path, sizeof path, "%s/snapshot", j->dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        r = frame(fd, MAGIC_SNAPSHOT, j->seq, meta, body, len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r >= 0 && fsync(j->dir_fd) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        /* everything up to j->seq is in the snapshot now */
        if (ftruncate(j->fd, 0) < 0)
                return -errno;
        (void) fdatasync(j->fd);
        j->since_snapshot = 0;
        j->bytes_since_snapshot = 0;
        j->snapshot_bytes = HEADER + len;
        return 0;
}
