/* diyctl exec [OPTIONS] NAME [--] CMD...: run a command in a running
 * container. It joins every namespace of the container's first process at
 * once (setns on a pidfd, so the set is consistent), takes its root and by
 * default its cwd, uid:gid and environment (-w, -u and -e change them), and
 * gets a pty from the container's own devpts when stdin and stdout are
 * terminals (-t always, -T never). The command runs in a session of its own,
 * so the caller's terminal is never its controlling terminal (no TIOCSTI
 * into the host's shell). Signals sent to diyctl exec, and the terminal's ^C,
 * reach the command once. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/config.h"
#include "diyctl/exec.h"
#include "diyctl/security.h"
#include "diyctl/state.h"
#include "diyctl/util.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int ns_flags(const char *list)
{
        static const struct {
                const char *name;
                int flag;
        } map[] = {
                { "mount", CLONE_NEWNS }, { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
                { "pid", CLONE_NEWPID }, { "net", CLONE_NEWNET }, { "user", CLONE_NEWUSER },
                { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
        };
        int f = 0;
        _cleanup_free_ char *copy = dc_xstrdup(list ? list : "");
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < DC_ARRAY_SIZE(map); i++)
                        if (strcmp(t, map[i].name) == 0)
                                f |= map[i].flag;
        return f;
}

/* What the command line changes of the container's process settings. */
struct exec_opts {
        const char *user;    /* -u: instead of process.user */
        const char *cwd;     /* -w: instead of process.cwd, and no fallback to / */
        struct dc_strv env;  /* -e: KEY=VALUE, or KEY (the caller's value, if it has one) */
        int tty;             /* -t 1, -T 0, -1: when stdin and stdout are terminals */
        bool interactive;    /* -i: with -t, stdin must be a terminal */
};

static const struct {
        int flag;
        const char *name; /* in /proc/PID/ns */
} ns_names[] = { { CLONE_NEWNS, "mnt" },   { CLONE_NEWUTS, "uts" },       { CLONE_NEWIPC, "ipc" },
                 { CLONE_NEWNET, "net" },  { CLONE_NEWPID, "pid" },       { CLONE_NEWUSER, "user" },
                 { CLONE_NEWCGROUP, "cgroup" }, { CLONE_NEWTIME, "time" } };

/* The inode the launcher recorded for namespace NAME in NSIDS ("mnt=INODE
 * uts=INODE ..."), or 0 when it has none. */
static unsigned long long recorded(const char *nsids, const char *name)
{
        _cleanup_free_ char *want = dc_xasprintf(" %s=", name);
        _cleanup_free_ char *padded = dc_xasprintf(" %s", nsids);
        const char *at = strstr(padded, want);
        return at ? strtoull(at + strlen(want), NULL, 10) : 0;
}

/* Are the namespaces FLAGS of PATH_FMT ("PID/ns/%s", "thread-self/ns/%s"),
 * under the /proc PROC, the recorded ones? The name of the first that is
 * not, or NULL. For pid and time, SELF looks at the ones its children get
 * (what a setns of them changes). */
static const char *ns_mismatch(int proc, const char *dir, bool self, int flags, const char *nsids)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(ns_names); i++) {
                if (!(flags & ns_names[i].flag))
                        continue;
                const char *name = ns_names[i].name;
                bool children = self && (strcmp(name, "pid") == 0 || strcmp(name, "time") == 0);
                _cleanup_free_ char *path = dc_xasprintf("%s/%s%s", dir, name, children ? "_for_children" : "");
                struct stat sb;
                unsigned long long want = recorded(nsids, name);
                /* none recorded for a namespace we join: nothing to trust */
                if (!want || fstatat(proc, path, &sb, 0) < 0 || (unsigned long long)sb.st_ino != want)
                        return name;
        }
        return NULL;
}

/* Joining through the init itself is refused to a rootless caller: it
 * never exec'd in the container's user namespace, and it is not dumpable,
 * so the kernel counts it as the host's. Its children (its command, and
 * orphans it adopted) exec'd there; any of them may have made namespaces
 * of its own (unshare, with CAP_SYS_ADMIN in its user namespace). The
 * launcher recorded the container's (NSIDS, from the status; NULL from an
 * older launcher): exec goes through a child that has them, and checks
 * where it is once joined. 0 when FLAGS are joined, else -errno with ERR. */
