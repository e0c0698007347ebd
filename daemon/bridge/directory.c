/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who is where (see directory.h): the node's heartbeat, the homes claimed
 * and learned, the other nodes' liveness. Every Redis command here goes on
 * the writer connection with a short deadline; a command that fails is
 * simply tried again at the next beat or scan. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "directory.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

#define BEAT_USEC (1000ULL * 1000ULL)
#define SCAN_USEC (2000ULL * 1000ULL)
#define HEARTBEAT_TTL_MS 5000
#define COMMAND_USEC (2000ULL * 1000ULL)

typedef struct Home {
        char *component;
        char *node;
} Home;

typedef struct NodeInfo {
        char *name;
        char *uuid; /* from its heartbeat */
        bool alive;
} NodeInfo;

struct Directory {
        sd_event *event;
        RedisConn *writer;
        char *node, *uuid;
        char **local; /* the components installed here */
        char **released; /* installed here, handed over: never claimed again by this bridge */
        char **forgotten; /* released on another node: claimed here only when a worker asks (the hand-over) */
        char **releasing; /* homed here, a release under way: the home key is not written again meanwhile */
        char *cache;  /* the homes learned, kept across restarts */
        DirectoryCallbacks cb;
        void *userdata;

        bool claimed; /* the node name is ours */
        sd_event_source *beat, *scan;

        Home *homes;
        size_t n_homes;
        NodeInfo *nodes;
        size_t n_nodes;
        char **remote; /* homes on other nodes, sorted */
        size_t n_remote;
};

/* A command's context: the directory and, for homes, the component (and who
 * waits for its home). */
typedef struct Ask {
        Directory *d;
        char *component;
        directory_home_fn cb;
        void *userdata;
} Ask;

static Ask *ask_new(Directory *d, const char *component) {
        Ask *a = calloc(1, sizeof *a);

        if (!a)
                return NULL;
        a->d = d;
        if (component && !(a->component = strdup(component)))
                return mfree(a);
        return a;
}

static void ask_free(Ask *a) {
        if (!a)
                return;
        free(a->component);
        free(a);
}

static char **strv_copy(char *const *v) {
        size_t n = 0;
        char **c;

        while (v && v[n])
                n++;
        c = calloc(n + 1, sizeof *c);
        if (!c)
                return NULL;
        for (size_t k = 0; k < n; k++)
                if (!(c[k] = strdup(v[k]))) {
                        for (size_t j = 0; j < k; j++)
                                free(c[j]);
                        return mfree(c);
                }
        return c;
}

static void strv_free(char **v) {
        for (size_t k = 0; v && v[k]; k++)
                free(v[k]);
        free(v);
}

static bool strv_has(char *const *v, const char *s) {
        for (size_t k = 0; v && v[k]; k++)
                if (streq(v[k], s))
                        return true;
        return false;
}

static int strv_add(char ***v, const char *s) {
        size_t n = 0;
        char **nv;

        if (strv_has(*v, s))
                return 0;
        while (*v && (*v)[n])
                n++;
        nv = reallocarray(*v, n + 2, sizeof *nv);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[n] = strdup(s);
        nv[n + 1] = NULL;
        return nv[n] ? 0 : -ENOMEM;
}

static void strv_remove(char **v, const char *s) {
        size_t j = 0;

        for (size_t k = 0; v && v[k]; k++)
                if (streq(v[k], s))
                        free(v[k]);
                else
                        v[j++] = v[k];
        if (v)
                v[j] = NULL;
}

static void cache_load(Directory *d);

int directory_new(Directory **ret, sd_event *event, RedisConn *writer, const char *node, const char *uuid,
                  char *const *local, const char *cache, const DirectoryCallbacks *cb, void *userdata) {
        _cleanup_(directory_freep) Directory *d = NULL;

        assert(ret);
        assert(node && uuid);
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(event);
        d->writer = writer;
        d->node = strdup(node);
        d->uuid = strdup(uuid);
        d->local = strv_copy(local);
        if (!d->node || !d->uuid || !d->local || (cache && !(d->cache = strdup(cache))))
                return -ENOMEM;
        cache_load(d); /* before the callbacks: nothing to tell yet */
        if (cb)
                d->cb = *cb;
        d->userdata = userdata;
        *ret = TAKE_PTR(d);
        return 0;
}

