/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Record and snapshot bodies (see record.h). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "record.h"

/* the images' size in the snapshot's header, patched in once known */
#define IMAGES_KEY ",\"images\":"
#define IMAGES_DIGITS 20

static void write_header(RecordBuf *rb, const char *boot_id) {
        fputs("{\"bootId\":", rb->f);
        json_write_string(rb->f, boot_id ?: "");
        rb->has_members = false;
}

int record_open(RecordBuf *rb, const char *boot_id) {
        assert(rb);
        *rb = (RecordBuf) {};
        rb->f = open_memstream(&rb->buf, &rb->len);
        if (!rb->f)
                return -ENOMEM;
        write_header(rb, boot_id);
        return 0;
}

FILE *record_member(RecordBuf *rb, const char *key) {
        assert(rb && rb->f);
        if (!streq(key, "instances") && !streq(key, "dropped"))
                rb->has_members = true;
        fputc(',', rb->f);
        json_write_string(rb->f, key);
        fputc(':', rb->f);
        return rb->f;
}

int record_close(RecordBuf *rb) {
        int r;

        assert(rb && rb->f);
        fputc('}', rb->f);
        r = fclose(rb->f);
        rb->f = NULL;
        if (r != 0 || !rb->buf)
                return -ENOMEM;
        rb->meta = RECORD_FORMAT | (rb->has_members ? RECORD_HAS_MEMBERS : 0);
        return 0;
}

void record_done(RecordBuf *rb) {
        if (rb->f)
                fclose(rb->f);
        free(rb->buf);
        *rb = (RecordBuf) {};
}

int record_check_format(uint32_t meta) {
        return (meta & RECORD_FORMAT_MASK) > RECORD_FORMAT ? -EPROTONOSUPPORT : 0;
}

/* Format 1: does any reader's key occur as a member name ("key":)? One pass
 * over the quotes of body rather than one search per key. */
static bool has_any_key(const char *body, size_t len, const RecordReader *readers, size_t n_readers) {
        const char *end = body + len;

        for (const char *p = body; (p = memchr(p, '"', (size_t) (end - p))); p++)
                for (size_t k = 0; k < n_readers; k++) {
                        size_t n = strlen(readers[k].key);
                        if ((size_t) (end - p) > n + 2 && p[1] == readers[k].key[0] &&
                            memcmp(p + 1, readers[k].key, n) == 0 && p[n + 1] == '"' && p[n + 2] == ':')
                                return true;
                }
        return false;
}

int record_dispatch(uint32_t meta, const char *body, size_t len, const RecordReader *readers, size_t n_readers,
                    void *userdata) {
        json_tokener *tok;
        json_object *o, *v;
        int r;

        r = record_check_format(meta);
        if (r < 0)
                return r;
        if ((meta & RECORD_FORMAT_MASK) == 0 ? !has_any_key(body, len, readers, n_readers)
                                              : !(meta & RECORD_HAS_MEMBERS))
                return 0;
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, body, (int) len);
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        for (size_t k = 0; k < n_readers && r >= 0; k++)
                if (json_object_object_get_ex(o, readers[k].key, &v))
                        r = readers[k].read(userdata, v);
        json_object_put(o);
        return r;
}

int snapshot_open(RecordBuf *rb, const char *boot_id) {
        assert(rb);
        *rb = (RecordBuf) {};
        rb->f = open_memstream(&rb->buf, &rb->len);
        if (!rb->f)
                return -ENOMEM;
        write_header(rb, boot_id);
        fprintf(rb->f, IMAGES_KEY "%*d}\n", IMAGES_DIGITS, 0); /* spaces, not zeros: still JSON */
        return 0;
}

int snapshot_members(RecordBuf *rb, const char *boot_id) {
        char digits[IMAGES_DIGITS + 1];
        char *key;
        long images_end;
        size_t header_end;

        assert(rb && rb->f);
        fflush(rb->f);
        images_end = ftell(rb->f);
        key = rb->buf ? strstr(rb->buf, IMAGES_KEY) : NULL;
        if (images_end < 0 || !key)
                return -EIO;
        header_end = (size_t) (strchr(key, '\n') - rb->buf) + 1;
        snprintf(digits, sizeof digits, "%*zu", IMAGES_DIGITS, (size_t) images_end - header_end);
        memcpy(key + strlen(IMAGES_KEY), digits, IMAGES_DIGITS);
        write_header(rb, boot_id);
        rb->has_members = true; /* the whole snapshot: read its members */
        return 0;
}

int snapshot_split(uint32_t meta, const char *body, size_t len, size_t *ret_images_len, const char **ret_members,
                   size_t *ret_members_len) {
        const char *nl, *key;
        size_t header_len;
        uint64_t images;
        char *end;
        int r;

        assert(ret_images_len && ret_members && ret_members_len);
        r = record_check_format(meta);
        if (r < 0)
                return r;
        if ((meta & RECORD_FORMAT_MASK) == 0) {
                /* format 1: all of it is images */
                *ret_images_len = len;
                *ret_members = NULL;
                *ret_members_len = 0;
                return 0;
        }
        nl = memchr(body, '\n', len);
        if (!nl)
                return -EBADMSG;
        header_len = (size_t) (nl - body) + 1;
        key = memmem(body, header_len, IMAGES_KEY, strlen(IMAGES_KEY));
        if (!key)
                return -EBADMSG;
        images = strtoull(key + strlen(IMAGES_KEY), &end, 10);
        if (end == key + strlen(IMAGES_KEY) || images > len - header_len)
                return -EBADMSG;
        *ret_images_len = header_len + (size_t) images;
        *ret_members = body + *ret_images_len;
        *ret_members_len = len - *ret_images_len;
        return 0;
}
