/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The bridge for operators (see operate.h): Status, ListDead, ReplayDead,
 * Release. Each asks Redis (and for Release, the worker) asynchronously and
 * answers when all is known. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bus-errors.h"
#include "log.h"
#include "macro.h"
#include "node-name.h"
#include "operate.h"
#include "xfsm.h"

#define PATH "/org/xfsm1/Bridge"
#define COMMAND_USEC (3000ULL * 1000ULL)
#define DEAD_LIST_MAX 10000
#define REPLAY_MAX 10000

/* Move the dead entries of KEYS[1] (at most ARGV[1]) back into KEYS[2],
 * without the fields the dead stream added (reason, detail, id): the
 * number moved. */
static const char replay_script[] = "local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[1]) "
                                    "local n = 0 "
                                    "for _, e in ipairs(entries) do "
                                    "  local f, out = e[2], {} "
                                    "  for i = 1, #f, 2 do "
                                    "    if f[i] ~= 'reason' and f[i] ~= 'detail' and f[i] ~= 'id' then "
                                    "      out[#out + 1] = f[i]; out[#out + 1] = f[i + 1] "
                                    "    end "
                                    "  end "
                                    "  if #out > 0 then redis.call('XADD', KEYS[2], '*', unpack(out)) end "
                                    "  redis.call('XDEL', KEYS[1], e[1]) "
                                    "  n = n + 1 "
                                    "end "
                                    "return n";

/* Delete the home KEYS[1] if it is node ARGV[1]'s and the inbox KEYS[2]
 * is empty, at once (entries added meanwhile were signed for this node,
 * which its next home could not read): 1 deleted, 0 no home, -1 another
 * node's, -2 the inbox holds entries. */
static const char release_script[] = "local v = redis.call('GET', KEYS[1]) "
                                     "if not v then return 0 end "
                                     "local ok, h = pcall(cjson.decode, v) "
                                     "if ok and type(h) == 'table' and h.node == ARGV[1] then "
                                     "  if redis.call('XLEN', KEYS[2]) > 0 then return -2 end "
                                     "  redis.call('DEL', KEYS[1]) return 1 end "
                                     "return -1";

struct Operate {
        OperateDeps d;
        sd_bus_slot *vtable;
};

static json_object *json_unref(json_object *o) {
        json_object_put(o);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_unref);

static int reply_errorf(sd_bus_message *msg, int code, const char *fmt, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_setf_xfsm(&error, code, fmt, arg);
        return sd_bus_reply_method_error(msg, &error);
}

static int check_component(const char *c, sd_bus_error *error) {
        if (isempty(c) || strlen(c) > XFSM_MAX_NAME)
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "'%s' is not a component name", c);
        return 0;
}

/* ---- Status ------------------------------------------------------------------------------ */

typedef struct Counts {
        long long waiting, pending, dead; /* -1: not known */
} Counts;

typedef struct StatusJob {
        Operate *o;
        sd_bus_message *msg;
        size_t n;
        char **names, **homes;
        Counts *counts;
        unsigned outstanding;
} StatusJob;

typedef struct StatusAsk {
        StatusJob *job;
        size_t index;
        int what; /* 0 waiting, 1 pending, 2 dead */
} StatusAsk;

static void status_job_free(StatusJob *job) {
        for (size_t k = 0; k < job->n; k++) {
                free(job->names[k]);
                free(job->homes[k]);
        }
        free(job->names);
        free(job->homes);
        free(job->counts);
        sd_bus_message_unref(job->msg);
        free(job);
}

static void add_count(json_object *o, const char *key, long long v) {
        json_object_object_add(o, key, v < 0 ? NULL : json_object_new_int64(v));
}

