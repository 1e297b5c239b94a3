/* limits.memory, limits.cpus, limits.pids: written into the container's cgroup
 * before its process is moved in. The same keys work on cgroup v2 (memory.max,
 * cpu.max, pids.max) and on v1 hierarchies (memory.limit_in_bytes,
 * cpu.cfs_quota_us, pids.max): each directory gets the files it has. The
 * limits vanish with the cgroup, so nothing more is journaled. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "diyctl/util.h"
#include "steps.h"

static bool has(const char *dir, const char *file)
{
        _cleanup_free_ char *p = dc_xasprintf("%s/%s", dir, file);
        return access(p, F_OK) == 0;
}

static int put(const char *dir, const char *file, const char *val, struct dc_error *err)
{
        _cleanup_free_ char *p = dc_xasprintf("%s/%s", dir, file);
        int r = dc_write_file(p, val);
        if (r < 0)
                return dc_err(err, r, "cannot write %s to %s: %s", val, p, strerror(-r));
        return 0;
}

/* "FILE:LINE: limits.KEY" from the plan (plan.c), else "limits.KEY". */
static void limit_origin(const struct dc_kvs *args, const char *key, char *buf, size_t n)
{
        char k[32];
        snprintf(k, sizeof(k), "%s-origin", key);
        const char *o = dc_kvs_get(args, k);
        if (o)
                snprintf(buf, n, "%s", o);
        else
                snprintf(buf, n, "limits.%s", key);
}

static bool listed(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; *p;) {
                p += strspn(p, " \n");
                size_t len = strcspn(p, " \n");
                if (len == n && strncmp(p, word, n) == 0)
                        return true;
                p += len;
        }
        return false;
}

/* Does the cgroup DIR offer CONTROLLER (its cgroup.controllers lists it)?
 * -1 when DIR is no cgroup v2 directory (above the hierarchy's root). */
static int offers(const char *dir, const char *controller)
{
        _cleanup_free_ char *cf = dc_xasprintf("%s/cgroup.controllers", dir);
        _cleanup_free_ char *avail = NULL;
        if (dc_read_file(cf, 4096, &avail) < 0)
                return -1;
        return listed(avail, controller);
}

/* The nearest cgroup from DIR up that offers CONTROLLER, and so could
 * enable it for its children (DIR itself, or the ancestor that keeps it
 * from DIR); NULL when none does: not on this hierarchy. */
static char *offering(const char *dir, const char *controller)
{
        char *d = dc_xstrdup(dir);
        for (;;) {
                int o = offers(d, controller);
                if (o > 0)
                        return d;
                char *slash = strrchr(d, '/');
                if (o < 0 || !slash || slash == d) {
                        free(d);
                        return NULL;
                }
                *slash = 0;
        }
}

/* On cgroup v2 a controller's files appear only once the parent enables it
 * for its children. diyctl writes the parent's cgroup.subtree_control only
 * when the parent is its own (OURS: a directory it created and journaled,
 * "diyctl" by default, which goes with the last container): the setting
 * then vanishes with it. Someone else's cgroup (the root with
 * DIYCTL_CGROUP_PARENT=none, an existing parent given by path, or the
 * parent of ours) is never changed: a controller it offers but does not
 * enable is an error naming the file to change. A controller no cgroup up
 * to the root offers is left to dc_cgroup_limits_check (on a hybrid host a
 * v1 hierarchy may have it). Returns 0 (the caller then looks for the files
 * again), or -errno with ERR set. */
