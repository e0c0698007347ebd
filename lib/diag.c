/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "diag.h"

void diag_report(Diag *d, int severity, unsigned line, unsigned column, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        if (severity == XFSM_DIAG_ERROR)
                d->n_errors++;
        else
                d->n_warnings++;

        if (!d->fn)
                return;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        d->fn(d->userdata, severity, d->file, line, column, buf);
}
