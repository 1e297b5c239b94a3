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
 * container's namespace, so there is nothing to journal or undo.
 *
 * A directory rootfs ("source", rootfs.idmap) is handed over the same way:
 * read-only under the container's overlay or read-only root, or writable
 * with rootfs.writable = "direct" (rootfs.idmap = true), where a file the
 * container's root makes belongs to the host's root on disk. With "auto", a
 * file system that cannot be idmapped sends no mount ("-"), and the first
 * process uses the directory as it is. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/fs.h"
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

/* An idmapped, detached clone of DIR for the user namespace USERNS,
 * read-only unless WRITABLE; or -errno, with *OP the call that failed.
 * With NO_LINKS, DIR is reached without following a link: a source given by
 * the config (a volume's, a directory rootfs) may be on a path the container
 * can change, and a link put there would lead the clone, made by the host's
 * root, anywhere on the host (check refuses a configured path with a link
 * on it; this catches one put there since). */
static int idmapped_clone(const char *dir, int userns, bool writable, bool no_links, const char **op)
{
        *op = "open (without following links)";
        _cleanup_close_ int src = no_links ? dc_open_no_links(dir, O_PATH) : -1;
        if (no_links && src < 0)
                return src;
        *op = "clone";
        int fd = no_links ? open_tree(src, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
                          : open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* private: a clone joins the peer group of the mount it copies (a
         * shared / on most hosts), and mounts made under it in the container
         * would then show up on the host */
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | (writable ? 0 : MOUNT_ATTR_RDONLY),
                                   .propagation = MS_PRIVATE,
                                   .userns_fd = (uint64_t)userns };
        *op = "make an idmapped mount of";
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

static const char *api_hint(int e)
{
        return e == ENOSYS ? " (the new mount API needs Linux 5.2 or later)" : "";
}

/* Why idmapped_clone failed at OP with E, for a source of the config. */
static const char *clone_hint(const char *op, int e)
{
        if (strncmp(op, "open", 4) == 0)
                return e == ELOOP ? " (a part of its path is a link now: an idmapped source is never reached "
                                    "through one)"
                                  : "";
        if (strcmp(op, "clone") == 0)
                return api_hint(e);
        return e == EINVAL ? " (its file system does not support idmapped mounts)"
               : e == EPERM ? " (it is on an idmapped mount already)"
                            : idmap_hint(e);
}

/* The directory rootfs of rootfs.idmap, or with "auto" where it cannot be
 * idmapped, the "-" that says "use it as it is". */
static int idmap_source(const struct dc_step *s, const char *dir, int userns, struct dc_exec_ctx *ctx,
                        struct dc_error *err)
{
        bool writable = dc_streq(dc_kvs_get(&s->args, "writable"), "1");
        bool fallback = dc_streq(dc_kvs_get(&s->args, "auto"), "1");
        const char *origin = dc_kvs_get(&s->args, "origin");
        if (!origin)
                origin = "rootfs.idmap";
        const char *op;
        int fd = idmapped_clone(dir, userns, writable, true, &op);
        /* mount_setattr's EINVAL: the file system has no idmapped mounts;
         * EPERM: the directory is on an idmapped mount already; ENOSYS: a
         * kernel before 5.12. "auto" then uses the directory as it is. */
        bool clone_failed = fd < 0 && strncmp(op, "make", 4) != 0;
        bool unsupported = !clone_failed && (fd == -EINVAL || fd == -EPERM || fd == -ENOSYS);
        if (fd < 0 && !(unsupported && fallback))
                return dc_err(err, -fd, "%s: cannot %s the rootfs %s: %s%s%s", origin, op, dir, strerror(-fd),
                              clone_hint(op, -fd), clone_failed ? "" : "; rootfs.idmap = false uses it as it is");
        /* what "auto" came to, for `diyctl status` (its vars) */
        if (fd >= 0)
                dc_kvs_set(&ctx->vars, "rootfs.idmap", "idmapped");
        else {
                _cleanup_free_ char *why = dc_xasprintf("the directory as it is (%s%s)", strerror(-fd),
                                                        clone_hint(op, -fd));
                dc_kvs_set(&ctx->vars, "rootfs.idmap", why);
        }
        int r = fd >= 0 ? dc_send_msg(ctx->launcher_sync, DC_MSG_LAYER, "", 1, fd)
                        : dc_send_msg(ctx->launcher_sync, DC_MSG_LAYER, "-", 1, -1);
        if (fd >= 0)
                close(fd);
        if (r < 0)
                return dc_err(err, r, "cannot hand the rootfs to the container: %s", strerror(-r));
        return 0;
}

/* The "volume" args ("ro PATH" or "rw PATH", then "volume-origin"): an
 * idmapped clone of each, read-only for "ro" (which the container cannot
 * undo without CAP_SYS_ADMIN, which check refuses with one: plan/security.c;
 * in a nested user namespace the flag is locked). */
static int idmap_volumes(const struct dc_step *s, int userns, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "volume") != 0)
                        continue;
                const char *v = s->args.v[i].val;
                bool rw = strncmp(v, "rw ", 3) == 0;
                const char *dir = v + 3;
                const char *origin = i + 1 < s->args.n && strcmp(s->args.v[i + 1].key, "volume-origin") == 0
                                             ? s->args.v[i + 1].val
                                             : "volumes[].idmap";
                const char *op;
                _cleanup_close_ int fd = idmapped_clone(dir, userns, rw, true, &op);
                if (fd < 0)
                        return dc_err(err, -fd, "%s: cannot %s the volume source %s: %s%s", origin, op, dir,
                                      strerror(-fd), clone_hint(op, -fd));
                int r = dc_send_msg(ctx->launcher_sync, DC_MSG_VOLUME, "", 1, fd);
                if (r < 0)
                        return dc_err(err, r, "cannot hand a volume to the container: %s", strerror(-r));
        }
        return 0;
}

