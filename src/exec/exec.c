/* The launcher side of the executor: applies host steps (journaled), starts the
 * container's first process in its namespaces, releases it with "go", relays
 * its terminal, forwards signals, and tears down on every path. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diyctl/config.h"
#include "diyctl/exec.h"
#include "diyctl/notify.h"
#include "diyctl/security.h"
#include "diyctl/state.h"
#include "diyctl/util.h"
#include "steps/steps.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif


struct dc_clone_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
                set_tid_size, cgroup;
};

static unsigned long clone_flags(unsigned ns)
{
        unsigned long f = 0;
        if (ns & DC_NS_MOUNT) f |= CLONE_NEWNS;
        if (ns & DC_NS_UTS) f |= CLONE_NEWUTS;
        if (ns & DC_NS_IPC) f |= CLONE_NEWIPC;
        if (ns & DC_NS_PID) f |= CLONE_NEWPID;
        if (ns & DC_NS_NET) f |= CLONE_NEWNET;
        if (ns & DC_NS_USER) f |= CLONE_NEWUSER;
        /* not CLONE_NEWCGROUP: the child unshares it once it is in its own cgroup */
        return f;
}


static void timens_offsets(const struct dc_step *s, char *buf, size_t n);

static int setup_timens(const struct dc_step *s, struct dc_error *err)
{
        if (unshare(CLONE_NEWTIME) < 0)
                return dc_err(err, errno, "cannot create a time namespace: %s", strerror(errno));
        char buf[256];
        timens_offsets(s, buf, sizeof(buf));
        int r = dc_write_file("/proc/self/timens_offsets", buf);
        if (r < 0)
                return dc_err(err, r, "cannot set the time namespace's offsets: %s", strerror(-r));
        return 0;
}

static const char *ns_refused_hint(int e)
{
        if (e == EPERM)
                return " (run as root, or add \"user\" to namespaces)";
        if (e == EINVAL)
                return " (this kernel may lack one of the namespaces asked for)";
        if (e == ENOSPC || e == EUSERS)
                return " (the namespace limit in /proc/sys/user/ is reached)";
        return "";
}

/* The time namespace offsets, as /proc/self/timens_offsets wants them. */
static void timens_offsets(const struct dc_step *s, char *buf, size_t n)
{
        const char *bt = dc_kvs_get(&s->args, "boottime");
        long long mono = 0, boot = 0;
        if (dc_kvs_get_ll(&s->args, "monotonic", &mono) < 0)
                mono = 0;
        if (dc_streq(bt, "reset")) {
                struct timespec ts;
                clock_gettime(CLOCK_BOOTTIME, &ts);
                boot = -(long long)ts.tv_sec;
        } else if (dc_kvs_get_ll(&s->args, "boottime", &boot) < 0) {
                boot = 0;
        }
        snprintf(buf, n, "%d %lld 0\n%d %lld 0\n", CLOCK_MONOTONIC, mono, CLOCK_BOOTTIME, boot);
}

/* --- the user namespace holder --------------------------------------------
 * launcher                          holder (fork)
 *   fork ----------------------->   unshare(CLONE_NEWUSER), 'U'
 *   write uid/gid maps              ...
 *   'S' + offsets + sync fd ---->   become 0; time namespace; clone3(CLONE_PARENT)
 *   <------------------ 'P' pid     exit          -> the first process is our child */

struct holder_msg {
        int code;                /* errno on failure */
        pid_t pid;
        char text[1024];
};

static __attribute__((noreturn)) void holder_main(struct dc_exec_ctx *ctx, int fd)
{
        struct holder_msg m = { 0 };
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (unshare(CLONE_NEWUSER) < 0) {
                m.code = errno;
                snprintf(m.text, sizeof(m.text), "the kernel refused a user namespace: %s%s", strerror(errno),
                         ns_refused_hint(errno));
                dc_send_msg(fd, DC_MSG_ERROR, &m, sizeof(m), -1);
                _exit(125);
        }
        dc_send_msg(fd, 'U', &m, sizeof(m), -1);
        char type;
        char offsets[256] = "";
        int sync = -1;
        int n = dc_recv_msg(fd, &type, offsets, sizeof(offsets) - 1, &sync);
        if (n < 0 || type != 'S' || sync < 0)
                _exit(0);
        offsets[n] = 0;
        const char *fail = NULL;
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                fail = "cannot become root in the user namespace (user.map must map 0 inside)";
        /* A uid change clears "dumpable", which would hand our /proc files to
         * the host's root, out of reach inside the new namespace. */
        else if (prctl(PR_SET_DUMPABLE, 1) < 0)
                fail = "prctl(PR_SET_DUMPABLE)";
        else if (offsets[0] && unshare(CLONE_NEWTIME) < 0)
                fail = "cannot create a time namespace";
        else if (offsets[0] && dc_write_file("/proc/self/timens_offsets", offsets) < 0)
                fail = "cannot set the time namespace's offsets";
        if (fail) {
                m.code = errno;
                snprintf(m.text, sizeof(m.text), "%s: %s", fail, strerror(errno));
                dc_send_msg(fd, DC_MSG_ERROR, &m, sizeof(m), -1);
                _exit(125);
        }
        unsigned long flags = clone_flags(ctx->plan->namespaces) & ~(unsigned long)CLONE_NEWUSER;
        /* with CLONE_PARENT the kernel wants exit_signal 0: the child inherits
         * ours (SIGCHLD, from fork), sent to the launcher, its parent */
        struct dc_clone_args args = { .flags = flags | CLONE_PARENT, .exit_signal = 0 };
        /* a detached run's output pipe (see struct logpump): the first
         * process is ours, not the launcher's, so it gets the pipe here */
        if (ctx->log_pipe >= 0) {
                dup2(ctx->log_pipe, STDOUT_FILENO);
                dup2(ctx->log_pipe, STDERR_FILENO);
        }
        long pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0) {
                close(fd);
                ctx->sync_fd = sync;
                dc_child_main(ctx);
        }
        if (pid < 0) {
                m.code = errno;
                snprintf(m.text, sizeof(m.text), "the kernel refused the namespaces: %s%s", strerror(errno),
                         ns_refused_hint(errno));
                dc_send_msg(fd, DC_MSG_ERROR, &m, sizeof(m), -1);
                _exit(125);
        }
        m.pid = (pid_t)pid;
        dc_send_msg(fd, 'P', &m, sizeof(m), -1);
        _exit(0);
}

