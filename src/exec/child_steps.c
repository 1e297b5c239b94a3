/* Child-side steps: they run in the container's first process, inside its
 * new mount namespace, before pivot_root. Nothing here is visible on the host,
 * so nothing is journaled. Every path inside the rootfs is resolved within it
 * (dc_open_in_root) and mounted by file descriptor. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/fs.h"
#include "diyctl/security.h"
#include "diyctl/util.h"
#include "steps/steps.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define DC_MOUNT_ATTR_RDONLY 0x00000001

struct dc_mount_attr {
        uint64_t attr_set;
        uint64_t attr_clr;
        uint64_t propagation;
        uint64_t userns_fd;
};

/* Make the mount at fd (and, with recursive, everything below it) read-only. */
static int set_readonly(int fd, bool recursive, const char *what, struct dc_error *err)
{
        struct dc_mount_attr attr = { .attr_set = DC_MOUNT_ATTR_RDONLY };
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                    sizeof(attr)) < 0)
                return dc_err(err, errno, "cannot make %s read-only: %s", what, strerror(errno));
        return 0;
}

static unsigned long parse_flags(const char *s)
{
        static const struct {
                const char *name;
                unsigned long flag;
        } map[] = {
                { "ro", MS_RDONLY }, { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV },
                { "noexec", MS_NOEXEC }, { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
        };
        unsigned long flags = 0;
        if (!s)
                return 0;
        _cleanup_free_ char *copy = dc_xstrdup(s);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                for (size_t i = 0; i < DC_ARRAY_SIZE(map); i++)
                        if (strcmp(t, map[i].name) == 0)
                                flags |= map[i].flag;
        return flags;
}

static void describe_args(const struct dc_step *s, FILE *out)
{
        for (size_t i = 0; i < s->args.n; i++)
                fprintf(out, "%s%s=%s", i ? " " : "", s->args.v[i].key, s->args.v[i].val);
}

/* --- make-private ------------------------------------------------------ */

static int make_private_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        (void)ctx;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return dc_err(err, errno, "cannot make / private: %s", strerror(errno));
        return 0;
}

static void make_private_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("mount --make-rprivate / (nothing propagates back to the host)", out);
}

const struct dc_step_ops dc_make_private_ops = {
        .kind = "make-private",
        .side = DC_SIDE_CHILD,
        .apply = make_private_apply,
        .describe = make_private_describe,
};

/* --- rootfs ------------------------------------------------------------ */

static int mkdir_in(int dfd, const char *name, struct dc_error *err)
{
        if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create %s: %s", name, strerror(errno));
        return 0;
}

static int open_dir(int dfd, const char *name, struct dc_error *err)
{
        int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", name, strerror(errno));
        return fd;
}

/* LOWER is the lowerdir option: one or more /proc/self/fd/N, top first.
 * upper < 0: a read-only overlay of the lowers alone. */
static int mount_overlay(const char *lower, int upper, int work, const char *target, bool userns, bool idmapped,
                         unsigned long flags, struct dc_error *err)
{
        struct dc_fdpath u = dc_fdpath(upper), w = dc_fdpath(work);
        /* in a user namespace overlayfs keeps its metadata in user.* xattrs */
        _cleanup_free_ char *opts = upper >= 0 ? dc_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s%s", lower, u.s, w.s,
                                                              userns ? ",userxattr" : "")
                                               : dc_xasprintf("lowerdir=%s%s", lower, userns ? ",userxattr" : "");
        if (strlen(opts) >= 4000)
                return dc_err(err, E2BIG, "too many layers for one overlay mount (%zu bytes of options)", strlen(opts));
        if (mount("overlay", target, "overlay", flags | (upper >= 0 ? 0 : MS_RDONLY), opts) < 0)
                return dc_err(err, errno, "cannot mount the overlay root on %s: %s%s", target, strerror(errno),
                              idmapped && (errno == EINVAL || errno == EPERM)
                                      ? " (overlayfs takes idmapped layers since Linux 5.19)"
                                      : "");
        return 0;
}

