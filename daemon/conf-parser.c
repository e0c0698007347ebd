/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The configuration-file reader shared by xfsmd (xfsm.conf) and
 * xfsm-redis-bridge (bridge.conf): the syntax, the line numbers and the
 * messages about lines that are not settings (see conf-parser.h). The
 * meaning of each key stays with the module that owns the setting. */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "conf-parser.h"
#include "log.h"
#include "macro.h"

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

static bool section_known(const char *const *sections, const char *name) {
        for (; sections && *sections; sections++)
                if (streq(*sections, name))
                        return true;
        return false;
}

int conf_parse(const char *path, bool required, const char *const *sections, ConfSettingFn fn, void *userdata) {
        _cleanup_(fclosep) FILE *f = NULL;
        char line[4096], section[64] = "";
        unsigned lineno = 0;
        int r = 0;

        assert(path);
        assert(fn);

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !required)
                        return 0;
                return log_error_errno(-errno, "Failed to read %s: %m", path);
        }

        while (fgets(line, sizeof line, f)) {
                char *s = strip(line), *eq, *key, *val;
                int k;

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
                        if (!section_known(sections, section))
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

                k = fn(path, lineno, section, key, val, userdata);
                if (k == -ENOENT)
                        log_warning("%s:%u: unknown key %s= in [%s], ignored", path, lineno, key, section);
                else if (k == -EINVAL)
                        r = -EINVAL;
                else if (k < 0)
                        return k;
        }
        if (ferror(f))
                return log_error_errno(-EIO, "Failed to read %s: %m", path);

        return r;
}

int conf_parse_uint(const char *v, uint64_t max, uint64_t *ret) {
        unsigned long long x;
        char *end;

        assert(v);
        assert(ret);

        if (!*v || *v == '-')
                return -EINVAL;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno || *end || x > max)
                return -EINVAL;

        *ret = x;
        return 0;
}

int conf_parse_boolean(const char *v) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        assert(v);

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return 1;
                if (strcasecmp(v, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}
