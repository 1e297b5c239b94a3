/* stop, kill, list, status, logs: commands that look at running containers through
 * their state directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/exec.h"
#include "diyctl/state.h"
#include "diyctl/util.h"
#include "steps/steps.h"

static const char *state_word(const struct dc_state *st)
{
        if (st->running)
                return st->stopping ? "stopping" : st->has_status ? "running" : "starting";
        if (st->exited)
                return "exited"; /* a detached container's record: its log and exit code */
        return "dead"; /* launcher gone, leftovers: diyctl cleanup */
}

/* Wait until pidfd's process ends, at most ms (-1: forever). true if it ended. */
static bool wait_exit(int pidfd, int ms)
{
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        for (;;) {
                int r = poll(&p, 1, ms);
                if (r < 0 && errno == EINTR)
                        continue;
                return r > 0;
        }
}

/* Is ST the run whose id is RUN? (No id: a status of an older diyctl.) */
static bool same_run(const struct dc_state *st, const char *run)
{
        return run && dc_streq(dc_kvs_get(&st->kv, "run"), run);
}

int dc_cmd_stop(int argc, char **argv)
{
        static const char *const valued[] = { "-t", "--timeout", NULL };
        argc = dc_options_first(argc, argv, valued);
        int timeout = 10;
        bool timeout_given = false;
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--timeout") == 0) && i + 1 < argc) {
                        char *end;
                        long v = strtol(argv[++i], &end, 10);
                        if (*end || v < 0) {
                                dc_usage_error("stop", "-t takes whole seconds, not %s", argv[i]);
                                return 2;
                        }
                        timeout = v > INT_MAX / 1000 ? INT_MAX / 1000 : (int)v; /* (ms in an int) */
                        timeout_given = true;
                } else {
                        dc_usage_error("stop", "unknown option %s", argv[i]);
                        return 2;
                }
        }
        if (i >= argc) {
                dc_usage_error("stop", "name a container");
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        int bad = 0;
        for (; i < argc; i++) {
                struct dc_state st;
                struct dc_error err = { 0 };
                if (dc_state_read(root, argv[i], &st, &err) < 0) {
                        dc_print_error(&err);
                        bad = 1;
                        continue;
                }
                /* Still starting (no status yet): wait until it runs, then stop
                 * it, as docker stop waits for a create. If the start fails
                 * meanwhile, its launcher removes it: nothing is left to stop.
                 * Ended on its own, its launcher tearing it down (stopping):
                 * wait for its record, which the teardown below removes.
                 * The run asked for is the one there now (its id, once it has a
                 * status): when another start took the name meanwhile, that
                 * one is not ours to stop. */
                bool gone = false;
                const char *r0 = dc_kvs_get(&st.kv, "run");
                _cleanup_free_ char *run = r0 ? dc_xstrdup(r0) : NULL;
                for (int ms = 0; st.running && (st.stopping || st.launcher_pid <= 0) && ms < 600 * 1000; ms += 10) {
                        struct timespec ts = { 0, 10 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        dc_state_free(&st);
                        if (dc_state_read(root, argv[i], &st, &err) < 0 || (run && !same_run(&st, run))) {
                                gone = true;
                                break;
                        }
                }
                if (gone) {
                        dc_state_free(&st);
                        continue;
                }
                if (!st.running) {
                        /* the launcher is gone: what it left is torn down here */
                        if (dc_teardown(st.dir, &err) < 0) {
                                dc_print_error(&err);
                                bad = 1;
                        }
                        dc_state_free(&st);
                        continue;
                }
                int pidfd = st.launcher_pid > 0 ? (int)syscall(SYS_pidfd_open, st.launcher_pid, 0) : -1;
                if (pidfd < 0) {
                        fprintf(stderr, "diyctl: %s is still %s; try again\n", st.name,
                                st.stopping ? "being torn down" : "starting");
                        bad = 1;
                        dc_state_free(&st);
                        continue;
                }
                /* The launcher forwards SIGTERM to the container; a second one
                 * makes it SIGKILL the container. It tears down, then exits.
                 * The second is SIGINT: with -t 0 both can be pending at once,
                 * and a second SIGTERM would merge with the first. */
                if (dc_fault_is("stop:slow"))
                        sleep(1); /* tests: the container ends on its own before the signal */
                /* through the pidfd: the launcher may be gone and its pid reused */
                /* With -t, the time goes along, so that the launcher waits as
                 * long before its SIGKILL (else its DIYCTL_STOP_TIMEOUT). */
                siginfo_t info = { .si_signo = SIGTERM, .si_code = SI_QUEUE };
                info.si_pid = getpid();
                info.si_uid = getuid();
                info.si_value.sival_int = timeout;
                syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, timeout_given ? &info : NULL, 0);
                /* without -t: as long as the launcher's own grace time (its
                 * DIYCTL_STOP_TIMEOUT, in its status), then our SIGINT */
                int wait_s = timeout;
                long long grace;
                if (!timeout_given && dc_kvs_get_ll(&st.kv, "stop_timeout", &grace) == 0 && grace > timeout)
                        wait_s = grace > INT_MAX / 1000 - 1 ? INT_MAX / 1000 - 1 : (int)grace + 1;
                if (!wait_exit(pidfd, wait_s * 1000)) {
                        syscall(SYS_pidfd_send_signal, pidfd, SIGINT, NULL, 0);
                        if (!wait_exit(pidfd, 30000)) {
                                fprintf(stderr, "diyctl: %s: the launcher (pid %d) does not exit\n", st.name,
                                        (int)st.launcher_pid);
                                bad = 1;
                        }
                }
                close(pidfd);
                /* The container may have ended on its own before our signal
                 * came: then its launcher left its record, which stop removes. */
                struct dc_state after;
                if (dc_state_read(root, argv[i], &after, &err) == 0) {
                        if (after.exited && same_run(&after, dc_kvs_get(&st.kv, "run")) &&
                            dc_teardown(after.dir, &err) < 0) {
                                dc_print_error(&err);
                                bad = 1;
                        }
                        dc_state_free(&after);
                }
                dc_state_free(&st);
        }
        return bad;
}