/* MS_NOSUID and MS_NOEXEC of the mount FD is on. */
static unsigned long mount_flags_of(int fd)
{
        struct statvfs sv;
        if (fstatvfs(fd, &sv) < 0)
                return 0;
        return (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
}

/* The lower layers: "source" (a directory rootfs), or the "lower" args of an
 * image or tarball (cache entries, top first), opened now and named by fd. */
struct lowers {
        int fd[512];
        size_t n;
        char *opt;
};

static void lowers_free(struct lowers *l)
{
        for (size_t i = 0; i < l->n; i++)
                close(l->fd[i]);
        free(l->opt);
}

static int add_lower(struct lowers *l, int fd, struct dc_error *err)
{
        if (l->n == DC_ARRAY_SIZE(l->fd)) {
                close(fd);
                return dc_err(err, E2BIG, "too many layers");
        }
        l->fd[l->n++] = fd;
        char *o = l->opt ? dc_xasprintf("%s:%s", l->opt, dc_fdpath(fd).s) : dc_xstrdup(dc_fdpath(fd).s);
        free(l->opt);
        l->opt = o;
        return 0;
}

static int open_lowers(const struct dc_step *s, struct lowers *l, struct dc_error *err)
{
        for (size_t i = 0; i < s->args.n; i++) {
                const char *k = s->args.v[i].key, *dir = s->args.v[i].val;
                if (strcmp(k, "source") != 0 && strcmp(k, "lower") != 0)
                        continue;
                int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return dc_err(err, errno, "rootfs %s: %s", dir, strerror(errno));
                int r = add_lower(l, fd, err);
                if (r < 0)
                        return r;
        }
        if (!l->n)
                return dc_err(err, EINVAL, "rootfs step without a source");
        return 0;
}

/* Idmapped layers (steps/idmap_layers.c): detached mounts the launcher sent,
 * top first. Each is attached on a directory of the tmpfs HOLDER (which the
 * root is then mounted over), in this mount namespace: overlayfs accepts a
 * layer only from the namespace it is mounted in. */
static int attach_layers(struct dc_exec_ctx *ctx, const struct dc_step *s, int holder, struct lowers *l,
                         struct dc_error *err)
{
        size_t want = 0;
        for (size_t i = 0; i < s->args.n; i++)
                want += strcmp(s->args.v[i].key, "lower") == 0 || strcmp(s->args.v[i].key, "source") == 0;
        if (ctx->n_layer_fds != want || !want)
                return dc_err(err, EPROTO, "expected %zu idmapped layers from the launcher, got %zu", want,
                              ctx->n_layer_fds);
        for (size_t i = 0; i < ctx->n_layer_fds; i++) {
                char name[32];
                snprintf(name, sizeof(name), "layer%zu", i);
                int r = mkdir_in(holder, name, err);
                if (r < 0)
                        return r;
                if (move_mount(ctx->layer_fds[i], "", holder, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return dc_err(err, errno, "cannot attach the idmapped layer %zu: %s", i, strerror(errno));
                close(ctx->layer_fds[i]);
                ctx->layer_fds[i] = -1;
                int fd = open_dir(holder, name, err);
                if (fd < 0 || (r = add_lower(l, fd, err)) < 0)
                        return fd < 0 ? fd : r;
        }
        return 0;
}

static int rootfs_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *source = dc_kvs_get(&s->args, "source");
        const char *target = dc_kvs_get(&s->args, "target");
        const char *writable = dc_kvs_get(&s->args, "writable");
        bool userns = dc_streq(dc_kvs_get(&s->args, "userns"), "1");
        /* rootfs.idmap "auto", and the launcher found the directory's file
         * system without idmapped mounts: it is used as it is */
        bool idmapped = dc_streq(dc_kvs_get(&s->args, "idmapped"), "1") && !ctx->layer_plain;
        /* a directory rootfs written directly through its idmapped mount */
        bool rw_layer = idmapped && source && strcmp(writable, "direct") == 0;
        __attribute__((cleanup(lowers_free))) struct lowers low = { .n = 0 };
        /* with idmapped layers: a tmpfs on the target for their mount points
         * (and, with writable = "tmpfs", the upper layer) */
        _cleanup_close_ int holder = -1;
        /* A directory rootfs's own mount flags (nosuid, noexec), which a
         * bind of it keeps and an overlay of it would not */
        unsigned long inherit = 0;
        int r;
        if (idmapped) {
                if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
                        return dc_err(err, errno, "cannot mount a tmpfs on %s: %s", target, strerror(errno));
                holder = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (holder < 0)
                        return dc_err(err, errno, "%s: %s", target, strerror(errno));
                r = attach_layers(ctx, s, holder, &low, err);
                if (r == 0 && source)
                        inherit = mount_flags_of(low.fd[0]);
                /* Read-only: always an overlay, never a layer bound as the
                 * root: a bind made here, in a mount namespace of the
                 * container's user namespace, is not locked, and a container
                 * given CAP_SYS_ADMIN could remount it writable and write
                 * into the shared cache. One layer gets an empty one under it. */
                if (r == 0 && low.n == 1 && !rw_layer &&
                    (strcmp(writable, "none") == 0 || strcmp(writable, "direct") == 0)) {
                        int e = -1;
                        if ((r = mkdir_in(holder, "empty", err)) == 0 && (e = open_dir(holder, "empty", err)) >= 0)
                                r = add_lower(&low, e, err);
                        else if (r == 0)
                                r = e;
                }
        } else {
                r = open_lowers(s, &low, err);
                if (r == 0 && source)
                        inherit = mount_flags_of(low.fd[0]);
        }
        if (r < 0)
                return r;
        if (!source)
                source = dc_kvs_get(&s->args, "lower");
        int src = low.fd[0];
        if ((strcmp(writable, "direct") == 0 || strcmp(writable, "none") == 0) && low.n > 1) {
                /* several layers, read-only: an overlay without an upper layer */
                if ((r = mount_overlay(low.opt, -1, -1, target, userns, idmapped, inherit, err)) < 0)
                        return r;
        } else if (strcmp(writable, "direct") == 0 || strcmp(writable, "none") == 0) {
                if (mount(dc_fdpath(src).s, target, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return dc_err(err, errno, "cannot bind the rootfs %s: %s", source, strerror(errno));
        } else if (strcmp(writable, "tmpfs") == 0) {
                if (!idmapped && mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
                        return dc_err(err, errno, "cannot mount a tmpfs on %s: %s", target, strerror(errno));
                _cleanup_close_ int t = idmapped ? fcntl(holder, F_DUPFD_CLOEXEC, 3) : open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (t < 0)
                        return dc_err(err, errno, "%s: %s", target, strerror(errno));
                if ((r = mkdir_in(t, "upper", err)) < 0 || (r = mkdir_in(t, "work", err)) < 0)
                        return r;
                _cleanup_close_ int u = open_dir(t, "upper", err);
                if (u < 0)
                        return u;
                _cleanup_close_ int w = open_dir(t, "work", err);
                if (w < 0)
                        return w;
                /* The overlay goes on top of the tmpfs that holds its upper layer. */
                if ((r = mount_overlay(low.opt, u, w, target, userns, idmapped, inherit, err)) < 0)
                        return r;
        } else {
                const char *dir = dc_kvs_get(&s->args, "upper");
                const char *owner = dc_kvs_get(&s->args, "upper-owner");
                _cleanup_close_ int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (d < 0)
                        return dc_err(err, errno, "rootfs.writable %s: %s", dir, strerror(errno));
                if ((r = mkdir_in(d, "upper", err)) < 0 || (r = mkdir_in(d, "work", err)) < 0) {
                        /* in a user namespace the container's root makes them */
                        if (owner && err->code == EACCES) {
                                char m[sizeof(err->msg)];
                                snprintf(m, sizeof(m), "%s", err->msg);
                                return dc_err(err, EACCES, "rootfs.writable %s: %.900s: the container's root is %s "
                                              "on the host, and the directory must be its: chown %s %s",
                                              dir, m, owner, owner, dir);
                        }
                        return r;
                }
                _cleanup_close_ int u = open_dir(d, "upper", err);
                if (u < 0)
                        return u;
                _cleanup_close_ int w = open_dir(d, "work", err);
                if (w < 0)
                        return w;
                if ((r = mount_overlay(low.opt, u, w, target, userns, idmapped, inherit, err)) < 0)
                        return r;
        }
        ctx->root = dc_xstrdup(target);
        ctx->root_fd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ctx->root_fd < 0)
                return dc_err(err, errno, "%s: %s", target, strerror(errno));
        return 0;
}

static void rootfs_describe(const struct dc_step *s, FILE *out)
{
        const char *w = dc_kvs_get(&s->args, "writable");
        const char *src = dc_kvs_get(&s->args, "source");
        const char *dst = dc_kvs_get(&s->args, "target");
        _cleanup_free_ char *layers = NULL;
        if (!src) {
                size_t n = 0;
                for (size_t i = 0; i < s->args.n; i++)
                        n += strcmp(s->args.v[i].key, "lower") == 0;
                layers = n == 1 ? dc_xstrdup(dc_kvs_get(&s->args, "lower"))
                                : dc_xasprintf("%zu layers (top: %s)", n, dc_kvs_get(&s->args, "lower"));
                src = layers;
                if (n > 1 && strcmp(w, "none") == 0) {
                        fprintf(out, "overlay of %s on %s (read-only)", src, dst);
                        return;
                }
        }
        /* a directory handed over idmapped (rootfs.idmap): read-only, it
         * is an overlay of it and an empty layer (rootfs_apply) */
        bool idmapped = dc_streq(dc_kvs_get(&s->args, "idmapped"), "1");
        _cleanup_free_ char *named = idmapped && !layers ? dc_xasprintf("%s (idmapped)", src) : NULL;
        if (named)
                src = named;
        const char *note = dc_kvs_get(&s->args, "idmap-note");
        _cleanup_free_ char *noted = note ? dc_xasprintf("%s (rootfs.idmap \"auto\": not idmapped: %s)", src, note)
                                          : NULL;
        if (noted)
                src = noted;
        if (strcmp(w, "direct") == 0)
                fprintf(out, "bind %s on %s (writable)", src, dst);
        else if (strcmp(w, "none") == 0 && named)
                fprintf(out, "overlay of %s on %s (read-only)", src, dst);
        else if (strcmp(w, "none") == 0)
                fprintf(out, "bind %s on %s (read-only)", src, dst);
        else if (strcmp(w, "tmpfs") == 0)
                fprintf(out, "overlay of %s with a tmpfs upper layer on %s (changes vanish at stop)", src, dst);
        else
                fprintf(out, "overlay of %s with upper layer %s on %s", src, dc_kvs_get(&s->args, "upper"), dst);
}

const struct dc_step_ops dc_rootfs_ops = {
        .kind = "rootfs",
        .side = DC_SIDE_CHILD,
        .apply = rootfs_apply,
        .describe = rootfs_describe,
};

/* --- mount ------------------------------------------------------------- */

static int mount_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *fstype = dc_kvs_get(&s->args, "fstype");
        const char *target = dc_kvs_get(&s->args, "target");
        _cleanup_close_ int fd = dc_open_in_root(ctx->root_fd, target, DC_CREATE_DIR, err);
        if (fd < 0)
                return fd;
        if (mount(fstype, dc_fdpath(fd).s, fstype, parse_flags(dc_kvs_get(&s->args, "flags")),
                  dc_kvs_get(&s->args, "data")) < 0)
                return dc_err(err, errno, "cannot mount %s on %s: %s", fstype, target, strerror(errno));
        if (dc_streq(dc_kvs_get(&s->args, "own-tmpfs"), "1") && ctx->n_own_tmpfs < DC_ARRAY_SIZE(ctx->own_tmpfs)) {
                /* the new mount's device, wherever a link in the rootfs put it */
                struct stat st;
                _cleanup_close_ int top = dc_open_in_root(ctx->root_fd, target, DC_CREATE_NONE, err);
                if (top < 0 || fstat(top, &st) < 0)
                        return top < 0 ? top : dc_err(err, errno, "%s: %s", target, strerror(errno));
                ctx->own_tmpfs[ctx->n_own_tmpfs++] = st.st_dev;
        }
        if (strcmp(fstype, "devpts") == 0) {
                /* the container's ptys: spared by the nodev step */
                int m = dc_open_in_root(ctx->root_fd, target, DC_CREATE_NONE, err);
                if (m < 0)
                        return m;
                dc_keep_dev_mount(ctx, m);
        }
        return 0;
}

static void mount_describe(const struct dc_step *s, FILE *out)
{
        const char *data = dc_kvs_get(&s->args, "data");
        fprintf(out, "mount %s on %s (%s%s%s)", dc_kvs_get(&s->args, "fstype"), dc_kvs_get(&s->args, "target"),
                dc_kvs_get(&s->args, "flags"), data ? "," : "", data ? data : "");
}

const struct dc_step_ops dc_mount_ops = {
        .kind = "mount",
        .side = DC_SIDE_CHILD,
        .apply = mount_apply,
        .describe = mount_describe,
};

/* --- bind -------------------------------------------------------------- */

static int bind_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *source = dc_kvs_get(&s->args, "source");
        const char *target = dc_kvs_get(&s->args, "target");
        /* The bind is made detached (a clone of the source), made read-only
         * before anything can see it, then attached to the target's fd: no
         * path is looked up twice, so nothing can be swapped in between. */
        const char *device = dc_kvs_get(&s->args, "device"); /* devices[]: "c MAJOR:MINOR" */
        /* volumes[].idmap: the launcher made the clone, idmapped (and
         * read-only, for a read-only volume) */
        const char *idm = dc_kvs_get(&s->args, "idmapped");
        size_t k = idm ? strtoul(idm, NULL, 10) : 0;
        if (idm && (k >= ctx->n_volume_fds || ctx->volume_fds[k] < 0))
                return dc_err(err, EPROTO, "the launcher did not hand over the idmapped volume %s", source);
        _cleanup_close_ int tree =
                idm ? DC_TAKE_FD(ctx->volume_fds[k])
                    : open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (device ? 0 : AT_RECURSIVE));
        if (tree < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
                return dc_err(err, errno, "%s %s: %s", device ? "device" : "volume source", source, strerror(errno));
        if (tree < 0)
                return dc_err(err, errno, "cannot bind %s on %s: %s", source, target, strerror(errno));
        struct stat st;
        if (fstat(tree, &st) < 0)
                return dc_err(err, errno, "%s: %s", source, strerror(errno));
        if (device) {
                char planned[48];
                snprintf(planned, sizeof(planned), "%c %u:%u", S_ISBLK(st.st_mode) ? 'b' : 'c', major(st.st_rdev),
                         minor(st.st_rdev));
                if ((!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) || strcmp(planned, device) != 0)
                        return dc_err(err, EINVAL, "%s is no longer the device %s it was when the plan was made",
                                      source, device);
        }
        /* A device node keeps device access (unless its own mount had none,
         * which for one of devices[] is an error): the nodev step spares
         * it, by the fd of the attached mount. */
        struct statvfs sv;
        bool keep_dev = (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && fstatvfs(tree, &sv) == 0 &&
                        !(sv.f_flag & ST_NODEV);
        if (device && !keep_dev)
                return dc_err(err, EACCES, "%s is on a file system mounted nodev: no process can use the device "
                              "through it; give its node under /dev", source);
        enum dc_create create = S_ISDIR(st.st_mode) ? DC_CREATE_DIR : DC_CREATE_FILE;
        _cleanup_close_ int dst = dc_open_in_root(ctx->root_fd, target, create, err);
        if (dst == -ENOENT && dc_kvs_get(&s->args, "make-in")) {
                /* a link to where nothing is yet: made there when that is
                 * on one of the container's own tmpfs mounts (/run, /tmp;
                 * never a volume or the rootfs) */
                dst = dc_make_in_tmpfs(ctx->root_fd, target, create, ctx->own_tmpfs, ctx->n_own_tmpfs, err);
        }
        if (dst < 0)
                return dst;
        struct stat dt;
        if (fstat(dst, &dt) < 0)
                return dc_err(err, errno, "%s: %s", target, strerror(errno));
        if (S_ISDIR(dt.st_mode) != S_ISDIR(st.st_mode))
                return dc_err(err, ENOTDIR, "cannot bind %s on %s: one is a directory, the other is not",
                              source, target);
        if (dc_streq(dc_kvs_get(&s->args, "readonly"), "1") && !idm) {
                int r = set_readonly(tree, true, target, err);
                if (r < 0)
                        return r;
        }
        if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return dc_err(err, errno, "cannot bind %s on %s: %s", source, target, strerror(errno));
        if (keep_dev)
                dc_keep_dev_mount(ctx, DC_TAKE_FD(tree));
        return 0;
}

static void bind_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "bind %s on %s%s%s", dc_kvs_get(&s->args, "source"), dc_kvs_get(&s->args, "target"),
                dc_streq(dc_kvs_get(&s->args, "readonly"), "1") ? " (read-only)" : "",
                dc_kvs_get(&s->args, "idmapped") ? " (the launcher's idmapped mount)" : "");
}

const struct dc_step_ops dc_bind_ops = {
        .kind = "bind",
        .side = DC_SIDE_CHILD,
        .apply = bind_apply,
        .describe = bind_describe,
};

/* --- symlink ----------------------------------------------------------- */

static int symlink_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *path = dc_kvs_get(&s->args, "path");
        const char *to = dc_kvs_get(&s->args, "to");
        _cleanup_free_ char *norm = dc_path_normalize(path);
        char *slash = strrchr(norm, '/');
        _cleanup_free_ char *parent = dc_xstrndup(norm, (size_t)(slash - norm));
        _cleanup_close_ int d = dc_open_dir_in_root(ctx->root_fd, *parent ? parent : "/", err);
        if (d < 0)
                return d;
        if (symlinkat(to, d, slash + 1) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create the link %s: %s", path, strerror(errno));
        return 0;
}

static void symlink_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "link %s -> %s", dc_kvs_get(&s->args, "path"), dc_kvs_get(&s->args, "to"));
}

