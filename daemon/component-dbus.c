/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.xfsm1.Component at /org/xfsm1/<Name>, with the ObjectManager of its
 * instances (xfsmd(8)). */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "deliver.h"
#include "durable.h"
#include "hwm.h"
#include "json-util.h"
#include "outbox.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xfsm_routed *, xfsm_routed_free);

static int check_name(const char *what, const char *s, sd_bus_error *error) {
        if (strlen(s) > XFSM_MAX_NAME)
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "%s longer than %d bytes", what,
                                         XFSM_MAX_NAME);
        return 0;
}

/* A machine or component name: [A-Za-z_][A-Za-z0-9_]* (xfsm(5)); "" where empty means any. */
static int check_identifier(const char *what, const char *s, bool empty_ok, sd_bus_error *error) {
        bool ok = *s ? (isalpha((unsigned char) *s) || *s == '_') : empty_ok;

        for (const char *p = s; ok && *p; p++)
                ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "%s '%s' is not [A-Za-z_][A-Za-z0-9_]*",
                                           what, s);
        return check_name(what, s, error);
}

static xfsm_instance *find_instance(Host *h, const char *id, sd_bus_error *error) {
        xfsm_instance *i;

        if (check_name("instance id", id, error) < 0)
                return NULL;
        i = xfsm_engine_find(h->manager->engine, id);
        if (!i || !streq(xfsm_instance_component(i), h->name)) {
                bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_INSTANCE, "No instance '%s' in component %s", id,
                                  h->name);
                return NULL;
        }
        return i;
}

/* Past QueueLimit= calls waiting for their records to be durable (the disk
 * is slower than the callers), a new call that would change something waits
 * in its caller instead: Busy. */
static int check_queue(Manager *m, sd_bus_error *error) {
        if (durable_waiting(m->durable) >= m->queue_limit)
                return bus_error_setf_xfsm(error, -XFSM_E_BUSY,
                                           "%zu calls wait for their records to be durable: retry later",
                                           durable_waiting(m->durable));
        return 0;
}

/* Read the a{sv} options of SendEx. */
int read_send_options(sd_bus_message *msg, const char **ret_event_id, const char **ret_correlation,
                             sd_bus_error *error) {
        int r;

        *ret_event_id = *ret_correlation = NULL;
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *value;
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "event_id") || streq(key, "correlation_id")) {
                        r = sd_bus_message_read(msg, "v", "s", &value);
                        if (r < 0)
                                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT,
                                                         "option %s must be a string", key);
                        if (streq(key, "event_id"))
                                *ret_event_id = value;
                        else
                                *ret_correlation = value;
                } else
                        return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "unknown option '%s'", key);
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

int host_send(Host *h, sd_bus_message *msg, xfsm_instance *i, const char *event, const char *payload,
              const char *event_id, const char *correlation, sd_bus_error *error) {
        Manager *m = h->manager;
        StepOrigin origin = { .event_id = event_id, .correlation_id = correlation };
        const char *state = NULL;
        int r;

        if (check_name("event name", event, error) < 0)
                return -EINVAL;
        if (outbox_pending(m->outbox, NULL) >= m->outbox_limit)
                return bus_error_setf_xfsm(error, -XFSM_E_BUSY, "%zu routed events wait for their targets: retry later",
                                           outbox_pending(m->outbox, NULL));
        if (check_queue(m, error) < 0)
                return -EBUSY;
        if (event_id) {
                const char *first;
                /* remembered in the journal with a state directory, else for as long as the process runs */
                if (check_name("event_id", event_id, error) < 0)
                        return -EINVAL;
                first = durable_event_result(m->durable, h, event_id);
                if (first)
                        return manager_reply(m, msg, "s", first); /* the same id again: the first result, no effect */
        }
        r = manager_send(m, i, event, isempty(payload) ? NULL : payload, &origin, &state);
        if (r < 0) {
                log_debug("%s: %s refused: %s", h->name, event, xfsm_engine_last_error(m->engine));
                return bus_error_set_xfsm(error, r, xfsm_engine_last_error(m->engine));
        }
        if (event_id)
                durable_event_remember(m->durable, h, event_id, state);
        return manager_reply(m, msg, "s", state);
}

