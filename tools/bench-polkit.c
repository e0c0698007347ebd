/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-bench polkit: what polkit costs a Send (xfsm-bench(1); access control in xfsmd(8)).
 * In one run, on a private dbus-daemon with a real polkitd (its actions and
 * rules directories of its own, in a mount namespace) and xfsmd:
 *   - root: Send round trips (no polkit question: root passes),
 *   - nobody, allowed by a rule, warm: the same, answered from the grant
 *     cache (one question per 5 s),
 *   - nobody, cold: the first Send of a new connection (its uid looked up,
 *     then polkit asked),
 * interleaved runs, medians, and the warm/root ratio (target: at most 1.5).
 * Needs root (it calls as nobody), polkitd and unshare. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "macro.h"
#include "bench.h"

#define COLD 15
#define NOBODY 65534
#define POLKITD "/usr/lib/polkit-1/polkitd"

static const char rule[] = "polkit.addRule(function(action, subject) {\n"
                           "        if (action.id == \"org.xfsm1.send-event\" && subject.user == \"nobody\" &&\n"
                           "            action.lookup(\"component\") == \"BenchToggle\")\n"
                           "                return polkit.Result.YES;\n"
                           "});\n";


static int copy_file(const char *from, const char *to) {
        char buf[65536];
        size_t n;
        FILE *in = fopen(from, "re"), *out;
        int r = 0;

        if (!in)
                return -errno;
        out = fopen(to, "we");
        if (!out) {
                fclose(in);
                return -errno;
        }
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                if (fwrite(buf, 1, n, out) != n)
                        r = -EIO;
        fclose(in);
        if (fclose(out) != 0)
                r = -EIO;
        return r;
}

/* What the caller measured, written back over a pipe. */
typedef struct Figures {
        BenchResult warm[RUNS];
        uint64_t cold[COLD];
        int error;
} Figures;

/* As nobody: COLD first calls (each on a new connection), then warm runs. Run
 * k of the warm calls is made when the parent says so (interleaving). */
static void caller(const char *address, const char *path, unsigned count, int up, int down) {
        Figures f = {};
        char go;

        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                f.error = EPERM;
        for (int k = 0; !f.error && k < COLD; k++) {
                sd_bus *b = bench_connect(address);
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t a;
                int r;

                if (!b) {
                        f.error = ECONNREFUSED;
                        break;
                }
                a = bench_now_ns();
                r = sd_bus_call_method(b, "org.xfsm1.BenchToggle", path, "org.xfsm1.Instance", "Send", &error, NULL,
                                       "ss", "TOGGLE", "");
                f.cold[k] = bench_now_ns() - a;
                if (r < 0) {
                        fprintf(stderr, "xfsm-bench: polkit: cold Send as nobody: %s\n",
                                error.message ?: strerror(-r));
                        f.error = -r;
                }
                sd_bus_error_free(&error);
                sd_bus_flush_close_unref(b);
        }
        sd_bus *b = f.error ? NULL : bench_connect(address);
        for (int run = 0; run < RUNS; run++) {
                if (read(down, &go, 1) != 1)
                        break;
                if (b && !f.error && bench_round_trips(b, "org.xfsm1.BenchToggle", path, count, &f.warm[run]) < 0)
                        f.error = EACCES;
                (void) !write(up, "1", 1);
        }
        sd_bus_flush_close_unref(b);
        (void) !write(up, &f, sizeof f);
        _exit(0);
}

static double median_of(double *v, size_t n) {
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && v[j] < v[j - 1]; j--) {
                        double t = v[j];
                        v[j] = v[j - 1];
                        v[j - 1] = t;
                }
        return v[n / 2];
}

