/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The components directories and the files in them (component-files.h). */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component-files.h"
#include "macro.h"
#include "xfsm.h"

const char *component_dirs(void) {
        const char *env = getenv("XFSM_COMPONENT_PATH");
        return env && *env ? env : "/etc/xfsm/components:/usr/share/xfsm/components";
}

int component_file_find(const char *name, const char *skip, char **ret_path) {
        const char *dirs = component_dirs();

        for (const char *p = dirs; *p;) {
                size_t n = strcspn(p, ":");
                char dir[PATH_MAX];
                DIR *d;
                struct dirent *de;

                snprintf(dir, sizeof dir, "%.*s", (int) n, p);
                p += n + (p[n] == ':');
                if (n == 0 || !(d = opendir(dir)))
                        continue;
                while ((de = readdir(d))) {
                        char other[PATH_MAX * 2];
                        size_t l = strlen(de->d_name);
                        xfsm_engine *e;
                        if (l < 6 || !streq(de->d_name + l - 5, ".yaml"))
                                continue;
                        snprintf(other, sizeof other, "%s/%s", dir, de->d_name);
                        if (skip && streq(other, skip))
                                continue;
                        e = xfsm_engine_new();
                        if (e && xfsm_engine_load_file(e, other, NULL, NULL) >= 0 &&
                            streq(xfsm_engine_component_name(e, 0), name)) {
                                xfsm_engine_free(e);
                                closedir(d);
                                *ret_path = strdup(other);
                                return *ret_path ? 1 : -ENOMEM;
                        }
                        xfsm_engine_free(e);
                }
                closedir(d);
        }
        return 0;
}
