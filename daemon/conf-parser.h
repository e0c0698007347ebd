/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The reader of xfsm's configuration files (xfsm.conf, bridge.conf), in the
 * form of systemd's own: [Section] headers, Key=Value lines, comments
 * starting with # or ;. The reader owns the syntax and the FILE:LINE of
 * every message; what each key means is the caller's, through a callback. */

#include <stdbool.h>
#include <stdint.h>

/* One Key=Value line (key and value stripped of blanks; value may be
 * modified). Return 0 when taken; -ENOENT when the key is not known there
 * (the reader warns "FILE:LINE: unknown key" and goes on); -EINVAL when the
 * value is bad, after logging "FILE:LINE: why" (the reader goes on, so that
 * every bad line is reported, and fails at the end); any other negative
 * errno stops the reading at once. */
typedef int (*ConfSettingFn)(const char *path, unsigned line, const char *section, const char *key, char *value,
                             void *userdata);

/* Read path. A missing file is not an error when !required. sections: the
 * known section names, NULL-terminated (others are warned about; their keys
 * still go to fn, which is expected to answer -ENOENT). Returns 0, -EINVAL
 * when a line was bad (each reported), or the negative errno that stopped
 * it. */
int conf_parse(const char *path, bool required, const char *const *sections, ConfSettingFn fn, void *userdata);

/* A decimal number from 0 to max: 0 or -EINVAL. */
int conf_parse_uint(const char *v, uint64_t max, uint64_t *ret);
/* yes/no, true/false, on/off, 1/0: 1, 0, or -EINVAL. */
int conf_parse_boolean(const char *v);
