/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The D-Bus side of xfsm's errors: the names come from the library's error
 * table (lib/error.c), mapped here onto sd-bus once, so that a handler sets
 * an error by its code and a client reads the code back from the name. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-errors.h"
#include "xfsm.h"

/* sd-bus maps names to positive errno values; xfsm's codes are positive too */
static sd_bus_error_map error_map[XFSM_E_MAX - XFSM_E_BASE + 1];

int bus_errors_register(void) {
        static bool registered;
        size_t n = 0;

        if (registered)
                return 0;
        for (int code = XFSM_E_BASE + 1; code < XFSM_E_MAX; code++)
                error_map[n++] = (sd_bus_error_map) SD_BUS_ERROR_MAP(xfsm_error_name(-code), code);
        error_map[n] = (sd_bus_error_map) SD_BUS_ERROR_MAP_END;
        registered = true;
        return sd_bus_error_add_map(error_map);
}

int bus_error_set_xfsm(sd_bus_error *error, int r, const char *message) {
        const char *name = xfsm_error_name(r);

        if (!message || !*message)
                message = xfsm_strerror(r);
        if (name)
                return sd_bus_error_set(error, name, message);
        return sd_bus_error_set_errnof(error, -r, "%s", message);
}

int bus_error_setf_xfsm(sd_bus_error *error, int r, const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        return bus_error_set_xfsm(error, r, message);
}

const char *bus_error_describe(const sd_bus_error *error) {
        static char buf[1024];
        const char *meaning = NULL;
        int code;

        if (!error || !error->name)
                return "unknown error";
        /* the meaning of xfsm's own errors, then the standard ones */
        code = xfsm_error_from_name(error->name);
        if (code < 0)
                meaning = xfsm_strerror(code);
        else if (strcmp(error->name, SD_BUS_ERROR_ACCESS_DENIED) == 0)
                meaning = "Access denied";
        else if (strcmp(error->name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0)
                meaning = "No such component running (the bus does not know the name)";
        else if (strcmp(error->name, SD_BUS_ERROR_NOT_SUPPORTED) == 0)
                meaning = "Not supported";
        if (error->message && meaning)
                snprintf(buf, sizeof buf, "%s: %s (%s)", meaning, error->message, error->name);
        else
                snprintf(buf, sizeof buf, "%s (%s)", error->message ?: meaning ?: "error", error->name);
        return buf;
}
