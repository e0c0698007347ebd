/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* org.xfsm1.Error.* <-> errno-style codes, for the daemon and its clients.
 * Registered with sd_bus_error_add_map() so that sd_bus_error_get_errno()
 * gives the -XFSM_E_* code back. */
extern const sd_bus_error_map xfsm_bus_error_map[];

/* Set error from an engine failure: its org.xfsm1.Error.* name and message. */
int bus_error_set_xfsm(sd_bus_error *error, int r, const char *message);

/* One line for a user: "org.xfsm1.Error.NoTransition: no transition from ..." */
const char *bus_error_describe(const sd_bus_error *error);