static int idmap_layers_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        if (ctx->child <= 0 || ctx->launcher_sync < 0)
                return dc_err(err, EINVAL, "idmap-layers before the container's first process exists");
        _cleanup_free_ char *ns = dc_xasprintf("/proc/%d/ns/user", (int)ctx->child);
        _cleanup_close_ int userns = open(ns, O_RDONLY | O_CLOEXEC);
        if (userns < 0)
                return dc_err(err, errno, "%s: %s", ns, strerror(errno));
        /* volumes[].idmap, in the order they are mounted, each followed by
         * its origin: first, they go to another list than the layers */
        int r = idmap_volumes(s, userns, ctx, err);
        if (r < 0)
                return r;
        const char *source = dc_kvs_get(&s->args, "source");
        if (source)
                return idmap_source(s, source, userns, ctx, err);
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "lower") != 0)
                        continue;
                const char *dir = s->args.v[i].val;
                r = dc_cache_check_userns(dir, err);
                if (r < 0)
                        return r;
                const char *op;
                _cleanup_close_ int fd = idmapped_clone(dir, userns, false, false, &op);
                if (fd < 0)
                        return dc_err(err, -fd, "cannot %s the layer %s: %s%s", op, dir, strerror(-fd),
                                      strcmp(op, "clone") == 0 ? api_hint(-fd) : idmap_hint(-fd));
                r = dc_send_msg(ctx->launcher_sync, DC_MSG_LAYER, "", 1, fd);
                if (r < 0)
                        return dc_err(err, r, "cannot hand a layer to the container: %s", strerror(-r));
        }
        return 0;
}

static void idmap_layers_describe(const struct dc_step *s, FILE *out)
{
        size_t nv = 0, nl = 0;
        for (size_t i = 0; i < s->args.n; i++) {
                nv += strcmp(s->args.v[i].key, "volume") == 0;
                nl += strcmp(s->args.v[i].key, "lower") == 0;
        }
        const char *source = dc_kvs_get(&s->args, "source");
        if (nv) {
                fputs("idmapped mounts of the volume source", out);
                fputs(nv == 1 ? " " : "s ", out);
                const char *sep = "";
                for (size_t i = 0; i < s->args.n; i++)
                        if (strcmp(s->args.v[i].key, "volume") == 0) {
                                const char *v = s->args.v[i].val;
                                fprintf(out, "%s%s (%s)", sep, v + 3,
                                        strncmp(v, "rw ", 3) == 0 ? "writable: files the container makes belong "
                                                                    "on the host to the ids it names"
                                                                  : "read-only");
                                sep = ", ";
                        }
                if (!source && !nl)
                        return;
                fputs("; ", out);
        }
        if (source) {
                bool writable = dc_streq(dc_kvs_get(&s->args, "writable"), "1");
                fprintf(out, "an idmapped %s mount of the rootfs %s for the user namespace (its owners are the same "
                        "inside%s; nothing mounted on the host)%s",
                        writable ? "writable" : "read-only", source,
                        writable ? ", and files the container makes belong on disk to the ids it names: the user "
                                   "namespace does not protect this directory"
                                 : "",
                        dc_streq(dc_kvs_get(&s->args, "auto"), "1")
                                ? "; where it cannot be idmapped (its file system, an idmapped mount already), the "
                                  "directory as it is"
                                : "");
                return;
        }
        fprintf(out, "idmapped read-only mounts of %zu layer%s for the user namespace (the image's owners stay "
                "the same inside; nothing mounted on the host)", nl, nl == 1 ? "" : "s");
}

const struct dc_step_ops dc_idmap_layers_ops = {
        .kind = "idmap-layers",
        .side = DC_SIDE_PARENT,
        .apply = idmap_layers_apply,
        .describe = idmap_layers_describe,
};
