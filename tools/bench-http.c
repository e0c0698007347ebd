/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmctl bench http: xfsm-http's REST API beside the D-Bus API it fronts,
 * in one run: the demo Order flow (create with a 3-field context, VALIDATE
 * with a 3-field payload) in flows/s with 1 and 8 keep-alive HTTP clients,
 * and the same flow over D-Bus (CreateInstance + Send) with 1 and 8 bus
 * connections; then the event stream's fan-out to N subscribers (each
 * creation reaches every subscriber: deliveries/s, and the latency until
 * the last subscriber has it). Each figure is the median of 3 runs, each
 * run on a fresh dbus-daemon, xfsmd (durability none) and xfsm-http. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "http-client.h"
#include "macro.h"
#include "bench.h"

#define RUNS 3
#define CLIENTS_MAX 8

static const char order_yaml[] = "name: OrderComponent\n"
                                 "version: 1.0.0\n"
                                 "stateMachines:\n"
                                 "  - name: Order\n"
                                 "    initialState: Created\n"
                                 "    states:\n"
                                 "      - {name: Created, type: entry}\n"
                                 "      - name: Validated\n"
                                 "        cascadingRules:\n"
                                 "          - targetComponent: PaymentComponent\n"
                                 "            targetMachine: Payment\n"
                                 "            targetState: Pending\n"
                                 "            event: PROCESS\n"
                                 "            payload: {orderId: '{{orderId}}', amount: '{{amount}}', customerId: '{{customerId}}'}\n"
                                 "      - {name: Completed, type: final}\n"
                                 "      - {name: Cancelled, type: error}\n"
                                 "    transitions:\n"
                                 "      - {from: Created, to: Validated, event: VALIDATE, type: triggerable}\n"
                                 "      - {from: Validated, to: Completed, event: COMPLETE, type: triggerable}\n"
                                 "      - {from: Created, to: Cancelled, event: CANCEL, type: triggerable}\n";
static const char payment_yaml[] = "name: PaymentComponent\n"
                                   "version: 1.0.0\n"
                                   "stateMachines:\n"
                                   "  - name: Payment\n"
                                   "    initialState: Pending\n"
                                   "    states:\n"
                                   "      - {name: Pending, type: entry}\n"
                                   "      - {name: Processing}\n"
                                   "    transitions:\n"
                                   "      - {from: Pending, to: Processing, event: PROCESS, type: triggerable}\n";
static const char order_context[] = "{\"orderId\":\"ORD-000001\",\"amount\":129.9,\"customerId\":\"CUST-42\"}";
static const char validate_payload[] = "{\"validatedBy\":\"bench\",\"score\":0.97,\"channel\":\"web\"}";

typedef struct Env {
        char dir[64];
        char address[PATH_MAX + 16];
        pid_t broker, daemon, http;
        unsigned port;
        sd_bus *bus;
} Env;

static const char *find_http(char *buf, size_t size) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        const char *env = getenv("XFSM_HTTP");

        if (env)
                return env;
        if (n > 0) {
                char *slash;

                self[n] = 0;
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = 0;
                        if ((size_t) snprintf(buf, size, "%.*s/../daemon/http/xfsm-http", (int) (size - 40), self) <
                                    size &&
                            access(buf, X_OK) == 0)
                                return buf;
                }
        }
        return "/usr/libexec/xfsm-http";
}

static void env_stop(Env *e) {
        if (e->bus)
                e->bus = sd_bus_flush_close_unref(e->bus);
        bench_stop(e->http);
        bench_stop(e->daemon);
        bench_stop(e->broker);
        if (e->dir[0])
                bench_remove_dir(e->dir);
        *e = (Env) {};
}

