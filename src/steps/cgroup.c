/* cgroup: the container's own cgroup, created before it runs and removed after
 * its processes are gone. cgroup v2 is the primary target; on hosts where the
 * controllers still live on v1 hierarchies (this project's build machines),
 * one directory per hierarchy we use, plus one in the v2 "unified" tree.
 *
 * Every directory created is named in the intent record before it is made;
 * the shared parent "diyctl" directories are removed at undo only when this
 * container created them and they are empty. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "steps.h"
#include "cgroup_place.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

static bool fs_is(const char *path, long magic)
{
        struct statfs sf;
        return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* The hierarchies to use, as mount points: "/sys/fs/cgroup" on a pure v2
 * host; "/sys/fs/cgroup/unified" and the v1 hierarchies of the controllers
 * in WANT (DC_CG_*) on a hybrid one. */
int dc_cgroup_hierarchies(struct dc_strv *out, unsigned want)
{
        const char *base = getenv("DIYCTL_CGROUP_ROOT");
        if (!base)
                base = "/sys/fs/cgroup";
        if (fs_is(base, CGROUP2_SUPER_MAGIC)) {
                dc_strv_push(out, base);
                return 0;
        }
        _cleanup_free_ char *unified = dc_xasprintf("%s/unified", base);
        if (fs_is(unified, CGROUP2_SUPER_MAGIC))
                dc_strv_push(out, unified);
        static const struct {
                const char *name;
                unsigned bit;
        } v1[] = { { "memory", DC_CG_MEMORY }, { "cpu", DC_CG_CPU }, { "pids", DC_CG_PIDS },
                   { "devices", DC_CG_DEVICES } };
        for (size_t i = 0; i < DC_ARRAY_SIZE(v1); i++) {
                if (!(want & v1[i].bit))
                        continue;
                _cleanup_free_ char *p = dc_xasprintf("%s/%s", base, v1[i].name);
                /* co-mounted controllers are symlinks (cpu -> cpu,cpuacct);
                 * realpath() only for those: it readlink()s every component */
                struct stat lst;
                _cleanup_free_ char *real = lstat(p, &lst) < 0 ? NULL
                                            : S_ISLNK(lst.st_mode) ? realpath(p, NULL) : dc_xstrdup(p);
                if (!real || !fs_is(real, CGROUP_SUPER_MAGIC) || dc_strv_contains(out, real))
                        continue; /* co-mounted controllers appear once */
                dc_strv_push(out, real);
        }
        return out->n ? 0 : -ENOENT;
}

/* The v1 controllers a container's cgroup is made in, on a hybrid host:
 * devices always (as root: on such a host the v1 devices controller is what
 * enforces the device list), memory, cpu and pids for a limit that needs
 * them. That is what its cgroup has on a cgroup v2 host too, where we
 * enable a controller for our containers only for a limit. Each hierarchy
 * costs a start two mkdirs (its cgroup and the shared parent), a join and
 * two rmdirs: memory and pids for every container cost 0.36 ms a start
 * (bench/README.md), for usage in `status` and the OOM report, which on
 * either kind of host need limits.memory / limits.pids (or a systemd unit
 * that delegates its controllers). cpuacct never: the v2 cgroup's cpu.stat
 * counts the container's CPU time without a controller. */
static unsigned v1_wanted(const struct dc_kvs *args, bool unprivileged)
{
        /* Unprivileged: the v2 hierarchy alone. A v1 hierarchy cannot be
         * delegated safely (nothing keeps a delegatee's moves inside its
         * subtree: v2 also wants write access to the common ancestor), so no
         * service manager hands one to a user. */
        if (unprivileged)
                return 0;
        return DC_CG_DEVICES | (dc_kvs_get(args, "memory") ? DC_CG_MEMORY : 0) |
               (dc_kvs_get(args, "cpus") ? DC_CG_CPU : 0) | (dc_kvs_get(args, "pids") ? DC_CG_PIDS : 0);
}

