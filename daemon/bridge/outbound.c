/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Routed events out (see outbound.h): one fallback vtable under
 * /org/xfsm1/Bridge serves every remote component (the directory says which
 * exist), as xfsmd serves instances. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "deliver.h"
#include "entry.h"
#include "log.h"
#include "macro.h"
#include "outbound.h"

#define PREFIX "/org/xfsm1/Bridge"
#define COMMAND_USEC (3000ULL * 1000ULL)

/* XADD each entry (ARGV[2] strings each, after the limit in ARGV[1] and
 * the node they are signed for in ARGV[3]), in order, while the stream
 * holds fewer than InboxLimit entries: one round trip, atomic; the number
 * added, a BUSY error when none could be, or a NOTHOME error when the home
 * KEYS[2] is not that node (released in a hand-over, or taken elsewhere
 * since: its new home could not read them). */
static const char add_script[] = "local limit, per, home = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] "
                                 "local v = redis.call('GET', KEYS[2]) "
                                 "local ok, h = pcall(cjson.decode, v or '') "
                                 "if not (ok and type(h) == 'table' and h.node == home) then "
                                 "  return redis.error_reply('NOTHOME home is not ' .. home) "
                                 "end "
                                 "local n = (#ARGV - 3) / per "
                                 "for i = 0, n - 1 do "
                                 "  if redis.call('XLEN', KEYS[1]) >= limit then "
                                 "    if i == 0 then return redis.error_reply('BUSY inbox full') end "
                                 "    return i "
                                 "  end "
                                 "  redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4 + i * per, 3 + (i + 1) * per)) "
                                 "end "
                                 "return n";

struct Outbound {
        sd_bus *bus;
        RedisConn *writer;
        NodeKeyring *keyring;
        Directory *directory;
        Access *access;
        const BridgeConfig *config;
        sd_bus_slot *vtable, *enumerator;
        OutboundStats stats;
        bool wait_failing; /* the last WAIT confirmed too few: logged once, until one confirms enough */
};

/* One Deliver or DeliverBatch waiting for Redis. */
typedef struct Call {
        Outbound *outbound;
        sd_bus_message *msg;
        char *component;
        bool batch;        /* answer (u taken), not (u delivered) */
        long long taken;
} Call;

static void call_free(Call *c) {
        if (!c)
                return;
        sd_bus_message_unref(c->msg);
        free(c->component);
        free(c);
}

static void reply_error(Call *c, int code, const char *fmt, const char *arg) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_setf_xfsm(&error, code, fmt, arg);
        (void) sd_bus_reply_method_error(c->msg, &error);
}

static void on_wait(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        Call *c = userdata;
        Outbound *o = c->outbound;
        const BridgeConfig *cfg = o->config;

        if (error < 0 || !reply || reply->type != REDIS_REPLY_INTEGER ||
            (unsigned long long) reply->integer < cfg->min_replicas) {
                o->stats.failed++;
                if (!o->wait_failing && error >= 0 && reply)
                        log_warning("WAIT %u: %s within %llu ms (MinReplicas=, WaitMs=): the senders retry",
                                    cfg->min_replicas,
                                    reply->type == REDIS_REPLY_INTEGER ? "fewer replicas confirmed"
                                    : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                                       : "an unexpected answer",
                                    (unsigned long long) cfg->wait_ms);
                o->wait_failing = o->wait_failing || (error >= 0 && reply);
                reply_error(c, -XFSM_E_UNAVAILABLE, "fewer replicas than MinReplicas= confirmed %s in time",
                            c->component);
        } else {
                if (o->wait_failing)
                        log_info("WAIT %u: the replicas confirm again", cfg->min_replicas);
                o->wait_failing = false;
                (void) sd_bus_reply_method_return(c->msg, "u", (uint32_t) c->taken);
        }
        call_free(c);
}