static int env_start(Env *e, const char *xfsmd, const char *http, unsigned streams) {
        char comp[128], state[128], conf[256], listen[64];
        int null;

        *e = (Env) {};
        snprintf(e->dir, sizeof e->dir, "/tmp/xfsm-bench-http-XXXXXX");
        if (!mkdtemp(e->dir))
                return -errno;
        snprintf(comp, sizeof comp, "%s/comp", e->dir);
        snprintf(state, sizeof state, "%s/state", e->dir);
        (void) mkdir(comp, 0755);
        if (bench_write_file(comp, "order.yaml", order_yaml, NULL, 0) < 0 ||
            bench_write_file(comp, "payment.yaml", payment_yaml, NULL, 0) < 0)
                return -EIO;
        snprintf(listen, sizeof listen, "%u", streams + 64);
        {
                char text[256];

                snprintf(text, sizeof text,
                         "[HTTP]\nMaxConnections=%u\nMaxConnectionsPerClient=%u\nMaxEventStreamsPerClient=%u\n",
                         streams + 64, streams + 64, streams + 1);
                if (bench_write_file(e->dir, "http.conf", text, conf, sizeof conf) < 0)
                        return -EIO;
        }

        e->broker = bench_private_bus(e->dir, e->address, sizeof e->address);
        if (e->broker < 0)
                return -EIO;
        e->bus = bench_connect(e->address);
        if (!e->bus)
                return -EIO;

        e->daemon = fork();
        if (e->daemon == 0) {
                (void) setenv("XFSM_COMPONENT_PATH", comp, 1);
                null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, STDERR_FILENO);
                execl(xfsmd, xfsmd, "--bus-address", e->address, "--manager", "--component", "order", "--component",
                      "payment", (char *) NULL);
                _exit(127);
        }
        if (!bench_wait_name(e->bus, "org.xfsm1.PaymentComponent") || !bench_wait_name(e->bus, "org.xfsm1"))
                return -EIO;

        e->port = http_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%u", e->port);
        e->http = fork();
        if (e->http == 0) {
                null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, STDERR_FILENO);
                execl(http, http, "--bus-address", e->address, "--listen", listen, "--config", conf,
                      "--anonymous-write", (char *) NULL);
                _exit(127);
        }
        return http_wait_ready(e->port) ? 0 : -EIO;
}

/* ---- flows ------------------------------------------------------------------------- */

typedef struct Worker {
        Env *env;
        unsigned count;
        bool over_bus;
        uint64_t *lat;             /* ns per flow */
        int error;
} Worker;

static int rest_flow(int fd, unsigned port) {
        char path[160];
        HttpAnswer a = {};
        const char *id, *q;
        int r;

        r = http_exchange(fd, port, "POST", "/api/components/OrderComponent/instances",
                          "Content-Type: application/json\r\n",
                          "{\"machineName\":\"Order\",\"context\":{\"orderId\":\"ORD-000001\",\"amount\":129.9,"
                          "\"customerId\":\"CUST-42\"}}",
                          strlen("{\"machineName\":\"Order\",\"context\":{\"orderId\":\"ORD-000001\",\"amount\":129.9,"
                                 "\"customerId\":\"CUST-42\"}}"),
                          &a);
        if (r < 0 || a.status != 200 || !(id = strstr(a.body, "\"instanceId\":\""))) {
                http_answer_done(&a);
                return r < 0 ? r : -EBADMSG;
        }
        id += strlen("\"instanceId\":\"");
        q = strchr(id, '"');
        snprintf(path, sizeof path, "/api/instances/%.*s/events", q ? (int) (q - id) : 0, id);
        http_answer_done(&a);

        {
                static const char body[] = "{\"type\":\"VALIDATE\",\"payload\":{\"validatedBy\":\"bench\",\"score\":0.97,"
                                           "\"channel\":\"web\"}}";

                r = http_exchange(fd, port, "POST", path, "Content-Type: application/json\r\n", body,
                                  sizeof body - 1, &a);
        }
        if (r >= 0 && (a.status != 200 || !strstr(a.body, "\"accepted\":true")))
                r = -EBADMSG;
        http_answer_done(&a);
        return r;
}

static int bus_flow(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path, *id;
        char *copy = NULL;
        int r;

        r = sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent", "org.xfsm1.Component",
                               "CreateInstance", &error, &reply, "ss", "Order", order_context);
        if (r >= 0)
                r = sd_bus_message_read(reply, "os", &path, &id);
        if (r >= 0)
                copy = strdup(id);
        sd_bus_message_unref(reply);
        reply = NULL;
        if (r < 0 || !copy) {
                sd_bus_error_free(&error);
                free(copy);
                return r < 0 ? r : -ENOMEM;
        }
        r = sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent", "org.xfsm1.Component",
                               "Send", &error, &reply, "sss", copy, "VALIDATE", validate_payload);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        free(copy);
        return r;
}

