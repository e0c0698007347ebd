/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Running `exec` and `unit` actions (see work.h).
 *
 * exec: the command runs as a child process of its own process group, the
 * instance context as JSON on stdin (a sealed memfd: no pipe to keep fed),
 * stdout and stderr read through pipes on sd-event, killed when it runs over
 * its timeoutMs or prints more than WORK_STDOUT_MAX. Exit 0 with a JSON
 * object (or nothing) on stdout → EXEC_DONE with that object as the payload;
 * anything else → EXEC_FAILED {reason, status, signal, stderr}. It runs with
 * the daemon's own credentials: unsandboxed, which the daemon says at start.
 *
 * unit: StartUnit / StopUnit / RestartUnit of org.freedesktop.systemd1 with
 * mode "replace", asynchronously; the job's JobRemoved signal gives the
 * result: "done" → UNIT_DONE, anything else (or an error reply) →
 * UNIT_FAILED. Only units of the configured allow list (checked when the
 * component loads: names are literal in the file, never built from data). */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "bus-util.h"
#include "durable.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "work.h"

typedef enum WorkKind {
        WORK_EXEC,
        WORK_UNIT,
} WorkKind;

/* The module's state: the work in flight, the allowed units, the systemd
 * signal subscription and the deferred start. */
struct WorkSet {
        Manager *manager;
        Work **v;
        size_t n, cap;
        char **allow_units;       /* globs: the units unit actions may name */
        sd_bus_slot *job_removed; /* systemd's JobRemoved */
        sd_event_source *defer;   /* starts work outside of a step */
        bool exec_units;          /* exec actions run as xfsm-exec@.service units */
};

struct Work {
        Manager *manager;
        char *id;
        char *component;
        char *instance;
        WorkKind kind;
        char **argv;         /* exec */
        uint64_t timeout_ms; /* exec */
        char *verb, *unit;   /* unit */
        bool ready;          /* its record is durable */
        bool running;
        bool restored; /* from the journal: started before a restart */

        /* exec */
        pid_t pid;
        sd_event_source *child, *out, *err, *timer;
        char *obuf;
        size_t on;
        char ebuf[WORK_STDERR_TAIL];
        size_t en;       /* bytes in ebuf; the oldest dropped when full */
        bool timed_out, too_much, exited;
        siginfo_t status;

        /* unit */
        sd_bus_slot *slot;
        char *job;

        /* exec as an xfsm-exec@.service unit */
        char *stem;
        char *exec_unit, *exec_path; /* its name and object path */
        sd_bus_slot *changed, *query;
        bool requery;
};

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

static Work *work_free_one(Work *w) {
        if (!w)
                return NULL;

        if (w->pid > 0 && !w->exited)
                (void) kill(-w->pid, SIGKILL);

        sd_event_source_disable_unref(w->child);
        sd_event_source_disable_unref(w->out);
        sd_event_source_disable_unref(w->err);
        sd_event_source_disable_unref(w->timer);
        sd_bus_slot_unref(w->slot);
        sd_bus_slot_unref(w->changed);
        sd_bus_slot_unref(w->query);
        free(w->stem);
        free(w->exec_unit);
        free(w->exec_path);
        free(w->obuf);
        free(w->job);
        free(w->id);
        free(w->component);
        free(w->instance);
        strv_free(w->argv);
        free(w->verb);
        free(w->unit);
        return mfree(w);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Work *, work_free_one);

static void work_remove(Manager *m, Work *w) {
        assert(m);
        assert(w);

        for (size_t k = 0; k < m->work->n; k++)
                if (m->work->v[k] == w) {
                        memmove(m->work->v + k, m->work->v + k + 1, (m->work->n - k - 1) * sizeof *m->work->v);
                        m->work->n--;
                        break;
                }

        work_free_one(w);
}

