/* The executor: walks a plan. Host steps run in the launcher and are
 * journaled; child steps run in the container's first process, inside the new
 * namespaces, at the same time; the first process waits for the launcher's
 * "go" over the sync socket where the plan says (the wait-launcher step),
 * and never execs without it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "diyctl/error.h"
#include "diyctl/journal.h"
#include "diyctl/plan.h"
#include "diyctl/util.h"

struct dc_exec_ctx {
        const struct dc_plan *plan;
        /* launcher side */
        struct dc_journal *journal;
        int lock_fd;             /* flock on STATE/lock, held for the container's life */
        long long grace_ms;      /* stop signal to SIGKILL, unless stop -t says otherwise */
        pid_t child;             /* the container's first process, in the launcher's pid ns */
        struct dc_strv cgroup_dirs; /* its cgroup in each hierarchy (for status, exec) */
        long long started;          /* unix time its process ran (status) */
        char run_id[40];            /* a detached run's id in its status and exited record, else "" */
        /* Set by the cgroup step when it runs before the spawn (steps/cgroup.c):
         * the first process is cloned straight into the v2 cgroup
         * (CLONE_INTO_CGROUP); it joins the v1 ones itself, by "tasks" fds
         * the step sends after the spawn (DC_MSG_CGROUP), so no process is
         * moved by pid (a move by pid waits for an RCU grace period). */
        int cgroup_fd;              /* -1, or the v2 cgroup's directory */
        struct dc_strv cgroup_procs; /* every cgroup.procs: the fallback, by pid */
        unsigned cgroup_limits;      /* the limits applied so far (steps/limits.c's bits) */
        struct dc_strv cgroup_hierarchies; /* found by the step's first part, for the second */
        /* Values host steps resolve at run time for later steps (e.g. a NAT
         * lease "lease.ipv4" = "10.88.0.4/30"); also copied into the status file
         * as "var.KEY" so list/status can show them. */
        struct dc_kvs vars;
        /* With a user namespace and a time namespace: the helper process
         * that holds the user namespace until the first process is cloned
         * into it (see dc_userns_holder_start). Without a time namespace the
         * first process is cloned with its user namespace (steps/idmap.c). */
        pid_t holder_pid;
        int holder_fd;
        int launcher_sync;       /* the launcher's end of the sync socket, once spawned */
        char *nsids;             /* DC_MSG_NSIDS's text, or NULL */
        int log_pipe;            /* a detached run's output pipe until the spawn (the user namespace
                                  * holder gives it to the first process it clones), or -1 */
        /* child side */
        int sync_fd;             /* socketpair end: launcher <-> first process */
        int root_fd;             /* O_PATH fd of the prepared rootfs (before pivot_root) */
        char *root;              /* its path in the child's mount namespace */
        int *layer_fds;          /* idmapped layer mounts from the launcher (DC_MSG_LAYER), top first */
        int *volume_fds;         /* idmapped volume mounts (DC_MSG_VOLUME), in mount order */
        size_t n_volume_fds;
        bool layer_plain;        /* rootfs.idmap "auto" on a file system without idmapped mounts:
                                  * the launcher sent "-" instead of a mount */
        size_t n_layer_fds;
        int *dev_mounts;         /* mounts that keep device access (bound device nodes, our
                                  * devpts), exempt from the nodev step (mask_steps.c) */
        size_t n_dev_mounts;
        dev_t own_tmpfs[2];      /* the tmpfs diyctl mounted on /run and /tmp ("own-tmpfs"): a
                                  * link into one may have its file made there (child_steps.c) */
        size_t n_own_tmpfs;
        bool released;           /* the launcher said "go" (wait-launcher) */
        bool await_maps;         /* cloned with its user namespace: wait for DC_MSG_MAPS */
        bool have_winsize;
        struct winsize winsize;
};

