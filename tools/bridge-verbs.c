/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl bridge: the Redis bridge of this node, for operators (xfsmctl(1),
 * xfsm-redis-bridge(8)): status, dead list|replay C, release C,
 * decommission NODE. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "bus-errors.h"
#include "json-util.h"
#include "macro.h"
#include "xfsmctl.h"

/* Call method of org.xfsm1.Bridge (never started for it). */
static int bridge_call(sd_bus *bus, const char *method, sd_bus_message **reply, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.xfsm1.Bridge",
                                           method);
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, 0);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_call(bus, m, 30 * 1000000ULL, &error, reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        fprintf(stderr, "xfsmctl: the Redis bridge does not run on this node "
                                        "(systemctl start xfsm-redis-bridge)\n");
                else if (sd_bus_error_is_set(&error))
                        fprintf(stderr, "xfsmctl: %s\n", bus_error_describe(&error));
                else
                        fprintf(stderr, "xfsmctl: %s\n", strerror(-r));
        }
        return r;
}

static const char *str_of(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static const char *count_of(json_object *o, const char *key, char *buf, size_t size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !v)
                return "-";
        snprintf(buf, size, "%lld", (long long) json_object_get_int64(v));
        return buf;
}

static bool bool_of(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static int bridge_status(sd_bus *bus, bool json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_object *o, *a, *v;
        const char *text;
        int r;

        r = bridge_call(bus, "Status", &reply, NULL);
        if (r < 0)
                return EXIT_REFUSED;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return EXIT_REFUSED;
        if (json) {
                printf("%s\n", text);
                return EXIT_OK;
        }
        o = json_tokener_parse(text);
        if (!o)
                return EXIT_REFUSED;
        printf("Node %s (UUID %s), Redis %s\n\n", str_of(o, "node") ?: "?", str_of(o, "uuid") ?: "?",
               str_of(o, "redis") ?: "?");
        printf("%-24s  %-36s  %s\n", "NODE", "UUID", "ALIVE");
        if (json_object_object_get_ex(o, "nodes", &a))
                for (size_t k = 0; k < json_object_array_length(a); k++) {
                        json_object *n = json_object_array_get_idx(a, k);
                        printf("%-24s  %-36s  %s%s\n", str_of(n, "name") ?: "?", str_of(n, "uuid") ?: "-",
                               bool_of(n, "alive") ? "yes" : "no", bool_of(n, "self") ? " (this node)" : "");
                }
        printf("\n%-28s  %-20s  %-5s  %8s  %8s  %8s\n", "COMPONENT", "HOME", "ALIVE", "WAITING", "PENDING", "DEAD");
        if (json_object_object_get_ex(o, "components", &a))
                for (size_t k = 0; k < json_object_array_length(a); k++) {
                        json_object *c = json_object_array_get_idx(a, k);
                        char b1[32], b2[32], b3[32];
                        printf("%-28s  %-20s  %-5s  %8s  %8s  %8s\n", str_of(c, "name") ?: "?", str_of(c, "home") ?: "?",
                               bool_of(c, "homeAlive") ? "yes" : "no", count_of(c, "waiting", b1, sizeof b1),
                               count_of(c, "pending", b2, sizeof b2), count_of(c, "dead", b3, sizeof b3));
                }
        if (json_object_object_get_ex(o, "totals", &v)) {
                char b[6][32];
                printf("\nDelivered here %s, sent %s (busy %s); calls forwarded %s, served %s, expired %s\n",
                       count_of(v, "delivered", b[0], sizeof b[0]), count_of(v, "sent", b[1], sizeof b[1]),
                       count_of(v, "busy", b[2], sizeof b[2]), count_of(v, "callsForwarded", b[3], sizeof b[3]),
                       count_of(v, "callsServed", b[4], sizeof b[4]), count_of(v, "callsExpired", b[5], sizeof b[5]));
        }
        printf("Rates: %.0f delivered/s, %.0f sent/s\n",
               json_object_object_get_ex(o, "deliveredPerSec", &v) ? json_object_get_double(v) : 0.0,
               json_object_object_get_ex(o, "sentPerSec", &v) ? json_object_get_double(v) : 0.0);
        if (json_object_object_get_ex(o, "settings", &v) && v) {
                char b[3][32];
                printf("Settings: InboxLimit=%s MinReplicas=%s WaitMs=%s\n",
                       count_of(v, "inboxLimit", b[0], sizeof b[0]), count_of(v, "minReplicas", b[1], sizeof b[1]),
                       count_of(v, "waitMs", b[2], sizeof b[2]));
        }
        json_object_put(o);
        return EXIT_OK;
}

static int bridge_dead(sd_bus *bus, int argc, char **argv, bool json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        uint32_t n;
        int r;

        if (argc != 3 || (!streq(argv[1], "list") && !streq(argv[1], "replay")))
                return usage_error("bridge dead: expected list C or replay C");
        if (streq(argv[1], "replay")) {
                r = bridge_call(bus, "ReplayDead", &reply, "s", argv[2]);
                if (r < 0 || sd_bus_message_read(reply, "u", &n) < 0)
                        return EXIT_REFUSED;
                if (json)
                        printf("{\"replayed\":%u}\n", n);
                else
                        printf("%u dead entries of %s put back into its inbox.\n", n, argv[2]);
                return EXIT_OK;
        }
        r = bridge_call(bus, "ListDead", &reply, "su", argv[2], (uint32_t) 0);
        if (r < 0 || sd_bus_message_read(reply, "s", &text) < 0)
                return EXIT_REFUSED;
        if (json) {
                printf("%s\n", text);
                return EXIT_OK;
        }
        json_object *a = json_tokener_parse(text);
        size_t count = a ? json_object_array_length(a) : 0;
        printf("%-17s  %-14s  %-12s  %s\n", "ID", "REASON", "NODE", "DETAIL");
        for (size_t k = 0; k < count; k++) {
                json_object *e = json_object_array_get_idx(a, k);
                printf("%-17s  %-14s  %-12s  %s\n", str_of(e, "id") ?: "?", str_of(e, "reason") ?: "?",
                       str_of(e, "node") ?: "-", str_of(e, "detail") ?: "");
        }
        printf("\n%zu dead entries of %s.\n", count, argv[2]);
        json_object_put(a);
        return EXIT_OK;
}

static int bridge_release(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        if (argc != 2)
                return usage_error("bridge release: expected C");
        if (bridge_call(bus, "Release", &reply, "s", argv[1]) < 0)
                return EXIT_REFUSED;
        printf("%s is released: it is not homed on this node any more. Stop and disable its worker here, move\n"
               "its state directory to the node that takes it, and start it there.\n",
               argv[1]);
        return EXIT_OK;
}

static int bridge_decommission(sd_bus *bus, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        if (argc != 2)
                return usage_error("bridge decommission: expected NODE");
        if (bridge_call(bus, "Decommission", &reply, "s", argv[1]) < 0)
                return EXIT_REFUSED;
        printf("Node %s is forgotten: its heartbeat, membership and replies stream are removed. Remove\n"
               "/etc/xfsm/nodes.d/%s.pub on every node to stop accepting its key.\n",
               argv[1], argv[1]);
        return EXIT_OK;
}

int verb_bridge(int argc, char **argv, bool json, const BusArgs *a) {
        sd_bus *bus = NULL;
        int r;

        for (int k = 1; k < argc; k++)
                if (streq(argv[k], "--json")) {
                        json = true;
                        memmove(argv + k, argv + k + 1, (size_t) (argc - k) * sizeof *argv);
                        argc--;
                        k--;
                }
        if (argc < 2)
                return usage_error("bridge: expected status, dead list|replay C, release C or decommission NODE");
        if (bus_connect(a, &bus) < 0)
                return EXIT_REFUSED;
        if (streq(argv[1], "status") && argc == 2)
                r = bridge_status(bus, json);
        else if (streq(argv[1], "dead"))
                r = bridge_dead(bus, argc - 1, argv + 1, json);
        else if (streq(argv[1], "release"))
                r = bridge_release(bus, argc - 1, argv + 1);
        else if (streq(argv[1], "decommission"))
                r = bridge_decommission(bus, argc - 1, argv + 1);
        else
                r = usage_error("bridge: expected status, dead list|replay C, release C or decommission NODE");
        sd_bus_flush_close_unref(bus);
        return r;
}