static void status_finish(StatusJob *job) {
        Operate *o = job->o;
        Directory *d = o->d.directory;
        _cleanup_(json_unrefp) json_object *root = json_object_new_object();
        json_object *nodes = json_object_new_array(), *comps = json_object_new_array(), *totals, *settings, *n;
        InboundStats in = inbound_stats(o->d.inbound, NULL);
        OutboundStats out = outbound_stats(o->d.outbound);
        CallsStats calls = calls_stats(o->d.calls);

        if (!root || !nodes || !comps) {
                json_object_put(nodes);
                json_object_put(comps);
                (void) sd_bus_reply_method_errno(job->msg, ENOMEM, NULL);
                return;
        }
        json_object_object_add(root, "node", json_object_new_string(directory_node(d)));
        json_object_object_add(root, "uuid", json_object_new_string(directory_node_uuid(d, directory_node(d))));
        json_object_object_add(root, "redis",
                               json_object_new_string(redis_conn_is_up(o->d.writer) ? "connected" : "unreachable"));

        n = json_object_new_object();
        json_object_object_add(n, "name", json_object_new_string(directory_node(d)));
        json_object_object_add(n, "uuid", json_object_new_string(directory_node_uuid(d, directory_node(d))));
        json_object_object_add(n, "alive", json_object_new_boolean(true));
        json_object_object_add(n, "self", json_object_new_boolean(true));
        json_object_array_add(nodes, n);
        for (size_t k = 0; k < directory_n_nodes(d); k++) {
                const char *name = directory_nth_node(d, k), *uuid = directory_node_uuid(d, name);
                n = json_object_new_object();
                json_object_object_add(n, "name", json_object_new_string(name));
                json_object_object_add(n, "uuid", uuid ? json_object_new_string(uuid) : NULL);
                json_object_object_add(n, "alive", json_object_new_boolean(directory_node_alive(d, name)));
                json_object_object_add(n, "self", json_object_new_boolean(false));
                json_object_array_add(nodes, n);
        }
        json_object_object_add(root, "nodes", nodes);

        for (size_t k = 0; k < job->n; k++) {
                json_object *c = json_object_new_object();
                json_object_object_add(c, "name", json_object_new_string(job->names[k]));
                json_object_object_add(c, "home", json_object_new_string(job->homes[k]));
                json_object_object_add(c, "here", json_object_new_boolean(streq(job->homes[k], directory_node(d))));
                json_object_object_add(c, "homeAlive", json_object_new_boolean(directory_node_alive(d, job->homes[k])));
                add_count(c, "waiting", job->counts[k].waiting);
                add_count(c, "pending", job->counts[k].pending);
                add_count(c, "dead", job->counts[k].dead);
                json_object_array_add(comps, c);
        }
        json_object_object_add(root, "components", comps);

        totals = json_object_new_object();
        json_object_object_add(totals, "delivered", json_object_new_int64((int64_t) in.delivered));
        json_object_object_add(totals, "deadHere", json_object_new_int64((int64_t) in.dead));
        json_object_object_add(totals, "sent", json_object_new_int64((int64_t) out.sent));
        json_object_object_add(totals, "busy", json_object_new_int64((int64_t) out.busy));
        json_object_object_add(totals, "callsForwarded", json_object_new_int64((int64_t) calls.forwarded));
        json_object_object_add(totals, "callsUnavailable", json_object_new_int64((int64_t) calls.unavailable));
        json_object_object_add(totals, "callsServed", json_object_new_int64((int64_t) calls.served));
        json_object_object_add(totals, "callsExpired", json_object_new_int64((int64_t) calls.expired));
        json_object_object_add(root, "totals", totals);
        json_object_object_add(root, "deliveredPerSec", json_object_new_double(o->d.rates->delivered_per_sec));
        json_object_object_add(root, "sentPerSec", json_object_new_double(o->d.rates->sent_per_sec));
        settings = json_object_new_object();
        if (settings) {
                json_object_object_add(settings, "inboxLimit",
                                       json_object_new_int64((int64_t) o->d.config->inbox_limit));
                json_object_object_add(settings, "minReplicas", json_object_new_int64(o->d.config->min_replicas));
                json_object_object_add(settings, "waitMs", json_object_new_int64((int64_t) o->d.config->wait_ms));
        }
        json_object_object_add(root, "settings", settings);

        (void) sd_bus_reply_method_return(job->msg, "s", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
}

static void on_count(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        StatusAsk *a = userdata;
        StatusJob *job = a->job;
        Counts *k = &job->counts[a->index];
        long long v = -1;

        if (error >= 0 && reply) {
                if (reply->type == REDIS_REPLY_INTEGER)
                        v = reply->integer;
                else if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                         reply->element[0]->type == REDIS_REPLY_INTEGER)
                        v = reply->element[0]->integer; /* XPENDING's summary: the count first */
                else if (reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "NOGROUP"))
                        v = 0; /* never read: nothing pending */
        }
        if (a->what == 0)
                k->waiting = v;
        else if (a->what == 1)
                k->pending = v;
        else
                k->dead = v;
        free(a);
        if (--job->outstanding == 0) {
                status_finish(job);
                status_job_free(job);
        }
}

