/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who may do what (SPEC section 6): the caller is found, then polkit asked.
 *
 * Every guarded handler calls access_check() before it touches state. The
 * answer is 1 (go on), a refusal (AccessDenied or
 * InteractiveAuthorizationRequired, the call changes nothing), or 0: the
 * call is parked and its handler runs again once what it waits for is
 * known; other callers keep being served meanwhile. It waits for:
 *
 *   - the caller's uid: never asked for synchronously in a handler. The
 *     first call of a unique name sends GetConnectionCredentials; the uid
 *     and pid are cached until the name goes away (NameOwnerChanged). On a
 *     peer connection (the worker socket) the socket says (SO_PEERCRED).
 *   - polkit's answer (polkit.c), unless the uid is root or the daemon's own
 *     user (the workers deliver routed events to each other as that user),
 *     or a fresh grant is remembered. A call that allows interactive
 *     authorization and meets a challenge is asked again with interaction.
 *
 * Polkit unreachable means denied. Denials go to the journal at most once
 * per (uid, action) per 10 s. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus-util.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"

#define DENIAL_LOG_USEC (10ULL * 1000000ULL)

struct UidEntry {
        char *name;
        uid_t uid; /* (uid_t) -1: the broker would not say */
        pid_t pid;
};

struct Parked {
        Parked *next;
        sd_bus_message *msg;
        sd_bus_message_handler_t handler;
        void *userdata;
        char *sender;      /* waiting for this name's uid */
        PolkitQuery *query; /* or for polkit's answer */
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

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

static UidEntry *uid_remember(Manager *m, const char *name, uid_t uid, pid_t pid) {
        UidEntry *e = uid_find(m, name);
        if (e) {
                e->uid = uid;
                e->pid = pid;
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
        *e = (UidEntry) { .name = strdup(name), .uid = uid, .pid = pid };
        if (!e->name)
                return NULL;
        m->n_uids++;
        return e;
}

/* At most once per (uid, action) per 10 s. */
static void denial_log(Manager *m, uid_t uid, pid_t pid, const char *action, const AccessDetails *d,
                       const char *why) {
        uint64_t now = now_usec();
        struct Denial *slot = NULL;

        for (size_t k = 0; k < m->n_denials && !slot; k++)
                if (m->denials[k].uid == uid && streq(m->denials[k].action, action)) {
                        if (now < m->denials[k].logged + DENIAL_LOG_USEC)
                                return;
                        slot = &m->denials[k];
                }
        if (!slot && m->n_denials < ELEMENTSOF(m->denials))
                slot = &m->denials[m->n_denials++];
        if (!slot) { /* full: the oldest goes */
                slot = &m->denials[0];
                for (size_t k = 1; k < m->n_denials; k++)
                        if (m->denials[k].logged < slot->logged)
                                slot = &m->denials[k];
        }
        *slot = (struct Denial) { .uid = uid, .action = action, .logged = now };
        log_denied((unsigned) uid, (unsigned) pid, action, d ? d->component : NULL, d ? d->machine : NULL,
                   d ? d->event : NULL, why);
}

static int deny(Manager *m, uid_t uid, pid_t pid, const char *action, const AccessDetails *d, Verdict v,
                sd_bus_error *error) {
        const char *why = v == VERDICT_UNREACHABLE ? "polkit could not be asked"
                        : v == VERDICT_CHALLENGE  ? "authentication required"
                        : !action                 ? "only root and the daemon's user may call this"
                                                  : "not authorized";

        denial_log(m, uid, pid, action ? action : "org.xfsm1.internal", d, why);
        if (v == VERDICT_CHALLENGE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication required for %s", action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: %s (%s)",
                                 action ? action : "an internal method", why);
}

static Parked *park(Manager *m, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                    const char *sender, PolkitQuery *q) {
        Parked *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        if (sender && !(p->sender = strdup(sender))) {
                free(p);
                return NULL;
        }
        p->msg = sd_bus_message_ref(msg);
        p->handler = handler;
        p->userdata = userdata;
        p->query = q;
        p->next = m->parked;
        m->parked = p;
        return p;
}

static Parked *parked_free(Parked *p) {
        sd_bus_message_unref(p->msg);
        free(p->sender);
        free(p);
        return NULL;
}

static void dispatch(Manager *m, Parked *p, Verdict v, bool interactive) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        (void) sd_bus_message_rewind(p->msg, true);
        m->verdict_msg = p->msg;
        m->verdict = v;
        m->verdict_interactive = interactive;
        r = p->handler(p->msg, p->userdata, &error);
        m->verdict_msg = NULL;
        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        (void) sd_bus_reply_method_error(p->msg, &error);
                else
                        (void) sd_bus_reply_method_errno(p->msg, r, NULL);
        }
        sd_bus_error_free(&error);
}