const struct dc_step_ops dc_symlink_ops = {
        .kind = "symlink",
        .side = DC_SIDE_CHILD,
        .apply = symlink_apply,
        .describe = symlink_describe,
};

/* --- hostname ---------------------------------------------------------- */

static int hostname_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)ctx;
        const char *name = dc_kvs_get(&s->args, "name");
        if (sethostname(name, strlen(name)) < 0)
                return dc_err(err, errno, "cannot set the hostname %s: %s", name, strerror(errno));
        return 0;
}

const struct dc_step_ops dc_hostname_ops = {
        .kind = "hostname",
        .side = DC_SIDE_CHILD,
        .apply = hostname_apply,
        .describe = describe_args,
};

/* --- sysctl-inside ------------------------------------------------------ */

/* A kernel parameter of the container's own namespace, written through its
 * /proc (the namespace is the writer's, and config.c allows only those a
 * namespace holds). Nothing to undo: it goes with the namespace. */
static int sysctl_inside_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)ctx;
        const char *name = dc_kvs_get(&s->args, "name"), *value = dc_kvs_get(&s->args, "value");
        const char *path = dc_kvs_get(&s->args, "path");
        if (!dc_startswith(path, "/proc/sys/"))
                return dc_err(err, EINVAL, "sysctl %s: bad path %s", name, path);
        /* the uts namespace's own call: the file asks for the host's root,
         * the call for CAP_SYS_ADMIN over the namespace (a user namespace's
         * root has it) */
        if (strcmp(path, "/proc/sys/kernel/domainname") == 0) {
                if (setdomainname(value, strlen(value)) < 0)
                        return dc_err(err, errno, "cannot set %s to %s: %s", name, value, strerror(errno));
                return 0;
        }
        _cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return dc_err(err, ENOENT, "%s: no such sysctl in the container's %s namespace (this kernel has "
                              "none of that name, or keeps it for the host alone)",
                              name, dc_kvs_get(&s->args, "namespace"));
        if (fd < 0)
                return dc_err(err, errno, "cannot set %s: %s", name, strerror(errno));
        int r = dc_write_all(fd, value, strlen(value));
        if (r < 0)
                return dc_err(err, -r, "cannot set %s to %s: %s", name, value, strerror(-r));
        return 0;
}