struct dc_exec_opts {
        bool verbose;            /* print each step as it runs (stderr) */
        int notify_fd;           /* -1, or an fd written "READY=1\n" once the process runs,
                                  * or "ERROR=message\n" when start failed */
        bool detached;           /* output to STATE/log, stdin from /dev/null */
        bool *ready;             /* NULL, or set to true once READY was reported */
        bool *oom_killed;        /* NULL, or set when the OOM killer ended the container */
};

/* Run the plan in the foreground: returns 0 and sets *exit_code (the
 * container's code, 128+N for a signal) or a negative errno with err filled;
 * on every path what was changed on the host is undone. */
int dc_execute(const struct dc_plan *plan, const struct dc_exec_opts *opts, int *exit_code,
               struct dc_error *err);

/* Undo every journaled change of the container whose state dir is given,
 * newest first; idempotent. Returns 0, or negative with err filled (a damaged
 * journal: everything complete before the damage is still undone). */
int dc_teardown(const char *state_dir, struct dc_error *err);

/* The same, for a caller that already holds the state dir's lock. */
int dc_teardown_locked(const char *state_dir, struct dc_error *err);
/* The same, but the state dir's own record is retired rather than undone:
 * its log and status stay as the exited container's record (a detached
 * container that ended on its own; see dc_statedir_retire). */
int dc_teardown_keep_record(const char *state_dir, struct dc_error *err);
/* Turn a torn-down state dir into an exited container's record: remove all
 * but its log and status (the journal before the lock, so that a crash
 * between leaves either a journal to undo or a finished record). */
int dc_statedir_retire(const char *dir, struct dc_error *err);
/* Take the state dir's lock: 0 with *fd set, -EBUSY when a launcher holds it. */
int dc_statedir_lock(const char *dir, int *fd, struct dc_error *err);

/* Start the user namespace holder (ctx->holder_pid/holder_fd): a process in a
 * new user namespace, waiting for its maps and then for the spawn. */
int dc_userns_holder_start(struct dc_exec_ctx *ctx, struct dc_error *err);

/* Child side: FD (an O_PATH fd of a mount the container made, taken) keeps
 * device access through the nodev step (src/exec/mask_steps.c). */
void dc_keep_dev_mount(struct dc_exec_ctx *ctx, int fd);

/* Child side (src/exec/child.c): runs child steps then execs. Never returns. */
__attribute__((noreturn)) void dc_child_main(struct dc_exec_ctx *ctx);

/* Sync protocol messages (SOCK_SEQPACKET). */
enum {
        DC_MSG_GO = 'G',        /* launcher -> child: struct winsize follows, optional */
        DC_MSG_ERROR = 'E',     /* child -> launcher: error text follows */
        DC_MSG_PTY = 'P',       /* child -> launcher: pty master fd in SCM_RIGHTS */
        DC_MSG_READY = 'R',     /* child -> launcher, first: the launcher's lock and journal are
                                 * closed, PR_SET_PDEATHSIG is armed */
        DC_MSG_MAPS = 'M',      /* launcher -> child, first, when it was cloned with its user
                                 * namespace: the uid/gid maps are written (steps/idmap.c) */
        DC_MSG_LAYER = 'L',     /* launcher -> child, before "go": an idmapped layer mount in
                                 * SCM_RIGHTS (steps/idmap_layers.c), top layer first; or,
                                 * for rootfs.idmap "auto", "-" without one: no idmapped mount */
        DC_MSG_VOLUME = 'V',    /* launcher -> child, before "go": an idmapped volume mount in
                                 * SCM_RIGHTS (volumes[].idmap), in the order they are mounted */
        DC_MSG_CGROUP = 'C',    /* launcher -> child, before "go": a v1 cgroup's "tasks" file in
                                 * SCM_RIGHTS; the child writes "0" to it (joins it) */
        DC_MSG_FILTER = 'F',    /* launcher -> child, after "go" when dc_exec_sends_filter: the
                                 * compiled seccomp filter in SCM_RIGHTS (none: compile it) */
        DC_MSG_NSIDS = 'N',     /* child -> launcher, with an init in a user namespace, before the
                                 * init starts: "mnt=INODE uts=INODE ...", its namespaces (the
                                 * status keeps them as "nsids" for exec; see src/cmd/exec.c) */
};
int dc_send_msg(int fd, char type, const void *data, size_t len, int pass_fd);
/* Whether the launcher compiles the container process's seccomp filter and
 * sends it after "go" (DC_MSG_FILTER), so the first process need not compile
 * it while it could be mounting; and for which capabilities (child.c). */
