/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "model.h"
#include "xfsm.h"

/* Load one component from YAML text. file names it in diagnostics. All
 * problems are reported through fn; any error means -XFSM_E_LOAD_FAILED and
 * nothing returned. */
int component_load(const char *file, const char *data, size_t len, xfsm_diag_fn fn, void *userdata,
                   Component **ret);

const char *match_op_to_string(MatchOp op);
