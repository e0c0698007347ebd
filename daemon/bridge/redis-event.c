/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* An sd-event adapter for hiredis's asynchronous contexts, after the
 * adapters hiredis ships for libevent and GLib (xfsm-redis-bridge(8)).
 *
 * hiredis says what it waits for through five hooks: addRead, delRead,
 * addWrite, delWrite and cleanup. sd-event allows one I/O source per file
 * descriptor, so both directions share one source: the hooks keep the
 * epoll mask (EPOLLIN, EPOLLOUT) and the source is off while the mask is
 * empty (epoll reports EPOLLERR and EPOLLHUP even then, and a level-triggered
 * source nobody reads would spin). On an event the handler calls
 * redisAsyncHandleRead() and/or redisAsyncHandleWrite(), which run the
 * reply callbacks and may free the context; hiredis then calls cleanup from
 * inside the handler, so the adapter's own state outlives the dispatch and
 * is freed when the handler returns. The socket belongs to hiredis (it
 * closes it after cleanup). */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"
#include "macro.h"
#include "redis-event.h"

typedef struct RedisEvent {
        redisAsyncContext *ac;
        sd_event_source *io;
        uint32_t events;  /* what hiredis waits for: EPOLLIN, EPOLLOUT */
        bool dispatching; /* inside on_io() */
        bool dead;        /* cleanup ran during the dispatch: free after it */
} RedisEvent;

static void redis_event_update(RedisEvent *e, uint32_t events) {
        int r;

        if (e->dead || events == e->events)
                return;
        e->events = events;

        /* Errors leave the source as it was; a command then runs into its
         * deadline and the connection is dropped and made again. */
        if (events == 0) {
                r = sd_event_source_set_enabled(e->io, SD_EVENT_OFF);
                if (r < 0)
                        log_debug("Redis adapter: failed to disable the I/O source: %s", strerror(-r));
                return;
        }

        r = sd_event_source_set_io_events(e->io, events);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->io, SD_EVENT_ON);
        if (r < 0)
                log_debug("Redis adapter: failed to watch the socket for 0x%x: %s", events, strerror(-r));
}

static void hook_add_read(void *privdata) {
        RedisEvent *e = privdata;

        redis_event_update(e, e->events | EPOLLIN);
}

static void hook_del_read(void *privdata) {
        RedisEvent *e = privdata;

        redis_event_update(e, e->events & ~EPOLLIN);
}

static void hook_add_write(void *privdata) {
        RedisEvent *e = privdata;

        redis_event_update(e, e->events | EPOLLOUT);
}

static void hook_del_write(void *privdata) {
        RedisEvent *e = privdata;

        redis_event_update(e, e->events & ~EPOLLOUT);
}

/* hiredis frees the context: the source goes now, the socket stays open
 * until hiredis closes it. */
static void hook_cleanup(void *privdata) {
        RedisEvent *e = privdata;

        e->io = sd_event_source_disable_unref(e->io);
        e->ac = NULL;
        if (e->dispatching)
                e->dead = true;
        else
                free(e);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RedisEvent *e = userdata;
        bool trouble = revents & (EPOLLERR | EPOLLHUP);

        e->dispatching = true;

        /* Each call may end in cleanup (e->dead), with e still allocated. */
        if ((e->events & EPOLLIN) && ((revents & EPOLLIN) || trouble))
                redisAsyncHandleRead(e->ac);
        if (!e->dead && (e->events & EPOLLOUT) && ((revents & EPOLLOUT) || trouble))
                redisAsyncHandleWrite(e->ac);

        e->dispatching = false;
        if (e->dead)
                free(e);

        return 0;
}

int redis_event_attach(redisAsyncContext *ac, sd_event *event) {
        _cleanup_(freep) RedisEvent *e = NULL;
        int r;

        assert(ac);
        assert(event);

        if (ac->ev.data)
                return -EBUSY;

        e = calloc(1, sizeof *e);
        if (!e)
                return -ENOMEM;
        e->ac = ac;

        /* Off until hiredis asks for something: the connect callback and the
         * first command ask for EPOLLOUT. */
        r = sd_event_add_io(event, &e->io, ac->c.fd, 0, on_io, e);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(e->io, SD_EVENT_OFF);
        if (r < 0) {
                e->io = sd_event_source_disable_unref(e->io);
                return r;
        }
        (void) sd_event_source_set_description(e->io, "redis-io");

        ac->ev.addRead = hook_add_read;
        ac->ev.delRead = hook_del_read;
        ac->ev.addWrite = hook_add_write;
        ac->ev.delWrite = hook_del_write;
        ac->ev.cleanup = hook_cleanup;
        ac->ev.data = TAKE_PTR(e);

        return 0;
}
