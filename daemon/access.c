/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who may do what (xfsmd(8), ACCESS CONTROL): the caller is found, then
 * polkit asked.
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
 * A parked call is run again through its handler, which calls
 * access_check() again: the answer it waited for is kept in the Access for
 * the length of that call (Access.redispatch), and access_check() takes it
 * from there.
 *
 * Polkit unreachable means denied. Denials go to the journal at most once
 * per (uid, action) per 10 s. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "bus-util.h"
#include "log.h"
#include "macro.h"
#include "polkit.h"

#define DENIAL_LOG_USEC (10ULL * 1000000ULL)

typedef struct UidEntry {
        char *name;
        uid_t uid; /* (uid_t) -1: the broker would not say */
        pid_t pid;
} UidEntry;

/* a GetConnectionCredentials out */
typedef struct Lookup Lookup;
struct Lookup {
        Lookup *next;
        Access *access;
        sd_bus_slot *slot;
        char sender[];
};

typedef struct Parked Parked;
struct Parked {
        Parked *next;
        sd_bus_message *msg;
        sd_bus_message_handler_t handler;
        void *userdata;
        char *sender;       /* waiting for this name's uid */
        PolkitQuery *query; /* or for polkit's answer */
};

struct Access {
        sd_event *event; /* its clock */
        sd_bus *bus;
        bool peer;
        uid_t own_uid;

        /* caller uids by unique name, and the lookups out */
        UidEntry *uids;
        size_t n_uids, cap_uids;
        Lookup *lookups;

        /* calls waiting for a uid or for polkit */
        Parked *parked;

        /* the call being run again, and the answer it waited for */
        struct {
                sd_bus_message *msg;
                Verdict verdict;
                bool interactive;
        } redispatch;

        Polkit *polkit;
        DenialLog denials;
        sd_bus_slot *match_name_owner;
};

static void on_polkit_answer(PolkitQuery *q, Verdict v, void *userdata);

