#include "diyctl/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diyctl/util.h"

int dc_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
        struct open_how how = {
                .flags = (unsigned long long)(flags | O_CLOEXEC),
                .resolve = resolve,
        };
        /* With RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel answers EAGAIN
         * when a rename or a mount anywhere on the system (another container
         * starting) raced with a ".." on the way, a link's "../run/..." say:
         * it asks to be asked again. Bounded, so that a container renaming
         * without pause cannot hold its own start forever. */
        long fd = -1;
        for (int tries = 0; tries < 1000; tries++) {
                fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        break;
        }
        return fd < 0 ? -errno : (int)fd;
}

static int openat2_resolve(int root_fd, const char *path, int flags, unsigned long long resolve)
{
        while (*path == '/')
                path++;
        return dc_openat2(root_fd, *path ? path : ".", flags, resolve);
}

int dc_open_no_links(const char *path, int flags)
{
        return dc_openat2(AT_FDCWD, path, flags, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

char *dc_path_through_link(const char *path)
{
        _cleanup_free_ char *real = realpath(path, NULL);
        _cleanup_free_ char *norm = dc_path_normalize(path);
        if (!real || strcmp(real, norm) == 0)
                return NULL;
        return DC_TAKE(real);
}

static int openat2_in_root(int root_fd, const char *path, int flags)
{
        return openat2_resolve(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int dc_open_dir_in_root(int root_fd, const char *path, struct dc_error *err)
{
        int fd = openat2_in_root(root_fd, path, O_RDONLY | O_DIRECTORY);
        if (fd != -ENOENT) {
                if (fd < 0)
                        return dc_err(err, -fd, "%s: %s", path, strerror(-fd));
                return fd;
        }
        /* missing: made (with its parents), then opened from its O_PATH fd */
        _cleanup_close_ int p = dc_open_in_root(root_fd, path, DC_CREATE_DIR, err);
        if (p < 0)
                return p;
        fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", path, strerror(errno));
        return fd;
}

int dc_open_in_root(int root_fd, const char *path, enum dc_create create, struct dc_error *err)
{
        int fd = openat2_in_root(root_fd, path, O_PATH);
        if (fd >= 0 || fd != -ENOENT || create == DC_CREATE_NONE) {
                if (fd < 0)
                        return dc_err(err, -fd, "%s: %s", path, strerror(-fd));
                return fd;
        }
        /* Create the parent first, then the last component inside it. */
        _cleanup_free_ char *norm = dc_path_normalize(path);
        char *slash = strrchr(norm, '/');
        const char *base = slash + 1;
        if (!*base)
                return dc_err(err, EINVAL, "%s: cannot create the root itself", path);
        _cleanup_free_ char *parent = dc_xstrndup(norm, (size_t)(slash - norm));
        /* mkdirat/openat need a real directory fd, not O_PATH */
        _cleanup_close_ int dfd = dc_open_dir_in_root(root_fd, *parent ? parent : "/", err);
        if (dfd < 0)
                return dfd;
        if (create == DC_CREATE_DIR) {
                if (mkdirat(dfd, base, 0755) == 0) {
                        /* ours, just made: no link to follow */
                        fd = openat(dfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0)
                                return dc_err(err, errno, "%s: %s", path, strerror(errno));
                        return fd;
                }
                if (errno != EEXIST)
                        return dc_err(err, errno, "cannot create %s: %s", path, strerror(errno));
        } else {
                /* ours, just made: this fd serves as well as an O_PATH one */
                int f = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f >= 0)
                        return f;
                if (errno != EEXIST)
                        return dc_err(err, errno, "cannot create %s: %s", path, strerror(errno));
        }
        /* There after all (a dangling link, or made meanwhile): resolved inside the root again. */
        fd = openat2_in_root(root_fd, path, O_PATH);
        if (fd == -ENOENT) {
                /* a link to where nothing is: nothing is made through it */
                char to[4096];
                ssize_t n = readlinkat(dfd, base, to, sizeof(to) - 1);
                if (n >= 0) {
                        to[n] = 0;
                        return dc_err(err, ENOENT,
                                      "%s is a symbolic link to %s, which does not exist in the container (links "
                                      "resolve inside its root, and nothing is created through one)",
                                      norm, to);
                }
        }
        if (fd < 0)
                return dc_err(err, -fd, "%s: %s", path, strerror(-fd));
        return fd;
}

struct dc_fdpath dc_fdpath(int fd)
{
        struct dc_fdpath p;
        snprintf(p.s, sizeof(p.s), "/proc/self/fd/%d", fd);
        return p;
}

char *dc_path_normalize(const char *path)
{
        size_t len = strlen(path);
        char *out = dc_xmalloc(len + 2);
        size_t o = 0;
        bool abs = path[0] == '/';
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 1 && p[0] == '.') {
                        /* skip */
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        if (o > 0 || abs)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p = e;
        }
        if (o == 0)
                out[o++] = abs ? '/' : '.';
        out[o] = 0;
        return out;
}

char *dc_path_join(const char *dir, const char *rel)
{
        if (rel[0] == '/')
                return dc_path_normalize(rel);
        _cleanup_free_ char *j = dc_xasprintf("%s/%s", dir, rel);
        return dc_path_normalize(j);
}

/* Is the directory DFD on one of the tmpfs mounts DEVS? */
static bool on_own_tmpfs(int dfd, const dev_t *devs, size_t n)
{
        struct stat here;
        if (fstat(dfd, &here) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (here.st_dev == devs[i])
                        return true;
        return false;
}

int dc_make_in_tmpfs(int root_fd, const char *path, enum dc_create create, const dev_t *devs, size_t n,
                     struct dc_error *err)
{
        _cleanup_free_ char *cur = dc_xstrdup("/");  /* resolved so far: no links in it */
        _cleanup_free_ char *rest = dc_xstrdup(path); /* still to walk */
        for (int hops = 0;;) {
                const char *p = rest;
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                _cleanup_free_ char *c = dc_xstrndup(p, (size_t)(e - p));
                const char *after = e;
                while (*after == '/')
                        after++;
                bool last = !*after;
                _cleanup_free_ char *next_rest = dc_xstrdup(e);
                free(rest);
                rest = DC_TAKE(next_rest);
                if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
                        char *up = dc_path_join(cur, c);
                        free(cur);
                        cur = up;
                        continue;
                }
                _cleanup_close_ int dfd = openat2_resolve(root_fd, cur, O_PATH | O_DIRECTORY,
                                                          RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
                if (dfd < 0)
                        return dc_err(err, -dfd, "%s: %s", cur, strerror(-dfd));
                struct stat st;
                if (fstatat(dfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (S_ISLNK(st.st_mode)) {
                                if (++hops > 40)
                                        return dc_err(err, ELOOP, "%s: %s", path, strerror(ELOOP));
                                char to[4096];
                                ssize_t k = readlinkat(dfd, c, to, sizeof(to) - 1);
                                if (k < 0)
                                        return dc_err(err, errno, "%s: %s", path, strerror(errno));
                                if ((size_t)k == sizeof(to) - 1)
                                        return dc_err(err, ENAMETOOLONG, "%s: %s", path, strerror(ENAMETOOLONG));
                                to[k] = 0;
                                char *r = dc_xasprintf("%s%s", to, rest);
                                free(rest);
                                rest = r;
                                if (to[0] == '/') {
                                        free(cur);
                                        cur = dc_xstrdup("/");
                                }
                        } else {
                                char *down = dc_path_join(cur, c);
                                free(cur);
                                cur = down;
                        }
                        continue;
                }
                if (errno != ENOENT)
                        return dc_err(err, errno, "%s: %s", path, strerror(errno));
                if (create == DC_CREATE_NONE)
                        return dc_err(err, ENOENT, "%s: %s", path, strerror(ENOENT));
                if (!on_own_tmpfs(dfd, devs, n))
                        return dc_err(err, ENOENT, "%s leads to %s/%s, which is missing, and is not on the container's "
                                      "own /run or /tmp (but a volume or the rootfs): nothing is made there",
                                      path, strcmp(cur, "/") == 0 ? "" : cur, c);
                if (!last || create == DC_CREATE_DIR) {
                        if (mkdirat(dfd, c, 0755) < 0 && errno != EEXIST)
                                return dc_err(err, errno, "cannot create %s/%s: %s", cur, c, strerror(errno));
                        char *down = dc_path_join(cur, c);
                        free(cur);
                        cur = down;
                        continue;
                }
                int f = openat(dfd, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f < 0)
                        return dc_err(err, errno, "cannot create %s/%s: %s", cur, c, strerror(errno));
                return f;
        }
        int fd = openat2_resolve(root_fd, cur, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        if (fd < 0)
                return dc_err(err, -fd, "%s: %s", path, strerror(-fd));
        return fd;
}