static void *worker_run(void *userdata) {
        Worker *w = userdata;
        sd_bus *bus = NULL;
        int fd = -1;

        if (w->over_bus) {
                bus = bench_connect(w->env->address);
                if (!bus) {
                        w->error = -EIO;
                        return NULL;
                }
        } else {
                fd = http_connect(w->env->port);
                if (fd < 0) {
                        w->error = fd;
                        return NULL;
                }
        }
        for (unsigned k = 0; k < w->count; k++) {
                uint64_t t0 = bench_now_ns();
                int r = w->over_bus ? bus_flow(bus) : rest_flow(fd, w->env->port);

                if (r < 0) {
                        w->error = r;
                        break;
                }
                w->lat[k] = bench_now_ns() - t0;
        }
        if (bus)
                sd_bus_flush_close_unref(bus);
        if (fd >= 0)
                close(fd);
        return NULL;
}

/* clients workers doing count flows each: flows/s, per-flow median and p99 */
static int flows(Env *env, unsigned clients, unsigned count, bool over_bus, BenchResult *ret) {
        Worker w[CLIENTS_MAX] = {};
        pthread_t t[CLIENTS_MAX];
        uint64_t *all, t0, elapsed;
        size_t n = 0;
        int r = 0;

        all = calloc((size_t) clients * count, sizeof *all);
        if (!all)
                return -ENOMEM;
        t0 = bench_now_ns();
        for (unsigned k = 0; k < clients; k++) {
                w[k] = (Worker) { .env = env, .count = count, .over_bus = over_bus, .lat = all + (size_t) k * count };
                pthread_create(&t[k], NULL, worker_run, &w[k]);
        }
        for (unsigned k = 0; k < clients; k++) {
                pthread_join(t[k], NULL);
                if (w[k].error < 0)
                        r = w[k].error;
        }
        elapsed = bench_now_ns() - t0;
        if (r >= 0) {
                n = (size_t) clients * count;
                qsort(all, n, sizeof *all, bench_cmp_u64);
                ret->median_ns = all[n / 2];
                ret->p99_ns = all[n * 99 / 100];
                ret->rate = (double) n * 1e9 / (double) elapsed;
        }
        free(all);
        return r;
}

/* ---- fan-out -------------------------------------------------------------------------- */

typedef struct Sub {
        int fd;
        unsigned want, got;
        uint64_t *at;              /* receive time of each creation */
} Sub;

static void *sub_run(void *userdata) {
        Sub *s = userdata;
        char *line;

        while (s->got < s->want && (line = http_stream_next(s->fd, 10000))) {
                if (strstr(line, "\"instance_created\"")) {
                        s->at[s->got] = bench_now_ns();
                        __atomic_store_n(&s->got, s->got + 1, __ATOMIC_RELEASE);
                }
                free(line);
        }
        return NULL;
}

static bool all_have(Sub *s, unsigned subs, unsigned n) {
        for (unsigned k = 0; k < subs; k++)
                if (__atomic_load_n(&s[k].got, __ATOMIC_ACQUIRE) < n)
                        return false;
        return true;
}

/* subs streams; first events creations one at a time, each once every
 * subscriber has the one before: the latency until the last subscriber has
 * it (median, p99); then events creations back to back (each call waited
 * for): deliveries/s (events x subs over the time until the last one) */