static void ask_count(StatusJob *job, size_t index, int what, const char *fmt, const char *key) {
        StatusAsk *a = calloc(1, sizeof *a);

        if (!a)
                return;
        *a = (StatusAsk) { job, index, what };
        if (redis_command(job->o->d.writer, COMMAND_USEC, on_count, a, fmt, key) < 0)
                free(a);
        else
                job->outstanding++;
}

static int method_status(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Operate *o = userdata;
        Directory *d = o->d.directory;
        size_t n = directory_n_homes(d);
        StatusJob *job = calloc(1, sizeof *job);

        if (!job)
                return -ENOMEM;
        job->o = o;
        job->msg = sd_bus_message_ref(msg);
        job->names = calloc(n + 1, sizeof *job->names);
        job->homes = calloc(n + 1, sizeof *job->homes);
        job->counts = calloc(n + 1, sizeof *job->counts);
        if (!job->names || !job->homes || !job->counts) {
                status_job_free(job);
                return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                const char *home, *name = directory_nth_home(d, k, &home);
                job->names[k] = strdup(name);
                job->homes[k] = strdup(home);
                job->counts[k] = (Counts) { -1, -1, -1 };
                if (!job->names[k] || !job->homes[k]) {
                        free(job->names[k]);
                        free(job->homes[k]);
                        status_job_free(job);
                        return -ENOMEM;
                }
                job->n++;
        }
        job->outstanding = 1; /* until every question is out */
        for (size_t k = 0; k < job->n; k++) {
                _cleanup_(freep) char *inbox = NULL, *dead = NULL;
                if (asprintf(&inbox, "xfsm:{%s}:inbox", job->names[k]) < 0 ||
                    asprintf(&dead, "xfsm:{%s}:dead", job->names[k]) < 0)
                        break;
                ask_count(job, k, 0, "XLEN %s", inbox);
                ask_count(job, k, 1, "XPENDING %s xfsm", inbox);
                ask_count(job, k, 2, "XLEN %s", dead);
        }
        if (--job->outstanding == 0) {
                status_finish(job);
                status_job_free(job);
        }
        return 1;
}

/* ---- ListDead, ReplayDead ------------------------------------------------------------------ */

typedef struct Call {
        Operate *o;
        sd_bus_message *msg;
        char *component;
        sd_bus_slot *slot;
} Call;

static Call *call_new(Operate *o, sd_bus_message *msg, const char *component) {
        Call *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        c->o = o;
        c->msg = sd_bus_message_ref(msg);
        c->component = strdup(component);
        if (!c->component) {
                sd_bus_message_unref(c->msg);
                return mfree(c);
        }
        return c;
}