/* Run again the calls parked on sender's uid, or on query q. New ones may be
 * parked meanwhile (on polkit); they go to the head, and are left alone. */
static void redispatch(Manager *m, const char *sender, PolkitQuery *q, Verdict v) {
        Parked **pp = &m->parked;

        while (*pp) {
                Parked *p = *pp;
                bool mine = q ? p->query == q : !p->query && streq_ptr(p->sender, sender);

                if (!mine) {
                        pp = &p->next;
                        continue;
                }
                *pp = p->next;
                dispatch(m, p, v, q && polkit_query_interactive(q));
                parked_free(p);
        }
}

void access_query_done(Manager *m, PolkitQuery *q, Verdict v) {
        redispatch(m, NULL, q, v);
}

typedef struct Lookup {
        Manager *manager;
        char sender[];
} Lookup;

typedef struct Credentials {
        uint32_t uid, pid;
        bool have_uid;
} Credentials;

static int credential(sd_bus_message *m, const char *key, void *userdata) {
        Credentials *c = userdata;
        int r;
        if (streq(key, "UnixUserID")) {
                r = sd_bus_message_read(m, "v", "u", &c->uid);
                c->have_uid = r >= 0;
                return r < 0 ? r : 1;
        }
        if (streq(key, "ProcessID")) {
                r = sd_bus_message_read(m, "v", "u", &c->pid);
                return r < 0 ? r : 1;
        }
        return 0;
}

static int read_credentials(sd_bus_message *reply, uint32_t *ret_uid, uint32_t *ret_pid) {
        Credentials c = {};
        int r = bus_read_dict(reply, credential, &c);
        if (r < 0)
                return r;
        if (!c.have_uid)
                return -ENODATA;
        *ret_uid = c.uid;
        *ret_pid = c.pid;
        return 0;
}

static int on_credentials(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Lookup *l = userdata;
        Manager *m = l->manager;
        uint32_t uid = (uint32_t) -1, pid = 0;
        (void) ret_error;

        if (sd_bus_message_is_method_error(reply, NULL) || read_credentials(reply, &uid, &pid) < 0) {
                /* the caller is gone, or the broker would not say: deny what waits */
                (void) uid_remember(m, l->sender, (uid_t) -1, 0);
                redispatch(m, l->sender, NULL, VERDICT_NONE);
                uid_forget(m, l->sender);
        } else {
                (void) uid_remember(m, l->sender, (uid_t) uid, (pid_t) pid);
                redispatch(m, l->sender, NULL, VERDICT_NONE);
        }
        return 0; /* l is freed with the slot */
}

/* Park msg until the uid of sender is known. */
static int wait_for_uid(Manager *m, sd_bus_message *msg, const char *sender, sd_bus_message_handler_t handler,
                        void *userdata) {
        bool in_flight = false;
        Lookup *l;
        int r;

        for (Parked *p = m->parked; p; p = p->next)
                if (!p->query && streq_ptr(p->sender, sender))
                        in_flight = true;
        if (!in_flight) {
                sd_bus_slot *slot = NULL;

                l = malloc(sizeof(Lookup) + strlen(sender) + 1);
                if (!l)
                        return -ENOMEM;
                l->manager = m;
                strcpy(l->sender, sender);
                r = sd_bus_call_method_async(m->bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetConnectionCredentials", on_credentials, l,
                                             "s", sender);
                if (r < 0) {
                        free(l);
                        return r;
                }
                (void) sd_bus_slot_set_destroy_callback(slot, free);
                (void) sd_bus_slot_set_floating(slot, 1);
                sd_bus_slot_unref(slot);
        }
        return park(m, msg, handler, userdata, sender, NULL) ? 0 : -ENOMEM;
}

