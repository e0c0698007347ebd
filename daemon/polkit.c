/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Asking polkit, as systemd's daemons do, on public sd-bus API (xfsmd(8),
 * ACCESS CONTROL).
 *
 * A question is CheckAuthorization(subject, action, details, flags): the
 * subject is the caller's unique bus name ("system-bus-name") or, for a peer
 * on the worker socket, its process ("unix-process": pid, start time, uid
 * from SO_PEERCRED). Questions go out asynchronously; one already out for
 * the same (caller, action, details, interactive) is shared, and the answer
 * is handed to the Polkit's owner (access.c), which re-dispatches the calls
 * that wait for it.
 *
 * Grants given without a challenge (the question was asked without
 * interaction) are remembered for at most 5 s, keyed by (caller, action,
 * details): polkit answers take 0.35-1.6 ms, far more than a Send. Every
 * grant is dropped when polkit says its rules or actions Changed and when
 * polkitd restarts; a caller's grants when its name goes away. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "polkit.h"

#define GRANT_USEC (5ULL * 1000000ULL)
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* an interactive question waits for a person typing a password */
#define INTERACTIVE_TIMEOUT_USEC (300ULL * 1000000ULL)

typedef struct Grant {
        char *key;
        uint64_t until; /* CLOCK_MONOTONIC usec */
} Grant;

struct PolkitQuery {
        PolkitQuery *next;
        Polkit *polkit;
        char *key;
        bool interactive;
        sd_bus_slot *slot;
};

struct Polkit {
        sd_event *event; /* its clock */
        sd_bus *bus;
        polkit_answer_fn answer;
        void *userdata;

        /* questions out */
        PolkitQuery *queries;

        /* grants remembered */
        Grant *grants;
        size_t n_grants, cap_grants;

        /* polkit's Changed signal, polkitd's owner */
        sd_bus_slot *match_changed, *match_owner;
};

int polkit_new(Polkit **ret, sd_event *event, sd_bus *bus, polkit_answer_fn answer, void *userdata) {
        Polkit *p;

        assert(ret);
        assert(event);
        assert(bus);
        assert(answer);

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;

        p->event = sd_event_ref(event);
        p->bus = sd_bus_ref(bus);
        p->answer = answer;
        p->userdata = userdata;

        *ret = p;
        return 0;
}

Polkit *polkit_free(Polkit *p) {
        if (!p)
                return NULL;

        polkit_done(p);
        free(p->grants);
        sd_bus_unref(p->bus);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}

