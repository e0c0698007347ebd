/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.xfsm1.Manager at /org/xfsm1, served by xfsmd --manager (xfsmd.service):
 * the components installed in the components directories, whether each one
 * runs (its org.xfsm1.<Name> has an owner), and starting or stopping a
 * component's worker through systemd (xfsm@STEM.service).
 *
 * Nothing here blocks: the bus's name list and systemd's StartUnit/StopUnit
 * are asked asynchronously and the caller is answered from the reply. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "component-files.h"
#include "bus-errors.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"
#include "reload.h"

typedef struct Installed {
        char *stem, *name, *hash;
} Installed;

typedef struct {
        Installed *v;
        size_t n, cap;
        unsigned n_broken;  /* files that do not load */
        char *first_broken; /* the first of them */
} InstalledList;

DEFINE_TRIVIAL_CLEANUP_FUNC(xfsm_engine *, xfsm_engine_free);

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);

static bool stem_valid(const char *stem) {
        size_t n = strlen(stem);

        if (n == 0 || n > 64 || stem[0] == '.')
                return false;
        return strspn(stem, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Empties l (not allocated itself: usable with _cleanup_ on a list on the stack). */
static void installed_free(InstalledList *l) {
        for (size_t k = 0; k < l->n; k++) {
                free(l->v[k].stem);
                free(l->v[k].name);
                free(l->v[k].hash);
        }
        free(l->v);
        free(l->first_broken);
        *l = (InstalledList) {};
}

static const Installed *installed_find(const InstalledList *l, const char *stem) {
        for (size_t k = 0; k < l->n; k++)
                if (streq(l->v[k].stem, stem))
                        return &l->v[k];
        return NULL;
}

static int installed_add(InstalledList *l, const char *stem, const char *path) {
        _cleanup_(xfsm_engine_freep) xfsm_engine *e = NULL;
        Installed *it;
        int r;

        assert(l);
        assert(stem);
        assert(path);

        e = xfsm_engine_new();
        if (!e)
                return -ENOMEM;

        r = xfsm_engine_load_file(e, path, NULL, NULL);
        if (r < 0 || xfsm_engine_n_components(e) == 0) {
                /* a broken file is not a component; say so once per listing */
                log_warning("%s does not load (xfsmctl validate %s), not listed", path, path);
                if (l->n_broken++ == 0)
                        l->first_broken = strdup(path);
                return 0;
        }
        for (size_t k = 0; k < l->n; k++)
                if (streq(l->v[k].name, xfsm_engine_component_name(e, 0))) {
                        /* one name is one bus name: the file found first is the component */
                        log_error("%s and %s.yaml both name component %s: one name, one file; %s is not listed", path,
                                  l->v[k].stem, l->v[k].name, path);
                        return 0;
                }

        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                Installed *v = realloc(l->v, cap * sizeof *v);

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }

        it = &l->v[l->n];
        it->stem = strdup(stem);
        it->name = strdup(xfsm_engine_component_name(e, 0));
        it->hash = strdup(xfsm_component_hash(e, it->name ? it->name : ""));
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
                        struct dirent **des = NULL;
                        int nde;

                        memcpy(dir, p, n);
                        dir[n] = 0;
                        /* in name order: of two files naming one component, the same one is listed each time */
                        nde = scandir(dir, &des, NULL, alphasort);
                        r = 0;
                        for (int k = 0; k < nde; k++) {
                                const char *file = des[k]->d_name;
                                size_t len = strlen(file);
                                char stem[256];

                                if (r < 0 || len <= 5 || !streq(file + len - 5, ".yaml") || len - 5 >= sizeof stem)
                                        continue;
                                memcpy(stem, file, len - 5);
                                stem[len - 5] = 0;
                                if (!stem_valid(stem) || installed_find(l, stem))
                                        continue;
                                snprintf(path, sizeof path, "%s/%s", dir, file);
                                r = installed_add(l, stem, path);
                        }
                        for (int k = 0; k < nde; k++)
                                free(des[k]);
                        free(des);
                        if (r < 0)
                                return r;
                }

                p += n;
                if (*p == ':')
                        p++;
        }

        return 0;
}

static int count_one(void *userdata, xfsm_instance *i) {
        (*(uint32_t *) userdata)++;
        return 0;
}

/* ---- ListComponents ------------------------------------------------------------ */

