/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target: xfsm-http's request parser and the header rules, on
 * what a client controls. The input is lines: method, path, Content-Type,
 * Host, Origin, Authorization, Cookie, then the body (the rest, any bytes).
 * Parsing must never crash, leak or take unbounded time; a refusal is a
 * 4xx with a sentence; a route found is one of the routes. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-access.h"
#include "http-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the next line of *p (up to \n), NUL-terminated in place; "" at the end */
static char *next_line(char **p, char *end) {
        char *s = *p, *nl;

        if (s >= end)
                return end;
        nl = memchr(s, '\n', end - s);
        if (!nl)
                nl = end;
        *nl = '\0';
        *p = nl < end ? nl + 1 : end;
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *hosts[] = { (char *) "localhost", (char *) "127.0.0.1", (char *) "[::1]", NULL };
        static HttpAccess *access;
        char *text = malloc(size + 1), *p, *end;
        const char *method, *path, *type, *host, *origin, *authorization, *cookie;
        HttpRequest r = {};
        HttpProblem problem = {};
        Grant g = {};

        if (!text)
                return 0;
        if (!access) {
                access = calloc(1, sizeof *access);
                if (!access || access_parse_tokens(access, "read-token-0123456789 read\n"
                                                           "write-token-0123456789 write:Order*\n", "fuzz") < 0)
                        abort();
                access->hosts = hosts;
        }
        memcpy(text, data, size);
        text[size] = '\0';
        p = text;
        end = text + size;

        method = next_line(&p, end);
        path = next_line(&p, end);
        type = next_line(&p, end);
        host = next_line(&p, end);
        origin = next_line(&p, end);
        authorization = next_line(&p, end);
        cookie = next_line(&p, end);

        (void) access_host_allowed(access, *host ? host : NULL);
        (void) access_origin_allowed(*origin ? origin : NULL, *host ? host : NULL);
        if (access_grant(access, *authorization ? authorization : NULL, *cookie ? cookie : NULL, true, 0, &g) == 0) {
                if (!g.read)
                        abort(); /* every grant reads */
                (void) grant_may_write(&g, "OrderComponent");
                grant_done(&g);
        }

        if (http_request_parse(method, path, *type ? type : NULL, p, (size_t) (end - p), &r, &problem) == 0) {
                if (r.route >= _ROUTE_MAX)
                        abort();
                if (r.write && !r.body)
                        abort(); /* a write has its body checked */
                http_request_done(&r);
        } else if (problem.status < 400 || problem.status > 499 || !problem.message[0])
                abort();

        free(text);
        return 0;
}