static Call *call_free(Call *c) {
        if (!c)
                return NULL;
        sd_bus_slot_unref(c->slot);
        sd_bus_message_unref(c->msg);
        free(c->component);
        return mfree(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Call *, call_free);

static bool redis_failed(Call *c, int error, const redisReply *reply) {
        if (error >= 0 && reply && reply->type != REDIS_REPLY_ERROR)
                return false;
        (void) reply_errorf(c->msg, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s",
                            error < 0 ? strerror(-error) : reply ? reply->str : "no answer");
        return true;
}

static json_object *string_of(const redisReply *r) {
        return r->type == REDIS_REPLY_STRING ? json_object_new_string_len(r->str, (int) r->len) : NULL;
}

static void on_dead_list(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;
        _cleanup_(json_unrefp) json_object *a = NULL;

        if (redis_failed(c, error, reply))
                return;
        a = json_object_new_array();
        if (!a) {
                (void) sd_bus_reply_method_errno(c->msg, ENOMEM, NULL);
                return;
        }
        /* [[id, [field, value, ...]], ...]: each as {id, reason, detail, entry, node, kind, body} */
        for (size_t k = 0; reply->type == REDIS_REPLY_ARRAY && k < reply->elements; k++) {
                const redisReply *e = reply->element[k], *f;
                json_object *o;

                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
                        continue;
                o = json_object_new_object();
                json_object_object_add(o, "id", string_of(e->element[0]));
                f = e->element[1];
                for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
                        const redisReply *key = f->element[j];
                        static const char *const wanted[][2] = { { "reason", "reason" }, { "detail", "detail" },
                                                                 { "id", "entry" },      { "node", "node" },
                                                                 { "kind", "kind" },     { "body", "body" } };
                        if (key->type != REDIS_REPLY_STRING)
                                continue;
                        for (size_t w = 0; w < ELEMENTSOF(wanted); w++)
                                if (streq(key->str, wanted[w][0]) && !json_object_object_get_ex(o, wanted[w][1], NULL))
                                        json_object_object_add(o, wanted[w][1], string_of(f->element[j + 1]));
                }
                json_object_array_add(a, o);
        }
        (void) sd_bus_reply_method_return(c->msg, "s", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
}

static int method_list_dead(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Operate *o = userdata;
        _cleanup_(freep) char *key = NULL;
        const char *component;
        uint32_t count;
        Call *c;
        int r;

        r = sd_bus_message_read(msg, "su", &component, &count);
        if (r < 0)
                return r;
        if (check_component(component, error) < 0)
                return -EINVAL;
        r = access_check(o->d.access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_list_dead, o, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (count == 0 || count > DEAD_LIST_MAX)
                count = DEAD_LIST_MAX;
        if (asprintf(&key, "xfsm:{%s}:dead", component) < 0 || !(c = call_new(o, msg, component)))
                return -ENOMEM;
        r = redis_command(o->d.writer, COMMAND_USEC, on_dead_list, c, "XRANGE %s - + COUNT %u", key, count);
        if (r < 0) {
                call_free(c);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        }
        return 1;
}

static void on_replayed(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;

        if (redis_failed(c, error, reply))
                return;
        log_notice("%s: %lld dead entries replayed into its inbox", c->component,
                   reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0);
        (void) sd_bus_reply_method_return(c->msg, "u",
                                          (uint32_t) (reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0));
}

static int method_replay_dead(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Operate *o = userdata;
        _cleanup_(freep) char *dead = NULL, *inbox = NULL;
        const char *component;
        char max[16];
        Call *c;
        int r;

        r = sd_bus_message_read(msg, "s", &component);
        if (r < 0)
                return r;
        if (check_component(component, error) < 0)
                return -EINVAL;
        r = access_check(o->d.access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_replay_dead, o,
                         error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (asprintf(&dead, "xfsm:{%s}:dead", component) < 0 || asprintf(&inbox, "xfsm:{%s}:inbox", component) < 0 ||
            !(c = call_new(o, msg, component)))
                return -ENOMEM;
        snprintf(max, sizeof max, "%d", REPLAY_MAX);
        r = redis_command(o->d.writer, COMMAND_USEC, on_replayed, c, "EVAL %s 2 %s %s %s", replay_script, dead, inbox,
                          max);
        if (r < 0) {
                call_free(c);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        }
        return 1;
}

/* ---- Release ------------------------------------------------------------------------------- */

static void on_home_deleted(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;
        Operate *o = c->o;

        directory_releasing(o->d.directory, c->component, false);
        if (redis_failed(c, error, reply))
                return;
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -2) {
                (void) reply_errorf(c->msg, -XFSM_E_BUSY, "%s's inbox holds entries: wait until they are delivered",
                                    c->component);
                return;
        }
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
                (void) reply_errorf(c->msg, -XFSM_E_INVALID_ARGUMENT, "%s is not homed on this node", c->component);
                return;
        }
        directory_release(o->d.directory, c->component);
        inbound_remove(o->d.inbound, c->component);
        calls_remove(o->d.calls, c->component);
        (void) sd_bus_reply_method_return(c->msg, NULL);
}

static int on_outbox(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(call_freep) Call *c = userdata;
        Operate *o = c->o;
        _cleanup_(freep) char *key = NULL, *inbox = NULL;
        uint32_t pending = 0;
        int r;

        c->slot = sd_bus_slot_unref(c->slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                (void) sd_bus_reply_method_error(c->msg, sd_bus_message_get_error(reply));
                return 0;
        }
        r = sd_bus_message_read(reply, "v", "u", &pending);
        if (r < 0) {
                (void) sd_bus_reply_method_errno(c->msg, -r, NULL);
                return 0;
        }
        if (pending > 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                (void) bus_error_setf_xfsm(&error, -XFSM_E_BUSY,
                                           "%s's worker still has routed events to send: wait until they are sent",
                                           c->component);
                (void) sd_bus_reply_method_error(c->msg, &error);
                return 0;
        }
        if (asprintf(&key, "xfsm:{%s}:home", c->component) < 0 ||
            asprintf(&inbox, "xfsm:{%s}:inbox", c->component) < 0) {
                (void) sd_bus_reply_method_errno(c->msg, ENOMEM, NULL);
                return 0;
        }
        /* the scan, which writes a lost home key again, leaves it alone until the answer */
        directory_releasing(o->d.directory, c->component, true);
        r = redis_command(o->d.writer, COMMAND_USEC, on_home_deleted, c, "EVAL %s 2 %s %s %s", release_script, key,
                          inbox, directory_node(o->d.directory));
        if (r < 0) {
                directory_releasing(o->d.directory, c->component, false);
                (void) reply_errorf(c->msg, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        } else
                TAKE_PTR(c);
        return 0;
}

/* The inbox's length, then its pending count: both must be 0. */
static void on_inbox_pending(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;
        Operate *o = c->o;
        char bus_name[300], path[300];
        long long pending = 0;
        int r;

        if (error >= 0 && reply && reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "NOGROUP"))
                pending = 0;
        else if (redis_failed(c, error, reply))
                return;
        else if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_INTEGER)
                pending = reply->element[0]->integer;
        if (pending > 0) {
                (void) reply_errorf(c->msg, -XFSM_E_BUSY,
                                    "%s's inbox has entries being delivered: wait until they are taken", c->component);
                return;
        }
        /* the worker's outbox, asked of the worker (started for it if need be) */
        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", c->component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", c->component);
        r = sd_bus_call_method_async(o->d.bus, &c->slot, bus_name, path, "org.freedesktop.DBus.Properties", "Get",
                                     on_outbox, c, "ss", "org.xfsm1.Component", "OutboxPending");
        if (r < 0)
                (void) sd_bus_reply_method_errno(c->msg, -r, NULL);
        else
                TAKE_PTR(c);
}