typedef struct {
        Manager *m;
        sd_bus_message *call;
        char *refusal; /* Reload: why the answer is an error, once the workers were asked */
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
        if (!p)
                return NULL;

        sd_bus_message_unref(p->call);
        free(p->refusal);
        return mfree(p);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Pending *, pending_free);

static bool strv_contains(char **v, const char *s) {
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

/* One ListComponents in progress: the installed components, which run, and
 * how many instances each holds (asked of the workers, in parallel). */
typedef struct ListJob {
        Manager *m;
        sd_bus_message *call;
        InstalledList l;
        bool *running;
        uint32_t *count;
        unsigned outstanding;
        /* ListComponentsEx: this node's name and the components homed on
         * other nodes, as the Redis bridge knows them (none without it) */
        bool ex;
        char *node;
        char **remote_name, **remote_node;
        bool *remote_alive;
        size_t n_remote;
} ListJob;

typedef struct CountReq {
        ListJob *job;
        size_t index;
} CountReq;

static ListJob *list_job_free(ListJob *job) {
        if (!job)
                return NULL;

        sd_bus_message_unref(job->call);
        installed_free(&job->l);
        free(job->running);
        free(job->count);
        free(job->node);
        for (size_t k = 0; k < job->n_remote; k++) {
                free(job->remote_name[k]);
                free(job->remote_node[k]);
        }
        free(job->remote_name);
        free(job->remote_node);
        free(job->remote_alive);
        return mfree(job);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ListJob *, list_job_free);

/* Answers the call; frees job. */
static void list_job_finish(ListJob *job_in) {
        _cleanup_(list_job_freep) ListJob *job = job_in;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        char host[256] = "";
        const char *node = job->node;

        if (!node) {
                (void) gethostname(host, sizeof host - 1);
                node = host;
        }
        r = sd_bus_message_new_method_return(job->call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', job->ex ? "(ssssbus)" : "(ssssbu)");
        for (size_t k = 0; r >= 0 && k < job->l.n; k++) {
                char bus_name[300];

                snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", job->l.v[k].name);
                if (job->ex)
                        r = sd_bus_message_append(reply, "(ssssbus)", job->l.v[k].name, job->l.v[k].stem,
                                                  job->l.v[k].hash, bus_name, job->running[k], job->count[k], node);
                else
                        r = sd_bus_message_append(reply, "(ssssbu)", job->l.v[k].name, job->l.v[k].stem,
                                                  job->l.v[k].hash, bus_name, job->running[k], job->count[k]);
        }
        /* homed on other nodes: reached through the bridge, "running" when their home is alive */
        for (size_t k = 0; r >= 0 && job->ex && k < job->n_remote; k++)
                r = sd_bus_message_append(reply, "(ssssbus)", job->remote_name[k], "", "", "org.xfsm1.Bridge",
                                          job->remote_alive[k], (uint32_t) 0, job->remote_node[k]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errnof(job->call, -r, "Failed to list the components: %m");
}

static int on_count(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(freep) CountReq *req = userdata;
        ListJob *job = req->job;
        uint32_t n = 0;

        /* a worker that does not answer in time counts nothing, it does not stop the listing */
        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_enter_container(reply, 'a', "(ssso)") >= 0)
                while (sd_bus_message_skip(reply, "(ssso)") > 0)
                        n++;
        job->count[req->index] = n;

        if (--job->outstanding == 0)
                list_job_finish(job);
        return 0;
}

static void ask_count(ListJob *job, size_t k) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(freep) CountReq *req = NULL;
        char bus_name[300], path[300];

        req = calloc(1, sizeof *req);
        if (!req)
                return;

        *req = (CountReq) { .job = job, .index = k };
        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", job->l.v[k].name);
        snprintf(path, sizeof path, "/org/xfsm1/%s", job->l.v[k].name);
        if (sd_bus_message_new_method_call(job->m->bus, &call, bus_name, path, "org.xfsm1.Component",
                                           "ListInstances") >= 0 &&
            sd_bus_message_append(call, "ss", "", "") >= 0 &&
            sd_bus_call_async(job->m->bus, NULL, call, on_count, req, 2 * 1000000ULL) >= 0) {
                TAKE_PTR(req);
                job->outstanding++;
        }
}

static int on_list_names(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        ListJob *job = userdata;
        _cleanup_(strv_freep) char **names = NULL;

        /* without the name list, say what this process knows: its own hosts */
        if (!sd_bus_message_is_method_error(reply, NULL))
                (void) sd_bus_message_read_strv(reply, &names);

        for (size_t k = 0; k < job->l.n; k++) {
                char bus_name[300];

                if (job->running[k])
                        continue; /* hosted here */
                snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", job->l.v[k].name);
                if (strv_contains(names, bus_name)) {
                        job->running[k] = true;
                        ask_count(job, k);
                }
        }

        if (--job->outstanding == 0)
                list_job_finish(job);
        return 0;
}

static int on_bridge_components(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        ListJob *job = userdata;
        const char *node, *name, *home;
        int alive, r;

        /* no bridge: this node alone */
        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "s", &node) > 0 &&
            (job->node = strdup(node)) && sd_bus_message_enter_container(reply, 'a', "(ssb)") > 0)
                while ((r = sd_bus_message_read(reply, "(ssb)", &name, &home, &alive)) > 0) {
                        char **vn = reallocarray(job->remote_name, job->n_remote + 1, sizeof *vn);
                        if (vn)
                                job->remote_name = vn;
                        char **vh = reallocarray(job->remote_node, job->n_remote + 1, sizeof *vh);
                        if (vh)
                                job->remote_node = vh;
                        bool *va = reallocarray(job->remote_alive, job->n_remote + 1, sizeof *va);
                        if (va)
                                job->remote_alive = va;
                        if (!vn || !vh || !va)
                                break;
                        vn[job->n_remote] = strdup(name);
                        vh[job->n_remote] = strdup(home);
                        va[job->n_remote] = alive;
                        if (!vn[job->n_remote] || !vh[job->n_remote]) {
                                free(vn[job->n_remote]);
                                free(vh[job->n_remote]);
                                break;
                        }
                        job->n_remote++;
                }

        if (--job->outstanding == 0)
                list_job_finish(job);
        return 0;
}

