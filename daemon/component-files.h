/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The components directories and the files in them (xfsmd(8), "FILES"):
 * what xfsmd, the bridge and xfsmctl enable read to find a component. */

/* $XFSM_COMPONENT_PATH, else /etc/xfsm/components:/usr/share/xfsm/components */
const char *component_dirs(void);

/* The first file of the components directories, other than skip (NULL: none),
 * whose YAML name is name: 1 and its path in *ret_path (the caller frees),
 * 0 when there is none, <0 on failure. Every file is loaded to be read. */
int component_file_find(const char *name, const char *skip, char **ret_path);
