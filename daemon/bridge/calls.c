/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Calls from any node (see calls.h): the caller's side (the Component
 * methods under /org/xfsm1/Bridge, forwarding), the home's side (running
 * the calls of other nodes), and the one reader of both streams. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-id128.h>

#include "bus-errors.h"
#include "calls.h"
#include "entry.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define PREFIX "/org/xfsm1/Bridge"
#define READ_COUNT 128
#define BLOCK_MS 2000
#define READ_TIMEOUT_USEC ((BLOCK_MS + 3000ULL) * 1000ULL)
#define COMMAND_USEC (3000ULL * 1000ULL)
#define CLOCK_USEC (30ULL * 1000000ULL)
#define STREAM_MAXLEN "10000"
#define LIST_PART 500         /* instances per reply entry */
#define START_MARGIN_MS 200   /* a call is not started this close to its deadline */
#define RECENT 1024           /* call ids run here, remembered against copies */
#define MACHINES_MAX 4096     /* (component, instance) -> machine, kept */
#define RATE_PER_SEC 50       /* calls per second of one unprivileged uid, */
#define RATE_BURST 100        /* and the burst allowed */
#define RATE_UIDS 64

typedef enum CallKind {
        CALL_CREATE_INSTANCE,
        CALL_SEND,
        CALL_SEND_EX,
        CALL_BROADCAST,
        CALL_LIST_INSTANCES,
        CALL_GET_INSTANCE,
        CALL_GET_CONTEXT,
        CALL_GET_HISTORY,
        CALL_MACHINE,  /* the machine of an instance, for polkit's details */
        CALL_DESCRIBE, /* the component's Version, Machines and Definition, for its properties here */
        _CALL_KIND_MAX,
} CallKind;

static const char *const call_names[_CALL_KIND_MAX] = {
        [CALL_CREATE_INSTANCE] = "CreateInstance",
        [CALL_SEND] = "Send",
        [CALL_SEND_EX] = "SendEx",
        [CALL_BROADCAST] = "Broadcast",
        [CALL_LIST_INSTANCES] = "ListInstances",
        [CALL_GET_INSTANCE] = "GetInstance",
        [CALL_GET_CONTEXT] = "GetContext",
        [CALL_GET_HISTORY] = "GetHistory",
        [CALL_MACHINE] = "Machine",
        [CALL_DESCRIBE] = "Describe",
};

/* the string arguments each takes (SendEx: and its options, apart) */
static const unsigned call_n_args[_CALL_KIND_MAX] = {
        [CALL_CREATE_INSTANCE] = 2, [CALL_SEND] = 3,          [CALL_SEND_EX] = 3,
        [CALL_BROADCAST] = 4,       [CALL_LIST_INSTANCES] = 2, [CALL_GET_INSTANCE] = 1,
        [CALL_GET_CONTEXT] = 1,     [CALL_GET_HISTORY] = 1,    [CALL_MACHINE] = 1,
        [CALL_DESCRIBE] = 0,
};

static CallKind call_kind_from_string(const char *s) {
        for (CallKind k = 0; k < _CALL_KIND_MAX; k++)
                if (streq(call_names[k], s))
                        return k;
        return _CALL_KIND_MAX;
}

/* A call sent to another node, waiting for its answer. */
typedef struct Pending Pending;
struct Pending {
        Pending *next;
        Calls *calls;
        char id[SD_ID128_STRING_MAX];
        CallKind kind;
        char *component;
        char *machine;              /* CreateInstance: for the path answered */
        char *instance;             /* CALL_MACHINE: which instance */
        sd_bus_message *msg;        /* the caller's call */
        sd_bus_message_handler_t redo; /* CALL_MACHINE: run msg again through this once known */
        sd_event_source *timer;
        json_object *results;       /* the parts' results, concatenated */
        unsigned parts, got;
};

/* A stream read: this node's replies, or the calls of a component homed here. */
typedef struct Stream {
        char *key;
        char *component; /* NULL: the replies */
        char cursor[48];
} Stream;

/* A call from another node, run here. */
typedef struct Running Running;
struct Running {
        Running *next;
        Calls *calls;
        CallKind kind;
        char id[64];
        char *component;
        char *caller; /* its node */
        sd_bus_slot *slot;
        bool fallback; /* a Send tried as SendEx first */
        json_object *args;
        char *event_id, *correlation_id;
};

/* What the home says of a component homed elsewhere, for its properties here. */
typedef struct Described {
        char *component, *version, *definition;
        char **machines;
        uint64_t fetched; /* CLOCK_MONOTONIC usec; 0: never */
        bool asking;
} Described;

#define DESCRIBE_MAX_AGE_USEC (30ULL * 1000000ULL)

typedef struct MachineEntry {
        char *component, *instance, *machine;
} MachineEntry;

typedef struct Rate {
        uid_t uid;
        double tokens;
        uint64_t last; /* CLOCK_MONOTONIC usec */
} Rate;

struct Calls {
        sd_event *event;
        sd_bus *bus;
        RedisConn *writer, *reader;
        RedisConn *transitions; /* subscribed to the transitions of the components homed elsewhere */
        NodeKeyring *keyring;
        Directory *directory;
        Access *access;
        char *replies_key;
        sd_bus_slot *vtable;
        sd_event_source *clock;
        Pending *pending;
        Running *running; /* calls of other nodes out to the workers */
        Stream *streams;
        size_t n_streams;
        bool reading, freeing;
        int64_t offset_ms; /* Redis's time minus this host's, in ms */
        bool have_offset;
        char recent[RECENT][64];
        size_t recent_next;
        Described *described;
        size_t n_described;
        MachineEntry machines[MACHINES_MAX];
        size_t n_machines;
        Rate rates[RATE_UIDS];
        size_t n_rates;
        CallsStats stats;
};

static void calls_read(Calls *c);

static char **strv_free(char **v) {
        for (size_t k = 0; v && v[k]; k++)
                free(v[k]);
        free(v);
        return NULL;
}

static json_object *json_unref(json_object *o) {
        json_object_put(o);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_unref);

/* ---- time ------------------------------------------------------------------------------- */

static int64_t local_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Redis's clock, as far as this host can tell (learned by TIME). */
static int64_t redis_now_ms(const Calls *c) {
        return local_now_ms() + c->offset_ms;
}

static void on_time(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        Calls *c = userdata;
        int64_t before = local_now_ms();

        if (error < 0 || c->freeing || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING)
                return;
        int64_t redis_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
                           strtoll(reply->element[1]->str, NULL, 10) / 1000;
        c->offset_ms = redis_ms - before;
        if (!c->have_offset) {
                c->have_offset = true;
                /* streams added before Redis's time was known start now */
                for (size_t k = 0; k < c->n_streams; k++)
                        if (!c->streams[k].cursor[0])
                                snprintf(c->streams[k].cursor, sizeof c->streams[k].cursor, "%lld-0",
                                         (long long) redis_ms);
                calls_read(c);
        }
}