static int work_push(Manager *m, Work *w) {
        assert(m);
        assert(w);

        if (m->work->n == m->work->cap) {
                size_t cap = m->work->cap ? m->work->cap * 2 : 16;
                Work **v = realloc(m->work->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                m->work->v = v;
                m->work->cap = cap;
        }

        m->work->v[m->work->n++] = w;
        return 0;
}

void work_set_allowed_units(Manager *m, char **globs) {
        strv_free(m->work->allow_units);
        m->work->allow_units = globs;
}

bool work_unit_allowed(Manager *m, const char *unit) {
        for (char **g = m->work->allow_units; g && *g; g++)
                if (fnmatch(*g, unit, 0) == 0)
                        return true;
        return false;
}

/* ---- outcomes ----------------------------------------------------------------- */

/* The outcome event to the instance; its step's record says the work is done
 * (or a record of its own does, when the event changes nothing). Frees w. */
static void work_finish(Manager *m, Work *w, const char *event, json_object *payload) {
        Host *h = manager_find_host(m, w->component);
        xfsm_instance *i = xfsm_engine_find(m->engine, w->instance);
        StepOrigin origin = { .work_done = w->id };
        const char *state = NULL;
        int r;

        log_info("%s %s: %s %s → %s %s", w->component, w->instance, w->kind == WORK_EXEC ? "exec" : "unit",
                 w->kind == WORK_EXEC ? w->argv[0] : w->unit, event,
                 json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN));
        if (h && i) {
                r = manager_send(m, i, event, json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN), &origin,
                                 &state);
                if (r < 0)
                        log_notice("%s %s: %s was not taken: %s", w->component, w->instance, event,
                                   xfsm_engine_last_error(m->engine));
        } else
                log_notice("%s %s: the instance is gone; %s dropped", w->component, w->instance, event);
        if (h && !origin.recorded)
                durable_work_done(m->durable, h, w->id);
        work_remove(m, w);
}

static json_object *failure(const char *reason, int status, const char *signal_name, const char *err, size_t n) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "status", json_object_new_int(status));
        if (signal_name)
                json_object_object_add(o, "signal", json_object_new_string(signal_name));
        json_object_object_add(o, "stderr", json_object_new_string_len(err ? err : "", (int) n));
        return o;
}

/* ---- exec, as a child process ----------------------------------------------------- */

/* How a command ended, from either way of running it: the outcome event.
 * exited: status is the exit status, else the signal. */
static void exec_outcome(Manager *m, Work *w, bool exited, int status_or_signal, const char *reason,
                         const char *out, size_t on, const char *err, size_t en) {
        _cleanup_(json_object_putp) json_object *payload = NULL, *f = NULL;
        const char *sig = NULL;
        int status = exited ? status_or_signal : -1;

        if (!exited)
                sig = sigabbrev_np(status_or_signal);
        if (!reason && !exited)
                reason = status_or_signal == SIGXFSZ ? "output-limit" : "signal";
        if (!reason && status != 0)
                reason = "exit-status";
        if (!reason) {
                size_t k = 0;
                while (k < on && strchr(" \t\r\n", out[k]))
                        k++;
                if (k == on)
                        payload = json_object_new_object(); /* printed nothing: no data, still done */
                else {
                        json_tokener *tok = json_tokener_new();
                        payload = tok ? json_tokener_parse_ex(tok, out, (int) on) : NULL;
                        if (payload && json_tokener_get_error(tok) != json_tokener_success) {
                                json_object_put(payload);
                                payload = NULL;
                        }
                        json_tokener_free(tok);
                        if (payload && !json_object_is_type(payload, json_type_object)) {
                                json_object_put(payload);
                                payload = NULL;
                        }
                        if (!payload)
                                reason = "not-json";
                }
        }

        if (reason) {
                f = failure(reason, status, sig, err, en);
                work_finish(m, w, "EXEC_FAILED", f);
        } else
                work_finish(m, w, "EXEC_DONE", payload);
}

static void exec_done(Manager *m, Work *w) {
        const char *reason = NULL;
        bool exited = w->status.si_code == CLD_EXITED;

        if (w->timed_out)
                reason = "timeout";
        else if (w->too_much)
                reason = "output-limit";
        else if (exited && w->status.si_status == 127 && w->on == 0 && strstr(w->ebuf, "xfsm: cannot run"))
                reason = "spawn";
        exec_outcome(m, w, exited, w->status.si_status, reason, w->obuf ? w->obuf : "", w->on, w->ebuf, w->en);
}

static void exec_maybe_done(Manager *m, Work *w) {
        if (w->exited && !w->out && !w->err)
                exec_done(m, w);
}

