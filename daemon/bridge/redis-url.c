/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The Redis addresses of bridge.conf's Redis= (xfsm-redis-bridge(8)):
 *
 *     redis://[user:password@]HOST[:PORT][/DB]
 *     redis-sentinel://[user:password@]HOST[:PORT][,HOST[:PORT]...]/MASTERNAME
 *
 * HOST is a name, an IPv4 address, or an IPv6 address in brackets. The user
 * information is split at the last '@' (a password may hold one) and at the
 * first ':' after it, and percent-decoded. Errors say which part is wrong;
 * the caller prefixes the setting and the URL it came from. Also here:
 * whether a host is loopback, the test behind Insecure=. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis-url.h"

#define SCHEME "redis://"
#define HOST_NAME_MAX_LEN 253

static void erase_free(char *s) {
        if (!s)
                return;

        explicit_bzero(s, strlen(s));
        free(s);
}

void redis_target_done(RedisTarget *t) {
        if (!t)
                return;

        free(t->host);
        free(t->user);
        erase_free(t->password);
        *t = (RedisTarget) {};
}

static int strdup_or_null(const char *s, char **ret) {
        char *d = NULL;

        if (s) {
                d = strdup(s);
                if (!d)
                        return -ENOMEM;
        }

        *ret = d;
        return 0;
}

int redis_target_copy(RedisTarget *ret, const RedisTarget *src) {
        RedisTarget t = { .port = src->port, .db = src->db, .locator = src->locator };

        assert(ret);
        assert(src);

        if (strdup_or_null(src->host, &t.host) < 0 || strdup_or_null(src->user, &t.user) < 0 ||
            strdup_or_null(src->password, &t.password) < 0) {
                redis_target_done(&t);
                return -ENOMEM;
        }

        *ret = t;
        return 0;
}

static int fail(const char **ret_why, const char *why) {
        if (ret_why)
                *ret_why = why;
        return -EINVAL;
}

/* s[0..n) percent-decoded into a new string; -EINVAL on a bad escape, a
 * control character or a NUL. */
static int percent_decode(const char *s, size_t n, char **ret) {
        _cleanup_(freep) char *d = NULL;
        size_t j = 0;

        d = malloc(n + 1);
        if (!d)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];

                if (c == '%') {
                        int hi, lo;

                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = unhexchar(s[i + 1]);
                        lo = unhexchar(s[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (unsigned char) (hi << 4 | lo);
                        i += 2;
                }
                if (c < 0x20 || c == 0x7f)
                        return -EINVAL;
                d[j++] = (char) c;
        }
        d[j] = 0;

        *ret = TAKE_PTR(d);
        return 0;
}

/* A decimal number of s[0..n) no greater than max: digits only, no sign. */
static int parse_number(const char *s, size_t n, unsigned long max, unsigned long *ret) {
        unsigned long v = 0;

        if (n == 0 || n > 10)
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        if (v > max)
                return -EINVAL;

        *ret = v;
        return 0;
}

static bool all_digits_and_dots(const char *s) {
        return s[strspn(s, "0123456789.")] == 0;
}

/* A host name: labels of letters, digits, '-' and '_' (service names), 1-63
 * characters each, separated by dots, one trailing dot allowed. */
static bool host_name_is_valid(const char *s) {
        size_t label = 0, n = strlen(s);

        if (n == 0 || n > HOST_NAME_MAX_LEN)
                return false;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                           c == '_') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }

        return true;
}

static int parse_userinfo(const char *s, size_t n, RedisTarget *t, const char **ret_why) {
        const char *colon = memchr(s, ':', n);
        int r;

        if (!colon)
                return fail(ret_why, "a user name without a password (use user:password@, or :password@ for no user)");
        if ((size_t) (colon - s) + 1 == n)
                return fail(ret_why, "an empty password");

        if (colon > s) {
                r = percent_decode(s, colon - s, &t->user);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ret_why, "a bad user name (a stray '%' or a control character)");
        }

        r = percent_decode(colon + 1, n - (colon - s) - 1, &t->password);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_why, "a bad password (a stray '%' or a control character)");

        return 0;
}

