/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The request parser of xfsm-http: method and path to a route and its
 * parameters, and the body of a POST checked for its route. Everything a
 * client controls before the bus is asked goes through here, so this file
 * is what the fuzzer drives (tests/fuzz/fuzz-http-request.c). */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http-request.h"
#include "macro.h"
#include "names.h"

#define JSON_DEPTH_MAX 64
#define PATH_SEGMENTS_MAX 8

static int problem(HttpProblem *p, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static int problem(HttpProblem *p, unsigned status, const char *fmt, ...) {
        va_list ap;

        p->status = status;
        va_start(ap, fmt);
        vsnprintf(p->message, sizeof p->message, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void http_request_done(HttpRequest *r) {
        if (!r)
                return;

        free(r->component);
        free(r->machine);
        free(r->id);
        free(r->file);
        if (r->body)
                json_object_put(r->body);
        *r = (HttpRequest) {};
}

/* An instance id in a path: printable ASCII, no blanks, at most 255 bytes
 * (the daemon checks the rest). */
static bool id_is_valid(const char *s) {
        return name_is_event(s);
}

/* A dashboard file name: [a-z0-9-]+ then one .ext, nothing hidden. */
static bool file_is_valid(const char *s) {
        size_t dots = 0, n = 0;

        if (!s || !*s || *s == '.')
                return false;
        for (; *s; s++, n++) {
                if (*s == '.')
                        dots++;
                else if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
                        return false;
        }
        return dots == 1 && n <= 64;
}

typedef struct Segments {
        char *v[PATH_SEGMENTS_MAX];
        size_t n;
        bool trailing_slash;
} Segments;

static void segments_done(Segments *s) {
        for (size_t k = 0; k < s->n; k++)
                free(s->v[k]);
}

/* "/a/b/c" to its segments; -E2BIG past PATH_SEGMENTS_MAX, -EINVAL for an
 * empty segment ("//"). */
static int segments_split(const char *path, Segments *ret) {
        Segments s = {};
        const char *p = path;

        if (*p != '/')
                return -EINVAL;
        p++;
        while (*p) {
                const char *e = strchrnul(p, '/');

                if (e == p) {
                        segments_done(&s);
                        return -EINVAL;
                }
                if (s.n == PATH_SEGMENTS_MAX) {
                        segments_done(&s);
                        return -E2BIG;
                }
                s.v[s.n] = strndup(p, e - p);
                if (!s.v[s.n]) {
                        segments_done(&s);
                        return -ENOMEM;
                }
                s.n++;
                if (!*e)
                        break;
                p = e + 1;
                if (!*p)
                        s.trailing_slash = true;
        }
        *ret = s;
        return 0;
}

static bool seg_is(const Segments *s, size_t k, const char *w) {
        return k < s->n && streq(s->v[k], w);
}

/* The route of a path alone, and the one method it takes. Parameters are
 * taken out of s (set to NULL) into r. -ENOENT when no route has that path. */
static int match(Segments *s, HttpRequest *r, const char **ret_method) {
        if (s->n == 0) {
                r->route = ROUTE_ROOT;
                *ret_method = "GET";
                return 0;
        }
        if (seg_is(s, 0, "healthz") && s->n == 1) {
                r->route = ROUTE_HEALTHZ;
                *ret_method = "GET";
                return 0;
        }
        if (seg_is(s, 0, "dashboard")) {
                if (s->n == 1) {
                        r->file = strdup("index.html");
                        if (!r->file)
                                return -ENOMEM;
                } else if (s->n == 2)
                        r->file = TAKE_PTR(s->v[1]);
                else
                        return -ENOENT;
                r->route = ROUTE_DASHBOARD;
                *ret_method = "GET";
                return 0;
        }
        if (!seg_is(s, 0, "api") || s->n < 2)
                return -ENOENT;

        if (seg_is(s, 1, "events") && s->n == 2) {
                r->route = ROUTE_EVENTS;
                *ret_method = "GET";
                return 0;
        }
        if (seg_is(s, 1, "session") && s->n == 2) {
                r->route = ROUTE_SESSION;
                *ret_method = "POST";
                return 0;
        }
        if (seg_is(s, 1, "components")) {
                if (s->n == 2) {
                        r->route = ROUTE_COMPONENTS;
                        *ret_method = "GET";
                        return 0;
                }
                r->component = TAKE_PTR(s->v[2]);
                if (s->n == 3) {
                        r->route = ROUTE_COMPONENT;
                        *ret_method = "GET";
                        return 0;
                }
                if (seg_is(s, 3, "instances") && s->n == 4) {
                        r->route = ROUTE_CREATE;
                        r->write = true;
                        *ret_method = "POST";
                        return 0;
                }
                if (seg_is(s, 3, "instances") && seg_is(s, 5, "events") && s->n == 6) {
                        r->id = TAKE_PTR(s->v[4]);
                        r->route = ROUTE_COMPONENT_EVENT;
                        r->write = true;
                        *ret_method = "POST";
                        return 0;
                }
                if (seg_is(s, 3, "diagrams") && s->n == 5) {
                        r->machine = TAKE_PTR(s->v[4]);
                        r->route = ROUTE_MERMAID;
                        *ret_method = "GET";
                        return 0;
                }
                if (seg_is(s, 3, "machines") && seg_is(s, 5, "diagram.svg") && s->n == 6) {
                        r->machine = TAKE_PTR(s->v[4]);
                        r->route = ROUTE_SVG;
                        *ret_method = "GET";
                        return 0;
                }
                return -ENOENT;
        }
        if (seg_is(s, 1, "instances")) {
                if (s->n == 2) {
                        r->route = ROUTE_INSTANCES;
                        *ret_method = "GET";
                        return 0;
                }
                r->id = TAKE_PTR(s->v[2]);
                if (s->n == 3) {
                        r->route = ROUTE_INSTANCE;
                        *ret_method = "GET";
                        return 0;
                }
                if (seg_is(s, 3, "events") && s->n == 4) {
                        r->route = ROUTE_EVENT;
                        r->write = true;
                        *ret_method = "POST";
                        return 0;
                }
                if (seg_is(s, 3, "history") && s->n == 4) {
                        r->route = ROUTE_HISTORY;
                        *ret_method = "GET";
                        return 0;
                }
        }
        return -ENOENT;
}

int http_request_route(const char *method, const char *path, HttpRequest *ret, HttpProblem *ret_problem) {
        _cleanup_(segments_done) Segments s = {};
        _cleanup_(http_request_done) HttpRequest r = {};
        const char *want = NULL;
        int q;

        assert(method);
        assert(path);
        assert(ret);
        assert(ret_problem);

        q = segments_split(path, &s);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return problem(ret_problem, 404, "Not found");

        q = match(&s, &r, &want);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return problem(ret_problem, 404, "Not found");

        /* HEAD answers as GET, without a body (the server drops it) */
        if (!streq(method, want) && !(streq(want, "GET") && streq(method, "HEAD"))) {
                ret_problem->allow = streq(want, "GET") ? "GET, HEAD" : want;
                return problem(ret_problem, 405, "Method %s not allowed here (use %s)",
                               strlen(method) > 16 ? "(too long)" : method, want);
        }

        if (r.component && !name_is_identifier(r.component, HTTP_NAME_MAX))
                return problem(ret_problem, 400, "Invalid component name");
        if (r.machine && !name_is_identifier(r.machine, HTTP_NAME_MAX))
                return problem(ret_problem, 400, "Invalid machine name");
        if (r.id && !id_is_valid(r.id))
                return problem(ret_problem, 400, "Invalid instance id");
        if (r.file && !file_is_valid(r.file))
                return problem(ret_problem, 404, "Not found");

        *ret = r;
        r = (HttpRequest) {};
        return 0;
}

bool http_content_type_is_json(const char *content_type) {
        size_t n = strlen("application/json");

        if (!content_type)
                return false;
        content_type += strspn(content_type, " \t");
        if (strncasecmp(content_type, "application/json", n) != 0)
                return false;
        content_type += n;
        content_type += strspn(content_type, " \t");
        return *content_type == '\0' || *content_type == ';';
}

static int parse_object(const char *body, size_t size, json_object **ret, HttpProblem *ret_problem) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        json_object *o;

        if (size == 0)
                return problem(ret_problem, 400, "Request body must be a JSON object");
        if (memchr(body, '\0', size))
                return problem(ret_problem, 400, "Malformed JSON");

        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);

        o = json_tokener_parse_ex(tok, body, (int) size);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != size) {
                if (o)
                        json_object_put(o);
                return problem(ret_problem, 400, "Malformed JSON");
        }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return problem(ret_problem, 400, "Request body must be a JSON object");
        }
        *ret = o;
        return 0;
}

