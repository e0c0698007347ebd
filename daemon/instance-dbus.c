/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.xfsm1.Instance at /org/xfsm1/<Name>/<Machine>/<escaped id>: one
 * fallback vtable and a node enumerator per component, so that 100k
 * instances are 100k paths, not 100k registrations (as ratbagd does). The
 * handlers get the Host and find the instance from the path each time. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus-errors.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"

static int instance_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                                sd_bus_error *error) {
        Host *h = userdata;

        if (!host_instance_from_path(h, path))
                return 0;
        *found = h;
        return 1;
}

typedef struct EnumCtx {
        Host *h;
        char **v;
        size_t n, cap;
        int r;
} EnumCtx;

/* Frees the paths collected so far (c itself is not allocated). */
static void enum_ctx_done(EnumCtx *c) {
        for (size_t k = 0; k < c->n; k++)
                free(c->v[k]);
        c->v = mfree(c->v);
        c->n = c->cap = 0;
}

static int enum_one(void *userdata, xfsm_instance *i) {
        EnumCtx *c = userdata;

        if (c->n + 2 > c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                char **v = realloc(c->v, cap * sizeof *v);

                if (!v) {
                        c->r = -ENOMEM;
                        return 1;
                }
                c->v = v;
                c->cap = cap;
        }

        c->v[c->n] = instance_path(c->h, i);
        if (!c->v[c->n]) {
                c->r = -ENOMEM;
                return 1;
        }
        c->v[++c->n] = NULL;
        return 0;
}

static int instance_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                    sd_bus_error *error) {
        Host *h = userdata;
        _cleanup_(enum_ctx_done) EnumCtx c = { .h = h };
        /* registered at /org/xfsm1/<Name> (all machines) and /org/xfsm1/<Name>/<Machine> */
        const char *machine = streq(path, h->path) ? NULL : strrchr(path, '/') + 1;

        c.v = calloc(1, sizeof *c.v);
        if (!c.v)
                return -ENOMEM;
        c.cap = 1;

        xfsm_engine_foreach(h->manager->engine, h->name, machine, NULL, enum_one, &c);
        if (c.r < 0)
                return c.r;

        *nodes = TAKE_PTR(c.v);
        c.n = 0;
        return 0;
}

static xfsm_instance *instance_of(sd_bus_message *msg, Host *h, sd_bus_error *error) {
        xfsm_instance *i = host_instance_from_path(h, sd_bus_message_get_path(msg));

        if (!i)
                bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_INSTANCE, "The instance at %s is gone",
                                  sd_bus_message_get_path(msg));
        return i;
}

static int method_send(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        const char *event, *payload;
        xfsm_instance *i;
        int r;

        r = sd_bus_message_read(msg, "ss", &event, &payload);
        if (r < 0)
                return r;
        if (!(i = instance_of(msg, h, error)))
                return -ENOENT;
        r = access_check(h->manager->access, msg, "org.xfsm1.send-event",
                         &(AccessDetails) { h->name, xfsm_instance_machine(i), event }, method_send, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return host_send(h, msg, i, event, payload, NULL, NULL, error);
}

static int method_send_ex(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        const char *event, *payload, *event_id = NULL, *correlation = NULL;
        xfsm_instance *i;
        int r;

        r = sd_bus_message_read(msg, "ss", &event, &payload);
        if (r < 0)
                return r;
        r = read_send_options(msg, &event_id, &correlation, error);
        if (r < 0)
                return r;
        if (!(i = instance_of(msg, h, error)))
                return -ENOENT;
        r = access_check(h->manager->access, msg, "org.xfsm1.send-event",
                         &(AccessDetails) { h->name, xfsm_instance_machine(i), event }, method_send_ex, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return host_send(h, msg, i, event, payload, event_id, correlation, error);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        xfsm_instance *i = host_instance_from_path(h, path);

        if (!i)
                return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_INSTANCE, "The instance at %s is gone", path);
        if (streq(property, "Id"))
                return sd_bus_message_append(reply, "s", xfsm_instance_id(i));
        if (streq(property, "Machine"))
                return sd_bus_message_append(reply, "s", xfsm_instance_machine(i));
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", xfsm_instance_version(i));
        if (streq(property, "State"))
                return sd_bus_message_append(reply, "s", xfsm_instance_state(i));
        if (streq(property, "Status"))
                return sd_bus_message_append(reply, "s", xfsm_instance_status(i));
        if (streq(property, "ParentId"))
                return sd_bus_message_append(reply, "s", xfsm_instance_parent_id(i) ?: "");
        if (streq(property, "CreatedAt"))
                return sd_bus_message_append(reply, "t", (uint64_t) xfsm_instance_created_at(i) * 1000);
        if (streq(property, "UpdatedAt"))
                return sd_bus_message_append(reply, "t", (uint64_t) xfsm_instance_updated_at(i) * 1000);
        return -EINVAL;
}

static int property_get_pending_timers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        xfsm_instance *i = host_instance_from_path(h, path);
        uint64_t now = xfsm_engine_now(h->manager->engine);
        int r;

        if (!i)
                return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_INSTANCE, "The instance at %s is gone", path);
        r = sd_bus_message_open_container(reply, 'a', "(stt)");
        for (size_t k = 0; r >= 0 && k < xfsm_instance_n_timers(i); k++) {
                const char *event;
                uint64_t deadline, realtime;

                if (xfsm_instance_timer(i, k, &event, &deadline, &realtime) < 0)
                        continue;
                r = sd_bus_message_append(reply, "(stt)", event, realtime * 1000,
                                          deadline > now ? (deadline - now) * 1000 : 0);
        }
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const sd_bus_vtable instance_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Machine", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Version", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Status", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CreatedAt", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("UpdatedAt", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ParentId", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("PendingTimers", "a(stt)", property_get_pending_timers, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("s", event, "s", payload_json), SD_BUS_RESULT("s", state),
                                method_send, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SendEx", SD_BUS_ARGS("s", event, "s", payload_json, "a{sv}", options),
                                SD_BUS_RESULT("s", state), method_send_ex, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Transition", SD_BUS_ARGS("s", from, "s", to, "s", event, "s", correlation_id), 0),
        SD_BUS_SIGNAL_WITH_ARGS("MethodCalled", SD_BUS_ARGS("s", method, "s", event), 0),
        SD_BUS_VTABLE_END,
};

/* One fallback and one enumerator per machine: sd-bus does not mix fallback
 * and plain vtables on one path, and /org/xfsm1/<Name> has the Component. */
int instance_register(Host *h, sd_bus *bus) {
        xfsm_engine *e = h->manager->engine;
        int r = 0;

        for (size_t k = 0; r >= 0 && k < xfsm_component_n_machines(e, h->name); k++) {
                _cleanup_(freep) char *prefix = NULL;

                if (asprintf(&prefix, "%s/%s", h->path, xfsm_component_machine(e, h->name, k)) < 0) {
                        prefix = NULL; /* undefined after a failure */
                        return -ENOMEM;
                }
                r = sd_bus_add_fallback_vtable(bus, NULL, prefix, "org.xfsm1.Instance", instance_vtable,
                                               instance_object_find, h);
                if (r >= 0)
                        r = sd_bus_add_node_enumerator(bus, NULL, prefix, instance_node_enumerator, h);
        }

        if (r >= 0)
                r = sd_bus_add_node_enumerator(bus, NULL, h->path, instance_node_enumerator, h);
        return r;
}
