/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A YAML document as a tree that remembers where each node was written, built
 * from libyaml's event API so that every diagnostic can say FILE:LINE:COLUMN. */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "diag.h"

typedef enum NodeKind {
        NODE_SCALAR,
        NODE_MAP,
        NODE_SEQ,
} NodeKind;

typedef struct Node Node;
struct Node {
        NodeKind kind;
        unsigned line, column; /* 1-based */
        bool plain;            /* scalar written without quotes */
        char *value;           /* scalar text */
        size_t len;
        /* map: children are key, value, key, value ...; seq: items */
        Node **children;
        size_t n_children;
        bool used; /* a map key the loader recognised */
};

/* Parse one document. On a syntax error, reports it and returns -EINVAL. An
 * empty document gives *ret = NULL and 0. */
int yaml_node_parse(const char *data, size_t len, Diag *d, Node **ret);
Node *yaml_node_free(Node *n);

/* Map lookup: the value node of key, or NULL. */
Node *yaml_node_get(Node *map, const char *key);

/* A scalar as JSON, with YAML 1.2 core typing for plain scalars. */
json_object *yaml_node_to_json(const Node *n);
bool yaml_scalar_is_null(const Node *n);
