/* The container's first process: runs the child steps of the plan while the
 * launcher runs the host steps, waits for the launcher's "go" where the plan
 * says ("wait-launcher"), then becomes the configured process. Errors go
 * back to the launcher over the sync socket; this code never prints. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "diyctl/config.h"
#include "diyctl/exec.h"
#include "diyctl/security.h"
#include "diyctl/util.h"
#include "steps/steps.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct exit_msg {
        int code;
        char text[1800];
};

__attribute__((noreturn)) static void fail(struct dc_exec_ctx *ctx, int code, const struct dc_error *err)
{
        struct exit_msg m = { .code = code };
        snprintf(m.text, sizeof(m.text), "%.1790s", err->msg);
        dc_send_msg(ctx->sync_fd, DC_MSG_ERROR, &m, sizeof(m.code) + strlen(m.text) + 1, -1);
        _exit(code);
}

struct cmd {
        struct dc_exec_ctx *ctx;
        const struct dc_step *s;
        int pty_slave;      /* -1 without a terminal */
        struct dc_ids ids;
};


/* A change of the host-side uid or gid clears the death signal (the
 * kernel's commit_creds): arm it again, and make sure the launcher did not
 * die in between, when the signal would never come (its end of the sync
 * socket is closed then). */
static void rearm_death_signal(struct dc_exec_ctx *ctx)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct pollfd pf = { .fd = ctx->sync_fd, .events = POLLRDHUP };
        if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLRDHUP | POLLERR)))
                _exit(125);
}

