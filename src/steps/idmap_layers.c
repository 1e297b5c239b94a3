/* idmap-layers: as root with a user namespace, hand the container's first
 * process each image layer as an idmapped mount.
 *
 * The root-owned image cache keeps the owners the image was built with (0
 * for most files, 33 for a web server's, ...). Seen from a user namespace
 * whose 0 is, say, 100000 on the host, those files would belong to nobody.
 * Instead of copying every layer once per map (shifting ids at unpack), the
 * launcher clones each layer's directory as a detached mount
 * (open_tree(OPEN_TREE_CLONE)), marks it read-only and idmapped with the
 * container's user namespace (mount_setattr(MOUNT_ATTR_IDMAP)), and passes
 * the mount's fd over the sync socket. Through such a mount a file the disk
 * says is owned by 33 is owned by the host uid the namespace maps 33 to, so
 * inside it is 33 again; the cache stays shared and is never written.
 *
 * The first process attaches the mounts in its own mount namespace and
 * stacks them with overlayfs (the rootfs step, exec/child_steps.c; overlayfs
 * takes idmapped layers since Linux 5.19). Nothing is mounted on the host:
 * the detached mounts exist only as fds until they are attached in the
 * container's namespace, so there is nothing to journal or undo. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/image.h"
#include "diyctl/util.h"
#include "steps.h"

static const char *idmap_hint(int e)
{
        if (e == ENOSYS)
                return " (idmapped mounts need Linux 5.12 or later)";
        if (e == EINVAL)
                return " (its file system cannot be idmapped: the image cache must be on ext4, xfs, btrfs or "
                       "another file system that supports idmapped mounts)";
        return "";
}

/* A read-only, idmapped, detached clone of DIR for the user namespace USERNS. */
static int idmapped_clone(const char *dir, int userns, struct dc_error *err)
{
        int fd = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "cannot clone the layer %s: %s%s", dir, strerror(errno),
                              errno == ENOSYS ? " (the new mount API needs Linux 5.2 or later)" : "");
        /* private: a clone joins the peer group of the mount it copies (a
         * shared / on most hosts), and mounts made under it in the container
         * would then show up on the host */
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY,
                                   .propagation = MS_PRIVATE,
                                   .userns_fd = (uint64_t)userns };
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
                int e = errno;
                close(fd);
                return dc_err(err, e, "cannot make an idmapped mount of the layer %s: %s%s", dir, strerror(e),
                              idmap_hint(e));
        }
        return fd;
}

static int idmap_layers_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        if (ctx->child <= 0 || ctx->launcher_sync < 0)
                return dc_err(err, EINVAL, "idmap-layers before the container's first process exists");
        _cleanup_free_ char *ns = dc_xasprintf("/proc/%d/ns/user", (int)ctx->child);
        _cleanup_close_ int userns = open(ns, O_RDONLY | O_CLOEXEC);
        if (userns < 0)
                return dc_err(err, errno, "%s: %s", ns, strerror(errno));
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "lower") != 0)
                        continue;
                int r = dc_cache_check_userns(s->args.v[i].val, err);
                if (r < 0)
                        return r;
                _cleanup_close_ int fd = idmapped_clone(s->args.v[i].val, userns, err);
                if (fd < 0)
                        return fd;
                r = dc_send_msg(ctx->launcher_sync, DC_MSG_LAYER, "", 1, fd);
                if (r < 0)
                        return dc_err(err, r, "cannot hand a layer to the container: %s", strerror(-r));
        }
        return 0;
}

static void idmap_layers_describe(const struct dc_step *s, FILE *out)
{
        size_t n = 0;
        for (size_t i = 0; i < s->args.n; i++)
                n += strcmp(s->args.v[i].key, "lower") == 0;
        fprintf(out, "idmapped read-only mounts of %zu layer%s for the user namespace (the image's owners stay "
                "the same inside; nothing mounted on the host)", n, n == 1 ? "" : "s");
}

const struct dc_step_ops dc_idmap_layers_ops = {
        .kind = "idmap-layers",
        .side = DC_SIDE_PARENT,
        .apply = idmap_layers_apply,
        .describe = idmap_layers_describe,
};