/* No process is moved by pid where it can be helped: writing a pid to
 * cgroup.procs or "tasks" takes the kernel's global cgroup_threadgroup_rwsem
 * for writing, which waits for an RCU grace period (5 to 15 ms measured on
 * the build machines, most of a start). So the v2 part of the step runs
 * before the spawn and the first process is cloned into its v2 cgroup
 * (CLONE_INTO_CGROUP, only a read lock); the v1 part, after it, hands the
 * first process an fd of each v1 "tasks" file (DC_MSG_CGROUP) and it writes
 * "0" (itself, one thread), which the kernel does without that lock. Moving
 * by pid stays as the fallback (a kernel without CLONE_INTO_CGROUP, and a
 * user namespace with a time namespace, where a helper clones the first
 * process). */
static int prepare_join(struct dc_exec_ctx *ctx, const char *dir, struct dc_error *err)
{
        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", dir);
        dc_strv_push(&ctx->cgroup_procs, procs);
        if (!fs_is(dir, CGROUP2_SUPER_MAGIC) || ctx->cgroup_fd >= 0)
                return 0;
        ctx->cgroup_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ctx->cgroup_fd < 0)
                return dc_err(err, errno, "%s: %s", dir, strerror(errno));
        return 0;
}

static void close_join_fds(struct dc_exec_ctx *ctx)
{
        if (ctx->cgroup_fd >= 0)
                close(ctx->cgroup_fd);
        ctx->cgroup_fd = -1;
}

/* After the spawn (the v1 part): the first process joins DIR itself, by
 * the fd of its "tasks" file (see above). */
static int hand_join(struct dc_exec_ctx *ctx, const char *dir, struct dc_error *err)
{
        _cleanup_free_ char *file = dc_xasprintf("%s/tasks", dir);
        _cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", file, strerror(errno));
        int r = dc_send_msg(ctx->launcher_sync, DC_MSG_CGROUP, "", 1, fd);
        if (r < 0)
                return dc_err(err, r, "cannot hand the cgroup %s to the container: %s", dir, strerror(-r));
        return 0;
}

int dc_cgroup_after_spawn(struct dc_exec_ctx *ctx, bool placed, struct dc_error *err)
{
        int r = 0;
        char pid[32];
        snprintf(pid, sizeof(pid), "%d", (int)ctx->child);
        for (size_t i = 0; !placed && r == 0 && i < ctx->cgroup_procs.n; i++) {
                int w = dc_write_file(ctx->cgroup_procs.v[i], pid);
                if (w < 0)
                        r = dc_err(err, w, "cannot move the container into %s: %s", ctx->cgroup_procs.v[i],
                                   strerror(-w));
        }
        close_join_fds(ctx);
        dc_strv_free(&ctx->cgroup_procs);
        return r;
}


/* The step comes in two parts (plan.c): "v2" before the spawn, so the first
 * process is cloned straight into its v2 cgroup; "v1", on a host that still
 * has v1 hierarchies, right after it, while the first process makes its
 * mounts, so their mkdirs, device lists and limits are off the start's
 * critical path. The last part checks that every limit found a controller.
 * Unprivileged, one step without a part: the v2 hierarchy alone. */
