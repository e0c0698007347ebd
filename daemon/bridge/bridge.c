/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-redis-bridge: joins this node (its system bus, its workers) to the
 * other nodes sharing one Redis (xfsm-redis-bridge(8)). It owns
 * org.xfsm1.Bridge; claims the homes of the components installed here and
 * beats for this node (directory.c); takes the routed events the workers
 * send to components homed elsewhere into those components' streams
 * (outbound.c); reads the streams of the components homed here and
 * delivers them to their workers (inbound.c); publishes the transitions of
 * its components on xfsm:{C}:transitions. Losing Redis never stops the
 * workers: events wait in their outboxes, and the bridge reconnects. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "component-files.h"
#include "access.h"
#include "bridge-config.h"
#include "bus-errors.h"
#include "calls.h"
#include "directory.h"
#include "inbound.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "node-key.h"
#include "operate.h"
#include "outbound.h"
#include "redis-sentinel.h"
#include "redis.h"
#include "xcompat.h"
#include "xfsm.h"

#define STATUS_USEC (5ULL * 1000000ULL)

typedef struct Bridge {
        sd_event *event;
        sd_bus *bus;
        BridgeConfig config;
        RedisTarget target;
        RedisSentinelUrl sentinel_url; /* Redis=redis-sentinel://... */
        RedisSentinel *sentinel;       /* the locator of every connection then */
        char uuid[37];
        char **local; /* the components installed here */
        NodeKeyring *keyring;
        RedisConn *writer;
        Directory *directory;
        Access *access;
        Outbound *outbound;
        Inbound *inbound;
        Calls *calls;
        Operate *operate;
        BridgeRates rates;
        BridgeOptions options;
        Xcompat *xcompat; /* XcomponentCompat=yes */
        sd_bus_slot *transitions, *object;
        sd_event_source *status;
        uint64_t last_sent, last_delivered, last_status_usec;
} Bridge;

static void help(void) {
        printf("xfsm-redis-bridge [OPTIONS]\n\n"
               "Join this node's xfsm components to other nodes through Redis: routed events to\n"
               "components homed on other nodes go into their streams, those for components homed\n"
               "here are delivered to their workers, exactly once.\n\n"
               "  --config FILE        Settings (default /etc/xfsm/bridge.conf)\n"
               "  --system | --user | --bus-address ADDR\n"
               "                       The bus of this node's workers (default the system bus)\n"
               "  --node NAME          This node's name (Node=, default the host name)\n"
               "  --redis URL          redis://[USER:PASSWORD@]HOST:PORT[/DB], or\n"
               "                       redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTERNAME (Redis=)\n"
               "  --xcomponent-compat  Also speak xcomponent-ai's Redis format (XcomponentCompat=):\n"
               "                       messages on xcomponent:C for the components homed here, and\n"
               "                       routed events for XcomponentComponents= published there\n"
               "  --state-dir DIR      Where the node's UUID is kept ($STATE_DIRECTORY, /var/lib/xfsm-bridge)\n"
               "  --nodes-dir DIR      The public keys of the nodes accepted (/etc/xfsm/nodes.d)\n"
               "  --node-key FILE      This node's secret key (default the credential node-key)\n"
               "  --generate-key PREFIX\n"
               "                       Write a new key pair to PREFIX.key and PREFIX.pub, and exit\n"
               "  --help, --version\n\n"
               "The Redis password comes from the credential redis-password (one line: the\n"
               "password; two lines: the ACL user, then the password); the sentinels' from\n"
               "redis-sentinel-password, the same way. See xfsm-redis-bridge(8).\n");
}

/* ---- this node ----------------------------------------------------------------- */