static void on_added(RedisConn *conn, int error, const redisReply *reply, void *userdata) {
        Call *c = userdata;
        Outbound *o = c->outbound;

        if (error < 0 || !reply) {
                o->stats.failed++;
                reply_error(c, -XFSM_E_UNAVAILABLE, "Redis did not take the routed event for %s: retry later",
                            c->component);
                call_free(c);
                return;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                bool busy = strstr(reply->str, "BUSY") != NULL, moved = strstr(reply->str, "NOTHOME") != NULL;
                if (busy)
                        o->stats.busy++;
                else
                        o->stats.failed++;
                reply_error(c, busy ? -XFSM_E_BUSY : -XFSM_E_UNAVAILABLE,
                            busy    ? "the inbox of %s is full (InboxLimit=): retry later"
                            : moved ? "%s is being handed over to another node: the event waits for its new home"
                                    : "Redis refused the routed event for %s: retry later",
                            c->component);
                if (!busy && !moved)
                        log_warning("XADD to xfsm:{%s}:inbox: %s", c->component, reply->str);
                call_free(c);
                return;
        }
        c->taken = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 1;
        o->stats.sent += (uint64_t) c->taken;
        if (!c->batch)
                c->taken = 1; /* Deliver answers (u delivered): it was added */
        if (o->config->min_replicas > 0) {
                /* answered once WAIT confirmed them on MinReplicas= replicas; never without it */
                if (redis_command(o->writer, (o->config->wait_ms + 1000) * 1000ULL, on_wait, c, "WAIT %u %llu",
                                  o->config->min_replicas, (unsigned long long) o->config->wait_ms) >= 0)
                        return;
                o->stats.failed++;
                reply_error(c, -XFSM_E_UNAVAILABLE, "Redis took the routed event for %s but could not be asked to "
                            "confirm it on MinReplicas= replicas: retry later", c->component);
        } else
                (void) sd_bus_reply_method_return(c->msg, "u", (uint32_t) c->taken);
        call_free(c);
}

static const char *component_of(const char *path) {
        return path + strlen(PREFIX "/");
}

/* The events of one call (source, seq, rule, json each), signed for the
 * home of component and added in order. */
typedef DeliverEvent Event;

static int add_events(Outbound *o, sd_bus_message *msg, const char *component, const Event *ev, size_t n, bool batch,
                      sd_bus_error *error) {
        const char *home = directory_home(o->directory, component);
        EntryFields *fields;
        char limit[32], per[16];
        size_t k = 0, argc;
        Call *c;
        int r;

        if (!home || streq(home, directory_node(o->directory)))
                return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_COMPONENT, "%s is not homed on another node",
                                           component);
        if (!redis_conn_is_up(o->writer))
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis is unreachable: the event for %s waits",
                                           component);
        fields = calloc(n, sizeof *fields);
        if (!fields)
                return -ENOMEM;
        for (size_t j = 0; j < n; j++) {
                r = entry_encode(o->keyring, home, ENTRY_ROUTED, ev[j].json, strlen(ev[j].json), &fields[j]);
                if (r == -ENOKEY && node_keyring_refresh(o->keyring, home) > 0)
                        r = entry_encode(o->keyring, home, ENTRY_ROUTED, ev[j].json, strlen(ev[j].json), &fields[j]);
                if (r < 0) {
                        for (size_t x = 0; x < j; x++)
                                entry_fields_done(&fields[x]);
                        free(fields);
                        if (r == -ENOKEY)
                                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE,
                                                           "no public key of node %s (the home of %s) in the nodes "
                                                           "directory",
                                                           home, component);
                        if (r == -EMSGSIZE)
                                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_PAYLOAD,
                                                           "the routed event for %s is too large", component);
                        return r;
                }
        }

        argc = 8 + n * fields[0].n;
        _cleanup_(freep) const char **argv = calloc(argc, sizeof *argv);
        _cleanup_(freep) size_t *argvlen = calloc(argc, sizeof *argvlen);
        _cleanup_(freep) char *key = NULL, *home_key = NULL;
        c = calloc(1, sizeof *c);
        if (!argv || !argvlen || !c || asprintf(&key, "xfsm:{%s}:inbox", component) < 0 ||
            asprintf(&home_key, "xfsm:{%s}:home", component) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        *c = (Call) { .outbound = o, .msg = sd_bus_message_ref(msg), .component = strdup(component), .batch = batch };
        if (!c->component) {
                r = -ENOMEM;
                goto finish;
        }
        snprintf(limit, sizeof limit, "%llu", (unsigned long long) o->config->inbox_limit);
        snprintf(per, sizeof per, "%zu", fields[0].n);
        argv[k] = "EVAL", argvlen[k++] = 4;
        argv[k] = add_script, argvlen[k++] = strlen(add_script);
        argv[k] = "2", argvlen[k++] = 1;
        argv[k] = key, argvlen[k++] = strlen(key);
        argv[k] = home_key, argvlen[k++] = strlen(home_key);
        argv[k] = limit, argvlen[k++] = strlen(limit);
        argv[k] = per, argvlen[k++] = strlen(per);
        argv[k] = home, argvlen[k++] = strlen(home);
        for (size_t j = 0; j < n; j++)
                for (size_t f = 0; f < fields[j].n; f++)
                        argv[k] = fields[j].argv[f], argvlen[k++] = fields[j].argvlen[f];
        r = redis_command_argv(o->writer, COMMAND_USEC, on_added, c, k, argv, argvlen);
        if (r >= 0)
                c = NULL; /* answered from on_added() */
        else
                r = bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis is unreachable: the event for %s waits",
                                        component);
