/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Asking polkit (org.freedesktop.PolicyKit1.Authority.CheckAuthorization),
 * asynchronously, and remembering its grants for a few seconds (xfsmd(8),
 * ACCESS CONTROL). A Polkit belongs to the Access that created it; access.c
 * decides who asks and what a call waits for. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "access.h"
#include "macro.h"

typedef struct Polkit Polkit;
typedef struct PolkitQuery PolkitQuery;

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

/* polkit's answer to q, for the calls that wait for it; q is freed after. */
typedef void (*polkit_answer_fn)(PolkitQuery *q, Verdict v, void *userdata);

/* Questions go out on bus, grants age on the clock of event (CLOCK_MONOTONIC);
 * answers go to answer(). */
int polkit_new(Polkit **ret, sd_event *event, sd_bus *bus, polkit_answer_fn answer, void *userdata);
/* Questions still out are dropped unanswered. */
Polkit *polkit_free(Polkit *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Polkit *, polkit_free);

/* The cache key of (caller, action, details): malloc'd. */
char *polkit_key(const char *caller, const char *action, const AccessDetails *d);

/* A grant remembered for key, still fresh at now (CLOCK_MONOTONIC usec). */
bool polkit_granted(Polkit *p, const char *key, uint64_t now);
/* Remember a grant (one given without a challenge) for at most 5 s after now. */
int polkit_remember(Polkit *p, const char *key, uint64_t now);
/* Forget the grants of one caller (its bus name went away), or all. */
void polkit_forget_caller(Polkit *p, const char *caller);
void polkit_forget_all(Polkit *p);
/* Grants held, fresh or expired and not yet dropped. */
size_t polkit_n_grants(Polkit *p);

/* Ask polkit about key: 1 asked, 0 an equal question already out is shared
 * (ret is it either way), <0 could not ask. Takes ownership of nothing. */
int polkit_query(Polkit *p, const char *key, const PolkitSubject *s, const char *action, const AccessDetails *d,
                 bool interactive, PolkitQuery **ret);
bool polkit_query_interactive(const PolkitQuery *q);

/* Follow polkit's Changed signal (the rules or actions changed) and its
 * owner (polkitd restarting): both drop every grant. polkit_done() stops
 * following, drops the questions out, unanswered, and every grant. */
int polkit_setup(Polkit *p);
void polkit_done(Polkit *p);

/* The start time of a process (field 22 of /proc/PID/stat). */
int process_start_time(pid_t pid, uint64_t *ret);
