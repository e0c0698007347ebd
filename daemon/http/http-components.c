/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The node's components as xfsm-http calls them: the listing, the
 * definitions, and where instances live. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http-components.h"
#include "log.h"
#include "macro.h"

#define HOMES 4096

typedef struct Waiter {
        ComponentsFn fn;
        void *userdata;
        struct Waiter *next;
} Waiter;

typedef struct Home {
        char *id;
        char *component;
} Home;

struct Components {
        sd_bus *bus;
        ComponentInfo *v;
        size_t n;
        uint64_t fetched_usec;     /* 0: never, or stale */
        bool no_ex;                /* ListComponentsEx answered UnknownMethod */
        sd_bus_slot *slot;         /* the listing in flight */
        sd_bus_slot *owners;       /* NameOwnerChanged of org.xfsm1.*: the list is dropped */
        Waiter *waiters, **last_waiter;
        Home homes[HOMES];
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void info_done(ComponentInfo *ci) {
        free(ci->name);
        free(ci->stem);
        free(ci->hash);
        free(ci->bus_name);
        free(ci->node);
        if (ci->definition)
                json_object_put(ci->definition);
}

static void infos_free(ComponentInfo *v, size_t n) {
        for (size_t k = 0; k < n; k++)
                info_done(&v[k]);
        free(v);
}

static int on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Components *c = userdata;
        const char *name;

        if (sd_bus_message_read(msg, "s", &name) > 0 && strncmp(name, "org.xfsm1", 9) == 0)
                components_invalidate(c);
        return 0;
}

Components *components_new(sd_bus *bus) {
        Components *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        c->bus = sd_bus_ref(bus);
        c->last_waiter = &c->waiters;
        /* a component started or stopped, a bridge came or went: where to call may have changed */
        if (sd_bus_add_match_async(bus, &c->owners,
                                   "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                   "member='NameOwnerChanged',arg0namespace='org.xfsm1'",
                                   on_owner_changed, NULL, c) < 0)
                return components_free(c);
        return c;
}

Components *components_free(Components *c) {
        if (!c)
                return NULL;

        sd_bus_slot_unref(c->slot);
        sd_bus_slot_unref(c->owners);
        while (c->waiters) {
                Waiter *w = c->waiters;
                c->waiters = w->next;
                free(w);
        }
        infos_free(c->v, c->n);
        for (size_t k = 0; k < HOMES; k++) {
                free(c->homes[k].id);
                free(c->homes[k].component);
        }
        sd_bus_unref(c->bus);
        return mfree(c);
}

static void finish(Components *c, const sd_bus_error *error) {
        Waiter *w = c->waiters;

        /* callbacks may ask again: take the list of waiters first */
        c->waiters = NULL;
        c->last_waiter = &c->waiters;
        while (w) {
                Waiter *next = w->next;

                w->fn(c, error, w->userdata);
                free(w);
                w = next;
        }
}

static int start_listing(Components *c);

static int on_list(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Components *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        ComponentInfo *v = NULL;
        size_t n = 0;
        bool ex = !c->no_ex;
        int r;

        c->slot = sd_bus_slot_unref(c->slot);

        if (e) {
                if (ex && sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_METHOD)) {
                        c->no_ex = true;
                        if (start_listing(c) >= 0)
                                return 0;
                }
                finish(c, e);
                return 0;
        }

        r = sd_bus_message_enter_container(reply, 'a', ex ? "(ssssbus)" : "(ssssbu)");
        while (r > 0) {
                const char *name, *stem, *hash, *bus_name, *node = "";
                int running;
                uint32_t count;
                ComponentInfo *w;

                if (ex)
                        r = sd_bus_message_read(reply, "(ssssbus)", &name, &stem, &hash, &bus_name, &running, &count,
                                                &node);
                else
                        r = sd_bus_message_read(reply, "(ssssbu)", &name, &stem, &hash, &bus_name, &running, &count);
                if (r <= 0)
                        break;
                w = realloc(v, (n + 1) * sizeof *w);
                if (!w) {
                        r = -ENOMEM;
                        break;
                }
                v = w;
                v[n] = (ComponentInfo) {
                        .name = strdup(name),
                        .stem = strdup(stem),
                        .hash = strdup(hash),
                        .bus_name = strdup(bus_name),
                        .node = strdup(node),
                        .running = running,
                        .instances = count,
                };
                n++;
                if (!v[n - 1].name || !v[n - 1].stem || !v[n - 1].hash || !v[n - 1].bus_name || !v[n - 1].node) {
                        r = -ENOMEM;
                        break;
                }
                /* homed on another node: ListComponentsEx names the bridge as its bus name, and it is
                 * reached there (xfsm-http(8), REMOTE COMPONENTS) */
                v[n - 1].remote = streq(bus_name, "org.xfsm1.Bridge");
        }
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;

                infos_free(v, n);
                sd_bus_error_set_errnof(&err, -r, "Failed to read the component list: %m");
                finish(c, &err);
                return 0;
        }

        /* definitions carry over while their version hash stays */
        for (size_t k = 0; k < n; k++) {
                ComponentInfo *old = components_find(c, v[k].name);

                if (old && old->definition && streq(old->hash, v[k].hash))
                        v[k].definition = json_object_get(old->definition);
        }
        infos_free(c->v, c->n);
        c->v = v;
        c->n = n;
        c->fetched_usec = now_usec();
        finish(c, NULL);
        return 0;
}

