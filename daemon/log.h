/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging of the daemon: to the journal with structured fields when
 * JOURNAL_STREAM is set (we run under systemd), to stderr otherwise. */

#include <errno.h>
#include <stdbool.h>
#include <syslog.h>

void log_setup(void);
/* The program's name in messages ("xfsmd" unless set) and, for the bridge,
 * the node every journal entry names (XFSM_NODE=). */
void log_set_identifier(const char *name);
void log_set_node(const char *node);
void log_set_level(int level);
int log_get_level(void);
bool log_to_journal(void);

int log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
/* returns r (negative errno), "%m" in fmt reads it */
#define log_error_errno(r, ...) log_internal(LOG_ERR, r, __VA_ARGS__)
#define log_warning_errno(r, ...) log_internal(LOG_WARNING, r, __VA_ARGS__)
#define log_oom() log_internal(LOG_ERR, -ENOMEM, "Out of memory.")

/* MESSAGE_ID of transitions (journalctl MESSAGE_ID=...) */
#define XFSM_MESSAGE_TRANSITION "6f0e3a2b8c4d4e1f9a7b5c3d2e1f0a9b"
#define XFSM_MESSAGE_DENIED "a1b2c3d4e5f64718293a4b5c6d7e8f90"
#define XFSM_MESSAGE_REMOTE_CALL "3c9d7e1f2a6b4c8d9e0f1a2b3c4d5e6f"

/* A denied call (MESSAGE_ID XFSM_MESSAGE_DENIED), with XFSM_ACTION=, XFSM_UID=,
 * XFSM_PID=, XFSM_COMPONENT=, XFSM_MACHINE=, XFSM_EVENT=. */
void log_denied(unsigned uid, unsigned pid, const char *action, const char *component, const char *machine,
                const char *event, const char *why);

/* A call from another node run here (MESSAGE_ID XFSM_MESSAGE_REMOTE_CALL),
 * with XFSM_COMPONENT=, XFSM_ORIGIN_NODE=, XFSM_ORIGIN_UID=, XFSM_CALL=. */
void log_call_origin(const char *component, const char *method, const char *origin_node, unsigned origin_uid,
                     const char *call_id);

/* A transition, with XFSM_COMPONENT=, XFSM_INSTANCE=, XFSM_EVENT=. */
void log_transition(const char *component, const char *machine, const char *id, const char *event,
                    const char *from, const char *to);
