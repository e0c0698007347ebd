/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the integration tests share: data files, child processes, a private
 * dbus-daemon started for the test, waiting for bus names. */

#include <stdbool.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

const char *env_or(const char *name, const char *fallback);
/* A file of tests/data (one of 8 rotating buffers). */
const char *data(const char *name);

/* fork + exec argv, stdout and stderr to out (when not NULL) */
pid_t spawn(char *const argv[], const char *out);

/* A private dbus-daemon (dbus/xfsm-private-bus.conf) listening in dir;
 * its address in ret_address; a client connection to it in ret_bus. */
pid_t private_bus_start(const char *dir, char *ret_address, size_t size, sd_bus **ret_bus);

bool name_has_owner(sd_bus *bus, const char *name);
/* Wait up to 5 s for name to come (present) or go; true when it did. */
bool wait_name(sd_bus *bus, const char *name, bool present);

/* true once a process listens on the Unix socket at path (not only bound) */
bool unix_socket_listening(const char *path);

/* xfsmd started by the first connection to sock, as xfsm@.socket does
 * (systemd-socket-activate, FileDescriptorName=xfsm), with these arguments
 * after the binary (NULL-terminated); listening when it returns.
 * 0 when systemd-socket-activate is not installed. */
pid_t spawn_socket_activated(const char *sock, char *const xfsmd_args[], const char *log);

/* polkitd with the bus at address as its system bus, in a mount namespace of
 * its own where /usr/share/polkit-1/actions is the directory actions and
 * /etc/polkit-1/rules.d the directory rules (needs root and unshare); its
 * output to log. The caller waits for org.freedesktop.PolicyKit1. */
pid_t polkitd_start(const char *actions, const char *rules, const char *address, const char *log);
