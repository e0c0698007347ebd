/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The manager: components loaded into one engine, their objects on the bus,
 * each committed step turned into signals and journal records, the engine's
 * timers driven by one CLOCK_BOOTTIME source. */

#include <dirent.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "component-files.h"
#include "bus-errors.h"
#include "deliver.h"
#include "durable.h"
#include "hwm.h"
#include "idle.h"
#include "outbox.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "work.h"

#define DEFAULT_HISTORY_LIMIT 1000

static void on_step(void *userdata, const xfsm_step *s);
static bool manager_busy(void *userdata);

/* The outbox's transport and acknowledgements (outbox.h). */
static int outbox_send(void *userdata, const OutEntry *const *entries, size_t n) {
        Manager *m = userdata;
        return delivery_send(m->delivery, entries, n);
}

static void outbox_acked_cb(void *userdata, const OutEntry *e) {
        Manager *m = userdata;
        durable_acked(m->durable, e);
}

static const OutboxOps outbox_ops = {
        .send = outbox_send,
        .acked = outbox_acked_cb,
};

static void delivery_done(void *userdata, const char *target, size_t taken, int r, const char *message) {
        Manager *m = userdata;
        outbox_delivered(m->outbox, target, taken, r, message);
}

int manager_new(Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof *m);
        int r;

        if (!m)
                return -ENOMEM;
        m->engine = xfsm_engine_new();
        if (!m->engine)
                return -ENOMEM;
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = durable_new(&m->durable, m);
        if (r < 0)
                return r;
        r = outbox_new(&m->outbox, m->event, &outbox_ops, m);
        if (r < 0)
                return r;
        r = delivery_new(&m->delivery, m->event, delivery_done, m);
        if (r < 0)
                return r;
        r = hwm_new(&m->hwm);
        if (r < 0)
                return r;
        r = work_new(&m->work, m);
        if (r < 0)
                return r;
        r = idle_new(&m->idle, m->event, manager_busy, m);
        if (r < 0)
                return r;
        manager_set_history_limit(m, DEFAULT_HISTORY_LIMIT);
        m->outbox_limit = OUTBOX_LIMIT;
        m->queue_limit = QUEUE_LIMIT;
        xfsm_engine_set_step_handler(m->engine, on_step, m);
        *ret = TAKE_PTR(m);
        return 0;
}

/* Each entry may take its event and both states at their longest names
 * (XFSM_MAX_NAME), so that the limit in entries is the one that binds. */
#define HISTORY_BYTES_PER_ENTRY 1024

void manager_set_history_limit(Manager *m, unsigned limit) {
        m->history_limit = limit;
        xfsm_engine_set_history_limit(m->engine, limit, MAX((size_t) limit * HISTORY_BYTES_PER_ENTRY,
                                                            (size_t) XFSM_HISTORY_DEFAULT_MAX_BYTES));
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->access = access_free(m->access);
        sd_event_source_disable_unref(m->timer);
        sd_event_source_disable_unref(m->status_timer);
        m->idle = idle_free(m->idle);
        for (size_t k = 0; k < m->n_peers; k++) {
                (void) sd_bus_detach_event(m->peers[k]);
                sd_bus_flush_close_unref(m->peers[k]);
        }
        free(m->peers);
        sd_event_source_disable_unref(m->fresh_kick);
        for (size_t k = 0; k < m->n_fresh; k++)
                sd_bus_unref(m->fresh[k]);
        free(m->fresh);
        xfsm_engine_free(m->engine);
        m->work = work_free(m->work); /* kills commands still running: after a restart they are "interrupted" */
        m->durable = durable_free(m->durable);
        m->outbox = outbox_free(m->outbox);
        m->delivery = delivery_free(m->delivery);
        m->hwm = hwm_free(m->hwm);
        for (size_t k = 0; k < m->n_hosts; k++) {
                free(m->hosts[k].stem);
                free(m->hosts[k].file);
                free(m->hosts[k].name);
                free(m->hosts[k].path);
                free(m->hosts[k].bus_name);
                free(m->hosts[k].path_template);
        }
        free(m->hosts);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static void print_diag(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                       const char *message) {
        if (line > 0)
                log_internal(severity == XFSM_DIAG_ERROR ? LOG_ERR : LOG_WARNING, 0, "%s:%u:%u: %s: %s", file, line,
                             column, severity == XFSM_DIAG_ERROR ? "error" : "warning", message);
        else
                log_internal(LOG_ERR, 0, "%s: %s", file, message);
}

static int add_host(Manager *m, const char *name) {
        Host *hosts = realloc(m->hosts, (m->n_hosts + 1) * sizeof *hosts), *h;

        if (!hosts)
                return -ENOMEM;
        m->hosts = hosts;
        h = &m->hosts[m->n_hosts];
        *h = (Host) { .manager = m };
        if (asprintf(&h->path, "/org/xfsm1/%s", name) < 0 || asprintf(&h->bus_name, "org.xfsm1.%s", name) < 0 ||
            asprintf(&h->path_template, "/org/xfsm1/%s/%%/%%", name) < 0 || !(h->name = strdup(name)))
                return -ENOMEM;
        m->n_hosts++;
        return 0;
}

int manager_load_file(Manager *m, const char *path) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t n = strlen(base);
        int r = xfsm_engine_load_file(m->engine, path, print_diag, NULL);
        if (r < 0)
                return log_error_errno(r == -XFSM_E_LOAD_FAILED ? -EINVAL : r, "Failed to load %s", path);
        r = add_host(m, xfsm_engine_component_name(m->engine, xfsm_engine_n_components(m->engine) - 1));
        if (r < 0)
                return r;
        if (n > 5 && streq(base + n - 5, ".yaml"))
                n -= 5;
        m->hosts[m->n_hosts - 1].stem = strndup(base, n);
        m->hosts[m->n_hosts - 1].file = realpath(path, NULL) ?: strdup(path);
        return m->hosts[m->n_hosts - 1].stem && m->hosts[m->n_hosts - 1].file ? 0 : -ENOMEM;
}