static int on_clock(sd_event_source *s, uint64_t usec, void *userdata) {
        Calls *c = userdata;

        if (redis_conn_is_up(c->writer))
                (void) redis_command(c->writer, COMMAND_USEC, on_time, c, "TIME");
        (void) sd_event_source_set_time(s, usec + CLOCK_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/* ---- the caller's side: pending calls ---------------------------------------------------- */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        sd_bus_message_unref(p->msg);
        sd_event_source_disable_unref(p->timer);
        json_object_put(p->results);
        free(p->component);
        free(p->machine);
        free(p->instance);
        return mfree(p);
}

static void pending_unlink(Calls *c, Pending *p) {
        for (Pending **q = &c->pending; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        return;
                }
}

static Pending *pending_find(Calls *c, const char *id) {
        for (Pending *p = c->pending; p; p = p->next)
                if (streq(p->id, id))
                        return p;
        return NULL;
}

static const char *machine_known(const Calls *c, const char *component, const char *instance) {
        for (size_t k = 0; k < c->n_machines; k++)
                if (streq(c->machines[k].instance, instance) && streq(c->machines[k].component, component))
                        return c->machines[k].machine;
        return NULL;
}

static void machine_remember(Calls *c, const char *component, const char *instance, const char *machine) {
        MachineEntry *e;

        if (machine_known(c, component, instance))
                return;
        if (c->n_machines == MACHINES_MAX) {
                /* full: forget the older half (instances are asked for again when needed) */
                for (size_t k = 0; k < MACHINES_MAX / 2; k++) {
                        free(c->machines[k].component);
                        free(c->machines[k].instance);
                        free(c->machines[k].machine);
                }
                memmove(c->machines, c->machines + MACHINES_MAX / 2, (MACHINES_MAX / 2) * sizeof *c->machines);
                c->n_machines = MACHINES_MAX / 2;
        }
        e = &c->machines[c->n_machines];
        e->component = strdup(component);
        e->instance = strdup(instance);
        e->machine = strdup(machine);
        if (!e->component || !e->instance || !e->machine) {
                free(e->component);
                free(e->instance);
                free(e->machine);
                return;
        }
        c->n_machines++;
}

/* The answer to p's caller: an error named name, or (name NULL) its results. */
static Described *described_find(Calls *c, const char *component);

static void pending_answer_error(Pending *p, const char *name, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (p->kind == CALL_DESCRIBE) { /* asked by this bridge itself: asked again later */
                Described *d = described_find(p->calls, p->component);
                if (d)
                        d->asking = false;
                return;
        }
        (void) sd_bus_error_set(&error, name, message);
        (void) sd_bus_reply_method_error(p->msg, &error);
}

static bool error_name_is_safe(const char *name) {
        if (!name || strlen(name) > 255 ||
            (strncmp(name, "org.xfsm1.Error.", 16) != 0 && strncmp(name, "org.freedesktop.DBus.Error.", 27) != 0))
                return false;
        for (const char *s = name; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '.' || *s == '_'))
                        return false;
        return true;
}

