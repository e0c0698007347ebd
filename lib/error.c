/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm's error codes, their org.xfsm1.Error.* names and sentences: the one
 * place where failures get their names (the daemon maps them onto D-Bus). */

#include <string.h>

#include "xfsm.h"

static const char *const error_names[] = {
        [XFSM_E_NO_SUCH_COMPONENT - XFSM_E_BASE] = "org.xfsm1.Error.NoSuchComponent",
        [XFSM_E_NO_SUCH_MACHINE - XFSM_E_BASE] = "org.xfsm1.Error.NoSuchMachine",
        [XFSM_E_NO_SUCH_INSTANCE - XFSM_E_BASE] = "org.xfsm1.Error.NoSuchInstance",
        [XFSM_E_NO_TRANSITION - XFSM_E_BASE] = "org.xfsm1.Error.NoTransition",
        [XFSM_E_GUARD_FAILED - XFSM_E_BASE] = "org.xfsm1.Error.GuardFailed",
        [XFSM_E_LOOP - XFSM_E_BASE] = "org.xfsm1.Error.Loop",
        [XFSM_E_INVALID_PAYLOAD - XFSM_E_BASE] = "org.xfsm1.Error.InvalidPayload",
        [XFSM_E_INVALID_ARGUMENT - XFSM_E_BASE] = "org.xfsm1.Error.InvalidArgument",
        [XFSM_E_SINGLETON_EXISTS - XFSM_E_BASE] = "org.xfsm1.Error.SingletonExists",
        [XFSM_E_BUSY - XFSM_E_BASE] = "org.xfsm1.Error.Busy",
        [XFSM_E_LOAD_FAILED - XFSM_E_BASE] = "org.xfsm1.Error.LoadFailed",
};

static const char *const error_texts[] = {
        [XFSM_E_NO_SUCH_COMPONENT - XFSM_E_BASE] = "No such component",
        [XFSM_E_NO_SUCH_MACHINE - XFSM_E_BASE] = "No such machine",
        [XFSM_E_NO_SUCH_INSTANCE - XFSM_E_BASE] = "No such instance",
        [XFSM_E_NO_TRANSITION - XFSM_E_BASE] = "No transition leaves the state on that event",
        [XFSM_E_GUARD_FAILED - XFSM_E_BASE] = "No guard of the transitions on that event holds",
        [XFSM_E_LOOP - XFSM_E_BASE] = "Too many microsteps or hops: loop refused",
        [XFSM_E_INVALID_PAYLOAD - XFSM_E_BASE] = "Payload is not a JSON object of at most 1 MiB of valid UTF-8",
        [XFSM_E_INVALID_ARGUMENT - XFSM_E_BASE] = "Invalid argument",
        [XFSM_E_SINGLETON_EXISTS - XFSM_E_BASE] = "The singleton entry point instance exists already",
        [XFSM_E_BUSY - XFSM_E_BASE] = "Queue or outbox limit reached, retry later",
        [XFSM_E_LOAD_FAILED - XFSM_E_BASE] = "Component failed to load",
};

const char *xfsm_error_name(int r) {
        int k = -r - XFSM_E_BASE;
        if (k <= 0 || k >= XFSM_E_MAX - XFSM_E_BASE)
                return NULL;
        return error_names[k];
}

const char *xfsm_strerror(int r) {
        int k = -r - XFSM_E_BASE;
        if (k > 0 && k < XFSM_E_MAX - XFSM_E_BASE)
                return error_texts[k];
        return strerror(-r);
}