static int join_through_child(pid_t init, int flags, const char *nsids, struct dc_error *err)
{
        _cleanup_free_ char *path = dc_xasprintf("/proc/%d/task/%d/children", (int)init, (int)init);
        _cleanup_free_ char *text = NULL;
        if (dc_read_file(path, 65536, &text) < 0)
                return dc_err(err, EPERM, "the init's command is gone");
        _cleanup_close_ int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return dc_err(err, errno, "/proc: %s", strerror(errno));
        int child = 0;
        const char *other = NULL;
        char *save = NULL;
        for (char *t = strtok_r(text, " \n", &save); t && !child; t = strtok_r(NULL, " \n", &save)) {
                int pid = atoi(t);
                _cleanup_free_ char *dir = dc_xasprintf("%d/ns", pid);
                const char *bad = nsids && pid > 0 ? ns_mismatch(proc, dir, false, flags, nsids) : NULL;
                if (pid > 0 && !bad)
                        child = pid;
                else if (bad && !other)
                        other = bad;
        }
        if (!child && other)
                return dc_err(err, EPERM,
                              "the container's processes under its init have a %s namespace of their own, not the "
                              "container's, and a rootless exec can enter the container only through one of them",
                              other);
        if (!child)
                return dc_err(err, EPERM, "the init's command is gone");
        _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, child, 0);
        /* still the init's child once open: not a pid reused meanwhile */
        _cleanup_free_ char *again = NULL;
        _cleanup_free_ char *needle = dc_xasprintf(" %d ", child);
        _cleanup_free_ char *padded = NULL;
        if (fd >= 0 && dc_read_file(path, 65536, &again) >= 0)
                padded = dc_xasprintf(" %s ", again);
        if (fd < 0 || !padded || !strstr(padded, needle))
                return dc_err(err, EPERM, "the init's command is gone");
        if (setns(fd, flags) < 0)
                return dc_err(err, errno, "%s", strerror(errno));
        /* Where we are now is what counts (the child could change its
         * namespaces between the look above and the join). The caller
         * exits on an error: what it joined goes with it. */
        const char *bad = nsids ? ns_mismatch(proc, "thread-self/ns", true, flags, nsids) : NULL;
        if (bad)
                return dc_err(err, EPERM,
                              "the container's command (pid %d) has a %s namespace of its own, not the "
                              "container's, and a rootless exec can enter the container only through it",
                              child, bad);
        return 0;
}

struct inner {
        const struct dc_state *st;
        const struct exec_opts *opts;
        char **envp;     /* the command's environment, NULL-terminated */
        const char *path; /* its PATH, for finding the command */
        char **argv;
        int sock;        /* to the outer process: errors, the pty master */
        int alive;       /* hangs up when the middle process is gone (its end closes) */
        bool terminal;
};

__attribute__((noreturn)) static void inner_fail(struct inner *in, int code, const struct dc_error *err)
{
        struct {
                int code;
                char text[1800];
        } m = { .code = code };
        snprintf(m.text, sizeof(m.text), "%.1790s", err->msg);
        dc_send_msg(in->sock, DC_MSG_ERROR, &m, sizeof(int) + strlen(m.text) + 1, -1);
        _exit(code);
}