static const char *json_str_at(json_object *a, size_t k) {
        json_object *v = json_object_array_get_idx(a, k);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int pending_answer(Pending *p) {
        Calls *c = p->calls;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_object *a = p->results;
        size_t n = json_object_array_length(a);
        const char *s;
        int r;

        if (p->kind == CALL_DESCRIBE) {
                Described *d = described_find(c, p->component);
                json_object *m = json_object_array_get_idx(a, 2);
                const char *version = json_str_at(a, 0), *definition = json_str_at(a, 1);
                char **machines;
                size_t nm;

                if (!d)
                        return 0;
                d->asking = false;
                if (!version || !definition || !m || !json_object_is_type(m, json_type_array))
                        return -EBADMSG;
                nm = json_object_array_length(m);
                machines = calloc(nm + 1, sizeof *machines);
                if (!machines)
                        return -ENOMEM;
                for (size_t k = 0; k < nm; k++)
                        if (!(machines[k] = strdup(json_str_at(m, k) ?: ""))) {
                                strv_free(machines);
                                return -ENOMEM;
                        }
                free(d->version);
                free(d->definition);
                strv_free(d->machines);
                d->version = strdup(version);
                d->definition = strdup(definition);
                d->machines = machines;
                (void) sd_event_now(c->event, CLOCK_MONOTONIC, &d->fetched);
                return 0;
        }

        if (p->kind == CALL_MACHINE) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                s = json_str_at(a, 0);
                if (!s)
                        return -EBADMSG;
                machine_remember(c, p->component, p->instance, s);
                /* now the call that needed it, with polkit's details */
                (void) sd_bus_message_rewind(p->msg, true);
                r = p->redo(p->msg, c, &error);
                if (r < 0) {
                        if (sd_bus_error_is_set(&error))
                                (void) sd_bus_reply_method_error(p->msg, &error);
                        else
                                (void) sd_bus_reply_method_errno(p->msg, r, NULL);
                }
                return 0;
        }

        r = sd_bus_message_new_method_return(p->msg, &reply);
        if (r < 0)
                return r;
        switch (p->kind) {
        case CALL_CREATE_INSTANCE: {
                _cleanup_(freep) char *path = NULL;
                s = json_str_at(a, 1);
                if (!s || sd_bus_path_encode_many(&path, PREFIX "/%/%/%", p->component, p->machine, s) < 0)
                        return -EBADMSG;
                machine_remember(c, p->component, s, p->machine);
                r = sd_bus_message_append(reply, "os", path, s);
                break;
        }
        case CALL_BROADCAST: {
                json_object *v = json_object_array_get_idx(a, 0);
                if (!v || !json_object_is_type(v, json_type_int))
                        return -EBADMSG;
                r = sd_bus_message_append(reply, "u", (uint32_t) json_object_get_int64(v));
                break;
        }
        case CALL_LIST_INSTANCES:
                r = sd_bus_message_open_container(reply, 'a', "(ssso)");
                for (size_t k = 0; r >= 0 && k < n; k++) {
                        json_object *t = json_object_array_get_idx(a, k);
                        const char *id = json_str_at(t, 0), *machine = json_str_at(t, 1), *state = json_str_at(t, 2);
                        _cleanup_(freep) char *path = NULL;

                        if (!id || !machine || !state)
                                return -EBADMSG;
                        r = sd_bus_path_encode_many(&path, PREFIX "/%/%/%", p->component, machine, id);
                        if (r >= 0)
                                r = sd_bus_message_append(reply, "(ssso)", id, machine, state, path);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                break;
        default: /* one string */
                s = json_str_at(a, 0);
                if (!s)
                        return -EBADMSG;
                r = sd_bus_message_append(reply, "s", s);
        }
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static void pending_done(Calls *c, Pending *p) {
        pending_unlink(c, p);
        pending_free(p);
}

static int on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Pending *p = userdata;
        Calls *c = p->calls;

        c->stats.unavailable++;
        pending_answer_error(p, "org.xfsm1.Error.Unavailable", "no answer from the home of the component in time");
        pending_done(c, p);
        return 0;
}

/* A reply entry read from this node's replies stream. */
static void handle_reply(Calls *c, const char *const *argv, const size_t *argvlen, size_t n) {
        _cleanup_(entry_freep) Entry *e = NULL;
        _cleanup_(json_unrefp) json_object *body = NULL;
        json_object *v, *result;
        EntryDead dead = {};
        const char *id, *home, *error_name;
        unsigned part, parts;
        Pending *p;
        int r;

        r = entry_parse_message(c->keyring, ENTRY_REPLY, argv, argvlen, n, &e, &dead);
        if (r != ENTRY_VALID) {
                c->stats.refused++;
                log_debug("A reply cannot be read: %s", r == ENTRY_DEAD ? dead.detail : strerror(-r));
                return;
        }
        body = json_tokener_parse(e->body);
        if (!body || !json_object_object_get_ex(body, "id", &v) || !(id = json_object_get_string(v)) ||
            !(p = pending_find(c, id)))
                return; /* not ours any more (answered Unavailable meanwhile), or not readable */
        /* only the home of the component answers for it */
        home = directory_home(c->directory, p->component);
        if (!home || !streq(home, e->node)) {
                c->stats.refused++;
                log_warning("A reply for %s came from node %s, not its home: ignored", p->component, e->node);
                return;
        }
        if (json_object_object_get_ex(body, "error", &v) && (error_name = json_object_get_string(v))) {
                const char *message = json_object_object_get_ex(body, "message", &v) ? json_object_get_string(v) : "";
                c->stats.answered++;
                if (p->kind == CALL_MACHINE || error_name_is_safe(error_name))
                        pending_answer_error(p, error_name_is_safe(error_name) ? error_name : "org.xfsm1.Error.Unavailable",
                                             message);
                else
                        pending_answer_error(p, "org.xfsm1.Error.Unavailable", message);
                pending_done(c, p);
                return;
        }
        part = json_object_object_get_ex(body, "part", &v) ? (unsigned) json_object_get_int(v) : 0;
        parts = json_object_object_get_ex(body, "parts", &v) ? (unsigned) json_object_get_int(v) : 1;
        if (!json_object_object_get_ex(body, "result", &result) || !json_object_is_type(result, json_type_array) ||
            parts == 0 || part != p->got || (p->parts && parts != p->parts)) {
                c->stats.answered++;
                pending_answer_error(p, "org.xfsm1.Error.Unavailable", "the home's answer cannot be read");
                pending_done(c, p);
                return;
        }
        p->parts = parts;
        p->got++;
        for (size_t k = 0; k < json_object_array_length(result); k++)
                json_object_array_add(p->results, json_object_get(json_object_array_get_idx(result, k)));
        if (p->got < p->parts)
                return;
        c->stats.answered++;
        r = pending_answer(p);
        if (r < 0)
                pending_answer_error(p, "org.xfsm1.Error.Unavailable", "the home's answer cannot be read");
        pending_done(c, p);
}

/* XADD the signed entry f to the stream key, capped near STREAM_MAXLEN entries. */
static int xadd_capped(Calls *c, const char *key, const EntryFields *f) {
        const char *argv[6 + 2 * ENTRY_N_FIELDS] = { "XADD", key, "MAXLEN", "~", STREAM_MAXLEN, "*" };
        size_t argvlen[6 + 2 * ENTRY_N_FIELDS], k = 6;

        for (size_t j = 0; j < k; j++)
                argvlen[j] = strlen(argv[j]);
        for (size_t j = 0; j < f->n; j++)
                argv[k] = f->argv[j], argvlen[k++] = f->argvlen[j];
        return redis_command_argv(c->writer, COMMAND_USEC, NULL, NULL, k, argv, argvlen);
}

/* Send call (its body) to the home of component; the answer goes to p. */
static int forward(Calls *c, Pending *p, const char *home, json_object *body) {
        _cleanup_(entry_fields_done) EntryFields f = {};
        _cleanup_(freep) char *key = NULL;
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        uint64_t now;
        int r;

        r = entry_encode(c->keyring, home, ENTRY_CALL, text, strlen(text), &f);
        if (r < 0)
                return r;
        if (asprintf(&key, "xfsm:{%s}:calls", p->component) < 0)
                return -ENOMEM;
        r = xadd_capped(c, key, &f);
        if (r < 0)
                return r;
        r = sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_event_add_time(c->event, &p->timer, CLOCK_MONOTONIC, now + CALLS_TIMEOUT_MS * 1000ULL, 1000,
                              on_pending_timeout, p);
        if (r < 0)
                return r;
        p->next = c->pending;
        c->pending = p;
        c->stats.forwarded++;
        return 0;
}

/* Make the call of kind to component's home with string arguments args
 * (n of them) and options (SendEx; may be NULL), answered to msg. */
static int call_home(Calls *c, sd_bus_message *msg, CallKind kind, const char *component, const char *const *args,
                     size_t n, json_object *options, sd_bus_message_handler_t redo, sd_bus_error *error) {
        Pending *p = NULL;
        _cleanup_(json_unrefp) json_object *body = NULL;
        json_object *a;
        const char *home = directory_home(c->directory, component);
        uid_t uid = 0;
        sd_id128_t id;
        int r;

        if (!home || !directory_node_alive(c->directory, home) || !redis_conn_is_up(c->writer) || !c->have_offset)
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE,
                                           "%s is hosted on node %s, which cannot be reached now: retry later",
                                           component, home ?: "(not known)");
        if (msg)
                (void) access_caller_uid(c->access, msg, &uid);

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->calls = c;
        p->kind = kind;
        p->msg = msg ? sd_bus_message_ref(msg) : NULL;
        p->redo = redo;
        p->results = json_object_new_array();
        p->component = strdup(component);
        if (!p->results || !p->component || sd_id128_randomize(&id) < 0) {
                pending_free(p);
                return -ENOMEM;
        }
        sd_id128_to_string(id, p->id);
        if (kind == CALL_CREATE_INSTANCE && !(p->machine = strdup(args[0]))) {
                pending_free(p);
                return -ENOMEM;
        }
        if (kind == CALL_MACHINE && !(p->instance = strdup(args[0]))) {
                pending_free(p);
                return -ENOMEM;
        }

        body = json_object_new_object();
        a = json_object_new_array();
        if (!body || !a) {
                json_object_put(a);
                pending_free(p);
                return -ENOMEM;
        }
        json_object_object_add(body, "id", json_object_new_string(p->id));
        json_object_object_add(body, "method", json_object_new_string(call_names[kind]));
        json_object_object_add(body, "component", json_object_new_string(component));
        json_object_object_add(body, "uid", json_object_new_int64(uid));
        json_object_object_add(body, "timeoutMs", json_object_new_int(CALLS_TIMEOUT_MS));
        for (size_t k = 0; k < n; k++)
                json_object_array_add(a, json_object_new_string(args[k]));
        json_object_object_add(body, "args", a);
        if (options)
                json_object_object_add(body, "options", json_object_get(options));

        r = forward(c, p, home, body);
        if (r < 0) {
                pending_free(p);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "%s cannot be reached now (%s): retry later",
                                           component, strerror(-r));
        }
        return 1;
}

