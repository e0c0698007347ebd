/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The components of the node as xfsm-http sees them: the list from
 * org.xfsm1.Manager (ListComponentsEx, or ListComponents from an xfsmd
 * without it), kept for a moment and shared by the requests that wait for
 * it; where each is called (its own bus name and /org/xfsm1/C, or
 * org.xfsm1.Bridge and /org/xfsm1/Bridge/C for one homed on another node);
 * each definition (the Definition property) kept while its version hash
 * stays; and which component an instance id was last seen in. */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

typedef struct ComponentInfo {
        char *name, *stem, *hash, *bus_name, *node;
        bool running, remote;
        uint32_t instances;
        json_object *definition;       /* NULL until asked */
} ComponentInfo;

typedef struct Components Components;

/* called once the list is there (error 0) or could not be had (negative
 * errno, error holds the bus error if any) */
typedef void (*ComponentsFn)(Components *c, const sd_bus_error *error, void *userdata);
typedef void (*DefinitionFn)(Components *c, ComponentInfo *ci, const sd_bus_error *error, void *userdata);

Components *components_new(sd_bus *bus);
Components *components_free(Components *c);

/* fn once the list is at most max_age_usec old (at once, from the
 * caller's stack, when it is). */
int components_get(Components *c, uint64_t max_age_usec, ComponentsFn fn, void *userdata);
/* the list as it is */
ComponentInfo *components_find(Components *c, const char *name);
size_t components_count(Components *c);
ComponentInfo *components_nth(Components *c, size_t k);
/* the list is stale (an instance was created, a component appeared) */
void components_invalidate(Components *c);

/* Where to call ci: bus name and object path of its org.xfsm1.Component. */
void component_target(const ComponentInfo *ci, const char **ret_bus_name, char *path, size_t size);

/* ci's definition (from the cache, or asked). */
int components_definition(Components *c, ComponentInfo *ci, DefinitionFn fn, void *userdata);

/* The component an instance id was last seen in, or NULL; and to note it. */
const char *components_home_of(Components *c, const char *id);
void components_note_home(Components *c, const char *id, const char *component);
