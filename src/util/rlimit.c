#include "diyctl/rlimit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "diyctl/util.h"

const char *const dc_rlimit_names[DC_RLIMIT_N] = {
        "as",   "core",  "cpu",    "data",   "fsize", "locks",  "memlock", "msgqueue",
        "nice", "nofile", "nproc", "rss",    "rtprio", "rttime", "sigpending", "stack",
};

static const int resources[DC_RLIMIT_N] = {
        RLIMIT_AS,   RLIMIT_CORE,   RLIMIT_CPU,  RLIMIT_DATA,   RLIMIT_FSIZE,  RLIMIT_LOCKS,      RLIMIT_MEMLOCK,
        RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RSS, RLIMIT_RTPRIO, RLIMIT_RTTIME,
        RLIMIT_SIGPENDING, RLIMIT_STACK,
};

int dc_rlimit_resource(size_t index)
{
        return index < DC_RLIMIT_N ? resources[index] : -1;
}

int dc_rlimit_index(const char *name)
{
        for (size_t i = 0; name && i < DC_RLIMIT_N; i++)
                if (strcmp(dc_rlimit_names[i], name) == 0)
                        return (int)i;
        return -1;
}

/* One value: decimal digits below RLIM_INFINITY, or "unlimited"/"infinity". */
static int parse_one(const char *s, size_t n, rlim_t *out)
{
        if ((n == 9 && strncmp(s, "unlimited", 9) == 0) || (n == 8 && strncmp(s, "infinity", 8) == 0) ||
            (n == 2 && strncmp(s, "-1", 2) == 0)) { /* Docker's spelling of unlimited */
                *out = RLIM_INFINITY;
                return 0;
        }
        if (n == 0 || n > 20)
                return -EINVAL;
        unsigned long long v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(s[i] - '0');
                if (v > (RLIM_INFINITY - 1 - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

int dc_rlimit_parse(const char *s, struct rlimit *out)
{
        if (!s)
                return -EINVAL;
        const char *colon = strchr(s, ':');
        struct rlimit r;
        if (parse_one(s, colon ? (size_t)(colon - s) : strlen(s), &r.rlim_cur) < 0)
                return -EINVAL;
        r.rlim_max = r.rlim_cur;
        if (colon && parse_one(colon + 1, strlen(colon + 1), &r.rlim_max) < 0)
                return -EINVAL;
        *out = r;
        return 0;
}

static void format_one(rlim_t v, char *buf, size_t size)
{
        if (v == RLIM_INFINITY)
                snprintf(buf, size, "unlimited");
        else
                snprintf(buf, size, "%llu", (unsigned long long)v);
}

void dc_rlimit_format(const struct rlimit *r, char *buf, size_t size)
{
        char soft[24], hard[24];
        format_one(r->rlim_cur, soft, sizeof(soft));
        format_one(r->rlim_max, hard, sizeof(hard));
        if (r->rlim_cur == r->rlim_max)
                snprintf(buf, size, "%s", soft);
        else
                snprintf(buf, size, "%s:%s", soft, hard);
}

void dc_rlimit_add_arg(struct dc_kvs *args, size_t index, const struct rlimit *r, const char *origin)
{
        char soft[24], hard[24];
        format_one(r->rlim_cur, soft, sizeof(soft));
        format_one(r->rlim_max, hard, sizeof(hard));
        dc_kvs_addf(args, "rlimit", "%s %s %s", dc_rlimit_names[index], soft, hard);
        dc_kvs_add(args, "rlimit-origin", origin);
}

/* The Nth "rlimit" argument: its table index and values; and its origin. */
struct arg {
        int index;
        struct rlimit r;
        const char *origin;
};

static int next_arg(const struct dc_kvs *a, size_t *pos, size_t *nth, struct arg *out, struct dc_error *err)
{
        for (; *pos < a->n; (*pos)++) {
                if (strcmp(a->v[*pos].key, "rlimit") != 0)
                        continue;
                const char *v = a->v[(*pos)++].val;
                char name[16], soft[24], hard[24];
                if (sscanf(v, "%15s %23s %23s", name, soft, hard) != 3 || (out->index = dc_rlimit_index(name)) < 0 ||
                    parse_one(soft, strlen(soft), &out->r.rlim_cur) < 0 ||
                    parse_one(hard, strlen(hard), &out->r.rlim_max) < 0)
                        return dc_err(err, EINVAL, "bad rlimit argument \"%s\"", v);
                /* its origin: the rlimit-origin of the same rank */
                out->origin = NULL;
                for (size_t i = 0, k = 0; i < a->n; i++)
                        if (strcmp(a->v[i].key, "rlimit-origin") == 0 && k++ == *nth) {
                                out->origin = a->v[i].val;
                                break;
                        }
                (*nth)++;
                return 1;
        }
        return 0;
}

static const char *origin_or_key(const struct arg *g, char *buf, size_t size)
{
        if (g->origin)
                return g->origin;
        snprintf(buf, size, "process.rlimits.%s", dc_rlimit_names[g->index]);
        return buf;
}

int dc_rlimits_raise(int pid, const struct dc_kvs *args, struct dc_error *err)
{
        struct arg g;
        size_t pos = 0, nth = 0;
        int r;
        while ((r = next_arg(args, &pos, &nth, &g, err)) > 0) {
                int res = dc_rlimit_resource((size_t)g.index);
                struct rlimit cur;
                if (prlimit(pid, res, NULL, &cur) < 0)
                        return dc_err(err, errno, "cannot read the %s limit: %s", dc_rlimit_names[g.index],
                                      strerror(errno));
                /* only ever up (RLIM_INFINITY is the largest value); the
                 * process sets its limits exactly, lowering is its own */
                if (cur.rlim_max >= g.r.rlim_max)
                        continue;
                struct rlimit up = { .rlim_cur = cur.rlim_cur, .rlim_max = g.r.rlim_max };
                if (prlimit(pid, res, &up, NULL) == 0)
                        continue;
                int e = errno;
                char key[64], have[24], want[24];
                format_one(cur.rlim_max, have, sizeof(have));
                format_one(g.r.rlim_max, want, sizeof(want));
                const char *o = origin_or_key(&g, key, sizeof(key));
                if (e == EPERM && g.index == dc_rlimit_index("nofile")) {
                        _cleanup_free_ char *nr = NULL;
                        if (dc_read_file("/proc/sys/fs/nr_open", 64, &nr) >= 0 && g.r.rlim_max != RLIM_INFINITY &&
                            g.r.rlim_max > strtoull(nr, NULL, 10))
                                return dc_err(err, e, "%s: a hard limit of %s is above the kernel's fs.nr_open (%llu)",
                                              o, want, strtoull(nr, NULL, 10));
                        if (g.r.rlim_max == RLIM_INFINITY)
                                return dc_err(err, e, "%s: nofile cannot be unlimited: the kernel allows at most "
                                              "fs.nr_open", o);
                }
                if (e == EPERM)
                        return dc_err(err, e, "%s: cannot raise the hard limit from %s to %s: that takes "
                                      "CAP_SYS_RESOURCE on the host (root), which this launcher has not", o, have, want);
                return dc_err(err, e, "%s: cannot raise the hard limit to %s: %s", o, want, strerror(e));
        }
        return r;
}

int dc_rlimits_set(const struct dc_kvs *args, struct dc_error *err)
{
        struct arg g;
        size_t pos = 0, nth = 0;
        int r;
        while ((r = next_arg(args, &pos, &nth, &g, err)) > 0) {
                if (setrlimit(dc_rlimit_resource((size_t)g.index), &g.r) == 0)
                        continue;
                int e = errno;
                char key[64], soft[24], hard[24];
                format_one(g.r.rlim_cur, soft, sizeof(soft));
                format_one(g.r.rlim_max, hard, sizeof(hard));
                return dc_err(err, e, "%s: cannot set %s:%s: %s", origin_or_key(&g, key, sizeof(key)), soft, hard,
                              strerror(e));
        }
        return r;
}
