/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <stddef.h>

enum {
        EXIT_OK = 0,
        EXIT_REFUSED = 1,
        EXIT_USAGE = 2,
};

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_diagnostic(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                      const char *message);

typedef struct BusArgs {
        const char *address; /* --bus ADDR */
        bool user;           /* --user (default: --system) */
        bool no_ask_password;
} BusArgs;

/* polkit-agent.c: pkttyagent for this terminal (not as root, not without a tty) */
int polkit_agent_open(void);
void polkit_agent_close(void);

int verb_simulate(int argc, char **argv, bool json);
/* bus-verbs.c: the bus a (--bus, --user, --system), with the xfsm errors
 * registered and interactive authorization as a says; says why it failed */
struct sd_bus;
int bus_connect(const BusArgs *a, struct sd_bus **ret);
int verb_bus(const char *verb, int argc, char **argv, bool json, const BusArgs *a);
int verb_enable(int argc, char **argv, bool enable);
int verb_bridge(int argc, char **argv, bool json, const BusArgs *a);
