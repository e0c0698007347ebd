/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's state: one engine, the components it hosts on the bus, the
 * sd-event loop that drives the engine's timers, and the access checks. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "access.h"
#include "macro.h"
#include "xfsm.h"

typedef struct Manager Manager;

typedef struct Host {
        Manager *manager;
        char *name;     /* the YAML name: org.xfsm1.<name>, /org/xfsm1/<name> */
        char *path;     /* /org/xfsm1/<name> */
        char *bus_name; /* org.xfsm1.<name> */
        char *path_template; /* /org/xfsm1/<name>/%/% for sd_bus_path_decode_many() */
        char *stem;     /* the file's name without .yaml: its state directory */
        char *file;     /* the file it was loaded from: Reload reads it again */
} Host;

/* What the daemon knows of the call a step comes from, beyond the engine:
 * given to the engine call (manager_send() and friends), which hands it back
 * with each step of the call (xfsm_step_origin()); the step handler writes
 * it into the step's record and signals. */
typedef struct StepOrigin {
        const char *event_id;       /* SendEx's event id: the record remembers the result */
        const char *correlation_id; /* carried by the step's Transition signals */
        const struct RouteId *delivery; /* a Deliver: the record raises its high-water mark */
        const char *work_done;      /* an outcome of work: the record says that work is done */
        unsigned steps;             /* steps committed so far by the call (the first is its own) */
        bool recorded;              /* set by the step handler: the call's step made its record */
} StepOrigin;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        bool peer; /* a peer-to-peer connection (socketpair, worker socket): no broker */
        xfsm_engine *engine;
        Host *hosts;
        size_t n_hosts;
        sd_event_source *timer;
        uint64_t timer_armed_usec;
        sd_event_source *status_timer;
        unsigned history_limit;
        unsigned outbox_limit; /* routed events waiting: past it, Send answers Busy */
        unsigned queue_limit;  /* calls whose answers wait for their records to be durable: past it, Busy */


        /* who may do what (access.c) */
        Access *access;

        uint64_t n_steps, n_steps_last;
        uint64_t status_last_usec;

        struct Durable *durable;   /* journals, snapshots, group commit (durable.c) */
        struct Outbox *outbox;     /* routed events to other processes (outbox.c) */
        struct Delivery *delivery; /* how they reach their targets (deliver.c) */
        struct HwmTable *hwm;      /* routed events taken, per source (hwm.c) */

        struct WorkSet *work;      /* exec and unit actions (work.c) */
        bool system_bus;              /* on the system bus (not --user, --bus-address) */

        struct Idle *idle;        /* idling out (idle.c) */
        sd_bus **peers;           /* connections on the worker socket (closed with the manager) */
        size_t n_peers;
        sd_bus **fresh;           /* of those, the ones not yet processed once past their authentication */
        size_t n_fresh;
        sd_event_source *fresh_kick;
};

/* Idle out after usec without work (idle.h). */
int manager_set_idle(Manager *m, uint64_t usec);

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Load components (paths or stems found in the components directories). */
int manager_load_file(Manager *m, const char *path);
int manager_load_stem(Manager *m, const char *stem);

/* Attach to a bus (already started) and register every hosted component. */
int manager_attach_bus(Manager *m, sd_bus *bus, bool peer);
/* A connection accepted on the worker socket: the manager serves it and
 * closes it when it goes (on its Disconnected) or with the manager. */
int manager_add_peer(Manager *m, sd_bus *peer);
/* GetHistory's limit: entries kept per instance (0: none), and room for their text. */
void manager_set_history_limit(Manager *m, unsigned limit);
/* Request org.xfsm1.<Name> for every component (not on a peer connection). */
int manager_request_names(Manager *m);
/* After anything that may have armed or cancelled a timer. */
void manager_rearm_timer(Manager *m);

Host *manager_find_host(Manager *m, const char *name);
/* Where components are installed ($XFSM_COMPONENT_PATH or /etc/xfsm/components:/usr/share/xfsm/components),
 * and the file of the component with this YAML name (1, path in ret_path), other than skip; 0 if none. */
/* The object path of an instance (malloc'd): /org/xfsm1/<Name>/<Machine>/<escaped id> */
char *instance_path(const Host *h, xfsm_instance *i);
char *instance_path_for(const Host *h, const char *machine, const char *id);
/* The instance a path names, or NULL. */
xfsm_instance *host_instance_from_path(Host *h, const char *path);

/* vtables (component-dbus.c, instance-dbus.c, manager-dbus.c) */
int manager_api_register(Manager *m, sd_bus *bus);
int host_register(Host *h, sd_bus *bus);
int instance_register(Host *h, sd_bus *bus);
/* The a{sv} options of SendEx: event_id and correlation_id (both may stay NULL). */
int read_send_options(sd_bus_message *msg, const char **ret_event_id, const char **ret_correlation,
                      sd_bus_error *error);
/* Reply now, or once the records of this call are durable. */
int manager_reply(Manager *m, sd_bus_message *call, const char *types, ...);
/* Engine calls that carry an origin (the step handler reads it). */
int manager_send(Manager *m, xfsm_instance *i, const char *event, const char *payload, StepOrigin *origin,
                 const char **ret_state);
int manager_deliver(Manager *m, const xfsm_routed *r, StepOrigin *origin, unsigned *ret_delivered);
/* Send event to i and reply with the new state (or set error). */
int host_send(Host *h, sd_bus_message *msg, xfsm_instance *i, const char *event, const char *payload,
              const char *event_id, const char *correlation, sd_bus_error *error);

