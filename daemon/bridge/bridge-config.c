/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-redis-bridge's settings (xfsm-redis-bridge(8)): its command line and
 * /etc/xfsm/bridge.conf, read with the daemon's conf-parser.c:
 *
 *   [Bridge]
 *   Node=alpha                   # default: the host name
 *   Redis=redis://127.0.0.1:6379 # or redis-sentinel://H:P[,H:P...]/MASTER
 *   MinReplicas=0                # default 1 with a redis-sentinel:// URL
 *   WaitMs=1000
 *   InboxLimit=100000
 *   Insecure=no
 *   XcomponentCompat=no
 *   XcomponentComponents=Legacy Other
 *
 * An unknown key is a warning; a bad value an error FILE:LINE: why that
 * stops start-up; a missing default file means the defaults. Options win
 * over the file. */

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge-config.h"
#include "conf-parser.h"
#include "log.h"
#include "macro.h"
#include "names.h"

#define MIN_REPLICAS_MAX 100
#define WAIT_MS_MAX 3600000ULL
#define INBOX_LIMIT_MAX 1000000000ULL

enum {
        ARG_CONFIG = 0x100,
        ARG_SYSTEM,
        ARG_USER,
        ARG_BUS_ADDRESS,
        ARG_NODE,
        ARG_REDIS,
        ARG_XCOMPONENT_COMPAT,
        ARG_STATE_DIR,
        ARG_NODES_DIR,
        ARG_NODE_KEY,
        ARG_GENERATE_KEY,
        ARG_VERSION,
};

int bridge_options_parse(BridgeOptions *o, int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, ARG_CONFIG },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "node", required_argument, NULL, ARG_NODE },
                { "redis", required_argument, NULL, ARG_REDIS },
                { "xcomponent-compat", no_argument, NULL, ARG_XCOMPONENT_COMPAT },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "nodes-dir", required_argument, NULL, ARG_NODES_DIR },
                { "node-key", required_argument, NULL, ARG_NODE_KEY },
                { "generate-key", required_argument, NULL, ARG_GENERATE_KEY },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        BridgeOptions n = {};
        int c;

        assert(o);
        assert(argc >= 0);

        optind = 0; /* from the start, whoever parsed before (tests parse many) */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG:
                        n.config = optarg;
                        break;
                case ARG_SYSTEM:
                case ARG_USER:
                        n.bus = c == ARG_SYSTEM ? BRIDGE_BUS_SYSTEM : BRIDGE_BUS_USER;
                        n.bus_address = NULL;
                        n.has_bus = true;
                        break;
                case ARG_BUS_ADDRESS:
                        n.bus = BRIDGE_BUS_ADDRESS;
                        n.bus_address = optarg;
                        n.has_bus = true;
                        break;
                case ARG_NODE:
                        n.node = optarg;
                        break;
                case ARG_REDIS:
                        n.redis = optarg;
                        break;
                case ARG_XCOMPONENT_COMPAT:
                        n.xcomponent_compat = true;
                        break;
                case ARG_STATE_DIR:
                        n.state_dir = optarg;
                        break;
                case ARG_NODES_DIR:
                        n.nodes_dir = optarg;
                        break;
                case ARG_NODE_KEY:
                        n.node_key = optarg;
                        break;
                case ARG_GENERATE_KEY:
                        n.generate_key = optarg;
                        break;
                case 'h':
                        n.help = true;
                        break;
                case ARG_VERSION:
                        n.version = true;
                        break;
                default: /* getopt said what */
                        return -EINVAL;
                }

        if (optind < argc) {
                log_error("Unexpected argument '%s' (see --help)", argv[optind]);
                return -EINVAL;
        }

        *o = n;
        return 0;
}

void bridge_config_init(BridgeConfig *c) {
        assert(c);

        *c = (BridgeConfig) {
                .bus = BRIDGE_BUS_SYSTEM,
                .redis_kind = BRIDGE_REDIS_DIRECT,
                .wait_ms = 1000,
                .inbox_limit = 100000,
        };
}

static char **strv_free(char **l) {
        for (char **s = l; s && *s; s++)
                free(*s);
        free(l);
        return NULL;
}

void bridge_config_done(BridgeConfig *c) {
        assert(c);

        free(c->bus_address);
        free(c->node);
        free(c->redis_url);
        strv_free(c->xcomponent_components);
        bridge_config_init(c);
}

const char *bridge_redis_kind_to_string(BridgeRedisKind k) {
        return k == BRIDGE_REDIS_SENTINEL ? "sentinel" : "direct";
}