/* member key of o when it is an object or absent: NULL when absent or null;
 * -EINVAL when of another type */
static int member_object(json_object *o, const char *key, json_object **ret) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v) || !v) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_object))
                return -EINVAL;
        *ret = v;
        return 0;
}

int http_request_body(HttpRequest *r, const char *content_type, const char *body, size_t size,
                      HttpProblem *ret_problem) {
        json_object *o = NULL, *v;
        int q;

        assert(r);
        assert(ret_problem);

        if (size > HTTP_BODY_MAX)
                return problem(ret_problem, 413, "Request body over 1 MiB");
        /* an empty session request needs no type: nothing a form can forge is in it */
        if (r->route == ROUTE_SESSION && size == 0)
                return 0;
        if (!http_content_type_is_json(content_type))
                return problem(ret_problem, 415, "Content-Type must be application/json");

        q = parse_object(body, size, &o, ret_problem);
        if (q < 0)
                return q;
        r->body = o;

        switch (r->route) {
        case ROUTE_CREATE: {
                const char *m;

                if (!json_object_object_get_ex(o, "machineName", &v) || !json_object_is_type(v, json_type_string))
                        return problem(ret_problem, 400, "machineName is required");
                m = json_object_get_string(v);
                if (!name_is_identifier(m, HTTP_NAME_MAX))
                        return problem(ret_problem, 400, "Machine %.64s not found", m);
                r->machine = strdup(m);
                if (!r->machine)
                        return -ENOMEM;
                if (member_object(o, "context", &r->payload) < 0)
                        return problem(ret_problem, 400, "context must be a JSON object");
                return 0;
        }
        case ROUTE_EVENT:
        case ROUTE_COMPONENT_EVENT:
                if (!json_object_object_get_ex(o, "type", &v) || !json_object_is_type(v, json_type_string))
                        return problem(ret_problem, 400, "Event type is required");
                r->event = json_object_get_string(v);
                if (!name_is_event(r->event))
                        return problem(ret_problem, 400, "Invalid event type");
                if (member_object(o, "payload", &r->payload) < 0)
                        return problem(ret_problem, 400, "payload must be a JSON object");
                return 0;
        case ROUTE_SESSION:
                if (json_object_object_get_ex(o, "token", &v) && v) {
                        if (!json_object_is_type(v, json_type_string))
                                return problem(ret_problem, 400, "token must be a string");
                        r->token = json_object_get_string(v);
                }
                return 0;
        default:
                return 0;
        }
}

int http_request_parse(const char *method, const char *path, const char *content_type, const char *body,
                       size_t size, HttpRequest *ret, HttpProblem *ret_problem) {
        _cleanup_(http_request_done) HttpRequest r = {};
        int q;

        q = http_request_route(method, path, &r, ret_problem);
        if (q < 0)
                return q;
        if (streq(method, "POST")) {
                q = http_request_body(&r, content_type, body, size, ret_problem);
                if (q < 0)
                        return q;
        }
        *ret = r;
        r = (HttpRequest) {};
        return 0;
}