/* Becomes the configured process (in the init's child, or directly). */
static void run_command(void *arg)
{
        struct cmd *c = arg;
        struct dc_exec_ctx *ctx = c->ctx;
        const struct dc_kvs *a = &c->s->args;
        struct dc_error err = { 0 };
        const char *origin = dc_kvs_get(a, "origin");

        dc_reset_signals();
        /* A session of its own, with or without a pty (and so is the init,
         * init.c): without one its stdio may be the caller's terminal, which
         * must not be its controlling terminal (TIOCSTI would type into the
         * host's shell). The terminal's ^C then reaches only the launcher,
         * which passes it on. (So ^Z stops only the launcher.) */
        if (setsid() < 0) {
                dc_err(&err, errno, "setsid: %s", strerror(errno));
                fail(ctx, 125, &err);
        }
        if (c->pty_slave >= 0) {
                if (ioctl(c->pty_slave, TIOCSCTTY, 0) < 0) {
                        dc_err(&err, errno, "cannot make the pty the controlling terminal: %s", strerror(errno));
                        fail(ctx, 125, &err);
                }
                for (int fd = 0; fd < 3; fd++)
                        if (dup2(c->pty_slave, fd) < 0) {
                                dc_err(&err, errno, "dup2: %s", strerror(errno));
                                fail(ctx, 125, &err);
                        }
                if (c->pty_slave > 2)
                        close(c->pty_slave);
        }
        /* The seccomp filter, compiled by the launcher meanwhile (exec.c). */
        uint64_t fcaps;
        if (dc_exec_sends_filter(ctx->plan, &fcaps)) {
                char type = 0, b[8];
                int fd = -1;
                if (dc_fault_is("child:filter-unread")) {
                        /* tests: die after "go" with the filter sent and unread
                         * (an exit: as PID 1 of its namespace it cannot kill itself) */
                        struct pollfd pf = { .fd = ctx->sync_fd, .events = POLLIN };
                        while (poll(&pf, 1, -1) < 0 && errno == EINTR)
                                ;
                        _exit(128 + SIGKILL);
                }
                int n = dc_recv_msg(ctx->sync_fd, &type, b, sizeof(b), &fd);
                if (n < 0 || type != DC_MSG_FILTER) {
                        dc_err(&err, n < 0 ? -n : EPROTO, "no seccomp filter from the launcher");
                        fail(ctx, 125, &err);
                }
                int u = fd >= 0 ? dc_seccomp_use_compiled(fcaps, fd, &err) : 0;
                if (fd >= 0)
                        close(fd);
                if (u < 0)
                        fail(ctx, 125, &err);
        }
        /* Capabilities, no_new_privs and seccomp (security.c): the bounding
         * set shrinks before the uid changes, the rest right before execve. */
        struct dc_security sec;
        if (dc_security_from_kvs(a, &sec, &err) < 0 || dc_security_before_setuid(&sec, &err) < 0)
                fail(ctx, 125, &err);
        /* An image's WorkingDir that the image lacks: made (as root, 0755),
         * as Docker makes it; a read-only root leaves the chdir below to say
         * so. */
        if (dc_streq(dc_kvs_get(a, "cwd-create"), "1") && access(dc_kvs_get(a, "cwd"), F_OK) < 0 && errno == ENOENT)
                (void)dc_mkdir_p(dc_kvs_get(a, "cwd"), 0755);
        /* Its resource limits, exactly (the launcher has raised the hard
         * ones above ours): before the uid changes, so that nproc counts at
         * the setuid and the execve as under runc, and after every fd this
         * process needs is open (a small nofile). */
        if (dc_rlimits_set(a, &err) < 0)
                fail(ctx, 125, &err);
        /* setgroups is denied in a user namespace mapped without a helper */
        bool userns = dc_streq(dc_kvs_get(a, "userns"), "1");
        int b = dc_become(&c->ids, userns);
        if (b < 0) {
                if (userns && b == -EINVAL)
                        dc_err(&err, EINVAL, "%s: %s (%u:%u) is not mapped in the container's user namespace "
                                             "(user.map)",
                               dc_kvs_get(a, "user-origin") ? dc_kvs_get(a, "user-origin") : "process.user",
                               dc_kvs_get(a, "user") ? dc_kvs_get(a, "user") : "0:0", (unsigned)c->ids.uid,
                               (unsigned)c->ids.gid);
                else
                        dc_err(&err, -b, "cannot become %u:%u: %s", (unsigned)c->ids.uid, (unsigned)c->ids.gid,
                               strerror(-b));
                fail(ctx, 125, &err);
        }
        rearm_death_signal(ctx);
        const char *cwd = dc_kvs_get(a, "cwd");
        if (chdir(cwd) < 0) {
                const char *where = dc_kvs_get(a, "cwd-origin");
                dc_err(&err, errno, "%s: %s: %s", where ? where : "process.cwd", cwd, strerror(errno));
                fail(ctx, 125, &err);
        }
        struct dc_strv argv = { 0 }, envp = { 0 };
        for (size_t i = 0; i < a->n; i++) {
                if (strcmp(a->v[i].key, "arg") == 0)
                        dc_strv_push(&argv, a->v[i].val);
                else if (strcmp(a->v[i].key, "env") == 0)
                        dc_strv_push(&envp, a->v[i].val);
        }
        char *no_env[] = { NULL };
        const char *path_env = NULL;
        for (size_t i = 0; i < envp.n; i++)
                if (dc_startswith(envp.v[i], "PATH="))
                        path_env = envp.v[i] + 5;
        char *prog = dc_find_program(argv.v[0], path_env);
        if (!prog) {
                dc_err(&err, ENOENT, "%s: %s: command not found in the rootfs", origin, argv.v[0]);
                fail(ctx, 127, &err);
        }
        if (dc_security_apply(&sec, &err) < 0)
                fail(ctx, 125, &err);
        char **env = envp.v ? envp.v : no_env;
        if (dc_streq(dc_kvs_get(a, "home-default"), "1"))
                env = dc_env_with_home(env, c->ids.home);
        execve(prog, argv.v, env);
        int e = errno;
        bool nproc = false;
        for (size_t i = 0; i < a->n && !nproc; i++)
                nproc = strcmp(a->v[i].key, "rlimit") == 0 && dc_startswith(a->v[i].val, "nproc ");
        if (e == ENOENT && access(prog, F_OK) < 0)
                dc_err(&err, e, "%s: %s: command not found in the rootfs", origin, prog);
        else if (e == EAGAIN && nproc)
                dc_err(&err, e, "%s: cannot run %s: its uid has as many processes as process.rlimits.nproc allows",
                       origin, prog);
        else
                dc_err(&err, e, "%s: cannot run %s: %s", origin, prog, strerror(e));
        fail(ctx, e == ENOENT ? 127 : 126, &err);
}