/* ---- the caller's side: the methods --------------------------------------------------------- */

static const char *component_of(const char *path) {
        return path + strlen(PREFIX "/");
}

/* Unprivileged callers: RATE_PER_SEC calls a second, RATE_BURST at once. */
static bool rate_admit(Calls *c, sd_bus_message *msg) {
        uint64_t now = 0;
        uid_t uid;
        Rate *r = NULL;

        if (access_caller_uid(c->access, msg, &uid) < 0 || access_is_privileged(c->access, uid))
                return true;
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        for (size_t k = 0; k < c->n_rates && !r; k++)
                if (c->rates[k].uid == uid)
                        r = &c->rates[k];
        if (!r) {
                size_t k = c->n_rates < RATE_UIDS ? c->n_rates++ : 0;
                /* full: the least recently seen goes */
                for (size_t j = 0; c->n_rates == RATE_UIDS && j < RATE_UIDS; j++)
                        if (c->rates[j].last < c->rates[k].last)
                                k = j;
                r = &c->rates[k];
                *r = (Rate) { .uid = uid, .tokens = RATE_BURST, .last = now };
        }
        r->tokens = MIN((double) RATE_BURST, r->tokens + (double) (now - r->last) / 1e6 * RATE_PER_SEC);
        r->last = now;
        if (r->tokens < 1)
                return false;
        r->tokens -= 1;
        return true;
}

static int check_names(sd_bus_error *error, size_t n, const char *const *v) {
        for (size_t k = 0; k < n; k++)
                if (strlen(v[k]) > XFSM_MAX_NAME)
                        return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "a name longer than %d bytes",
                                                   XFSM_MAX_NAME);
        return 0;
}

/* After polkit said yes: limit, then forward. */
static int admit_and_call(Calls *c, sd_bus_message *msg, CallKind kind, const char *component,
                          const char *const *args, size_t n, json_object *options, sd_bus_error *error) {
        if (!rate_admit(c, msg))
                return bus_error_setf_xfsm(error, -XFSM_E_BUSY, "too many calls to other nodes: retry later");
        return call_home(c, msg, kind, component, args, n, options, NULL, error);
}

/* The machine of instance id: known, or asked of the home, a call of the
 * caller's limited as any (then msg runs through self again). NULL with r
 * set: asked, or waiting for the caller's uid (1), or failed (<0). */
static const char *machine_of(Calls *c, sd_bus_message *msg, const char *component, const char *id,
                              sd_bus_message_handler_t self, sd_bus_error *error, int *r) {
        const char *m = machine_known(c, component, id);

        if (m)
                return m;
        /* asking the home is a call of this caller's too: limited as one (its uid learned first) */
        *r = access_learn_caller(c->access, msg, self, c, error);
        if (*r <= 0) {
                *r = *r < 0 ? *r : 1;
                return NULL;
        }
        if (!rate_admit(c, msg)) {
                *r = bus_error_setf_xfsm(error, -XFSM_E_BUSY, "too many calls to other nodes: retry later");
                return NULL;
        }
        *r = call_home(c, msg, CALL_MACHINE, component, &id, 1, NULL, self, error);
        return NULL;
}

static int method_create_instance(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Calls *c = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg)), *args[2];
        int r;

        r = sd_bus_message_read(msg, "ss", &args[0], &args[1]);
        if (r < 0)
                return r;
        if (check_names(error, 1, args) < 0)
                return -EINVAL;
        r = access_check(c->access, msg, "org.xfsm1.create-instance", &(AccessDetails) { component, args[0], NULL },
                         method_create_instance, c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return admit_and_call(c, msg, CALL_CREATE_INSTANCE, component, args, 2, NULL, error);
}

static int send_common(sd_bus_message *msg, Calls *c, bool ex, sd_bus_message_handler_t self, sd_bus_error *error) {
        const char *component = component_of(sd_bus_message_get_path(msg)), *args[3], *machine;
        const char *event_id = NULL, *correlation = NULL;
        _cleanup_(json_unrefp) json_object *options = NULL;
        char made[SD_ID128_STRING_MAX + 8];
        int r;

        r = sd_bus_message_read(msg, "sss", &args[0], &args[1], &args[2]);
        if (r < 0)
                return r;
        if (ex) {
                r = read_send_options(msg, &event_id, &correlation, error);
                if (r < 0)
                        return r;
        }
        if (check_names(error, 2, args) < 0 || (event_id && strlen(event_id) > XFSM_MAX_NAME))
                return -EINVAL;
        machine = machine_of(c, msg, component, args[0], self, error, &r);
        if (!machine)
                return r;
        r = access_check(c->access, msg, "org.xfsm1.send-event", &(AccessDetails) { component, machine, args[1] }, self,
                         c, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* at most once on the home: a Send goes as a SendEx with an event id made here */
        if (!event_id) {
                sd_id128_t id;
                if (sd_id128_randomize(&id) < 0)
                        return -EIO;
                snprintf(made, sizeof made, "fwd-" SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(id));
                event_id = made;
        }
        options = json_object_new_object();
        if (!options)
                return -ENOMEM;
        json_object_object_add(options, "event_id", json_object_new_string(event_id));
        if (correlation)
                json_object_object_add(options, "correlation_id", json_object_new_string(correlation));
        if (!ex)
                json_object_object_add(options, "forwarded_send", json_object_new_boolean(true));
        return admit_and_call(c, msg, CALL_SEND_EX, component, args, 3, options, error);
}

static int method_send(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return send_common(msg, userdata, false, method_send, error);
}

static int method_send_ex(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return send_common(msg, userdata, true, method_send_ex, error);
}

static int method_broadcast(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Calls *c = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg)), *args[4];
        int r;

        r = sd_bus_message_read(msg, "ssss", &args[0], &args[1], &args[2], &args[3]);
        if (r < 0)
                return r;
        if (check_names(error, 3, args) < 0)
                return -EINVAL;
        r = access_check(c->access, msg, "org.xfsm1.send-event", &(AccessDetails) { component, args[0], args[2] },
                         method_broadcast, c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return admit_and_call(c, msg, CALL_BROADCAST, component, args, 4, NULL, error);
}