int dc_userns_holder_start(struct dc_exec_ctx *ctx, struct dc_error *err)
{
        int hp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hp) < 0)
                return dc_err(err, errno, "socketpair: %s", strerror(errno));
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(hp[0]);
                close(hp[1]);
                return dc_err(err, e, "fork: %s", strerror(e));
        }
        if (pid == 0) {
                close(hp[0]);
                holder_main(ctx, hp[1]);
        }
        close(hp[1]);
        ctx->holder_pid = pid;
        ctx->holder_fd = hp[0];
        char type;
        struct holder_msg m;
        int n = dc_recv_msg(hp[0], &type, &m, sizeof(m), NULL);
        if (n < (int)sizeof(int) || type != 'U')
                return dc_err(err, n < (int)sizeof(int) ? EIO : m.code, "%s",
                              n >= (int)sizeof(int) ? m.text : "the user namespace helper died");
        return 0;
}

static void holder_stop(struct dc_exec_ctx *ctx)
{
        if (ctx->holder_fd >= 0)
                close(ctx->holder_fd);
        ctx->holder_fd = -1;
        if (ctx->holder_pid > 0) {
                kill(ctx->holder_pid, SIGKILL);
                while (waitpid(ctx->holder_pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        ctx->holder_pid = 0;
}

/* The first process's first message: it dropped our lock and journal fds and
 * dies with us (child.c). Until then a launcher killed now would leave it
 * holding the state lock for a moment, and a cleanup right after would fail. */
static int child_ready(int fd, struct dc_error *err)
{
        char type = 0;
        int n = dc_recv_msg(fd, &type, NULL, 0, NULL);
        if (n < 0 || type != DC_MSG_READY)
                return dc_err(err, n < 0 ? -n : EPROTO, "the container's first process died at once%s%s",
                              n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
        return 0;
}

static int spawn_in_userns(struct dc_exec_ctx *ctx, const struct dc_step *s, int *parent_end, struct dc_error *err)
{
        char offsets[256] = "";
        if (ctx->plan->namespaces & DC_NS_TIME)
                timens_offsets(s, offsets, sizeof(offsets));
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return dc_err(err, errno, "socketpair: %s", strerror(errno));
        int r = dc_send_msg(ctx->holder_fd, 'S', offsets, strlen(offsets) + 1, sp[1]);
        close(sp[1]);
        char type = 0;
        struct holder_msg m = { 0 };
        int n = r < 0 ? r : dc_recv_msg(ctx->holder_fd, &type, &m, sizeof(m), NULL);
        holder_stop(ctx);
        if (n < (int)sizeof(m) || type != 'P') {
                close(sp[0]);
                return dc_err(err, m.code ? m.code : EIO, "%s", n >= (int)sizeof(int) && m.text[0] ? m.text
                                                                  : "the user namespace helper died");
        }
        ctx->child = m.pid;
        *parent_end = ctx->launcher_sync = sp[0];
        r = child_ready(sp[0], err);
        if (r < 0)
                return r;
        /* the helper, not us, cloned it: no join fds, no CLONE_INTO_CGROUP */
        return dc_cgroup_after_spawn(ctx, false, err);
}

static int spawn(struct dc_exec_ctx *ctx, const struct dc_step *s, int *parent_end, struct dc_error *err)
{
        const struct dc_plan *p = ctx->plan;
        if (ctx->holder_pid > 0)
                return spawn_in_userns(ctx, s, parent_end, err);
        if ((p->namespaces & DC_NS_TIME)) {
                int r = setup_timens(s, err);
                if (r < 0)
                        return r;
        }
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return dc_err(err, errno, "socketpair: %s", strerror(errno));
        struct dc_clone_args args = { .flags = clone_flags(p->namespaces), .exit_signal = SIGCHLD };
        /* With its user namespace: it waits for the maps (steps/idmap.c). */
        ctx->await_maps = p->namespaces & DC_NS_USER;
        /* Straight into its v2 cgroup (made before the spawn, steps/cgroup.c). */
        bool placed = ctx->cgroup_fd >= 0;
        if (placed) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)ctx->cgroup_fd;
        }
        fflush(NULL);
        long pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0 && placed && errno != ENOMEM) {
                /* a kernel before 5.7, or a cgroup that refuses: move it by pid */
                placed = false;
                args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
                args.cgroup = 0;
                pid = syscall(SYS_clone3, &args, sizeof(args));
        }
        if (pid < 0) {
                int e = errno;
                close(sp[0]);
                close(sp[1]);
                return dc_err(err, e, "the kernel refused the namespaces %s: %s%s",
                              dc_kvs_get(&s->args, "namespaces"), strerror(e), ns_refused_hint(e));
        }
        if (pid == 0) {
                close(sp[0]);
                ctx->sync_fd = sp[1];
                dc_child_main(ctx);
        }
        close(sp[1]);
        ctx->child = (pid_t)pid;
        *parent_end = ctx->launcher_sync = sp[0];
        int r = child_ready(sp[0], err);
        if (r < 0)
                return r;
        return dc_cgroup_after_spawn(ctx, placed, err);
}

static int status_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 125;
}