/* Two files with one YAML name cannot both be hosted by their stems: the
 * name is the bus name and the routing address (xfsmd(8)). */
static int check_name_unique(const char *path, const char *name) {
        char *other = NULL;
        int r = component_file_find(name, path, &other);
        if (r > 0) {
                r = log_error_errno(-EEXIST, "%s and %s both name component %s: one name, one file", path, other,
                                    name);
                free(other);
        }
        return r;
}

int manager_load_stem(Manager *m, const char *stem) {
        const char *dirs = component_dirs();
        char path[PATH_MAX];

        if (!*stem || strchr(stem, '/') || stem[0] == '.')
                return log_error_errno(-EINVAL, "Invalid component stem '%s'", stem);
        for (const char *p = dirs; *p;) {
                size_t n = strcspn(p, ":");
                if (n > 0) {
                        snprintf(path, sizeof path, "%.*s/%s.yaml", (int) n, p, stem);
                        if (access(path, F_OK) == 0) {
                                int r = manager_load_file(m, path);
                                if (r < 0)
                                        return r;
                                return check_name_unique(path, m->hosts[m->n_hosts - 1].name);
                        }
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return log_error_errno(-ENOENT, "No component '%s' in %s", stem, dirs);
}

Host *manager_find_host(Manager *m, const char *name) {
        for (size_t k = 0; k < m->n_hosts; k++)
                if (streq(m->hosts[k].name, name))
                        return &m->hosts[k];
        return NULL;
}

char *instance_path_for(const Host *h, const char *machine, const char *id) {
        char *prefix, *path = NULL;

        if (asprintf(&prefix, "%s/%s", h->path, machine) < 0)
                return NULL;
        if (sd_bus_path_encode(prefix, id, &path) < 0)
                path = NULL;
        free(prefix);
        return path;
}

char *instance_path(const Host *h, xfsm_instance *i) {
        return instance_path_for(h, xfsm_instance_machine(i), xfsm_instance_id(i));
}

xfsm_instance *host_instance_from_path(Host *h, const char *path) {
        char *machine = NULL, *id = NULL;
        xfsm_instance *i = NULL;

        if (sd_bus_path_decode_many(path, h->path_template, &machine, &id) <= 0)
                return NULL;
        i = xfsm_engine_find(h->manager->engine, id);
        if (i && (!streq(xfsm_instance_machine(i), machine) || !streq(xfsm_instance_component(i), h->name)))
                i = NULL;
        free(machine);
        free(id);
        return i;
}

/* ---- steps out: signals, journal ----------------------------------------- */

/* A signal now, or once the step's record is durable (batch). */
static int signal_out(Manager *m, const char *path, const char *iface, const char *member, const char *types, ...) {
        sd_bus_message *msg = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_signal(m->bus, &msg, path, iface, member);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(msg, types, ap);
        va_end(ap);
        if (r >= 0)
                r = durable_deferring(m->durable) ? durable_queue(m->durable, msg) : sd_bus_send(m->bus, msg, NULL);
        sd_bus_message_unref(msg);
        return r;
}

/* org.freedesktop.DBus.Properties.PropertiesChanged of the instance's State
 * and UpdatedAt (or Status), with their values at this step, built as one
 * message: sd_bus_emit_properties_changed() would find the object through
 * the fallback vtable and call a getter per property for the same message,
 * a quarter of what a Send cost (see "Benchmarks" in README.md). */
static int properties_changed_out(Manager *m, const char *path, xfsm_instance *i, bool status) {
        if (status)
                return signal_out(m, path, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                                  "org.xfsm1.Instance", 1, "Status", "s", xfsm_instance_status(i), 0);
        return signal_out(m, path, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                          "org.xfsm1.Instance", 2, "State", "s", xfsm_instance_state(i), "UpdatedAt", "t",
                          (uint64_t) xfsm_instance_updated_at(i) * 1000, 0);
}

static void emit_for_instance(Manager *m, Host *h, const xfsm_effect *f, const char *correlation_id) {
        xfsm_instance *i = xfsm_engine_find(m->engine, xfsm_effect_instance_id(f));
        bool defer = durable_deferring(m->durable);
        char *path;
        int r = 0;

        if (!i || !m->bus)
                return;
        path = instance_path(h, i);
        if (!path)
                return;

        switch (xfsm_effect_get_kind(f)) {
        case XFSM_EFFECT_INSTANCE_CREATED:
                r = defer ? durable_queue_emit(m->durable, 'A', path) : sd_bus_emit_object_added(m->bus, path);
                if (r >= 0)
                        r = signal_out(m, h->path, "org.xfsm1.Component", "InstanceCreated", "ss", xfsm_instance_id(i),
                                       xfsm_instance_machine(i));
                break;
        case XFSM_EFFECT_TRANSITION:
                r = signal_out(m, path, "org.xfsm1.Instance", "Transition", "ssss", xfsm_effect_from(f),
                               xfsm_effect_to(f), xfsm_effect_event(f), correlation_id ?: "");
                if (r >= 0)
                        r = properties_changed_out(m, path, i, false);
                break;
        case XFSM_EFFECT_COMPLETED:
                r = properties_changed_out(m, path, i, true);
                break;
        case XFSM_EFFECT_METHOD:
                r = signal_out(m, path, "org.xfsm1.Instance", "MethodCalled", "ss", xfsm_effect_method(f),
                               xfsm_effect_event(f) ?: "");
                break;
        case XFSM_EFFECT_DROPPED:
                r = signal_out(m, h->path, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "oas", path, 1,
                               "org.xfsm1.Instance");
                break;
        default:
                break;
        }
        if (r < 0)
                log_debug("Failed to emit a signal for %s: %s", path, strerror(-r));
        free(path);
}

int manager_reply(Manager *m, sd_bus_message *call, const char *types, ...) {
        sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(reply, types, ap);
        va_end(ap);
        if (r >= 0)
                r = durable_deferring(m->durable) ? durable_queue(m->durable, reply) : sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 1; /* handled, even if the reply waits for the sync */
}

/* Engine calls with an origin: the engine hands it back with each step of the call. */
int manager_send(Manager *m, xfsm_instance *i, const char *event, const char *payload, StepOrigin *origin,
                 const char **ret_state) {
        int r = xfsm_instance_send_from(m->engine, i, event, payload, origin, ret_state);

        manager_rearm_timer(m);
        return r;
}

int manager_deliver(Manager *m, const xfsm_routed *rt, StepOrigin *origin, unsigned *ret_delivered) {
        int r = xfsm_engine_deliver_from(m->engine, rt, origin, ret_delivered);

        manager_rearm_timer(m);
        return r;
}

static void on_step(void *userdata, const xfsm_step *s) {
        Manager *m = userdata;
        Host *h = manager_find_host(m, xfsm_step_component(s));
        StepOrigin none = {}, *origin = &none, *call = xfsm_step_origin(s);

        /* the call's own step is its first; cascades it makes here carry only its correlation id */
        if (call) {
                if (call->steps++ == 0)
                        origin = call;
                else
                        none.correlation_id = call->correlation_id;
        }
        m->n_steps++;
        idle_touch(m->idle);
        if (!h)
                return;
        /* the record first: nothing of the step leaves before it */
        if (durable_record(m->durable, h, s, origin) < 0)
                return;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *f = xfsm_step_effect(s, k);

                switch (xfsm_effect_get_kind(f)) {
                case XFSM_EFFECT_TRANSITION:
                        log_transition(h->name, xfsm_effect_machine(f), xfsm_effect_instance_id(f),
                                       xfsm_effect_event(f), xfsm_effect_from(f), xfsm_effect_to(f));
                        emit_for_instance(m, h, f, origin->correlation_id);
                        break;
                case XFSM_EFFECT_DROPPED:
                        emit_for_instance(m, h, f, NULL);
                        break;
                case XFSM_EFFECT_REFUSED:
                        log_debug("%s %s: %s refused: %s", h->name, xfsm_effect_instance_id(f) ?: "-",
                                  xfsm_effect_event(f) ?: "-", xfsm_effect_message(f));
                        break;
                case XFSM_EFFECT_UNIT:
                case XFSM_EFFECT_EXEC:
                        break; /* work.c runs them once the record is durable (durable_record) */
                case XFSM_EFFECT_ROUTED: {
                        const xfsm_routed *r = xfsm_effect_routed(f);
                        if (!manager_find_host(m, xfsm_routed_target_component(r)))
                                log_debug("%s: %s for %s waits in the outbox", h->name,
                                          xfsm_routed_event(r) ?: "create", xfsm_routed_target_component(r));
                        break;
                }
                default:
                        emit_for_instance(m, h, f, NULL);
                }
        }
}

/* ---- timers ---------------------------------------------------------------- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->timer_armed_usec = 0;
        (void) xfsm_engine_run_due(m->engine);
        manager_rearm_timer(m);
        return 0;
}

void manager_rearm_timer(Manager *m) {
        uint64_t next = UINT64_MAX, d, usec;
        int r;

        if (xfsm_engine_next_deadline(m->engine, &d))
                next = d;
        if (xfsm_engine_next_retention(m->engine, &d) && d < next)
                next = d;
        if (next == UINT64_MAX) {
                if (m->timer)
                        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
                m->timer_armed_usec = 0;
                return;
        }
        usec = next * 1000;
        if (m->timer_armed_usec == usec)
                return;
        if (!m->timer) {
                /* 1 ms accuracy: the default (250 ms) is too coarse for state machines */
                r = sd_event_add_time(m->event, &m->timer, CLOCK_BOOTTIME, usec, 1000, on_timer, m);
                if (r < 0) {
                        log_error_errno(r, "Failed to add the timer source: %m");
                        return;
                }
                (void) sd_event_source_set_description(m->timer, "engine-timers");
        } else {
                (void) sd_event_source_set_time(m->timer, usec);
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
        }
        m->timer_armed_usec = usec;
}