static void drain(Work *w, int fd, bool is_out) {
        char buf[16384];
        ssize_t n;

        while ((n = read(fd, buf, sizeof buf)) > 0) {
                if (is_out) {
                        if (w->on + (size_t) n > WORK_STDOUT_MAX) {
                                w->too_much = true;
                                if (w->pid > 0 && !w->exited)
                                        (void) kill(-w->pid, SIGKILL);
                                continue;
                        }
                        char *b = realloc(w->obuf, w->on + (size_t) n + 1);
                        if (!b)
                                continue;
                        w->obuf = b;
                        memcpy(w->obuf + w->on, buf, (size_t) n);
                        w->on += (size_t) n;
                        w->obuf[w->on] = '\0';
                } else {
                        /* keep the tail */
                        size_t take = (size_t) n, room = sizeof w->ebuf - 1;
                        const char *src = buf;
                        if (take > room) {
                                src += take - room;
                                take = room;
                        }
                        if (w->en + take > room) {
                                size_t drop = w->en + take - room;
                                memmove(w->ebuf, w->ebuf + drop, w->en - drop);
                                w->en -= drop;
                        }
                        memcpy(w->ebuf + w->en, src, take);
                        w->en += take;
                        w->ebuf[w->en] = '\0';
                }
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Work *w = userdata;
        bool is_out = s == w->out;

        drain(w, fd, is_out);
        if (revents & (EPOLLHUP | EPOLLERR)) {
                drain(w, fd, is_out);
                if (is_out)
                        w->out = sd_event_source_disable_unref(w->out);
                else
                        w->err = sd_event_source_disable_unref(w->err);
                exec_maybe_done(w->manager, w);
        }
        return 0;
}

static int on_exec_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Work *w = userdata;

        if (w->pid > 0 && !w->exited) {
                w->timed_out = true;
                (void) kill(-w->pid, SIGKILL);
        }
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Work *w = userdata;

        w->status = *si;
        w->exited = true;
        w->timer = sd_event_source_disable_unref(w->timer);
        /* the group too: nothing it left behind keeps running (or the pipes open) */
        (void) kill(-w->pid, SIGKILL);
        exec_maybe_done(w->manager, w);
        return 0;
}

static int context_fd(xfsm_instance *i) {
        _cleanup_(freep) char *ctx = i ? xfsm_instance_context_json(i) : NULL;
        size_t n = ctx ? strlen(ctx) : 2;
        _cleanup_(closep) int fd = memfd_create("xfsm-exec-context", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0)
                return -errno;

        if (write(fd, ctx ? ctx : "{}", n) != (ssize_t) n || lseek(fd, 0, SEEK_SET) < 0)
                return errno > 0 ? -errno : -EIO;

        (void) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        return TAKE_FD(fd);
}

static void close_pairp(int (*p)[2]) {
        closep(&(*p)[0]);
        closep(&(*p)[1]);
}