static int fanout(Env *env, unsigned subs, unsigned events, BenchResult *ret_latency, BenchResult *ret_rate) {
        Sub *s = calloc(subs, sizeof *s);
        pthread_t *t = calloc(subs, sizeof *t);
        uint64_t *lat = calloc(events, sizeof *lat), first = 0, last = 0;
        int r = 0;

        if (!s || !t || !lat) {
                r = -ENOMEM;
                goto finish;
        }
        for (unsigned k = 0; k < subs; k++) {
                HttpAnswer head = {};

                s[k].fd = http_stream_open(env->port, "/api/events?component=OrderComponent", NULL, &head);
                if (s[k].fd < 0 || head.status != 200) {
                        http_answer_done(&head);
                        r = -EIO;
                        subs = k + (s[k].fd >= 0);
                        goto finish;
                }
                http_answer_done(&head);
                s[k].want = 2 * events;
                s[k].at = calloc(2 * events, sizeof *s[k].at);
                if (!s[k].at) {
                        r = -ENOMEM;
                        subs = k + 1;
                        goto finish;
                }
        }
        for (unsigned k = 0; k < subs; k++)
                pthread_create(&t[k], NULL, sub_run, &s[k]);
        usleep(100000);

        /* paced */
        for (unsigned k = 0; k < events && r >= 0; k++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t t0 = bench_now_ns(), deadline = t0 + 10000000000ULL;

                r = sd_bus_call_method(env->bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "CreateInstance", &error, NULL, "ss", "Order",
                                       order_context);
                sd_bus_error_free(&error);
                while (r >= 0 && !all_have(s, subs, k + 1)) {
                        if (bench_now_ns() > deadline)
                                r = -ETIMEDOUT;
                        usleep(20);
                }
                if (r >= 0) {
                        uint64_t worst = 0;

                        for (unsigned i = 0; i < subs; i++)
                                worst = MAX(worst, s[i].at[k]);
                        lat[k] = worst - t0;
                }
        }
        if (r < 0)
                goto join;
        qsort(lat, events, sizeof *lat, bench_cmp_u64);
        ret_latency->median_ns = lat[events / 2];
        ret_latency->p99_ns = lat[events * 99 / 100];
        ret_latency->rate = 0;

        /* back to back */
        first = bench_now_ns();
        for (unsigned k = 0; k < events; k++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;

                r = sd_bus_call_method(env->bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "CreateInstance", &error, NULL, "ss", "Order",
                                       order_context);
                sd_bus_error_free(&error);
                if (r < 0)
                        break;
        }
join:
        for (unsigned k = 0; k < subs; k++)
                pthread_join(t[k], NULL);
        if (r < 0)
                goto finish;

        for (unsigned j = events; j < 2 * events; j++)
                for (unsigned k = 0; k < subs; k++) {
                        if (s[k].got <= j) {
                                r = -ETIMEDOUT;
                                goto finish;
                        }
                        last = MAX(last, s[k].at[j]);
                }
        ret_rate->rate = (double) events * subs * 1e9 / (double) (last - first);
        ret_rate->median_ns = ret_rate->p99_ns = 0;
finish:
        for (unsigned k = 0; s && k < subs; k++) {
                if (s[k].fd >= 0)
                        http_stream_close(s[k].fd);
                free(s[k].at);
        }
        free(s);
        free(t);
        free(lat);
        return r;
}

/* ---- the whole ---------------------------------------------------------------------------- */

static int cmp_result(const void *a, const void *b) {
        const BenchResult *x = a, *y = b;
        return (x->rate > y->rate) - (x->rate < y->rate);
}

static int cmp_latency(const void *a, const void *b) {
        const BenchResult *x = a, *y = b;
        return (x->median_ns > y->median_ns) - (x->median_ns < y->median_ns);
}

static BenchResult median_latency(BenchResult v[RUNS]) {
        qsort(v, RUNS, sizeof *v, cmp_latency);
        return v[RUNS / 2];
}

static BenchResult median(BenchResult v[RUNS]) {
        qsort(v, RUNS, sizeof *v, cmp_result);
        return v[RUNS / 2];
}

