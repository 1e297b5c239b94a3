/* netns: bind the container's network namespace to /run/netns/diyctl-NAME so
 * `ip netns exec diyctl-NAME ...` works while it runs. A host mount, journaled;
 * /run/netns itself is created (and later removed) only if it was missing.
 *
 * loopback-up: the launcher brings up the container's lo (a parent step: on
 * the container only, nothing of the host's changes). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"
#include "net/nl.h"
#include "steps.h"

static int netns_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *dir = dc_kvs_get(&s->args, "dir");
        const char *path = dc_kvs_get(&s->args, "path");
        struct dc_kvs extra = { 0 };
        bool create_dir = access(dir, F_OK) < 0;
        dc_kvs_add(&extra, "create_dir", create_dir ? "1" : "0");
        unsigned seq;
        int r = dc_step_intent(ctx, s, &extra, &seq, err);
        dc_kvs_free(&extra);
        if (r < 0)
                return r;
        if (create_dir && mkdir(dir, 0755) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create %s: %s", dir, strerror(errno));
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return dc_err(err, errno, "cannot create %s: %s", path, strerror(errno));
        close(fd);
        _cleanup_free_ char *src = dc_xasprintf("/proc/%d/ns/net", (int)ctx->child);
        if (mount(src, path, NULL, MS_BIND, NULL) < 0)
                return dc_err(err, errno, "cannot bind %s on %s: %s", src, path, strerror(errno));
        return dc_step_done(ctx, s, seq, NULL, err);
}

static int netns_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *path = dc_kvs_get(rec, "path");
        const char *dir = dc_kvs_get(rec, "dir");
        if (!path || !dir || !dc_startswith(path, dir))
                return dc_err(err, EINVAL, "netns record without its path");
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return dc_err(err, errno, "cannot unmount %s: %s", path, strerror(errno));
        if (unlink(path) < 0 && errno != ENOENT)
                return dc_err(err, errno, "cannot remove %s: %s", path, strerror(errno));
        /* Ours to remove only if we created it and nobody else uses it now. */
        if (dc_streq(dc_kvs_get(rec, "create_dir"), "1") && rmdir(dir) < 0 && errno != ENOENT &&
            errno != ENOTEMPTY && errno != EBUSY)
                return dc_err(err, errno, "cannot remove %s: %s", dir, strerror(errno));
        return 0;
}

static void netns_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "bind the network namespace on %s (for ip netns exec)", dc_kvs_get(&s->args, "path"));
}

const struct dc_step_ops dc_netns_ops = {
        .kind = "netns",
        .side = DC_SIDE_HOST,
        .apply = netns_apply,
        .undo = netns_undo,
        .describe = netns_describe,
};

/* As root, the launcher does it, while the first process makes its mounts:
 * off the start's critical path (bench/README.md), through a route netlink
 * socket made in the container's network namespace, as link-up does. */
static int loopback_up_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        _cleanup_nl_ struct nl_sock *sk = NULL;
        int r = dc_nl_open(ctx->child, &sk, err);
        if (r < 0)
                return r;
        return dc_nl_link_up(sk, "lo", err);
}

static void loopback_up_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("bring up lo in the container's network namespace (the launcher does it)", out);
}

const struct dc_step_ops dc_loopback_up_ops = {
        .kind = "loopback-up",
        .side = DC_SIDE_PARENT,
        .apply = loopback_up_apply,
        .describe = loopback_up_describe,
};
