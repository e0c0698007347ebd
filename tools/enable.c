/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl enable|disable STEM: the component's bus activation file
 * (org.xfsm1.<Name>.service, SystemdService=xfsm@STEM.service) and its bus
 * policy file (org.xfsm1.<Name>.conf: everyone may call that name), so that
 * a call to a stopped worker starts it (xfsmctl(1), xfsmd(8)). */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "component-files.h"
#include "macro.h"
#include "xfsm.h"
#include "xfsmctl.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xfsm_engine *, xfsm_engine_free);

static const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);

        return v && *v ? v : fallback;
}

/* STEM.yaml in the components directories, and its YAML name. */
static int find_component(const char *stem, char *ret_path, size_t size, char *ret_name, size_t name_size) {
        const char *dirs = component_dirs();

        for (const char *p = dirs; *p;) {
                size_t n = strcspn(p, ":");

                if (n > 0) {
                        snprintf(ret_path, size, "%.*s/%s.yaml", (int) n, p, stem);
                        if (access(ret_path, F_OK) == 0) {
                                _cleanup_(xfsm_engine_freep) xfsm_engine *e = xfsm_engine_new();
                                int r = e ? xfsm_engine_load_file(e, ret_path, print_diagnostic, NULL) : -ENOMEM;

                                if (r >= 0)
                                        snprintf(ret_name, name_size, "%s", xfsm_engine_component_name(e, 0));
                                return r;
                        }
                }

                p += n;
                if (*p == ':')
                        p++;
        }

        return -ENOENT;
}

static int write_file(const char *path, const char *text) {
        _cleanup_(fclosep) FILE *f = NULL;
        char tmp[PATH_MAX + 8];

        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "we");
        if (!f)
                return -errno;

        fputs(text, f);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
                int r = -errno;

                fclose(TAKE_PTR(f));
                unlink(tmp);
                return r;
        }
        fclose(TAKE_PTR(f));

        return rename(tmp, path) < 0 ? -errno : 0;
}

int verb_enable(int argc, char **argv, bool enable) {
        const char *services = env_or("XFSM_DBUS_SERVICES_DIR", "/usr/share/dbus-1/system-services");
        const char *policies = env_or("XFSM_DBUS_POLICY_DIR", "/etc/dbus-1/system.d");
        char path[PATH_MAX], name[128], service[PATH_MAX + 64], policy[PATH_MAX + 64], text[2048];
        const char *stem;
        int r;

        if (argc != 2)
                return usage_error("%s: expected one STEM (the file name of the component, without .yaml)", argv[0]);

        stem = argv[1];
        if (!*stem || strchr(stem, '/') || stem[0] == '.' || strlen(stem) > 64)
                return usage_error("%s: '%s' is not a component stem", argv[0], stem);
        r = find_component(stem, path, sizeof path, name, sizeof name);
        if (r == -ENOENT) {
                fprintf(stderr, "xfsmctl: no component '%s' in %s\n", stem, component_dirs());
                return EXIT_REFUSED;
        }
        if (r < 0)
                return EXIT_REFUSED;
        if (enable) {
                /* the name is the bus name and the routing address: one file may carry it */
                _cleanup_(freep) char *other = NULL;

                if (component_file_find(name, path, &other) > 0) {
                        fprintf(stderr, "xfsmctl: %s and %s both name component %s: one name, one file\n", path,
                                other, name);
                        return EXIT_REFUSED;
                }
        }

        snprintf(service, sizeof service, "%s/org.xfsm1.%s.service", services, name);
        snprintf(policy, sizeof policy, "%s/org.xfsm1.%s.conf", policies, name);

        if (!enable) {
                int a = unlink(service) < 0 && errno != ENOENT ? -errno : 0;
                int b = unlink(policy) < 0 && errno != ENOENT ? -errno : 0;

                if (a < 0 || b < 0) {
                        fprintf(stderr, "xfsmctl: cannot remove the files of %s: %s\n", name, strerror(-(a ?: b)));
                        return EXIT_REFUSED;
                }
                printf("Removed %s and %s.\n", service, policy);
                return EXIT_OK;
        }

        snprintf(text, sizeof text,
                 "# Written by xfsmctl enable %s: a call to org.xfsm1.%s starts its worker.\n"
                 "[D-BUS Service]\n"
                 "Name=org.xfsm1.%s\n"
                 "Exec=/bin/false\n"
                 "User=root\n"
                 "SystemdService=xfsm@%s.service\n",
                 stem, name, name, stem);
        r = write_file(service, text);
        if (r >= 0) {
                snprintf(text, sizeof text,
                         "<?xml version=\"1.0\"?>\n"
                         "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
                         " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                         "<!-- Written by xfsmctl enable %s: everyone may call org.xfsm1.%s;\n"
                         "     xfsmd asks polkit before anything changes. -->\n"
                         "<busconfig>\n"
                         "  <policy context=\"default\">\n"
                         "    <allow send_destination=\"org.xfsm1.%s\"/>\n"
                         "    <allow receive_sender=\"org.xfsm1.%s\"/>\n"
                         "  </policy>\n"
                         "</busconfig>\n",
                         stem, name, name, name);
                r = write_file(policy, text);
        }
        if (r < 0) {
                fprintf(stderr, "xfsmctl: cannot write the files of %s: %s\n", name, strerror(-r));
                (void) unlink(service);
                return EXIT_REFUSED;
        }
        printf("Created %s and %s (component %s from %s).\n", service, policy, name, path);
        return EXIT_OK;
}