static int exec_start(Manager *m, Work *w) {
        _cleanup_(closep) int in = -1;
        _cleanup_(close_pairp) int out[2] = { -1, -1 }, err[2] = { -1, -1 };
        pid_t pid;
        int r;

        assert(m);
        assert(w);

        in = context_fd(xfsm_engine_find(m->engine, w->instance));
        if (in < 0)
                return in;

        if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* the child: its own process group (killed as one), stdio set, the rest closed by CLOEXEC */
                sigset_t all;
                (void) setpgid(0, 0);
                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                (void) signal(SIGPIPE, SIG_DFL);
                if (dup2(in, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
                        _exit(127);
                (void) fcntl(STDOUT_FILENO, F_SETFL, 0);
                (void) fcntl(STDERR_FILENO, F_SETFL, 0);
                setenv("XFSM_COMPONENT", w->component, 1);
                setenv("XFSM_INSTANCE", w->instance, 1);
                execvp(w->argv[0], w->argv);
                dprintf(STDERR_FILENO, "xfsm: cannot run %s: %s\n", w->argv[0], strerror(errno));
                _exit(127);
        }
        (void) setpgid(pid, pid); /* whichever of the two runs first */
        w->pid = pid;

        /* the child's ends */
        closep(&in);
        closep(&out[1]);
        closep(&err[1]);
        in = out[1] = err[1] = -1;

        w->manager = m;
        r = sd_event_add_child(m->event, &w->child, pid, WEXITED, on_child, w);
        if (r < 0)
                return r;

        r = sd_event_add_io(m->event, &w->out, out[0], EPOLLIN, on_output, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(w->out, true);
        out[0] = -1;

        r = sd_event_add_io(m->event, &w->err, err[0], EPOLLIN, on_output, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(w->err, true);
        err[0] = -1;

        return sd_event_add_time_relative(m->event, &w->timer, CLOCK_MONOTONIC, w->timeout_ms * 1000, 1000,
                                          on_exec_timeout, w);
}

/* ---- exec, as an xfsm-exec@.service unit --------------------------------------------
 *
 * Under systemd, on the system bus, a command runs as an instance of the
 * template xfsm-exec@.service (DynamicUser=yes, no network, a read-only file
 * system, a private /tmp; see the unit): its name carries the component's
 * stem, the instance and the work id. The worker writes the job (argv,
 * timeoutMs) and the context to WORK_EXEC_DIR/INSTANCE.in, which the unit
 * reads as its standard input, and finds its output in INSTANCE.out and
 * INSTANCE.err. RemainAfterExit=yes keeps the unit, with how it ended, until
 * the worker has read the outcome and collects it (StopUnit or
 * ResetFailedUnit): so a worker restarted while a command runs, or after it
 * ended, still finds its outcome. A template rather than a transient unit:
 * systemd before 257 asks polkit about StartTransientUnit without the unit's
 * name, so allowing it would let user xfsm run anything as root; a template
 * instance is one name a polkit rule can match. */

static char *exec_file(Work *w, const char *suffix) {
        char *p = NULL;
        const char *i = w->exec_unit + strlen("xfsm-exec@");
        size_t n = strlen(i) - strlen(".service");

        if (asprintf(&p, WORK_EXEC_DIR "/%.*s.%s", (int) n, i, suffix) < 0)
                return NULL;
        return p;
}

static void exec_unit_cleanup(Manager *m, Work *w, const char *active_state) {
        const char *sfx[] = { "in", "out", "err" };

        for (size_t k = 0; k < ELEMENTSOF(sfx); k++) {
                _cleanup_(freep) char *f = exec_file(w, sfx[k]);

                if (f)
                        (void) unlink(f);
        }

        /* collect the unit: it stays (RemainAfterExit) until then */
        if (active_state && streq(active_state, "failed"))
                (void) sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                "org.freedesktop.systemd1.Manager", "ResetFailedUnit", NULL, NULL, "s",
                                                w->exec_unit);
        else if (active_state && !streq(active_state, "inactive"))
                (void) sd_bus_call_method_async(m->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                                "org.freedesktop.systemd1.Manager", "StopUnit", NULL, NULL, "ss",
                                                w->exec_unit, "replace");
}

static char *read_file(const char *path, size_t max, size_t *ret_n, bool tail, bool *ret_over) {
        _cleanup_(fclosep) FILE *f = NULL;
        char *b;
        long size;
        size_t n;

        assert(path);
        assert(ret_n);

        f = fopen(path, "re");
        *ret_n = 0;
        if (ret_over)
                *ret_over = false;
        if (!f)
                return NULL;

        if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0)
                return NULL;
        if ((size_t) size > max) {
                if (ret_over)
                        *ret_over = true;
                if (!tail)
                        return NULL;
                (void) fseek(f, size - (long) max, SEEK_SET);
                size = (long) max;
        } else
                rewind(f);

        b = malloc((size_t) size + 1);
        if (!b)
                return NULL;
        n = fread(b, 1, (size_t) size, f);
        b[n] = '\0';

        *ret_n = n;
        return b;
}

typedef struct UnitEnd {
        char active[32], sub[32], result[64];
        int32_t code, status;
} UnitEnd;

static int unit_prop(sd_bus_message *m, const char *key, void *userdata) {
        UnitEnd *e = userdata;
        char *dst = NULL;
        size_t size = 0;
        const char *v;
        int r;

        if (streq(key, "ExecMainCode") || streq(key, "ExecMainStatus")) {
                r = sd_bus_message_read(m, "v", "i", streq(key, "ExecMainCode") ? &e->code : &e->status);
                return r < 0 ? r : 1;
        }
        if (streq(key, "ActiveState"))
                dst = e->active, size = sizeof e->active;
        else if (streq(key, "SubState"))
                dst = e->sub, size = sizeof e->sub;
        else if (streq(key, "Result"))
                dst = e->result, size = sizeof e->result;
        else
                return 0;
        r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        snprintf(dst, size, "%s", v);
        return 1;
}

static int read_props(sd_bus_message *reply, UnitEnd *e) {
        return bus_read_dict(reply, unit_prop, e);
}

static void exec_unit_query(Manager *m, Work *w);

/* The unit's state and how its main process ended: done? Then the outcome. */
static int on_exec_unit_props(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Work *w = userdata;
        Manager *m = w->manager;
        _cleanup_(json_object_putp) json_object *f = NULL;
        _cleanup_(freep) char *out_path = NULL, *err_path = NULL, *out = NULL, *err = NULL;
        UnitEnd e = {};

        w->query = sd_bus_slot_unref(w->query);
        if (sd_bus_message_is_method_error(reply, NULL) || read_props(reply, &e) < 0) {
                const sd_bus_error *error = sd_bus_message_get_error(reply);

                log_warning("%s %s: cannot read the state of %s: %s", w->component, w->instance, w->exec_unit,
                            error ? error->message : "bad reply");
                f = failure(w->restored ? "interrupted" : "spawn", -1, NULL, "", 0);
                exec_unit_cleanup(m, w, NULL);
                work_finish(m, w, "EXEC_FAILED", f);
                return 0;
        }

        bool ended = streq(e.active, "failed") || (streq(e.active, "active") && streq(e.sub, "exited")) ||
                     (streq(e.active, "inactive") && e.code != 0);
        if (!ended) {
                if (streq(e.active, "inactive") && w->restored) {
                        /* never ran, or collected before the restart: its outcome is not known */
                        f = failure("interrupted", -1, NULL, "", 0);
                        exec_unit_cleanup(m, w, NULL);
                        work_finish(m, w, "EXEC_FAILED", f);
                } else if (w->requery) {
                        w->requery = false;
                        exec_unit_query(m, w);
                }
                return 0; /* still running (or starting): PropertiesChanged comes */
        }

        size_t on = 0, en = 0;
        bool over = false;
        const char *reason = NULL;
        bool exited = e.code == CLD_EXITED;

        out_path = exec_file(w, "out");
        err_path = exec_file(w, "err");
        out = out_path ? read_file(out_path, WORK_STDOUT_MAX, &on, false, &over) : NULL;
        err = err_path ? read_file(err_path, WORK_STDERR_TAIL - 1, &en, true, NULL) : NULL;

        if (over)
                reason = "output-limit";
        else if (!out && e.code == CLD_EXITED && e.status == 0)
                reason = "output-lost"; /* ran, but what it printed cannot be read */
        else if (streq(e.result, "timeout"))
                reason = "timeout";
        else if (exited && e.status == 124 && err && strstr(err, "xfsm-exec: timed out after"))
                reason = "timeout";
        else if (exited && e.status == 125 && err && strstr(err, "xfsm-exec: "))
                reason = "spawn";
        else if (e.code == 0)
                reason = "spawn"; /* it did not run: Result says why */
        if (e.code == 0 && err == NULL) {
                err = strdup(e.result);
                en = err ? strlen(err) : 0;
        }

        exec_unit_cleanup(m, w, e.active);
        exec_outcome(m, w, exited || e.code == 0, e.code == 0 ? -1 : e.status, reason, out ? out : "", on,
                     err ? err : "", en);
        return 0;
}

static void exec_unit_query(Manager *m, Work *w) {
        if (w->query) {
                w->requery = true;
                return;
        }

        /* all interfaces: ActiveState and SubState of Unit, ExecMain* and Result of Service */
        if (sd_bus_call_method_async(m->bus, &w->query, "org.freedesktop.systemd1", w->exec_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_exec_unit_props, w, "s", "") < 0)
                log_warning("%s %s: cannot ask systemd about %s", w->component, w->instance, w->exec_unit);
}

static int on_exec_unit_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Work *w = userdata;
        UnitEnd e = {};
        const char *iface;

        /* only a change of the unit's state can end it: ask then, not on every other change */
        if (sd_bus_message_read(msg, "s", &iface) < 0 || !streq(iface, "org.freedesktop.systemd1.Unit") ||
            read_props(msg, &e) < 0 || !e.active[0])
                return 0;
        if (streq(e.active, "active") && !streq(e.sub, "exited") && e.sub[0])
                return 0; /* running */
        if (streq(e.active, "activating") || streq(e.active, "reloading"))
                return 0;
        exec_unit_query(w->manager, w);
        return 0;
}