int bench_polkit(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "xfsmd", required_argument, NULL, 'x' },
                { "policy", required_argument, NULL, 'p' },
                {},
        };
        char dir[] = "/tmp/xfsm-bench-polkit-XXXXXX", path[PATH_MAX], address[PATH_MAX + 16], xbuf[PATH_MAX],
             sub[PATH_MAX - 64], cmd[4 * PATH_MAX], ipath[256] = "";
        const char *xfsmd = bench_find_xfsmd(xbuf, sizeof xbuf);
        const char *policy = "/usr/share/polkit-1/actions/org.xfsm1.policy";
        unsigned count = 5000;
        pid_t broker = 0, polkitd = 0, daemon = 0, child = 0;
        sd_bus *bus = NULL;
        BenchResult root[RUNS] = {};
        Figures f = {};
        int up[2] = { -1, -1 }, down[2] = { -1, -1 }, c, ret = EXIT_REFUSED;

        optind = 1;
        while ((c = getopt_long(argc, argv, "n:x:p:", options, NULL)) >= 0)
                if (c == 'n')
                        count = (unsigned) strtoul(optarg, NULL, 10);
                else if (c == 'x')
                        xfsmd = optarg;
                else if (c == 'p')
                        policy = optarg;
                else
                        return EXIT_USAGE;
        if (count < 100)
                return usage_error("bench polkit: --count must be at least 100");
        if (geteuid() != 0 || access(POLKITD, X_OK) < 0 || access("/usr/bin/unshare", X_OK) < 0) {
                fprintf(stderr, "xfsm-bench: polkit needs root (it calls as nobody), " POLKITD " and unshare\n");
                return EXIT_REFUSED;
        }
        if (access(policy, R_OK) < 0) {
                fprintf(stderr, "xfsm-bench: polkit: no %s (--policy polkit/org.xfsm1.policy)\n", policy);
                return EXIT_REFUSED;
        }
        if (!mkdtemp(dir))
                return EXIT_REFUSED;
        (void) chmod(dir, 0755);
        snprintf(sub, sizeof sub, "%s/actions", dir);
        (void) mkdir(sub, 0755);
        snprintf(path, sizeof path, "%s/org.xfsm1.policy", sub);
        if (copy_file(policy, path) < 0)
                goto finish;
        snprintf(sub, sizeof sub, "%s/rules.d", dir);
        (void) mkdir(sub, 0755);
        if (bench_write_file(sub, "60-bench.rules", rule, NULL, 0) < 0 ||
            bench_write_file(dir, "toggle.yaml", bench_toggle_yaml, path, sizeof path) < 0)
                goto finish;

        broker = bench_private_bus(dir, address, sizeof address);
        if (broker < 0)
                goto finish;
        bus = bench_connect(address);
        if (!bus)
                goto finish;

        snprintf(cmd, sizeof cmd,
                 "mount --bind %s/actions /usr/share/polkit-1/actions && mount --bind %s/rules.d "
                 "/etc/polkit-1/rules.d && DBUS_SYSTEM_BUS_ADDRESS='%s' exec " POLKITD " --no-debug",
                 dir, dir, address);
        polkitd = fork();
        if (polkitd == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                execl("/usr/bin/unshare", "unshare", "-m", "--propagation", "private", "/bin/sh", "-c", cmd,
                      (char *) NULL);
                _exit(127);
        }
        daemon = bench_spawn_xfsmd(xfsmd, address, path, NULL, NULL);
        if (!bench_wait_name(bus, "org.freedesktop.PolicyKit1") || !bench_wait_name(bus, "org.xfsm1.BenchToggle")) {
                fprintf(stderr, "xfsm-bench: polkit: polkitd or xfsmd (%s) did not come up\n", xfsmd);
                goto finish;
        }
        {
                sd_bus_message *reply = NULL;
                const char *p, *i;
                if (sd_bus_call_method(bus, "org.xfsm1.BenchToggle", "/org/xfsm1/BenchToggle", "org.xfsm1.Component",
                                       "CreateInstance", NULL, &reply, "ss", "Toggle", "") < 0 ||
                    sd_bus_message_read(reply, "os", &p, &i) < 0) {
                        sd_bus_message_unref(reply);
                        goto finish;
                }
                snprintf(ipath, sizeof ipath, "%s", p);
                sd_bus_message_unref(reply);
        }

        if (pipe(up) < 0 || pipe(down) < 0)
                goto finish;
        child = fork();
        if (child == 0) {
                close(up[0]);
                close(down[1]);
                caller(address, ipath, count, up[1], down[0]);
        }
        close(up[1]);
        close(down[0]);
        up[1] = down[0] = -1;
        /* interleaved: root, then nobody warm, RUNS times */
        for (int run = 0; run < RUNS; run++) {
                char ack;
                if (bench_round_trips(bus, "org.xfsm1.BenchToggle", ipath, count, &root[run]) < 0)
                        goto finish;
                if (write(down[1], "1", 1) != 1 || read(up[0], &ack, 1) != 1)
                        goto finish;
        }
        if (read(up[0], &f, sizeof f) != (ssize_t) sizeof f || f.error) {
                fprintf(stderr, "xfsm-bench: polkit: the calls as nobody failed (%s)\n", strerror(f.error ?: EIO));
                goto finish;
        }

        double rm[RUNS], wm[RUNS], ratio[RUNS];
        for (int run = 0; run < RUNS; run++) {
                rm[run] = (double) root[run].median_ns / 1000.0;
                wm[run] = (double) f.warm[run].median_ns / 1000.0;
                ratio[run] = wm[run] / rm[run];
        }
        qsort(f.cold, COLD, sizeof *f.cold, bench_cmp_u64);
        double cold = (double) f.cold[COLD / 2] / 1000.0, rmed = median_of(rm, RUNS), wmed = median_of(wm, RUNS),
               ratio_med = median_of(ratio, RUNS);
        if (json)
                printf("{\"send_rt_root_us\": %.1f, \"send_rt_warm_us\": %.1f, \"send_rt_cold_us\": %.1f, "
                       "\"warm_vs_root\": %.2f, \"count\": %u, \"runs\": %d}\n",
                       rmed, wmed, cold, ratio_med, count, RUNS);
        else {
                printf("polkit: Send round trip through xfsmd, private dbus-daemon and a real polkitd "
                       "(%u calls x %d interleaved runs)\n",
                       count, RUNS);
                printf("  root (no question)             %8.1f us median\n", rmed);
                printf("  nobody, allowed, warm cache    %8.1f us median   ratio to root %.2f (target <= 1.5)\n",
                       wmed, ratio_med);
                printf("  nobody, cold (first call)      %8.1f us median of %d new connections "
                       "(uid lookup + polkit)\n",
                       cold, COLD);
        }
        ret = EXIT_OK;
finish:
        if (child > 0) {
                if (down[1] >= 0)
                        close(down[1]);
                down[1] = -1;
                waitpid(child, NULL, 0);
        }
        for (int k = 0; k < 2; k++) {
                if (up[k] >= 0)
                        close(up[k]);
                if (down[k] >= 0)
                        close(down[k]);
        }
        sd_bus_flush_close_unref(bus);
        bench_stop(daemon);
        bench_stop(polkitd);
        bench_stop(broker);
        bench_remove_dir(dir);
        return ret;
}
