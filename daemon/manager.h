/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's state: one engine, the components it hosts on the bus, the
 * sd-event loop that drives the engine's timers, and the access checks. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

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
        struct Journal *journal;
        struct EventId *ids; /* the SendEx event-id window, a ring */
        unsigned ids_next, ids_n;
} Host;

typedef struct UidEntry UidEntry;
typedef struct Parked Parked;
typedef struct PolkitQuery PolkitQuery;

/* a denial logged: the next for (uid, action) waits 10 s */
struct Denial {
        uid_t uid;
        const char *action; /* a static string */
        uint64_t logged;    /* CLOCK_MONOTONIC usec */
};

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

        /* the step being handled: what its signals carry */
        const char *correlation_id;

        /* access (access.c): caller uids by unique name, calls waiting for a uid or
         * for polkit, the answer a re-dispatched call carries, denials logged */
        UidEntry *uids;
        size_t n_uids, cap_uids;
        Parked *parked;
        uid_t own_uid;
        sd_bus_message *verdict_msg;
        int verdict; /* Verdict (polkit.h) */
        bool verdict_interactive;
        struct Denial denials[64];
        size_t n_denials;
        /* polkit (polkit.c): questions out, grants remembered */
        PolkitQuery *queries;
        struct Grant *grants;
        size_t n_grants, cap_grants;

        uint64_t n_steps, n_steps_last;
        uint64_t status_last_usec;

        /* durability (durable.c): set with --state-dir */
        bool durable;
        char *state_dir;
        int policy; /* JournalPolicy */
        char boot_id[64];
        const char *current_event_id; /* the SendEx in progress */
        sd_bus_message **outq;        /* waiting for the sync */
        char **outq_emit;             /* or emissions: kind + path */
        size_t outq_n, outq_cap;
        bool unsynced;
        sd_event_source *flush;

        /* routed events to other processes (outbox.c) */
        struct OutEntry *out;
        size_t out_n, out_cap;
        bool out_inflight, out_warned;
        uint64_t out_backoff;
        sd_event_source *out_retry;
        sd_bus *out_peer;             /* to the target's worker socket (peer to peer) */
        char *out_peer_target;
        sd_event_source *out_linger;
        struct PeerSocket {
                char *target, *socket; /* "" : none */
        } *peer_sockets;
        size_t n_peer_sockets;
        uint64_t route_seq; /* without a journal */
        struct Hwm *hwm;
        size_t n_hwm;
        struct {
                bool set;
                const char *source;
                uint64_t seq;
                unsigned rule;
        } delivery; /* the Deliver in progress */

        /* exec and unit actions (work.c) */
        struct Work **works;
        size_t n_works, cap_works;
        char **allow_units;           /* globs: the units unit actions may name */
        sd_bus_slot *job_removed;
        sd_event_source *work_defer;
        const char *work_done_id;     /* the outcome being delivered: its record says so */
        bool work_done_recorded;
        uint64_t work_seq;            /* ids without a journal */
        bool system_bus;              /* on the system bus (not --user, --bus-address) */
        bool exec_units;              /* exec actions run as xfsm-exec@.service units */

        /* idle exit */
        uint64_t idle_usec;     /* 0: never */
        uint64_t last_activity; /* CLOCK_MONOTONIC usec */
        sd_event_source *idle_timer;
        unsigned n_peers;
        unsigned names_to_release;
};

/* Idle out after usec without work (--idle-timeout in xfsmd(8)). */
int manager_set_idle(Manager *m, uint64_t usec);

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);

/* Load components (paths or stems found in the components directories). */
int manager_load_file(Manager *m, const char *path);
int manager_load_stem(Manager *m, const char *stem);

/* Attach to a bus (already started) and register every hosted component. */
int manager_attach_bus(Manager *m, sd_bus *bus, bool peer);
/* Request org.xfsm1.<Name> for every component (not on a peer connection). */
int manager_request_names(Manager *m);
/* After anything that may have armed or cancelled a timer. */
void manager_rearm_timer(Manager *m);

Host *manager_find_host(Manager *m, const char *name);
/* Where components are installed ($XFSM_COMPONENT_PATH or /etc/xfsm/components:/usr/share/xfsm/components),
 * and the file of the component with this YAML name (1, path in ret_path), other than skip; 0 if none. */
const char *manager_component_dirs(void);
int manager_find_component_file(const char *name, const char *skip, char **ret_path);
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
/* Send event to i and reply with the new state (or set error). */
int host_send(Host *h, sd_bus_message *msg, xfsm_instance *i, const char *event, const char *payload,
              const char *event_id, const char *correlation, sd_bus_error *error);

/* access.c: may the caller of msg do action (org.xfsm1.send-event, ...) with
 * these details? 1 yes, 0 parked (handler runs again with msg once the
 * answer is known), <0 refused (error set). action NULL: the workers' own
 * methods (Deliver), for root and the daemon's user only. */
struct AccessDetails;
int access_check(Manager *m, sd_bus_message *msg, const char *action, const struct AccessDetails *d,
                 sd_bus_message_handler_t handler, void *userdata, sd_bus_error *error);
int access_setup(Manager *m);
void access_done(Manager *m);