static bool middle_gone(int alive)
{
        struct pollfd p = { .fd = alive, .events = POLLIN };
        return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Runs inside every namespace of the container (and its pid namespace). */
__attribute__((noreturn)) static void run_inner(struct inner *in)
{
        /* It dies with the middle process, which dies with diyctl exec. (The
         * middle one is outside our pid namespace, so getppid() reads 0
         * whether it lives or not: its pipe tells.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (middle_gone(in->alive))
                _exit(125);
        struct dc_error err = { 0 };
        const struct dc_kvs *kv = &in->st->kv;
        int slave = -1;
        /* We are in the container's pid namespace now, running our own code
         * with all our capabilities: keep its processes out of our memory and
         * fds, and let nothing of ours but 0-2 (and the socket, until exec)
         * reach the command. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
        /* The same capabilities, no_new_privs and seccomp as the container's
         * process; the bounding set and our own capabilities shrink first. */
        struct dc_security sec;
        if (dc_security_from_kvs(kv, &sec, &err) < 0 || dc_security_before_setuid(&sec, &err) < 0)
                inner_fail(in, 125, &err);
        if (in->terminal) {
                int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
                int unlock = 0;
                if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
                    (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0) {
                        dc_err(&err, errno, "cannot open a pty in the container: %s", strerror(errno));
                        inner_fail(in, 125, &err);
                }
                dc_send_msg(in->sock, DC_MSG_PTY, "", 1, master);
                close(master);
        }
        struct dc_ids ids;
        const char *user = in->opts->user ? in->opts->user : dc_kvs_get(kv, "user");
        if (dc_resolve_user(user, in->opts->user ? "exec --user" : "process.user",
                            dc_streq(dc_kvs_get(kv, "home-default"), "1"), &ids, &err) < 0)
                inner_fail(in, 125, &err);
        dc_reset_signals();
        /* A session of its own: without a pty its stdio may be the caller's
         * terminal, which must not be its controlling terminal. */
        if (setsid() < 0) {
                dc_err(&err, errno, "setsid: %s", strerror(errno));
                inner_fail(in, 125, &err);
        }
        if (slave >= 0) {
                if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) {
                        dc_err(&err, errno, "cannot attach the pty: %s", strerror(errno));
                        inner_fail(in, 125, &err);
                }
                if (slave > 2)
                        close(slave);
        }
        if (!in->opts->cwd) {
                const char *cwd = dc_kvs_get(kv, "cwd");
                if (chdir(cwd ? cwd : "/") < 0 && chdir("/") < 0) {
                        dc_err(&err, errno, "chdir: %s", strerror(errno));
                        inner_fail(in, 125, &err);
                }
        }
        /* the container's resource limits, as its process has them (their
         * hard limits were raised before the join) */
        if (dc_rlimits_set(kv, &err) < 0)
                inner_fail(in, 125, &err);
        /* in a user namespace mapped without a helper, setgroups is denied */
        bool userns = ns_flags(dc_kvs_get(kv, "namespaces")) & CLONE_NEWUSER;
        int b = dc_become(&ids, userns);
        if (b < 0) {
                if (userns && b == -EINVAL)
                        dc_err(&err, EINVAL, "%s: %u:%u is not mapped in the container's user namespace (user.map)",
                               in->opts->user ? "exec --user" : "process.user", (unsigned)ids.uid,
                               (unsigned)ids.gid);
                else
                        dc_err(&err, -b, "cannot become %u:%u: %s", (unsigned)ids.uid, (unsigned)ids.gid,
                               strerror(-b));
                inner_fail(in, 125, &err);
        }
        /* (a change of ids clears the death signal) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (middle_gone(in->alive))
                _exit(125);
        /* -w as the user it runs as: a directory it cannot enter is an error here */
        if (in->opts->cwd && chdir(in->opts->cwd) < 0) {
                dc_err(&err, errno, "exec --workdir %s: %s", in->opts->cwd, strerror(errno));
                inner_fail(in, 125, &err);
        }
        char *prog = dc_find_program(in->argv[0], in->path);
        if (!prog) {
                dc_err(&err, ENOENT, "%s: command not found in the container", in->argv[0]);
                inner_fail(in, 127, &err);
        }
        if (dc_security_apply(&sec, &err) < 0)
                inner_fail(in, 125, &err);
        /* an image's container: HOME from the user's passwd entry when
         * nothing sets it, as at start */
        char **env = in->envp;
        if (dc_streq(dc_kvs_get(kv, "home-default"), "1"))
                env = dc_env_with_home(env, ids.home);
        execve(prog, in->argv, env);
        int e = errno;
        dc_err(&err, e, "cannot run %s: %s", prog, strerror(e));
        inner_fail(in, e == ENOENT ? 127 : 126, &err);
}

/* One option: OPT with its value VAL (NULL for a flag). 0, or -1 after a
 * usage error, or -2 after printing the help. */
static int take_opt(char opt, const char *val, struct exec_opts *o)
{
        switch (opt) {
        case 'u':
                if (!dc_valid_user_spec(val)) {
                        dc_usage_error("exec", "--user %s is not \"uid:gid\", \"uid\", \"name\" or \"name:group\"", val);
                        return -1;
                }
                o->user = val;
                return 0;
        case 'e':
                if (!*val || *val == '=') {
                        dc_usage_error("exec", "--env %s: expected KEY=VALUE or KEY", val);
                        return -1;
                }
                dc_strv_push(&o->env, val);
                return 0;
        case 'w':
                if (val[0] != '/') {
                        dc_usage_error("exec", "--workdir %s is not an absolute path", val);
                        return -1;
                }
                if (strstr(val, "/../") || dc_startswith(val, "../") || strcmp(val, "..") == 0 ||
                    (strlen(val) >= 3 && strcmp(val + strlen(val) - 3, "/..") == 0)) {
                        dc_usage_error("exec", "--workdir %s must not contain \"..\" (as process.cwd)", val);
                        return -1;
                }
                o->cwd = val;
                return 0;
        case 't':
        case 'T':
                o->tty = opt == 't';
                return 0;
        case 'i':
                o->interactive = true; /* stdin is always the command's; see -t */
                return 0;
        default:
                dc_cmd_help("exec");
                return -2;
        }
}