static int generate_key(const char *prefix) {
        _cleanup_(freep) char *secret = NULL, *public = NULL;
        _cleanup_(fclosep) FILE *fs = NULL, *fp = NULL;
        int fd, r;

        if (asprintf(&secret, "%s.key", prefix) < 0 || asprintf(&public, "%s.pub", prefix) < 0)
                return log_oom();
        fd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(-errno, "Cannot create %s: %m", secret);
        fs = fdopen(fd, "w");
        fp = fopen(public, "wxe");
        if (!fs || !fp)
                return log_error_errno(-errno, "Cannot write the key pair: %m");
        r = node_key_generate(fs, fp);
        if (r < 0)
                return log_error_errno(r, "Cannot generate a key pair: %m");
        printf("Secret key: %s (give it to the bridge as the credential node-key)\n"
               "Public key: %s (copy it to /etc/xfsm/nodes.d/NODE.pub on every node)\n",
               secret, public);
        return 0;
}

/* The node's UUID, made once and kept in the state directory. */
static int load_uuid(const char *dir, char ret[37]) {
        _cleanup_(freep) char *path = NULL, *tmp = NULL;
        char buf[64] = "";
        sd_id128_t id;
        int r;

        if (asprintf(&path, "%s/node-id", dir) < 0 || asprintf(&tmp, "%s/node-id.tmp", dir) < 0)
                return -ENOMEM;
        {
                _cleanup_(fclosep) FILE *f = fopen(path, "re");
                if (f && fgets(buf, sizeof buf, f)) {
                        buf[strcspn(buf, "\n")] = 0;
                        if (sd_id128_from_string(buf, &id) >= 0) {
                                snprintf(ret, 37, SD_ID128_UUID_FORMAT_STR, SD_ID128_FORMAT_VAL(id));
                                return 0;
                        }
                }
        }
        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        snprintf(ret, 37, SD_ID128_UUID_FORMAT_STR, SD_ID128_FORMAT_VAL(id));
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        {
                _cleanup_(fclosep) FILE *f = fopen(tmp, "we");
                if (!f || fprintf(f, "%s\n", ret) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0)
                        return -errno ?: -EIO;
        }
        return rename(tmp, path) < 0 ? -errno : 0;
}

/* The components installed on this node (their YAML names), from the
 * components directories. */
static int local_components(char ***ret) {
        const char *dirs = component_dirs();
        char **v = calloc(1, sizeof *v);
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        for (const char *p = dirs; *p;) {
                size_t l = strcspn(p, ":");
                char dir[PATH_MAX];
                DIR *d;
                struct dirent *de;

                snprintf(dir, sizeof dir, "%.*s", (int) l, p);
                p += l + (p[l] == ':');
                if (l == 0 || !(d = opendir(dir)))
                        continue;
                while ((de = readdir(d))) {
                        char file[PATH_MAX * 2];
                        size_t fl = strlen(de->d_name);
                        xfsm_engine *e;
                        bool seen = false;

                        if (fl < 6 || !streq(de->d_name + fl - 5, ".yaml"))
                                continue;
                        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
                        e = xfsm_engine_new();
                        if (!e)
                                break;
                        if (xfsm_engine_load_file(e, file, NULL, NULL) >= 0) {
                                const char *name = xfsm_engine_component_name(e, 0);
                                for (size_t k = 0; k < n && !seen; k++)
                                        seen = streq(v[k], name);
                                char **nv = seen ? v : reallocarray(v, n + 2, sizeof *v);
                                if (nv && !seen && (nv[n] = strdup(name))) {
                                        v = nv;
                                        v[++n] = NULL;
                                }
                        }
                        xfsm_engine_free(e);
                }
                closedir(d);
        }
        *ret = v;
        return 0;
}

/* A Redis password (and ACL user) from the credential name: redis-password
 * (the data nodes) or redis-sentinel-password (the sentinels). */
static int load_redis_credential(const char *name, char **user, char **password) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        _cleanup_(freep) char *path = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        char a[512] = "", b[512] = "";

        if (*password || isempty(dir))
                return 0;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Cannot read %s: %m", path);
        if (!fgets(a, sizeof a, f))
                return 0;
        a[strcspn(a, "\n")] = 0;
        if (fgets(b, sizeof b, f))
                b[strcspn(b, "\n")] = 0;
        if (*b) {
                *user = strdup(a);
                *password = strdup(b);
        } else
                *password = strdup(a);
        explicit_bzero(a, sizeof a);
        explicit_bzero(b, sizeof b);
        return *password ? 0 : -ENOMEM;
}