int access_new(Access **ret, sd_event *event, sd_bus *bus, bool peer) {
        _cleanup_(access_freep) Access *a = NULL;
        int r;

        assert(ret);
        assert(event);
        assert(bus);

        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;

        a->event = sd_event_ref(event);
        a->bus = sd_bus_ref(bus);
        a->peer = peer;
        a->own_uid = geteuid();

        r = polkit_new(&a->polkit, event, bus, on_polkit_answer, a);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

Access *access_free(Access *a) {
        if (!a)
                return NULL;

        access_done(a);
        polkit_free(a->polkit);
        free(a->uids);
        sd_bus_unref(a->bus);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}

bool access_busy(Access *a) {
        assert(a);

        return a->parked;
}

static uint64_t access_now(Access *a) {
        uint64_t now = 0;

        (void) sd_event_now(a->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* ---- caller uids ------------------------------------------------------------------------ */

static UidEntry *uid_find(Access *a, const char *name) {
        for (size_t k = 0; k < a->n_uids; k++)
                if (streq(a->uids[k].name, name))
                        return &a->uids[k];
        return NULL;
}

static void uid_forget(Access *a, const char *name) {
        UidEntry *e = uid_find(a, name);

        if (!e)
                return;
        free(e->name);
        *e = a->uids[--a->n_uids];
}

static int uid_remember(Access *a, const char *name, uid_t uid, pid_t pid) {
        _cleanup_(freep) char *copy = NULL;
        UidEntry *e;

        e = uid_find(a, name);
        if (e) {
                e->uid = uid;
                e->pid = pid;
                return 0;
        }

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;

        if (a->n_uids == a->cap_uids) {
                size_t cap = a->cap_uids ? a->cap_uids * 2 : 16;
                UidEntry *v = realloc(a->uids, cap * sizeof *v);

                if (!v)
                        return -ENOMEM;
                a->uids = v;
                a->cap_uids = cap;
        }

        a->uids[a->n_uids++] = (UidEntry) { .name = TAKE_PTR(copy), .uid = uid, .pid = pid };
        return 0;
}

/* ---- denials ------------------------------------------------------------------------------ */

bool denial_log_admit(DenialLog *l, uid_t uid, const char *action, uint64_t now) {
        size_t slot = SIZE_MAX;

        assert(l);
        assert(action);

        for (size_t k = 0; k < l->n; k++)
                if (l->slots[k].uid == uid && streq(l->slots[k].action, action)) {
                        if (now < l->slots[k].logged + DENIAL_LOG_USEC)
                                return false;
                        slot = k;
                        break;
                }

        if (slot == SIZE_MAX && l->n < ELEMENTSOF(l->slots))
                slot = l->n++;

        if (slot == SIZE_MAX) { /* full: the oldest goes */
                slot = 0;
                for (size_t k = 1; k < l->n; k++)
                        if (l->slots[k].logged < l->slots[slot].logged)
                                slot = k;
        }

        l->slots[slot].uid = uid;
        l->slots[slot].action = action;
        l->slots[slot].logged = now;
        return true;
}

static int deny(Access *a, uid_t uid, pid_t pid, const char *action, const AccessDetails *d, Verdict v,
                sd_bus_error *error) {
        const char *why = v == VERDICT_UNREACHABLE ? "polkit could not be asked"
                        : v == VERDICT_CHALLENGE  ? "authentication required"
                        : !action                 ? "only root and the daemon's user may call this"
                                                  : "not authorized";

        if (denial_log_admit(&a->denials, uid, action ? action : "org.xfsm1.internal", access_now(a)))
                log_denied((unsigned) uid, (unsigned) pid, action ? action : "org.xfsm1.internal",
                           d ? d->component : NULL, d ? d->machine : NULL, d ? d->event : NULL, why);

        if (v == VERDICT_CHALLENGE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication required for %s", action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: %s (%s)",
                                 action ? action : "an internal method", why);
}

/* ---- parked calls --------------------------------------------------------------------------- */

static Parked *parked_free(Parked *p) {
        if (!p)
                return NULL;

        sd_bus_message_unref(p->msg);
        free(p->sender);
        free(p);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Parked *, parked_free);

static int park(Access *a, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                const char *sender, PolkitQuery *q) {
        _cleanup_(parked_freep) Parked *p = NULL;

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        if (sender) {
                p->sender = strdup(sender);
                if (!p->sender)
                        return -ENOMEM;
        }

        p->msg = sd_bus_message_ref(msg);
        p->handler = handler;
        p->userdata = userdata;
        p->query = q;

        p->next = a->parked;
        a->parked = TAKE_PTR(p);
        return 0;
}

static void dispatch(Access *a, Parked *p, Verdict v, bool interactive) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        (void) sd_bus_message_rewind(p->msg, true);

        a->redispatch.msg = p->msg;
        a->redispatch.verdict = v;
        a->redispatch.interactive = interactive;
        r = p->handler(p->msg, p->userdata, &error);
        a->redispatch.msg = NULL;

        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        (void) sd_bus_reply_method_error(p->msg, &error);
                else
                        (void) sd_bus_reply_method_errno(p->msg, r, NULL);
        }
}

/* Run again the calls parked on sender's uid, or on query q. New ones may be
 * parked meanwhile (on polkit); they go to the head, and are left alone. */
static void redispatch(Access *a, const char *sender, PolkitQuery *q, Verdict v) {
        Parked **pp = &a->parked;

        while (*pp) {
                Parked *p = *pp;
                bool mine = q ? p->query == q : !p->query && streq_ptr(p->sender, sender);

                if (!mine) {
                        pp = &p->next;
                        continue;
                }

                *pp = p->next;
                dispatch(a, p, v, q && polkit_query_interactive(q));
                parked_free(p);
        }
}

static void on_polkit_answer(PolkitQuery *q, Verdict v, void *userdata) {
        Access *a = userdata;

        redispatch(a, NULL, q, v);
}

/* ---- waiting for a caller's uid ---------------------------------------------------------- */

static Lookup *lookup_free(Lookup *l) {
        if (!l)
                return NULL;

        sd_bus_slot_unref(l->slot);
        free(l);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Lookup *, lookup_free);

static Lookup *lookup_find(Access *a, const char *sender) {
        for (Lookup *l = a->lookups; l; l = l->next)
                if (streq(l->sender, sender))
                        return l;
        return NULL;
}

static void lookup_unlink(Access *a, Lookup *l) {
        for (Lookup **pp = &a->lookups; *pp; pp = &(*pp)->next)
                if (*pp == l) {
                        *pp = l->next;
                        return;
                }
}

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
        int r;

        r = bus_read_dict(reply, credential, &c);
        if (r < 0)
                return r;
        if (!c.have_uid)
                return -ENODATA;

        *ret_uid = c.uid;
        *ret_pid = c.pid;
        return 0;
}

