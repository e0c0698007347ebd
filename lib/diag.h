/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Diagnostics of the loader: every one is FILE:LINE:COLUMN: message, and all of
 * them are reported, not just the first. */

#include <stdarg.h>

#include "xfsm.h"

typedef struct Diag {
        const char *file;
        xfsm_diag_fn fn;
        void *userdata;
        unsigned n_errors;
        unsigned n_warnings;
} Diag;

void diag_report(Diag *d, int severity, unsigned line, unsigned column, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#define diag_error(d, line, col, ...) diag_report(d, XFSM_DIAG_ERROR, line, col, __VA_ARGS__)
#define diag_warning(d, line, col, ...) diag_report(d, XFSM_DIAG_WARNING, line, col, __VA_ARGS__)
