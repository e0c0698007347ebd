/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Host name lookups off the event loop (xfsm-redis-bridge(8)).
 *
 * getaddrinfo(3) may block for seconds (DNS), so each lookup runs it in a
 * detached thread. The thread and the loop share nothing but a
 * SOCK_SEQPACKET socket pair: the thread owns one end and its own copy of
 * the name, the loop the other end. The answer is one message (the
 * getaddrinfo() code, errno for EAI_SYSTEM, then the numeric addresses,
 * each NUL-terminated), sent with MSG_NOSIGNAL. Cancelling closes the
 * loop's end: the thread's send then fails, it closes its end and exits.
 * Nothing waits for a thread, so freeing a lookup never blocks, and no
 * memory is shared, so there is nothing to lock. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolve.h"

/* the answer: two int32 and up to 8 addresses with their NULs */
#define ANSWER_MAX (2 * sizeof(int32_t) + HOST_LOOKUP_ADDRESSES_MAX * INET6_ADDRSTRLEN)

struct HostLookup {
        sd_event_source *io;
        int fd; /* the loop's end */
        host_lookup_fn cb;
        void *userdata;
};

static int safe_close(int fd) {
        if (fd >= 0)
                close(fd);
        return -EBADF;
}

/* What the thread owns. */
typedef struct Worker {
        int fd;
        char host[];
} Worker;

static void *worker_run(void *p) {
        static const struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
        };
        Worker *w = p;
        struct addrinfo *ai = NULL;
        char msg[ANSWER_MAX];
        size_t len = 2 * sizeof(int32_t);
        int32_t code, error;
        unsigned n = 0;

        code = getaddrinfo(w->host, NULL, &hints, &ai);
        error = code == EAI_SYSTEM ? errno : 0;
        memcpy(msg, &code, sizeof code);
        memcpy(msg + sizeof code, &error, sizeof error);

        for (struct addrinfo *i = code == 0 ? ai : NULL; i && n < HOST_LOOKUP_ADDRESSES_MAX; i = i->ai_next) {
                const void *a;

                if (i->ai_family == AF_INET)
                        a = &((const struct sockaddr_in *) i->ai_addr)->sin_addr;
                else if (i->ai_family == AF_INET6)
                        a = &((const struct sockaddr_in6 *) i->ai_addr)->sin6_addr;
                else
                        continue;
                if (!inet_ntop(i->ai_family, a, msg + len, sizeof msg - len))
                        continue;
                len += strlen(msg + len) + 1;
                n++;
        }
        if (ai)
                freeaddrinfo(ai);

        /* fails when the lookup was cancelled: nobody wants the answer */
        (void) send(w->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(w->fd);
        free(w);
        return NULL;
}

static int gai_to_errno(int32_t code, int32_t error) {
        switch (code) {
        case EAI_NONAME:
#ifdef EAI_NODATA
        case EAI_NODATA:
#endif
                return -ENXIO;
        case EAI_AGAIN:
                return -EAGAIN;
        case EAI_MEMORY:
                return -ENOMEM;
        case EAI_SYSTEM:
                return error > 0 ? -error : -EIO;
        default:
                return -EHOSTUNREACH;
        }
}

static int on_answer(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HostLookup *l = userdata;
        char msg[ANSWER_MAX + 1], *addrs[HOST_LOOKUP_ADDRESSES_MAX];
        int32_t code, error;
        size_t n = 0;
        ssize_t len;

        len = recv(l->fd, msg, sizeof msg - 1, MSG_DONTWAIT);
        if (len < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;

        /* one answer only: the lookup is over whatever came */
        l->io = sd_event_source_disable_unref(l->io);
        l->fd = safe_close(l->fd);

        if (len < (ssize_t) (2 * sizeof(int32_t))) {
                l->cb(l, -EIO, "the lookup ended without an answer", NULL, 0, l->userdata);
                return 0;
        }

        memcpy(&code, msg, sizeof code);
        memcpy(&error, msg + sizeof code, sizeof error);
        if (code != 0) {
                l->cb(l, gai_to_errno(code, error), code == EAI_SYSTEM ? strerror(error) : gai_strerror(code), NULL, 0,
                      l->userdata);
                return 0;
        }

        msg[len] = 0;
        for (size_t p = 2 * sizeof(int32_t); p < (size_t) len && n < HOST_LOOKUP_ADDRESSES_MAX; p += strlen(msg + p) + 1)
                addrs[n++] = msg + p;
        if (n == 0) {
                l->cb(l, -ENXIO, "the host has no IPv4 or IPv6 address", NULL, 0, l->userdata);
                return 0;
        }

        l->cb(l, 0, NULL, addrs, n, l->userdata);
        return 0;
}

int host_lookup_start(HostLookup **ret, sd_event *event, const char *host, host_lookup_fn cb, void *userdata) {
        _cleanup_(host_lookup_freep) HostLookup *l = NULL;
        pthread_attr_t attr;
        sigset_t all, saved;
        pthread_t thread;
        Worker *w;
        int fds[2], r;

        assert(ret);
        assert(event);
        assert(host);
        assert(cb);

        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->fd = -EBADF;
        l->cb = cb;
        l->userdata = userdata;

        w = malloc(sizeof *w + strlen(host) + 1);
        if (!w)
                return -ENOMEM;
        strcpy(w->host, host);

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
                free(w);
                return -errno;
        }
        l->fd = fds[0];
        w->fd = fds[1];

        r = sd_event_add_io(event, &l->io, l->fd, EPOLLIN, on_answer, l);
        if (r < 0) {
                close(w->fd);
                free(w);
                return r;
        }
        (void) sd_event_source_set_description(l->io, "host-lookup");

        /* the thread takes no signals: the loop handles them (signalfd) */
        sigfillset(&all);
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                r = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                if (r == 0)
                        r = -pthread_sigmask(SIG_SETMASK, &all, &saved);
                if (r == 0) {
                        r = -pthread_create(&thread, &attr, worker_run, w);
                        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
                }
                pthread_attr_destroy(&attr);
        }
        if (r < 0) {
                close(w->fd);
                free(w);
                return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

HostLookup *host_lookup_free(HostLookup *l) {
        if (!l)
                return NULL;

        sd_event_source_disable_unref(l->io);
        safe_close(l->fd);
        free(l);
        return NULL;
}