static int on_exec_unit_started(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Work *w = userdata;
        Manager *m = w->manager;

        w->slot = sd_bus_slot_unref(w->slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                const char *msg = e->message ? e->message : e->name;
                _cleanup_(json_object_putp) json_object *f = failure("spawn", -1, NULL, msg, strlen(msg));

                log_warning("%s %s: systemd refused %s: %s", w->component, w->instance, w->exec_unit, msg);
                exec_unit_cleanup(m, w, NULL);
                work_finish(m, w, "EXEC_FAILED", f);
                return 0;
        }

        exec_unit_query(m, w); /* it may be over already */
        return 0;
}

static int exec_unit_names(Work *w) {
        if (!w->stem)
                return -EINVAL;

        if (asprintf(&w->exec_unit, "xfsm-exec@%s-%s-%s.service", w->stem, w->instance, w->id) < 0) {
                w->exec_unit = NULL;
                return -ENOMEM;
        }
        return sd_bus_path_encode("/org/freedesktop/systemd1/unit", w->exec_unit, &w->exec_path);
}

static int exec_unit_watch(Manager *m, Work *w) {
        return sd_bus_match_signal_async(m->bus, &w->changed, "org.freedesktop.systemd1", w->exec_path,
                                         "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                         on_exec_unit_changed, NULL, w);
}

static int exec_unit_start(Manager *m, Work *w) {
        _cleanup_(freep) char *in_path = NULL, *ctx = NULL;
        _cleanup_(json_object_putp) json_object *job = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        json_object *args;
        xfsm_instance *i;
        int r;

        assert(m);
        assert(w);

        r = exec_unit_names(w);
        if (r < 0)
                return r;

        in_path = exec_file(w, "in");
        if (!in_path)
                return -ENOMEM;
        f = fopen(in_path, "we");
        if (!f)
                return -errno;

        job = json_object_new_object();
        args = json_object_new_array();
        for (char **a = w->argv; *a; a++)
                json_object_array_add(args, json_object_new_string(*a));
        json_object_object_add(job, "argv", args);
        json_object_object_add(job, "timeoutMs", json_object_new_int64((int64_t) w->timeout_ms));
        fputs(json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
        fputc('\n', f);

        i = xfsm_engine_find(m->engine, w->instance);
        ctx = i ? xfsm_instance_context_json(i) : NULL;
        fputs(ctx ? ctx : "{}", f);
        if (fclose(TAKE_PTR(f)) != 0)
                return -EIO;

        r = exec_unit_watch(m, w);
        if (r >= 0)
                r = sd_bus_call_method_async(m->bus, &w->slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                             "org.freedesktop.systemd1.Manager", "StartUnit", on_exec_unit_started, w,
                                             "ss", w->exec_unit, "fail");
        if (r < 0)
                exec_unit_cleanup(m, w, NULL); /* the input written for a unit that never started */
        return r;
}

/* ---- unit jobs ------------------------------------------------------------------ */

static int on_unit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Work *w = userdata;
        Manager *m = w->manager;
        const char *job;

        w->slot = sd_bus_slot_unref(w->slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();

                json_object_object_add(o, "unit", json_object_new_string(w->unit));
                json_object_object_add(o, "verb", json_object_new_string(w->verb));
                json_object_object_add(o, "reason", json_object_new_string(e->name));
                json_object_object_add(o, "message", json_object_new_string(e->message ?: ""));
                work_finish(m, w, "UNIT_FAILED", o);
                return 0;
        }

        if (sd_bus_message_read(reply, "o", &job) < 0 || !(w->job = strdup(job)))
                log_warning("%s %s: no job for %s %s", w->component, w->instance, w->verb, w->unit);
        return 0;
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result) < 0)
                return 0;

        for (size_t k = 0; k < m->work->n; k++) {
                Work *w = m->work->v[k];

                if (w->kind != WORK_UNIT || !w->job || !streq(w->job, job))
                        continue;

                _cleanup_(json_object_putp) json_object *o = json_object_new_object();

                json_object_object_add(o, "unit", json_object_new_string(w->unit));
                json_object_object_add(o, "verb", json_object_new_string(w->verb));
                json_object_object_add(o, "result", json_object_new_string(result));
                work_finish(m, w, streq(result, "done") ? "UNIT_DONE" : "UNIT_FAILED", o);
                break;
        }
        return 0;
}

