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

/* On cgroup v2 a controller's files appear only once the parent enables it. */
static void enable_v2(const char *dir, const char *controller)
{
        _cleanup_free_ char *parent = dc_xstrdup(dir);
        char *slash = strrchr(parent, '/');
        if (!slash)
                return;
        *slash = 0;
        _cleanup_free_ char *sc = dc_xasprintf("%s/cgroup.subtree_control", parent);
        _cleanup_free_ char *v = dc_xasprintf("+%s", controller);
        dc_write_file(sc, v);
}

int dc_cgroup_limits(const char *dir, const struct dc_kvs *args, unsigned *applied, struct dc_error *err)
{
        const char *mem = dc_kvs_get(args, "memory");
        const char *cpus = dc_kvs_get(args, "cpus");
        const char *pids = dc_kvs_get(args, "pids");
        bool v2 = has(dir, "cgroup.controllers");
        int r;
        if (mem) {
                if (v2 && !has(dir, "memory.max"))
                        enable_v2(dir, "memory");
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
                if (v2 && !has(dir, "cpu.max"))
                        enable_v2(dir, "cpu");
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
                if (v2 && !has(dir, "pids.max"))
                        enable_v2(dir, "pids");
                if (has(dir, "pids.max")) {
                        if ((r = put(dir, "pids.max", pids, err)) < 0)
                                return r;
                        *applied |= DC_LIMIT_PIDS;
                }
        }
        return 0;
}

int dc_cgroup_limits_check(const struct dc_kvs *args, unsigned applied, struct dc_error *err)
{
        static const struct {
                const char *key;
                unsigned bit;
                const char *controller;
        } want[] = {
                { "memory", DC_LIMIT_MEMORY, "memory" },
                { "cpus", DC_LIMIT_CPUS, "cpu" },
                { "pids", DC_LIMIT_PIDS, "pids" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(want); i++)
                if (dc_kvs_get(args, want[i].key) && !(applied & want[i].bit))
                        return dc_err(err, ENOTSUP, "limits.%s: this host has no usable %s cgroup controller",
                                      want[i].key, want[i].controller);
        return 0;
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
