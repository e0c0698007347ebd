/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reload (see reload.c): definitions read again, older ones kept for the
 * instances created with them, in memory and in the state directory. */

#include <stddef.h>

typedef struct Manager Manager;
typedef struct Host Host;

/* Keep text, the definition h now has, as STATE/STEM/defs/HASH.yaml (durable hosts only). */
int reload_keep_definition(Manager *m, Host *h, const char *text, size_t len);
/* The same, read from h's file (at start-up: it is the current definition). */
int reload_keep_file(Manager *m, Host *h);
/* Recovery may then load an older definition an instance image names. */
void reload_setup(Manager *m);
/* Read every hosted component's file again: the number changed, <0 if one failed to load (it keeps its version). */
int manager_reload(Manager *m);
