/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.xfsm1.Manager at /org/xfsm1, served by xfsmd --manager (xfsmd.service):
 * the components installed in the components directories, whether each one
 * runs (its org.xfsm1.<Name> has an owner), and starting or stopping a
 * component's worker through systemd (xfsm@STEM.service).
 *
 * Nothing here blocks: the bus's name list and systemd's StartUnit/StopUnit
 * are asked asynchronously and the caller is answered from the reply. */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager.h"

typedef struct Installed {
        char *stem, *name, *hash;
} Installed;

typedef struct {
        Installed *v;
        size_t n, cap;
} InstalledList;

static const char *component_dirs(void) {
        const char *env = getenv("XFSM_COMPONENT_PATH");
        return env && *env ? env : "/etc/xfsm/components:/usr/share/xfsm/components";
}

static bool stem_valid(const char *stem) {
        size_t n = strlen(stem);

        if (n == 0 || n > 64 || stem[0] == '.')
                return false;
        return strspn(stem, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static void installed_free(InstalledList *l) {
        for (size_t k = 0; k < l->n; k++) {
                free(l->v[k].stem);
                free(l->v[k].name);
                free(l->v[k].hash);
        }
        free(l->v);
        *l = (InstalledList) {};
}

static bool installed_has(const InstalledList *l, const char *stem) {
        for (size_t k = 0; k < l->n; k++)
                if (streq(l->v[k].stem, stem))
                        return true;
        return false;
}

static int installed_add(InstalledList *l, const char *stem, const char *path) {
        xfsm_engine *e = xfsm_engine_new();
        Installed *it;
        int r;

        if (!e)
                return -ENOMEM;
        r = xfsm_engine_load_file(e, path, NULL, NULL);
        if (r < 0 || xfsm_engine_n_components(e) == 0) {
                /* a broken file is not a component; say so once per listing */
                log_warning("%s does not load (xfsmctl validate %s), not listed", path, path);
                xfsm_engine_free(e);
                return 0;
        }
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                Installed *v = realloc(l->v, cap * sizeof *v);
                if (!v) {
                        xfsm_engine_free(e);
                        return -ENOMEM;
                }
                l->v = v;
                l->cap = cap;
        }
        it = &l->v[l->n];
        it->stem = strdup(stem);
        it->name = strdup(xfsm_engine_component_name(e, 0));
        it->hash = strdup(xfsm_component_hash(e, it->name ? it->name : ""));
        xfsm_engine_free(e);
        if (!it->stem || !it->name || !it->hash) {
                free(it->stem);
                free(it->name);
                free(it->hash);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

/* Every STEM.yaml of the components directories; the first directory with a
 * stem wins, as for xfsmd --component. */
static int installed_scan(InstalledList *l) {
        const char *dirs = component_dirs();
        char dir[PATH_MAX], path[PATH_MAX + 256];
        int r;

        for (const char *p = dirs; *p;) {
                size_t n = strcspn(p, ":");
                if (n > 0 && n < sizeof dir) {
                        DIR *d;
                        struct dirent *de;

                        memcpy(dir, p, n);
                        dir[n] = 0;
                        d = opendir(dir);
                        while (d && (de = readdir(d))) {
                                size_t len = strlen(de->d_name);
                                char stem[256];

                                if (len <= 5 || !streq(de->d_name + len - 5, ".yaml") || len - 5 >= sizeof stem)
                                        continue;
                                memcpy(stem, de->d_name, len - 5);
                                stem[len - 5] = 0;
                                if (!stem_valid(stem) || installed_has(l, stem))
                                        continue;
                                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                                r = installed_add(l, stem, path);
                                if (r < 0) {
                                        closedir(d);
                                        return r;
                                }
                        }
                        if (d)
                                closedir(d);
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return 0;
}

static int count_one(void *userdata, xfsm_instance *i) {
        (void) i;
        (*(uint32_t *) userdata)++;
        return 0;
}

/* ---- ListComponents ------------------------------------------------------------ */

typedef struct {
        Manager *m;
        sd_bus_message *call;
} Pending;

static Pending *pending_new(Manager *m, sd_bus_message *call) {
        Pending *p = calloc(1, sizeof *p);
        if (p) {
                p->m = m;
                p->call = sd_bus_message_ref(call);
        }
        return p;
}

static Pending *pending_free(Pending *p) {
        sd_bus_message_unref(p->call);
        free(p);
        return NULL;
}

static bool strv_contains(char **v, const char *s) {
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

static int list_reply(Manager *m, sd_bus_message *call, char **owned) {
        InstalledList l = {};
        sd_bus_message *reply = NULL;
        int r;

        r = installed_scan(&l);
        if (r >= 0)
                r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssssbu)");
        for (size_t k = 0; r >= 0 && k < l.n; k++) {
                char bus_name[300];
                Host *h = manager_find_host(m, l.v[k].name);
                uint32_t n = 0;
                bool running = h != NULL;

                snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", l.v[k].name);
                if (h)
                        (void) xfsm_engine_foreach(m->engine, h->name, NULL, NULL, count_one, &n);
                else
                        running = strv_contains(owned, bus_name);
                r = sd_bus_message_append(reply, "(ssssbu)", l.v[k].name, l.v[k].stem, l.v[k].hash, bus_name,
                                          running, n);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(call, -r, "Failed to list the components: %m");
        sd_bus_message_unref(reply);
        installed_free(&l);
        return 0;
}

static int on_list_names(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        char **names = NULL;
        (void) ret_error;

        /* without the name list, say what this process knows: its own hosts */
        if (!sd_bus_message_is_method_error(reply, NULL))
                (void) sd_bus_message_read_strv(reply, &names);
        list_reply(p->m, p->call, names);
        for (char **n = names; n && *n; n++)
                free(*n);
        free(names);
        pending_free(p);
        return 0;
}

static int method_list_components(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        Pending *p;
        int r;
        (void) error;

        if (m->peer)
                return list_reply(m, msg, NULL);
        if (!(p = pending_new(m, msg)))
                return -ENOMEM;
        r = sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "ListNames", on_list_names, p, "");
        if (r < 0) {
                pending_free(p);
                return r;
        }
        return 1;
}

/* ---- StartComponent, StopComponent --------------------------------------------- */

static int on_unit_job(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        (void) ret_error;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                log_warning("systemd refused a unit job: %s", e->message ? e->message : e->name);
                (void) sd_bus_reply_method_error(p->call, e);
        } else
                (void) sd_bus_reply_method_return(p->call, NULL);
        pending_free(p);
        return 0;
}

static int unit_job(sd_bus_message *msg, sd_bus_message_handler_t self, void *userdata, const char *verb,
                    sd_bus_error *error) {
        Manager *m = userdata;
        InstalledList l = {};
        const char *stem;
        char unit[128];
        Pending *p;
        int r;

        r = sd_bus_message_read(msg, "s", &stem);
        if (r < 0)
                return r;
        if (!stem_valid(stem))
                return sd_bus_error_setf(error, "org.xfsm1.Error.InvalidArgument",
                                         "'%.64s' is not a component stem", stem);
        r = installed_scan(&l);
        if (r >= 0 && !installed_has(&l, stem))
                r = sd_bus_error_setf(error, "org.xfsm1.Error.NoSuchComponent",
                                      "No component '%s' in %s", stem, component_dirs());
        installed_free(&l);
        if (r < 0)
                return r;
        r = access_check_mutating(m, msg, self, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (m->peer)
                return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                         "Starting workers needs systemd on the system bus");

        snprintf(unit, sizeof unit, "xfsm@%s.service", stem);
        if (!(p = pending_new(m, msg)))
                return -ENOMEM;
        r = sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", verb, on_unit_job, p, "ss", unit,
                                     "replace");
        if (r < 0) {
                pending_free(p);
                return r;
        }
        log_info("%s %s for %s", verb, unit, sd_bus_message_get_sender(msg) ?: "a peer");
        return 1;
}

static int method_start_component(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return unit_job(msg, method_start_component, userdata, "StartUnit", error);
}

static int method_stop_component(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return unit_job(msg, method_stop_component, userdata, "StopUnit", error);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListComponents", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssssbu)", components), method_list_components,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartComponent", SD_BUS_ARGS("s", stem), SD_BUS_NO_RESULT,
                                method_start_component, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopComponent", SD_BUS_ARGS("s", stem), SD_BUS_NO_RESULT,
                                method_stop_component, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int manager_api_register(Manager *m, sd_bus *bus) {
        int r = sd_bus_add_object_vtable(bus, NULL, "/org/xfsm1", "org.xfsm1.Manager", manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register org.xfsm1.Manager: %m");
        return 0;
}
