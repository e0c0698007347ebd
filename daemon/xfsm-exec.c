/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-exec: what xfsm-exec@.service runs for an `exec` action, inside its
 * sandbox (DynamicUser=yes, no network, read-only file system).
 *
 * Standard input (a file the worker wrote, opened by systemd) starts with one
 * line, {"argv": [...], "timeoutMs": N}, followed by the instance context as
 * JSON: the command runs with argv, its standard input positioned after that
 * line (so it reads the context), its output going where this program's does
 * (files systemd opened). The command gets its own process group; when it
 * runs past timeoutMs the group is killed, "xfsm-exec: timed out after N ms"
 * is the last line of standard error and the exit status 124. Otherwise this
 * program ends as the command did: the same exit status, or the same signal.
 *
 * Exit 125 (and a message on standard error): the job could not be read or
 * the command could not be started. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define EXIT_TIMEOUT 124
#define EXIT_SETUP 125

static int fail(const char *what) {
        fprintf(stderr, "xfsm-exec: %s\n", what);
        return EXIT_SETUP;
}

/* The first line of stdin, read a byte at a time: not one byte more. */
static char *read_header(void) {
        size_t n = 0, cap = 4096;
        char *b = malloc(cap);

        if (!b)
                return NULL;
        for (;;) {
                char c;
                ssize_t r = read(STDIN_FILENO, &c, 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 || c == '\n')
                        break;
                if (n + 1 >= cap) {
                        char *nb = cap < 1024 * 1024 ? realloc(b, cap *= 2) : NULL;
                        if (!nb) {
                                free(b);
                                return NULL;
                        }
                        b = nb;
                }
                b[n++] = c;
        }
        b[n] = '\0';
        return b;
}

int main(int argc, char **argv) {
        json_object *job, *args, *t;
        char **cmd;
        size_t n;
        uint64_t timeout_ms = 60000;
        sigset_t chld;
        pid_t pid;
        int status;
        char *header;

        if (argc != 1)
                return fail("takes no arguments: the job comes on standard input");
        header = read_header();
        job = header ? json_tokener_parse(header) : NULL;
        free(header);
        if (!job || !json_object_object_get_ex(job, "argv", &args) || !json_object_is_type(args, json_type_array) ||
            (n = json_object_array_length(args)) == 0)
                return fail("no job on standard input ({\"argv\": [...], \"timeoutMs\": N} and a newline)");
        if (json_object_object_get_ex(job, "timeoutMs", &t))
                timeout_ms = (uint64_t) json_object_get_int64(t);
        cmd = calloc(n + 1, sizeof *cmd);
        if (!cmd)
                return fail("out of memory");
        for (size_t k = 0; k < n; k++)
                cmd[k] = (char *) json_object_get_string(json_object_array_get_idx(args, k));

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        pid = fork();
        if (pid < 0) {
                int r = fail(strerror(errno));
                free(cmd);
                json_object_put(job);
                return r;
        }
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                (void) setpgid(0, 0);
                execv(cmd[0], cmd);
                fprintf(stderr, "xfsm-exec: cannot run %s: %s\n", cmd[0], strerror(errno));
                _exit(EXIT_SETUP);
        }
        (void) setpgid(pid, pid);

        struct timespec deadline, now;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t) (timeout_ms / 1000);
        deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                long long left = (long long) (deadline.tv_sec - now.tv_sec) * 1000000000LL +
                                 (deadline.tv_nsec - now.tv_nsec);
                if (left <= 0) {
                        (void) kill(-pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        fprintf(stderr, "\nxfsm-exec: timed out after %llu ms\n", (unsigned long long) timeout_ms);
                        free(cmd);
                        json_object_put(job);
                        return EXIT_TIMEOUT;
                }
                struct timespec wait = { .tv_sec = (time_t) (left / 1000000000LL), .tv_nsec = (long) (left % 1000000000LL) };
                (void) sigtimedwait(&chld, NULL, &wait);
        }
        /* whatever the command left behind goes with it */
        (void) kill(-pid, SIGKILL);
        json_object_put(job);
        free(cmd);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        /* end the same way: the unit then says which signal */
        signal(WTERMSIG(status), SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &chld, NULL);
        raise(WTERMSIG(status));
        return 128 + WTERMSIG(status);
}