static int unit_start(Manager *m, Work *w) {
        const char *method = streq(w->verb, "start") ? "StartUnit" : streq(w->verb, "stop") ? "StopUnit" : "RestartUnit";

        w->manager = m;
        if (!m->bus || m->peer)
                return -ENOTCONN;

        return sd_bus_call_method_async(m->bus, &w->slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                        "org.freedesktop.systemd1.Manager", method, on_unit_reply, w, "ss", w->unit,
                                        "replace");
}

/* ---- the list ------------------------------------------------------------------- */

static void work_start(Manager *m, Work *w) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        w->running = true;
        r = w->kind == WORK_UNIT ? unit_start(m, w) : m->work->exec_units ? exec_unit_start(m, w) : exec_start(m, w);
        if (r >= 0)
                return;

        o = w->kind == WORK_EXEC ? failure("spawn", -1, NULL, strerror(-r), strlen(strerror(-r)))
                                 : json_object_new_object();
        if (w->kind == WORK_UNIT) {
                json_object_object_add(o, "unit", json_object_new_string(w->unit));
                json_object_object_add(o, "verb", json_object_new_string(w->verb));
                json_object_object_add(o, "reason", json_object_new_string(strerror(-r)));
        }
        log_warning("%s %s: cannot start %s: %s", w->component, w->instance,
                    w->kind == WORK_EXEC ? w->argv[0] : w->unit, strerror(-r));
        work_finish(m, w, w->kind == WORK_EXEC ? "EXEC_FAILED" : "UNIT_FAILED", o);
}

