/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include <systemd/sd-bus.h>

/* org.xfsm1.Error.* <-> errno-style codes, for the daemon and its clients.
 * The names come from the library's one error table (xfsm_error_name()). */

/* Register the map with sd_bus_error_add_map(), so that
 * sd_bus_error_get_errno() gives the -XFSM_E_* code back. Idempotent. */
int bus_errors_register(void);

/* Set error from an xfsm failure (a -XFSM_E_* code or a negative errno):
 * its org.xfsm1.Error.* name and message (the code's sentence when message
 * is empty). Returns a negative errno, as sd_bus_error_set() does. */
int bus_error_set_xfsm(sd_bus_error *error, int r, const char *message);
_sd_printf_(3, 4) int bus_error_setf_xfsm(sd_bus_error *error, int r, const char *format, ...);

/* One line for a user: "org.xfsm1.Error.NoTransition: no transition from ..." */
const char *bus_error_describe(const sd_bus_error *error);