/* The options before NAME. Returns the index of NAME, or -1 after a usage
 * error, or -2 after printing the help. Everything after NAME is the
 * command's, "--help" included. Short flags combine as docker's do (-it). */
static int parse_opts(int argc, char **argv, struct exec_opts *o)
{
        static const struct {
                const char *name;
                char opt;
                bool arg;
        } longs[] = {
                { "user", 'u', true }, { "env", 'e', true },         { "workdir", 'w', true },
                { "tty", 't', false }, { "no-tty", 'T', false },     { "interactive", 'i', false },
                { "help", 'h', false },
        };
        int i = 1;
        for (; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0)
                        return i + 1;
                if (a[0] != '-' || !a[1])
                        return i;
                int r = 0;
                if (a[1] == '-') {
                        size_t n = strcspn(a + 2, "=");
                        char opt = 0;
                        bool takes = false;
                        for (size_t k = 0; k < DC_ARRAY_SIZE(longs); k++)
                                if (strlen(longs[k].name) == n && strncmp(a + 2, longs[k].name, n) == 0) {
                                        opt = longs[k].opt;
                                        takes = longs[k].arg;
                                }
                        if (!opt) {
                                dc_usage_error("exec", "unknown option %s", a);
                                return -1;
                        }
                        const char *val = a[2 + n] == '=' ? a + 3 + n : NULL;
                        if (val && !takes) {
                                dc_usage_error("exec", "--%.*s takes no value", (int)n, a + 2);
                                return -1;
                        }
                        if (takes && !val) {
                                if (i + 1 >= argc) {
                                        dc_usage_error("exec", "%s needs a value", a);
                                        return -1;
                                }
                                val = argv[++i];
                        }
                        r = take_opt(opt, val, o);
                } else {
                        for (const char *c = a + 1; *c && r == 0; c++) {
                                if (!strchr("uewtTih", *c)) {
                                        dc_usage_error("exec", "unknown option -%c", *c);
                                        return -1;
                                }
                                if (!strchr("uew", *c)) {
                                        r = take_opt(*c, NULL, o);
                                        continue;
                                }
                                /* a value: the rest of this word, or the next one */
                                const char *val = c[1] ? c + 1 : NULL;
                                if (!val) {
                                        if (i + 1 >= argc) {
                                                dc_usage_error("exec", "-%c needs a value", *c);
                                                return -1;
                                        }
                                        val = argv[++i];
                                }
                                r = take_opt(*c, val, o);
                                break;
                        }
                }
                if (r < 0)
                        return r;
        }
        return i;
}

/* The container's environment with -e applied: KEY=VALUE replaces KEY or
 * adds it; a bare KEY takes the caller's value, and changes nothing when the
 * caller has none (as docker exec -e does). */
static void build_env(const struct dc_kvs *kv, const struct dc_strv *set, struct dc_strv *out)
{
        for (size_t i = 0; i < kv->n; i++)
                if (strcmp(kv->v[i].key, "env") == 0)
                        dc_strv_push(out, kv->v[i].val);
        for (size_t k = 0; k < set->n; k++) {
                const char *e = set->v[k];
                size_t n = strcspn(e, "=");
                _cleanup_free_ char *from_caller = NULL;
                if (!e[n]) {
                        const char *mine = getenv(e);
                        if (!mine)
                                continue;
                        e = from_caller = dc_xasprintf("%s=%s", e, mine);
                }
                size_t j = 0;
                while (j < out->n && !(strncmp(out->v[j], e, n + 1) == 0))
                        j++;
                if (j < out->n) {
                        free(out->v[j]);
                        out->v[j] = dc_xstrdup(e);
                } else {
                        dc_strv_push(out, e);
                }
        }
}