static uint64_t polkit_now(Polkit *p) {
        uint64_t now = 0;

        (void) sd_event_now(p->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* ---- the grant cache ---------------------------------------------------------------- */

/* Fields joined by \x1f: no caller, action or validated name holds one, and
 * the event, which might, comes last. */
char *polkit_key(const char *caller, const char *action, const AccessDetails *d) {
        const char *f[] = { caller, action, d ? d->component : NULL, d ? d->machine : NULL, d ? d->event : NULL };
        size_t n = 0;
        char *key, *p;

        assert(caller);
        assert(action);

        for (size_t k = 0; k < ELEMENTSOF(f); k++)
                n += (f[k] ? strlen(f[k]) : 0) + 1;

        key = malloc(n);
        if (!key)
                return NULL;

        p = key;
        for (size_t k = 0; k < ELEMENTSOF(f); k++) {
                size_t l = f[k] ? strlen(f[k]) : 0;

                memcpy(p, f[k] ? f[k] : "", l);
                p += l;
                *p++ = k + 1 < ELEMENTSOF(f) ? '\x1f' : '\0';
        }
        return key;
}

static bool key_of_caller(const char *key, const char *caller) {
        size_t n = strlen(caller);

        return strncmp(key, caller, n) == 0 && key[n] == '\x1f';
}

bool polkit_granted(Polkit *p, const char *key, uint64_t now) {
        assert(p);
        assert(key);

        for (size_t k = 0; k < p->n_grants; k++)
                if (streq(p->grants[k].key, key))
                        return now < p->grants[k].until;
        return false;
}

static void grant_drop(Polkit *p, size_t k) {
        free(p->grants[k].key);
        p->grants[k] = p->grants[--p->n_grants];
}

int polkit_remember(Polkit *p, const char *key, uint64_t now) {
        _cleanup_(freep) char *copy = NULL;

        assert(p);
        assert(key);

        for (size_t k = 0; k < p->n_grants;) {
                if (streq(p->grants[k].key, key)) {
                        p->grants[k].until = now + GRANT_USEC;
                        return 0;
                }
                if (p->grants[k].until <= now)
                        grant_drop(p, k); /* expired: make room */
                else
                        k++;
        }

        copy = strdup(key);
        if (!copy)
                return -ENOMEM;

        if (p->n_grants == p->cap_grants) {
                size_t cap = p->cap_grants ? p->cap_grants * 2 : 16;
                Grant *v = realloc(p->grants, cap * sizeof *v);

                if (!v)
                        return -ENOMEM;
                p->grants = v;
                p->cap_grants = cap;
        }

        p->grants[p->n_grants++] = (Grant) { .key = TAKE_PTR(copy), .until = now + GRANT_USEC };
        return 0;
}

void polkit_forget_caller(Polkit *p, const char *caller) {
        assert(p);
        assert(caller);

        for (size_t k = 0; k < p->n_grants;)
                if (key_of_caller(p->grants[k].key, caller))
                        grant_drop(p, k);
                else
                        k++;
}

void polkit_forget_all(Polkit *p) {
        assert(p);

        if (p->n_grants > 0)
                log_debug("Forgetting %zu polkit grant(s)", p->n_grants);
        while (p->n_grants > 0)
                grant_drop(p, p->n_grants - 1);
}

size_t polkit_n_grants(Polkit *p) {
        assert(p);

        return p->n_grants;
}

/* ---- questions ------------------------------------------------------------------------ */

bool polkit_query_interactive(const PolkitQuery *q) {
        assert(q);

        return q->interactive;
}

static PolkitQuery *query_free(PolkitQuery *q) {
        if (!q)
                return NULL;

        sd_bus_slot_unref(q->slot);
        free(q->key);
        free(q);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PolkitQuery *, query_free);

static void query_unlink(Polkit *p, PolkitQuery *q) {
        for (PolkitQuery **pp = &p->queries; *pp; pp = &(*pp)->next)
                if (*pp == q) {
                        *pp = q->next;
                        return;
                }
}

static Verdict read_verdict(sd_bus_message *reply, bool *ret_remember) {
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                log_warning("polkit could not be asked (%s), denying",
                            e && e->message ? e->message : e ? e->name : "?");
                return VERDICT_UNREACHABLE;
        }

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_warning_errno(r, "polkit gave an answer that cannot be read (%m), denying");
                return VERDICT_UNREACHABLE;
        }

        if (authorized) {
                *ret_remember = true;
                return VERDICT_ALLOW;
        }
        return challenge ? VERDICT_CHALLENGE : VERDICT_DENY;
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(query_freep) PolkitQuery *q = userdata;
        Polkit *p = q->polkit;
        bool remember = false;
        Verdict v;

        v = read_verdict(reply, &remember);
        /* a grant given without interaction is one without a challenge */
        if (remember && !q->interactive)
                (void) polkit_remember(p, q->key, polkit_now(p));

        query_unlink(p, q);
        p->answer(q, v, p->userdata);
        return 0;
}

static int append_subject(sd_bus_message *c, const PolkitSubject *s) {
        if (s->bus_name)
                return sd_bus_message_append(c, "(sa{sv})", "system-bus-name", 1, "name", "s", s->bus_name);
        return sd_bus_message_append(c, "(sa{sv})", "unix-process", 3, "pid", "u", (uint32_t) s->pid, "start-time",
                                     "t", s->start_time, "uid", "i", (int32_t) s->uid);
}

