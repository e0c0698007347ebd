/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who may do what (xfsmd(8), ACCESS CONTROL): the caller found, then polkit
 * asked. An Access owns everything of it: the callers' uids, the calls
 * parked while an answer is awaited, polkit's grants and questions
 * (polkit.c), the denials logged. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Access Access;

/* The details polkit rules see (action.lookup("component"), ...); NULLs are left out. */
typedef struct AccessDetails {
        const char *component;
        const char *machine;
        const char *event;
} AccessDetails;

/* Callers are found and polkit asked on bus; peer: bus is a peer-to-peer
 * connection (a socketpair, the worker socket), with no broker to ask about
 * callers and no polkit to ask. Root and the daemon's own user pass. */
int access_new(Access **ret, sd_event *event, sd_bus *bus, bool peer);
/* Calls still parked are dropped unanswered. */
Access *access_free(Access *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Access *, access_free);

/* Follow NameOwnerChanged (a caller's uid and grants go with its name) and
 * polkit's Changed and owner (every grant goes); nothing on a peer
 * connection. access_done() undoes it, and drops the calls parked, what was
 * asked and what is cached. */
int access_setup(Access *a);
void access_done(Access *a);

/* May the caller of msg do action (org.xfsm1.send-event, ...) with these
 * details? 1 yes; 0 parked: handler runs again with msg and userdata once
 * the answer is known, and calls access_check() again, which then answers
 * 1 or <0; <0 refused (AccessDenied or InteractiveAuthorizationRequired in
 * error) or failed. action NULL: the workers' own methods (Deliver), for
 * root and the daemon's user only. */
int access_check(Access *a, sd_bus_message *msg, const char *action, const AccessDetails *d,
                 sd_bus_message_handler_t handler, void *userdata, sd_bus_error *error);

/* Learn the uid of msg's caller, without asking polkit: 1 known (then
 * access_caller_uid() says it; at once on a peer connection); 0 parked:
 * handler runs again with msg and userdata once it is known; <0 failed
 * (AccessDenied in error: the broker would not say). */
int access_learn_caller(Access *a, sd_bus_message *msg, sd_bus_message_handler_t handler, void *userdata,
                        sd_bus_error *error);
/* The uid of msg's caller on the bus, as learned by access_check() (which
 * answered 1 for msg before) or access_learn_caller(): -ENODATA when not
 * known (a peer connection). */
int access_caller_uid(Access *a, sd_bus_message *msg, uid_t *ret);
/* Root and the daemon's own user: what access_check() lets through. */
bool access_is_privileged(Access *a, uid_t uid);

/* Calls parked: the daemon does not idle out meanwhile. */
bool access_busy(Access *a);

/* The denials logged, at most one per (uid, action) per 10 s: a table of the
 * last 64, the oldest replaced when full. Part of an Access; apart here to be
 * tested alone. */
typedef struct DenialLog {
        struct {
                uid_t uid;
                const char *action; /* a static string */
                uint64_t logged;    /* CLOCK_MONOTONIC usec */
        } slots[64];
        size_t n;
} DenialLog;

/* Should a denial of action to uid at now be logged? If so, it is counted as logged. */
bool denial_log_admit(DenialLog *l, uid_t uid, const char *action, uint64_t now);