int dc_cmd_exec(int argc, char **argv)
{
        struct exec_opts opts = { .tty = -1 };
        int i = parse_opts(argc, argv, &opts);
        if (i < 0) {
                dc_strv_free(&opts.env);
                return i == -2 ? 0 : 2;
        }
        if (i >= argc) {
                dc_usage_error("exec", "name a container and a command");
                dc_strv_free(&opts.env);
                return 2;
        }
        const char *name = argv[i++];
        if (i < argc && strcmp(argv[i], "--") == 0)
                i++;
        if (i >= argc) {
                dc_usage_error("exec", "no command given");
                dc_strv_free(&opts.env);
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root) {
                dc_strv_free(&opts.env);
                return 125;
        }
        struct dc_state st;
        struct dc_error err = { 0 };
        if (dc_state_read(root, name, &st, &err) < 0) {
                dc_print_error(&err);
                dc_strv_free(&opts.env);
                return 125;
        }
        if (!st.running || !st.has_status || st.pid <= 0) {
                fprintf(stderr, "diyctl: %s is not running\n", name);
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        int pidfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
        if (pidfd < 0) {
                fprintf(stderr, "diyctl: %s: its process %d is gone: %s\n", name, (int)st.pid, strerror(errno));
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        /* The lock is still held: the pid we opened is the container's. */
        if (!dc_state_locked(st.dir)) {
                fprintf(stderr, "diyctl: %s stopped meanwhile\n", name);
                close(pidfd);
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        bool terminal = opts.tty >= 0 ? opts.tty : isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        if (opts.tty == 1 && opts.interactive && !isatty(STDIN_FILENO)) {
                /* a pty takes input from a terminal only: piped input would
                 * never end (as docker exec -it says) */
                fprintf(stderr, "diyctl: exec -it: standard input is not a terminal (use -i without -t for piped "
                        "input)\n");
                close(pidfd);
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        struct dc_strv envp = { 0 };
        build_env(&st.kv, &opts.env, &envp);
        const char *path = NULL;
        for (size_t k = 0; k < envp.n; k++)
                if (dc_startswith(envp.v[k], "PATH="))
                        path = envp.v[k] + 5;
        char *no_env[] = { NULL };
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
                perror("diyctl: socketpair");
                close(pidfd);
                dc_strv_free(&envp);
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        /* Blocked from here in every process but the command: the outer one
         * reads them from a signalfd and passes them to the middle one, which
         * passes them to the command (in its own session, it gets none from
         * the terminal itself). The middle one is in a process group of its
         * own: a signal to our whole group (the terminal's ^C, kill -PGID)
         * reaches only the outer one, so the command gets it once (a second
         * copy pending in the middle one would have merged with it). */
        sigset_t mask, old;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        for (int sig = 1; sig <= SIGRTMAX; sig++)
                if (dc_signal_forwardable(sig) && sig != SIGPIPE && sig != SIGCONT)
                        sigaddset(&mask, sig); /* SIGWINCH among them: the pty's size */
        sigprocmask(SIG_BLOCK, &mask, &old);
        fflush(NULL);
        pid_t outer = getpid();
        pid_t mid = fork();
        if (mid < 0) {
                perror("diyctl: fork");
                sigprocmask(SIG_SETMASK, &old, NULL);
                close(sp[0]);
                close(sp[1]);
                close(pidfd);
                dc_strv_free(&envp);
                dc_state_free(&st);
                dc_strv_free(&opts.env);
                return 125;
        }
        if (mid == 0) {
                setpgid(0, 0);
                /* It dies with diyctl exec (SIGKILL included), and the
                 * command with it (run_inner): no command is left running
                 * in the container once the exec that ran it is gone. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != outer)
                        _exit(125); /* it died before the line above */
                close(sp[0]);
                struct inner in = { .st = &st, .opts = &opts, .envp = envp.v ? envp.v : no_env, .path = path,
                                    .argv = argv + i, .sock = sp[1], .terminal = terminal };
                /* Join the container's cgroups while we still see the host's cgroupfs. */
                for (size_t k = 0; k < st.kv.n; k++) {
                        if (strcmp(st.kv.v[k].key, "cgroup") != 0)
                                continue;
                        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", st.kv.v[k].val);
                        int w = dc_write_file(procs, "0");
                        /* Unprivileged, a process may move only within a
                         * subtree delegated to its user: from elsewhere (a
                         * shell outside the launcher's scope) the command runs
                         * in the caller's cgroup, and the container's limits do
                         * not cover it. */
                        if ((w == -EACCES || w == -EPERM) && geteuid() != 0) {
                                fprintf(stderr, "diyctl: note: the command runs outside the container's cgroup "
                                        "(%s: %s; only a process inside the same delegated cgroup can join it)\n",
                                        procs, strerror(-w));
                                continue;
                        }
                        if (w < 0) {
                                dc_err(&err, w, "cannot join the cgroup %s: %s", st.kv.v[k].val, strerror(-w));
                                inner_fail(&in, 125, &err);
                        }
                }
                /* The container's hard limits above ours, raised while we may
                 * (in its user namespace we could not); set exactly later. */
                if (dc_rlimits_raise(0, &st.kv, &err) < 0)
                        inner_fail(&in, 125, &err);
                int flags = ns_flags(dc_kvs_get(&st.kv, "namespaces"));
                if (setns(pidfd, flags) < 0) {
                        int e = errno;
                        struct dc_error why = { 0 };
                        if (e != EPERM || join_through_child(st.pid, flags, dc_kvs_get(&st.kv, "nsids"), &why) < 0) {
                                dc_err(&err, e, "cannot join the namespaces of %s: %s", name,
                                       why.msg[0] ? why.msg : strerror(e));
                                inner_fail(&in, 125, &err);
                        }
                }
                /* A pid namespace applies to children: the command runs in one. */
                int alive[2];
                if (pipe2(alive, O_CLOEXEC) < 0) {
                        dc_err(&err, errno, "pipe: %s", strerror(errno));
                        inner_fail(&in, 125, &err);
                }
                in.alive = alive[0];
                pid_t pid = fork();
                if (pid < 0) {
                        dc_err(&err, errno, "fork: %s", strerror(errno));
                        inner_fail(&in, 125, &err);
                }
                if (pid == 0) {
                        close(alive[1]);
                        run_inner(&in);
                }
                close(alive[0]); /* alive[1] stays open as long as we live */
                close(sp[1]);
                int status = 0;
                for (;;) {
                        int sig = sigwaitinfo(&mask, NULL);
                        if (sig == SIGCHLD) {
                                if (waitpid(pid, &status, WNOHANG) == pid)
                                        break;
                        } else if (sig > 0 && sig != SIGWINCH) {
                                kill(pid, sig);
                        }
                }
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
        setpgid(mid, mid); /* (as the child does: whichever runs first) */
        dc_strv_free(&envp);
        dc_strv_free(&opts.env);
        close(sp[1]);
        close(pidfd);
        int master = -1, code = 125;
        for (;;) {
                char type;
                struct {
                        int code;
                        char text[2000];
                } m;
                int fd = -1;
                int n = dc_recv_msg(sp[0], &type, &m, sizeof(m) - 1, &fd);
                if (n < 0)
                        break; /* EOF: the command runs */
                if (type == DC_MSG_PTY) {
                        master = fd;
                } else if (type == DC_MSG_ERROR && n >= (int)sizeof(int)) {
                        ((char *)&m)[n] = 0;
                        fprintf(stderr, "diyctl: %s\n", m.text);
                        break;
                }
        }
        close(sp[0]);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        struct dc_pty_relay *relay = NULL;
        if (master >= 0)
                dc_pty_relay_start(master, isatty(STDIN_FILENO), &relay, &err);
        for (bool done = false; !done;) {
                struct pollfd pf[3] = { { .fd = sfd, .events = POLLIN }, { .fd = -1 }, { .fd = -1 } };
                if (relay)
                        dc_pty_relay_poll_fds(relay, &pf[1].fd, &pf[1].events, &pf[2].fd, &pf[2].events);
                if (poll(pf, 3, -1) < 0 && errno != EINTR)
                        break;
                if (relay && (pf[1].revents || pf[2].revents))
                        dc_pty_relay_io(relay, pf[1].revents, pf[2].revents); /* 1: hung up, the exit follows */
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                        if (si.ssi_signo == SIGCHLD) {
                                int status;
                                if (waitpid(mid, &status, WNOHANG) == mid) {
                                        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                                        done = true;
                                }
                        } else if (si.ssi_signo == SIGWINCH) {
                                if (relay)
                                        dc_pty_relay_winch(relay);
                        } else if ((si.ssi_code <= 0 && !(si.ssi_code == SI_USER && (pid_t)si.ssi_pid == getpid())) ||
                                   si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT || si.ssi_signo == SIGHUP) {
                                /* sent by someone (kill, timeout), or the
                                 * terminal's ^C, ^\ or hangup; not one the
                                 * kernel raised against us (SIGXFSZ...) */
                                kill(mid, (int)si.ssi_signo);
                        }
                }
        }
        dc_pty_relay_finish(relay);
        sigprocmask(SIG_SETMASK, &old, NULL);
        dc_state_free(&st);
        return code;
}