static void on_inbox_length(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;
        _cleanup_(freep) char *key = NULL;
        int r;

        if (redis_failed(c, error, reply))
                return;
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
                (void) reply_errorf(c->msg, -XFSM_E_BUSY,
                                    "%s's inbox holds entries: wait until they are delivered", c->component);
                return;
        }
        if (asprintf(&key, "xfsm:{%s}:inbox", c->component) < 0) {
                (void) sd_bus_reply_method_errno(c->msg, ENOMEM, NULL);
                return;
        }
        r = redis_command(c->o->d.writer, COMMAND_USEC, on_inbox_pending, c, "XPENDING %s xfsm", key);
        if (r < 0)
                (void) reply_errorf(c->msg, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        else
                TAKE_PTR(c);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Operate *o = userdata;
        _cleanup_(freep) char *key = NULL;
        const char *component;
        Call *c;
        int r;

        r = sd_bus_message_read(msg, "s", &component);
        if (r < 0)
                return r;
        if (check_component(component, error) < 0)
                return -EINVAL;
        r = access_check(o->d.access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_release, o, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!directory_is_home(o->d.directory, component))
                return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_COMPONENT, "%s is not homed on this node", component);
        if (asprintf(&key, "xfsm:{%s}:inbox", component) < 0 || !(c = call_new(o, msg, component)))
                return -ENOMEM;
        r = redis_command(o->d.writer, COMMAND_USEC, on_inbox_length, c, "XLEN %s", key);
        if (r < 0) {
                call_free(c);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        }
        return 1;
}