/* ---- transitions, for monitoring ---------------------------------------------------- */

static int on_transition(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Bridge *b = userdata;
        _cleanup_(freep) char *component = NULL, *machine = NULL, *id = NULL, *channel = NULL, *json = NULL;
        const char *from, *to, *event, *correlation;
        size_t len = 0;
        FILE *f;

        if (sd_bus_path_decode_many(sd_bus_message_get_path(m), "/org/xfsm1/%/%/%", &component, &machine, &id) <= 0 ||
            sd_bus_message_read(m, "ssss", &from, &to, &event, &correlation) < 0 ||
            !directory_is_home(b->directory, component) || !redis_conn_is_up(b->writer))
                return 0;
        f = open_memstream(&json, &len);
        if (!f)
                return 0;
        fputs("{\"instance\":", f);
        json_write_string(f, id);
        fputs(",\"machine\":", f);
        json_write_string(f, machine);
        fputs(",\"from\":", f);
        json_write_string(f, from);
        fputs(",\"to\":", f);
        json_write_string(f, to);
        fputs(",\"event\":", f);
        json_write_string(f, event);
        fprintf(f, ",\"at\":%llu}", (unsigned long long) time(NULL) * 1000ULL);
        if (fclose(f) != 0 || asprintf(&channel, "xfsm:{%s}:transitions", component) < 0)
                return 0;
        (void) redis_command(b->writer, 0, NULL, NULL, "PUBLISH %s %s", channel, json); /* best effort */
        return 0;
}

/* ---- org.xfsm1.Bridge at /org/xfsm1/Bridge ------------------------------------------- */

static void on_home_answer(Directory *d, const char *component, const char *home, void *userdata) {
        sd_bus_message *msg = userdata;

        /* handed over from here and not taken yet: not here any more */
        if (!home && directory_is_released(d, component))
                (void) sd_bus_reply_method_return(msg, "sb", "(released, not taken yet)", false);
        else
                /* "" and true: not known (Redis unreachable, never seen): a node serves its own components */
                (void) sd_bus_reply_method_return(msg, "sb", home ?: "", !home || streq(home, directory_node(d)));
        sd_bus_message_unref(msg);
}

static int local_components(char ***ret);

static bool is_local(Bridge *b, const char *component) {
        for (char **c = b->local; c && *c; c++)
                if (streq(*c, component))
                        return true;
        return false;
}

/* The components installed here, read again (a component enabled since the
 * bridge started, or disabled). */
static void rescan_local(Bridge *b) {
        char **v = NULL;

        if (local_components(&v) < 0)
                return;
        for (char **c = b->local; c && *c; c++)
                free(*c);
        free(b->local);
        b->local = v;
        (void) directory_set_local(b->directory, b->local);
}

/* Home(s component) -> (s node, b here): where component is homed, and
 * whether that is this node; asked by xfsmd before it serves a component. */
static int method_home(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bridge *b = userdata;
        const char *component;
        int r;

        r = sd_bus_message_read(msg, "s", &component);
        if (r < 0)
                return r;
        if (strlen(component) > XFSM_MAX_NAME)
                return bus_error_setf_xfsm(error, -XFSM_E_INVALID_ARGUMENT, "component name longer than %d bytes",
                                           XFSM_MAX_NAME);
        if (!is_local(b, component))
                rescan_local(b); /* installed since this bridge started? */
        r = directory_ask_home(b->directory, component, on_home_answer, sd_bus_message_ref(msg));
        if (r < 0) {
                sd_bus_message_unref(msg);
                return r;
        }
        return 1;
}

/* ListRemoteComponents() -> (s node, a(ssb) components): this node's name,
 * and each component homed on another node with that node and whether its
 * heartbeat is alive (xfsmd's ListComponentsEx). */