int access_check(Manager *m, sd_bus_message *msg, const char *action, const AccessDetails *d,
                 sd_bus_message_handler_t handler, void *userdata, sd_bus_error *error) {
        Verdict v = VERDICT_NONE;
        bool asked_interactive = false, interactive;
        PolkitSubject s = {};
        char caller[64];
        const char *name;
        PolkitQuery *q;
        uid_t uid;
        pid_t pid;
        char *key;
        int r;

        if (m->verdict_msg == msg) {
                v = m->verdict;
                asked_interactive = m->verdict_interactive;
        }

        if (m->peer || sd_bus_message_get_bus(msg) != m->bus) {
                /* a peer (the worker socket, a socketpair): the socket says who it is */
                sd_bus_creds *c = NULL;
                r = sd_bus_get_owner_creds(sd_bus_message_get_bus(msg), SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &c);
                if (r >= 0)
                        r = sd_bus_creds_get_euid(c, &uid);
                if (r >= 0)
                        r = sd_bus_creds_get_pid(c, &pid);
                sd_bus_creds_unref(c);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: peer unknown");
                s.pid = pid;
                s.uid = uid;
                /* hidden under ProtectProc=invisible: 0 lets polkitd look it up; the uid, from
                 * the socket, is what polkit judges by either way */
                if (process_start_time(pid, &s.start_time) < 0)
                        s.start_time = 0;
                snprintf(caller, sizeof caller, "pid:%d:%llu:%u", (int) pid, (unsigned long long) s.start_time,
                         (unsigned) uid);
                name = caller;
        } else {
                UidEntry *e;

                name = sd_bus_message_get_sender(msg);
                if (!name)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: no sender");
                e = uid_find(m, name);
                if (!e)
                        return wait_for_uid(m, msg, name, handler, userdata);
                uid = e->uid;
                pid = e->pid;
                if (uid == (uid_t) -1)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: caller unknown");
                s.bus_name = name;
        }

        if (uid == 0 || uid == m->own_uid)
                return 1;
        if (!action)
                return deny(m, uid, pid, NULL, d, VERDICT_DENY, error);

        interactive = sd_bus_message_get_allow_interactive_authorization(msg) > 0;
        switch (v) {
        case VERDICT_ALLOW:
                return 1;
        case VERDICT_DENY:
        case VERDICT_UNREACHABLE:
                return deny(m, uid, pid, action, d, v, error);
        case VERDICT_CHALLENGE:
                if (asked_interactive || !interactive)
                        return deny(m, uid, pid, action, d, v, error);
                break; /* ask again, letting polkit ask the user */
        case VERDICT_NONE:
                break;
        }

        key = polkit_key(name, action, d);
        if (!key)
                return -ENOMEM;
        if (v == VERDICT_NONE && polkit_granted(m, key)) {
                free(key);
                return 1;
        }
        if (m->peer) { /* no bus to reach polkit on */
                free(key);
                return deny(m, uid, pid, action, d, VERDICT_UNREACHABLE, error);
        }
        /* first without interaction: a grant then is one without a challenge, and may be remembered */
        r = polkit_query(m, key, &s, action, d, v == VERDICT_CHALLENGE, &q);
        free(key);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask polkit: %m");
                return deny(m, uid, pid, action, d, VERDICT_UNREACHABLE, error);
        }
        return park(m, msg, handler, userdata, NULL, q) ? 0 : -ENOMEM;
}

static int on_name_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;
        (void) ret_error;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && isempty(new_owner)) {
                uid_forget(m, name);
                polkit_forget_caller(m, name);
        }
        return 0;
}

int access_setup(Manager *m) {
        int r;

        if (m->peer)
                return 0;
        r = sd_bus_match_signal_async(m->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, m);
        if (r < 0)
                return r;
        return polkit_setup(m);
}

void access_done(Manager *m) {
        while (m->parked) {
                Parked *p = m->parked;
                m->parked = p->next;
                parked_free(p);
        }
        polkit_done(m);
        for (size_t k = 0; k < m->n_uids; k++)
                free(m->uids[k].name);
        free(m->uids);
        m->uids = NULL;
        m->n_uids = m->cap_uids = 0;
}