int work_add(Manager *m, Host *h, const char *id, const xfsm_effect *f) {
        _cleanup_(work_free_onep) Work *w = NULL;
        int r;

        assert(m);
        assert(h);
        assert(id);
        assert(f);

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;

        w->id = strdup(id);
        w->component = strdup(h->name);
        w->stem = h->stem ? strdup(h->stem) : NULL;
        w->instance = strdup(xfsm_effect_instance_id(f));
        if (!w->id || !w->component || !w->instance || (h->stem && !w->stem))
                return -ENOMEM;

        if (xfsm_effect_get_kind(f) == XFSM_EFFECT_EXEC) {
                const char *const *argv = xfsm_effect_exec_argv(f);
                size_t n = 0;

                w->kind = WORK_EXEC;
                w->timeout_ms = xfsm_effect_exec_timeout(f);
                while (argv && argv[n])
                        n++;
                if (n == 0)
                        return -EINVAL; /* the loader refuses an empty command: nothing to run */
                w->argv = calloc(n + 1, sizeof *w->argv);
                if (!w->argv)
                        return -ENOMEM;
                for (size_t k = 0; k < n; k++)
                        if (!(w->argv[k] = strdup(argv[k])))
                                return -ENOMEM;
        } else {
                w->kind = WORK_UNIT;
                w->verb = strdup(xfsm_effect_unit_verb(f));
                w->unit = strdup(xfsm_effect_unit_name(f));
                if (!w->verb || !w->unit)
                        return -ENOMEM;
        }

        w->manager = m;
        r = work_push(m, w);
        if (r < 0)
                return r;

        TAKE_PTR(w);
        return 0;
}

static int on_work_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        /* starting one may finish it at once (and shift the list) */
        for (size_t k = 0; k < m->work->n;) {
                Work *w = m->work->v[k];

                if (!w->ready || w->running || w->restored) {
                        k++;
                        continue;
                }

                size_t before = m->work->n;
                work_start(m, w);
                if (m->work->n == before)
                        k++;
        }
        return 0;
}

void work_durable(Manager *m) {
        bool any = false;

        for (size_t k = 0; k < m->work->n; k++)
                if (!m->work->v[k]->restored && !m->work->v[k]->ready) {
                        m->work->v[k]->ready = true;
                        any = true;
                }
        if (!any)
                return;

        /* not from inside a step: an outcome may be an event at once */
        if (!m->work->defer) {
                if (sd_event_add_defer(m->event, &m->work->defer, on_work_defer, m) < 0)
                        return;
                (void) sd_event_source_set_description(m->work->defer, "work-start");
        }
        (void) sd_event_source_set_enabled(m->work->defer, SD_EVENT_ONESHOT);
}

static int work_restore(Manager *m, Host *h, const char *id, const char *instance, const char *kind, const char *what) {
        _cleanup_(work_free_onep) Work *w = NULL;

        for (size_t k = 0; k < m->work->n; k++)
                if (streq(m->work->v[k]->id, id) && streq(m->work->v[k]->component, h->name))
                        return 0; /* the snapshot and a record both say so */

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->restored = true;
        w->manager = m;
        w->kind = streq(kind, "unit") ? WORK_UNIT : WORK_EXEC;
        w->id = strdup(id);
        w->component = strdup(h->name);
        w->stem = h->stem ? strdup(h->stem) : NULL;
        w->instance = strdup(instance);
        if (w->kind == WORK_UNIT) {
                const char *sp = strchr(what, ' ');
                w->verb = sp ? strndup(what, (size_t) (sp - what)) : strdup("start");
                w->unit = strdup(sp ? sp + 1 : what);
        } else {
                w->argv = calloc(2, sizeof *w->argv);
                if (w->argv)
                        w->argv[0] = strdup(what);
        }
        if (!w->id || !w->component || !w->instance || (w->kind == WORK_UNIT ? !w->verb || !w->unit : !w->argv || !w->argv[0]) ||
            work_push(m, w) < 0)
                return -ENOMEM;

        TAKE_PTR(w);
        return 0;
}