/* Ask the bridge (never started for this) which components are homed elsewhere. */
static void ask_bridge(ListJob *job) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;

        if (sd_bus_message_new_method_call(job->m->bus, &call, "org.xfsm1.Bridge", "/org/xfsm1/Bridge",
                                           "org.xfsm1.Bridge", "ListRemoteComponents") >= 0 &&
            sd_bus_message_set_auto_start(call, 0) >= 0 &&
            sd_bus_call_async(job->m->bus, NULL, call, on_bridge_components, job, 2 * 1000000ULL) >= 0)
                job->outstanding++;
}

static int list_components(sd_bus_message *msg, Manager *m, bool ex) {
        _cleanup_(list_job_freep) ListJob *job = NULL;
        int r;

        job = calloc(1, sizeof *job);
        if (!job)
                return -ENOMEM;
        job->ex = ex;

        job->m = m;
        job->call = sd_bus_message_ref(msg);
        r = installed_scan(&job->l);
        if (r < 0)
                return r;

        job->running = calloc(job->l.n + 1, sizeof *job->running);
        job->count = calloc(job->l.n + 1, sizeof *job->count);
        if (!job->running || !job->count)
                return -ENOMEM;

        for (size_t k = 0; k < job->l.n; k++) {
                Host *h = manager_find_host(m, job->l.v[k].name);

                if (h) {
                        job->running[k] = true;
                        (void) xfsm_engine_foreach(m->engine, h->name, NULL, NULL, count_one, &job->count[k]);
                }
        }

        if (m->peer) {
                list_job_finish(TAKE_PTR(job));
                return 1;
        }

        job->outstanding = 1; /* until every question is out */
        r = sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "ListNames", on_list_names, job, "");
        if (r >= 0)
                job->outstanding++; /* else: what this process knows */
        if (ex)
                ask_bridge(job);
        if (--job->outstanding == 0)
                list_job_finish(job);
        TAKE_PTR(job);
        return 1;
}

static int method_list_components(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return list_components(msg, userdata, false);
}

static int method_list_components_ex(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return list_components(msg, userdata, true);
}

/* ---- StartComponent, StopComponent --------------------------------------------- */

static int on_unit_job(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(pending_freep) Pending *p = userdata;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                log_warning("systemd refused a unit job: %s", e->message ? e->message : e->name);
                (void) sd_bus_reply_method_error(p->call, e);
        } else
                (void) sd_bus_reply_method_return(p->call, NULL);
        return 0;
}