static int method_list_instances(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Calls *c = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg)), *args[2];
        int r;

        r = sd_bus_message_read(msg, "ss", &args[0], &args[1]);
        if (r < 0)
                return r;
        if (check_names(error, 2, args) < 0)
                return -EINVAL;
        /* read-context, as for the instances' contexts: the listing crosses hosts (xfsm-redis-bridge(8)) */
        r = access_check(c->access, msg, "org.xfsm1.read-context", &(AccessDetails) { component, args[0], NULL },
                         method_list_instances, c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return admit_and_call(c, msg, CALL_LIST_INSTANCES, component, args, 2, NULL, error);
}

static int get_common(sd_bus_message *msg, Calls *c, CallKind kind, sd_bus_message_handler_t self,
                      sd_bus_error *error) {
        const char *component = component_of(sd_bus_message_get_path(msg)), *id, *machine;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        if (check_names(error, 1, &id) < 0)
                return -EINVAL;
        machine = machine_of(c, msg, component, id, self, error, &r);
        if (!machine)
                return r;
        r = access_check(c->access, msg, "org.xfsm1.read-context", &(AccessDetails) { component, machine, NULL }, self,
                         c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return admit_and_call(c, msg, kind, component, &id, 1, NULL, error);
}

static int method_get_instance(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return get_common(msg, userdata, CALL_GET_INSTANCE, method_get_instance, error);
}

static int method_get_context(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return get_common(msg, userdata, CALL_GET_CONTEXT, method_get_context, error);
}

static int method_get_history(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return get_common(msg, userdata, CALL_GET_HISTORY, method_get_history, error);
}

/* ---- the caller's side: what the home says of the component ------------------------------- */

static Described *described_find(Calls *c, const char *component) {
        for (size_t k = 0; k < c->n_described; k++)
                if (streq(c->described[k].component, component))
                        return &c->described[k];
        return NULL;
}

/* Ask the home for the component's properties when they are not known or
 * are older than DESCRIBE_MAX_AGE_USEC (in the background). */
static Described *describe(Calls *c, const char *component) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Described *d = described_find(c, component);
        uint64_t now = 0;

        if (!d) {
                Described *v = reallocarray(c->described, c->n_described + 1, sizeof *v);
                if (!v)
                        return NULL;
                c->described = v;
                d = &v[c->n_described];
                *d = (Described) { .component = strdup(component) };
                if (!d->component)
                        return NULL;
                c->n_described++;
        }
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (!d->asking && (d->fetched == 0 || now - d->fetched > DESCRIBE_MAX_AGE_USEC) &&
            call_home(c, NULL, CALL_DESCRIBE, component, NULL, 0, NULL, NULL, &error) > 0)
                d->asking = true;
        return d;
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Calls *c = userdata;
        const char *component = component_of(path);
        Described *d = describe(c, component);

        if (streq(property, "Name"))
                return sd_bus_message_append(reply, "s", component);
        if (!d || d->fetched == 0)
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE,
                                           "what %s is has not been told by its home yet: retry later", component);
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", d->version);
        if (streq(property, "Definition"))
                return sd_bus_message_append(reply, "s", d->definition);
        return sd_bus_message_append_strv(reply, d->machines);
}

static const sd_bus_vtable component_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* as the home's worker has them, asked in the background and kept up to 30 s */
        SD_BUS_PROPERTY("Name", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Version", "s", property_get, 0, 0),
        SD_BUS_PROPERTY("Machines", "as", property_get, 0, 0),
        SD_BUS_PROPERTY("Definition", "s", property_get, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("CreateInstance", SD_BUS_ARGS("s", machine, "s", context_json),
                                SD_BUS_RESULT("o", path, "s", id), method_create_instance,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Send", SD_BUS_ARGS("s", id, "s", event, "s", payload_json), SD_BUS_RESULT("s", state),
                                method_send, SD_BUS_VTABLE_UNPRIVILEGED),
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
        SD_BUS_VTABLE_END,
};

static int object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        Calls *c = userdata;

        if (!path || strncmp(path, PREFIX "/", strlen(PREFIX "/")) != 0 || strchr(component_of(path), '/') ||
            !directory_is_remote(c->directory, component_of(path)))
                return 0;
        *found = c;
        return 1;
}

/* ---- the home's side ------------------------------------------------------------------------ */

static bool recent_seen(Calls *c, const char *id) {
        for (size_t k = 0; k < RECENT; k++)
                if (streq(c->recent[k], id))
                        return true;
        snprintf(c->recent[c->recent_next], sizeof c->recent[0], "%s", id);
        c->recent_next = (c->recent_next + 1) % RECENT;
        return false;
}

/* Answer call id of node caller with body (id, part and parts added here). */
static void reply_body(Calls *c, const char *caller, json_object *body) {
        _cleanup_(entry_fields_done) EntryFields f = {};
        _cleanup_(freep) char *key = NULL;
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);

        if (entry_encode(c->keyring, caller, ENTRY_REPLY, text, strlen(text), &f) < 0 ||
            asprintf(&key, "xfsm:node:{%s}:replies", caller) < 0)
                return;
        (void) xadd_capped(c, key, &f);
}

static void reply_error(Calls *c, const char *caller, const char *id, const char *name, const char *message) {
        _cleanup_(json_unrefp) json_object *body = json_object_new_object();

        if (!body)
                return;
        json_object_object_add(body, "id", json_object_new_string(id));
        json_object_object_add(body, "error", json_object_new_string(name));
        json_object_object_add(body, "message", json_object_new_string(message ?: ""));
        reply_body(c, caller, body);
}

/* The result array, in parts of at most per elements. */
static void reply_result(Calls *c, const char *caller, const char *id, json_object *result, size_t per) {
        size_t n = json_object_array_length(result), parts = n == 0 ? 1 : (n + per - 1) / per;

        for (size_t part = 0; part < parts; part++) {
                _cleanup_(json_unrefp) json_object *body = json_object_new_object();
                json_object *a = json_object_new_array();

                if (!body || !a) {
                        json_object_put(a);
                        return;
                }
                for (size_t k = part * per; k < n && k < (part + 1) * per; k++)
                        json_object_array_add(a, json_object_get(json_object_array_get_idx(result, k)));
                json_object_object_add(body, "id", json_object_new_string(id));
                json_object_object_add(body, "part", json_object_new_int((int) part));
                json_object_object_add(body, "parts", json_object_new_int((int) parts));
                json_object_object_add(body, "result", a);
                reply_body(c, caller, body);
        }
}

static Running *running_free(Running *run) {
        if (!run)
                return NULL;
        for (Running **q = &run->calls->running; *q; q = &(*q)->next)
                if (*q == run) {
                        *q = run->next;
                        break;
                }
        sd_bus_slot_unref(run->slot);
        json_object_put(run->args);
        free(run->component);
        free(run->caller);
        free(run->event_id);
        free(run->correlation_id);
        return mfree(run);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Running *, running_free);

static int running_start(Running *run, uint64_t timeout_usec);