/* ---- Decommission ---------------------------------------------------------------------------- */

/* Forget node ARGV[1] (KEYS: its heartbeat, the node set, its replies
 * stream) unless its heartbeat is alive: 1 done, -1 alive. */
static const char decommission_script[] = "if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end "
                                          "redis.call('SREM', KEYS[2], ARGV[1]) "
                                          "redis.call('DEL', KEYS[3]) "
                                          "return 1";

static void on_decommissioned(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;

        if (redis_failed(c, error, reply))
                return;
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
                (void) reply_errorf(c->msg, -XFSM_E_BUSY, "node %s is alive (its heartbeat has not expired)",
                                    c->component);
                return;
        }
        directory_forget_node(c->o->d.directory, c->component);
        log_notice("Node %s decommissioned: its heartbeat, membership and replies stream removed", c->component);
        (void) sd_bus_reply_method_return(c->msg, NULL);
}

static int method_decommission(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Operate *o = userdata;
        Directory *d = o->d.directory;
        _cleanup_(freep) char *beat = NULL, *replies = NULL;
        const char *node;
        Call *c;
        int r;

        r = sd_bus_message_read(msg, "s", &node);
        if (r < 0)
                return r;
        if (!node_name_is_valid(node))
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "'%s' is not a node name", node);
        r = access_check(o->d.access, msg, NULL, &(AccessDetails) {}, method_decommission, o, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (streq(node, directory_node(d)))
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "%s is this node", node);
        for (size_t k = 0; k < directory_n_homes(d); k++) {
                const char *home, *comp = directory_nth_home(d, k, &home);
                if (streq(home, node))
                        return bus_error_setf_xfsm(error, -XFSM_E_BUSY,
                                                   "%s is homed on node %s: release it there first", comp, node);
        }
        if (asprintf(&beat, "xfsm:node:{%s}", node) < 0 || asprintf(&replies, "xfsm:node:{%s}:replies", node) < 0 ||
            !(c = call_new(o, msg, node)))
                return -ENOMEM;
        r = redis_command(o->d.writer, COMMAND_USEC, on_decommissioned, c, "EVAL %s 3 %s xfsm:nodes %s %s",
                          decommission_script, beat, replies, node);
        if (r < 0) {
                call_free(c);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis cannot be reached now: %s", strerror(-r));
        }
        return 1;
}

/* ---- the module --------------------------------------------------------------------------- */

static const sd_bus_vtable operate_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_status,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDead", SD_BUS_ARGS("s", component, "u", count), SD_BUS_RESULT("s", json),
                                method_list_dead, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReplayDead", SD_BUS_ARGS("s", component), SD_BUS_RESULT("u", replayed),
                                method_replay_dead, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("s", component), SD_BUS_NO_RESULT, method_release,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Decommission", SD_BUS_ARGS("s", node), SD_BUS_NO_RESULT, method_decommission,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        if (!streq(path, PATH))
                return 0;
        *found = userdata;
        return 1;
}

int operate_new(Operate **ret, const OperateDeps *deps) {
        _cleanup_(operate_freep) Operate *o = NULL;
        int r;

        assert(ret && deps);
        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->d = *deps;
        /* a fallback, like the bridge's other vtables at this path */
        r = sd_bus_add_fallback_vtable(deps->bus, &o->vtable, PATH, "org.xfsm1.Bridge", operate_vtable, object_find, o);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

Operate *operate_free(Operate *o) {
        if (!o)
                return NULL;
        sd_bus_slot_unref(o->vtable);
        return mfree(o);
}
