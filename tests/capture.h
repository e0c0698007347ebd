/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the daemon's log says while a unit test runs a call: stderr is
 * redirected to a temporary file from capture_start() to capture_end(),
 * which returns what was written (malloc'd). log.c writes to stderr when
 * JOURNAL_STREAM is not set, as in a test. */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct Capture {
        FILE *f;
        int saved;
} Capture;

static inline void capture_start(Capture *c) {
        fflush(stderr);
        c->f = tmpfile();
        c->saved = dup(STDERR_FILENO);
        if (!c->f || c->saved < 0 || dup2(fileno(c->f), STDERR_FILENO) < 0)
                abort();
}

static inline char *capture_end(Capture *c) {
        char *text;
        long n;

        fflush(stderr);
        if (dup2(c->saved, STDERR_FILENO) < 0)
                abort();
        close(c->saved);
        n = ftell(c->f);
        text = calloc(1, (size_t) n + 1);
        if (!text)
                abort();
        rewind(c->f);
        if (n > 0 && fread(text, 1, (size_t) n, c->f) != (size_t) n)
                abort();
        fclose(c->f);
        fputs(text, stderr); /* still shown in the test's log */
        return text;
}