int work_read(Manager *m, Host *h, json_object *list) {
        if (!json_object_is_type(list, json_type_array))
                return -EBADMSG;
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                json_object *e = json_object_array_get_idx(list, k);
                const char *id = json_get_string(e, "id"), *instance = json_get_string(e, "instance"),
                           *kind = json_get_string(e, "kind"), *what = json_get_string(e, "what");
                int r;

                if (!id || !instance || !kind || !what)
                        return -EBADMSG;
                r = work_restore(m, h, id, instance, kind, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

int work_read_done(Manager *m, json_object *v) {
        const char *id;

        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        id = json_object_get_string(v);
        for (size_t k = 0; k < m->work->n; k++)
                if (streq(m->work->v[k]->id, id)) {
                        work_remove(m, m->work->v[k]);
                        break;
                }
        return 0;
}

void work_recovered(Manager *m) {
        /* first the units to find again (asynchronous: none finishes here) */
        for (size_t k = 0; m->work->exec_units && k < m->work->n; k++)
                if (m->work->v[k]->restored && m->work->v[k]->kind == WORK_EXEC && !m->work->v[k]->exec_unit &&
                    exec_unit_names(m->work->v[k]) >= 0 && exec_unit_watch(m, m->work->v[k]) >= 0) {
                        log_info("%s %s: re-attaching to %s", m->work->v[k]->component, m->work->v[k]->instance,
                                 m->work->v[k]->exec_unit);
                        exec_unit_query(m, m->work->v[k]);
                }
        for (size_t k = 0; k < m->work->n;) {
                Work *w = m->work->v[k];
                if (!w->restored) {
                        k++;
                        continue;
                }
                if (w->kind == WORK_EXEC && m->work->exec_units) {
                        /* stays restored: a unit found inactive is then interrupted; asked below */
                        w->running = true;
                        k++;
                        continue;
                }
                /* it may have run, or not, or be half done: say so, do not run it again */
                _cleanup_(json_object_putp) json_object *o =
                        w->kind == WORK_EXEC ? failure("interrupted", -1, NULL, "", 0) : json_object_new_object();

                if (w->kind == WORK_UNIT) {
                        json_object_object_add(o, "unit", json_object_new_string(w->unit));
                        json_object_object_add(o, "verb", json_object_new_string(w->verb));
                        json_object_object_add(o, "reason", json_object_new_string("interrupted"));
                }
                log_warning("%s %s: the outcome of %s %s was lost with a restart: reporting it as interrupted",
                            w->component, w->instance, w->kind == WORK_EXEC ? "exec" : "unit",
                            w->kind == WORK_EXEC ? w->argv[0] : w->unit);
                work_finish(m, w, w->kind == WORK_EXEC ? "EXEC_FAILED" : "UNIT_FAILED", o);
        }
}

static void write_entry(FILE *f, const char *id, const char *instance, bool exec, const char *what_a,
                        const char *what_b) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(freep) char *what = NULL;

        if (!exec && asprintf(&what, "%s %s", what_a, what_b) < 0)
                what = NULL;
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "instance", json_object_new_string(instance));
        json_object_object_add(o, "kind", json_object_new_string(exec ? "exec" : "unit"));
        json_object_object_add(o, "what", json_object_new_string(exec ? what_a : what ? what : ""));
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
}

void work_write(Manager *m, Host *h, FILE *f) {
        bool first = true;

        for (size_t k = 0; k < m->work->n; k++) {
                Work *w = m->work->v[k];

                if (!streq(w->component, h->name))
                        continue;
                fputs(first ? "" : ",", f);
                write_entry(f, w->id, w->instance, w->kind == WORK_EXEC, w->kind == WORK_EXEC ? w->argv[0] : w->verb,
                            w->unit);
                first = false;
        }
}

void work_write_effect(FILE *f, const char *id, const xfsm_effect *e) {
        bool exec = xfsm_effect_get_kind(e) == XFSM_EFFECT_EXEC;

        write_entry(f, id, xfsm_effect_instance_id(e), exec,
                    exec ? xfsm_effect_exec_argv(e)[0] : xfsm_effect_unit_verb(e), xfsm_effect_unit_name(e));
}

bool work_busy(Manager *m) {
        return m->work->n > 0;
}

int work_setup(Manager *m) {
        bool has_exec = false, has_unit = false;

        for (size_t k = 0; k < m->n_hosts; k++) {
                has_exec = has_exec || xfsm_component_has_action(m->engine, m->hosts[k].name, "exec");
                has_unit = has_unit || xfsm_component_has_action(m->engine, m->hosts[k].name, "unit");
        }
        m->work->exec_units = m->system_bus && !m->peer && sd_booted() > 0 && access(WORK_EXEC_DIR, W_OK) == 0;
        if (has_exec && m->work->exec_units)
                log_info("exec actions run as xfsm-exec@.service units (DynamicUser, no network, read-only "
                         "file system)");
        else if (has_exec)
                log_notice("exec actions run as plain child processes of this daemon, unsandboxed "
                           "(same events and limits; no DynamicUser, network or file system isolation)%s",
                           m->system_bus ? ": no systemd here, or no " WORK_EXEC_DIR : "");
        if (!has_unit || !m->bus || m->peer)
                return 0;
        return sd_bus_match_signal_async(m->bus, &m->work->job_removed, "org.freedesktop.systemd1",
                                         "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
                                         on_job_removed, NULL, m);
}

int work_new(WorkSet **ret, Manager *m) {
        WorkSet *ws;

        assert(ret);
        ws = calloc(1, sizeof *ws);
        if (!ws)
                return -ENOMEM;

        ws->manager = m;
        *ret = ws;
        return 0;
}

WorkSet *work_free(WorkSet *ws) {
        if (!ws)
                return NULL;

        while (ws->n > 0)
                work_free_one(ws->v[--ws->n]);
        free(ws->v);
        sd_bus_slot_unref(ws->job_removed);
        sd_event_source_disable_unref(ws->defer);
        strv_free(ws->allow_units);
        return mfree(ws);
}
