/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "macro.h"

static int max_level = LOG_INFO;
static bool journal;
static const char *identifier = "xfsmd";
static char node_field[128] = "XFSM_NODE="; /* "XFSM_NODE=" alone: none */

void log_set_identifier(const char *name) {
        identifier = name;
}

void log_set_node(const char *node) {
        snprintf(node_field, sizeof node_field, "XFSM_NODE=%s", node ?: "");
}

void log_setup(void) {
        const char *e = getenv("SYSTEMD_LOG_LEVEL");
        journal = getenv("JOURNAL_STREAM") != NULL;
        if (e) {
                static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
                for (int i = 0; i < 8; i++)
                        if (strcmp(e, names[i]) == 0)
                                max_level = i;
        }
}

void log_set_level(int level) {
        max_level = level;
}

int log_get_level(void) {
        return max_level;
}

bool log_to_journal(void) {
        return journal;
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        if (level > max_level)
                return error;
        if (error != 0)
                errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (journal)
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=%s", identifier,
                                node_field[strlen("XFSM_NODE=")] ? node_field : NULL, NULL);
        else
                fprintf(stderr, "%s: %s\n", identifier, buf);
        return error;
}

void log_transition(const char *component, const char *machine, const char *id, const char *event,
                    const char *from, const char *to) {
        if (journal) {
                if (max_level < LOG_INFO)
                        return;
                sd_journal_send("MESSAGE=%s %s: %s -> %s%s%s", machine, id, from, to,
                                isempty(event) ? " (eventless)" : " on ", strempty(event),
                                "MESSAGE_ID=" XFSM_MESSAGE_TRANSITION, "PRIORITY=%i", LOG_INFO,
                                "SYSLOG_IDENTIFIER=%s", identifier, "XFSM_COMPONENT=%s", component, "XFSM_MACHINE=%s", machine,
                                "XFSM_INSTANCE=%s", id, "XFSM_EVENT=%s", event, "XFSM_FROM=%s", from, "XFSM_TO=%s", to,
                                NULL);
        } else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "%s: %s %s %s: %s -> %s%s%s\n", identifier, component, machine, id, from, to,
                        isempty(event) ? " (eventless)" : " on ", strempty(event));
}

void log_call_origin(const char *component, const char *method, const char *origin_node, unsigned origin_uid,
                     const char *call_id) {
        if (max_level < LOG_INFO)
                return;
        if (journal)
                sd_journal_send("MESSAGE=%s.%s called from node %s by uid %u (call %s)", component, method, origin_node,
                                origin_uid, call_id, "MESSAGE_ID=" XFSM_MESSAGE_REMOTE_CALL, "PRIORITY=%i", LOG_INFO,
                                "SYSLOG_IDENTIFIER=%s", identifier, "XFSM_COMPONENT=%s", component,
                                "XFSM_ORIGIN_NODE=%s", origin_node, "XFSM_ORIGIN_UID=%u", origin_uid,
                                "XFSM_CALL=%s", call_id, node_field[strlen("XFSM_NODE=")] ? node_field : NULL,
                                NULL);
        else
                fprintf(stderr, "%s: %s.%s called from node %s by uid %u (call %s)\n", identifier, component, method,
                        origin_node, origin_uid, call_id);
}

void log_denied(unsigned uid, unsigned pid, const char *action, const char *component, const char *machine,
                const char *event, const char *why) {
        const char *c = component ? component : "", *mc = machine ? machine : "", *e = event ? event : "";

        if (max_level < LOG_NOTICE)
                return;
        if (journal)
                sd_journal_send("MESSAGE=Denied %s to uid %u (pid %u): component=%s machine=%s event=%s: %s", action,
                                uid, pid, c, mc, e, why, "MESSAGE_ID=" XFSM_MESSAGE_DENIED, "PRIORITY=%i",
                                LOG_NOTICE, "SYSLOG_IDENTIFIER=%s", identifier, "XFSM_ACTION=%s", action, "XFSM_UID=%u", uid,
                                "XFSM_PID=%u", pid, "XFSM_COMPONENT=%s", c, "XFSM_MACHINE=%s", mc, "XFSM_EVENT=%s", e,
                                NULL);
        else
                fprintf(stderr, "%s: Denied %s to uid %u (pid %u): component=%s machine=%s event=%s: %s\n", identifier, action,
                        uid, pid, c, mc, e, why);
}
