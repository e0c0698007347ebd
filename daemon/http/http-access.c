/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who may ask xfsm-http what: tokens and their scopes, anonymous loopback
 * clients, the dashboard's sessions, and the Host and Origin checks. */

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "http-access.h"
#include "log.h"
#include "macro.h"

#define TOKEN_MIN 16

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        return mfree(v);
}

void grant_done(Grant *g) {
        if (!g)
                return;
        g->write = strv_free(g->write);
        g->read = false;
}

static int strv_push(char ***v, const char *s) {
        size_t n = 0;
        char **w;

        while (*v && (*v)[n])
                n++;
        w = realloc(*v, (n + 2) * sizeof *w);
        if (!w)
                return -ENOMEM;
        *v = w;
        w[n] = strdup(s);
        if (!w[n])
                return -ENOMEM;
        w[n + 1] = NULL;
        return 0;
}

int grant_copy(const Grant *g, Grant *ret) {
        Grant c = { .read = g->read };

        for (char **p = g->write; p && *p; p++)
                if (strv_push(&c.write, *p) < 0) {
                        grant_done(&c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

bool grant_may_write(const Grant *g, const char *component) {
        for (char **p = g->write; p && *p; p++)
                if (fnmatch(*p, component, 0) == 0)
                        return true;
        return false;
}

HttpAccess *http_access_free(HttpAccess *a) {
        if (!a)
                return NULL;

        for (size_t k = 0; k < a->n_tokens; k++) {
                explicit_bzero(a->tokens[k].secret, strlen(a->tokens[k].secret));
                free(a->tokens[k].secret);
                grant_done(&a->tokens[k].grant);
        }
        free(a->tokens);
        for (size_t k = 0; k < a->n_sessions; k++)
                grant_done(&a->sessions[k].grant);
        free(a->sessions);
        strv_free(a->hosts);
        return mfree(a);
}

static int parse_token_line(HttpAccess *a, char *line, const char *path, unsigned lineno) {
        Token t = {};
        char *save = NULL, *w;
        Token *v;

        w = strtok_r(line, " \t", &save);
        if (!w)
                return 0;
        if (strlen(w) < TOKEN_MIN) {
                log_error("%s:%u: a token needs at least %d characters", path, lineno, TOKEN_MIN);
                return -EINVAL;
        }
        t.secret = strdup(w);
        if (!t.secret)
                return -ENOMEM;

        while ((w = strtok_r(NULL, " \t", &save))) {
                if (streq(w, "read"))
                        t.grant.read = true;
                else if (strncmp(w, "write:", 6) == 0 && w[6]) {
                        t.grant.read = true;
                        if (strv_push(&t.grant.write, w + 6) < 0)
                                goto oom;
                } else {
                        log_error("%s:%u: unknown scope '%s' (read or write:PATTERN)", path, lineno, w);
                        free(t.secret);
                        grant_done(&t.grant);
                        return -EINVAL;
                }
        }
        if (!t.grant.read) {
                log_error("%s:%u: a token needs a scope (read or write:PATTERN)", path, lineno);
                free(t.secret);
                return -EINVAL;
        }

        v = realloc(a->tokens, (a->n_tokens + 1) * sizeof *v);
        if (!v)
                goto oom;
        a->tokens = v;
        a->tokens[a->n_tokens++] = t;
        return 0;
oom:
        free(t.secret);
        grant_done(&t.grant);
        return -ENOMEM;
}

int access_parse_tokens(HttpAccess *a, const char *text, const char *path) {
        _cleanup_(freep) char *copy = strdup(text);
        unsigned lineno = 0;
        char *line;
        int r = 0;

        if (!copy)
                return -ENOMEM;

        /* strtok_r skips empty lines, so count them by hand */
        for (char *p = copy; p; ) {
                char *nl = strchr(p, '\n');

                if (nl)
                        *nl = '\0';
                lineno++;
                line = p;
                p = nl ? nl + 1 : NULL;
                line += strspn(line, " \t\r");
                line[strcspn(line, "\r")] = '\0';
                if (!*line || *line == '#')
                        continue;
                int q = parse_token_line(a, line, path, lineno);
                if (q == -ENOMEM)
                        return q;
                if (q < 0)
                        r = q;
        }
        explicit_bzero(copy, strlen(text));
        return r;
}

int access_load_tokens(HttpAccess *a, const char *path) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        int r;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        {
                FILE *m = open_memstream(&text, &size);
                char buf[4096];
                size_t n;

                if (!m)
                        return -ENOMEM;
                while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                        fwrite(buf, 1, n, m);
                fclose(m);
        }
        if (!text)
                return -ENOMEM;
        r = access_parse_tokens(a, text, path);
        explicit_bzero(text, size);
        return r;
}

/* a and b, equal: in time that does not depend on where they differ */
static bool secret_equal(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b);
        unsigned char d = na != nb;

        for (size_t k = 0; k < na; k++)
                d |= (unsigned char) a[k] ^ (unsigned char) b[k % (nb ?: 1)];
        return d == 0;
}

static const Token *find_token(const HttpAccess *a, const char *secret) {
        const Token *found = NULL;

        for (size_t k = 0; k < a->n_tokens; k++)
                if (secret_equal(secret, a->tokens[k].secret) && !found)
                        found = &a->tokens[k];
        return found;
}

static int anonymous(const HttpAccess *a, bool loopback, Grant *ret) {
        Grant g = { .read = true };

        if (!loopback)
                return -EPERM;
        if (a->anonymous_write && strv_push(&g.write, "*") < 0)
                return -ENOMEM;
        *ret = g;
        return 0;
}

int access_grant_for_token(HttpAccess *a, const char *token, bool loopback, Grant *ret) {
        const Token *t;

        if (!token)
                return anonymous(a, loopback, ret);
        t = find_token(a, token);
        if (!t)
                return -EACCES;
        return grant_copy(&t->grant, ret);
}

/* the value of cookie name in a Cookie header */
static bool cookie_value(const char *header, const char *name, char *buf, size_t size) {
        size_t n = strlen(name);

        for (const char *p = header; p && *p; ) {
                p += strspn(p, " ;");
                if (strncmp(p, name, n) == 0 && p[n] == '=') {
                        size_t len = strcspn(p + n + 1, ";");

                        if (len >= size)
                                return false;
                        memcpy(buf, p + n + 1, len);
                        buf[len] = '\0';
                        return true;
                }
                p = strchr(p, ';');
        }
        return false;
}

int access_grant(HttpAccess *a, const char *authorization, const char *cookie, bool loopback, uint64_t now_usec,
                 Grant *ret) {
        char id[65];

        assert(a);
        assert(ret);

        if (authorization) {
                if (strncasecmp(authorization, "Bearer ", 7) != 0)
                        return -EACCES;
                return access_grant_for_token(a, authorization + 7 + strspn(authorization + 7, " "), loopback, ret);
        }
        if (cookie && cookie_value(cookie, SESSION_COOKIE, id, sizeof id)) {
                for (size_t k = 0; k < a->n_sessions; k++) {
                        Session *s = &a->sessions[k];

                        if (s->expires_usec > now_usec && secret_equal(id, s->id))
                                return grant_copy(&s->grant, ret);
                }
                return -EACCES;
        }
        return anonymous(a, loopback, ret);
}

int access_session_new(HttpAccess *a, const Grant *g, uint64_t now_usec, char ret_id[static 65]) {
        uint8_t raw[32];
        Session *s;
        int r;

        if (!a->sessions) {
                a->sessions = calloc(SESSIONS_MAX, sizeof *a->sessions);
                if (!a->sessions)
                        return -ENOMEM;
        }
        if (getrandom(raw, sizeof raw, 0) != sizeof raw)
                return -EIO;

        s = &a->sessions[a->next_session];
        grant_done(&s->grant);
        r = grant_copy(g, &s->grant);
        if (r < 0)
                return r;
        for (size_t k = 0; k < sizeof raw; k++)
                sprintf(s->id + 2 * k, "%02x", raw[k]);
        s->expires_usec = now_usec + SESSION_LIFETIME_USEC;
        a->next_session = (a->next_session + 1) % SESSIONS_MAX;
        a->n_sessions = MAX(a->n_sessions, a->next_session == 0 ? SESSIONS_MAX : a->next_session);
        memcpy(ret_id, s->id, 65);
        return 0;
}

/* the host part of "host[:port]" or "[v6][:port]": its length */
static size_t host_length(const char *h) {
        if (*h == '[') {
                const char *e = strchr(h, ']');
                return e ? (size_t) (e - h + 1) : strlen(h);
        }
        return strcspn(h, ":");
}

bool access_host_allowed(const HttpAccess *a, const char *host) {
        size_t n;

        if (!host || !*host)
                return false;
        n = host_length(host);
        if (host[n] && (host[n] != ':' || !host[n + 1] || strspn(host + n + 1, "0123456789") != strlen(host + n + 1)))
                return false;
        for (char **p = a->hosts; p && *p; p++)
                if (strlen(*p) == n && strncasecmp(*p, host, n) == 0)
                        return true;
        return false;
}

bool access_origin_allowed(const char *origin, const char *host) {
        const char *rest;

        if (!origin)
                return true;
        if (!host)
                return false;
        if (strncasecmp(origin, "http://", 7) == 0)
                rest = origin + 7;
        else if (strncasecmp(origin, "https://", 8) == 0)
                rest = origin + 8;
        else
                return false;
        return strcasecmp(rest, host) == 0;
}