/* The pty: a new master from the container's own devpts; the slave becomes
 * the process's terminal, the master goes to the launcher. */
static int open_pty(struct dc_exec_ctx *ctx, int *slave, struct dc_error *err)
{
        _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return dc_err(err, errno, "cannot open /dev/ptmx: %s", strerror(errno));
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return dc_err(err, errno, "cannot unlock the pty: %s", strerror(errno));
        int s = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0)
                return dc_err(err, errno, "cannot open the pty's terminal: %s", strerror(errno));
        if (ctx->have_winsize)
                ioctl(s, TIOCSWINSZ, &ctx->winsize);
        int r = dc_send_msg(ctx->sync_fd, DC_MSG_PTY, "", 1, master);
        if (r < 0) {
                close(s);
                return dc_err(err, r, "cannot hand the pty to the launcher: %s", strerror(-r));
        }
        *slave = s;
        return 0;
}

/* wait-launcher: the first process has done what it could alone; now it
 * waits until the launcher has done its host steps and says "go" (with the
 * terminal's size). Before that, the launcher may hand over idmapped layers
 * and the v1 cgroups it is to join. */
static int wait_launcher_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        char type = 0;
        struct winsize ws;
        for (;;) {
                int fd = -1;
                int n = dc_recv_msg(ctx->sync_fd, &type, &ws, sizeof(ws), &fd);
                if (n >= 0 && type == DC_MSG_CGROUP && fd >= 0) {
                        /* a v1 cgroup of ours: join it (steps/cgroup.c) */
                        bool ok = write(fd, "0", 1) == 1;
                        int e = errno;
                        close(fd);
                        if (!ok)
                                return dc_err(err, e, "cannot join the container's cgroup: %s", strerror(e));
                        continue;
                }
                if (n == 1 && type == DC_MSG_LAYER && fd < 0 && ((const char *)&ws)[0] == '-') {
                        /* rootfs.idmap "auto" where the directory's file
                         * system cannot be idmapped: it is used as it is */
                        ctx->layer_plain = true;
                        continue;
                }
                if (n >= 0 && type == DC_MSG_VOLUME && fd >= 0) {
                        /* an idmapped volume (volumes[].idmap), for its bind step */
                        ctx->volume_fds = dc_xrealloc(ctx->volume_fds, (ctx->n_volume_fds + 1) * sizeof(int));
                        ctx->volume_fds[ctx->n_volume_fds++] = fd;
                        continue;
                }
                if (n >= 0 && type == DC_MSG_LAYER && fd >= 0) {
                        /* idmapped layers (steps/idmap_layers.c), for the rootfs step */
                        ctx->layer_fds = dc_xrealloc(ctx->layer_fds, (ctx->n_layer_fds + 1) * sizeof(int));
                        ctx->layer_fds[ctx->n_layer_fds++] = fd;
                        continue;
                }
                if (fd >= 0)
                        close(fd);
                if (n < 0)
                        _exit(125); /* the launcher gave up (its error is its to report) */
                if (type == DC_MSG_CGROUP || type == DC_MSG_LAYER || type == DC_MSG_VOLUME)
                        /* the message came, its fd did not (MSG_CTRUNC: no free fd here) */
                        return dc_err(err, EMFILE, "the launcher's %s did not arrive with its message (no file "
                                      "descriptor free in the first process?)",
                                      type == DC_MSG_CGROUP   ? "cgroup"
                                      : type == DC_MSG_VOLUME ? "idmapped volume"
                                                              : "image layer");
                if (type != DC_MSG_GO)
                        return dc_err(err, EPROTO, "unexpected message %d from the launcher", (int)type);
                if (n == (int)sizeof(ws)) {
                        ctx->winsize = ws;
                        ctx->have_winsize = true;
                }
                ctx->released = true;
                return 0;
        }
}