/* The container's addresses (NAT lease or bridge address), "" when none. */
static void addresses(const struct dc_state *st, char *buf, size_t n)
{
        const char *a4 = dc_kvs_get(&st->kv, "var.net.ipv4.address");
        const char *a6 = dc_kvs_get(&st->kv, "var.net.ipv6.address");
        snprintf(buf, n, "%s%s%s", a4 ? a4 : "", a4 && a6 ? "," : "", a6 ? a6 : "");
}

static long long uptime(const struct dc_state *st)
{
        return st->started && st->running && !st->stopping ? (long long)time(NULL) - st->started : 0;
}

/* Memory and tasks in ST's cgroups now; -1 each without them. */
static void usage(const struct dc_state *st, long long *mem, long long *pids)
{
        struct dc_strv dirs = { 0 };
        for (size_t k = 0; k < st->kv.n; k++)
                if (strcmp(st->kv.v[k].key, "cgroup") == 0)
                        dc_strv_push(&dirs, st->kv.v[k].val);
        dc_cgroup_usage(&dirs, mem, pids);
        dc_strv_free(&dirs);
}

static void print_state_json(const struct dc_state *st, bool full)
{
        fputs("{\"name\":", stdout);
        dc_json_str(stdout, st->name);
        fprintf(stdout, ",\"state\":\"%s\",\"pid\":%d,\"launcher_pid\":%d,\"started\":%lld,\"uptime\":%lld,\"detached\":%s",
                state_word(st), (int)st->pid, (int)st->launcher_pid, st->started, uptime(st),
                st->detached ? "true" : "false");
        if (st->exited || st->stopping)
                fprintf(stdout, ",\"exit_code\":%d,\"ended\":%lld", st->exit_code, st->ended);
        else
                fputs(",\"exit_code\":null,\"ended\":0", stdout);
        fputs(",\"config\":", stdout);
        dc_json_str(stdout, dc_kvs_get(&st->kv, "config"));
        fputs(",\"state_dir\":", stdout);
        dc_json_str(stdout, st->dir);
        fputs(",\"addresses\":[", stdout);
        for (int f = 0, n = 0; f < 2; f++) {
                const char *a = dc_kvs_get(&st->kv, f ? "var.net.ipv6.address" : "var.net.ipv4.address");
                if (a) {
                        fputs(n++ ? "," : "", stdout);
                        dc_json_str(stdout, a);
                }
        }
        fputs("]", stdout);
        if (full) {
                long long mem, pids;
                usage(st, &mem, &pids);
                fputs(",\"memory_bytes\":", stdout);
                mem >= 0 ? fprintf(stdout, "%lld", mem) : fputs("null", stdout);
                fputs(",\"pids_current\":", stdout);
                pids >= 0 ? fprintf(stdout, "%lld", pids) : fputs("null", stdout);
                fprintf(stdout, ",\"oom_killed\":%s",
                        dc_streq(dc_kvs_get(&st->kv, "oom_killed"), "1") ? "true" : "false");
                fputs(",\"namespaces\":", stdout);
                dc_json_str(stdout, dc_kvs_get(&st->kv, "namespaces"));
                fputs(",\"args\":[", stdout);
                int n = 0;
                for (size_t k = 0; k < st->kv.n; k++)
                        if (strcmp(st->kv.v[k].key, "arg") == 0) {
                                fputs(n++ ? "," : "", stdout);
                                dc_json_str(stdout, st->kv.v[k].val);
                        }
                fputs("]", stdout);
                /* doc/json.md: the container's cgroups, and run-time values
                 * host steps resolved (var.KEY in the status file) */
                fputs(",\"cgroups\":[", stdout);
                n = 0;
                for (size_t k = 0; k < st->kv.n; k++)
                        if (strcmp(st->kv.v[k].key, "cgroup") == 0) {
                                fputs(n++ ? "," : "", stdout);
                                dc_json_str(stdout, st->kv.v[k].val);
                        }
                fputs("],\"vars\":{", stdout);
                n = 0;
                for (size_t k = 0; k < st->kv.n; k++)
                        if (dc_startswith(st->kv.v[k].key, "var.")) {
                                fputs(n++ ? "," : "", stdout);
                                dc_json_str(stdout, st->kv.v[k].key + 4);
                                fputc(':', stdout);
                                dc_json_str(stdout, st->kv.v[k].val);
                        }
                fputs("}", stdout);
        }
        fputs("}", stdout);
}

