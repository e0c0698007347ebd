/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Reload (xfsmd(8), RELOAD): SIGHUP (or org.xfsm1.Manager.Reload, which has
 * systemd reload the workers) reads each hosted component's file again; a
 * changed definition is used by instances created from then on, while live
 * instances keep the one they were created with (the engine keeps it).
 *
 * So that this survives a restart, every definition instances may use is
 * kept in the state directory as STATE/STEM/defs/HASH.yaml (the file as it
 * was loaded); recovery loads an older one when an instance image names it. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "reload.h"

static char *read_all(const char *path, size_t *ret_len) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *b = NULL;
        size_t n = 0, cap = 0, k;

        assert(path);
        assert(ret_len);

        f = fopen(path, "re");
        if (!f)
                return NULL;

        do {
                if (n + 4096 >= cap) {
                        char *nb = cap < 16 * 1024 * 1024 ? realloc(b, cap = cap ? cap * 2 : 16384) : NULL;

                        if (!nb)
                                return NULL;
                        b = nb;
                }
                k = fread(b + n, 1, cap - n - 1, f);
                n += k;
        } while (k > 0);

        b[n] = '\0';
        *ret_len = n;
        return TAKE_PTR(b);
}

static char *defs_path(Manager *m, Host *h, const char *hash) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s/defs%s%s%s", durable_state_dir(m->durable), h->stem, hash ? "/" : "", hash ? hash : "",
                     hash ? ".yaml" : "") < 0)
                return NULL;
        return p;
}

int reload_keep_definition(Manager *m, Host *h, const char *text, size_t len) {
        const char *hash = xfsm_component_hash(m->engine, h->name);
        _cleanup_(freep) char *dir = NULL, *path = NULL, *tmp = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        int r;

        if (!durable_state_dir(m->durable) || !hash)
                return 0;

        dir = defs_path(m, h, NULL);
        path = defs_path(m, h, hash);
        if (!dir || !path || asprintf(&tmp, "%s.tmp", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }

        if (access(path, F_OK) == 0)
                return 0; /* kept already */
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return log_warning_errno(-errno, "Cannot keep the definition of %s in %s: %m", h->name, dir);

        f = fopen(tmp, "we");
        if (!f || fwrite(text, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) < 0) {
                r = log_warning_errno(-errno ?: -EIO, "Cannot keep the definition of %s in %s: %m", h->name, path);
                if (f)
                        fclose(TAKE_PTR(f));
                (void) unlink(tmp);
                return r;
        }
        fclose(TAKE_PTR(f));

        if (rename(tmp, path) < 0)
                return log_warning_errno(-errno, "Cannot keep the definition of %s in %s: %m", h->name, path);
        return 0;
}

int reload_keep_file(Manager *m, Host *h) {
        size_t len = 0;
        _cleanup_(freep) char *text = h->file ? read_all(h->file, &len) : NULL;

        if (!text)
                return 0;

        return reload_keep_definition(m, h, text, len);
}

/* Recovery: an instance image names a version that is not loaded. */
static int load_kept(void *userdata, xfsm_engine *e, const char *component, const char *hash) {
        Manager *m = userdata;
        Host *h = manager_find_host(m, component);
        _cleanup_(freep) char *path = NULL, *text = NULL;
        size_t len = 0;
        int r;

        if (!h || strspn(hash, "0123456789abcdef") != strlen(hash))
                return -ENOENT;

        path = defs_path(m, h, hash);
        if (!path)
                return -ENOMEM;

        text = read_all(path, &len);
        if (!text) {
                log_warning("%s: an instance was created with version %s, whose definition is not kept (%s): it "
                            "goes on with the current one",
                            component, hash, path);
                return -ENOENT;
        }

        r = xfsm_engine_load_version(e, path, text, len, NULL, NULL);
        if (r >= 0)
                log_info("%s: version %s loaded for the instances created with it", component, hash);
        return r;
}

void reload_setup(Manager *m) {
        xfsm_engine_set_version_loader(m->engine, load_kept, m);
}

static void print_diag(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                       const char *message) {
        if (severity == XFSM_DIAG_ERROR)
                log_error("%s:%u:%u: error: %s", file, line, column, message);
        else
                log_warning("%s:%u:%u: warning: %s", file, line, column, message);
}

int manager_reload(Manager *m) {
        unsigned changed = 0;
        int failed = 0;

        for (size_t k = 0; k < m->n_hosts; k++) {
                Host *h = &m->hosts[k];
                _cleanup_(freep) char *text = NULL;
                char old[64];
                size_t len = 0;
                int r;

                if (!h->file)
                        continue;

                snprintf(old, sizeof old, "%s", xfsm_component_hash(m->engine, h->name) ?: "");
                text = read_all(h->file, &len);
                if (!text) {
                        log_error("Reload: cannot read %s: %m, keeping %s as it is", h->file, h->name);
                        failed++;
                        continue;
                }
                r = xfsm_engine_reload_string(m->engine, h->file, text, len, print_diag, NULL);
                if (r < 0) {
                        log_error("Reload: %s does not load; %s keeps version %s", h->file, h->name, old);
                        failed++;
                } else if (r > 0) {
                        changed++;
                        (void) reload_keep_definition(m, h, text, len);
                        log_notice("Reload: %s is now version %s (was %s); live instances keep the version they "
                                   "were created with",
                                   h->name, xfsm_component_hash(m->engine, h->name), old);
                        if (m->bus)
                                (void) sd_bus_emit_properties_changed(m->bus, h->path, "org.xfsm1.Component",
                                                                      "Version", "Definition", "Machines", NULL);
                } else
                        log_info("Reload: %s unchanged", h->name);
        }

        return failed ? -EINVAL : (int) changed;
}
