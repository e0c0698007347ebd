/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench: runs and figures. Each measurement runs in a fresh child
 * process (its own allocator state, nothing left by another measurement),
 * pinned with the processes it is compared with; a figure is the median of
 * RUNS runs with its range. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"

const char *bench_cpus = "0";

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

BenchStat bench_stat(const double *v, size_t n) {
        double s[16];

        assert(n > 0 && n <= ELEMENTSOF(s));
        memcpy(s, v, n * sizeof *v);
        qsort(s, n, sizeof *s, cmp_double);
        return (BenchStat) { .median = s[n / 2], .min = s[0], .max = s[n - 1] };
}

int bench_pin(const char *cpus) {
        cpu_set_t set;
        const char *p = cpus;

        if (!cpus || !*cpus)
                return 0;
        CPU_ZERO(&set);
        while (*p) {
                char *end;
                unsigned long a = strtoul(p, &end, 10), b = a;

                if (end == p)
                        return -EINVAL;
                if (*end == '-') {
                        p = end + 1;
                        b = strtoul(p, &end, 10);
                        if (end == p || b < a)
                                return -EINVAL;
                }
                for (unsigned long c = a; c <= b && c < CPU_SETSIZE; c++)
                        CPU_SET(c, &set);
                p = end;
                if (*p == ',')
                        p++;
                else if (*p)
                        return -EINVAL;
        }
        if (sched_setaffinity(0, sizeof set, &set) < 0)
                return -errno;
        return 0;
}

int bench_in_child(const char *cpus, bench_child_fn fn, const void *arg, void *ret, size_t size) {
        int fd[2], status;
        ssize_t n = 0;
        pid_t pid;

        if (pipe2(fd, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                close(fd[0]);
                close(fd[1]);
                return -errno;
        }
        if (pid == 0) {
                close(fd[0]);
                if (bench_pin(cpus) < 0 || fn(arg, ret, size) < 0)
                        _exit(1);
                _exit(write(fd[1], ret, size) == (ssize_t) size ? 0 : 1);
        }
        close(fd[1]);
        for (size_t got = 0; got < size;) {
                n = read(fd[0], (char *) ret + got, size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        close(fd[0]);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

void bench_json_stat(FILE *f, const char *name, BenchStat s) {
        fprintf(f, "\"%s\":{\"median\":%.6g,\"min\":%.6g,\"max\":%.6g}", name, s.median, s.min, s.max);
}

uint64_t bench_cpu_ns(pid_t pid) {
        char path[64];
        struct dirent *de;
        uint64_t sum = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                unsigned long long ns = 0;
                char stat[384];
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(stat, sizeof stat, "/proc/%d/task/%s/schedstat", (int) pid, de->d_name);
                f = fopen(stat, "re");
                if (!f)
                        continue;
                if (fscanf(f, "%llu", &ns) == 1)
                        sum += ns;
                fclose(f);
        }
        closedir(d);
        return sum;
}