/* HOST[:PORT][/DB], PORT default_port when absent */
static int parse_hostport(const char *p, uint16_t default_port, RedisTarget *t, const char **ret_why) {
        unsigned long v;
        const char *end;
        size_t n;

        if (*p == '[') {
                struct in6_addr a6;
                char buf[INET6_ADDRSTRLEN];

                end = strchr(p, ']');
                if (!end)
                        return fail(ret_why, "an IPv6 address without its closing ']'");
                n = end - p - 1;
                if (n == 0 || n >= sizeof buf)
                        return fail(ret_why, "not an IPv6 address in brackets");
                memcpy(buf, p + 1, n);
                buf[n] = 0;
                if (inet_pton(AF_INET6, buf, &a6) != 1)
                        return fail(ret_why, "not an IPv6 address in brackets");
                t->host = strdup(buf);
                if (!t->host)
                        return -ENOMEM;
                p = end + 1;
                if (*p && *p != ':' && *p != '/')
                        return fail(ret_why, "characters after the IPv6 address (expected ':PORT' or '/DB')");
        } else {
                const char *colon = memchr(p, ':', strcspn(p, "/"));

                if (colon && memchr(colon + 1, ':', strcspn(colon + 1, "/")))
                        return fail(ret_why, "more than one ':' (an IPv6 address goes in brackets)");

                n = strcspn(p, ":/");
                if (n == 0)
                        return fail(ret_why, "no host");
                t->host = strndup(p, n);
                if (!t->host)
                        return -ENOMEM;
                if (all_digits_and_dots(t->host)) {
                        struct in_addr a4;

                        if (inet_pton(AF_INET, t->host, &a4) != 1)
                                return fail(ret_why, "not an IPv4 address");
                } else if (!host_name_is_valid(t->host))
                        return fail(ret_why, "not a host name (an IPv6 address goes in brackets)");
                p += n;
        }

        t->port = default_port;
        if (*p == ':') {
                p++;
                n = strcspn(p, "/");
                if (n == 0)
                        return fail(ret_why, "an empty port");
                if (parse_number(p, n, 65535, &v) < 0 || v == 0)
                        return fail(ret_why, "not a port (1-65535)");
                t->port = (uint16_t) v;
                p += n;
        }

        t->db = 0;
        if (*p == '/') {
                p++;
                n = strcspn(p, "?#");
                if (n > 0) {
                        if (parse_number(p, n, INT_MAX, &v) < 0)
                                return fail(ret_why, "not a database number");
                        t->db = (unsigned) v;
                }
                p += n;
        }

        if (*p == '?')
                return fail(ret_why, "query parameters are not supported");
        if (*p)
                return fail(ret_why, "characters after the address");

        return 0;
}

int redis_url_parse(const char *url, RedisTarget *ret, const char **ret_why) {
        RedisTarget t = {};
        const char *p, *at;
        int r;

        assert(url);
        assert(ret);

        if (strncasecmp(url, "rediss://", 9) == 0)
                return fail(ret_why, "TLS (rediss://) is not supported: use redis:// through a TLS tunnel");
        if (strncasecmp(url, SCHEME, strlen(SCHEME)) != 0)
                return fail(ret_why, "not a redis:// URL");
        p = url + strlen(SCHEME);

        at = strrchr(p, '@');
        if (at) {
                r = parse_userinfo(p, at - p, &t, ret_why);
                if (r < 0)
                        goto fail;
                p = at + 1;
        }

        r = parse_hostport(p, REDIS_DEFAULT_PORT, &t, ret_why);
        if (r < 0)
                goto fail;

        *ret = t;
        return 0;

fail:
        redis_target_done(&t);
        return r;
}