int bridge_redis_url_check(const char *url, BridgeRedisKind *ret_kind, const char **ret_why) {
        const char *rest, *slash;
        BridgeRedisKind kind;

        assert(url);
        assert(ret_kind);
        assert(ret_why);

        for (const char *p = url; *p; p++)
                if (*p <= ' ' || *p >= 127) {
                        *ret_why = "a Redis URL has no blanks or control characters";
                        return -EINVAL;
                }

        if (strncmp(url, "redis://", 8) == 0) {
                kind = BRIDGE_REDIS_DIRECT;
                rest = url + 8;
        } else if (strncmp(url, "redis-sentinel://", 17) == 0) {
                kind = BRIDGE_REDIS_SENTINEL;
                rest = url + 17;
        } else {
                *ret_why = "a Redis URL starts with redis:// or redis-sentinel://";
                return -EINVAL;
        }

        if (!*rest || *rest == '/') {
                *ret_why = "a Redis URL names a host after the scheme";
                return -EINVAL;
        }

        if (kind == BRIDGE_REDIS_SENTINEL) {
                slash = strchr(rest, '/');
                if (!slash || !slash[1] || strchr(slash + 1, '/')) {
                        *ret_why = "a redis-sentinel:// URL ends with /MASTERNAME";
                        return -EINVAL;
                }
        }

        *ret_kind = kind;
        return 0;
}