/* ---- service status ------------------------------------------------------- */

static int on_status(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        double seconds = m->status_last_usec ? (double) (usec - m->status_last_usec) / 1e6 : 0;
        double rate = seconds > 0 ? (double) (m->n_steps - m->n_steps_last) / seconds : 0;

        m->status_last_usec = usec;
        m->n_steps_last = m->n_steps;
        (void) sd_notifyf(0, "STATUS=%zu components, %zu instances, %.0f events/s", m->n_hosts,
                          xfsm_engine_n_instances(m->engine), rate);
        (void) sd_event_source_set_time(s, usec + 5 * 1000000ULL);
        return 0;
}

int manager_attach_bus(Manager *m, sd_bus *bus, bool peer) {
        uint64_t now;
        int r;

        m->bus = sd_bus_ref(bus);
        m->peer = peer;
        delivery_set_bus(m->delivery, peer ? NULL : bus);
        outbox_set_enabled(m->outbox, !peer); /* never from a peer-to-peer test connection */
        for (size_t k = 0; k < m->n_hosts; k++) {
                r = host_register(&m->hosts[k], bus);
                if (r < 0)
                        return log_error_errno(r, "Failed to register %s: %m", m->hosts[k].path);
        }
        r = access_new(&m->access, m->event, bus, peer);
        if (r < 0)
                return r;
        r = access_setup(m->access);
        if (r < 0)
                return r;
        if (!m->status_timer && sd_event_now(m->event, CLOCK_MONOTONIC, &now) >= 0) {
                r = sd_event_add_time(m->event, &m->status_timer, CLOCK_MONOTONIC, now + 5 * 1000000ULL, 1000000,
                                      on_status, m);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int on_peer_gone(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        sd_bus *peer = sd_bus_message_get_bus(msg);
        Manager *m = userdata;

        for (size_t k = 0; k < m->n_peers; k++)
                if (m->peers[k] == peer) {
                        m->peers[k] = m->peers[--m->n_peers];
                        (void) sd_bus_detach_event(peer);
                        sd_bus_unref(peer); /* the reference taken when it came */
                        break;
                }
        return 0;
}

/* A client may send its first call in the same write as the end of its
 * authentication (libdbus does: "BEGIN\r\n" and the message together).
 * sd-bus reads both while authenticating and keeps the call in its buffer,
 * but nothing wakes the connection for it again: no more data comes, and
 * the call would wait until the client hangs up. So after each dispatch,
 * a connection still fresh is processed until it has nothing more; it stops
 * being fresh once it was so processed past its authentication. */
static int on_fresh_kick(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        size_t k = 0;

        while (k < m->n_fresh) {
                sd_bus *peer = m->fresh[k];
                int r;

                do
                        r = sd_bus_process(peer, NULL);
                while (r > 0);
                if (r < 0 || sd_bus_is_ready(peer) > 0 || sd_bus_is_open(peer) <= 0) {
                        m->fresh[k] = m->fresh[--m->n_fresh];
                        sd_bus_unref(peer);
                } else
                        k++;
        }
        if (m->n_fresh == 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static int fresh_add(Manager *m, sd_bus *peer) {
        sd_bus **v;
        int r;

        v = reallocarray(m->fresh, m->n_fresh + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        m->fresh = v;
        if (!m->fresh_kick) {
                r = sd_event_add_post(m->event, &m->fresh_kick, on_fresh_kick, m);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(m->fresh_kick, "peer-fresh");
        }
        r = sd_event_source_set_enabled(m->fresh_kick, SD_EVENT_ON);
        if (r < 0)
                return r;
        m->fresh[m->n_fresh++] = sd_bus_ref(peer);
        return 0;
}

int manager_add_peer(Manager *m, sd_bus *peer) {
        sd_bus **v;
        int r;

        assert(m);
        assert(peer);
        v = reallocarray(m->peers, m->n_peers + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        m->peers = v;
        r = sd_bus_attach_event(peer, m->event, SD_EVENT_PRIORITY_NORMAL);
        for (size_t k = 0; r >= 0 && k < m->n_hosts; k++)
                r = host_register(&m->hosts[k], peer);
        if (r >= 0)
                r = sd_bus_match_signal(peer, NULL, "org.freedesktop.DBus.Local", NULL, "org.freedesktop.DBus.Local",
                                        "Disconnected", on_peer_gone, m);
        if (r >= 0)
                r = fresh_add(m, peer);
        if (r < 0)
                return r;
        m->peers[m->n_peers++] = sd_bus_ref(peer);
        return 0;
}

int manager_request_names(Manager *m) {
        int r;

        if (m->peer)
                return 0;
        for (size_t k = 0; k < m->n_hosts; k++) {
                r = sd_bus_request_name(m->bus, m->hosts[k].bus_name, 0);
                if (r < 0)
                        return log_error_errno(r, "Failed to own %s: %m", m->hosts[k].bus_name);
        }
        return 0;
}

/* ---- idling out (idle.c) ---------------------------------------------------------- */

static bool manager_busy(void *userdata) {
        Manager *m = userdata;
        uint64_t d;

        return access_busy(m->access) || m->n_peers > 0 || durable_busy(m->durable) ||
               outbox_pending(m->outbox, NULL) > 0 ||
               work_busy(m) || xfsm_engine_next_deadline(m->engine, &d);
}

int manager_set_idle(Manager *m, uint64_t usec) {
        _cleanup_(freep) char **names = calloc(m->n_hosts + 1, sizeof *names);

        if (!names)
                return -ENOMEM;
        for (size_t k = 0; k < m->n_hosts; k++)
                names[k] = m->hosts[k].bus_name;
        return idle_start(m->idle, m->bus, m->peer, names, usec);
}