static int cgroup_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        unsigned limits_applied = 0;
        bool unprivileged = dc_streq(dc_kvs_get(&s->args, "unprivileged"), "1");
        const char *part = dc_kvs_get(&s->args, "part"); /* "v2", "v1"; none: every hierarchy */
        /* the hierarchies are looked for once, by the first part */
        if (!ctx->cgroup_hierarchies.n &&
            dc_cgroup_hierarchies(&ctx->cgroup_hierarchies, v1_wanted(&s->args, unprivileged)) < 0) {
                dc_strv_free(&ctx->cgroup_hierarchies);
                if (unprivileged)
                        return dc_err(err, ENOTSUP, "unprivileged, a container's cgroup can only be made on cgroup v2, "
                                      "and no cgroup v2 hierarchy is mounted under /sys/fs/cgroup");
                return dc_err(err, ENOENT, "no cgroup hierarchy is mounted under /sys/fs/cgroup");
        }
        struct dc_strv h = { 0 };
        dc_strv_copy(&h, &ctx->cgroup_hierarchies);
        /* On a hybrid host the v1 devices controller enforces the device list
         * by itself (the kernel asks it as well as any v2 program): the v2
         * BPF program would refuse nothing more, and loading it (the
         * verifier) is a tenth of a start (bench/README.md). A host with
         * cgroup v2 only gets the program, its only means. (Only the part
         * that makes the v2 cgroup asks.) */
        bool v1_devices = false;
        for (size_t i = 0; i < h.n && !v1_devices && !unprivileged && !dc_streq(part, "v1"); i++) {
                _cleanup_free_ char *deny = dc_xasprintf("%s/devices.deny", h.v[i]);
                v1_devices = !fs_is(h.v[i], CGROUP2_SUPER_MAGIC) && access(deny, F_OK) == 0;
        }
        int r = 0;
        if (part) {
                bool v1 = dc_streq(part, "v1");
                struct dc_strv keep = { 0 };
                for (size_t i = 0; i < h.n; i++)
                        if (fs_is(h.v[i], CGROUP2_SUPER_MAGIC) != v1)
                                dc_strv_push(&keep, h.v[i]);
                dc_strv_free(&h);
                h = keep;
                if (!h.n) {
                        /* nothing of this part on this host (no v1 hierarchy
                         * on a cgroup v2 host, no v2 one on an old v1 host) */
                        return v1 ? dc_cgroup_limits_check(&s->args, ctx->cgroup_limits, err) : 0;
                }
        }
        /* Where it goes (cgroup_place.c): every directory we will create, and
         * on a delegated v2 hierarchy the launcher's supervisor leaf, are in
         * the intent before anything changes. */
        struct dc_kvs extra = { 0 };
        struct dc_cgroup_place *pl = dc_xcalloc(h.n, sizeof(*pl));
        for (size_t i = 0; r == 0 && i < h.n; i++) {
                r = dc_cgroup_place(h.v[i], &s->args, &pl[i], err);
                /* unprivileged: delegated to us, with the controllers the limits need */
                if (r == 0 && unprivileged)
                        r = dc_cgroup_check_delegated(h.v[i], &pl[i], &s->args, err);
                if (r < 0)
                        break;
                /* Only what we create is ours to remove: never adopt (and later
                 * kill and remove) a cgroup that is already there. */
                if (access(pl[i].dir, F_OK) == 0 || (pl[i].supervisor && access(pl[i].supervisor, F_OK) == 0)) {
                        r = dc_err(err, EEXIST, "the cgroup %s already exists; diyctl does not take over cgroups "
                                   "it did not create", access(pl[i].dir, F_OK) == 0 ? pl[i].dir : pl[i].supervisor);
                        break;
                }
                dc_kvs_add(&extra, "dir", pl[i].dir);
                for (size_t k = 0; k < pl[i].mkparents.n; k++)
                        dc_kvs_add(&extra, "parent", pl[i].mkparents.v[k]);
                if (pl[i].unit) {
                        dc_kvs_add(&extra, "unit", pl[i].unit);
                        dc_kvs_add(&extra, "supervisor", pl[i].supervisor);
                        dc_kvs_add(&extra, "enable", pl[i].enable ? pl[i].enable : "");
                }
        }
        unsigned seq = 0;
        if (r == 0)
                r = dc_step_intent(ctx, s, &extra, &seq, err);
        for (size_t i = 0; r == 0 && i < extra.n; i++) {
                if (strcmp(extra.v[i].key, "parent") == 0 && mkdir(extra.v[i].val, 0755) < 0 && errno != EEXIST)
                        r = dc_err(err, errno, "cannot create %s: %s", extra.v[i].val, strerror(errno));
        }
        for (size_t i = 0; r == 0 && i < h.n; i++)
                r = dc_cgroup_enter_delegated(&pl[i], err);
        for (size_t i = 0; r == 0 && i < h.n; i++) {
                const char *dir = pl[i].dir;
                int mk = mkdir(dir, 0755);
                /* A container leaving at this moment may have removed the shared parent. */
                for (int retry = 0; mk < 0 && errno == ENOENT && retry < 5; retry++) {
                        for (size_t k = 0; k < pl[i].mkparents.n; k++)
                                (void)mkdir(pl[i].mkparents.v[k], 0755);
                        mk = mkdir(dir, 0755);
                }
                if (mk < 0)
                        r = dc_err(err, errno, "cannot create the cgroup %s: %s", dir, strerror(errno));
                /* The parent's controllers are ours to enable only in a
                 * parent we made (and journaled) ourselves. */
                size_t np = pl[i].mkparents.n;
                _cleanup_free_ char *up = dc_xstrdup(dir);
                *strrchr(up, '/') = 0;
                bool parent_ours = np && strcmp(pl[i].mkparents.v[np - 1], up) == 0;
                if (r == 0)
                        r = dc_cgroup_limits(dir, &s->args, parent_ours, &limits_applied, err);
                /* Only the devices it is given (devices.c), before it runs.
                 * Unprivileged: no program (loading one needs CAP_BPF or
                 * CAP_SYS_ADMIN in the host's user namespace), and none
                 * needed: in its user namespace the container cannot create
                 * device nodes, and the host's device files it is given keep
                 * the host's owners and permissions. */
                if (r == 0 && !unprivileged && !(v1_devices && fs_is(dir, CGROUP2_SUPER_MAGIC)))
                        r = dc_devices_restrict(dir, &s->args, err);
                /* Before the spawn: cloned into it. After: it joins by itself. */
                if (r == 0)
                        r = ctx->child <= 0 ? prepare_join(ctx, dir, err) : hand_join(ctx, dir, err);
                if (r == 0)
                        dc_strv_push(&ctx->cgroup_dirs, dir);
        }
        for (size_t i = 0; i < h.n; i++)
                dc_cgroup_place_free(&pl[i]);
        free(pl);
        dc_kvs_free(&extra);
        dc_strv_free(&h);
        ctx->cgroup_limits |= limits_applied;
        if (r == 0 && !dc_streq(part, "v2"))
                r = dc_cgroup_limits_check(&s->args, ctx->cgroup_limits, err);
        if (r < 0)
                return r;
        return dc_step_done(ctx, s, seq, NULL, err);
}