static int on_credentials(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(lookup_freep) Lookup *l = userdata;
        Access *a = l->access;
        uint32_t uid = 0, pid = 0;

        lookup_unlink(a, l);

        if (sd_bus_message_is_method_error(reply, NULL) || read_credentials(reply, &uid, &pid) < 0) {
                /* the caller is gone, or the broker would not say: deny what waits */
                (void) uid_remember(a, l->sender, (uid_t) -1, 0);
                redispatch(a, l->sender, NULL, VERDICT_NONE);
                uid_forget(a, l->sender);
        } else {
                (void) uid_remember(a, l->sender, (uid_t) uid, (pid_t) pid);
                redispatch(a, l->sender, NULL, VERDICT_NONE);
        }
        return 0;
}

static int lookup_start(Access *a, const char *sender) {
        _cleanup_(lookup_freep) Lookup *l = NULL;
        size_t n = strlen(sender);
        int r;

        l = calloc(1, sizeof *l + n + 1);
        if (!l)
                return -ENOMEM;
        l->access = a;
        memcpy(l->sender, sender, n + 1);

        r = sd_bus_call_method_async(a->bus, &l->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetConnectionCredentials", on_credentials, l, "s",
                                     sender);
        if (r < 0)
                return r;

        l->next = a->lookups;
        a->lookups = TAKE_PTR(l);
        return 0;
}

/* Park msg until the uid of sender is known: one lookup per sender. */
static int wait_for_uid(Access *a, sd_bus_message *msg, const char *sender, sd_bus_message_handler_t handler,
                        void *userdata) {
        int r;

        if (!lookup_find(a, sender)) {
                r = lookup_start(a, sender);
                if (r < 0)
                        return r;
        }

        return park(a, msg, handler, userdata, sender, NULL);
}

/* msg's caller on the bus: 1 known (its name and entry in ret_name, ret);
 * 0 parked until its uid is known (handler runs again); <0 failed. */
static int bus_caller(Access *a, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                      sd_bus_error *error, const char **ret_name, UidEntry **ret) {
        const char *name = sd_bus_message_get_sender(msg);
        UidEntry *e;

        if (!name)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: no sender");
        e = uid_find(a, name);
        if (!e)
                return wait_for_uid(a, msg, name, handler, userdata);
        if (e->uid == (uid_t) -1)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: caller unknown");
        *ret_name = name;
        *ret = e;
        return 1;
}

/* ---- the check ---------------------------------------------------------------------------- */

/* A peer (the worker socket, a socketpair): the socket says who it is. */
static int peer_subject(sd_bus_message *msg, PolkitSubject *s, char *caller, size_t size) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
        int r;

        r = sd_bus_get_owner_creds(sd_bus_message_get_bus(msg), SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &c);
        if (r >= 0)
                r = sd_bus_creds_get_euid(c, &s->uid);
        if (r >= 0)
                r = sd_bus_creds_get_pid(c, &s->pid);
        if (r < 0)
                return r;

        /* hidden under ProtectProc=invisible: 0 lets polkitd look it up; the uid, from
         * the socket, is what polkit judges by either way */
        if (process_start_time(s->pid, &s->start_time) < 0)
                s->start_time = 0;

        snprintf(caller, size, "pid:%d:%llu:%u", (int) s->pid, (unsigned long long) s->start_time,
                 (unsigned) s->uid);
        return 0;
}