static int collect(const char *root, struct dc_state **out, size_t *n)
{
        *out = NULL;
        *n = 0;
        DIR *d = opendir(root);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !dc_name_valid(de->d_name))
                        continue;
                struct dc_state st;
                struct dc_error err;
                if (dc_state_read(root, de->d_name, &st, &err) < 0)
                        continue;
                *out = dc_xrealloc(*out, (*n + 1) * sizeof(**out));
                (*out)[(*n)++] = st;
        }
        closedir(d);
        return 0;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct dc_state *)a)->name, ((const struct dc_state *)b)->name);
}

/* diyctl kill [-s SIGNAL] NAME...: a signal to each container's process
 * (PID 1 in its pid namespace: the command, or the init, which passes it on),
 * as docker kill: SIGKILL unless told. The launcher sees the end as any other
 * and tears down. */
int dc_cmd_kill(int argc, char **argv)
{
        static const char *const valued[] = { "-s", "--signal", NULL };
        argc = dc_options_first(argc, argv, valued);
        int sig = SIGKILL;
        int i = 1;
        for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
                const char *a = argv[i], *val = NULL;
                if ((strcmp(a, "-s") == 0 || strcmp(a, "--signal") == 0) && i + 1 < argc)
                        val = argv[++i];
                else if (dc_startswith(a, "--signal="))
                        val = a + 9;
                else if (dc_startswith(a, "-s") && a[2])
                        val = a + 2;
                if (!val) {
                        dc_usage_error("kill", "unknown option %s", a);
                        return 2;
                }
                sig = dc_signal_parse_loose(val);
                if (sig < 0) {
                        dc_usage_error("kill", "%s is not a signal (a name like SIGHUP or HUP, or a number)", val);
                        return 2;
                }
        }
        if (i >= argc) {
                dc_usage_error("kill", "name a container");
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        int bad = 0;
        for (; i < argc; i++) {
                struct dc_state st;
                struct dc_error err = { 0 };
                if (dc_state_read(root, argv[i], &st, &err) < 0) {
                        dc_print_error(&err);
                        bad = 1;
                        continue;
                }
                const char *why = !st.running ? "is not running"
                                  : st.stopping ? "is being stopped"
                                  : !st.has_status || st.pid <= 0 ? "is still starting"
                                  : NULL;
                int pidfd = why ? -1 : (int)syscall(SYS_pidfd_open, st.pid, 0);
                if (!why && pidfd < 0)
                        why = "has ended";
                /* the lock still held after the open: the pid is the container's */
                if (!why && !dc_state_locked(st.dir))
                        why = "has ended";
                if (why) {
                        fprintf(stderr, "diyctl: %s %s\n", st.name, why);
                        bad = 1;
                } else if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 && errno != ESRCH) {
                        char name[24];
                        fprintf(stderr, "diyctl: %s: cannot send %s to its process %d: %s\n", st.name,
                                dc_signal_name(sig, name), (int)st.pid, strerror(errno));
                        bad = 1;
                }
                if (pidfd >= 0)
                        close(pidfd);
                dc_state_free(&st);
        }
        return bad;
}

