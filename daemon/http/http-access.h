/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Who may ask xfsm-http what (xfsm-http(8), ACCESS): the bearer tokens of
 * the credential http-tokens and their scopes, the grant of an anonymous
 * client on loopback, the dashboard's sessions (cookies), and the checks
 * against cross-site requests and DNS rebinding (Host, Origin). What the
 * user xfsm-http may do at all is polkit's, on the daemon's side. Pure of
 * the server and the bus; test-http-request drives it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one client may do: read everything, or also write (create, send) to
 * the components whose names match one of the patterns (fnmatch). */
typedef struct Grant {
        bool read;
        char **write;              /* NULL-terminated patterns; NULL: none */
} Grant;

void grant_done(Grant *g);
int grant_copy(const Grant *g, Grant *ret);
bool grant_may_write(const Grant *g, const char *component);

typedef struct Token {
        char *secret;
        Grant grant;
} Token;

typedef struct Session {
        char id[65];               /* 32 random bytes in hex: the cookie */
        Grant grant;
        uint64_t expires_usec;     /* CLOCK_MONOTONIC */
} Session;

#define SESSIONS_MAX 1024
#define SESSION_LIFETIME_USEC (12ULL * 3600 * 1000000)
#define SESSION_COOKIE "xfsm_session"

typedef struct HttpAccess {
        Token *tokens;
        size_t n_tokens;
        Session *sessions;         /* a ring of SESSIONS_MAX: the oldest makes room */
        size_t n_sessions, next_session;
        char **hosts;              /* Hosts=: NULL-terminated */
        bool anonymous_write;
} HttpAccess;

HttpAccess *http_access_free(HttpAccess *a);

/* The tokens file: one token a line, "SECRET SCOPE..." with SCOPE "read"
 * or "write:PATTERN" (write implies read); blank lines and # comments
 * skipped. A secret under 16 characters or an unknown scope is an error
 * "FILE:LINE: why" (logged), -EINVAL. */
int access_load_tokens(HttpAccess *a, const char *path);
int access_parse_tokens(HttpAccess *a, const char *text, const char *path);

/* The grant of a request: the bearer token (Authorization header value,
 * may be NULL), else the session cookie (the Cookie header, may be NULL),
 * else anonymous on loopback. -EACCES when a token or a cookie is given and
 * not known (401), -EPERM for an anonymous client not on loopback (401). */
int access_grant(HttpAccess *a, const char *authorization, const char *cookie, bool loopback, uint64_t now_usec,
                 Grant *ret);

/* The grant a session request gets: for a token (its grant, -EACCES when
 * unknown), or anonymously on loopback (-EPERM elsewhere). */
int access_grant_for_token(HttpAccess *a, const char *token, bool loopback, Grant *ret);

/* A new session with that grant; its id in ret_id (65 bytes). */
int access_session_new(HttpAccess *a, const Grant *g, uint64_t now_usec, char ret_id[static 65]);

/* The Host header names one of Hosts= (any port). */
bool access_host_allowed(const HttpAccess *a, const char *host);
/* An Origin header, when present, names the same scheme-less host and port
 * as the Host header, under http or https. */
bool access_origin_allowed(const char *origin, const char *host);