static void sysctl_inside_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "set %s = %s (the container's own %s namespace)", dc_kvs_get(&s->args, "name"),
                dc_kvs_get(&s->args, "value"), dc_kvs_get(&s->args, "namespace"));
}

const struct dc_step_ops dc_sysctl_inside_ops = {
        .kind = "sysctl-inside",
        .side = DC_SIDE_CHILD,
        .apply = sysctl_inside_apply,
        .describe = sysctl_inside_describe,
};

/* --- remount-root-ro --------------------------------------------------- */

static int remount_root_ro_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        return set_readonly(ctx->root_fd, false, "the root", err);
}

static void remount_root_ro_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("make the root read-only (rootfs.writable = \"none\")", out);
}

const struct dc_step_ops dc_remount_root_ro_ops = {
        .kind = "remount-root-ro",
        .side = DC_SIDE_CHILD,
        .apply = remount_root_ro_apply,
        .describe = remount_root_ro_describe,
};

/* --- pivot-root -------------------------------------------------------- */

static int pivot_root_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        if (fchdir(ctx->root_fd) < 0)
                return dc_err(err, errno, "cannot enter the root: %s", strerror(errno));
        /* Stack the old root under the new one, then detach it: nothing of the
         * host's tree stays reachable. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return dc_err(err, errno, "pivot_root: %s", strerror(errno));
        if (umount2(".", MNT_DETACH) < 0)
                return dc_err(err, errno, "cannot detach the old root: %s", strerror(errno));
        if (chdir("/") < 0)
                return dc_err(err, errno, "chdir /: %s", strerror(errno));
        return 0;
}

static void pivot_root_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("pivot_root into the rootfs and detach the old root", out);
}

const struct dc_step_ops dc_pivot_root_ops = {
        .kind = "pivot-root",
        .side = DC_SIDE_CHILD,
        .apply = pivot_root_apply,
        .describe = pivot_root_describe,
};

/* --- exec (applied by dc_child_main, which owns the process) ------------ */