int bench_http(int argc, char **argv, bool json) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'n' },
                { "subscribers", required_argument, NULL, 's' },
                { "events", required_argument, NULL, 'e' },
                { "xfsmd", required_argument, NULL, 'x' },
                { "http", required_argument, NULL, 'H' },
                {},
        };
        char xbuf[PATH_MAX], hbuf[PATH_MAX];
        const char *xfsmd = bench_find_xfsmd(xbuf, sizeof xbuf), *http = find_http(hbuf, sizeof hbuf);
        unsigned count = 1000, subs = 100, events = 200;
        BenchResult rest1[RUNS], rest8[RUNS], bus1[RUNS], bus8[RUNS], fan[RUNS], fanlat[RUNS];
        BenchResult r1, r8, b1, b8, f, fl;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        count = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        subs = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'e':
                        events = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'x':
                        xfsmd = optarg;
                        break;
                case 'H':
                        http = optarg;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (count < 10 || subs < 1 || subs > 500 || events < 10) {
                fprintf(stderr, "xfsmctl: bench http takes --count 10 or more, --subscribers 1 to 500, --events 10 or more\n");
                return EXIT_USAGE;
        }
        signal(SIGPIPE, SIG_IGN);

        for (int run = 0; run < RUNS; run++) {
                Env env;

                r = env_start(&env, xfsmd, http, subs);
                if (r >= 0)
                        r = flows(&env, 1, count, false, &rest1[run]);
                if (r >= 0)
                        r = flows(&env, 1, count, true, &bus1[run]);
                if (r >= 0)
                        r = flows(&env, CLIENTS_MAX, count / CLIENTS_MAX, false, &rest8[run]);
                if (r >= 0)
                        r = flows(&env, CLIENTS_MAX, count / CLIENTS_MAX, true, &bus8[run]);
                env_stop(&env);
                if (r >= 0) {
                        r = env_start(&env, xfsmd, http, subs);
                        if (r >= 0)
                                r = fanout(&env, subs, events, &fanlat[run], &fan[run]);
                        env_stop(&env);
                }
                if (r < 0) {
                        fprintf(stderr, "xfsmctl: bench http failed: %s\n", strerror(-r));
                        return EXIT_REFUSED;
                }
        }
        r1 = median(rest1);
        r8 = median(rest8);
        b1 = median(bus1);
        b8 = median(bus8);
        f = median(fan);
        fl = median_latency(fanlat);

        if (json) {
                printf("{\"durability\":\"none\",\"runs\":%d,\"flows\":%u,"
                       "\"rest_1\":{\"flows_per_s\":%.0f,\"median_us\":%.1f,\"p99_us\":%.1f},"
                       "\"bus_1\":{\"flows_per_s\":%.0f,\"median_us\":%.1f,\"p99_us\":%.1f},"
                       "\"rest_8\":{\"flows_per_s\":%.0f,\"median_us\":%.1f,\"p99_us\":%.1f},"
                       "\"bus_8\":{\"flows_per_s\":%.0f,\"median_us\":%.1f,\"p99_us\":%.1f},"
                       "\"ratio_1\":%.3f,\"ratio_8\":%.3f,"
                       "\"fanout\":{\"subscribers\":%u,\"events\":%u,\"deliveries_per_s\":%.0f,"
                       "\"last_subscriber_median_us\":%.1f,\"last_subscriber_p99_us\":%.1f}}\n",
                       RUNS, count, r1.rate, r1.median_ns / 1e3, r1.p99_ns / 1e3, b1.rate, b1.median_ns / 1e3,
                       b1.p99_ns / 1e3, r8.rate, r8.median_ns / 1e3, r8.p99_ns / 1e3, b8.rate, b8.median_ns / 1e3,
                       b8.p99_ns / 1e3, r1.rate / b1.rate, r8.rate / b8.rate, subs, events, f.rate,
                       fl.median_ns / 1e3, fl.p99_ns / 1e3);
                return 0;
        }
        printf("xfsm-http: the demo Order flow (create + VALIDATE), durability none, median of %d runs\n", RUNS);
        printf("  %-34s %10.0f flows/s  median %8.1f us  p99 %8.1f us\n", "REST, 1 keep-alive client", r1.rate,
               r1.median_ns / 1e3, r1.p99_ns / 1e3);
        printf("  %-34s %10.0f flows/s  median %8.1f us  p99 %8.1f us\n", "D-Bus, 1 connection", b1.rate,
               b1.median_ns / 1e3, b1.p99_ns / 1e3);
        printf("  %-34s %10.3f\n", "ratio REST / D-Bus (1)", r1.rate / b1.rate);
        printf("  %-34s %10.0f flows/s  median %8.1f us  p99 %8.1f us\n", "REST, 8 keep-alive clients", r8.rate,
               r8.median_ns / 1e3, r8.p99_ns / 1e3);
        printf("  %-34s %10.0f flows/s  median %8.1f us  p99 %8.1f us\n", "D-Bus, 8 connections", b8.rate,
               b8.median_ns / 1e3, b8.p99_ns / 1e3);
        printf("  %-34s %10.3f\n", "ratio REST / D-Bus (8)", r8.rate / b8.rate);
        printf("event stream fan-out: %u subscribers, %u creations\n", subs, events);
        printf("  %-34s %10.0f deliveries/s\n", "back to back", f.rate);
        printf("  %-34s median %8.1f us  p99 %8.1f us\n", "one at a time: the last subscriber", fl.median_ns / 1e3,
               fl.p99_ns / 1e3);
        return 0;
}
