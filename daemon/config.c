/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* /etc/xfsm/xfsm.conf, in the form of systemd's own configuration files:
 *
 *   [Daemon]
 *   Durability=batch          # sync, batch or none
 *   IdleTimeoutSec=300        # 0: never
 *   HistoryLimit=1000         # transitions kept per instance for GetHistory
 *   OutboxLimit=10000         # routed events waiting, then Send answers Busy
 *   [Units]
 *   Allow=backup-*.service    # units `unit` actions may start (globs)
 *
 * Comments start with # or ;. An unknown section or key is a warning, a bad
 * value an error that stops start-up: a daemon never runs on settings other
 * than the ones written. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "macro.h"

void config_init(Config *c) {
        *c = (Config) { .durability = JOURNAL_BATCH, .idle_timeout_sec = 0, .history_limit = 1000,
                        .outbox_limit = 10000 };
}

void config_done(Config *c) {
        for (char **u = c->allow_units; u && *u; u++)
                free(*u);
        free(c->allow_units);
        c->allow_units = NULL;
}

static char *strip(char *s) {
        char *e;
        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long x;
        if (!*v || *v == '-')
                return -EINVAL;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno || *end || x > max)
                return -EINVAL;
        *ret = x;
        return 0;
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

int config_load(Config *c, const char *path, bool required) {
        char line[4096], section[64] = "";
        unsigned lineno = 0;
        int r = 0;
        FILE *f = fopen(path, "re");

        if (!f) {
                if (errno == ENOENT && !required)
                        return 0;
                return log_error_errno(-errno, "Failed to read %s: %m", path);
        }
        while (fgets(line, sizeof line, f)) {
                char *s = strip(line), *eq, *key, *val;
                uint64_t x;

                lineno++;
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        char *close = strchr(s, ']');
                        if (!close || close[1] || close - s - 1 >= (long) sizeof section) {
                                log_error("%s:%u: a section header is [Name]", path, lineno);
                                r = -EINVAL;
                                continue;
                        }
                        *close = 0;
                        snprintf(section, sizeof section, "%s", s + 1);
                        if (!streq(section, "Daemon") && !streq(section, "Units"))
                                log_warning("%s:%u: unknown section [%s], ignored", path, lineno, section);
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq) {
                        log_error("%s:%u: expected Key=Value", path, lineno);
                        r = -EINVAL;
                        continue;
                }
                *eq = 0;
                key = strip(s);
                val = strip(eq + 1);
                if (streq(section, "Daemon") && streq(key, "Durability")) {
                        if (journal_policy_from_string(val, &c->durability) < 0) {
                                log_error("%s:%u: Durability= must be sync, batch or none, not '%s'", path, lineno,
                                          val);
                                r = -EINVAL;
                        } else
                                c->has_durability = true;
                } else if (streq(section, "Daemon") && streq(key, "IdleTimeoutSec")) {
                        if (parse_uint(val, 86400ULL * 365, &x) < 0) {
                                log_error("%s:%u: IdleTimeoutSec= needs seconds (0: never), not '%s'", path, lineno,
                                          val);
                                r = -EINVAL;
                        } else {
                                c->idle_timeout_sec = x;
                                c->has_idle = true;
                        }
                } else if (streq(section, "Daemon") && streq(key, "HistoryLimit")) {
                        if (parse_uint(val, 1000000, &x) < 0) {
                                log_error("%s:%u: HistoryLimit= needs a number up to 1000000, not '%s'", path,
                                          lineno, val);
                                r = -EINVAL;
                        } else {
                                c->history_limit = (unsigned) x;
                                c->has_history = true;
                        }
                } else if (streq(section, "Daemon") && streq(key, "OutboxLimit")) {
                        if (parse_uint(val, 10000000, &x) < 0 || x == 0) {
                                log_error("%s:%u: OutboxLimit= needs a number from 1 to 10000000, not '%s'", path,
                                          lineno, val);
                                r = -EINVAL;
                        } else {
                                c->outbox_limit = (unsigned) x;
                                c->has_outbox = true;
                        }
                } else if (streq(section, "Units") && streq(key, "Allow")) {
                        if (add_units(c, val) < 0) {
                                fclose(f);
                                return log_error_errno(-ENOMEM, "Out of memory");
                        }
                } else
                        log_warning("%s:%u: unknown key %s= in [%s], ignored", path, lineno, key, section);
        }
        fclose(f);
        return r;
}
