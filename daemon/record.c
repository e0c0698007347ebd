/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Record and snapshot bodies (see record.h). */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "record.h"

/* the images' size in the header, patched in once known */
#define IMAGES_KEY ",\"images\":"
#define IMAGES_DIGITS 20

int record_open(RecordBuf *rb, const char *boot_id) {
        assert(rb);
        *rb = (RecordBuf) {};
        rb->f = open_memstream(&rb->buf, &rb->len);
        if (!rb->f)
                return -ENOMEM;
        fprintf(rb->f, "{\"v\":%d,\"bootId\":", RECORD_FORMAT);
        json_write_string(rb->f, boot_id ?: "");
        return 0;
}

FILE *record_member(RecordBuf *rb, const char *key) {
        assert(rb && rb->f);
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
        return r == 0 && rb->buf ? 0 : -ENOMEM;
}

void record_done(RecordBuf *rb) {
        if (rb->f)
                fclose(rb->f);
        free(rb->buf);
        *rb = (RecordBuf) {};
}

static bool has_key(const char *body, size_t len, const char *key) {
        char quoted[64];
        int n = snprintf(quoted, sizeof quoted, "\"%s\":", key);

        return n > 0 && (size_t) n < sizeof quoted && memmem(body, len, quoted, (size_t) n);
}

int record_dispatch(const char *body, size_t len, const RecordReader *readers, size_t n_readers, void *userdata) {
        json_tokener *tok;
        json_object *o, *v;
        bool any = false;
        int r = 0;

        for (size_t k = 0; k < n_readers && !any; k++)
                any = has_key(body, len, readers[k].key);
        if (!any)
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
        int r = record_open(rb, boot_id);

        if (r < 0)
                return r;
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
        fprintf(rb->f, "{\"v\":%d,\"bootId\":", RECORD_FORMAT);
        json_write_string(rb->f, boot_id ?: "");
        return 0;
}

int snapshot_split(const char *body, size_t len, size_t *ret_images_len, const char **ret_members,
                   size_t *ret_members_len) {
        const char *nl = memchr(body, '\n', len), *key;
        size_t header_len;
        uint64_t images;
        char *end;

        assert(ret_images_len && ret_members && ret_members_len);
        if (!nl)
                return -EBADMSG;
        header_len = (size_t) (nl - body) + 1;
        key = memmem(body, header_len, IMAGES_KEY, strlen(IMAGES_KEY));
        if (!key || !memmem(body, header_len, "{\"v\":", 5)) {
                /* format 1: all of it is images */
                *ret_images_len = len;
                *ret_members = NULL;
                *ret_members_len = 0;
                return 0;
        }
        images = strtoull(key + strlen(IMAGES_KEY), &end, 10);
        if (end == key + strlen(IMAGES_KEY) || images > len - header_len)
                return -EBADMSG;
        *ret_images_len = header_len + (size_t) images;
        *ret_members = body + *ret_images_len;
        *ret_members_len = len - *ret_images_len;
        return 0;
}
