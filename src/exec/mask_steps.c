/* Child steps that close the kernel's doors, run after pivot_root, the last
 * thing before the process starts:
 *
 *   readonly  bind each path (/proc/sys, /proc/bus, ...) on itself, read-only
 *   mask      an empty read-only file or directory over each path (/proc/kcore,
 *             /proc/keys, /sys/firmware, ...)
 *   nodev     nodev on every mount of the container but our devpts and the
 *             device nodes we bound (from a mount that allows devices): a node
 *             made with mknod, or shipped in the rootfs, cannot be opened
 *
 * Everything goes by file descriptor (the new mount API): each path is
 * resolved inside the root (dc_open_in_root), the new mount is prepared
 * detached (open_tree, fsmount), made read-only before it is attached
 * (mount_setattr), and attached to the fd (move_mount). A path the kernel
 * does not have (no /proc/sysrq-trigger without CONFIG_MAGIC_SYSRQ) is
 * skipped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/fs.h"
#include "diyctl/util.h"
#include "steps/steps.h"

static void describe_paths(const struct dc_step *s, FILE *out, const char *what)
{
        fputs(what, out);
        bool first = true;
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "path") != 0)
                        continue;
                fprintf(out, "%s%s", first ? ": " : " ", s->args.v[i].val);
                first = false;
        }
}

/* PATH inside the root, or -ENOENT (quietly) when the kernel has no such file. */
static int open_target(struct dc_exec_ctx *ctx, const char *path, struct dc_error *err)
{
        struct dc_error e = { 0 };
        int fd = dc_open_in_root(ctx->root_fd, path, DC_CREATE_NONE, &e);
        if (fd == -ENOENT)
                return fd;
        if (fd < 0)
                return dc_err(err, -fd, "%s: %s", path, strerror(-fd));
        return fd;
}

static int attach(int tree, int target, const char *path, struct dc_error *err)
{
        if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return dc_err(err, errno, "cannot mount over %s: %s", path, strerror(errno));
        return 0;
}

/* --- readonly ------------------------------------------------------------ */