static void wait_launcher_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("wait until the launcher's steps are done (it says \"go\")", out);
}

const struct dc_step_ops dc_wait_launcher_ops = {
        .kind = "wait-launcher",
        .side = DC_SIDE_CHILD,
        .apply = wait_launcher_apply,
        .describe = wait_launcher_describe,
};

/* Our namespaces, for the launcher's status: a rootless exec joins them
 * through the init's command (the init is not dumpable), and must know they
 * are still the container's (src/cmd/exec.c). We are in all of them now. */
static void send_nsids(struct dc_exec_ctx *ctx)
{
        static const char *const names[] = { "mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time" };
        char text[256];
        size_t len = 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(names); i++) {
                char path[32];
                struct stat sb;
                snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
                if (stat(path, &sb) == 0)
                        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s=%llu", len ? " " : "",
                                                names[i], (unsigned long long)sb.st_ino);
        }
        dc_send_msg(ctx->sync_fd, DC_MSG_NSIDS, text, len + 1, -1);
}

void dc_child_main(struct dc_exec_ctx *ctx)
{
        struct dc_error err = { 0 };
        /* The lock and the journal are the launcher's alone: holding a copy
         * would keep the container "running" in others' eyes after its
         * launcher died. */
        if (ctx->lock_fd >= 0)
                close(ctx->lock_fd);
        if (ctx->journal && ctx->journal->fd >= 0)
                close(ctx->journal->fd);
        /* Only what we pass on survives exec: everything else inherited is CLOEXEC. */
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        /* If the launcher dies, so does the container: a container never outlives
         * the process that owns its journal. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The launcher waits for this (spawn in exec.c): from then on, a
         * launcher killed at any moment leaves no process of ours holding
         * the state lock, so `diyctl cleanup` right after works. If the
         * launcher is already gone, the peer is closed and this fails. */
        if (dc_send_msg(ctx->sync_fd, DC_MSG_READY, "", 0, -1) < 0)
                _exit(125);

        const struct dc_plan *p = ctx->plan;
        if (ctx->await_maps) {
                /* cloned with its user namespace: nothing is mapped until
                 * the launcher wrote the maps (steps/idmap.c) */
                char type = 0;
                int n = dc_recv_msg(ctx->sync_fd, &type, NULL, 0, NULL);
                if (n < 0)
                        _exit(125); /* the launcher gave up (its error is its to report) */
                if (type != DC_MSG_MAPS) {
                        dc_err(&err, EPROTO, "unexpected message %d from the launcher instead of the maps", (int)type);
                        fail(ctx, 125, &err);
                }
        }
        if (p->namespaces & DC_NS_USER) {
                /* Our maps are written now: become root of the new user
                 * namespace (keeping its capabilities), so files we create
                 * for mount points belong to a mapped id. */
                if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
                        dc_err(&err, errno, "cannot become root in the user namespace: %s "
                               "(user.map must map 0 inside)", strerror(errno));
                        fail(ctx, 125, &err);
                }
                prctl(PR_SET_DUMPABLE, 1); /* see holder_main in exec.c */
                rearm_death_signal(ctx);
        }
        const struct dc_step *exec_step = NULL;
        const char *ro_root = NULL; /* where rootfs.writable = "none" is written, once applied */
        for (size_t i = 0; i < p->n; i++) {
                const struct dc_step *s = &p->steps[i];
                if (s->ops->side != DC_SIDE_CHILD)
                        continue;
                if (strcmp(s->ops->kind, "exec") == 0) {
                        exec_step = s;
                        break;
                }
                if (s->ops->apply(s, ctx, &err) < 0) {
                        if (err.code == EACCES && (p->namespaces & DC_NS_USER)) {
                                /* most often: a mount point to make in a rootfs of unmapped ids */
                                char m[sizeof(err.msg)];
                                snprintf(m, sizeof(m), "%s", err.msg);
                                dc_err(&err, EACCES, "%.1400s (in its user namespace the container's root has "
                                                     "the rights of the host ids user.map maps it to, not root's)",
                                       m);
                        }
                        /* a step from the config (a volume) names where it is written */
                        const char *origin = dc_kvs_get(&s->args, "origin");
                        if (origin)
                                dc_err_wrap(&err, "%s", origin);
                        else if (ro_root && err.code == EROFS)
                                dc_err_wrap(&err, "%s = \"none\": a read-only root gets no new mount points, "
                                                  "the rootfs must have them",
                                            ro_root);
                        fail(ctx, 125, &err);
                }
                if (strcmp(s->ops->kind, "remount-root-ro") == 0)
                        ro_root = dc_kvs_get(&s->args, "origin");
        }
        if (!exec_step || !ctx->released) {
                dc_err(&err, EINVAL, "plan has no %s step", exec_step ? "wait-launcher" : "exec");
                fail(ctx, 125, &err);
        }
        struct cmd c = { .ctx = ctx, .s = exec_step, .pty_slave = -1 };
        if (dc_resolve_user(dc_kvs_get(&exec_step->args, "user"), dc_kvs_get(&exec_step->args, "user-origin"),
                            dc_streq(dc_kvs_get(&exec_step->args, "home-default"), "1"),
                            &c.ids, &err) < 0)
                fail(ctx, 125, &err);
        if (dc_streq(dc_kvs_get(&exec_step->args, "terminal"), "1") && open_pty(ctx, &c.pty_slave, &err) < 0)
                fail(ctx, 125, &err);
        if (dc_streq(dc_kvs_get(&exec_step->args, "init"), "1")) {
                if (p->namespaces & DC_NS_USER)
                        send_nsids(ctx);
                int fds[] = { ctx->sync_fd, c.pty_slave };
                dc_init_run(run_command, &c, fds, c.pty_slave >= 0 ? 2 : 1);
        }
        run_command(&c);
        _exit(125);
}