Directory *directory_free(Directory *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->beat);
        sd_event_source_disable_unref(d->scan);
        for (size_t k = 0; k < d->n_homes; k++) {
                free(d->homes[k].component);
                free(d->homes[k].node);
        }
        free(d->homes);
        for (size_t k = 0; k < d->n_nodes; k++) {
                free(d->nodes[k].name);
                free(d->nodes[k].uuid);
        }
        free(d->nodes);
        free(d->remote);
        strv_free(d->local);
        strv_free(d->released);
        strv_free(d->forgotten);
        strv_free(d->releasing);
        free(d->cache);
        free(d->node);
        free(d->uuid);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

const char *directory_node(const Directory *d) {
        return d->node;
}

static Home *home_find(const Directory *d, const char *component) {
        for (size_t k = 0; k < d->n_homes; k++)
                if (streq(d->homes[k].component, component))
                        return &d->homes[k];
        return NULL;
}

const char *directory_home(const Directory *d, const char *component) {
        const Home *h = home_find(d, component);

        return h ? h->node : NULL;
}

bool directory_is_home(const Directory *d, const char *component) {
        return streq_ptr(directory_home(d, component), d->node);
}

bool directory_node_alive(const Directory *d, const char *node) {
        if (streq(node, d->node))
                return true;
        for (size_t k = 0; k < d->n_nodes; k++)
                if (streq(d->nodes[k].name, node))
                        return d->nodes[k].alive;
        return false;
}

size_t directory_n_remote(const Directory *d) {
        return d->n_remote;
}

const char *directory_remote(const Directory *d, size_t i) {
        return i < d->n_remote ? d->remote[i] : NULL;
}

bool directory_is_remote(const Directory *d, const char *component) {
        const char *home = directory_home(d, component);

        return home && !streq(home, d->node);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void remote_rebuild(Directory *d) {
        char **v = reallocarray(d->remote, d->n_homes + 1, sizeof *v);
        size_t n = 0;

        if (!v)
                return;
        d->remote = v;
        for (size_t k = 0; k < d->n_homes; k++)
                if (!streq(d->homes[k].node, d->node))
                        v[n++] = d->homes[k].component;
        qsort(v, n, sizeof *v, cmp_str);
        d->n_remote = n;
}

/* ---- the homes kept across restarts: "COMPONENT NODE" lines ------------------- */

static void home_set(Directory *d, const char *component, const char *node);

static void cache_load(Directory *d) {
        _cleanup_(fclosep) FILE *f = NULL;
        char line[512], c[256], n[256];

        if (!d->cache || !(f = fopen(d->cache, "re")))
                return;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "%255s %255s", c, n) == 2) {
                        if (streq(n, "-"))
                                (void) strv_add(&d->released, c); /* handed over from here */
                        else if (streq(n, "~"))
                                (void) strv_add(&d->forgotten, c); /* handed over from another node */
                        else
                                home_set(d, c, n);
                }
}

static void cache_save(Directory *d) {
        _cleanup_(freep) char *tmp = NULL;
        FILE *f;

        if (!d->cache || asprintf(&tmp, "%s.tmp", d->cache) < 0 || !(f = fopen(tmp, "we")))
                return;
        for (size_t k = 0; k < d->n_homes; k++)
                fprintf(f, "%s %s\n", d->homes[k].component, d->homes[k].node);
        for (size_t k = 0; d->released && d->released[k]; k++)
                if (!home_find(d, d->released[k]))
                        fprintf(f, "%s -\n", d->released[k]);
        for (size_t k = 0; d->forgotten && d->forgotten[k]; k++)
                if (!home_find(d, d->forgotten[k]))
                        fprintf(f, "%s ~\n", d->forgotten[k]);
        if (fclose(f) == 0)
                (void) rename(tmp, d->cache);
}