static int readonly_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "path") != 0)
                        continue;
                const char *path = s->args.v[i].val;
                _cleanup_close_ int fd = open_target(ctx, path, err);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                _cleanup_close_ int tree =
                        open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
                if (tree < 0)
                        return dc_err(err, errno, "cannot bind %s: %s", path, strerror(errno));
                struct mount_attr attr = {
                        .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                };
                if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                        return dc_err(err, errno, "cannot make %s read-only: %s", path, strerror(errno));
                int r = attach(tree, fd, path, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void readonly_describe(const struct dc_step *s, FILE *out)
{
        describe_paths(s, out, "read-only");
}

const struct dc_step_ops dc_readonly_ops = {
        .kind = "readonly",
        .side = DC_SIDE_CHILD,
        .apply = readonly_apply,
        .describe = readonly_describe,
};

/* --- mask ---------------------------------------------------------------- */

/* A new, empty, read-only tmpfs, detached. With file: it holds one empty
 * file "empty" (mode 0). */
static int empty_tmpfs(bool file, struct dc_error *err)
{
        _cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0)
                return dc_err(err, errno, "fsopen tmpfs: %s", strerror(errno));
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return dc_err(err, errno, "cannot create a tmpfs: %s", strerror(errno));
        _cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                                          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (mnt < 0)
                return dc_err(err, errno, "cannot mount a tmpfs: %s", strerror(errno));
        if (file) {
                int f = openat(mnt, "empty", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
                if (f < 0)
                        return dc_err(err, errno, "cannot create an empty file: %s", strerror(errno));
                close(f);
        }
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return dc_err(err, errno, "cannot make a tmpfs read-only: %s", strerror(errno));
        return DC_TAKE_FD(mnt);
}

/* The empty file the masks of files are bound from, made in the container's
 * own /dev (a fresh tmpfs of ours, nothing of the rootfs in it) and unlinked
 * once every mask is in place. A detached tmpfs (empty_tmpfs) would do as
 * well, but closing a detached mount dissolves it, and that waits for an RCU
 * grace period: milliseconds on every start (bench/README.md). Returns an
 * fd of the file, with *dev the directory to unlink it from, or
 * -ENOENT when /dev is not a directory we can write to. */
#define MASK_FILE ".diyctl-mask"
static int empty_dev_file(struct dc_exec_ctx *ctx, int *dev)
{
        struct dc_error ignored = { 0 };
        _cleanup_close_ int d = dc_open_in_root(ctx->root_fd, "/dev", DC_CREATE_NONE, &ignored);
        if (d < 0)
                return -ENOENT;
        _cleanup_close_ int dir = openat(d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return -ENOENT;
        /* the new file's own fd serves as well as an O_PATH one to bind from */
        int fd = openat(dir, MASK_FILE, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0)
                return -ENOENT;
        *dev = DC_TAKE_FD(dir);
        return fd;
}

static void unlink_dev_file(int *dev)
{
        if (*dev >= 0) {
                unlinkat(*dev, MASK_FILE, 0);
                close(*dev);
        }
        *dev = -1;
}

static int mask_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        _cleanup_close_ int files = -1; /* the tmpfs holding the empty file, made once */
        /* The first masked directory gets a new empty tmpfs; the others a
         * clone of that mount once it is attached (one file system for all:
         * each one more costs its making and, when the container ends, its
         * tearing down). */
        _cleanup_close_ int empty_dir = -1;
        __attribute__((cleanup(unlink_dev_file))) int dev = -1; /* or /dev, holding it */
        _cleanup_close_ int devfile = empty_dev_file(ctx, &dev);
        for (size_t i = 0; i < s->args.n; i++) {
                if (strcmp(s->args.v[i].key, "path") != 0)
                        continue;
                const char *path = s->args.v[i].val;
                _cleanup_close_ int fd = open_target(ctx, path, err);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return dc_err(err, errno, "%s: %s", path, strerror(errno));
                _cleanup_close_ int tree = -1;
                bool dir = S_ISDIR(st.st_mode), null_mask = false;
                if (dir ? empty_dir >= 0 : devfile >= 0) {
                        tree = open_tree(dir ? empty_dir : devfile, "",
                                         AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                        /* A clone keeps its mount's flags: the empty tmpfs has
                         * these already, the container's /dev does not. */
                        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                               MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
                        if (tree < 0 || (!dir && mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0))
                                return dc_err(err, errno, "cannot mask %s: %s", path, strerror(errno));
                } else if (dir) {
                        tree = empty_tmpfs(false, err);
                        if (tree < 0)
                                return tree;
                } else {
                        if (files < 0 && (files = empty_tmpfs(true, err)) < 0)
                                return files;
                        tree = open_tree(files, "empty", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                        if (tree < 0 && errno == EINVAL) {
                                /* A kernel before 6.15 clones no detached mount:
                                 * the container's /dev/null then (reads are
                                 * empty; writes vanish). */
                                _cleanup_close_ int null = open_target(ctx, "/dev/null", err);
                                if (null < 0)
                                        return dc_err(err, EINVAL, "cannot mask %s: no /dev/null", path);
                                tree = open_tree(null, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                                null_mask = true;
                        }
                        if (tree < 0)
                                return dc_err(err, errno, "cannot mask %s: %s", path, strerror(errno));
                }
                int r = attach(tree, fd, path, err);
                if (r < 0)
                        return r;
                /* attached now: the mount the next directories get a clone of */
                if (S_ISDIR(st.st_mode) && empty_dir < 0)
                        empty_dir = DC_TAKE_FD(tree);
                else if (null_mask && tree >= 0)
                        dc_keep_dev_mount(ctx, DC_TAKE_FD(tree)); /* it must stay /dev/null for nodev */
        }
        return 0;
}

static void mask_describe(const struct dc_step *s, FILE *out)
{
        describe_paths(s, out, "hide (an empty read-only file or directory over each)");
}

const struct dc_step_ops dc_mask_ops = {
        .kind = "mask",
        .side = DC_SIDE_CHILD,
        .apply = mask_apply,
        .describe = mask_describe,
};

/* --- nodev --------------------------------------------------------------- */

void dc_keep_dev_mount(struct dc_exec_ctx *ctx, int fd)
{
        ctx->dev_mounts = dc_xrealloc(ctx->dev_mounts, (ctx->n_dev_mounts + 1) * sizeof(int));
        ctx->dev_mounts[ctx->n_dev_mounts++] = fd;
}

/* nodev on the whole tree at once (the root and every mount below it, which
 * after pivot_root is every mount of the container), then device access
 * given back to the mounts recorded as they were made: the bound device
 * nodes whose own mount had it, and our devpts. No mount table is read. */
static int nodev_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        int r = 0;
        struct mount_attr set = { .attr_set = MOUNT_ATTR_NODEV };
        if (mount_setattr(ctx->root_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &set, sizeof(set)) < 0)
                r = dc_err(err, errno, "cannot set nodev on the container's mounts: %s", strerror(errno));
        struct mount_attr clr = { .attr_clr = MOUNT_ATTR_NODEV };
        for (size_t i = 0; i < ctx->n_dev_mounts; i++) {
                int fd = ctx->dev_mounts[i];
                if (r == 0 && (mount_setattr(fd, "", AT_EMPTY_PATH, &clr, sizeof(clr)) < 0 ||
                               (dc_fault_is("child:nodev-keep") && (errno = EPERM)))) {
                        /* the mount by its place in the container, as a user knows it */
                        int e = errno;
                        char where[256];
                        ssize_t n = readlink(dc_fdpath(fd).s, where, sizeof(where) - 1);
                        where[n > 0 ? n : 0] = 0;
                        r = dc_err(err, e, "cannot give device access back to %s: %s",
                                   n > 0 ? where : dc_fdpath(fd).s, strerror(e));
                }
                close(fd);
        }
        free(ctx->dev_mounts);
        ctx->dev_mounts = NULL;
        ctx->n_dev_mounts = 0;
        return r;
}

static void nodev_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("nodev on every mount but our devpts and the device nodes bound from a mount that allows devices",
              out);
}

const struct dc_step_ops dc_nodev_ops = {
        .kind = "nodev",
        .side = DC_SIDE_CHILD,
        .apply = nodev_apply,
        .describe = nodev_describe,
};