int access_check(Access *a, sd_bus_message *msg, const char *action, const AccessDetails *d,
                 sd_bus_message_handler_t handler, void *userdata, sd_bus_error *error) {
        _cleanup_(freep) char *key = NULL;
        bool asked_interactive = false, interactive;
        Verdict v = VERDICT_NONE;
        PolkitSubject s = {};
        char caller[64];
        const char *name;
        PolkitQuery *q;
        int r;

        assert(a);
        assert(msg);
        assert(handler);

        /* run again: the answer it waited for */
        if (a->redispatch.msg == msg) {
                v = a->redispatch.verdict;
                asked_interactive = a->redispatch.interactive;
        }

        if (a->peer || sd_bus_message_get_bus(msg) != a->bus) {
                if (peer_subject(msg, &s, caller, sizeof caller) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: peer unknown");
                name = caller;
        } else {
                UidEntry *e;

                r = bus_caller(a, msg, handler, userdata, error, &name, &e);
                if (r <= 0)
                        return r;
                s.uid = e->uid;
                s.pid = e->pid;
                s.bus_name = name;
        }

        if (s.uid == 0 || s.uid == a->own_uid)
                return 1;
        if (!action)
                return deny(a, s.uid, s.pid, NULL, d, VERDICT_DENY, error);

        interactive = sd_bus_message_get_allow_interactive_authorization(msg) > 0;
        switch (v) {
        case VERDICT_ALLOW:
                return 1;
        case VERDICT_DENY:
        case VERDICT_UNREACHABLE:
                return deny(a, s.uid, s.pid, action, d, v, error);
        case VERDICT_CHALLENGE:
                if (asked_interactive || !interactive)
                        return deny(a, s.uid, s.pid, action, d, v, error);
                break; /* ask again, letting polkit ask the user */
        case VERDICT_NONE:
                break;
        }

        key = polkit_key(name, action, d);
        if (!key)
                return -ENOMEM;
        if (v == VERDICT_NONE && polkit_granted(a->polkit, key, access_now(a)))
                return 1;
        if (a->peer) /* no bus to reach polkit on */
                return deny(a, s.uid, s.pid, action, d, VERDICT_UNREACHABLE, error);

        /* first without interaction: a grant then is one without a challenge, and may be remembered */
        r = polkit_query(a->polkit, key, &s, action, d, v == VERDICT_CHALLENGE, &q);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask polkit: %m");
                return deny(a, s.uid, s.pid, action, d, VERDICT_UNREACHABLE, error);
        }

        return park(a, msg, handler, userdata, NULL, q);
}

int access_learn_caller(Access *a, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                        sd_bus_error *error) {
        const char *name;
        UidEntry *e;

        assert(a);
        assert(msg);
        assert(handler);

        if (a->peer || sd_bus_message_get_bus(msg) != a->bus)
                return 1;
        return bus_caller(a, msg, handler, userdata, error, &name, &e);
}

int access_caller_uid(Access *a, sd_bus_message *msg, uid_t *ret) {
        const char *name = sd_bus_message_get_sender(msg);
        UidEntry *e;

        assert(a);
        assert(ret);
        if (a->peer || sd_bus_message_get_bus(msg) != a->bus || !name || !(e = uid_find(a, name)) ||
            e->uid == (uid_t) -1)
                return -ENODATA;
        *ret = e->uid;
        return 0;
}

bool access_is_privileged(Access *a, uid_t uid) {
        return uid == 0 || uid == a->own_uid;
}

/* ---- following the bus -------------------------------------------------------------------- */

static int on_name_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Access *a = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;

        if (name[0] == ':' && isempty(new_owner)) {
                uid_forget(a, name);
                polkit_forget_caller(a->polkit, name);
        }
        return 0;
}

int access_setup(Access *a) {
        int r;

        assert(a);
        assert(!a->match_name_owner);

        if (a->peer)
                return 0;

        r = sd_bus_match_signal_async(a->bus, &a->match_name_owner, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, a);
        if (r < 0)
                return r;

        return polkit_setup(a->polkit);
}

void access_done(Access *a) {
        assert(a);

        a->match_name_owner = sd_bus_slot_unref(a->match_name_owner);

        while (a->parked) {
                Parked *p = a->parked;

                a->parked = p->next;
                parked_free(p);
        }

        while (a->lookups) {
                Lookup *l = a->lookups;

                a->lookups = l->next;
                lookup_free(l);
        }

        if (a->polkit)
                polkit_done(a->polkit);

        for (size_t k = 0; k < a->n_uids; k++)
                free(a->uids[k].name);
        a->n_uids = 0;
}