/* A copy of s in *p, whatever was there before. */
static int replace_string(char **p, const char *s) {
        char *n = NULL;

        if (s && !(n = strdup(s)))
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

/* The space-separated names in v after those in *l; an empty v empties *l. */
static int add_components(char ***l, const char *path, unsigned lineno, char *v) {
        char *save = NULL;
        size_t n = 0;

        if (!*v) {
                *l = strv_free(*l);
                return 0;
        }

        for (char **s = *l; s && *s; s++)
                n++;

        for (char *tok = strtok_r(v, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                char **nl;

                if (!name_is_identifier(tok, 64)) {
                        log_error("%s:%u: XcomponentComponents= needs component names ([A-Za-z_][A-Za-z0-9_]*, "
                                  "at most 64), not '%s'",
                                  path, lineno, tok);
                        return -EINVAL;
                }

                nl = realloc(*l, (n + 2) * sizeof *nl);
                if (!nl)
                        return log_oom();
                *l = nl;
                if (!(nl[n] = strdup(tok)))
                        return log_oom();
                nl[++n] = NULL;
        }
        return 0;
}

static int bool_setting(const char *path, unsigned lineno, const char *key, const char *val, bool *ret) {
        int b = conf_parse_boolean(val);

        if (b < 0) {
                log_error("%s:%u: %s= needs yes or no, not '%s'", path, lineno, key, val);
                return -EINVAL;
        }
        *ret = b;
        return 0;
}

static int uint_setting(const char *path, unsigned lineno, const char *key, const char *val, uint64_t min,
                        uint64_t max, uint64_t *ret) {
        uint64_t x;

        if (conf_parse_uint(val, max, &x) < 0 || x < min) {
                log_error("%s:%u: %s= needs a number from %llu to %llu, not '%s'", path, lineno, key,
                          (unsigned long long) min, (unsigned long long) max, val);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

static int bridge_setting(const char *path, unsigned lineno, const char *section, const char *key, char *val,
                          void *userdata) {
        BridgeConfig *c = userdata;
        BridgeRedisKind kind;
        const char *why;
        uint64_t x;
        int r;

        if (!streq(section, "Bridge"))
                return -ENOENT;

        if (streq(key, "Node")) {
                if (!node_name_is_valid(val)) {
                        log_error("%s:%u: Node= needs a node name (1 to %d of A-Z a-z 0-9 _ . -), not '%s'", path,
                                  lineno, NODE_NAME_MAX, val);
                        return -EINVAL;
                }
                return replace_string(&c->node, val) < 0 ? log_oom() : 0;
        }

        if (streq(key, "Redis")) {
                if (bridge_redis_url_check(val, &kind, &why) < 0) {
                        log_error("%s:%u: Redis= '%s': %s", path, lineno, val, why);
                        return -EINVAL;
                }
                if (replace_string(&c->redis_url, val) < 0)
                        return log_oom();
                c->redis_kind = kind;
                return 0;
        }

        if (streq(key, "MinReplicas")) {
                r = uint_setting(path, lineno, key, val, 0, MIN_REPLICAS_MAX, &x);
                if (r < 0)
                        return r;
                c->min_replicas = (unsigned) x;
                c->has_min_replicas = true;
                return 0;
        }

        if (streq(key, "WaitMs")) /* WAIT with 0 would block for ever */
                return uint_setting(path, lineno, key, val, 1, WAIT_MS_MAX, &c->wait_ms);
        if (streq(key, "InboxLimit"))
                return uint_setting(path, lineno, key, val, 1, INBOX_LIMIT_MAX, &c->inbox_limit);
        if (streq(key, "Insecure"))
                return bool_setting(path, lineno, key, val, &c->insecure);
        if (streq(key, "XcomponentCompat"))
                return bool_setting(path, lineno, key, val, &c->xcomponent_compat);
        if (streq(key, "XcomponentComponents"))
                return add_components(&c->xcomponent_components, path, lineno, val);

        return -ENOENT;
}

int bridge_config_read(BridgeConfig *c, const char *path, bool required) {
        static const char *const sections[] = { "Bridge", NULL };

        assert(c);
        assert(path);

        return conf_parse(path, required, sections, bridge_setting, c);
}

static int node_from_hostname(char **ret) {
        char host[256] = "";

        if (gethostname(host, sizeof host - 1) < 0)
                return log_error_errno(-errno, "Failed to get the host name: %m");
        if (!node_name_is_valid(host)) {
                log_error("The host name '%s' is not a node name (1 to %d of A-Z a-z 0-9 _ . -): set Node= in %s "
                          "or give --node",
                          host, NODE_NAME_MAX, BRIDGE_CONFIG_FILE);
                return -EINVAL;
        }

        *ret = strdup(host);
        return *ret ? 0 : log_oom();
}

int bridge_config_apply(BridgeConfig *c, const BridgeOptions *o) {
        BridgeRedisKind kind;
        const char *why;
        int r;

        assert(c);
        assert(o);

        if (o->has_bus) {
                c->bus = o->bus;
                if (replace_string(&c->bus_address, o->bus_address) < 0)
                        return log_oom();
        }

        if (o->node) {
                if (!node_name_is_valid(o->node)) {
                        log_error("--node: needs a node name (1 to %d of A-Z a-z 0-9 _ . -), not '%s'",
                                  NODE_NAME_MAX, o->node);
                        return -EINVAL;
                }
                if (replace_string(&c->node, o->node) < 0)
                        return log_oom();
        }

        if (o->redis) {
                if (bridge_redis_url_check(o->redis, &kind, &why) < 0) {
                        log_error("--redis: '%s': %s", o->redis, why);
                        return -EINVAL;
                }
                if (replace_string(&c->redis_url, o->redis) < 0)
                        return log_oom();
                c->redis_kind = kind;
        }

        if (o->xcomponent_compat)
                c->xcomponent_compat = true;

        /* the defaults that depend on the rest */
        if (!c->node) {
                r = node_from_hostname(&c->node);
                if (r < 0)
                        return r;
        }
        if (!c->redis_url && replace_string(&c->redis_url, BRIDGE_REDIS_DEFAULT) < 0)
                return log_oom();
        if (!c->has_min_replicas)
                c->min_replicas = c->redis_kind == BRIDGE_REDIS_SENTINEL ? 1 : 0;

        return 0;
}

int bridge_config_load(BridgeConfig *c, const BridgeOptions *o) {
        int r;

        assert(c);
        assert(o);

        bridge_config_init(c);
        r = bridge_config_read(c, o->config ?: BRIDGE_CONFIG_FILE, o->config != NULL);
        if (r >= 0)
                r = bridge_config_apply(c, o);
        if (r < 0) {
                bridge_config_done(c);
                return r;
        }
        return 0;
}

void bridge_config_dump(const BridgeConfig *c, FILE *f) {
        assert(c);
        assert(f);

        fprintf(f, "# bus: %s%s\n",
                c->bus == BRIDGE_BUS_SYSTEM ? "system" : c->bus == BRIDGE_BUS_USER ? "user" : "address ",
                c->bus == BRIDGE_BUS_ADDRESS ? c->bus_address : "");
        fputs("[Bridge]\n", f);
        fprintf(f, "Node=%s\n", c->node ?: "");
        fprintf(f, "Redis=%s\n", c->redis_url ?: "");
        fprintf(f, "MinReplicas=%u\n", c->min_replicas);
        fprintf(f, "WaitMs=%llu\n", (unsigned long long) c->wait_ms);
        fprintf(f, "InboxLimit=%llu\n", (unsigned long long) c->inbox_limit);
        fprintf(f, "Insecure=%s\n", c->insecure ? "yes" : "no");
        fprintf(f, "XcomponentCompat=%s\n", c->xcomponent_compat ? "yes" : "no");
        fputs("XcomponentComponents=", f);
        for (char **s = c->xcomponent_components; s && *s; s++)
                fprintf(f, "%s%s", s == c->xcomponent_components ? "" : " ", *s);
        fputc('\n', f);
}
