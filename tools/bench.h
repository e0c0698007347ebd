/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* xfsm-bench: what its benchmarks share (bench-main.c, bench-util.c,
 * bench-bus.c). Figures only, never assertions. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <stddef.h>

enum {
        EXIT_OK = 0,
        EXIT_REFUSED = 1,
        EXIT_USAGE = 2,
};

#define RUNS 3

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int bench_engine(int argc, char **argv, bool json);
int bench_bus(int argc, char **argv, const char *bus_address, bool json);
int bench_polkit(int argc, char **argv, bool json);
int bench_exec(int argc, char **argv, const char *bus_address, bool json);
int bench_bridge(int argc, char **argv, bool json);
int bench_http(int argc, char **argv, bool json);
int bench_xcompat(int argc, char **argv, bool json);

/* bench-bridge.c: what the Redis benchmarks share */
/* a free TCP port on 127.0.0.1, or -1 */
int bench_free_port(void);
/* redis-server on 127.0.0.1:port without persistence, its files in
 * dir/redis, its log dir/redis.log; returns once it accepts a connection
 * (or after 5 s) */
pid_t bench_redis_start(const char *dir, int port);
/* fork + exec argv, stdout and stderr to log (when not NULL), with
 * $XFSM_COMPONENT_PATH set to component_path (when not NULL) */
pid_t bench_spawn_env(char *const argv[], const char *log, const char *component_path);
/* $XFSM_BRIDGE, or xfsm-redis-bridge beside xfsmd (the build tree's or the installed one) */
const char *bench_bridge_path(const char *xfsmd, char *buf, size_t size);

/* ---- bench-util.c: runs, figures, processes --------------------------------- */

/* One figure over RUNS runs: the median and the range. */
typedef struct BenchStat {
        double median, min, max;
} BenchStat;
BenchStat bench_stat(const double *v, size_t n);

/* Run fn(arg, ret, size) in a fresh child process (a fresh allocator, no
 * memory of another measurement) pinned to the CPUs of cpus (NULL: not
 * pinned); what it wrote to ret (size bytes) comes back. Negative errno
 * when the child failed. */
typedef int (*bench_child_fn)(const void *arg, void *ret, size_t size);
int bench_in_child(const char *cpus, bench_child_fn fn, const void *arg, void *ret, size_t size);

/* Pin the calling process (and what it forks after) to cpus ("0", "0,1");
 * NULL or "" leaves it as it is. */
int bench_pin(const char *cpus);
/* The CPUs the processes of one comparison share: --cpus, else "0". */
extern const char *bench_cpus;

/* The CPU time a process has used so far, all its threads (schedstat), in ns; 0 when unknown */
uint64_t bench_cpu_ns(pid_t pid);

/* JSON: {"median":..,"min":..,"max":..} for one figure */
void bench_json_stat(FILE *f, const char *name, BenchStat s);

/* ---- bench-bus.c: what the bus benchmarks share ------------------------------ */
typedef struct BenchResult {
        uint64_t median_ns, p99_ns;
        double rate;
} BenchResult;
uint64_t bench_now_ns(void);
int bench_cmp_u64(const void *a, const void *b);
/* SIGTERM and wait (nothing for pid <= 0); rm -rf */
void bench_stop(pid_t pid);
/* dir/name with text (0644); its path in ret_path when not NULL */
int bench_write_file(const char *dir, const char *name, const char *text, char *ret_path, size_t size);
/* xfsmd on address hosting file, as the units run it; with a state directory and policy when state is set */
pid_t bench_spawn_xfsmd(const char *xfsmd, const char *address, const char *file, const char *state,
                        const char *policy);
/* dbus-daemon on dir/bus for the benchmarks; its pid (<0 on failure) */
pid_t bench_private_bus(const char *dir, char *ret_address, size_t size);
/* Connect to the socket at sock until a connection succeeds (5 s at most):
 * the first one starts a socket-activated xfsmd, as xfsm@.socket does. */
void bench_activate(const char *sock);
/* BenchToggle: a Toggle machine, Off <-> On on TOGGLE */
extern const char bench_toggle_yaml[];
void bench_remove_dir(const char *dir);
struct sd_bus *bench_connect(const char *address);
/* n Instance.Send(TOGGLE) round trips to path at dest: median and p99 */
int bench_round_trips(struct sd_bus *bus, const char *dest, const char *path, unsigned n, BenchResult *res);
bool bench_name_has_owner(struct sd_bus *bus, const char *name);
/* up to 5 s */
bool bench_wait_name(struct sd_bus *bus, const char *name);
/* $XFSMD, the build tree's, or the installed one */
const char *bench_find_xfsmd(char *buf, size_t size);
/* $XFSMCTL, the build tree's, or the installed one */
const char *bench_find_xfsmctl(char *buf, size_t size);