static int method_send(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        const char *id, *event, *payload;
        xfsm_instance *i;
        int r;

        r = sd_bus_message_read(msg, "sss", &id, &event, &payload);
        if (r < 0)
                return r;
        if (!(i = find_instance(h, id, error)))
                return -ENOENT;
        r = access_check(h->manager->access, msg, "org.xfsm1.send-event",
                         &(AccessDetails) { h->name, xfsm_instance_machine(i), event }, method_send, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return host_send(h, msg, i, event, payload, NULL, NULL, error);
}

static int method_send_ex(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        const char *id, *event, *payload, *event_id, *correlation;
        xfsm_instance *i;
        int r;

        r = sd_bus_message_read(msg, "sss", &id, &event, &payload);
        if (r < 0)
                return r;
        r = read_send_options(msg, &event_id, &correlation, error);
        if (r < 0)
                return r;
        if (!(i = find_instance(h, id, error)))
                return -ENOENT;
        r = access_check(h->manager->access, msg, "org.xfsm1.send-event",
                         &(AccessDetails) { h->name, xfsm_instance_machine(i), event }, method_send_ex, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return host_send(h, msg, i, event, payload, event_id, correlation, error);
}

static int method_create_instance(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        Manager *m = h->manager;
        const char *machine, *context;
        xfsm_instance *i = NULL;
        _cleanup_(freep) char *path = NULL;
        char id[64];
        int r;

        r = sd_bus_message_read(msg, "ss", &machine, &context);
        if (r < 0)
                return r;
        if (check_identifier("machine name", machine, false, error) < 0)
                return -EINVAL;
        r = access_check(m->access, msg, "org.xfsm1.create-instance", &(AccessDetails) { h->name, machine, NULL },
                         method_create_instance, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (check_queue(m, error) < 0)
                return -EBUSY;
        r = xfsm_engine_create(m->engine, h->name, machine, isempty(context) ? NULL : context, &i);
        manager_rearm_timer(m);
        if (r < 0)
                return bus_error_set_xfsm(error, r, xfsm_engine_last_error(m->engine));
        snprintf(id, sizeof id, "%s", xfsm_step_instance_id(xfsm_engine_last_step(m->engine)));
        path = instance_path_for(h, machine, id);
        if (!path)
                return -ENOMEM;

        return manager_reply(m, msg, "os", path, id);
}

/* One routed event from another process (Deliver, DeliverBatch: the
 * workers' own hop, not for clients). Applied and recorded with its id, or
 * recognised as applied before (an id at or below the receiver's high-water
 * mark for its source and incarnation: no second effect); 0 either way, the
 * instances that took it in ret_delivered. The id is (source, sequence,
 * rule) and the wire form's incarnation. <0 with error set when the wire
 * form cannot be read (the sender keeps it and says so). */
static int deliver_one(Host *h, const char *source, uint64_t seq, uint32_t rule, const char *json,
                       unsigned *ret_delivered, sd_bus_error *error) {
        Manager *m = h->manager;
        _cleanup_(xfsm_routed_freep) xfsm_routed *rt = NULL; /* id.incarnation points into it */
        int r;

        *ret_delivered = 0;
        if (check_name("source component", source, error) < 0) /* also "xcomponent:S" (xfsm-redis-bridge(8)) */
                return -EINVAL;
        r = xfsm_routed_parse(json, &rt);
        if (r < 0)
                return bus_error_setf_xfsm(error, r, "the routed event from %s (%llu/%u) cannot be read", source,
                                           (unsigned long long) seq, rule);

        RouteId id = { .source = source, .incarnation = xfsm_routed_source_incarnation(rt), .seq = seq, .rule = rule };
        StepOrigin origin = { .delivery = &id };

        if (!hwm_seen(m->hwm, h->name, &id)) {
                r = manager_deliver(m, rt, &origin, ret_delivered);
                (void) hwm_set(m->hwm, h->name, &id);
                if (r < 0) {
                        /* it cannot take effect here, now or later: say so, and do not have it sent again */
                        log_warning("%s: a routed event from %s (%llu/%u) cannot be delivered: %s", h->name, source,
                                    (unsigned long long) seq, rule, xfsm_engine_last_error(m->engine));
                        if (!origin.recorded)
                                durable_hwm(m->durable, h, &id);
                }
        }
        return 0;
}

/* Deliver(s source, t sequence, u rule, s routed_json) -> (u delivered):
 * one routed event, answered once its record is durable. */
static int method_deliver(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        const char *source, *json;
        unsigned delivered = 0;
        uint64_t seq;
        uint32_t rule;
        int r;

        r = sd_bus_message_read(msg, "stus", &source, &seq, &rule, &json);
        if (r < 0)
                return r;
        r = access_check(h->manager->access, msg, NULL, &(AccessDetails) { h->name, NULL, NULL }, method_deliver, h,
                         error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = deliver_one(h, source, seq, rule, json, &delivered, error);
        if (r < 0)
                return r;
        return manager_reply(h->manager, msg, "u", delivered);
}

/* DeliverBatch(a(stus) events) -> (u taken): routed events of one source's
 * outbox queue, in order; taken in order until one cannot be (the rest is
 * not touched: the sender sends it again), answered once their records are
 * durable with how many were taken. */
static int method_deliver_batch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(freep) DeliverEvent *ev = NULL;
        Host *h = userdata;
        uint32_t taken = 0;
        size_t n = 0;
        int r;

        r = access_check(h->manager->access, msg, NULL, &(AccessDetails) { h->name, NULL, NULL },
                         method_deliver_batch, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = delivery_read_batch(msg, &ev, &n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n; k++) {
                unsigned delivered;

                r = deliver_one(h, ev[k].source, ev[k].seq, ev[k].rule, ev[k].json, &delivered, error);
                if (r < 0) {
                        if (taken == 0)
                                return r;
                        sd_bus_error_free(error); /* the sender sends it again, alone: then it hears why */
                        break;
                }
                taken++;
        }
        return manager_reply(h->manager, msg, "u", taken);
}

static int method_broadcast(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        Manager *m = h->manager;
        const char *machine, *state, *event, *payload;
        unsigned delivered = 0;
        int r;

        r = sd_bus_message_read(msg, "ssss", &machine, &state, &event, &payload);
        if (r < 0)
                return r;
        if (check_identifier("machine name", machine, false, error) < 0 || check_name("state name", state, error) < 0 ||
            check_name("event name", event, error) < 0)
                return -EINVAL;
        r = access_check(m->access, msg, "org.xfsm1.send-event", &(AccessDetails) { h->name, machine, event },
                         method_broadcast, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = xfsm_engine_broadcast(m->engine, h->name, machine, isempty(state) ? NULL : state, event,
                                  isempty(payload) ? NULL : payload, &delivered);
        manager_rearm_timer(m);
        if (r < 0)
                return bus_error_set_xfsm(error, r, xfsm_engine_last_error(m->engine));
        return manager_reply(m, msg, "u", delivered);
}

typedef struct ListCtx {
        Host *h;
        sd_bus_message *reply;
        int r;
} ListCtx;

static int list_one(void *userdata, xfsm_instance *i) {
        ListCtx *c = userdata;
        _cleanup_(freep) char *path = instance_path(c->h, i);

        if (!path) {
                c->r = -ENOMEM;
                return 1;
        }
        c->r = sd_bus_message_append(c->reply, "(ssso)", xfsm_instance_id(i), xfsm_instance_machine(i),
                                     xfsm_instance_state(i), path);
        return c->r < 0;
}

static int method_list_instances(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *machine, *state;
        ListCtx c = { .h = h };
        int r;

        r = sd_bus_message_read(msg, "ss", &machine, &state);
        if (r < 0)
                return r;
        if (check_identifier("machine name", machine, true, error) < 0 || check_name("state name", state, error) < 0)
                return -EINVAL;
        if (!isempty(machine) && xfsm_component_n_machines(h->manager->engine, h->name) > 0) {
                bool known = false;

                for (size_t k = 0; k < xfsm_component_n_machines(h->manager->engine, h->name); k++)
                        known = known || streq(xfsm_component_machine(h->manager->engine, h->name, k), machine);
                if (!known)
                        return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_MACHINE, "No machine '%s' in %s",
                                                 machine, h->name);
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        c.reply = reply;
        r = sd_bus_message_open_container(reply, 'a', "(ssso)");
        if (r >= 0) {
                xfsm_engine_foreach(h->manager->engine, h->name, machine, state, list_one, &c);
                r = c.r;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

/* GetInstance, GetContext and GetHistory: a JSON text about one instance, for those
 * polkit lets read it (org.xfsm1.read-context: everyone, by default). */
static int reply_instance_json(sd_bus_message *msg, Host *h, sd_bus_message_handler_t self,
                               char *(*get)(xfsm_instance *i), sd_bus_error *error) {
        const char *id;
        xfsm_instance *i;
        _cleanup_(freep) char *json = NULL;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        if (!(i = find_instance(h, id, error)))
                return -ENOENT;
        r = access_check(h->manager->access, msg, "org.xfsm1.read-context",
                         &(AccessDetails) { h->name, xfsm_instance_machine(i), NULL }, self, h, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        json = get(i);
        if (!json)
                return -ENOMEM;

        return sd_bus_reply_method_return(msg, "s", json);
}

static char *context_json(xfsm_instance *i) {
        return xfsm_instance_context_json(i);
}

/* GetInstance: the instance as one JSON object, {id, machine, state, status,
 * context, createdAt, updatedAt, parentId, version} (times in ms since the
 * epoch; parentId null for none). */
static char *instance_json(xfsm_instance *i) {
        _cleanup_(freep) char *context = xfsm_instance_context_json(i);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (!context)
                return NULL;
        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fputs("{\"id\":", f);
        json_write_string(f, xfsm_instance_id(i));
        fputs(",\"machine\":", f);
        json_write_string(f, xfsm_instance_machine(i));
        fputs(",\"state\":", f);
        json_write_string(f, xfsm_instance_state(i));
        fputs(",\"status\":", f);
        json_write_string(f, xfsm_instance_status(i));
        fprintf(f, ",\"context\":%s,\"createdAt\":%llu,\"updatedAt\":%llu,\"parentId\":", context,
                (unsigned long long) xfsm_instance_created_at(i), (unsigned long long) xfsm_instance_updated_at(i));
        json_write_string(f, xfsm_instance_parent_id(i));
        fputs(",\"version\":", f);
        json_write_string(f, xfsm_instance_version(i));
        fputc('}', f);
        if (fclose(f) != 0)
                return mfree(buf);
        return buf;
}

static int method_get_instance(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_instance_json(msg, userdata, method_get_instance, instance_json, error);
}

static int method_get_context(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_instance_json(msg, userdata, method_get_context, context_json, error);
}

static char *history_json(xfsm_instance *i) {
        return xfsm_instance_history_json(i);
}

static int method_get_history(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return reply_instance_json(msg, userdata, method_get_history, history_json, error);
}

static int property_get_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Host *h = userdata;

        if (streq(property, "Name"))
                return sd_bus_message_append(reply, "s", h->name);
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", xfsm_component_hash(h->manager->engine, h->name));
        return sd_bus_message_append(reply, "s", xfsm_component_definition_json(h->manager->engine, h->name));
}

static int property_get_outbox_pending(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Host *h = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) outbox_pending(h->manager->outbox, NULL));
}

static int property_get_machines(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Host *h = userdata;
        xfsm_engine *e = h->manager->engine;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t k = 0; r >= 0 && k < xfsm_component_n_machines(e, h->name); k++)
                r = sd_bus_message_append(reply, "s", xfsm_component_machine(e, h->name, k));
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const sd_bus_vtable component_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* Reload changes these */
        SD_BUS_PROPERTY("Version", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Machines", "as", property_get_machines, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Definition", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* routed events this process has yet to hand to their targets (a hand-over waits for 0) */
        SD_BUS_PROPERTY("OutboxPending", "u", property_get_outbox_pending, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("CreateInstance", SD_BUS_ARGS("s", machine, "s", context_json),
                                SD_BUS_RESULT("o", path, "s", id), method_create_instance,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("s", id, "s", event, "s", payload_json),
                                SD_BUS_RESULT("s", state), method_send, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SendEx", SD_BUS_ARGS("s", id, "s", event, "s", payload_json, "a{sv}", options),
                                SD_BUS_RESULT("s", state), method_send_ex, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Broadcast",
                                SD_BUS_ARGS("s", machine, "s", state, "s", event, "s", payload_json),
                                SD_BUS_RESULT("u", delivered), method_broadcast, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListInstances", SD_BUS_ARGS("s", machine_filter, "s", state_filter),
                                SD_BUS_RESULT("a(ssso)", instances), method_list_instances,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetInstance", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", json), method_get_instance,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetContext", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", json), method_get_context,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", json), method_get_history,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Deliver", SD_BUS_ARGS("s", source, "t", sequence, "u", rule, "s", routed_json),
                                SD_BUS_RESULT("u", delivered), method_deliver, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeliverBatch", SD_BUS_ARGS("a(stus)", events), SD_BUS_RESULT("u", taken),
                                method_deliver_batch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("InstanceCreated", SD_BUS_ARGS("s", id, "s", machine), 0),
        SD_BUS_VTABLE_END,
};

int host_register(Host *h, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, h->path, "org.xfsm1.Component", component_vtable, h);
        if (r < 0)
                return r;
        r = sd_bus_add_object_manager(bus, NULL, h->path);
        if (r < 0)
                return r;
        return instance_register(h, bus);
}
