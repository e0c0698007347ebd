/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The tests' and benchmarks' HTTP/1.1 client (see http-client.h). */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-client.h"

void http_answer_done(HttpAnswer *a) {
        free(a->headers);
        free(a->body);
        *a = (HttpAnswer) {};
}

unsigned http_free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unsigned port = 0;

        if (fd < 0)
                return 0;
        if (bind(fd, (struct sockaddr *) &a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *) &a, &len) == 0)
                port = ntohs(a.sin_port);
        close(fd);
        return port;
}

int http_connect(unsigned port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &a, sizeof a) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
}

bool http_wait_ready(unsigned port) {
        for (int k = 0; k < 500; k++) {
                HttpAnswer a = {};

                if (http_request(port, "GET", "/healthz", NULL, NULL, &a) == 0 && a.status == 200) {
                        http_answer_done(&a);
                        return true;
                }
                http_answer_done(&a);
                usleep(10000);
        }
        return false;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* A growing buffer of what was read and not yet used. */
typedef struct Buf {
        char *p;
        size_t len, cap;
} Buf;

static int buf_fill(int fd, Buf *b, int timeout_ms) {
        ssize_t k;

        if (timeout_ms >= 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int r = poll(&pfd, 1, timeout_ms);

                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0)
                        return -errno;
        }
        if (b->cap - b->len < 4096) {
                char *q = realloc(b->p, b->cap * 2 + 8192);

                if (!q)
                        return -ENOMEM;
                b->p = q;
                b->cap = b->cap * 2 + 8192;
        }
        k = recv(fd, b->p + b->len, b->cap - b->len - 1, 0);
        if (k < 0)
                return -errno;
        if (k == 0)
                return -ECONNRESET;
        b->len += (size_t) k;
        b->p[b->len] = '\0';
        return 0;
}

static char *find(Buf *b, const char *s) {
        return b->p ? memmem(b->p, b->len, s, strlen(s)) : NULL;
}

static const char *header_in(const char *headers, const char *name, char *buf, size_t size) {
        size_t n = strlen(name);

        for (const char *p = headers; p && *p; ) {
                if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
                        const char *v = p + n + 1;
                        size_t len;

                        v += strspn(v, " ");
                        len = strcspn(v, "\r\n");
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, v, len);
                        buf[len] = '\0';
                        return buf;
                }
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return NULL;
}

const char *http_header(const HttpAnswer *a, const char *name) {
        static char buf[1024];
        return header_in(a->headers, name, buf, sizeof buf);
}

/* status line and headers: into ret, the rest left in b */
static int read_head(int fd, Buf *b, HttpAnswer *ret, int timeout_ms) {
        char *end;
        int r;

        while (!(end = find(b, "\r\n\r\n"))) {
                r = buf_fill(fd, b, timeout_ms);
                if (r < 0)
                        return r;
        }
        if (sscanf(b->p, "HTTP/1.%*d %d", &ret->status) != 1)
                return -EBADMSG;
        ret->headers = strndup(b->p, end - b->p + 2);
        if (!ret->headers)
                return -ENOMEM;
        memmove(b->p, end + 4, b->len - (end + 4 - b->p));
        b->len -= end + 4 - b->p;
        b->p[b->len] = '\0';
        return 0;
}

static int read_body(int fd, Buf *b, HttpAnswer *ret, bool head) {
        char buf[64];
        const char *cl = header_in(ret->headers, "Content-Length", buf, sizeof buf);
        const char *te = header_in(ret->headers, "Transfer-Encoding", buf + 32, 32);
        int r;

        if (head || ret->status == 204 || ret->status == 304) {
                ret->body = strdup("");
                return ret->body ? 0 : -ENOMEM;
        }
        if (te && strcasecmp(te, "chunked") == 0) {
                Buf out = {};

                for (;;) {
                        char *nl;
                        unsigned long n;

                        while (!(nl = find(b, "\r\n")))
                                if ((r = buf_fill(fd, b, 10000)) < 0)
                                        return r;
                        n = strtoul(b->p, NULL, 16);
                        while (b->len < (size_t) (nl + 2 - b->p) + n + 2)
                                if ((r = buf_fill(fd, b, 10000)) < 0)
                                        return r;
                        char *q = realloc(out.p, out.len + n + 1);
                        if (!q)
                                return -ENOMEM;
                        out.p = q;
                        memcpy(out.p + out.len, nl + 2, n);
                        out.len += n;
                        out.p[out.len] = '\0';
                        size_t used = (nl + 2 - b->p) + n + 2;
                        memmove(b->p, b->p + used, b->len - used);
                        b->len -= used;
                        if (n == 0)
                                break;
                }
                ret->body = out.p ?: strdup("");
                ret->size = out.len;
                return 0;
        }
        if (cl) {
                size_t n = strtoull(cl, NULL, 10);

                while (b->len < n)
                        if ((r = buf_fill(fd, b, 10000)) < 0)
                                return r;
                ret->body = strndup(b->p, n);
                ret->size = n;
                memmove(b->p, b->p + n, b->len - n);
                b->len -= n;
                return ret->body ? 0 : -ENOMEM;
        }
        /* until the connection closes */
        while ((r = buf_fill(fd, b, 10000)) == 0)
                ;
        ret->body = strndup(b->p ?: "", b->len);
        ret->size = b->len;
        return 0;
}

