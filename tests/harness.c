/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

const char *env_or(const char *name, const char *fallback) {
        const char *v = getenv(name);
        return v ? v : fallback;
}

const char *data(const char *name) {
        static char buf[8][1024];
        static unsigned k;
        char *b = buf[k++ % 8];
        snprintf(b, 1024, "%s/%s", env_or("XFSM_TEST_DATA", "tests/data"), name);
        return b;
}

pid_t polkitd_start(const char *actions, const char *rules, const char *address, const char *log) {
        char cmd[2048];

        /* polkitd reads actions and rules from fixed places: give it its own */
        snprintf(cmd, sizeof cmd,
                 "mount --bind %s /usr/share/polkit-1/actions && mount --bind %s /etc/polkit-1/rules.d && "
                 "DBUS_SYSTEM_BUS_ADDRESS='%s' exec /usr/lib/polkit-1/polkitd --no-debug",
                 actions, rules, address);
        char *argv[] = { (char *) "/usr/bin/unshare", (char *) "-m", (char *) "--propagation", (char *) "private",
                         (char *) "/bin/sh", (char *) "-c", cmd, NULL };
        return spawn(argv, log);
}

pid_t spawn(char *const argv[], const char *out) {
        pid_t pid = fork();
        if (pid == 0) {
                if (out) {
                        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        if (fd >= 0) {
                                dup2(fd, STDOUT_FILENO);
                                dup2(fd, STDERR_FILENO);
                        }
                }
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

pid_t private_bus_start(const char *dir, char *ret_address, size_t size, sd_bus **ret_bus) {
        char sock[512], conf[1024], addr_arg[600];
        sd_bus *bus = NULL;
        pid_t pid;

        snprintf(sock, sizeof sock, "%s/bus", dir);
        snprintf(ret_address, size, "unix:path=%s", sock);
        snprintf(conf, sizeof conf, "--config-file=%s/../dbus/xfsm-private-bus.conf",
                 env_or("XFSM_TEST_DIR", "tests"));
        snprintf(addr_arg, sizeof addr_arg, "--address=%s", ret_address);
        char *argv[] = { (char *) env_or("DBUS_DAEMON", "/usr/bin/dbus-daemon"), conf, addr_arg, (char *) "--nofork",
                         (char *) "--nopidfile", NULL };
        pid = spawn(argv, NULL);
        if (pid < 0)
                return pid;
        for (int k = 0; k < 500 && access(sock, F_OK) < 0; k++)
                usleep(10000);
        chmod(sock, 0777); /* the access tests connect as another user */
        /* the socket may be there a moment before dbus-daemon listens on it */
        for (int k = 0; k < 500; k++) {
                if (sd_bus_new(&bus) >= 0 && sd_bus_set_address(bus, ret_address) >= 0 &&
                    sd_bus_set_bus_client(bus, 1) >= 0 && sd_bus_start(bus) >= 0)
                        break;
                bus = sd_bus_unref(bus);
                usleep(10000);
        }
        if (!bus)
                return -1;
        *ret_bus = bus;
        return pid;
}

bool name_has_owner(sd_bus *bus, const char *name) {
        sd_bus_message *reply = NULL;
        int has = 0;
        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", name) >= 0)
                (void) sd_bus_message_read(reply, "b", &has);
        sd_bus_message_unref(reply);
        return has;
}

bool wait_name(sd_bus *bus, const char *name, bool present) {
        for (int k = 0; k < 500; k++) {
                if (name_has_owner(bus, name) == present)
                        return true;
                usleep(10000);
        }
        return false;
}

bool unix_socket_listening(const char *path) {
        /* /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path;
         * Flags 00010000 (__SO_ACCEPTCON) once listen() was called */
        FILE *f = fopen("/proc/net/unix", "re");
        char line[1024];
        bool found = false;

        if (!f)
                return access(path, F_OK) == 0;
        while (!found && fgets(line, sizeof line, f)) {
                unsigned long flags;
                char name[600] = "";
                if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %599s", &flags, name) == 2 &&
                    strcmp(name, path) == 0 && (flags & 0x10000))
                        found = true;
        }
        fclose(f);
        return found;
}

pid_t spawn_socket_activated(const char *sock, char *const xfsmd_args[], const char *log) {
        char listen[600];
        char *argv[32] = { (char *) "/usr/bin/systemd-socket-activate", listen, (char *) "--fdname=xfsm",
                           (char *) env_or("XFSMD", "build/daemon/xfsmd") };
        size_t n = 4;
        pid_t pid;

        if (access(argv[0], X_OK) < 0)
                return 0;
        snprintf(listen, sizeof listen, "--listen=%s", sock);
        for (size_t k = 0; xfsmd_args[k] && n < sizeof argv / sizeof *argv - 1; k++)
                argv[n++] = xfsmd_args[k];
        pid = spawn(argv, log);
        /* the file is there from bind(), a moment before listen(): a
         * connection in between is refused */
        for (int k = 0; k < 500 && !unix_socket_listening(sock); k++)
                usleep(10000);
        return pid;
}
