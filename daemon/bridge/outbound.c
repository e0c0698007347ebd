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
#include "entry.h"
#include "log.h"
#include "macro.h"
#include "outbound.h"

#define PREFIX "/org/xfsm1/Bridge"
#define COMMAND_USEC (3000ULL * 1000ULL)

/* XADD unless the stream holds InboxLimit entries already: one round trip, atomic. */
static const char add_script[] = "if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then "
                                 "return redis.error_reply('BUSY inbox full') end "
                                 "return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))";

struct Outbound {
        sd_bus *bus;
        RedisConn *writer;
        NodeKeyring *keyring;
        Directory *directory;
        Access *access;
        const BridgeConfig *config;
        sd_bus_slot *vtable, *enumerator;
        OutboundStats stats;
};

/* One Deliver waiting for Redis. */
typedef struct Call {
        Outbound *outbound;
        sd_bus_message *msg;
        char *component;
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
        const BridgeConfig *cfg = c->outbound->config;

        if (error < 0 || !reply || reply->type != REDIS_REPLY_INTEGER ||
            (unsigned long long) reply->integer < cfg->min_replicas) {
                c->outbound->stats.failed++;
                reply_error(c, -XFSM_E_UNAVAILABLE, "fewer replicas than MinReplicas= confirmed %s in time",
                            c->component);
        } else
                (void) sd_bus_reply_method_return(c->msg, "u", 1);
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
                bool busy = strstr(reply->str, "BUSY") != NULL;
                if (busy)
                        o->stats.busy++;
                else
                        o->stats.failed++;
                reply_error(c, busy ? -XFSM_E_BUSY : -XFSM_E_UNAVAILABLE,
                            busy ? "the inbox of %s is full (InboxLimit=): retry later"
                                 : "Redis refused the routed event for %s: retry later",
                            c->component);
                if (!busy)
                        log_warning("XADD to xfsm:{%s}:inbox: %s", c->component, reply->str);
                call_free(c);
                return;
        }
        o->stats.sent++;
        if (o->config->min_replicas > 0 &&
            redis_command(o->writer, (o->config->wait_ms + 1000) * 1000ULL, on_wait, c, "WAIT %u %llu",
                          o->config->min_replicas, (unsigned long long) o->config->wait_ms) >= 0)
                return;
        (void) sd_bus_reply_method_return(c->msg, "u", 1);
        call_free(c);
}

static const char *component_of(const char *path) {
        return path + strlen(PREFIX "/");
}

static int method_deliver(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Outbound *o = userdata;
        const char *component = component_of(sd_bus_message_get_path(msg)), *source, *json, *home;
        _cleanup_(entry_fields_done) EntryFields fields = {};
        uint64_t seq;
        uint32_t rule;
        char limit[32];
        Call *c;
        int r;

        r = sd_bus_message_read(msg, "stus", &source, &seq, &rule, &json);
        if (r < 0)
                return r;
        r = access_check(o->access, msg, NULL, &(AccessDetails) { component, NULL, NULL }, method_deliver, o, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        home = directory_home(o->directory, component);
        if (!home || streq(home, directory_node(o->directory)))
                return bus_error_setf_xfsm(error, -XFSM_E_NO_SUCH_COMPONENT, "%s is not homed on another node",
                                           component);
        if (!redis_conn_is_up(o->writer))
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis is unreachable: the event for %s waits",
                                           component);
        r = entry_encode(o->keyring, home, ENTRY_ROUTED, json, strlen(json), &fields);
        if (r == -ENOKEY && node_keyring_refresh(o->keyring, home) > 0)
                r = entry_encode(o->keyring, home, ENTRY_ROUTED, json, strlen(json), &fields);
        if (r == -ENOKEY)
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE,
                                           "no public key of node %s (the home of %s) in the nodes directory", home,
                                           component);
        if (r == -EMSGSIZE)
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_PAYLOAD, "the routed event for %s is too large",
                                           component);
        if (r < 0)
                return r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->outbound = o;
        c->msg = sd_bus_message_ref(msg);
        c->component = strdup(component);
        size_t n = 6 + fields.n, k = 0;
        _cleanup_(freep) const char **argv = calloc(n, sizeof *argv);
        _cleanup_(freep) size_t *argvlen = calloc(n, sizeof *argvlen);
        _cleanup_(freep) char *key = NULL;
        if (!c->component || !argv || !argvlen || asprintf(&key, "xfsm:{%s}:inbox", component) < 0) {
                call_free(c);
                return -ENOMEM;
        }
        snprintf(limit, sizeof limit, "%llu", (unsigned long long) o->config->inbox_limit);
        argv[k] = "EVAL", argvlen[k++] = 4;
        argv[k] = add_script, argvlen[k++] = strlen(add_script);
        argv[k] = "1", argvlen[k++] = 1;
        argv[k] = key, argvlen[k++] = strlen(key);
        argv[k] = limit, argvlen[k++] = strlen(limit);
        for (size_t j = 0; j < fields.n; j++)
                argv[k] = fields.argv[j], argvlen[k++] = fields.argvlen[j];
        r = redis_command_argv(o->writer, COMMAND_USEC, on_added, c, k, argv, argvlen);
        if (r < 0) {
                call_free(c);
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis is unreachable: the event for %s waits",
                                           component);
        }
        return 1; /* answered from on_added() */
}

static const sd_bus_vtable component_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Deliver", SD_BUS_ARGS("s", source, "t", sequence, "u", rule, "s", routed_json),
                                SD_BUS_RESULT("u", delivered), method_deliver, SD_BUS_VTABLE_UNPRIVILEGED),
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