static int append_details(sd_bus_message *c, const AccessDetails *d) {
        const char *kv[] = { "component", d ? d->component : NULL, "machine", d ? d->machine : NULL, "event",
                             d ? d->event : NULL };
        int r;

        r = sd_bus_message_open_container(c, 'a', "{ss}");
        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(kv); k += 2)
                if (kv[k + 1])
                        r = sd_bus_message_append(c, "{ss}", kv[k], kv[k + 1]);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(c);
}

int polkit_query(Polkit *p, const char *key, const PolkitSubject *s, const char *action, const AccessDetails *d,
                 bool interactive, PolkitQuery **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *c = NULL;
        _cleanup_(query_freep) PolkitQuery *q = NULL;
        int r;

        assert(p);
        assert(key);
        assert(s);
        assert(action);
        assert(ret);

        for (PolkitQuery *o = p->queries; o; o = o->next)
                if (o->interactive == interactive && streq(o->key, key)) {
                        *ret = o;
                        return 0;
                }

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->polkit = p;
        q->interactive = interactive;
        q->key = strdup(key);
        if (!q->key)
                return -ENOMEM;

        r = sd_bus_message_new_method_call(p->bus, &c, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
        if (r >= 0)
                r = append_subject(c, s);
        if (r >= 0)
                r = sd_bus_message_append(c, "s", action);
        if (r >= 0)
                r = append_details(c, d);
        /* flags: 1 = AllowUserInteraction */
        if (r >= 0)
                r = sd_bus_message_append(c, "us", (uint32_t) (interactive ? 1 : 0), "");
        if (r >= 0)
                r = sd_bus_call_async(p->bus, &q->slot, c, on_check_authorization, q,
                                      interactive ? INTERACTIVE_TIMEOUT_USEC : 0);
        if (r < 0)
                return r;

        q->next = p->queries;
        p->queries = q;
        *ret = TAKE_PTR(q);
        return 1;
}

/* ---- following polkit ----------------------------------------------------------------- */

static int on_polkit_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Polkit *p = userdata;

        log_debug("polkit's rules or actions changed");
        polkit_forget_all(p);
        return 0;
}

static int on_polkit_owner(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Polkit *p = userdata;

        log_debug("polkitd came or went");
        polkit_forget_all(p);
        return 0;
}

int polkit_setup(Polkit *p) {
        int r;

        assert(p);
        assert(!p->match_changed && !p->match_owner);

        r = sd_bus_match_signal_async(p->bus, &p->match_changed, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                      "Changed", on_polkit_changed, NULL, p);
        if (r < 0)
                return r;

        return sd_bus_add_match_async(p->bus, &p->match_owner,
                                      "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                      "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                      "arg0='" POLKIT_NAME "'",
                                      on_polkit_owner, NULL, p);
}

void polkit_done(Polkit *p) {
        assert(p);

        p->match_changed = sd_bus_slot_unref(p->match_changed);
        p->match_owner = sd_bus_slot_unref(p->match_owner);

        while (p->queries) {
                PolkitQuery *q = p->queries;

                p->queries = q->next;
                query_free(q);
        }

        polkit_forget_all(p);
}

int process_start_time(pid_t pid, uint64_t *ret) {
        char path[64], buf[1024], *p;
        unsigned long long st;
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        /* the command name may hold anything, ')' too: fields follow the last ')' */
        p = strrchr(buf, ')');
        if (!p)
                return -EIO;
        /* after ") ": state is field 3; starttime is field 22 */
        p++;
        for (int field = 3; field <= 22; field++) {
                while (*p == ' ')
                        p++;
                if (field == 22)
                        break;
                p += strcspn(p, " ");
                if (!*p)
                        return -EIO;
        }
        if (sscanf(p, "%llu", &st) != 1)
                return -EIO;
        *ret = st;
        return 0;
}