int dc_cmd_list(int argc, char **argv)
{
        bool json = dc_take_flag(&argc, argv, "--json");
        if (argc > 1) {
                dc_usage_error("list", "unexpected argument %s", argv[1]);
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        struct dc_state *v;
        size_t n;
        collect(root, &v, &n);
        if (n > 1) /* v is NULL when there are none: no qsort(NULL, 0) */
                qsort(v, n, sizeof(*v), by_name);
        if (json) {
                fputs("[", stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? "," : "", stdout);
                        print_state_json(&v[i], false);
                        dc_state_free(&v[i]);
                }
                fputs("]\n", stdout);
                free(v);
                return 0;
        }
        /* Columns as wide as their longest entry (names up to 63
         * characters, two addresses), so they stay aligned. */
        struct row {
                char addrs[128], state[32], pid[16], up[24];
        } *rows = dc_xcalloc(n ? n : 1, sizeof(*rows));
        int w_name = 4, w_state = 5, w_addrs = 9;
        for (size_t i = 0; i < n; i++) {
                struct row *r = &rows[i];
                addresses(&v[i], r->addrs, sizeof(r->addrs));
                if (!r->addrs[0])
                        snprintf(r->addrs, sizeof(r->addrs), "-");
                if (v[i].exited) {
                        /* how it ended in the state, and no pid or uptime */
                        snprintf(r->state, sizeof(r->state), "exited(%d)", v[i].exit_code);
                        snprintf(r->pid, sizeof(r->pid), "-");
                        snprintf(r->up, sizeof(r->up), "-");
                } else {
                        snprintf(r->state, sizeof(r->state), "%s", state_word(&v[i]));
                        /* none known yet (starting), or its launcher died before it had one */
                        snprintf(r->pid, sizeof(r->pid), v[i].pid > 0 ? "%d" : "-", (int)v[i].pid);
                        snprintf(r->up, sizeof(r->up), "%lld", uptime(&v[i]));
                }
                w_name = (int)strlen(v[i].name) > w_name ? (int)strlen(v[i].name) : w_name;
                w_state = (int)strlen(r->state) > w_state ? (int)strlen(r->state) : w_state;
                w_addrs = (int)strlen(r->addrs) > w_addrs ? (int)strlen(r->addrs) : w_addrs;
        }
        printf("%-*s  %-*s  %-8s %-9s %-*s  %s\n", w_name, "NAME", w_state, "STATE", "PID", "UPTIME", w_addrs,
               "ADDRESSES", "CONFIG");
        for (size_t i = 0; i < n; i++) {
                const struct row *r = &rows[i];
                const char *cfg = dc_kvs_get(&v[i].kv, "config");
                printf("%-*s  %-*s  %-8s %-9s %-*s  %s\n", w_name, v[i].name, w_state, r->state, r->pid, r->up,
                       w_addrs, r->addrs, cfg ? cfg : "-");
                dc_state_free(&v[i]);
        }
        free(rows);
        free(v);
        return 0;
}