static int method_list_remote(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bridge *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", b->config.node);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssb)");
        for (size_t k = 0; r >= 0 && k < directory_n_remote(b->directory); k++) {
                const char *c = directory_remote(b->directory, k), *home = directory_home(b->directory, c);
                r = sd_bus_message_append(reply, "(ssb)", c, home ?: "", home && directory_node_alive(b->directory, home));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_node(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Bridge *b = userdata;

        if (streq(property, "Node"))
                return sd_bus_message_append(reply, "s", b->config.node);
        if (streq(property, "NodeUUID"))
                return sd_bus_message_append(reply, "s", b->uuid);
        return sd_bus_message_append(reply, "b", redis_conn_is_up(b->writer));
}

static int bridge_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        if (!streq(path, "/org/xfsm1/Bridge"))
                return 0;
        *found = userdata;
        return 1;
}

static const sd_bus_vtable bridge_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Node", "s", property_get_node, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NodeUUID", "s", property_get_node, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Connected", "b", property_get_node, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Home", SD_BUS_ARGS("s", component), SD_BUS_RESULT("s", node, "b", here),
                                method_home, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRemoteComponents", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("s", node, "a(ssb)", components), method_list_remote,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- Redis and the directory ----------------------------------------------------- */

static void on_changed(Directory *d, void *userdata) {
        Bridge *b = userdata;

        /* the components homed here: read their inboxes */
        for (char **c = b->local; c && *c; c++)
                if (directory_is_home(d, *c)) {
                        (void) inbound_add(b->inbound, *c);
                        (void) calls_add(b->calls, *c);
                        if (b->xcompat)
                                (void) xcompat_add_home(b->xcompat, *c);
                }
        /* the components homed elsewhere: their transitions relayed here */
        for (size_t k = 0; k < directory_n_remote(d); k++)
                (void) calls_follow(b->calls, directory_remote(d, k));
}

static void on_conflict(Directory *d, const char *holder, void *userdata) {
        Bridge *b = userdata;

        (void) sd_notifyf(0, "STATUS=Node name %s is held by another bridge (node UUID %s): stopping",
                          directory_node(d), holder);
        (void) sd_event_exit(b->event, EXIT_FAILURE);
}

static void on_connected(RedisConn *c, void *userdata) {
        Bridge *b = userdata;

        log_info("Connected to Redis at %s", redis_conn_address(c));
        directory_connected(b->directory);
}

static void on_disconnected(RedisConn *c, int error, const char *reason, void *userdata) {
        log_warning("Redis connection lost (%s): local work goes on, events wait in the workers' outboxes; "
                    "reconnecting",
                    reason ?: strerror(-error));
}

