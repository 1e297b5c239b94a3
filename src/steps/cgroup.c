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
 * host; "/sys/fs/cgroup/unified" and the v1 controllers on a hybrid one. */
int dc_cgroup_hierarchies(struct dc_strv *out)
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
        static const char *const v1[] = { "memory", "cpu", "cpuacct", "pids" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(v1); i++) {
                _cleanup_free_ char *p = dc_xasprintf("%s/%s", base, v1[i]);
                _cleanup_free_ char *real = realpath(p, NULL);
                if (!real || !fs_is(real, CGROUP_SUPER_MAGIC) || dc_strv_contains(out, real))
                        continue; /* co-mounted controllers appear once */
                dc_strv_push(out, real);
        }
        return out->n ? 0 : -ENOENT;
}

static int cgroup_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *group = dc_kvs_get(&s->args, "group"); /* e.g. diyctl/web */
        struct dc_strv h = { 0 };
        if (dc_cgroup_hierarchies(&h) < 0) {
                dc_strv_free(&h);
                return dc_err(err, ENOENT, "no cgroup hierarchy is mounted under /sys/fs/cgroup");
        }
        _cleanup_free_ char *parent_rel = dc_xstrdup(group);
        char *slash = strrchr(parent_rel, '/');
        if (slash)
                *slash = 0;
        struct dc_kvs extra = { 0 };
        for (size_t i = 0; i < h.n; i++) {
                _cleanup_free_ char *dir = dc_xasprintf("%s/%s", h.v[i], group);
                dc_kvs_add(&extra, "dir", dir);
                if (slash) {
                        _cleanup_free_ char *parent = dc_xasprintf("%s/%s", h.v[i], parent_rel);
                        if (access(parent, F_OK) < 0)
                                dc_kvs_add(&extra, "parent", parent);
                }
        }
        unsigned seq;
        int r = dc_step_intent(ctx, s, &extra, &seq, err);
        for (size_t i = 0; r == 0 && i < extra.n; i++) {
                if (strcmp(extra.v[i].key, "parent") == 0 && mkdir(extra.v[i].val, 0755) < 0 && errno != EEXIST)
                        r = dc_err(err, errno, "cannot create %s: %s", extra.v[i].val, strerror(errno));
        }
        for (size_t i = 0; r == 0 && i < extra.n; i++) {
                if (strcmp(extra.v[i].key, "dir") != 0)
                        continue;
                const char *dir = extra.v[i].val;
                if (mkdir(dir, 0755) < 0)
                        r = dc_err(err, errno, "cannot create the cgroup %s: %s", dir, strerror(errno));
                if (r == 0) {
                        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", dir);
                        char pid[32];
                        snprintf(pid, sizeof(pid), "%d", (int)ctx->child);
                        int w = dc_write_file(procs, pid);
                        if (w < 0)
                                r = dc_err(err, w, "cannot move the container into %s: %s", dir, strerror(-w));
                        else
                                dc_strv_push(&ctx->cgroup_dirs, dir);
                }
        }
        dc_kvs_free(&extra);
        dc_strv_free(&h);
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
        for (size_t i = 0; i < rec->n; i++)
                if (strcmp(rec->v[i].key, "parent") == 0 && rmdir(rec->v[i].val) < 0 && errno != ENOENT &&
                    errno != ENOTEMPTY && errno != EBUSY)
                        return dc_err(err, errno, "cannot remove %s: %s", rec->v[i].val, strerror(errno));
        return 0;
}

static void cgroup_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "create the cgroup %s in each hierarchy and move the container into it",
                dc_kvs_get(&s->args, "group"));
}

const struct dc_step_ops dc_cgroup_ops = {
        .kind = "cgroup",
        .side = DC_SIDE_HOST,
        .apply = cgroup_apply,
        .undo = cgroup_undo,
        .describe = cgroup_describe,
};