bool dc_exec_sends_filter(const struct dc_plan *plan, uint64_t *caps);
/* The arguments of the plan's exec step (an empty list when it has none). */
const struct dc_kvs *dc_exec_args(const struct dc_plan *plan);
/* Returns bytes of payload (>= 0), -ENODATA on orderly EOF, or -errno. *type set. */
int dc_recv_msg(int fd, char *type, void *buf, size_t cap, int *recv_fd);

/* Process identity inside the container (src/exec/user.c), run after
 * pivot_root so names come from the rootfs's own /etc/passwd and /etc/group.
 * A user found in passwd (by name or uid) without an explicit group also
 * gets the groups of /etc/group that list it, as initgroups(3), Docker and
 * nspawn give them. */
#define DC_MAX_GROUPS 256 /* more in /etc/group are left out */
struct dc_ids {
        uid_t uid;
        gid_t gid;
        gid_t groups[DC_MAX_GROUPS]; /* supplementary */
        size_t n_groups;
        char home[1024];             /* its passwd home, else "/" */
};
/* WANT_HOME: fill ids->home (else "/" when passwd is not read anyway: a
 * numeric "uid:gid" needs no lookup at all). */
int dc_resolve_user(const char *spec, const char *origin, bool want_home, struct dc_ids *ids, struct dc_error *err);
/* Become IDS: groups, gid, uid. In a user namespace (USERNS) whose
 * setgroups is denied (mapped without a helper) the groups stay empty. 0 or
 * -errno (EINVAL: an id is not mapped). */
int dc_become(const struct dc_ids *ids, bool userns);
/* ENVP (NULL-terminated; NULL: empty) with HOME=HOME added when it has no
 * HOME: a new array (the strings are shared), or ENVP itself. Right before
 * exec, so nothing is freed. */
char **dc_env_with_home(char **envp, const char *home);
/* args[0] found like a shell would, in path_env (NULL: a standard PATH). */
char *dc_find_program(const char *name, const char *path_env);
/* Default dispositions, nothing blocked: what a fresh process expects. */
void dc_reset_signals(void);

/* pty relay (src/exec/pty.c) */
struct dc_pty_relay;
/* INPUT: relay our stdin to the terminal (else the command's terminal gets
 * no input, as with docker exec -t without -i). */
int dc_pty_relay_start(int master, bool input, struct dc_pty_relay **out, struct dc_error *err);
/* Handle readiness; returns 0, or 1 when the master hung up. */
int dc_pty_relay_io(struct dc_pty_relay *r, short in_revents, short master_revents);
void dc_pty_relay_winch(struct dc_pty_relay *r);
void dc_pty_relay_poll_fds(struct dc_pty_relay *r, int *in_fd, short *in_ev, int *master_fd,
                           short *master_ev);
void dc_pty_relay_finish(struct dc_pty_relay *r); /* drain, restore terminal, free */

/* Minimal init as PID 1 (src/exec/init.c): forks, runs `run` in the child,
 * closes close_fds in itself, reaps everything, forwards signals; exits with
 * the main child's status (128+N for a signal). */
__attribute__((noreturn)) void dc_init_run(void (*run)(void *), void *arg, const int *close_fds,
                                           size_t n_close);
