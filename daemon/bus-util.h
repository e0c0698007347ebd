/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small sd-bus helpers the daemon's modules share. */

#include <systemd/sd-bus.h>

/* Walk an a{sv} at the cursor of m: fn is called with each key, the cursor
 * on its variant; it reads the variant and returns 1, or returns 0 and the
 * variant is skipped, or fails (<0, the walk stops with it). */
typedef int (*bus_dict_fn)(sd_bus_message *m, const char *key, void *userdata);
int bus_read_dict(sd_bus_message *m, bus_dict_fn fn, void *userdata);
