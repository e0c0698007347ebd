/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Asking polkit, as systemd's daemons do, on public sd-bus API.
 *
 * A question is CheckAuthorization(subject, action, details, flags): the
 * subject is the caller's unique bus name ("system-bus-name") or, for a peer
 * on the worker socket, its process ("unix-process": pid, start time, uid
 * from SO_PEERCRED). Questions go out asynchronously; one already out for
 * the same (caller, action, details, interactive) is shared, and the answer
 * is handed to access.c, which re-dispatches the calls that wait for it.
 *
 * Grants given without a challenge (the question was asked without
 * interaction) are remembered for at most 5 s, keyed by (caller, action,
 * details): polkit answers take 0.35-1.6 ms, far more than a Send. Every
 * grant is dropped when polkit says its rules or actions Changed and when
 * polkitd restarts; a caller's grants when its name goes away. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"

#define GRANT_USEC (5ULL * 1000000ULL)
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* an interactive question waits for a person typing a password */
#define INTERACTIVE_TIMEOUT_USEC (300ULL * 1000000ULL)

struct Grant {
        char *key;
        uint64_t until; /* CLOCK_MONOTONIC usec */
};

struct PolkitQuery {
        PolkitQuery *next;
        Manager *manager;
        char *key;
        bool interactive;
        sd_bus_slot *slot;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

/* Fields joined by \x1f: no caller, action or validated name holds one, and
 * the event, which might, comes last. */
char *polkit_key(const char *caller, const char *action, const AccessDetails *d) {
        const char *f[] = { caller, action, d ? d->component : NULL, d ? d->machine : NULL, d ? d->event : NULL };
        size_t n = 0;
        char *key, *p;

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

bool polkit_granted(Manager *m, const char *key) {
        uint64_t now = 0;

        for (size_t k = 0; k < m->n_grants; k++) {
                if (!streq(m->grants[k].key, key))
                        continue;
                if (!now)
                        now = now_usec();
                return now < m->grants[k].until;
        }
        return false;
}

static void grant_drop(Manager *m, size_t k) {
        free(m->grants[k].key);
        m->grants[k] = m->grants[--m->n_grants];
}

int polkit_remember(Manager *m, const char *key, uint64_t now) {
        char *copy;

        for (size_t k = 0; k < m->n_grants;) {
                if (streq(m->grants[k].key, key)) {
                        m->grants[k].until = now + GRANT_USEC;
                        return 0;
                }
                if (m->grants[k].until <= now)
                        grant_drop(m, k); /* expired: make room */
                else
                        k++;
        }
        if (m->n_grants == m->cap_grants) {
                size_t cap = m->cap_grants ? m->cap_grants * 2 : 16;
                struct Grant *v = realloc(m->grants, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                m->grants = v;
                m->cap_grants = cap;
        }
        copy = strdup(key);
        if (!copy)
                return -ENOMEM;
        m->grants[m->n_grants++] = (struct Grant) { .key = copy, .until = now + GRANT_USEC };
        return 0;
}

void polkit_forget_caller(Manager *m, const char *caller) {
        for (size_t k = 0; k < m->n_grants;)
                if (key_of_caller(m->grants[k].key, caller))
                        grant_drop(m, k);
                else
                        k++;
}

void polkit_forget_all(Manager *m) {
        if (m->n_grants > 0)
                log_debug("Forgetting %zu polkit grant(s)", m->n_grants);
        while (m->n_grants > 0)
                grant_drop(m, m->n_grants - 1);
}

bool polkit_query_interactive(const PolkitQuery *q) {
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

static void query_unlink(Manager *m, PolkitQuery *q) {
        for (PolkitQuery **pp = &m->queries; *pp; pp = &(*pp)->next)
                if (*pp == q) {
                        *pp = q->next;
                        return;
                }
}

static int on_check_authorization(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        Manager *m = q->manager;
        Verdict v;
        int authorized = 0, challenge = 0, r;
        (void) ret_error;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                log_warning("polkit could not be asked (%s), denying", e && e->message ? e->message : e ? e->name : "?");
                v = VERDICT_UNREACHABLE;
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        log_warning_errno(r, "polkit gave an answer that cannot be read (%m), denying");
                        v = VERDICT_UNREACHABLE;
                } else if (authorized) {
                        v = VERDICT_ALLOW;
                        if (!q->interactive)
                                (void) polkit_remember(m, q->key, now_usec());
                } else
                        v = challenge ? VERDICT_CHALLENGE : VERDICT_DENY;
        }
        query_unlink(m, q);
        access_query_done(m, q, v);
        query_free(q);
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
        int r = sd_bus_message_open_container(c, 'a', "{ss}");

        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(kv); k += 2)
                if (kv[k + 1])
                        r = sd_bus_message_append(c, "{ss}", kv[k], kv[k + 1]);
        return r < 0 ? r : sd_bus_message_close_container(c);
}

int polkit_query(Manager *m, const char *key, const PolkitSubject *s, const char *action, const AccessDetails *d,
                 bool interactive, PolkitQuery **ret) {
        sd_bus_message *c = NULL;
        PolkitQuery *q;
        int r;

        for (q = m->queries; q; q = q->next)
                if (q->interactive == interactive && streq(q->key, key)) {
                        *ret = q;
                        return 0;
                }

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->manager = m;
        q->interactive = interactive;
        q->key = strdup(key);
        if (!q->key) {
                free(q);
                return -ENOMEM;
        }
        r = sd_bus_message_new_method_call(m->bus, &c, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
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
                r = sd_bus_call_async(m->bus, &q->slot, c, on_check_authorization, q,
                                      interactive ? INTERACTIVE_TIMEOUT_USEC : 0);
        sd_bus_message_unref(c);
        if (r < 0) {
                query_free(q);
                return r;
        }
        q->next = m->queries;
        m->queries = q;
        *ret = q;
        return 1;
}

static int on_polkit_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        (void) msg, (void) ret_error;
        log_debug("polkit's rules or actions changed");
        polkit_forget_all(m);
        return 0;
}

static int on_polkit_owner(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        (void) msg, (void) ret_error;
        log_debug("polkitd came or went");
        polkit_forget_all(m);
        return 0;
}

int polkit_setup(Manager *m) {
        int r;

        if (m->peer)
                return 0;
        r = sd_bus_match_signal_async(m->bus, NULL, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE, "Changed",
                                      on_polkit_changed, NULL, m);
        if (r < 0)
                return r;
        return sd_bus_add_match_async(m->bus, NULL,
                                      "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                      "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                      "arg0='" POLKIT_NAME "'",
                                      on_polkit_owner, NULL, m);
}

void polkit_done(Manager *m) {
        while (m->queries) {
                PolkitQuery *q = m->queries;
                m->queries = q->next;
                query_free(q);
        }
        polkit_forget_all(m);
        free(m->grants);
        m->grants = NULL;
        m->cap_grants = 0;
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