/* The result of the worker's answer, as the caller's side reads it. */
static int result_of(Running *run, sd_bus_message *reply, json_object **ret) {
        _cleanup_(json_unrefp) json_object *a = json_object_new_array();
        const char *s, *t, *u;
        uint32_t n;
        int r;

        if (!a)
                return -ENOMEM;
        switch (run->kind) {
        case CALL_CREATE_INSTANCE:
                r = sd_bus_message_read(reply, "os", &s, &t);
                if (r < 0)
                        return r;
                json_object_array_add(a, json_object_new_string(s));
                json_object_array_add(a, json_object_new_string(t));
                break;
        case CALL_BROADCAST:
                r = sd_bus_message_read(reply, "u", &n);
                if (r < 0)
                        return r;
                json_object_array_add(a, json_object_new_int64(n));
                break;
        case CALL_LIST_INSTANCES:
                r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
                if (r < 0)
                        return r;
                while ((r = sd_bus_message_read(reply, "(ssso)", &s, &t, &u, NULL)) > 0) {
                        json_object *e = json_object_new_array();
                        if (!e)
                                return -ENOMEM;
                        json_object_array_add(e, json_object_new_string(s));
                        json_object_array_add(e, json_object_new_string(t));
                        json_object_array_add(e, json_object_new_string(u));
                        json_object_array_add(a, e);
                }
                if (r < 0)
                        return r;
                break;
        case CALL_DESCRIBE: {
                /* GetAll's a{sv}: Version, Definition and Machines */
                const char *version = NULL, *definition = NULL, *key;
                json_object *machines = json_object_new_array();
                if (!machines)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(reply, 'a', "{sv}");
                while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        r = sd_bus_message_read(reply, "s", &key);
                        if (r >= 0 && streq(key, "Version"))
                                r = sd_bus_message_read(reply, "v", "s", &version);
                        else if (r >= 0 && streq(key, "Definition"))
                                r = sd_bus_message_read(reply, "v", "s", &definition);
                        else if (r >= 0 && streq(key, "Machines")) {
                                r = sd_bus_message_enter_container(reply, 'v', "as");
                                if (r >= 0)
                                        r = sd_bus_message_enter_container(reply, 'a', "s");
                                while (r >= 0 && (r = sd_bus_message_read(reply, "s", &s)) > 0)
                                        json_object_array_add(machines, json_object_new_string(s));
                                if (r >= 0)
                                        r = sd_bus_message_exit_container(reply);
                                if (r >= 0)
                                        r = sd_bus_message_exit_container(reply);
                        } else if (r >= 0)
                                r = sd_bus_message_skip(reply, "v");
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                }
                if (r < 0 || !version || !definition) {
                        json_object_put(machines);
                        return r < 0 ? r : -EBADMSG;
                }
                json_object_array_add(a, json_object_new_string(version));
                json_object_array_add(a, json_object_new_string(definition));
                json_object_array_add(a, machines);
                break;
        }
        case CALL_MACHINE: {
                _cleanup_(json_unrefp) json_object *o = NULL;
                json_object *m;
                r = sd_bus_message_read(reply, "s", &s);
                if (r < 0)
                        return r;
                o = json_tokener_parse(s);
                if (!o || !json_object_object_get_ex(o, "machine", &m))
                        return -EBADMSG;
                json_object_array_add(a, json_object_new_string(json_object_get_string(m)));
                break;
        }
        default:
                r = sd_bus_message_read(reply, "s", &s);
                if (r < 0)
                        return r;
                json_object_array_add(a, json_object_new_string(s));
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int on_worker_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(running_freep) Running *run = userdata;
        Calls *c = run->calls;
        _cleanup_(json_unrefp) json_object *result = NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        run->slot = sd_bus_slot_unref(run->slot);
        if (e) {
                /* a Send the worker cannot take with an event id (no journal there): it did not run; as a Send */
                if (run->fallback && sd_bus_error_has_name(e, SD_BUS_ERROR_NOT_SUPPORTED)) {
                        run->fallback = false;
                        run->event_id = mfree(run->event_id);
                        if (running_start(run, 0) >= 0)
                                TAKE_PTR(run); /* still in c->running */
                        return 0;
                }
                reply_error(c, run->caller, run->id,
                            sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                                            sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) ||
                                            sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT)
                                    ? "org.xfsm1.Error.Unavailable"
                                    : e->name,
                            e->message);
                return 0;
        }
        r = result_of(run, reply, &result);
        if (r < 0) {
                reply_error(c, run->caller, run->id, "org.xfsm1.Error.Unavailable", "the worker's answer cannot be read");
                return 0;
        }
        reply_result(c, run->caller, run->id, result, LIST_PART);
        return 0;
}

/* Make the call to the local worker, over the bus (which starts it). */
static int running_start(Running *run, uint64_t timeout_usec) {
        Calls *c = run->calls;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        char bus_name[300], path[300];
        const char *method = run->kind == CALL_MACHINE ? "GetInstance"
                           : run->kind == CALL_SEND_EX && !run->event_id ? "Send"
                                                                        : call_names[run->kind];
        int r;

        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", run->component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", run->component);
        if (run->kind == CALL_DESCRIBE) {
                r = sd_bus_message_new_method_call(c->bus, &m, bus_name, path, "org.freedesktop.DBus.Properties",
                                                   "GetAll");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "org.xfsm1.Component");
                if (r < 0)
                        return r;
                return sd_bus_call_async(c->bus, &run->slot, m, on_worker_reply, run, timeout_usec);
        }
        r = sd_bus_message_new_method_call(c->bus, &m, bus_name, path, "org.xfsm1.Component", method);
        if (r < 0)
                return r;
        for (size_t k = 0; r >= 0 && k < json_object_array_length(run->args); k++)
                r = sd_bus_message_append(m, "s", json_str_at(run->args, k));
        if (r >= 0 && streq(method, "SendEx")) {
                r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && run->event_id)
                        r = sd_bus_message_append(m, "{sv}", "event_id", "s", run->event_id);
                if (r >= 0 && run->correlation_id)
                        r = sd_bus_message_append(m, "{sv}", "correlation_id", "s", run->correlation_id);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r < 0)
                return r;
        return sd_bus_call_async(c->bus, &run->slot, m, on_worker_reply, run, timeout_usec);
}

static const char *json_get_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