static int enable_v2(const char *dir, const char *controller, bool ours, const struct dc_kvs *args,
                     const char *key, struct dc_error *err)
{
        _cleanup_free_ char *parent = dc_xstrdup(dir);
        char *slash = strrchr(parent, '/');
        if (!slash)
                return 0;
        *slash = 0;
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", parent);
        int w = 0;
        if (ours) {
                _cleanup_free_ char *v = dc_xasprintf("+%s", controller);
                if ((w = dc_write_file(sc, v)) == 0)
                        return 0;
        }
        _cleanup_free_ char *at = offering(parent, controller);
        if (!at)
                return 0;
        char o[1024];
        limit_origin(args, key, o, sizeof(o));
        if (ours && strcmp(at, parent) == 0)
                return dc_err(err, -w, "%s: cannot enable the %s controller in %s: %s", o, controller, sc,
                              strerror(-w));
        return dc_err(err, ENOTSUP,
                      "%s: the %s controller is not enabled for the children of %s, and diyctl changes no cgroup "
                      "it did not create: enable it there first (echo +%s > %s/cgroup.subtree_control)",
                      o, controller, at, controller, at);
}

int dc_cgroup_limits(const char *dir, const struct dc_kvs *args, bool parent_ours, unsigned *applied,
                     struct dc_error *err)
{
        const char *mem = dc_kvs_get(args, "memory");
        const char *cpus = dc_kvs_get(args, "cpus");
        const char *pids = dc_kvs_get(args, "pids");
        bool v2 = has(dir, "cgroup.controllers");
        int r;
        if (mem) {
                if (v2 && !has(dir, "memory.max") && (r = enable_v2(dir, "memory", parent_ours, args, "memory", err)) < 0)
                        return r;
                if (has(dir, "memory.max")) {
                        if ((r = put(dir, "memory.max", mem, err)) < 0)
                                return r;
                        if (has(dir, "memory.swap.max") && (r = put(dir, "memory.swap.max", "0", err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_MEMORY;
                } else if (has(dir, "memory.limit_in_bytes")) {
                        if ((r = put(dir, "memory.limit_in_bytes", mem, err)) < 0)
                                return r;
                        /* no swapping around the limit, where swap accounting exists */
                        if (has(dir, "memory.memsw.limit_in_bytes") &&
                            (r = put(dir, "memory.memsw.limit_in_bytes", mem, err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_MEMORY;
                }
        }
        if (cpus) {
                double c = strtod(cpus, NULL);
                long long quota = (long long)(c * 100000.0 + 0.5);
                char buf[64];
                if (v2 && !has(dir, "cpu.max") && (r = enable_v2(dir, "cpu", parent_ours, args, "cpus", err)) < 0)
                        return r;
                if (has(dir, "cpu.max")) {
                        snprintf(buf, sizeof(buf), "%lld 100000", quota);
                        if ((r = put(dir, "cpu.max", buf, err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_CPUS;
                } else if (has(dir, "cpu.cfs_quota_us")) {
                        if ((r = put(dir, "cpu.cfs_period_us", "100000", err)) < 0)
                                return r;
                        snprintf(buf, sizeof(buf), "%lld", quota);
                        if ((r = put(dir, "cpu.cfs_quota_us", buf, err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_CPUS;
                }
        }
        if (pids) {
                if (v2 && !has(dir, "pids.max") && (r = enable_v2(dir, "pids", parent_ours, args, "pids", err)) < 0)
                        return r;
                if (has(dir, "pids.max")) {
                        if ((r = put(dir, "pids.max", pids, err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_PIDS;
                }
        }
        return 0;
}

/* Each limit key, its bit and the controller that enforces it. */
static const struct {
        const char *key;
        unsigned bit;
        const char *controller;
} limit_keys[] = {
        { "memory", DC_LIMIT_MEMORY, "memory" },
        { "cpus", DC_LIMIT_CPUS, "cpu" },
        { "pids", DC_LIMIT_PIDS, "pids" },
};

int dc_cgroup_limits_check(const struct dc_kvs *args, unsigned applied, struct dc_error *err)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(limit_keys); i++)
                if (dc_kvs_get(args, limit_keys[i].key) && !(applied & limit_keys[i].bit)) {
                        char o[1024];
                        limit_origin(args, limit_keys[i].key, o, sizeof(o));
                        return dc_err(err, ENOTSUP, "%s: this host has no usable %s cgroup controller", o,
                                      limit_keys[i].controller);
                }
        return 0;
}

const char *dc_cgroup_missing_controller(const char *available, const struct dc_kvs *args)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(limit_keys); i++)
                if (dc_kvs_get(args, limit_keys[i].key) && !listed(available, limit_keys[i].controller))
                        return limit_keys[i].key;
        return NULL;
}

int dc_cgroup_limits_delegated(const char *hierarchy, const char *unit, const struct dc_kvs *args,
                               struct dc_error *err)
{
        _cleanup_free_ char *file = dc_xasprintf("%s/cgroup.controllers", unit);
        _cleanup_free_ char *avail = NULL;
        int r = dc_read_file(file, 4096, &avail);
        if (r < 0)
                return dc_err(err, -r, "%s: %s", file, strerror(-r));
        const char *key = dc_cgroup_missing_controller(avail, args);
        if (!key)
                return 0;
        const char *ctl = NULL;
        for (size_t i = 0; i < DC_ARRAY_SIZE(limit_keys); i++)
                if (strcmp(limit_keys[i].key, key) == 0)
                        ctl = limit_keys[i].controller;
        char o[1024];
        limit_origin(args, key, o, sizeof(o));
        avail[strcspn(avail, "\n")] = 0;
        /* A hybrid host (v2 at BASE/unified) whose controller is on a v1 hierarchy. */
        _cleanup_free_ char *base = dc_xstrdup(hierarchy);
        char *slash = strrchr(base, '/');
        bool hybrid = slash && strcmp(slash, "/unified") == 0;
        if (hybrid)
                *slash = 0;
        _cleanup_free_ char *v1 = dc_xasprintf("%s/%s/cgroup.procs", base, ctl);
        hybrid = hybrid && access(v1, F_OK) == 0;
        return dc_err(err, ENOTSUP, "%s: the %s controller is not delegated to %s (%s lists %s)%s", o, ctl,
                      unit + strlen(hierarchy), file, *avail ? avail : "none",
                      hybrid ? "; on this host it is on a cgroup v1 hierarchy, which is never delegated to an "
                               "unprivileged user: limits need cgroup v2 with the controller delegated, or root"
                             : "; the service manager that delegated it decides which controllers it gets "
                               "(systemd: Delegate= of the unit and of user@.service)");
}

/* After the container died of SIGKILL: was it the OOM killer? */
bool dc_cgroup_oom_killed(const struct dc_strv *dirs)
{
        for (size_t i = 0; i < dirs->n; i++) {
                static const char *const files[] = { "memory.events", "memory.oom_control" };
                for (size_t f = 0; f < DC_ARRAY_SIZE(files); f++) {
                        _cleanup_free_ char *p = dc_xasprintf("%s/%s", dirs->v[i], files[f]);
                        _cleanup_fclose_ FILE *fp = fopen(p, "re");
                        char line[128];
                        while (fp && fgets(line, sizeof(line), fp)) {
                                unsigned long long n;
                                if (sscanf(line, "oom_kill %llu", &n) == 1 && n > 0)
                                        return true;
                        }
                }
        }
        return false;
}

/* What the container uses now, for status: -1 when unknown. */
void dc_cgroup_usage(const struct dc_strv *dirs, long long *memory, long long *pids)
{
        *memory = -1;
        *pids = -1;
        for (size_t i = 0; i < dirs->n; i++) {
                static const char *const mem_files[] = { "memory.current", "memory.usage_in_bytes" };
                for (size_t f = 0; f < DC_ARRAY_SIZE(mem_files) && *memory < 0; f++) {
                        _cleanup_free_ char *p = dc_xasprintf("%s/%s", dirs->v[i], mem_files[f]);
                        _cleanup_free_ char *v = NULL;
                        if (dc_read_file(p, 64, &v) >= 0)
                                *memory = atoll(v);
                }
                if (*pids < 0) {
                        _cleanup_free_ char *p = dc_xasprintf("%s/pids.current", dirs->v[i]);
                        _cleanup_free_ char *v = NULL;
                        if (dc_read_file(p, 64, &v) >= 0)
                                *pids = atoll(v);
                }
        }
}