bool dc_exec_sends_filter(const struct dc_plan *plan, uint64_t *caps)
{
        const struct dc_kvs *e = dc_exec_args(plan);
        /* with an init, the process starts in the init's child: it compiles */
        if (!e->n || dc_streq(dc_kvs_get(e, "init"), "1"))
                return false;
        struct dc_security sec;
        struct dc_error ignored = { 0 };
        if (dc_security_from_kvs(e, &sec, &ignored) < 0 || !sec.seccomp)
                return false;
        /* the default filter comes with the binary: nothing to compile */
        if (dc_seccomp_prebuilt_for(sec.caps))
                return false;
        *caps = sec.caps;
        return true;
}

int dc_send_msg(int fd, char type, const void *data, size_t len, int pass_fd)
{
        char buf[2048];
        if (len + 1 > sizeof(buf))
                return -EMSGSIZE;
        buf[0] = type;
        if (len)
                memcpy(buf + 1, data, len);
        struct iovec iov = { .iov_base = buf, .iov_len = len + 1 };
        union {
                char b[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } cbuf;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (pass_fd >= 0) {
                memset(&cbuf, 0, sizeof(cbuf));
                mh.msg_control = cbuf.b;
                mh.msg_controllen = sizeof(cbuf.b);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
        }
        for (;;) {
                ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (r >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

int dc_recv_msg(int fd, char *type, void *buf, size_t cap, int *recv_fd)
{
        char tmp[2048];
        struct iovec iov = { .iov_base = tmp, .iov_len = sizeof(tmp) };
        union {
                char b[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } cbuf;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
                             .msg_controllen = sizeof(cbuf.b) };
        ssize_t r;
        do
                r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ENODATA;
        if (recv_fd)
                *recv_fd = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        int got;
                        memcpy(&got, CMSG_DATA(cm), sizeof(int));
                        if (recv_fd)
                                *recv_fd = got;
                        else
                                close(got);
                }
        }
        *type = tmp[0];
        size_t n = (size_t)r - 1;
        if (n > cap)
                n = cap;
        if (n)
                memcpy(buf, tmp + 1, n);
        return (int)n;
}
