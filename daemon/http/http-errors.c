/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* D-Bus errors to HTTP statuses. */

#include <stddef.h>
#include <string.h>

#include "http-errors.h"
#include "macro.h"

unsigned http_status_of_bus_error(const char *name) {
        static const struct {
                const char *name;
                unsigned status;
        } table[] = {
                { "org.xfsm1.Error.NoSuchComponent", 404 },
                { "org.xfsm1.Error.NoSuchMachine", 404 },
                { "org.xfsm1.Error.NoSuchInstance", 404 },
                { "org.xfsm1.Error.NoTransition", 409 },
                { "org.xfsm1.Error.GuardFailed", 409 },
                { "org.xfsm1.Error.Loop", 409 },
                { "org.xfsm1.Error.SingletonExists", 409 },
                { "org.xfsm1.Error.InvalidPayload", 400 },
                { "org.xfsm1.Error.InvalidArgument", 400 },
                { "org.xfsm1.Error.Busy", 429 },
                { "org.xfsm1.Error.Unavailable", 503 },
                { "org.freedesktop.DBus.Error.InvalidArgs", 400 },
                { "org.freedesktop.DBus.Error.AccessDenied", 403 },
                { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", 403 },
                { "org.freedesktop.DBus.Error.AuthFailed", 403 },
                { "org.freedesktop.DBus.Error.LimitsExceeded", 429 },
                { "org.freedesktop.DBus.Error.UnknownObject", 404 },
                { "org.freedesktop.DBus.Error.ServiceUnknown", 503 },
                { "org.freedesktop.DBus.Error.NameHasNoOwner", 503 },
                { "org.freedesktop.DBus.Error.NoReply", 503 },
                { "org.freedesktop.DBus.Error.Timeout", 503 },
        };

        for (size_t k = 0; name && k < ELEMENTSOF(table); k++)
                if (streq(name, table[k].name))
                        return table[k].status;
        return 503;
}