/* A home learned (homes change only by hand-over: a different one is logged). */
static void home_set(Directory *d, const char *component, const char *node) {
        Home *h, *v;

        if (!component || !node)
                return;
        h = home_find(d, component);

        if (h) {
                if (streq(h->node, node))
                        return;
                log_notice("%s is homed on %s now (was %s)", component, node, h->node);
                char *n = strdup(node);
                if (!n)
                        return;
                free(h->node);
                h->node = n;
        } else {
                v = reallocarray(d->homes, d->n_homes + 1, sizeof *v);
                if (!v)
                        return;
                d->homes = v;
                h = &v[d->n_homes];
                *h = (Home) { .component = strdup(component), .node = strdup(node) };
                if (!h->component || !h->node) {
                        free(h->component);
                        free(h->node);
                        return;
                }
                d->n_homes++;
                if (!streq(node, d->node))
                        log_info("%s is homed on node %s", component, node);
        }
        if (!streq(node, d->node))
                strv_remove(d->released, component); /* the hand-over is done: taken elsewhere */
        strv_remove(d->forgotten, component);
        remote_rebuild(d);
        cache_save(d);
        if (d->cb.changed)
                d->cb.changed(d, d->userdata);
}

/* A home on another node that Redis no longer has: released there and taken
 * by no node yet (a hand-over under way, or the component retired). Known
 * again from the heartbeat of whichever node takes it; installed here, it is
 * not claimed at the next claim of all homes (a reconnection, a reload),
 * only when its worker asks, as the node that takes it over does. */
static void home_forget(Directory *d, const char *component) {
        Home *h = home_find(d, component);

        if (!h || streq(h->node, d->node))
                return;
        log_info("%s is homed nowhere now (released on %s)", component, h->node);
        (void) strv_add(&d->forgotten, component);
        free(h->component);
        free(h->node);
        *h = d->homes[--d->n_homes];
        remote_rebuild(d);
        cache_save(d);
        if (d->cb.changed)
                d->cb.changed(d, d->userdata);
}

/* ---- heartbeat ------------------------------------------------------------------ */

/* {"uuid": ..., "components": [the components homed here]} */
static char *heartbeat_json(Directory *d) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        bool first = true;

        if (!f)
                return NULL;
        fputs("{\"uuid\":", f);
        json_write_string(f, d->uuid);
        fputs(",\"components\":[", f);
        for (char **c = d->local; c && *c; c++) {
                if (!directory_is_home(d, *c))
                        continue;
                fputs(first ? "" : ",", f);
                json_write_string(f, *c);
                first = false;
        }
        fputs("]}", f);
        if (fclose(f) != 0)
                return mfree(buf);
        return buf;
}

static char *uuid_of(const redisReply *reply) {
        json_object *o;
        char *uuid = NULL;

        if (!reply || reply->type != REDIS_REPLY_STRING)
                return NULL;
        o = json_tokener_parse(reply->str);
        if (o && json_get_string(o, "uuid"))
                uuid = strdup(json_get_string(o, "uuid"));
        json_object_put(o);
        return uuid;
}

static void claim_homes(Directory *d);

static void on_beat_reply(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        Directory *d = a->d;
        _cleanup_(freep) char *holder = NULL;

        ask_free(a);
        if (error < 0 || !reply || reply->type == REDIS_REPLY_ERROR)
                return;
        /* SET ... GET: the value before ours; another UUID there means another bridge took the name */
        holder = uuid_of(reply);
        if (holder && !streq(holder, d->uuid)) {
                log_error("Node name %s is held by another bridge (node UUID %s, ours %s)", d->node, holder, d->uuid);
                d->claimed = false;
                if (d->cb.conflict)
                        d->cb.conflict(d, holder, d->userdata);
        }
}

static void beat(Directory *d) {
        _cleanup_(freep) char *key = NULL, *value = heartbeat_json(d);
        Ask *a;

        if (!d->claimed || !value || asprintf(&key, "xfsm:node:{%s}", d->node) < 0)
                return;
        a = ask_new(d, NULL);
        if (!a)
                return;
        if (redis_command(d->writer, COMMAND_USEC, on_beat_reply, a, "SET %s %s PX %d GET", key, value,
                          HEARTBEAT_TTL_MS) < 0)
                ask_free(a);
}

