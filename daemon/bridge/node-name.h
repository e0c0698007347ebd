/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a node name may hold (xfsm-redis-bridge(8)): 1 to 64 of
 * [A-Za-z0-9_.-], never "." or "..". One rule for Node= in bridge.conf, the
 * key files in /etc/xfsm/nodes.d/NODE.pub and the node field of stream
 * entries, so a name read from Redis can name a file and a key safely. */

#include <stdbool.h>
#include <string.h>

#define NODE_NAME_MAX 64

static inline bool node_name_is_valid(const char *s) {
        size_t n = 0;

        if (!s || !*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++, n++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                      *s == '_' || *s == '.' || *s == '-'))
                        return false;
        return n <= NODE_NAME_MAX;
}
