/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/xfsm/xfsm.conf: the settings of every xfsmd on the host (xfsmd(8),
 * CONFIGURATION). Options given on the command line win over the file. */

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"

#define XFSM_CONFIG_FILE "/etc/xfsm/xfsm.conf"

typedef struct Config {
        JournalPolicy durability;
        uint64_t idle_timeout_sec; /* 0: never */
        unsigned history_limit;
        unsigned outbox_limit;
        unsigned queue_limit; /* calls whose answers wait for the sync: past it, Busy */
        char **allow_units; /* globs, NULL-terminated (unit actions) */
        /* which were set by the file */
        bool has_durability, has_idle, has_history, has_outbox, has_queue;
} Config;

void config_init(Config *c);
/* Read path; a missing file is not an error when !required. Problems are
 * reported as FILE:LINE: message; an invalid value fails (-EINVAL). */
int config_load(Config *c, const char *path, bool required);
void config_done(Config *c);