/* A call entry read from xfsm:{component}:calls, with its stream id. */
static void handle_call(Calls *c, const char *component, const char *entry_id, const char *const *argv,
                        const size_t *argvlen, size_t n) {
        _cleanup_(entry_freep) Entry *e = NULL;
        _cleanup_(json_unrefp) json_object *body = NULL;
        _cleanup_(running_freep) Running *run = NULL;
        json_object *args, *v, *options;
        EntryDead dead = {};
        const char *id, *method, *target;
        long long id_ms = 0;
        int64_t deadline, now, timeout_ms;
        CallKind kind;
        uid_t uid;
        int r;

        r = entry_parse_message(c->keyring, ENTRY_CALL, argv, argvlen, n, &e, &dead);
        if (r != ENTRY_VALID) {
                c->stats.refused++;
                log_warning("%s: call entry %s refused (%s)", component, entry_id,
                            r == ENTRY_DEAD ? dead.detail : strerror(-r));
                return;
        }
        body = json_tokener_parse(e->body);
        if (!body || !(id = json_get_str(body, "id")) || strlen(id) >= sizeof run->id ||
            !(method = json_get_str(body, "method")) || !(target = json_get_str(body, "component")) ||
            !json_object_object_get_ex(body, "args", &args) || !json_object_is_type(args, json_type_array)) {
                c->stats.refused++;
                log_warning("%s: call entry %s from node %s cannot be read", component, entry_id, e->node);
                return;
        }
        if (recent_seen(c, id))
                return; /* a copy: run once */
        kind = call_kind_from_string(method);
        if (kind == _CALL_KIND_MAX || !streq(target, component) ||
            json_object_array_length(args) != call_n_args[kind]) {
                reply_error(c, e->node, id, "org.xfsm1.Error.InvalidArgument", "a call this node does not know");
                return;
        }
        for (size_t k = 0; k < call_n_args[kind]; k++)
                if (!json_str_at(args, k)) {
                        reply_error(c, e->node, id, "org.xfsm1.Error.InvalidArgument", "arguments must be strings");
                        return;
                }
        if (!directory_is_home(c->directory, component)) {
                reply_error(c, e->node, id, "org.xfsm1.Error.Unavailable", "the component is not homed here");
                return;
        }

        /* the deadline, in Redis's time: from when the entry was added */
        (void) sscanf(entry_id, "%lld", &id_ms);
        timeout_ms = json_object_object_get_ex(body, "timeoutMs", &v) ? json_object_get_int64(v) : CALLS_TIMEOUT_MS;
        timeout_ms = MIN(MAX(timeout_ms, (int64_t) 0), (int64_t) 10 * CALLS_TIMEOUT_MS);
        deadline = id_ms + timeout_ms;
        now = redis_now_ms(c);
        if (now + START_MARGIN_MS >= deadline) {
                c->stats.expired++;
                log_info("%s: call %s from node %s not run: past its deadline", component, id, e->node);
                reply_error(c, e->node, id, "org.xfsm1.Error.Unavailable", "past its deadline: not run");
                return;
        }

        run = calloc(1, sizeof *run);
        if (!run)
                return;
        run->calls = c;
        run->kind = kind;
        snprintf(run->id, sizeof run->id, "%s", id);
        run->component = strdup(component);
        run->caller = strdup(e->node);
        run->args = json_object_get(args);
        if (!run->component || !run->caller)
                return;
        if (kind == CALL_SEND_EX && json_object_object_get_ex(body, "options", &options)) {
                const char *s;
                if ((s = json_get_str(options, "event_id")) && !(run->event_id = strdup(s)))
                        return;
                if ((s = json_get_str(options, "correlation_id")) && !(run->correlation_id = strdup(s)))
                        return;
                run->fallback = json_object_object_get_ex(options, "forwarded_send", &v) && json_object_get_boolean(v);
        }
        uid = json_object_object_get_ex(body, "uid", &v) ? (uid_t) json_object_get_int64(v) : (uid_t) -1;
        if (kind != CALL_DESCRIBE) /* the bridge's own question, not a caller's */
                log_call_origin(component, run->kind == CALL_SEND_EX && run->fallback ? "Send" : method, e->node, uid,
                                id);
        r = running_start(run, (uint64_t) (deadline - now) * 1000ULL);
        if (r < 0) {
                reply_error(c, e->node, id, "org.xfsm1.Error.Unavailable", strerror(-r));
                return;
        }
        c->stats.served++;
        run->next = c->running;
        c->running = TAKE_PTR(run);
}

/* ---- reading both streams ---------------------------------------------------------------- */

static Stream *stream_by_key(Calls *c, const char *key) {
        for (size_t k = 0; k < c->n_streams; k++)
                if (streq(c->streams[k].key, key))
                        return &c->streams[k];
        return NULL;
}

static void on_read(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        Calls *c = userdata;

        c->reading = false;
        if (c->freeing || error < 0)
                return; /* read again once connected */
        if (reply->type == REDIS_REPLY_ERROR) {
                log_warning("Reading the calls streams failed: %s", reply->str);
                return;
        }
        /* [[key, [[id, [field, value, ...]], ...]], ...], or nil when BLOCK timed out */
        for (size_t s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements; s++) {
                const redisReply *sr = reply->element[s], *entries;
                Stream *st;

                if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 || sr->element[0]->type != REDIS_REPLY_STRING ||
                    !(st = stream_by_key(c, sr->element[0]->str)))
                        continue;
                entries = sr->element[1];
                for (size_t k = 0; entries->type == REDIS_REPLY_ARRAY && k < entries->elements; k++) {
                        const redisReply *en = entries->element[k], *fields;
                        const char *argv[64];
                        size_t argvlen[64], n = 0;

                        if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
                            en->element[0]->type != REDIS_REPLY_STRING)
                                continue;
                        snprintf(st->cursor, sizeof st->cursor, "%s", en->element[0]->str);
                        fields = en->element[1];
                        for (size_t j = 0; fields->type == REDIS_REPLY_ARRAY && j < fields->elements && n < 64; j++) {
                                const redisReply *f = fields->element[j];
                                argv[n] = f->type == REDIS_REPLY_STRING ? f->str : "";
                                argvlen[n++] = f->type == REDIS_REPLY_STRING ? f->len : 0;
                        }
                        if (st->component)
                                handle_call(c, st->component, en->element[0]->str, argv, argvlen, n);
                        else
                                handle_reply(c, argv, argvlen, n);
                        /* stream may have been reallocated: find it again */
                        st = stream_by_key(c, sr->element[0]->str);
                        if (!st)
                                break;
                }
        }
        calls_read(c);
}

static void calls_read(Calls *c) {
        _cleanup_(freep) const char **argv = NULL;
        _cleanup_(freep) size_t *argvlen = NULL;
        size_t k = 0;
        char block[16], count[16];

        if (c->reading || c->freeing || !c->have_offset || !redis_conn_is_up(c->reader) || c->n_streams == 0)
                return;
        argv = calloc(6 + 2 * c->n_streams, sizeof *argv);
        argvlen = calloc(6 + 2 * c->n_streams, sizeof *argvlen);
        if (!argv || !argvlen)
                return;
        snprintf(block, sizeof block, "%d", BLOCK_MS);
        snprintf(count, sizeof count, "%d", READ_COUNT);
        argv[k++] = "XREAD";
        argv[k++] = "COUNT";
        argv[k++] = count;
        argv[k++] = "BLOCK";
        argv[k++] = block;
        argv[k++] = "STREAMS";
        for (size_t s = 0; s < c->n_streams; s++)
                argv[k++] = c->streams[s].key;
        for (size_t s = 0; s < c->n_streams; s++)
                argv[k++] = c->streams[s].cursor;
        for (size_t j = 0; j < k; j++)
                argvlen[j] = strlen(argv[j]);
        if (redis_command_argv(c->reader, READ_TIMEOUT_USEC, on_read, c, k, argv, argvlen) >= 0)
                c->reading = true;
}

