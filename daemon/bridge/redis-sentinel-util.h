/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The pure part of following Redis Sentinel (redis-sentinel.c,
 * xfsm-redis-bridge(8)): the sentinels' answers read, and the order in which
 * they are asked. No I/O: tested alone by test-redis-sentinel-util. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* The answer to SENTINEL get-master-addr-by-name: [host, port]. 0 and a
 * new string in *ret_host; -ENOENT when the sentinel does not know the
 * master (nil), -EIO for an error reply, -EBADMSG for anything else; nothing
 * written on failure. */
int sentinel_parse_master_addr(const redisReply *reply, char **ret_host, uint16_t *ret_port);

/* A +switch-master message: "NAME OLDHOST OLDPORT NEWHOST NEWPORT". 1 and
 * the new address when NAME is master, 0 when it is another master's (the
 * outputs untouched), -EBADMSG when it cannot be read, -ENOMEM. */
int sentinel_parse_switch_master(const char *message, size_t size, const char *master, char **ret_host,
                                 uint16_t *ret_port);

/* order[0..n) lists the sentinels by preference: the one at position pos
 * answered, so it goes first and the others keep their order (the
 * clients' rule of Redis's Sentinel documentation). */
void sentinel_prefer(size_t *order, size_t n, size_t pos);

/* The position in order, from pos on, of the first sentinel that can be
 * asked (up[order[i]]), or n when none. */
size_t sentinel_next(const size_t *order, size_t n, size_t pos, const bool *up);