static void exec_describe(const struct dc_step *s, FILE *out)
{
        fputs("exec", out);
        for (size_t i = 0; i < s->args.n; i++)
                if (strcmp(s->args.v[i].key, "arg") == 0)
                        fprintf(out, " %s", s->args.v[i].val);
        const char *stop = dc_kvs_get(&s->args, "stop-signal");
        fprintf(out, " (user %s, cwd %s%s%s%s%s", dc_kvs_get(&s->args, "user"), dc_kvs_get(&s->args, "cwd"),
                dc_streq(dc_kvs_get(&s->args, "terminal"), "1") ? ", pty" : "",
                dc_streq(dc_kvs_get(&s->args, "init"), "1") ? ", under a minimal init" : "",
                stop ? ", stopped with " : "", stop ? stop : "");
        /* "nofile 1024 4096" -> nofile=1024:4096, "core 0 0" -> core=0 */
        bool first = true;
        for (size_t i = 0; i < s->args.n; i++) {
                char name[16], soft[24], hard[24];
                if (strcmp(s->args.v[i].key, "rlimit") != 0 ||
                    sscanf(s->args.v[i].val, "%15s %23s %23s", name, soft, hard) != 3)
                        continue;
                fprintf(out, "%s %s=%s%s%s", first ? ", rlimits" : "", name, soft, strcmp(soft, hard) ? ":" : "",
                        strcmp(soft, hard) ? hard : "");
                first = false;
        }
        fputc(')', out);
        dc_security_describe(s, out);
}