static int stream_add(Calls *c, const char *key, const char *component) {
        Stream *v;

        if (stream_by_key(c, key))
                return 0;
        v = reallocarray(c->streams, c->n_streams + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        c->streams = v;
        v = &c->streams[c->n_streams];
        *v = (Stream) { .key = strdup(key), .component = component ? strdup(component) : NULL };
        if (!v->key || (component && !v->component)) {
                free(v->key);
                free(v->component);
                return -ENOMEM;
        }
        /* from now on (in Redis's time): nothing older is run or taken */
        if (c->have_offset)
                snprintf(v->cursor, sizeof v->cursor, "%lld-0", (long long) redis_now_ms(c));
        c->n_streams++;
        return 0;
}

static void on_reader_connected(RedisConn *conn, void *userdata) {
        Calls *c = userdata;

        c->reading = false;
        if (!c->have_offset)
                (void) redis_command(conn, COMMAND_USEC, on_time, c, "TIME");
        else
                calls_read(c);
}

int calls_add(Calls *c, const char *component) {
        _cleanup_(freep) char *key = NULL;
        int r;

        if (asprintf(&key, "xfsm:{%s}:calls", component) < 0)
                return -ENOMEM;
        if (stream_by_key(c, key))
                return 0;
        r = stream_add(c, key, component);
        if (r < 0)
                return r;
        /* the read in progress (if any) blocks at most BLOCK_MS: the next one reads this one too */
        calls_read(c);
        return 0;
}

void calls_remove(Calls *c, const char *component) {
        for (size_t k = 0; k < c->n_streams; k++)
                if (streq_ptr(c->streams[k].component, component)) {
                        free(c->streams[k].key);
                        free(c->streams[k].component);
                        c->streams[k] = c->streams[--c->n_streams];
                        return; /* the read in progress ends within BLOCK_MS; its entries for it are not ours */
                }
}

/* ---- transitions of components homed elsewhere ---------------------------------------------- */

/* A transition published by the home of C: the Instance's Transition
 * signal, under this bridge's object for C (no correlation id crosses). */
static void on_transition_message(RedisConn *conn, const char *channel, const char *message, size_t size,
                                  void *userdata) {
        Calls *c = userdata;
        _cleanup_(json_unrefp) json_object *o = NULL;
        _cleanup_(freep) char *component = NULL, *path = NULL;
        const char *instance, *machine, *from, *to, *event, *open, *close;

        if (!channel || !(open = strchr(channel, '{')) || !(close = strchr(open, '}')) ||
            !(component = strndup(open + 1, (size_t) (close - open - 1))) || !directory_is_remote(c->directory, component))
                return;
        o = json_tokener_parse(message);
        if (!o || !(instance = json_get_str(o, "instance")) || !(machine = json_get_str(o, "machine")) ||
            !(from = json_get_str(o, "from")) || !(to = json_get_str(o, "to")) || !(event = json_get_str(o, "event")))
                return; /* not a transition: ignored, as everything on a best-effort channel */
        if (sd_bus_path_encode_many(&path, PREFIX "/%/%/%", component, machine, instance) < 0)
                return;
        (void) sd_bus_emit_signal(c->bus, path, "org.xfsm1.Instance", "Transition", "ssss", from, to, event, "");
}

int calls_follow(Calls *c, const char *component) {
        _cleanup_(freep) char *channel = NULL;
        int r;

        if (asprintf(&channel, "xfsm:{%s}:transitions", component) < 0)
                return -ENOMEM;
        (void) describe(c, component); /* its properties here, asked early */
        r = redis_conn_subscribe(c->transitions, channel, on_transition_message, c);
        return r == -EEXIST ? 0 : r;
}

/* ---- the module ------------------------------------------------------------------------------ */

int calls_new(Calls **ret, sd_event *event, sd_bus *bus, const RedisTarget *target, RedisConn *writer,
              NodeKeyring *keyring, Directory *directory, Access *access) {
        _cleanup_(calls_freep) Calls *c = NULL;
        uint64_t now;
        int r;

        assert(ret);
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->bus = sd_bus_ref(bus);
        c->writer = writer;
        c->keyring = keyring;
        c->directory = directory;
        c->access = access;
        if (asprintf(&c->replies_key, "xfsm:node:{%s}:replies", directory_node(directory)) < 0)
                return -ENOMEM;
        r = stream_add(c, c->replies_key, NULL);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(bus, &c->vtable, PREFIX, "org.xfsm1.Component", component_vtable, object_find,
                                       c);
        if (r < 0)
                return r;
        r = redis_conn_new(&c->reader, event, target, "calls", &(RedisConnCallbacks) { .connected = on_reader_connected },
                           c);
        if (r < 0)
                return r;
        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_add_time(event, &c->clock, CLOCK_MONOTONIC, now + CLOCK_USEC, 1000000, on_clock, c);
        if (r < 0)
                return r;
        r = redis_conn_new(&c->transitions, event, target, "transitions", NULL, c);
        if (r < 0)
                return r;
        r = redis_conn_start(c->reader);
        if (r >= 0)
                r = redis_conn_start(c->transitions);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

Calls *calls_free(Calls *c) {
        if (!c)
                return NULL;
        c->freeing = true;
        redis_conn_free(c->reader);
        redis_conn_free(c->transitions);
        while (c->running)
                running_free(c->running);
        while (c->pending) {
                Pending *p = c->pending;
                c->pending = p->next;
                pending_free(p);
        }
        for (size_t k = 0; k < c->n_streams; k++) {
                free(c->streams[k].key);
                free(c->streams[k].component);
        }
        free(c->streams);
        for (size_t k = 0; k < c->n_described; k++) {
                free(c->described[k].component);
                free(c->described[k].version);
                free(c->described[k].definition);
                strv_free(c->described[k].machines);
        }
        free(c->described);
        for (size_t k = 0; k < c->n_machines; k++) {
                free(c->machines[k].component);
                free(c->machines[k].instance);
                free(c->machines[k].machine);
        }
        sd_bus_slot_unref(c->vtable);
        sd_event_source_disable_unref(c->clock);
        sd_bus_unref(c->bus);
        sd_event_unref(c->event);
        free(c->replies_key);
        return mfree(c);
}

CallsStats calls_stats(const Calls *c) {
        return c->stats;
}