static int on_status(sd_event_source *s, uint64_t usec, void *userdata) {
        Bridge *b = userdata;
        OutboundStats out = outbound_stats(b->outbound);
        InboundStats in = inbound_stats(b->inbound, NULL);
        double secs = b->last_status_usec ? (double) (usec - b->last_status_usec) / 1e6 : 0;

        (void) sd_notifyf(0,
                          "STATUS=Node %s, Redis %s; %zu components elsewhere; in: %llu waiting, %.0f/s; out: %.0f/s; "
                          "dead: %llu",
                          b->config.node, redis_conn_is_up(b->writer) ? "connected" : "unreachable",
                          directory_n_remote(b->directory), (unsigned long long) in.waiting,
                          secs > 0 ? (double) (in.delivered - b->last_delivered) / secs : 0,
                          secs > 0 ? (double) (out.sent - b->last_sent) / secs : 0, (unsigned long long) in.dead);
        b->rates = (BridgeRates) {
                .delivered_per_sec = secs > 0 ? (double) (in.delivered - b->last_delivered) / secs : 0,
                .sent_per_sec = secs > 0 ? (double) (out.sent - b->last_sent) / secs : 0,
        };
        b->last_status_usec = usec;
        b->last_delivered = in.delivered;
        b->last_sent = out.sent;
        (void) sd_event_source_set_time(s, usec + STATUS_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/* ---- reload (SIGHUP, systemctl reload) ----------------------------------------------- */

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Bridge *b = userdata;
        BridgeConfig c = {};

        (void) sd_notify(0, "RELOADING=1");
        bridge_config_init(&c);
        if (bridge_config_load(&c, &b->options) < 0)
                log_warning("bridge.conf cannot be read: the settings stay as they were");
        else {
                if (!streq(c.node, b->config.node) || !streq(c.redis_url, b->config.redis_url) || c.bus != b->config.bus ||
                    c.insecure != b->config.insecure || c.xcomponent_compat != b->config.xcomponent_compat)
                        log_warning("Node=, Redis=, Insecure=, XcomponentCompat= and the bus change only with a "
                                    "restart: kept as they were");
                b->config.inbox_limit = c.inbox_limit;
                b->config.min_replicas = c.min_replicas;
                b->config.has_min_replicas = c.has_min_replicas;
                b->config.wait_ms = c.wait_ms;
                log_info("Reloaded: InboxLimit=%llu MinReplicas=%u WaitMs=%llu",
                         (unsigned long long) c.inbox_limit, c.min_replicas, (unsigned long long) c.wait_ms);
        }
        bridge_config_done(&c);
        rescan_local(b);
        (void) sd_notify(0, "READY=1");
        return 0;
}

/* ---- setup ------------------------------------------------------------------------ */

/* Where Redis is: a redis:// address, or the sentinels of a
 * redis-sentinel:// URL (then the data nodes' password goes in b->target,
 * the sentinels' stays in b->sentinel_url). Not on this machine: refused
 * unless Insecure=yes. */
static int setup_redis_target(Bridge *b) {
        const char *url = b->config.redis_url, *why = NULL;
        int r;

        if (b->config.redis_kind == BRIDGE_REDIS_DIRECT) {
                r = redis_url_parse(url, &b->target, &why);
                if (r < 0)
                        return log_error_errno(r, "Redis=%s: %s", url, why ?: "cannot be read");
                if (!redis_host_is_loopback(b->target.host) && !b->config.insecure)
                        return log_error_errno(-EPERM,
                                               "Redis=%s is not on this machine and this hiredis has no TLS: refusing "
                                               "it (use a TLS tunnel or a private network, and say Insecure=yes)",
                                               url);
                return load_redis_credential("redis-password", &b->target.user, &b->target.password);
        }

        r = redis_sentinel_url_parse(url, &b->sentinel_url, &why);
        if (r < 0)
                return log_error_errno(r, "Redis=%s: %s", url, why ?: "cannot be read");
        for (size_t i = 0; i < b->sentinel_url.n_sentinels; i++)
                if (!redis_host_is_loopback(b->sentinel_url.sentinels[i].host) && !b->config.insecure)
                        return log_error_errno(-EPERM,
                                               "Redis=%s: the sentinel %s is not on this machine and this hiredis has "
                                               "no TLS: refusing it (use a TLS tunnel or a private network, and say "
                                               "Insecure=yes)",
                                               url, b->sentinel_url.sentinels[i].host);

        /* the URL's user and password are the data nodes'; the sentinels' come from their own credential */
        b->target.user = TAKE_PTR(b->sentinel_url.user);
        b->target.password = TAKE_PTR(b->sentinel_url.password);
        r = load_redis_credential("redis-password", &b->target.user, &b->target.password);
        if (r < 0)
                return r;
        return load_redis_credential("redis-sentinel-password", &b->sentinel_url.user, &b->sentinel_url.password);
}

static int open_bus(const BridgeConfig *c, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        switch (c->bus) {
        case BRIDGE_BUS_USER:
                r = sd_bus_open_user(&bus);
                break;
        case BRIDGE_BUS_ADDRESS:
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, c->bus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
                break;
        default:
                r = sd_bus_open_system(&bus);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int setup(Bridge *b, const BridgeOptions *o) {
        const char *state_dir = o->state_dir ?: getenv("STATE_DIRECTORY") ?: "/var/lib/xfsm-bridge";
        _cleanup_(freep) char *key_path = NULL;
        uint8_t secret[NODE_KEY_SIZE], public[NODE_KEY_SIZE];
        uint64_t now;
        int r;

        r = setup_redis_target(b);
        if (r < 0)
                return r;

        if (o->node_key)
                key_path = strdup(o->node_key);
        else if (node_key_credential_path(&key_path) < 0)
                key_path = NULL;
        if (!key_path)
                return log_error_errno(-ENOKEY, "No node key: give the credential node-key (or --node-key FILE)");
        r = node_key_load_secret(key_path, secret, public);
        if (r < 0)
                return log_error_errno(r, "Cannot load the node key %s: %m", key_path);
        r = node_keyring_new(b->config.node, secret, &b->keyring);
        explicit_bzero(secret, sizeof secret);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the node keys: %m");
        r = node_keyring_load_dir(b->keyring, o->nodes_dir ?: "/etc/xfsm/nodes.d");
        if (r < 0)
                log_warning_errno(r, "Cannot read the nodes' public keys: %m; only this node is accepted");

        r = load_uuid(state_dir, b->uuid);
        if (r < 0)
                return log_error_errno(r, "Cannot keep the node's UUID in %s: %m", state_dir);
        r = local_components(&b->local);
        if (r < 0)
                return log_oom();

        r = sd_event_default(&b->event);
        if (r < 0)
                return r;
        (void) sd_event_add_signal(b->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(b->event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(b->event, NULL, SIGHUP, on_reload, b);
        (void) sd_event_set_watchdog(b->event, true);
        r = open_bus(&b->config, &b->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the bus: %m");
        (void) bus_errors_register();
        r = sd_bus_attach_event(b->bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        if (b->sentinel_url.master) {
                r = redis_sentinel_new(&b->sentinel, b->event, &b->sentinel_url, b->sentinel_url.user,
                                       b->sentinel_url.password, b->config.insecure);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up Redis Sentinel: %m");
                b->target.locator = redis_sentinel_locator(b->sentinel);
        }
        r = redis_conn_new(&b->writer, b->event, &b->target, "writer",
                           &(RedisConnCallbacks) { .connected = on_connected, .disconnected = on_disconnected }, b);
        if (r < 0)
                return r;
        _cleanup_(freep) char *cache = NULL;
        if (asprintf(&cache, "%s/homes", state_dir) < 0)
                return log_oom();
        r = directory_new(&b->directory, b->event, b->writer, b->config.node, b->uuid, b->local, cache,
                          &(DirectoryCallbacks) { .changed = on_changed, .conflict = on_conflict }, b);
        if (r < 0)
                return r;
        r = access_new(&b->access, b->event, b->bus, false);
        if (r >= 0)
                r = access_setup(b->access);
        if (r < 0)
                return log_error_errno(r, "Failed to set up access control: %m");
        r = outbound_new(&b->outbound, b->bus, b->writer, b->keyring, b->directory, b->access, &b->config);
        if (r < 0)
                return log_error_errno(r, "Failed to serve the components of other nodes: %m");
        r = inbound_new(&b->inbound, b->event, b->bus, &b->target, b->keyring, b->directory);
        if (r < 0)
                return r;
        r = calls_new(&b->calls, b->event, b->bus, &b->target, b->writer, b->keyring, b->directory, b->access);
        if (r < 0)
                return log_error_errno(r, "Failed to serve calls from other nodes: %m");
        r = operate_new(&b->operate, &(OperateDeps) { .bus = b->bus,
                                                      .writer = b->writer,
                                                      .directory = b->directory,
                                                      .inbound = b->inbound,
                                                      .outbound = b->outbound,
                                                      .calls = b->calls,
                                                      .access = b->access,
                                                      .rates = &b->rates,
                                                      .config = &b->config });
        if (r < 0)
                return log_error_errno(r, "Failed to serve the operators' methods: %m");
        if (b->config.xcomponent_compat) {
                r = xcompat_new(&b->xcompat, b->event, b->bus, b->writer, &b->target, b->access,
                                b->config.xcomponent_components);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up xcomponent-ai compatibility: %m");
        } else if (b->config.xcomponent_components)
                log_warning("XcomponentComponents= is set but XcomponentCompat= is not: ignored");
        /* a fallback like the remote components' vtable under it (sd-bus keeps one kind per path) */
        r = sd_bus_add_fallback_vtable(b->bus, &b->object, "/org/xfsm1/Bridge", "org.xfsm1.Bridge", bridge_vtable,
                                       bridge_object_find, b);
        if (r < 0)
                return log_error_errno(r, "Failed to register /org/xfsm1/Bridge: %m");
        r = sd_bus_match_signal(b->bus, &b->transitions, NULL, NULL, "org.xfsm1.Instance", "Transition",
                                on_transition, b);
        if (r < 0)
                return log_error_errno(r, "Failed to follow transitions: %m");
        r = sd_bus_request_name(b->bus, "org.xfsm1.Bridge", 0);
        if (r < 0)
                return log_error_errno(r, "Failed to own org.xfsm1.Bridge: %m");
        if (b->sentinel) {
                r = redis_sentinel_start(b->sentinel);
                if (r < 0)
                        return r;
        }
        r = redis_conn_start(b->writer);
        if (r < 0)
                return r;
        if (sd_event_now(b->event, CLOCK_MONOTONIC, &now) >= 0 &&
            sd_event_add_time(b->event, &b->status, CLOCK_MONOTONIC, now + STATUS_USEC, 1000000, on_status, b) >= 0)
                (void) sd_event_source_set_enabled(b->status, SD_EVENT_ON);
        size_t n_local = 0;
        while (b->local[n_local])
                n_local++;
        log_info("Node %s (UUID %s): %zu components installed here; Redis %s", b->config.node, b->uuid, n_local,
                 redis_conn_address(b->writer));
        return 0;
}

static void bridge_done(Bridge *b) {
        /* the connections first: their pending commands are answered while the modules still exist */
        b->writer = redis_conn_free(b->writer);
        b->xcompat = xcompat_free(b->xcompat);
        b->inbound = inbound_free(b->inbound);
        b->calls = calls_free(b->calls);
        b->operate = operate_free(b->operate);
        b->sentinel = redis_sentinel_free(b->sentinel); /* after every connection that follows it */
        b->outbound = outbound_free(b->outbound);
        b->directory = directory_free(b->directory);
        b->access = access_free(b->access);
        sd_bus_slot_unref(b->transitions);
        sd_bus_slot_unref(b->object);
        sd_event_source_disable_unref(b->status);
        sd_bus_flush_close_unref(b->bus);
        node_keyring_free(b->keyring);
        for (char **c = b->local; c && *c; c++)
                free(*c);
        free(b->local);
        redis_target_done(&b->target);
        redis_sentinel_url_done(&b->sentinel_url);
        bridge_config_done(&b->config);
        sd_event_unref(b->event);
}

int main(int argc, char *argv[]) {
        BridgeOptions o = {};
        Bridge b = {};
        int r;

        log_setup();
        log_set_identifier("xfsm-redis-bridge");
        (void) signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(2) */
        if (bridge_options_parse(&o, argc, argv) < 0)
                return 2;
        if (o.help) {
                help();
                return 0;
        }
        if (o.version) {
                printf("xfsm-redis-bridge " XFSM_VERSION "\n");
                return 0;
        }
        if (o.generate_key)
                return generate_key(o.generate_key) < 0 ? EXIT_FAILURE : 0;
        bridge_config_init(&b.config);
        if (bridge_config_load(&b.config, &o) < 0)
                return EXIT_FAILURE;
        log_set_node(b.config.node);

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        b.options = o;
        r = setup(&b, &o);
        if (r >= 0) {
                (void) sd_notifyf(0, "READY=1\nSTATUS=Node %s, connecting to Redis", b.config.node);
                r = sd_event_loop(b.event);
                (void) sd_notify(0, "STOPPING=1");
        }
        bridge_done(&b);
        return r < 0 ? EXIT_FAILURE : r;
}