int dc_cmd_status(int argc, char **argv)
{
        bool json = dc_take_flag(&argc, argv, "--json");
        struct dc_state st;
        int rc = dc_cmd_state_of("status", argc, argv, &st);
        if (rc)
                return rc;
        if (json) {
                print_state_json(&st, true);
                fputc('\n', stdout);
        } else {
                char addrs[128];
                addresses(&st, addrs, sizeof(addrs));
                char pid[16] = "-", launcher[16] = "-"; /* none once exited */
                if (!st.exited && !st.stopping) {
                        snprintf(pid, sizeof(pid), "%d", (int)st.pid);
                        snprintf(launcher, sizeof(launcher), "%d", (int)st.launcher_pid);
                }
                printf("name:       %s\nstate:      %s\npid:        %s\nlauncher:   %s\nconfig:     %s\nnamespaces: %s\nstate dir:  %s\naddresses:  %s\n",
                       st.name, state_word(&st), pid, launcher,
                       dc_kvs_get(&st.kv, "config") ? dc_kvs_get(&st.kv, "config") : "-",
                       dc_kvs_get(&st.kv, "namespaces") ? dc_kvs_get(&st.kv, "namespaces") : "-", st.dir,
                       addrs[0] ? addrs : "-");
                /* what the host steps resolved at start (status --json: vars) */
                for (size_t k = 0, n = 0; k < st.kv.n; k++)
                        if (dc_startswith(st.kv.v[k].key, "var."))
                                printf("%s%s = %s\n", n++ ? "            " : "resolved:   ", st.kv.v[k].key + 4,
                                       st.kv.v[k].val);
                if (st.running && !st.stopping) {
                        /* what its cgroup holds now: "-" without one */
                        long long mem, pids;
                        usage(&st, &mem, &pids);
                        char m[32] = "-", p[32] = "-";
                        if (mem >= 0)
                                snprintf(m, sizeof(m), "%.1f MiB", (double)mem / (1024.0 * 1024.0));
                        if (pids >= 0)
                                snprintf(p, sizeof(p), "%lld", pids);
                        printf("memory:     %s\npids:       %s\n", m, p);
                }
                if (st.exited || st.stopping) {
                        char when[64] = "";
                        time_t t = (time_t)st.ended;
                        struct tm tm;
                        if (localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
                        const char *sig = dc_kvs_get(&st.kv, "signal");
                        printf("exit code:  %d%s%s%s%s\nended:      %s\n", st.exit_code, sig ? " (signal " : "",
                               sig ? sig : "", sig ? ")" : "",
                               dc_streq(dc_kvs_get(&st.kv, "oom_killed"), "1") ? ", killed by the OOM killer" : "",
                               when);
                }
        }
        rc = st.running && !st.stopping ? 0 : 3;
        dc_state_free(&st);
        return rc;
}

/* Where the last N lines of FD begin (a last line without its newline is a
 * line too); *FOUND: how many lines that is (fewer than N in a short file). */
static off_t tail_offset(int fd, long long n, long long *found)
{
        struct stat sb;
        *found = 0;
        if (fstat(fd, &sb) < 0)
                return 0;
        off_t end = sb.st_size;
        if (n == 0)
                return end;
        *found = n;
        char c;
        if (end > 0 && pread(fd, &c, 1, end - 1) == 1 && c == '\n')
                end--; /* the newline of the last line */
        char buf[65536];
        long long seen = 0;
        while (end > 0) {
                off_t from = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
                ssize_t got = pread(fd, buf, (size_t)(end - from), from);
                if (got <= 0)
                        return 0;
                for (ssize_t k = got - 1; k >= 0; k--)
                        if (buf[k] == '\n' && ++seen == n)
                                return from + k + 1;
                end = from;
        }
        *found = sb.st_size > 0 ? seen + 1 : 0;
        return 0;
}

/* Copy FD from where it is to its end. */
static void copy_out(int fd)
{
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                dc_write_all(STDOUT_FILENO, buf, (size_t)n);
        }
}

/* Has the log been rotated under FD (host.conf log_max_size) by the run we
 * follow? Then FD's file is complete. Not when a new start of the name made
 * a new log: its run is another. */
static bool rotated(const char *root, const struct dc_state *st, const char *log, int fd)
{
        struct stat now, cur;
        if (stat(log, &now) < 0 || fstat(fd, &cur) < 0 || (now.st_ino == cur.st_ino && now.st_dev == cur.st_dev))
                return false;
        struct dc_state again;
        struct dc_error ignored;
        if (dc_state_read(root, st->name, &again, &ignored) < 0)
                return false;
        /* read before its status had a run id (still starting): the run
         * that holds the name now, which wrote the file we read */
        const char *run = dc_kvs_get(&st->kv, "run");
        bool same = run ? same_run(&again, run) : again.running && dc_kvs_get(&again.kv, "run") != NULL;
        dc_state_free(&again);
        return same;
}

