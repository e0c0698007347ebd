/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Like systemctl: when polkit may ask for a password, run pkttyagent so it
 * can ask on this terminal. Only when --no-ask-password is not given, stdin
 * is a terminal and we are not root (root is never asked); the agent is
 * waited for until it says it is registered (it closes its notify fd) and
 * stopped when the verb is done. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xfsmctl.h"

#define PKTTYAGENT "/usr/bin/pkttyagent"

static pid_t agent_pid;

int polkit_agent_open(void) {
        char fd_arg[16];
        int fds[2];
        pid_t pid;

        if (agent_pid > 0 || geteuid() == 0 || !isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0)
                return 0;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return -errno;
        }
        if (pid == 0) {
                /* the write end stays open across exec: pkttyagent closes it once registered */
                int fd = dup(fds[1]);
                if (fd < 0)
                        _exit(EXIT_FAILURE);
                snprintf(fd_arg, sizeof fd_arg, "%d", fd);
                execl(PKTTYAGENT, PKTTYAGENT, "--notify-fd", fd_arg, "--fallback", (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        close(fds[1]);
        agent_pid = pid;
        /* registered when the other end is closed; do not wait for ever on a stuck agent */
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        (void) poll(&p, 1, 10000);
        close(fds[0]);
        return 1;
}

void polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;
        kill(agent_pid, SIGTERM);
        (void) waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
}