static int start_listing(Components *c) {
        return sd_bus_call_method_async(c->bus, &c->slot, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager",
                                        c->no_ex ? "ListComponents" : "ListComponentsEx", on_list, c, "");
}

int components_get(Components *c, uint64_t max_age_usec, ComponentsFn fn, void *userdata) {
        Waiter *w;
        int r;

        assert(c);
        assert(fn);

        if (c->fetched_usec > 0 && now_usec() - c->fetched_usec <= max_age_usec && !c->slot) {
                fn(c, NULL, userdata);
                return 0;
        }

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        *w = (Waiter) { .fn = fn, .userdata = userdata };
        if (!c->slot) {
                r = start_listing(c);
                if (r < 0) {
                        free(w);
                        return r;
                }
        }
        *c->last_waiter = w;
        c->last_waiter = &w->next;
        return 0;
}

ComponentInfo *components_find(Components *c, const char *name) {
        for (size_t k = 0; k < c->n; k++)
                if (streq(c->v[k].name, name))
                        return &c->v[k];
        return NULL;
}

size_t components_count(Components *c) {
        return c->n;
}

ComponentInfo *components_nth(Components *c, size_t k) {
        return k < c->n ? &c->v[k] : NULL;
}

void components_invalidate(Components *c) {
        c->fetched_usec = 0;
}

void component_target(const ComponentInfo *ci, const char **ret_bus_name, char *path, size_t size) {
        if (ci->remote) {
                *ret_bus_name = "org.xfsm1.Bridge";
                snprintf(path, size, "/org/xfsm1/Bridge/%s", ci->name);
        } else {
                *ret_bus_name = ci->bus_name;
                snprintf(path, size, "/org/xfsm1/%s", ci->name);
        }
}

typedef struct DefinitionAsk {
        Components *c;
        char *name;
        DefinitionFn fn;
        void *userdata;
} DefinitionAsk;

static int on_definition(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        DefinitionAsk *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        ComponentInfo *ci = components_find(a->c, a->name);
        const char *text = NULL;

        if (!e && (sd_bus_message_enter_container(reply, 'v', "s") <= 0 ||
                   sd_bus_message_read(reply, "s", &text) <= 0)) {
                sd_bus_error_set(&err, SD_BUS_ERROR_INVALID_ARGS, "The Definition property is not a string");
                e = &err;
        }
        if (!e && ci) {
                json_object *d = json_tokener_parse(text);

                if (!d || !json_object_is_type(d, json_type_object)) {
                        if (d)
                                json_object_put(d);
                        sd_bus_error_set(&err, SD_BUS_ERROR_INVALID_ARGS, "The Definition property is not JSON");
                        e = &err;
                } else {
                        if (ci->definition)
                                json_object_put(ci->definition);
                        ci->definition = d;
                }
        }
        if (!ci && !e) {
                sd_bus_error_set(&err, "org.xfsm1.Error.NoSuchComponent", "The component went away");
                e = &err;
        }
        a->fn(a->c, ci, e, a->userdata);
        free(a->name);
        free(a);
        return 0;
}

int components_definition(Components *c, ComponentInfo *ci, DefinitionFn fn, void *userdata) {
        DefinitionAsk *a;
        const char *bus_name;
        char path[300];
        int r;

        if (ci->definition) {
                fn(c, ci, NULL, userdata);
                return 0;
        }

        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        *a = (DefinitionAsk) { .c = c, .name = strdup(ci->name), .fn = fn, .userdata = userdata };
        if (!a->name) {
                free(a);
                return -ENOMEM;
        }
        component_target(ci, &bus_name, path, sizeof path);
        /* floating: answered even if the list is refreshed meanwhile */
        r = sd_bus_call_method_async(c->bus, NULL, bus_name, path, "org.freedesktop.DBus.Properties", "Get",
                                     on_definition, a, "ss", "org.xfsm1.Component", "Definition");
        if (r < 0) {
                free(a->name);
                free(a);
        }
        return r;
}

static size_t home_slot(const char *id) {
        uint64_t h = 1469598103934665603ULL;

        for (; *id; id++)
                h = (h ^ (unsigned char) *id) * 1099511628211ULL;
        return h % HOMES;
}

const char *components_home_of(Components *c, const char *id) {
        Home *h = &c->homes[home_slot(id)];

        return h->id && streq(h->id, id) ? h->component : NULL;
}

void components_note_home(Components *c, const char *id, const char *component) {
        Home *h = &c->homes[home_slot(id)];
        char *i = strdup(id), *comp = strdup(component);

        if (!i || !comp) {
                free(i);
                free(comp);
                return;
        }
        free(h->id);
        free(h->component);
        *h = (Home) { .id = i, .component = comp };
}
