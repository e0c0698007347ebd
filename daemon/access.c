/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who may change instances. Until polkit is asked (the access-control work),
 * mutating methods accept root and the daemon's own user only.
 *
 * The caller's uid is never asked for synchronously in a handler: the first
 * call of a unique name is parked, GetConnectionUnixUser goes out
 * asynchronously, and when the answer comes the uid is cached (until the
 * name goes away: NameOwnerChanged) and the parked calls are dispatched
 * again through their handler. On a peer-to-peer connection the peer's
 * credentials come from the socket (SO_PEERCRED). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "manager.h"

struct UidEntry {
        char *name;
        uid_t uid;
        uint64_t denied_logged; /* CLOCK_MONOTONIC s of the last denial logged */
};

struct Parked {
        Parked *next;
        sd_bus_message *msg;
        sd_bus_message_handler_t handler;
        void *userdata;
        char *sender;
};

static UidEntry *uid_find(Manager *m, const char *name) {
        for (size_t k = 0; k < m->n_uids; k++)
                if (streq(m->uids[k].name, name))
                        return &m->uids[k];
        return NULL;
}

static void uid_forget(Manager *m, const char *name) {
        UidEntry *e = uid_find(m, name);
        if (!e)
                return;
        free(e->name);
        *e = m->uids[--m->n_uids];
}

static UidEntry *uid_remember(Manager *m, const char *name, uid_t uid) {
        UidEntry *e = uid_find(m, name);
        if (e) {
                e->uid = uid;
                return e;
        }
        if (m->n_uids == m->cap_uids) {
                size_t cap = m->cap_uids ? m->cap_uids * 2 : 16;
                UidEntry *v = realloc(m->uids, cap * sizeof *v);
                if (!v)
                        return NULL;
                m->uids = v;
                m->cap_uids = cap;
        }
        e = &m->uids[m->n_uids];
        *e = (UidEntry) { .name = strdup(name), .uid = uid };
        if (!e->name)
                return NULL;
        m->n_uids++;
        return e;
}

static int check_uid(Manager *m, UidEntry *e, uid_t uid, sd_bus_message *msg, sd_bus_error *error) {
        struct timespec ts;

        if (uid == 0 || uid == m->own_uid)
                return 1;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (!e || (uint64_t) ts.tv_sec >= e->denied_logged + 10) {
                log_notice("Denied %s.%s to uid %u (only root and uid %u may change instances)",
                           sd_bus_message_get_interface(msg), sd_bus_message_get_member(msg), (unsigned) uid,
                           (unsigned) m->own_uid);
                if (e)
                        e->denied_logged = (uint64_t) ts.tv_sec;
        }
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Access denied: uid %u may not change instances of this component", (unsigned) uid);
}

static void redispatch(Manager *m, const char *sender) {
        Parked **pp = &m->parked;

        while (*pp) {
                Parked *p = *pp;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r;

                if (!streq(p->sender, sender)) {
                        pp = &p->next;
                        continue;
                }
                *pp = p->next;
                (void) sd_bus_message_rewind(p->msg, true);
                r = p->handler(p->msg, p->userdata, &error);
                if (r < 0) {
                        if (sd_bus_error_is_set(&error))
                                (void) sd_bus_reply_method_error(p->msg, &error);
                        else
                                (void) sd_bus_reply_method_errno(p->msg, r, NULL);
                }
                sd_bus_error_free(&error);
                sd_bus_message_unref(p->msg);
                free(p->sender);
                free(p);
        }
}

typedef struct Lookup {
        Manager *manager;
        char sender[];
} Lookup;

static int on_uid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Lookup *l = userdata;
        Manager *m = l->manager;
        const char *sender = l->sender;
        uint32_t uid;
        (void) ret_error;

        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "u", &uid) < 0) {
                /* the caller is gone, or the broker would not say: deny what waits */
                (void) uid_remember(m, sender, (uid_t) -1);
                redispatch(m, sender);
                uid_forget(m, sender);
        } else {
                (void) uid_remember(m, sender, (uid_t) uid);
                redispatch(m, sender);
        }
        return 0; /* l is freed with the slot */
}

int access_check_mutating(Manager *m, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                          sd_bus_error *error) {
        const char *sender;
        UidEntry *e;
        Parked *p;
        bool in_flight = false;
        int r;

        /* a peer (the activation socket, a socketpair): the socket says who it is */
        if (m->peer || sd_bus_message_get_bus(msg) != m->bus) {
                sd_bus_creds *c = NULL;
                uid_t uid;
                r = sd_bus_get_owner_creds(sd_bus_message_get_bus(msg), SD_BUS_CREDS_EUID, &c);
                if (r >= 0)
                        r = sd_bus_creds_get_euid(c, &uid);
                sd_bus_creds_unref(c);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: peer unknown");
                return check_uid(m, NULL, uid, msg, error);
        }

        sender = sd_bus_message_get_sender(msg);
        if (!sender)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: no sender");
        e = uid_find(m, sender);
        if (e)
                return check_uid(m, e, e->uid, msg, error);

        for (p = m->parked; p; p = p->next)
                if (streq(p->sender, sender))
                        in_flight = true;
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->sender = strdup(sender);
        if (!p->sender) {
                free(p);
                return -ENOMEM;
        }
        if (!in_flight) {
                Lookup *name = malloc(sizeof(Lookup) + strlen(sender) + 1);
                if (!name) {
                        free(p->sender);
                        free(p);
                        return -ENOMEM;
                }
                name->manager = m;
                strcpy(name->sender, sender);
                sd_bus_slot *slot = NULL;
                r = sd_bus_call_method_async(m->bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetConnectionUnixUser", on_uid, name, "s",
                                             sender);
                if (r >= 0) {
                        (void) sd_bus_slot_set_destroy_callback(slot, free);
                        (void) sd_bus_slot_set_floating(slot, 1);
                        sd_bus_slot_unref(slot);
                }
                if (r < 0) {
                        free(name);
                        free(p->sender);
                        free(p);
                        return r;
                }
        }
        p->msg = sd_bus_message_ref(msg);
        p->handler = handler;
        p->userdata = userdata;
        p->next = m->parked;
        m->parked = p;
        return 0; /* answered when the uid is known */
}

static int on_name_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;
        (void) ret_error;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && isempty(new_owner))
                uid_forget(m, name);
        return 0;
}

int access_setup(Manager *m) {
        if (m->peer)
                return 0;
        return sd_bus_match_signal_async(m->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, m);
}

void access_done(Manager *m) {
        while (m->parked) {
                Parked *p = m->parked;
                m->parked = p->next;
                sd_bus_message_unref(p->msg);
                free(p->sender);
                free(p);
        }
        for (size_t k = 0; k < m->n_uids; k++)
                free(m->uids[k].name);
        free(m->uids);
        m->uids = NULL;
        m->n_uids = m->cap_uids = 0;
}