void redis_sentinel_url_done(RedisSentinelUrl *u) {
        if (!u)
                return;

        for (size_t i = 0; i < u->n_sentinels; i++)
                redis_target_done(&u->sentinels[i]);
        free(u->sentinels);
        free(u->master);
        free(u->user);
        erase_free(u->password);
        *u = (RedisSentinelUrl) {};
}

static bool master_name_is_valid(const char *s, size_t n) {
        if (n == 0 || n > REDIS_MASTER_NAME_MAX)
                return false;

        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      strchr("._-:", s[i])))
                        return false;

        return true;
}

/* One HOST[:PORT] of the sentinel list, s[0..n). */
static int parse_sentinel(const char *s, size_t n, RedisTarget *ret, const char **ret_why) {
        _cleanup_(freep) char *piece = NULL;
        RedisTarget t = {};
        int r;

        if (n == 0)
                return fail(ret_why, "an empty sentinel address (two ',' in a row, or one at an end)");
        piece = strndup(s, n);
        if (!piece)
                return -ENOMEM;

        r = parse_hostport(piece, REDIS_SENTINEL_DEFAULT_PORT, &t, ret_why);
        if (r < 0) {
                redis_target_done(&t);
                return r;
        }

        *ret = t;
        return 0;
}

int redis_sentinel_url_parse(const char *url, RedisSentinelUrl *ret, const char **ret_why) {
        static const char scheme[] = "redis-sentinel://";
        RedisSentinelUrl u = {};
        RedisTarget auth = {};
        const char *p, *at, *slash;
        int r;

        assert(url);
        assert(ret);

        if (strncasecmp(url, scheme, strlen(scheme)) != 0)
                return fail(ret_why, "not a redis-sentinel:// URL");
        p = url + strlen(scheme);

        /* the master name cannot hold '@' or '/': the last '/' ends the
         * sentinels, the last '@' before it the user information */
        slash = strrchr(p, '/');
        if (!slash)
                return fail(ret_why, "no /MASTERNAME after the sentinels");
        if (!master_name_is_valid(slash + 1, strlen(slash + 1)))
                return fail(ret_why, "not a master name (1-64 letters, digits, '.', '_', '-', ':')");

        at = memrchr(p, '@', slash - p);
        if (at) {
                r = parse_userinfo(p, at - p, &auth, ret_why);
                if (r < 0)
                        goto fail;
                u.user = TAKE_PTR(auth.user);
                u.password = TAKE_PTR(auth.password);
                p = at + 1;
        }

        if (p == slash) {
                r = fail(ret_why, "no sentinel address");
                goto fail;
        }

        u.master = strdup(slash + 1);
        u.sentinels = calloc(REDIS_SENTINELS_MAX, sizeof *u.sentinels);
        if (!u.master || !u.sentinels) {
                r = -ENOMEM;
                goto fail;
        }

        if (memchr(p, '/', slash - p)) {
                r = fail(ret_why, "a '/' among the sentinels (one '/' only, before the master name)");
                goto fail;
        }

        /* each piece ends at a ',' or at the '/' */
        while (p <= slash) {
                size_t n = strcspn(p, ",/");

                if (u.n_sentinels == REDIS_SENTINELS_MAX) {
                        r = fail(ret_why, "more than 16 sentinels");
                        goto fail;
                }
                r = parse_sentinel(p, n, &u.sentinels[u.n_sentinels], ret_why);
                if (r < 0)
                        goto fail;
                u.n_sentinels++;
                p += n + 1;
        }

        *ret = u;
        return 0;

fail:
        redis_target_done(&auth);
        redis_sentinel_url_done(&u);
        return r;
}

bool redis_host_is_loopback(const char *host) {
        struct in6_addr a6;
        struct in_addr a4;

        assert(host);

        if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
                return true;

        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;

        if (inet_pton(AF_INET6, host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);

        return false;
}
