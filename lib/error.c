/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm's error codes, their org.xfsm1.Error.* names and sentences: the one
 * table where failures get their names. The daemon's D-Bus error map
 * (daemon/bus-errors.c) is built from it, so a name is written once. */

#include <string.h>

#include "macro.h"
#include "xfsm.h"

typedef struct ErrorInfo {
        const char *name; /* org.xfsm1.Error.<name> */
        const char *text;
} ErrorInfo;

static const ErrorInfo errors[] = {
        [XFSM_E_NO_SUCH_COMPONENT - XFSM_E_BASE] = { "org.xfsm1.Error.NoSuchComponent", "No such component" },
        [XFSM_E_NO_SUCH_MACHINE - XFSM_E_BASE] = { "org.xfsm1.Error.NoSuchMachine", "No such machine" },
        [XFSM_E_NO_SUCH_INSTANCE - XFSM_E_BASE] = { "org.xfsm1.Error.NoSuchInstance", "No such instance" },
        [XFSM_E_NO_TRANSITION - XFSM_E_BASE] = { "org.xfsm1.Error.NoTransition",
                                                 "No transition leaves the state on that event" },
        [XFSM_E_GUARD_FAILED - XFSM_E_BASE] = { "org.xfsm1.Error.GuardFailed",
                                                "No guard of the transitions on that event holds" },
        [XFSM_E_LOOP - XFSM_E_BASE] = { "org.xfsm1.Error.Loop", "Too many microsteps or hops: loop refused" },
        [XFSM_E_INVALID_PAYLOAD - XFSM_E_BASE] = { "org.xfsm1.Error.InvalidPayload",
                                                   "Payload is not a JSON object of at most 1 MiB of valid UTF-8" },
        [XFSM_E_INVALID_ARGUMENT - XFSM_E_BASE] = { "org.xfsm1.Error.InvalidArgument", "Invalid argument" },
        [XFSM_E_SINGLETON_EXISTS - XFSM_E_BASE] = { "org.xfsm1.Error.SingletonExists",
                                                    "The singleton entry point instance exists already" },
        [XFSM_E_BUSY - XFSM_E_BASE] = { "org.xfsm1.Error.Busy", "Busy (a limit reached, or work under way), retry later" },
        [XFSM_E_LOAD_FAILED - XFSM_E_BASE] = { "org.xfsm1.Error.LoadFailed", "Component failed to load" },
        [XFSM_E_UNAVAILABLE - XFSM_E_BASE] = { "org.xfsm1.Error.Unavailable",
                                               "The component's node cannot be reached now, retry later" },
};

static const ErrorInfo *error_info(int r) {
        int k = -r - XFSM_E_BASE;

        if (k <= 0 || k >= XFSM_E_MAX - XFSM_E_BASE)
                return NULL;
        return &errors[k];
}

const char *xfsm_error_name(int r) {
        const ErrorInfo *e = error_info(r);

        return e ? e->name : NULL;
}

int xfsm_error_from_name(const char *name) {
        if (!name)
                return 0;
        for (int k = 1; k < XFSM_E_MAX - XFSM_E_BASE; k++)
                if (streq(errors[k].name, name))
                        return -(XFSM_E_BASE + k);
        return 0;
}

const char *xfsm_strerror(int r) {
        const ErrorInfo *e = error_info(r);

        return e ? e->text : strerror(-r);
}
