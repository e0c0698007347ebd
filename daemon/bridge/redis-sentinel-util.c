/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What the sentinels say, read without trusting it (see
 * redis-sentinel-util.h): addresses and ports are checked for shape, never
 * looked up here. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "redis-sentinel-util.h"

#define HOST_MAX 253

/* a port, digits only, 1-65535 */
static int parse_port(const char *s, size_t n, uint16_t *ret) {
        unsigned long v = 0;

        if (n == 0 || n > 5)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EBADMSG;

        *ret = (uint16_t) v;
        return 0;
}

/* a host as a sentinel announces it: a name or an address, no blanks or
 * control characters, no brackets */
static bool host_is_plausible(const char *s, size_t n) {
        if (n == 0 || n > HOST_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f || s[i] == '[' || s[i] == ']' || s[i] == '/')
                        return false;
        return true;
}

int sentinel_parse_master_addr(const redisReply *reply, char **ret_host, uint16_t *ret_port) {
        const redisReply *h, *p;
        uint16_t port;
        char *host;

        assert(reply);
        assert(ret_host);
        assert(ret_port);

        if (reply->type == REDIS_REPLY_NIL)
                return -ENOENT;
        if (reply->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
                return -EBADMSG;

        h = reply->element[0];
        p = reply->element[1];
        if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING || !host_is_plausible(h->str, h->len) ||
            parse_port(p->str, p->len, &port) < 0)
                return -EBADMSG;

        host = strndup(h->str, h->len);
        if (!host)
                return -ENOMEM;

        *ret_host = host;
        *ret_port = port;
        return 0;
}

int sentinel_parse_switch_master(const char *message, size_t size, const char *master, char **ret_host,
                                 uint16_t *ret_port) {
        const char *field[5];
        size_t len[5], k = 0, i = 0;
        uint16_t port, old_port;
        char *host;

        assert(message || size == 0);
        assert(master);
        assert(ret_host);
        assert(ret_port);

        /* five fields separated by single spaces, the last one up to the end */
        for (;;) {
                size_t start = i;

                while (i < size && message[i] != ' ')
                        i++;
                if (k == 5)
                        return -EBADMSG;
                field[k] = message + start;
                len[k++] = i - start;
                if (i == size)
                        break;
                i++;
        }
        if (k != 5)
                return -EBADMSG;
        for (k = 0; k < 5; k++)
                if (len[k] == 0)
                        return -EBADMSG;

        if (!host_is_plausible(field[1], len[1]) || parse_port(field[2], len[2], &old_port) < 0 ||
            !host_is_plausible(field[3], len[3]) || parse_port(field[4], len[4], &port) < 0)
                return -EBADMSG;
        if (len[0] != strlen(master) || memcmp(field[0], master, len[0]) != 0)
                return 0;

        host = strndup(field[3], len[3]);
        if (!host)
                return -ENOMEM;

        *ret_host = host;
        *ret_port = port;
        return 1;
}

void sentinel_prefer(size_t *order, size_t n, size_t pos) {
        size_t first;

        assert(order || n == 0);

        if (pos == 0 || pos >= n)
                return;

        first = order[pos];
        memmove(order + 1, order, pos * sizeof *order);
        order[0] = first;
}

size_t sentinel_next(const size_t *order, size_t n, size_t pos, const bool *up) {
        assert(order || n == 0);
        assert(up || n == 0);

        for (; pos < n; pos++)
                if (up[order[pos]])
                        return pos;

        return n;
}