/* Kill whatever is still in dir (a container's leftovers), then remove it. */
static int remove_cgroup(const char *dir, struct dc_error *err)
{
        _cleanup_free_ char *kill_file = dc_xasprintf("%s/cgroup.kill", dir);
        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", dir);
        for (int attempt = 0; attempt < 200; attempt++) {
                if (rmdir(dir) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return dc_err(err, errno, "cannot remove the cgroup %s: %s", dir, strerror(errno));
                if (dc_write_file(kill_file, "1") < 0) {
                        _cleanup_fclose_ FILE *f = fopen(procs, "re");
                        int pid;
                        while (f && fscanf(f, "%d", &pid) == 1)
                                if (pid > 0)
                                        kill(pid, SIGKILL);
                }
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        return dc_err(err, EBUSY, "the cgroup %s still has processes", dir);
}

static int cgroup_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        for (size_t i = 0; i < rec->n; i++) {
                if (strcmp(rec->v[i].key, "dir") != 0)
                        continue;
                if (!dc_startswith(rec->v[i].val, "/sys/fs/cgroup/") && !getenv("DIYCTL_CGROUP_ROOT"))
                        return dc_err(err, EINVAL, "cgroup record with a path outside /sys/fs/cgroup: %s",
                                      rec->v[i].val);
                int r = remove_cgroup(rec->v[i].val, err);
                if (r < 0)
                        return r;
        }
        /* A delegated unit's cgroup: the launcher's leaf goes, the unit's
         * cgroup is as it was (unit, supervisor and enable come together). */
        for (size_t i = 0; i < rec->n; i++) {
                if (strcmp(rec->v[i].key, "unit") != 0 || i + 2 >= rec->n ||
                    strcmp(rec->v[i + 1].key, "supervisor") != 0 || strcmp(rec->v[i + 2].key, "enable") != 0)
                        continue;
                int r = dc_cgroup_leave_delegated(rec->v[i].val, rec->v[i + 1].val, rec->v[i + 2].val, err);
                if (r < 0)
                        return r;
        }
        /* Parents were made shallowest first: remove them deepest first. */
        for (size_t i = rec->n; i-- > 0;)
                if (strcmp(rec->v[i].key, "parent") == 0 && rmdir(rec->v[i].val) < 0 && errno != ENOENT &&
                    errno != ENOTEMPTY && errno != EBUSY)
                        return dc_err(err, errno, "cannot remove %s: %s", rec->v[i].val, strerror(errno));
        return 0;
}

static void cgroup_describe(const struct dc_step *s, FILE *out)
{
        const char *parent = dc_kvs_get(&s->args, "under");
        bool unprivileged = dc_streq(dc_kvs_get(&s->args, "unprivileged"), "1");
        const char *part = dc_kvs_get(&s->args, "part");
        if (dc_streq(part, "v2"))
                fputs("cgroup v2 hierarchy: ", out);
        else if (dc_streq(part, "v1"))
                fprintf(out, "cgroup v1 hierarchies of devices%s%s%s, if the host has any (none on a cgroup v2 host): ",
                        dc_kvs_get(&s->args, "memory") ? ", memory" : "", dc_kvs_get(&s->args, "cpus") ? ", cpu" : "",
                        dc_kvs_get(&s->args, "pids") ? ", pids" : "");
        if (unprivileged)
                fprintf(out, "create the cgroup %s inside the launcher's delegated cgroup, on cgroup v2 only (the "
                        "launcher moves to its leaf \"supervisor\") and move the container into it",
                        dc_kvs_get(&s->args, "group"));
        else if (dc_streq(parent, "self"))
                fprintf(out, "create the cgroup %s inside the launcher's delegated cgroup (the launcher moves to "
                        "its leaf \"supervisor\" on cgroup v2) and move the container into it",
                        dc_kvs_get(&s->args, "group"));
        else if (parent)
                fprintf(out, "create the cgroup %s/%s%s and move the container into it", parent,
                        dc_kvs_get(&s->args, "group"), part ? "" : " in each hierarchy");
        else
                fprintf(out, "create the cgroup %s%s and move the container into it", dc_kvs_get(&s->args, "group"),
                        part ? "" : " in each hierarchy");
        const char *lim[] = { "memory", "cpus", "pids" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(lim); i++)
                if (dc_kvs_get(&s->args, lim[i]))
                        fprintf(out, "%s %s=%s", i == 0 || !dc_kvs_get(&s->args, lim[0]) ? "; limits:" : "", lim[i],
                                dc_kvs_get(&s->args, lim[i]));
        if (unprivileged)
                fputs("; no device filter (unprivileged: in its user namespace it can create no device nodes)", out);
        else
        {
                fprintf(out, "; devices allowed: %s", dc_devices_summary());
                for (size_t i = 0; i < s->args.n; i++) {
                        char type, perms[8], path[256];
                        unsigned maj, min;
                        if (strcmp(s->args.v[i].key, "device") == 0 &&
                            sscanf(s->args.v[i].val, "%c %u:%u %7s %255s", &type, &maj, &min, perms, path) == 5)
                                fprintf(out, " %s (%c %u:%u %s)", path, type, maj, min, perms);
                }
        }
}

const struct dc_step_ops dc_cgroup_ops = {
        .kind = "cgroup",
        .side = DC_SIDE_HOST,
        .apply = cgroup_apply,
        .undo = cgroup_undo,
        .describe = cgroup_describe,
};
