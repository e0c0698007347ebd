/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The one place where failures get their D-Bus names (SPEC section 4). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-errors.h"
#include "xfsm.h"

/* sd-bus maps names to positive errno values; xfsm's codes are positive too */
const sd_bus_error_map xfsm_bus_error_map[] = {
        SD_BUS_ERROR_MAP("org.xfsm1.Error.NoSuchComponent", XFSM_E_NO_SUCH_COMPONENT),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.NoSuchMachine", XFSM_E_NO_SUCH_MACHINE),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.NoSuchInstance", XFSM_E_NO_SUCH_INSTANCE),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.NoTransition", XFSM_E_NO_TRANSITION),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.GuardFailed", XFSM_E_GUARD_FAILED),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.Loop", XFSM_E_LOOP),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.InvalidPayload", XFSM_E_INVALID_PAYLOAD),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.InvalidArgument", XFSM_E_INVALID_ARGUMENT),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.SingletonExists", XFSM_E_SINGLETON_EXISTS),
        SD_BUS_ERROR_MAP("org.xfsm1.Error.Busy", XFSM_E_BUSY),
        SD_BUS_ERROR_MAP_END,
};

int bus_error_set_xfsm(sd_bus_error *error, int r, const char *message) {
        const char *name = xfsm_error_name(r);

        if (!message || !*message)
                message = xfsm_strerror(r);
        if (name)
                return sd_bus_error_set(error, name, message);
        return sd_bus_error_set_errnof(error, -r, "%s", message);
}

const char *bus_error_describe(const sd_bus_error *error) {
        static char buf[1024];
        const char *meaning = NULL;

        if (!error || !error->name)
                return "unknown error";
        /* the meaning of xfsm's own errors, then the standard ones */
        for (const sd_bus_error_map *m = xfsm_bus_error_map; m->name; m++)
                if (strcmp(m->name, error->name) == 0)
                        meaning = xfsm_strerror(-m->code);
        if (!meaning && strcmp(error->name, SD_BUS_ERROR_ACCESS_DENIED) == 0)
                meaning = "Access denied";
        if (!meaning && strcmp(error->name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0)
                meaning = "No such component running (the bus does not know the name)";
        if (!meaning && strcmp(error->name, SD_BUS_ERROR_NOT_SUPPORTED) == 0)
                meaning = "Not supported";
        if (error->message && meaning)
                snprintf(buf, sizeof buf, "%s: %s (%s)", meaning, error->message, error->name);
        else
                snprintf(buf, sizeof buf, "%s (%s)", error->message ?: meaning ?: "error", error->name);
        return buf;
}
