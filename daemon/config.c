/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* /etc/xfsm/xfsm.conf, in the form of systemd's own configuration files:
 *
 *   [Daemon]
 *   Durability=batch          # sync, batch or none
 *   IdleTimeoutSec=300        # 0: never
 *   HistoryLimit=1000         # transitions kept per instance for GetHistory
 *   OutboxLimit=10000         # routed events waiting, then Send answers Busy
 *   QueueLimit=10000          # calls waiting for their records to be durable, then Busy
 *   [Units]
 *   Allow=backup-*.service    # units `unit` actions may start (globs)
 *
 * Comments start with # or ;. An unknown section or key is a warning, a bad
 * value an error that stops start-up: a daemon never runs on settings other
 * than the ones written. The syntax is read by conf-parser.c; this file owns
 * the keys and what they mean. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parser.h"
#include "config.h"
#include "log.h"
#include "macro.h"

void config_init(Config *c) {
        assert(c);

        *c = (Config) { .durability = JOURNAL_BATCH, .idle_timeout_sec = 0, .history_limit = 1000,
                        .outbox_limit = 10000, .queue_limit = 10000 };
}

void config_done(Config *c) {
        assert(c);

        for (char **u = c->allow_units; u && *u; u++)
                free(*u);
        c->allow_units = mfree(c->allow_units);
}

static int add_units(Config *c, char *v) {
        size_t n = 0;

        for (char **u = c->allow_units; u && *u; u++)
                n++;

        for (char *tok = strtok(v, " \t"); tok; tok = strtok(NULL, " \t")) {
                char **nv = realloc(c->allow_units, (n + 2) * sizeof *nv);

                if (!nv)
                        return -ENOMEM;
                c->allow_units = nv;
                if (!(nv[n] = strdup(tok)))
                        return -ENOMEM;
                nv[++n] = NULL;
        }
        return 0;
}

static int config_setting(const char *path, unsigned lineno, const char *section, const char *key, char *val,
                          void *userdata) {
        Config *c = userdata;
        uint64_t x;

        if (streq(section, "Daemon") && streq(key, "Durability")) {
                if (journal_policy_from_string(val, &c->durability) < 0) {
                        log_error("%s:%u: Durability= must be sync, batch or none, not '%s'", path, lineno, val);
                        return -EINVAL;
                }
                c->has_durability = true;
        } else if (streq(section, "Daemon") && streq(key, "IdleTimeoutSec")) {
                if (conf_parse_uint(val, 86400ULL * 365, &x) < 0) {
                        log_error("%s:%u: IdleTimeoutSec= needs seconds (0: never), not '%s'", path, lineno, val);
                        return -EINVAL;
                }
                c->idle_timeout_sec = x;
                c->has_idle = true;
        } else if (streq(section, "Daemon") && streq(key, "HistoryLimit")) {
                if (conf_parse_uint(val, 1000000, &x) < 0) {
                        log_error("%s:%u: HistoryLimit= needs a number up to 1000000, not '%s'", path, lineno, val);
                        return -EINVAL;
                }
                c->history_limit = (unsigned) x;
                c->has_history = true;
        } else if (streq(section, "Daemon") && streq(key, "OutboxLimit")) {
                if (conf_parse_uint(val, 10000000, &x) < 0 || x == 0) {
                        log_error("%s:%u: OutboxLimit= needs a number from 1 to 10000000, not '%s'", path, lineno,
                                  val);
                        return -EINVAL;
                }
                c->outbox_limit = (unsigned) x;
                c->has_outbox = true;
        } else if (streq(section, "Daemon") && streq(key, "QueueLimit")) {
                if (conf_parse_uint(val, 10000000, &x) < 0 || x == 0) {
                        log_error("%s:%u: QueueLimit= needs a number from 1 to 10000000, not '%s'", path, lineno,
                                  val);
                        return -EINVAL;
                }
                c->queue_limit = (unsigned) x;
                c->has_queue = true;
        } else if (streq(section, "Units") && streq(key, "Allow")) {
                if (add_units(c, val) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
        } else
                return -ENOENT;

        return 0;
}

int config_load(Config *c, const char *path, bool required) {
        static const char *const sections[] = { "Daemon", "Units", NULL };

        assert(c);
        assert(path);

        return conf_parse(path, required, sections, config_setting, c);
}