static int unit_job(sd_bus_message *msg, sd_bus_message_handler_t self, void *userdata, const char *verb,
                    sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(installed_free) InstalledList l = {};
        _cleanup_(pending_freep) Pending *p = NULL;
        const Installed *it = NULL;
        const char *stem;
        char unit[128];
        int r;

        r = sd_bus_message_read(msg, "s", &stem);
        if (r < 0)
                return r;
        if (!stem_valid(stem))
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT,
                                         "'%.64s' is not a component stem", stem);

        r = installed_scan(&l);
        if (r >= 0 && !(it = installed_find(&l, stem)))
                r = bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_COMPONENT,
                                      "No component '%s' in %s", stem, component_dirs());
        /* polkit rules see the component by its name, as for its other calls */
        if (r >= 0 && it)
                r = access_check(m->access, msg, "org.xfsm1.manage", &(AccessDetails) { it->name, NULL, NULL }, self, m,
                                 error);
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
        if (r < 0)
                return r;
        TAKE_PTR(p);

        log_info("%s %s for %s", verb, unit, sd_bus_message_get_sender(msg) ?: "a peer");
        return 1;
}

static int method_start_component(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return unit_job(msg, method_start_component, userdata, "StartUnit", error);
}

static int method_stop_component(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return unit_job(msg, method_stop_component, userdata, "StopUnit", error);
}

/* ---- Reload ------------------------------------------------------------------------ */

/* The running workers, from systemd: have each reload (ExecReload sends it SIGHUP). */
static int on_worker_units(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(pending_freep) Pending *p = userdata;
        Manager *m = p->m;
        const char *unit;
        unsigned n = 0;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                log_warning("Reload: cannot list the workers: %s", e->message ?: e->name);
                (void) sd_bus_reply_method_error(p->call, e);
                return 0;
        }

        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r > 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &unit, NULL, NULL, NULL, NULL, NULL, NULL,
                                                 NULL, NULL, NULL)) > 0) {
                if (sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                             "org.freedesktop.systemd1.Manager", "ReloadUnit", NULL, NULL, "ss", unit,
                                             "replace") >= 0)
                        n++;
        }

        log_info("Reload: %u worker(s) asked to reload", n);
        if (p->refusal)
                (void) sd_bus_reply_method_errorf(p->call, "org.xfsm1.Error.InvalidArgument", "%s", p->refusal);
        else
                (void) sd_bus_reply_method_return(p->call, NULL);
        return 0;
}

/* Why Reload answers an error: component files that do not load keep, in
 * their workers, the version they had; the caller must know. NULL if none. */
static char *reload_refusal(Manager *m, int own) {
        _cleanup_(installed_free) InstalledList l = {};
        char *text = NULL;

        (void) installed_scan(&l);
        if (l.n_broken > 0) {
                if (asprintf(&text,
                             "%u component file(s) do not load and keep the version they had (the first: %s; "
                             "xfsmctl validate it)",
                             l.n_broken, l.first_broken ?: "?") < 0)
                        text = strdup("component files do not load and keep the version they had");
        } else if (own < 0)
                text = strdup("a component hosted by this process does not load and keeps the version it had "
                              "(see the journal)");
        return text;
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(pending_freep) Pending *p = NULL;
        int r;

        r = access_check(m->access, msg, "org.xfsm1.manage", NULL, method_reload, m, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* the components hosted here, then the workers; an error, after, if a file does not load */
        r = manager_reload(m);
        if (m->peer || !m->system_bus) {
                _cleanup_(freep) char *refusal = reload_refusal(m, r);
                if (refusal)
                        return sd_bus_error_set(error, "org.xfsm1.Error.InvalidArgument", refusal);
                return sd_bus_reply_method_return(msg, NULL);
        }

        if (!(p = pending_new(m, msg)))
                return -ENOMEM;
        p->refusal = reload_refusal(m, r);
        r = sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "ListUnitsByPatterns", on_worker_units, p,
                                     "asas", 2, "active", "reloading", 1, "xfsm@*.service");
        if (r < 0)
                return r;

        TAKE_PTR(p);
        return 1;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListComponents", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssssbu)", components), method_list_components,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListComponentsEx", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssssbus)", components), method_list_components_ex,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartComponent", SD_BUS_ARGS("s", stem), SD_BUS_NO_RESULT,
                                method_start_component, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopComponent", SD_BUS_ARGS("s", stem), SD_BUS_NO_RESULT,
                                method_stop_component, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int manager_api_register(Manager *m, sd_bus *bus) {
        int r = sd_bus_add_object_vtable(bus, NULL, "/org/xfsm1", "org.xfsm1.Manager", manager_vtable, m);

        if (r < 0)
                return log_error_errno(r, "Failed to register org.xfsm1.Manager: %m");
        return 0;
}