const struct dc_step_ops dc_exec_ops = {
        .kind = "exec",
        .side = DC_SIDE_CHILD,
        .describe = exec_describe,
};

/* --- loopback-inside (unprivileged: the first process brings lo up) ---- */

static int loopback_inside_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        (void)ctx;
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return dc_err(err, errno, "socket: %s", strerror(errno));
        struct ifreq ifr = { 0 };
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return dc_err(err, errno, "cannot read the flags of lo: %s", strerror(errno));
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return dc_err(err, errno, "cannot bring lo up: %s", strerror(errno));
        return 0;
}

static void loopback_inside_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("bring up lo in its network namespace (the first process does it: rootless)", out);
}

const struct dc_step_ops dc_loopback_inside_ops = {
        .kind = "loopback-inside",
        .side = DC_SIDE_CHILD,
        .apply = loopback_inside_apply,
        .describe = loopback_inside_describe,
};

/* --- cgroupns: after the launcher moved us into our cgroup -------------- */

static int cgroupns_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        (void)s;
        (void)ctx;
        if (unshare(CLONE_NEWCGROUP) < 0)
                return dc_err(err, errno, "cannot create a cgroup namespace: %s", strerror(errno));
        return 0;
}

static void cgroupns_describe(const struct dc_step *s, FILE *out)
{
        (void)s;
        fputs("new cgroup namespace: the container's cgroup becomes its /", out);
}

const struct dc_step_ops dc_cgroupns_ops = {
        .kind = "cgroupns",
        .side = DC_SIDE_CHILD,
        .apply = cgroupns_apply,
        .describe = cgroupns_describe,
};