int http_exchange(int fd, unsigned port, const char *method, const char *path, const char *headers,
                  const char *body, size_t size, HttpAnswer *ret) {
        char *req = NULL;
        Buf b = {};
        int n, r;

        *ret = (HttpAnswer) {};
        if (headers && (strncasecmp(headers, "Host:", 5) == 0 || strcasestr(headers, "\nHost:")))
                n = asprintf(&req, "%s %s HTTP/1.1\r\n%sContent-Length: %zu\r\n\r\n", method, path, headers,
                             body ? size : 0);
        else
                n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%sContent-Length: %zu\r\n\r\n", method,
                             path, port, headers ?: "", body ? size : 0);
        if (n < 0)
                return -ENOMEM;
        r = write_all(fd, req, (size_t) n);
        free(req);
        if (r >= 0 && body)
                /* a server may answer (413) and close before the body is all sent: read its answer */
                (void) write_all(fd, body, size);
        if (r >= 0)
                r = read_head(fd, &b, ret, 30000);
        if (r >= 0)
                r = read_body(fd, &b, ret, strcmp(method, "HEAD") == 0);
        free(b.p);
        return r;
}

int http_request(unsigned port, const char *method, const char *path, const char *headers, const char *body,
                 HttpAnswer *ret) {
        int fd = http_connect(port), r;

        *ret = (HttpAnswer) {};
        if (fd < 0)
                return fd;
        r = http_exchange(fd, port, method, path, headers, body, body ? strlen(body) : 0, ret);
        close(fd);
        return r;
}

int http_post_json(unsigned port, const char *path, const char *headers, const char *json, HttpAnswer *ret) {
        char h[2048];

        snprintf(h, sizeof h, "Content-Type: application/json\r\n%s", headers ?: "");
        return http_request(port, "POST", path, h, json, ret);
}

/* Each stream's bytes: as received (chunked) and as decoded, not yet handed
 * out. Tests and benchmarks hold at most a few hundred streams. */
typedef struct Stream {
        int fd;
        Buf raw, dec;
        bool used;
} Stream;

static Stream streams[512];

static Stream *stream_of(int fd, bool create) {
        for (size_t k = 0; k < 512; k++)
                if (streams[k].used && streams[k].fd == fd)
                        return &streams[k];
        if (!create)
                return NULL;
        for (size_t k = 0; k < 512; k++)
                if (!streams[k].used) {
                        streams[k] = (Stream) { .fd = fd, .used = true };
                        return &streams[k];
                }
        return NULL;
}

void http_stream_close(int fd) {
        Stream *s = stream_of(fd, false);

        if (s) {
                free(s->raw.p);
                free(s->dec.p);
                *s = (Stream) {};
        }
        close(fd);
}

int http_stream_open(unsigned port, const char *path, const char *headers, HttpAnswer *ret_head) {
        int fd = http_connect(port), r, n;
        char *req = NULL;
        Stream *s;

        *ret_head = (HttpAnswer) {};
        if (fd < 0)
                return fd;
        s = stream_of(fd, true);
        if (!s) {
                close(fd);
                return -ENOMEM;
        }
        n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: text/event-stream\r\n%s\r\n", path, port,
                     headers ?: "");
        if (n < 0) {
                http_stream_close(fd);
                return -ENOMEM;
        }
        r = write_all(fd, req, (size_t) n);
        free(req);
        if (r >= 0)
                r = read_head(fd, &s->raw, ret_head, 5000);
        if (r < 0) {
                http_stream_close(fd);
                return r;
        }
        return fd;
}

/* complete chunks of raw moved to dec; -ECONNRESET at the last chunk */
static int stream_decode(Stream *s) {
        for (;;) {
                char *nl = find(&s->raw, "\r\n");
                unsigned long n;
                size_t head, used;

                if (!nl)
                        return 0;
                n = strtoul(s->raw.p, NULL, 16);
                head = nl + 2 - s->raw.p;
                if (s->raw.len < head + n + 2)
                        return 0;
                if (n == 0)
                        return -ECONNRESET;
                if (s->dec.cap < s->dec.len + n + 1) {
                        char *q = realloc(s->dec.p, s->dec.len + n + 8192);

                        if (!q)
                                return -ENOMEM;
                        s->dec.p = q;
                        s->dec.cap = s->dec.len + n + 8192;
                }
                memcpy(s->dec.p + s->dec.len, s->raw.p + head, n);
                s->dec.len += n;
                s->dec.p[s->dec.len] = '\0';
                used = head + n + 2;
                memmove(s->raw.p, s->raw.p + used, s->raw.len - used);
                s->raw.len -= used;
        }
}

char *http_stream_next(int fd, int timeout_ms) {
        Stream *s = stream_of(fd, false);
        struct timespec t0;

        if (!s)
                return NULL;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                char *nl;

                if (stream_decode(s) < 0 && s->dec.len == 0)
                        return NULL;
                /* comment and blank lines skipped; "data: " lines returned */
                while (s->dec.len > 0 && (nl = memchr(s->dec.p, '\n', s->dec.len))) {
                        char *line = s->dec.p, *out = NULL;
                        size_t used = nl + 1 - line;

                        if (strncmp(line, "data: ", 6) == 0)
                                out = strndup(line + 6, nl - line - 6);
                        memmove(s->dec.p, s->dec.p + used, s->dec.len - used);
                        s->dec.len -= used;
                        s->dec.p[s->dec.len] = '\0';
                        if (out)
                                return out;
                }

                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
                if (left <= 0 || buf_fill(fd, &s->raw, (int) left) < 0)
                        return NULL;
        }
}