finish:
        call_free(c);
        for (size_t j = 0; j < n; j++)
                entry_fields_done(&fields[j]);
        free(fields);
        return r < 0 ? r : 1;
}

static int method_deliver(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Outbound *o = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg));
        Event ev;
        int r;

        r = sd_bus_message_read(msg, "stus", &ev.source, &ev.seq, &ev.rule, &ev.json);
        if (r < 0)
                return r;
        r = access_check(o->access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_deliver, o, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return add_events(o, msg, component, &ev, 1, false, error);
}

static int method_deliver_batch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Outbound *o = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg));
        _cleanup_(freep) Event *ev = NULL;
        size_t n = 0;
        int r;

        r = access_check(o->access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_deliver_batch, o,
                         error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = delivery_read_batch(msg, &ev, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return sd_bus_reply_method_return(msg, "u", 0);
        return add_events(o, msg, component, ev, n, true, error);
}

static const sd_bus_vtable component_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Deliver", SD_BUS_ARGS("s", source, "t", sequence, "u", rule, "s", routed_json),
                                SD_BUS_RESULT("u", delivered), method_deliver, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeliverBatch", SD_BUS_ARGS("a(stus)", events), SD_BUS_RESULT("u", taken),
                                method_deliver_batch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        Outbound *o = userdata;

        if (!path || strncmp(path, PREFIX "/", strlen(PREFIX "/")) != 0 || strchr(component_of(path), '/') ||
            !directory_is_remote(o->directory, component_of(path)))
                return 0;
        *found = o;
        return 1;
}

static int node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Outbound *o = userdata;
        size_t n = directory_n_remote(o->directory);
        char **v = calloc(n + 1, sizeof *v);

        if (!v)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++)
                if (asprintf(&v[k], PREFIX "/%s", directory_remote(o->directory, k)) < 0) {
                        for (size_t j = 0; j < k; j++)
                                free(v[j]);
                        free(v);
                        return -ENOMEM;
                }
        *nodes = v;
        return 1;
}

int outbound_new(Outbound **ret, sd_bus *bus, RedisConn *writer, NodeKeyring *keyring, Directory *directory,
                 Access *access, const BridgeConfig *config) {
        _cleanup_(outbound_freep) Outbound *o = NULL;
        int r;

        assert(ret);
        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->bus = sd_bus_ref(bus);
        o->writer = writer;
        o->keyring = keyring;
        o->directory = directory;
        o->access = access;
        o->config = config;
        r = sd_bus_add_fallback_vtable(bus, &o->vtable, PREFIX, "org.xfsm1.Component", component_vtable, object_find,
                                       o);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(bus, &o->enumerator, PREFIX, node_enumerator, o);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

Outbound *outbound_free(Outbound *o) {
        if (!o)
                return NULL;
        sd_bus_slot_unref(o->vtable);
        sd_bus_slot_unref(o->enumerator);
        sd_bus_unref(o->bus);
        free(o);
        return NULL;
}

OutboundStats outbound_stats(const Outbound *o) {
        return o->stats;
}
