/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asking polkit (org.freedesktop.PolicyKit1.Authority.CheckAuthorization),
 * asynchronously, and remembering its grants for a few seconds (SPEC
 * section 6). access.c decides who asks and what a call waits for. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Manager Manager;
typedef struct PolkitQuery PolkitQuery;

/* The details polkit rules see (action.lookup("component"), ...); NULLs are left out. */
typedef struct AccessDetails {
        const char *component;
        const char *machine;
        const char *event;
} AccessDetails;

/* Who is asking: a bus name, or a process (a peer on the worker socket). */
typedef struct PolkitSubject {
        const char *bus_name;
        pid_t pid;
        uint64_t start_time; /* of pid, in clock ticks since boot (/proc/PID/stat) */
        uid_t uid;
} PolkitSubject;

typedef enum Verdict {
        VERDICT_NONE,        /* not asked yet */
        VERDICT_ALLOW,
        VERDICT_DENY,
        VERDICT_CHALLENGE,   /* allowed after authentication */
        VERDICT_UNREACHABLE, /* polkit did not answer: denied */
} Verdict;

/* The cache key of (caller, action, details): malloc'd. */
char *polkit_key(const char *caller, const char *action, const AccessDetails *d);

/* A grant remembered for key, still fresh. */
bool polkit_granted(Manager *m, const char *key);
/* Remember a grant (one given without a challenge) for at most 5 s. */
int polkit_remember(Manager *m, const char *key, uint64_t now_usec);
/* Forget the grants of one caller (its bus name went away), or all. */
void polkit_forget_caller(Manager *m, const char *caller);
void polkit_forget_all(Manager *m);

/* Ask polkit about key; an equal question already out is shared. The
 * answer goes to access_query_done(). Takes ownership of nothing. */
int polkit_query(Manager *m, const char *key, const PolkitSubject *s, const char *action, const AccessDetails *d,
                 bool interactive, PolkitQuery **ret);
bool polkit_query_interactive(const PolkitQuery *q);

/* Follow polkit's Changed signal (the rules or actions changed) and its
 * owner (polkitd restarting): both drop every grant. */
int polkit_setup(Manager *m);
void polkit_done(Manager *m);

/* The start time of a process (field 22 of /proc/PID/stat). */
int process_start_time(pid_t pid, uint64_t *ret);

/* access.c: the answer to q, for the calls parked on it; q is freed after. */
void access_query_done(Manager *m, PolkitQuery *q, Verdict v);
