/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Idling out (see idle.h): one timer, checked against the last activity. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "idle.h"
#include "log.h"
#include "macro.h"

struct Idle {
        sd_event *event;
        idle_busy_fn busy;
        void *userdata;
        sd_bus *bus;
        bool peer;
        char **names;
        uint64_t usec;          /* 0: never */
        uint64_t last_activity; /* CLOCK_MONOTONIC usec */
        sd_event_source *timer;
        sd_bus_slot *filter;
        unsigned to_release;    /* names still being released: leaving */
};

int idle_new(Idle **ret, sd_event *event, idle_busy_fn busy, void *userdata) {
        Idle *i;

        assert(ret);
        assert(busy);
        i = calloc(1, sizeof *i);
        if (!i)
                return -ENOMEM;
        i->event = sd_event_ref(event);
        i->busy = busy;
        i->userdata = userdata;
        *ret = i;
        return 0;
}

Idle *idle_free(Idle *i) {
        if (!i)
                return NULL;
        sd_event_source_disable_unref(i->timer);
        sd_bus_slot_unref(i->filter);
        sd_bus_unref(i->bus);
        for (char **n = i->names; n && *n; n++)
                free(*n);
        free(i->names);
        sd_event_unref(i->event);
        free(i);
        return NULL;
}

void idle_touch(Idle *i) {
        if (i && i->usec > 0)
                (void) sd_event_now(i->event, CLOCK_MONOTONIC, &i->last_activity);
}

static int on_message(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        idle_touch(userdata);
        return 0;
}

static int on_released(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Idle *i = userdata;

        if (i->to_release > 0 && --i->to_release > 0)
                return 0;
        /* names gone: what reached us before is still handled, then we leave */
        for (int k = 0; k < 1000 && sd_bus_process(i->bus, NULL) > 0; k++)
                ;
        log_info("Idle: leaving (the next call starts the worker again)");
        (void) sd_notify(0, "STOPPING=1\nSTATUS=Idle, exiting");
        return sd_event_exit(i->event, 0);
}

static int on_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Idle *i = userdata;
        bool busy;

        if (i->to_release > 0)
                return 0; /* leaving already */
        busy = i->busy(i->userdata);
        if (busy || usec < i->last_activity + i->usec) {
                uint64_t next = (busy ? usec : i->last_activity) + i->usec;
                (void) sd_event_source_set_time(s, next > usec ? next : usec + i->usec);
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        if (i->peer || !i->bus)
                return sd_event_exit(i->event, 0);
        for (char **n = i->names; n && *n; n++)
                if (sd_bus_release_name_async(i->bus, NULL, *n, on_released, i) >= 0)
                        i->to_release++;
        if (i->to_release == 0)
                return sd_event_exit(i->event, 0);
        return 0;
}

int idle_start(Idle *i, sd_bus *bus, bool peer, char *const *names, uint64_t usec) {
        size_t n = 0;
        int r;

        assert(i);
        i->usec = usec;
        if (usec == 0 || !bus)
                return 0;
        while (names && names[n])
                n++;
        i->names = calloc(n + 1, sizeof *i->names);
        if (!i->names)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++)
                if (!(i->names[k] = strdup(names[k])))
                        return -ENOMEM;
        i->bus = sd_bus_ref(bus);
        i->peer = peer;
        r = sd_bus_add_filter(bus, &i->filter, on_message, i);
        if (r < 0)
                return r;
        r = sd_event_now(i->event, CLOCK_MONOTONIC, &i->last_activity);
        if (r < 0)
                return r;
        r = sd_event_add_time(i->event, &i->timer, CLOCK_MONOTONIC, i->last_activity + usec, 100000, on_check, i);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(i->timer, "idle-exit");
        return 0;
}