int dc_cmd_logs(int argc, char **argv)
{
        static const char *const valued[] = { "-n", "--tail", NULL };
        argc = dc_options_first(argc, argv, valued);
        bool follow = false;
        long long tail = -1; /* all */
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                const char *a = argv[i], *val = NULL;
                if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) {
                        follow = true;
                        continue;
                }
                if ((strcmp(a, "-n") == 0 || strcmp(a, "--tail") == 0) && i + 1 < argc)
                        val = argv[++i];
                else if (dc_startswith(a, "--tail="))
                        val = a + 7;
                else if (dc_startswith(a, "-n") && a[2])
                        val = a + 2;
                if (!val) {
                        dc_usage_error("logs", "unknown option %s", a);
                        return 2;
                }
                char *end;
                errno = 0;
                tail = strcmp(val, "all") == 0 ? -1 : strtoll(val, &end, 10);
                if (strcmp(val, "all") != 0 && (!*val || *end || errno || tail < 0)) {
                        dc_usage_error("logs", "--tail takes a number of lines or \"all\", not %s", val);
                        return 2;
                }
        }
        if (i != argc - 1) {
                dc_usage_error("logs", "name one container");
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        struct dc_state st;
        struct dc_error err = { 0 };
        if (dc_state_read(root, argv[i], &st, &err) < 0) {
                dc_print_error(&err);
                return 1;
        }
        /* With log_max_size, the earlier part is in log.1 (one rotation back). */
        _cleanup_free_ char *log = dc_xasprintf("%s/log", st.dir);
        _cleanup_free_ char *log1 = dc_xasprintf("%s/log.1", st.dir);
        _cleanup_close_ int old = -1, fd = -1;
        for (int tries = 0; tries < 10; tries++) {
                old = open(log1, O_RDONLY | O_CLOEXEC);
                fd = open(log, O_RDONLY | O_CLOEXEC);
                /* a rotation between the two opens would skip a whole file:
                 * log.1 must still be the one we opened */
                struct stat a, b;
                if (old < 0 || tries == 9 || (fstat(old, &a) == 0 && stat(log1, &b) == 0 && a.st_ino == b.st_ino))
                        break;
                close(old);
                old = -1;
                if (fd >= 0)
                        close(fd);
                fd = -1;
        }
        if (fd < 0 && old >= 0) /* between a rotation's rename and its new file */
                fd = DC_TAKE_FD(old);
        if (fd < 0) {
                fprintf(stderr, "diyctl: %s has no log (only detached containers have one)\n", st.name);
                dc_state_free(&st);
                return 1;
        }
        long long found = 0;
        if (tail >= 0 && lseek(fd, tail_offset(fd, tail, &found), SEEK_SET) < 0) {
                fprintf(stderr, "diyctl: %s: %s\n", log, strerror(errno));
                dc_state_free(&st);
                return 1;
        }
        if (old >= 0 && (tail < 0 || found < tail)) {
                long long more;
                if (tail < 0 || lseek(old, tail_offset(old, tail - found, &more), SEEK_SET) >= 0)
                        copy_out(old);
        }
        bool last = !follow; /* the end is known: read to the end once more */
        for (;;) {
                copy_out(fd);
                if (last)
                        break;
                if (rotated(root, &st, log, fd)) {
                        copy_out(fd); /* complete now: the launcher writes to the new one */
                        int next = open(log, O_RDONLY | O_CLOEXEC);
                        if (next >= 0) {
                                close(fd);
                                fd = next;
                                continue;
                        }
                }
                /* Its launcher is gone, or our log was removed (a new start of
                 * the name replaced it, stop or cleanup removed it; only once
                 * its launcher was gone): all of this run's output is in the
                 * file now, also what came after the read above. */
                struct stat sb;
                if (!dc_state_locked(st.dir) || (fstat(fd, &sb) == 0 && sb.st_nlink == 0)) {
                        last = true;
                        continue;
                }
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        dc_state_free(&st);
        return 0;
}