static int on_beat_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Directory *d = userdata;

        beat(d);
        (void) sd_event_source_set_time(s, usec + BEAT_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/* ---- the claim of the node name --------------------------------------------------- */

static void claimed(Directory *d) {
        uint64_t now;

        d->claimed = true;
        (void) redis_command(d->writer, COMMAND_USEC, NULL, NULL, "SADD xfsm:nodes %s", d->node);
        claim_homes(d);
        /* the homes known from before a restart (the cache) are served from now on: without
         * this, a node alone (no other node's liveness to change) never heard of them */
        if (d->cb.changed)
                d->cb.changed(d, d->userdata);
        if (!d->beat && sd_event_now(d->event, CLOCK_MONOTONIC, &now) >= 0 &&
            sd_event_add_time(d->event, &d->beat, CLOCK_MONOTONIC, now + BEAT_USEC, 100000, on_beat_timer, d) >= 0)
                (void) sd_event_source_set_enabled(d->beat, SD_EVENT_ON);
}

static void on_name_get(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        Directory *d = a->d;
        _cleanup_(freep) char *holder = NULL;

        ask_free(a);
        if (error < 0 || !reply || reply->type == REDIS_REPLY_ERROR)
                return; /* tried again when Redis is back */
        holder = uuid_of(reply);
        if (!holder || streq(holder, d->uuid)) {
                /* gone meanwhile, or ours from before a restart */
                claimed(d);
                beat(d);
                return;
        }
        log_error("Node name %s is held by a live bridge with another node UUID (%s; ours is %s): refusing to "
                  "join as %s",
                  d->node, holder, d->uuid, d->node);
        if (d->cb.conflict)
                d->cb.conflict(d, holder, d->userdata);
}

static void on_name_claim(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        Directory *d = a->d;
        _cleanup_(freep) char *key = NULL;

        if (error < 0 || !reply || reply->type == REDIS_REPLY_ERROR) {
                ask_free(a);
                return;
        }
        if (reply->type == REDIS_REPLY_STATUS) { /* OK: the name was free */
                ask_free(a);
                claimed(d);
                return;
        }
        /* taken: by whom? */
        if (asprintf(&key, "xfsm:node:{%s}", d->node) < 0 ||
            redis_command(d->writer, COMMAND_USEC, on_name_get, a, "GET %s", key) < 0)
                ask_free(a);
}

static void claim_name(Directory *d) {
        _cleanup_(freep) char *key = NULL, *value = heartbeat_json(d);
        Ask *a;

        if (!value || asprintf(&key, "xfsm:node:{%s}", d->node) < 0 || !(a = ask_new(d, NULL)))
                return;
        if (redis_command(d->writer, COMMAND_USEC, on_name_claim, a, "SET %s %s NX PX %d", key, value,
                          HEARTBEAT_TTL_MS) < 0)
                ask_free(a);
}

/* ---- homes ------------------------------------------------------------------------ */

static void on_home(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        json_object *o;

        if (error >= 0 && reply && reply->type == REDIS_REPLY_STRING) {
                o = json_tokener_parse(reply->str);
                if (o && json_get_string(o, "node"))
                        home_set(a->d, a->component, json_get_string(o, "node"));
                else
                        log_warning("xfsm:{%s}:home is not a home: %s, ignoring", a->component, reply->str);
                json_object_put(o);
        } else if (error >= 0 && reply && reply->type == REDIS_REPLY_NIL)
                home_forget(a->d, a->component);
        if (a->cb)
                a->cb(a->d, a->component, directory_home(a->d, a->component), a->userdata);
        ask_free(a);
}

static void ask_home(Directory *d, const char *component) {
        _cleanup_(freep) char *key = NULL;
        Ask *a;

        if (asprintf(&key, "xfsm:{%s}:home", component) < 0 || !(a = ask_new(d, component)))
                return;
        if (redis_command(d->writer, COMMAND_USEC, on_home, a, "GET %s", key) < 0)
                ask_free(a);
}

static bool installed_here(const Directory *d, const char *component) {
        for (char **c = d->local; c && *c; c++)
                if (streq(*c, component))
                        return true;
        return false;
}

int directory_ask_home(Directory *d, const char *component, directory_home_fn cb, void *userdata) {
        _cleanup_(freep) char *key = NULL, *value = NULL;
        Ask *a;
        int r;

        assert(d && component && cb);
        /* known, unless installed here and known elsewhere: a hand-over may have brought it here since */
        if ((directory_home(d, component) && !(installed_here(d, component) && directory_is_remote(d, component))) ||
            !redis_conn_is_up(d->writer)) {
                cb(d, component, directory_home(d, component), userdata);
                return 0;
        }
        if (asprintf(&key, "xfsm:{%s}:home", component) < 0 || !(a = ask_new(d, component)))
                return -ENOMEM;
        a->cb = cb;
        a->userdata = userdata;
        if (installed_here(d, component) && d->claimed && !strv_has(d->released, component) &&
            asprintf(&value, "{\"node\":\"%s\",\"since\":%llu}", d->node,
                     (unsigned long long) (time(NULL) * 1000ULL)) >= 0)
                (void) redis_command(d->writer, COMMAND_USEC, NULL, NULL, "SET %s %s NX", key, value);
        r = redis_command(d->writer, COMMAND_USEC, on_home, a, "GET %s", key);
        if (r < 0) {
                ask_free(a);
                cb(d, component, NULL, userdata);
        }
        return 0;
}

static void claim_homes(Directory *d) {
        for (char **c = d->local; c && *c; c++) {
                _cleanup_(freep) char *key = NULL, *value = NULL;
                Home *h = home_find(d, *c);

                if (h && (!streq(h->node, d->node) || strv_has(d->releasing, *c)))
                        continue;
                if (!h && (strv_has(d->released, *c) || strv_has(d->forgotten, *c))) {
                        ask_home(d, *c); /* handed over: whoever took it */
                        continue;
                }
                if (asprintf(&key, "xfsm:{%s}:home", *c) < 0 ||
                    asprintf(&value, "{\"node\":\"%s\",\"since\":%llu}", d->node,
                             (unsigned long long) (time(NULL) * 1000ULL)) < 0)
                        return;
                /* first node to host it: its home for good; then read back whoever that was. Homed
                 * here: the key again, should Redis have lost it (routed events are added to an
                 * inbox only while its home key names the node they are signed for) */
                (void) redis_command(d->writer, COMMAND_USEC, NULL, NULL, "SET %s %s NX", key, value);
                if (!h)
                        ask_home(d, *c);
        }
}

/* ---- scanning the other nodes ------------------------------------------------------- */

static NodeInfo *node_get(Directory *d, const char *name) {
        NodeInfo *v;

        for (size_t k = 0; k < d->n_nodes; k++)
                if (streq(d->nodes[k].name, name))
                        return &d->nodes[k];
        v = reallocarray(d->nodes, d->n_nodes + 1, sizeof *v);
        if (!v)
                return NULL;
        d->nodes = v;
        v[d->n_nodes] = (NodeInfo) { .name = strdup(name) };
        if (!v[d->n_nodes].name)
                return NULL;
        return &v[d->n_nodes++];
}

static void on_node(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        Directory *d = a->d;
        NodeInfo *n = NULL;
        json_object *o = NULL, *list = NULL;
        bool alive;

        if (error < 0 || !reply || reply->type == REDIS_REPLY_ERROR)
                goto finish;
        alive = reply->type == REDIS_REPLY_STRING;
        n = node_get(d, a->component);
        if (n && n->alive != alive) {
                log_info("Node %s is %s", n->name, alive ? "alive" : "gone (its heartbeat expired)");
                n->alive = alive;
                if (d->cb.changed)
                        d->cb.changed(d, d->userdata);
        }
        if (alive && (o = json_tokener_parse(reply->str)) && n && json_get_string(o, "uuid") &&
            !streq_ptr(n->uuid, json_get_string(o, "uuid"))) {
                free(n->uuid);
                n->uuid = strdup(json_get_string(o, "uuid"));
        }
        if (alive && o && json_object_object_get_ex(o, "components", &list) &&
            json_object_is_type(list, json_type_array))
                for (size_t k = 0; k < json_object_array_length(list); k++) {
                        json_object *e = json_object_array_get_idx(list, k);
                        const Home *h;
                        if (!json_object_is_type(e, json_type_string))
                                continue;
                        /* not known yet, or known elsewhere: a hand-over moved it there */
                        h = home_find(d, json_object_get_string(e));
                        if (!h || !streq(h->node, a->component))
                                ask_home(d, json_object_get_string(e));
                }
        /* homed there and no longer in its heartbeat: released there? (uninstalled, it stays homed there) */
        if (alive && o && list && json_object_is_type(list, json_type_array))
                for (size_t k = 0; k < d->n_homes; k++) {
                        bool listed = false;
                        if (!streq(d->homes[k].node, a->component))
                                continue;
                        for (size_t j = 0; j < json_object_array_length(list) && !listed; j++)
                                listed = streq_ptr(json_object_get_string(json_object_array_get_idx(list, j)),
                                                   d->homes[k].component);
                        if (!listed)
                                ask_home(d, d->homes[k].component);
                }
finish:
        json_object_put(o);
        ask_free(a);
}

static void on_members(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Ask *a = userdata;
        Directory *d = a->d;

        ask_free(a);
        if (error < 0 || !reply || reply->type != REDIS_REPLY_ARRAY)
                return;
        for (size_t k = 0; k < reply->elements; k++) {
                const redisReply *e = reply->element[k];
                _cleanup_(freep) char *key = NULL;
                Ask *q;

                if (e->type != REDIS_REPLY_STRING || streq(e->str, d->node))
                        continue;
                if (asprintf(&key, "xfsm:node:{%s}", e->str) < 0 || !(q = ask_new(d, e->str)))
                        return;
                if (redis_command(d->writer, COMMAND_USEC, on_node, q, "GET %s", key) < 0)
                        ask_free(q);
        }
        /* the homes of the components installed here but claimed elsewhere are asked at claim time */
        for (char **comp = d->local; comp && *comp; comp++)
                if (!home_find(d, *comp))
                        ask_home(d, *comp);
}

static void scan(Directory *d) {
        Ask *a = ask_new(d, NULL);

        if (a && redis_command(d->writer, COMMAND_USEC, on_members, a, "SMEMBERS xfsm:nodes") < 0)
                ask_free(a);
}

static int on_scan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Directory *d = userdata;

        if (redis_conn_is_up(d->writer)) {
                if (!d->claimed)
                        claim_name(d);
                else
                        claim_homes(d);
                scan(d);
        }
        (void) sd_event_source_set_time(s, usec + SCAN_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

void directory_connected(Directory *d) {
        uint64_t now;

        assert(d);
        if (!d->claimed)
                claim_name(d);
        else
                claim_homes(d);
        scan(d);
        if (!d->scan && sd_event_now(d->event, CLOCK_MONOTONIC, &now) >= 0 &&
            sd_event_add_time(d->event, &d->scan, CLOCK_MONOTONIC, now + SCAN_USEC, 100000, on_scan_timer, d) >= 0)
                (void) sd_event_source_set_enabled(d->scan, SD_EVENT_ON);
}

const char *directory_node_uuid(const Directory *d, const char *node) {
        if (streq(node, d->node))
                return d->uuid;
        for (size_t k = 0; k < d->n_nodes; k++)
                if (streq(d->nodes[k].name, node))
                        return d->nodes[k].uuid;
        return NULL;
}

size_t directory_n_nodes(const Directory *d) {
        return d->n_nodes;
}

const char *directory_nth_node(const Directory *d, size_t i) {
        return i < d->n_nodes ? d->nodes[i].name : NULL;
}

size_t directory_n_homes(const Directory *d) {
        return d->n_homes;
}

const char *directory_nth_home(const Directory *d, size_t i, const char **ret_node) {
        if (i >= d->n_homes)
                return NULL;
        if (ret_node)
                *ret_node = d->homes[i].node;
        return d->homes[i].component;
}

void directory_releasing(Directory *d, const char *component, bool on) {
        if (on)
                (void) strv_add(&d->releasing, component);
        else
                strv_remove(d->releasing, component);
}

void directory_release(Directory *d, const char *component) {
        Home *h = home_find(d, component);

        if (!h || !streq(h->node, d->node))
                return;
        (void) strv_add(&d->released, component);
        free(h->component);
        free(h->node);
        *h = d->homes[--d->n_homes];
        remote_rebuild(d);
        cache_save(d);
        log_notice("%s is released: no longer homed here", component);
}

int directory_set_local(Directory *d, char *const *local) {
        char **v = strv_copy(local);

        if (!v)
                return -ENOMEM;
        strv_free(d->local);
        d->local = v;
        if (redis_conn_is_up(d->writer) && d->claimed)
                claim_homes(d);
        return 0;
}

bool directory_is_released(const Directory *d, const char *component) {
        return strv_has(d->released, component);
}

void directory_forget_node(Directory *d, const char *node) {
        for (size_t k = 0; k < d->n_nodes; k++)
                if (streq(d->nodes[k].name, node)) {
                        free(d->nodes[k].name);
                        free(d->nodes[k].uuid);
                        d->nodes[k] = d->nodes[--d->n_nodes];
                        return;
                }
}