static void kill_and_reap(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* A start/stop signal arrived while starting? */
static bool interrupted(int sfd)
{
        struct pollfd pf = { .fd = sfd, .events = POLLIN };
        if (poll(&pf, 1, 0) <= 0)
                return false;
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
                        return true;
        return false;
}

enum child_said { CHILD_EOF, CHILD_ERROR, CHILD_OTHER };

/* One message from the first process: its error (err and *exit_code set),
 * a pty master (kept in *pty when pty is not NULL), or the end of the socket
 * (it exec'd, or died). *r is set to a negative errno when the socket
 * itself failed. */
static int died_in_setup(struct dc_error *err)
{
        return dc_err(err, ECHILD, "the container's first process died during its setup (killed, or out of memory?)");
}

static enum child_said child_message(int sync, int *pty, char **nsids, int *exit_code, int *r,
                                     struct dc_error *err)
{
        char type = 0;
        struct {
                int code;
                char text[2000];
        } m;
        int fd = -1;
        int n = dc_recv_msg(sync, &type, &m, sizeof(m) - 1, &fd);
        /* It ended with messages of ours unread (cgroups, layers handed to
         * it after it failed, or "go" itself): the kernel reports that once,
         * and what it sent before is still queued behind. */
        bool unread = n == -ECONNRESET;
        if (unread)
                n = dc_recv_msg(sync, &type, &m, sizeof(m) - 1, &fd);
        if (n == -ENODATA) {
                /* A process that exec'd has read all we sent: with messages
                 * left unread and no error of its own, it died in its setup. */
                if (unread)
                        *r = died_in_setup(err);
                return CHILD_EOF;
        }
        if (n < 0) {
                *r = dc_err(err, n, "lost the container during setup: %s", strerror(-n));
                return CHILD_EOF;
        }
        if (type == DC_MSG_PTY && pty) {
                if (*pty >= 0)
                        close(*pty);
                *pty = fd;
                return CHILD_OTHER;
        }
        if (fd >= 0)
                close(fd);
        if (type == DC_MSG_NSIDS && nsids && n > 0) {
                ((char *)&m)[n] = 0;
                free(*nsids);
                *nsids = dc_xstrdup((const char *)&m);
                return CHILD_OTHER;
        }
        if (type != DC_MSG_ERROR || n < (int)sizeof(int))
                return CHILD_OTHER;
        ((char *)&m)[n] = 0;
        *exit_code = m.code;
        *r = dc_err(err, EINVAL, "%s", m.text);
        return CHILD_ERROR;
}

/* Whether the first process has failed while the launcher was still at its
 * steps: its error, or its death, in err and *exit_code (a negative errno
 * returned); else 0. Does not wait. */
static int child_failed(int sync, int *exit_code, struct dc_error *err)
{
        struct pollfd pf = { .fd = sync, .events = POLLIN };
        if (poll(&pf, 1, 0) <= 0 || !(pf.revents & (POLLIN | POLLHUP)))
                return 0;
        struct dc_error e = { 0 };
        int r = 0, code = 0;
        enum child_said said = child_message(sync, NULL, NULL, &code, &r, &e);
        if (said == CHILD_OTHER)
                return 0;
        /* the end of the socket before "go": it died (it cannot have exec'd) */
        if (said == CHILD_EOF && r == 0)
                r = died_in_setup(&e);
        *err = e;
        *exit_code = code ? code : 125;
        return r;
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* rootfs.writable = DIR: one container at a time may have DIR's upper
 * layer (two overlays on one upper directory are undefined behaviour, which
 * the kernel only warns of). The launcher holds an flock on DIR for the
 * container's life; *FD keeps it. */
static int lock_upper(const struct dc_plan *plan, int *fd, struct dc_error *err)
{
        for (size_t i = 0; i < plan->n; i++) {
                const struct dc_step *s = &plan->steps[i];
                const char *dir = dc_kvs_get(&s->args, "upper");
                if (strcmp(s->ops->kind, "rootfs") != 0 || !dir)
                        continue;
                *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (*fd < 0)
                        return dc_err(err, errno, "rootfs.writable %s: %s", dir, strerror(errno));
                if (flock(*fd, LOCK_EX | LOCK_NB) < 0)
                        return dc_err(err, errno == EWOULDBLOCK ? EBUSY : errno,
                                      "rootfs.writable %s is the upper layer of another running container (two "
                                      "overlays on one upper directory are undefined behaviour)%s%s", dir,
                                      errno == EWOULDBLOCK ? "" : ": ", errno == EWOULDBLOCK ? "" : strerror(errno));
        }
        return 0;
}

/* Detached: the container's output goes to STATE/log, input from /dev/null.
 * With a size cap (host.conf log_max_size) the container writes into a pipe
 * and the launcher copies it to the log, renaming a full log to log.1 (the
 * earlier log.1 goes) and starting a new one: /run is memory, and a chatty
 * service must not fill it. The launcher's own messages (and its helpers')
 * go straight to the current log. */
struct logpump {
        const char *dir;
        int file;        /* the current log; also our stdout and stderr */
        int in;          /* the pipe's read end (nonblocking), -1: no cap or all writers gone */
        int out;         /* its write end, until the first process has it */
        unsigned long long max;
};

static int open_log(const char *dir, int flags, struct dc_error *err)
{
        _cleanup_free_ char *log = dc_xasprintf("%s/log", dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", log, strerror(errno));
        return fd;
}

static int redirect_output(const struct dc_plan *plan, struct logpump *lp, struct dc_error *err)
{
        int fd = open_log(plan->state_dir, 0, err);
        if (fd < 0)
                return fd;
        lp->file = fd;
        lp->dir = plan->state_dir;
        lp->max = plan->log_max_size;
        _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0)
                return dc_err(err, errno, "/dev/null: %s", strerror(errno));
        if (dup2(null, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                return dc_err(err, errno, "dup2: %s", strerror(errno));
        if (!lp->max)
                return 0;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return dc_err(err, errno, "pipe: %s", strerror(errno));
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        lp->in = p[0];
        lp->out = p[1];
        return 0;
}

/* Around the spawn: the first process gets the pipe as stdout and stderr,
 * we keep the log. */
static void pump_hand_over(struct logpump *lp, bool before)
{
        if (lp->out < 0)
                return;
        int fd = before ? lp->out : lp->file;
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (!before) {
                close(lp->out);
                lp->out = -1;
        }
}

/* A full log becomes log.1 (the older log.1 goes), and a new one is
 * started. On failure the current one goes on (tried again after the next
 * max bytes). */
static void pump_rotate(struct logpump *lp)
{
        _cleanup_free_ char *log = dc_xasprintf("%s/log", lp->dir);
        _cleanup_free_ char *old = dc_xasprintf("%s/log.1", lp->dir);
        if (rename(log, old) < 0)
                return;
        struct dc_error ignored;
        int fd = open_log(lp->dir, O_TRUNC, &ignored);
        if (fd < 0) {
                (void)rename(old, log); /* still "log", to be rotated later */
                return;
        }
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(lp->file);
        lp->file = fd;
}

/* Copy what the container wrote (the pipe, or its pty when detached with a
 * terminal) to the log. A log that would grow past max ends at a line's
 * end: the last one that fits, else the first one after (a line is never
 * split, unless one chunk holds no end of line at all). The size is the
 * file's, so the launcher's own lines count too. ALL: until nothing is
 * left, after the end (bounded: a straggler without a pid namespace may
 * write for ever); else a few chunks, so signals are not kept waiting. */
static void pump_io(struct logpump *lp, bool all)
{
        char buf[65536];
        size_t chunk = lp->max < sizeof(buf) ? (size_t)lp->max : sizeof(buf);
        for (int rounds = 0; lp->in >= 0 && rounds < (all ? 1024 : 16); rounds++) {
                ssize_t n = read(lp->in, buf, chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) { /* every writer is gone (a pty: EIO) */
                        close(lp->in);
                        lp->in = -1;
                        return;
                }
                struct stat sb;
                unsigned long long size = fstat(lp->file, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
                size_t from = 0, len = (size_t)n;
                if (size + len > lp->max) {
                        size_t room = lp->max > size ? (size_t)(lp->max - size) : 0;
                        const char *nl = room ? memrchr(buf, '\n', room < len ? room : len) : NULL;
                        if (!nl && size > 0) /* finish the line under way first */
                                nl = memchr(buf, '\n', len);
                        if (nl) {
                                from = (size_t)(nl - buf) + 1;
                                dc_write_all(lp->file, buf, from);
                        }
                        if (size > 0 || from > 0)
                                pump_rotate(lp);
                }
                dc_write_all(lp->file, buf + from, len - from);
        }
}

/* The grace time between the stop signal and SIGKILL: $DIYCTL_STOP_TIMEOUT
 * (whole seconds), else 10 s. A value that is not a number of seconds is
 * said and ignored: an empty or mistyped one must not mean "kill at once". */
static long long stop_timeout_ms(void)
{
        const char *t = getenv("DIYCTL_STOP_TIMEOUT");
        if (!t)
                return 10000;
        char *end;
        errno = 0;
        long long v = strtoll(t, &end, 10);
        if (!*t || *end || errno || v < 0 || v > 86400 * 365) {
                fprintf(stderr, "diyctl: DIYCTL_STOP_TIMEOUT=%s is not a number of seconds; the default, 10, applies\n",
                        t);
                return 10000;
        }
        return v * 1000;
}

/* After exec: relay the terminal, forward signals, wait for the end. true
 * when it was asked to stop (a signal came), false when it ended on its own. */
static bool supervise(struct dc_exec_ctx *ctx, int sfd, int master, struct logpump *lp, long long grace,
                      int *status_out)
{
        struct dc_pty_relay *relay = NULL;
        struct dc_error ignored;
        if (master >= 0 && lp->in >= 0) {
                /* detached with a terminal: what the container writes is its
                 * pty's output, not the pipe's; it goes to the log the same
                 * way (there is no input to relay) */
                close(lp->in);
                fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
                lp->in = master;
                master = -1;
        }
        if (master >= 0)
                dc_pty_relay_start(master, true, &relay, &ignored);
        long long kill_at = -1;
        bool exited = false;
        int status = 0;
        bool asked = false;
        /* A SIGTERM (diyctl stop, systemd) becomes the container's stop
         * signal (process.stop_signal, or its image's StopSignal). */
        int stop_sig = SIGTERM;
        int v = dc_signal_parse(dc_kvs_get(dc_exec_args(ctx->plan), "stop-signal"), false);
        if (v > 0)
                stop_sig = v;
        while (!exited) {
                struct pollfd pf[4] = { { .fd = sfd, .events = POLLIN }, { .fd = -1 }, { .fd = -1 },
                                        { .fd = lp->in, .events = POLLIN } };
                if (relay)
                        dc_pty_relay_poll_fds(relay, &pf[1].fd, &pf[1].events, &pf[2].fd, &pf[2].events);
                int timeout = -1;
                if (kill_at >= 0) {
                        long long left = kill_at - now_ms();
                        timeout = left < 0 ? 0 : (int)left;
                }
                int n = poll(pf, 4, timeout);
                if (n < 0 && errno != EINTR)
                        break;
                if (kill_at >= 0 && now_ms() >= kill_at) {
                        kill(ctx->child, SIGKILL);
                        kill_at = -1;
                }
                if (n <= 0)
                        continue;
                if (relay && (pf[1].revents || pf[2].revents))
                        dc_pty_relay_io(relay, pf[1].revents, pf[2].revents); /* 1: hung up, the exit follows */
                if (pf[3].revents)
                        pump_io(lp, false);
                if (!(pf[0].revents & POLLIN))
                        continue;
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                        switch (si.ssi_signo) {
                        case SIGCHLD: {
                                pid_t r = waitpid(ctx->child, &status, WNOHANG);
                                if (r == ctx->child)
                                        exited = true;
                                break;
                        }
                        case SIGWINCH:
                                if (relay)
                                        dc_pty_relay_winch(relay);
                                break;
                        case SIGINT:
                        case SIGTERM:
                        case SIGHUP:
                        case SIGQUIT:
                                dc_notify_stopping("stopping"); /* $NOTIFY_SOCKET: systemd */
                                asked = true;
                                /* Pass it on; a container that ignores it is killed after the grace time. */
                                kill(ctx->child, si.ssi_signo == SIGTERM ? stop_sig : (int)si.ssi_signo);
                                /* diyctl stop says how long it waits (its -t) */
                                if (kill_at < 0)
                                        kill_at = now_ms() + (si.ssi_signo == SIGTERM && si.ssi_code == SI_QUEUE &&
                                                                      si.ssi_int >= 0
                                                              ? (long long)si.ssi_int * 1000
                                                              : grace);
                                else
                                        kill(ctx->child, SIGKILL);
                                break;
                        default:
                                /* USR1, USR2, a real-time signal... sent by
                                 * someone: the container's business. Not one
                                 * the kernel raised against the launcher
                                 * itself (SIGXFSZ, SIGXCPU: SI_USER "from"
                                 * us). */
                                if (si.ssi_code <= 0 && !(si.ssi_code == SI_USER && (pid_t)si.ssi_pid == getpid()))
                                        kill(ctx->child, (int)si.ssi_signo);
                                break;
                        }
                }
        }
        dc_pty_relay_finish(relay);
        /* what it wrote last (its processes are gone with a pid namespace;
         * without one, what a straggler writes later is not waited for) */
        pump_io(lp, true);
        *status_out = status;
        return asked;
}

/* What list, status, stop and exec need to know, once the process runs.
 * With ENDED (its wait status) the record an exited container leaves: no
 * pids, cgroups or resolved values (all gone with the teardown), but when
 * and how it ended. */
static int write_status(const struct dc_plan *plan, const struct dc_exec_ctx *ctx,
                        const struct dc_exec_opts *opts, const int *ended, bool oom, struct dc_error *err)
{
        struct dc_kvs kv = { 0 };
        dc_kvs_add(&kv, "name", plan->name);
        /* absolute, so that list and status mean the same file from anywhere */
        _cleanup_free_ char *config = plan->config_file && plan->config_file[0] != '/'
                                              ? realpath(plan->config_file, NULL)
                                              : NULL;
        dc_kvs_add(&kv, "config", config ? config : plan->config_file);
        if (ended) {
                dc_kvs_add(&kv, "state", "exited");
                if (ctx->run_id[0])
                        dc_kvs_add(&kv, "run", ctx->run_id);
                dc_kvs_addf(&kv, "started", "%lld", ctx->started);
                dc_kvs_addf(&kv, "ended", "%lld", (long long)time(NULL));
                dc_kvs_addf(&kv, "exit_code", "%d", status_code(*ended));
                if (WIFSIGNALED(*ended))
                        dc_kvs_addf(&kv, "signal", "%d", WTERMSIG(*ended));
                if (oom)
                        dc_kvs_add(&kv, "oom_killed", "1");
        } else {
                dc_kvs_addf(&kv, "launcher_pid", "%d", (int)getpid());
                dc_kvs_addf(&kv, "pid", "%d", (int)ctx->child);
                if (ctx->run_id[0])
                        dc_kvs_add(&kv, "run", ctx->run_id);
                dc_kvs_addf(&kv, "started", "%lld", ctx->started);
        }
        dc_kvs_add(&kv, "detached", opts && opts->detached ? "1" : "0");
        if (ctx->nsids && !ended)
                dc_kvs_add(&kv, "nsids", ctx->nsids);
        dc_kvs_add(&kv, "terminal", plan->terminal ? "1" : "0");
        dc_kvs_add(&kv, "init", plan->init ? "1" : "0");
        if (!ended)
                dc_kvs_addf(&kv, "stop_timeout", "%lld", ctx->grace_ms / 1000); /* stop without -t waits as long */
        for (size_t i = 0; !ended && i < ctx->cgroup_dirs.n; i++)
                dc_kvs_add(&kv, "cgroup", ctx->cgroup_dirs.v[i]);
        for (size_t i = 0; !ended && i < ctx->vars.n; i++) {
                _cleanup_free_ char *k = dc_xasprintf("var.%s", ctx->vars.v[i].key);
                dc_kvs_add(&kv, k, ctx->vars.v[i].val);
        }
        for (size_t i = 0; i < plan->n; i++) {
                const struct dc_step *s = &plan->steps[i];
                if (strcmp(s->ops->kind, "spawn") == 0) {
                        dc_kvs_add(&kv, "namespaces", dc_kvs_get(&s->args, "namespaces"));
                } else if (strcmp(s->ops->kind, "rootfs") == 0 && dc_kvs_get(&s->args, "idmap-note")) {
                        /* what rootfs.idmap "auto" decided at plan time (the
                         * launcher's own fallback is in ctx->vars) */
                        _cleanup_free_ char *v = dc_xasprintf("the directory as it is (%s)",
                                                              dc_kvs_get(&s->args, "idmap-note"));
                        dc_kvs_add(&kv, "var.rootfs.idmap", v);
                } else if (strcmp(s->ops->kind, "exec") == 0) {
                        for (size_t k = 0; k < s->args.n; k++) {
                                const char *key = s->args.v[k].key;
                                if (!strcmp(key, "env") || !strcmp(key, "cwd") || !strcmp(key, "user") ||
                                    !strcmp(key, "arg") || !strcmp(key, "caps") || !strcmp(key, "seccomp") ||
                                    !strcmp(key, "no-new-privs") || !strcmp(key, "home-default") ||
                                    !strcmp(key, "rlimit") || !strcmp(key, "rlimit-origin"))
                                        dc_kvs_add(&kv, key, s->args.v[k].val);
                        }
                }
        }
        int r = dc_state_write_status(plan->state_dir, &kv, err);
        dc_kvs_free(&kv);
        return r;
}

/* The container process's seccomp filter, compiled here while the first
 * process mounts its file systems (on another CPU), then handed over: it
 * waits for it before loading it (child.c). With no fd (compiling failed
 * here) it compiles its own, and reports what fails. */
static void send_filter(int sync, uint64_t caps)
{
        struct dc_error ignored = { 0 };
        int fd = memfd_create("diyctl-seccomp", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
        if (fd < 0 && errno == EINVAL) /* a kernel before 6.3 */
                fd = memfd_create("diyctl-seccomp", MFD_CLOEXEC);
        if (fd >= 0 && dc_seccomp_export(caps, fd, &ignored) < 0) {
                close(fd);
                fd = -1;
        }
        dc_send_msg(sync, DC_MSG_FILTER, "", 1, fd);
        if (fd >= 0)
                close(fd);
}

static void log_step(const struct dc_exec_opts *opts, size_t i, const struct dc_plan *p)
{
        if (!opts || !opts->verbose)
                return;
        const struct dc_step *s = &p->steps[i];
        fprintf(stderr, "diyctl: [%zu/%zu] %s: ", i + 1, p->n, s->ops->kind);
        s->ops->describe(s, stderr);
        fputc('\n', stderr);
}

const struct dc_kvs *dc_exec_args(const struct dc_plan *plan)
{
        static const struct dc_kvs none = { 0 };
        for (size_t i = 0; i < plan->n; i++)
                if (strcmp(plan->steps[i].ops->kind, "exec") == 0)
                        return &plan->steps[i].args;
        return &none;
}

int dc_execute(const struct dc_plan *plan, const struct dc_exec_opts *opts, int *exit_code, struct dc_error *err)
{
        struct dc_exec_ctx ctx = { .plan = plan, .lock_fd = -1, .child = -1, .sync_fd = -1, .root_fd = -1,
                                   .holder_fd = -1, .cgroup_fd = -1, .launcher_sync = -1, .log_pipe = -1 };
        *exit_code = 125;
        /* Every signal a supervisor may send comes through the signalfd:
         * INT, TERM, HUP and QUIT stop the container, the others (USR1, a
         * real-time signal...) go on to it once it runs. None may kill the
         * launcher before its teardown. SIGPIPE stays ignored (below) and
         * SIGCONT does its own work. */
        long long grace = stop_timeout_ms(); /* (said now, while the caller still sees our stderr) */
        ctx.grace_ms = grace;
        sigset_t mask, old;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        for (int sig = 1; sig <= SIGRTMAX; sig++)
                if (dc_signal_forwardable(sig) && sig != SIGPIPE && sig != SIGCONT)
                        sigaddset(&mask, sig);
        sigprocmask(SIG_BLOCK, &mask, &old);
        /* Whoever reads us may go away: `start -d`'s client before READY,
         * the reader of the relayed terminal. A write then fails with EPIPE
         * instead of killing the launcher before its teardown. (The first
         * process sets every signal back to its default.) */
        struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
        sigaction(SIGPIPE, &ign, &old_pipe);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        _cleanup_close_ int sync = -1;
        int r = 0;
        if (sfd < 0)
                r = dc_err(err, errno, "signalfd: %s", strerror(errno));

        bool redirected = false;
        struct logpump lp = { .file = -1, .in = -1, .out = -1 };
        _cleanup_close_ int upper_lock = -1;
        /* Host steps and the spawn, in plan order; child steps run in the child. */
        for (size_t i = 0; r == 0 && i < plan->n; i++) {
                const struct dc_step *s = &plan->steps[i];
                if (s->ops->side == DC_SIDE_CHILD)
                        continue;
                if (interrupted(sfd)) {
                        r = dc_err(err, EINTR, "interrupted by a signal while starting");
                        break;
                }
                /* The first process runs its own steps meanwhile: once it has
                 * failed, nothing more is done on the host for it. */
                if (sync >= 0 && (r = child_failed(sync, exit_code, err)) < 0)
                        break;
                log_step(opts, i, plan);
                dc_fault_point("%zu:before", i + 1); /* DIYCTL_FAULT=K:before|after */
                /* Detached: output goes to the log once the state dir exists,
                 * before any process that could inherit the caller's stdout. */
                if (opts && opts->detached && !redirected && ctx.journal) {
                        if ((r = redirect_output(plan, &lp, err)) < 0)
                                break;
                        ctx.log_pipe = lp.out; /* for the user namespace holder, which clones the first process */
                        redirected = true;
                }
                if (s->ops->side == DC_SIDE_SPAWN && dc_fault_is("start:slow"))
                        sleep(1); /* tests: a start that takes its time (stop while starting) */
                if (s->ops->side == DC_SIDE_SPAWN) {
                        pump_hand_over(&lp, true);
                        r = spawn(&ctx, s, &sync, err);
                        pump_hand_over(&lp, false);
                        /* hard limits above ours, which the process could not
                         * raise itself (its user namespace, or no
                         * CAP_SYS_RESOURCE once it is the container's user) */
                        if (r == 0)
                                r = dc_rlimits_raise(ctx.child, dc_exec_args(plan), err);
                        ctx.log_pipe = -1;
                } else
                        r = s->ops->apply(s, &ctx, err);
                if (r == 0 && strcmp(s->ops->kind, "statedir") == 0)
                        r = lock_upper(plan, &upper_lock, err);
                if (r == 0)
                        dc_fault_point("%zu:after", i + 1);
                else if (sync >= 0)
                        child_failed(sync, exit_code, err); /* its error, when it came first, is the cause */
        }

        int master = -1;
        if (r == 0) {
                /* Release the child and wait until it has exec'd (EOF) or failed. */
                struct winsize ws;
                bool have_ws = plan->terminal && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0;
                /* The first process may have failed meanwhile (it runs its
                 * own steps alongside ours): then "go" finds it gone, and its
                 * error is still queued for us below. */
                int go = dc_send_msg(sync, DC_MSG_GO, &ws, have_ws ? sizeof(ws) : 0, -1);
                uint64_t fcaps;
                if (go == 0 && dc_exec_sends_filter(plan, &fcaps))
                        send_filter(sync, fcaps);
                enum child_said said;
                while ((said = child_message(sync, &master, &ctx.nsids, exit_code, &r, err)) == CHILD_OTHER)
                        ;
                /* the end of the socket: it exec'd (the socket closed with it) */
                if (said == CHILD_EOF && r == 0 && go < 0)
                        r = dc_err(err, go, "the container's first process died before it could run: %s",
                                   strerror(-go));
        }
        if (r == 0) {
                ctx.started = (long long)time(NULL);
                /* A detached run, told apart from the next of the same name
                 * (stop, its exited record). A foreground one leaves no record. */
                uint64_t id = 0;
                if (opts && opts->detached) {
                        if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
                                id = (uint64_t)now_ms();
                        snprintf(ctx.run_id, sizeof(ctx.run_id), "%016llx-%d", (unsigned long long)id, (int)getpid());
                }
                r = write_status(plan, &ctx, opts, NULL, false, err);
        }
        if (opts && opts->notify_fd >= 0) {
                if (r == 0) {
                        dc_write_all(opts->notify_fd, "READY=1\n", 8);
                        if (opts->ready)
                                *opts->ready = true;
                } else {
                        _cleanup_free_ char *m = dc_xasprintf("ERROR=%s\n", err->msg);
                        dc_write_all(opts->notify_fd, m, strlen(m));
                }
        }
        /* $NOTIFY_SOCKET (systemd Type=notify): the process runs now. */
        if (r == 0) {
                _cleanup_free_ char *st = dc_xasprintf("running %s (pid %d)", plan->name, (int)ctx.child);
                dc_notify_ready(getpid(), st);
        } else {
                dc_notify_failed(err->msg, err->code);
        }

        int status = 0;
        bool keep_record = false;
        if (r == 0) {
                bool asked = supervise(&ctx, sfd, master, &lp, grace, &status);
                master = -1;
                *exit_code = status_code(status);
                /* killed by SIGKILL: itself, or under the init its command
                 * (which the init turns into an exit with 128+9) */
                bool killed = (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                              (plan->init && WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL);
                bool oom = killed && dc_cgroup_oom_killed(&ctx.cgroup_dirs);
                if (opts && opts->oom_killed)
                        *opts->oom_killed = oom;
                /* A detached container that ended on its own (not stopped)
                 * leaves its log and how it ended, as docker keeps an exited
                 * container: diyctl list, status, logs; the next start of the
                 * name, stop or cleanup removes it. Without it the reason a
                 * background service died would vanish with it. */
                if (oom && opts && opts->detached) /* into its log, before the record says how it ended */
                        fprintf(stderr, "diyctl: %s was killed by the OOM killer\n", plan->name);
                if (opts && opts->detached && !asked) {
                        struct dc_error ignored;
                        keep_record = write_status(plan, &ctx, opts, &status, oom, &ignored) == 0;
                }
                if (keep_record)
                        dc_fault_point("exited:teardown"); /* tests: dies before the teardown */
                dc_notify_stopping("tearing down");
        } else {
                if (master >= 0)
                        close(master);
                kill_and_reap(ctx.child);
                pump_io(&lp, true); /* what it wrote before, into the log */
        }

        holder_stop(&ctx);
        /* Teardown on every path: exactly what the journal says was done. */
        if (ctx.journal) {
                dc_journal_close(ctx.journal);
                ctx.journal = NULL;
                struct dc_error terr = { 0 };
                int t = keep_record ? dc_teardown_keep_record(plan->state_dir, &terr)
                                    : dc_teardown_locked(plan->state_dir, &terr);
                if (t < 0 && r == 0) {
                        *err = terr;
                        r = t;
                } else if (t < 0) {
                        char first[sizeof(err->msg)];
                        memcpy(first, err->msg, sizeof(first));
                        dc_err(err, err->code, "%.900s (and teardown failed: %.900s)", first, terr.msg);
                }
        }
        if (ctx.lock_fd >= 0)
                close(ctx.lock_fd);
        dc_cgroup_after_spawn(&ctx, true, &(struct dc_error){ 0 }); /* its fds, if the spawn never came */
        if (lp.in >= 0)
                close(lp.in);
        if (lp.out >= 0)
                close(lp.out);
        if (lp.file >= 0)
                close(lp.file);
        free(ctx.nsids);
        dc_strv_free(&ctx.cgroup_dirs);
        dc_strv_free(&ctx.cgroup_hierarchies);
        dc_kvs_free(&ctx.vars);
        sigaction(SIGPIPE, &old_pipe, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
