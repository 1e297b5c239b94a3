/* Safe extraction of a tar stream into a directory.
 *
 * libarchive reads and decompresses; it never writes. Every entry is created
 * by this file, relative to a directory fd:
 *  - names are made relative and canonical; a leading "/" is dropped (as tar
 *    does); ".." anywhere refuses the archive;
 *  - parent directories are opened with openat2(RESOLVE_BENEATH |
 *    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so a
 *    symlink planted by an earlier entry is never followed: writing through
 *    one refuses the archive;
 *  - the last component is created with O_EXCL|O_NOFOLLOW (files), mkdirat,
 *    symlinkat, mknodat: none of them follows a symlink;
 *  - hard links resolve their target the same way (inside, no symlinks);
 *  - device nodes and sockets are never created (the container gets its own
 *    /dev); setuid/setgid bits and ownership are kept only when unpacking as
 *    root into the root-only cache; of extended attributes only user.* (not
 *    user.overlay.*) and security.capability are kept, never trusted.*, so an
 *    archive cannot forge overlayfs metadata;
 *  - a file bigger than the free space is refused before it is written; a
 *    truncated or damaged archive is an error.
 * For image layers, OCI whiteouts become overlayfs ones: ".wh.NAME" a 0/0
 * character device NAME, ".wh..wh..opq" the opaque xattr on its directory.
 *
 * The raw bytes (a file, or a member of an outer archive) are hashed as they
 * are read; for layers the decompressed tar is hashed too (libarchive's raw
 * format decompresses into a second reader that parses the tar), so the blob
 * digest and the diff_id are both checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diyctl/fs.h"
#include "diyctl/image.h"
#include "diyctl/util.h"

#define READ_CHUNK (1u << 20)
#define MAX_WARNINGS 40
/* Names longer or deeper than any real rootfs has are refused: they exist to
 * exhaust something (the stack or fds of a recursive removal, PATH_MAX). */
#define MAX_NAME 4095
#define MAX_DEPTH 255

void dc_archive_support_filters(struct archive *a)
{
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_lzma(a);
        archive_read_support_filter_lzip(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_filter_lz4(a);
        archive_read_support_filter_compress(a);
}

/* ---- raw bytes ---------------------------------------------------------- */

struct rawsrc {
        int fd;                  /* a file, or -1 */
        struct archive *outer;   /* the archive whose current member we read */
        char *buf;
        struct dc_sha256 h;
        uint64_t bytes;
        void (*progress)(void *arg, uint64_t raw_bytes);
        void *progress_arg;
        bool eof;
};

static la_ssize_t raw_read(struct archive *a, void *arg, const void **out)
{
        struct rawsrc *s = arg;
        if (s->eof)
                return 0;
        ssize_t n;
        if (s->outer) {
                const void *p;
                size_t size;
                la_int64_t off;
                int r = archive_read_data_block(s->outer, &p, &size, &off);
                if (r == ARCHIVE_EOF) {
                        s->eof = true;
                        return 0;
                }
                if (r < ARCHIVE_WARN) {
                        archive_set_error(a, archive_errno(s->outer) > 0 ? archive_errno(s->outer) : EIO, "%s",
                                          archive_error_string(s->outer) ? archive_error_string(s->outer)
                                                                         : "read error in the outer archive");
                        return -1;
                }
                *out = p;
                n = (ssize_t)size;
        } else {
                do
                        n = read(s->fd, s->buf, READ_CHUNK);
                while (n < 0 && errno == EINTR);
                if (n < 0) {
                        archive_set_error(a, errno, "read: %s", strerror(errno));
                        return -1;
                }
                if (n == 0)
                        s->eof = true;
                *out = s->buf;
        }
        dc_sha256_update(&s->h, *out, (size_t)n);
        s->bytes += (uint64_t)n;
        if (s->progress && n)
                s->progress(s->progress_arg, s->bytes);
        return n;
}

/* Read (and hash) whatever the parser left unread. */
static int raw_drain(struct rawsrc *s, struct archive *a, struct dc_error *err)
{
        const void *p;
        for (;;) {
                la_ssize_t n = raw_read(a, s, &p);
                if (n == 0)
                        return 0;
                if (n < 0)
                        return dc_err(err, EIO, "reading the rest of the archive: %s",
                                      archive_error_string(a) ? archive_error_string(a) : "read error");
        }
}

/* The decompressed stream of a layer, between the raw-format reader and the tar reader. */
struct midsrc {
        struct archive *raw;
        struct dc_sha256 h;
        bool same;               /* not compressed: the raw digest is this one too */
        bool eof;
};

static la_ssize_t mid_read(struct archive *a, void *arg, const void **out)
{
        struct midsrc *m = arg;
        if (m->eof)
                return 0;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(m->raw, out, &size, &off);
        if (r == ARCHIVE_EOF) {
                m->eof = true;
                return 0;
        }
        if (r < ARCHIVE_WARN) {
                archive_set_error(a, archive_errno(m->raw) > 0 ? archive_errno(m->raw) : EIO, "%s",
                                  archive_error_string(m->raw) ? archive_error_string(m->raw) : "decompression failed");
                return -1;
        }
        if (!m->same)
                dc_sha256_update(&m->h, *out, size);
        return (la_ssize_t)size;
}

/* ---- the extractor ------------------------------------------------------ */

struct dirfix {
        char *path;              /* relative; "" is the root */
        mode_t mode;
        struct timespec ts[2];
        size_t idx;
        int depth;
};

struct ex {
        int root;
        const struct dc_extract_opts *o;
        struct dc_extract_stats *st;
        struct dc_error *err;
        bool root_user;
        char *ppath;             /* the cached parent directory */
        int pfd;
        struct dirfix *fix;
        size_t nfix;
        uint64_t avail;          /* free bytes where we write, at the start */
        bool stripped_abs;
        uint64_t dropped_xattrs;
        uint64_t more_warnings;
};

static void warn(struct ex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct ex *x, const char *fmt, ...)
{
        if (x->st->warnings.n >= MAX_WARNINGS) {
                x->more_warnings++;
                return;
        }
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        dc_strv_push_take(&x->st->warnings, s);
}

/* Forget the cached parent (what an entry removes may be it, or above it).
 * Its fd stays open until the next lookup: the current entry may still use it. */
static void drop_parent(struct ex *x)
{
        free(x->ppath);
        x->ppath = NULL;
}

static void close_parent(struct ex *x)
{
        drop_parent(x);
        if (x->pfd >= 0)
                close(x->pfd);
        x->pfd = -1;
}

static int openat2_beneath(int dfd, const char *path, int flags)
{
        return dc_openat2(dfd, *path ? path : ".", flags,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
}

/* Canonical relative name of an archive path; NULL after an error. */
static char *clean_name(struct ex *x, const char *raw, const char *what)
{
        if (!raw)
                return dc_err(x->err, EINVAL, "an entry has no name (or one that cannot be decoded)"), NULL;
        if (raw[0] == '/') {
                if (!x->stripped_abs)
                        warn(x, "removed the leading \"/\" from absolute names such as %.200s (they land inside the target)",
                             raw);
                x->stripped_abs = true;
        }
        size_t len = strlen(raw);
        if (len > MAX_NAME) {
                dc_err(x->err, ENAMETOOLONG, "%s %.200s...: a name of %zu bytes; refusing the archive", what, raw, len);
                return NULL;
        }
        char *out = dc_xmalloc(len + 1);
        size_t o = 0, depth = 0;
        for (const char *p = raw; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        free(out);
                        dc_err(x->err, EPERM, "%s %.300s: \"..\" would leave the target directory; refusing the archive",
                               what, raw);
                        return NULL;
                }
                if (!(n == 1 && p[0] == '.')) {
                        if (o)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                        if (++depth > MAX_DEPTH) {
                                free(out);
                                dc_err(x->err, ENAMETOOLONG, "%s %.200s...: deeper than %d directories; refusing the archive",
                                       what, raw, MAX_DEPTH);
                                return NULL;
                        }
                }
                p = e;
        }
        out[o] = 0;
        return out;
}

/* Which component of PATH is a symlink or not a directory (for messages). */
static void explain_path(struct ex *x, const char *name, const char *path, int e)
{
        _cleanup_close_ int cur = dup(x->root);
        _cleanup_free_ char *copy = dc_xstrdup(path);
        size_t at = 0;
        for (char *save = NULL, *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
                struct stat st;
                at += strlen(c) + (at ? 1 : 0);
                if (fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        break;
                if (S_ISLNK(st.st_mode)) {
                        dc_err(x->err, ELOOP, "%.300s: %.*s is a symbolic link; writing through links is refused "
                               "(an archive must not plant a link and then use it)", name, (int)at, path);
                        return;
                }
                if (!S_ISDIR(st.st_mode)) {
                        dc_err(x->err, ENOTDIR, "%.300s: %.*s is not a directory", name, (int)at, path);
                        return;
                }
                int n = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(cur);
                cur = n;
        }
        dc_err(x->err, e, "%.300s: cannot open its directory %.300s: %s", name, path, strerror(e));
}

/* Create the missing directories of PATH one by one, never following a link. */
static int make_parents(struct ex *x, const char *name, const char *path)
{
        int cur = dup(x->root);
        if (cur < 0)
                return dc_err(x->err, errno, "dup: %s", strerror(errno));
        _cleanup_free_ char *copy = dc_xstrdup(path);
        for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool made = mkdirat(cur, c, 0755) == 0;
                if (made) {
                        x->st->dirs++;
                } else if (errno != EEXIST) {
                        int e = errno;
                        close(cur);
                        return dc_err(x->err, e, "%.300s: cannot create the directory %s: %s", name, c, strerror(e));
                }
                int n = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int e = errno;
                close(cur);
                if (n < 0) {
                        explain_path(x, name, path, e);
                        return -x->err->code;
                }
                /* 0755 whatever the umask: the directory is ours, just made */
                if (made && fchmod(n, 0755) < 0) {
                        e = errno;
                        close(n);
                        return dc_err(x->err, e, "%.300s: cannot set the mode of the directory %s: %s", name, c,
                                      strerror(e));
                }
                cur = n;
        }
        return cur;
}

/* A directory fd for PATH (created when missing), beneath the root. */
static int parent_fd(struct ex *x, const char *name, const char *path)
{
        if (x->ppath && strcmp(x->ppath, path) == 0)
                return x->pfd;
        close_parent(x);
        int fd = openat2_beneath(x->root, path, O_RDONLY | O_DIRECTORY);
        if (fd == -ENOENT)
                fd = make_parents(x, name, path);
        else if (fd < 0) {
                explain_path(x, name, path, -fd);
                return -x->err->code;
        }
        if (fd < 0)
                return fd;
        x->pfd = fd;
        x->ppath = dc_xstrdup(path);
        return fd;
}

int dc_rm_rf_at(int dfd, const char *name)
{
        if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM && errno != EACCES)
                return -errno;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
                fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        fchmod(fd, 0700); /* so an unprivileged owner can empty it */
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return -e;
        }
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                int q = dc_rm_rf_at(dirfd(d), de->d_name);
                if (q < 0 && r == 0)
                        r = q;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Make room for a new entry at (pfd, base): an existing directory stays when
 * the entry is one too; anything else is removed, as tar does. */
static int clear_name(struct ex *x, int pfd, const char *base, const char *name, bool want_dir, bool *is_dir)
{
        struct stat st;
        *is_dir = false;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return dc_err(x->err, errno, "%.300s: %s", name, strerror(errno));
        }
        if (S_ISDIR(st.st_mode) && want_dir) {
                *is_dir = true;
                return 0;
        }
        drop_parent(x); /* what we remove may be the cached parent */
        int r = S_ISDIR(st.st_mode) ? (unlinkat(pfd, base, AT_REMOVEDIR) < 0 ? -errno : 0)
                                    : (unlinkat(pfd, base, 0) < 0 ? -errno : 0);
        if (r == -ENOTEMPTY || r == -EEXIST)
                return dc_err(x->err, ENOTEMPTY, "%.300s: a directory with contents cannot be replaced", name);
        if (r < 0)
                return dc_err(x->err, -r, "%.300s: cannot replace the existing entry: %s", name, strerror(-r));
        return 0;
}

static bool xattr_allowed(struct ex *x, const char *name)
{
        if (dc_startswith(name, "user.") && !dc_startswith(name, "user.overlay."))
                return true;
        if (x->root_user && strcmp(name, "security.capability") == 0)
                return true;
        return false;
}

static int set_xattrs(struct ex *x, struct archive_entry *e, int fd, const char *name)
{
        const char *k;
        const void *v;
        size_t n;
        if (archive_entry_xattr_reset(e) == 0)
                return 0;
        while (archive_entry_xattr_next(e, &k, &v, &n) == ARCHIVE_OK) {
                if (!k)
                        continue;
                if (!xattr_allowed(x, k)) {
                        if (x->dropped_xattrs++ == 0)
                                warn(x, "%.200s: extended attribute %.100s not kept (only user.* and "
                                     "security.capability are; the first of such drops)", name, k);
                        continue;
                }
                if (fsetxattr(fd, k, v, n, 0) < 0) {
                        if (errno == ENOTSUP || errno == EPERM || errno == EACCES || errno == ERANGE ||
                            errno == EINVAL) {
                                if (x->dropped_xattrs++ == 0)
                                        warn(x, "%.200s: extended attribute %.100s not kept: %s", name, k, strerror(errno));
                                continue;
                        }
                        return dc_err(x->err, errno, "%.300s: cannot set %s: %s", name, k, strerror(errno));
                }
        }
        return 0;
}

static mode_t entry_mode(struct ex *x, struct archive_entry *e)
{
        mode_t m = archive_entry_perm(e) & 07777;
        if (!x->root_user)
                m &= ~(mode_t)(S_ISUID | S_ISGID);
        return m;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
        if (archive_entry_mtime_is_set(e)) {
                ts[1].tv_sec = archive_entry_mtime(e);
                ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        } else {
                ts[1].tv_nsec = UTIME_OMIT;
        }
        if (archive_entry_atime_is_set(e)) {
                ts[0].tv_sec = archive_entry_atime(e);
                ts[0].tv_nsec = archive_entry_atime_nsec(e);
        } else {
                ts[0] = ts[1];
        }
        for (int i = 0; i < 2; i++)
                if (ts[i].tv_nsec != UTIME_OMIT && (ts[i].tv_nsec < 0 || ts[i].tv_nsec > 999999999))
                        ts[i].tv_nsec = 0;
}

static int chown_at(struct ex *x, int pfd, const char *base, struct archive_entry *e, const char *name)
{
        if (!x->o->owners || !x->root_user)
                return 0;
        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        if (uid < 0 || gid < 0 || uid > 0xfffffffe || gid > 0xfffffffe)
                return dc_err(x->err, EINVAL, "%.300s: owner %lld:%lld is out of range", name, (long long)uid,
                              (long long)gid);
        if (fchownat(pfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
                return dc_err(x->err, errno, "%.300s: cannot set the owner: %s", name, strerror(errno));
        return 0;
}

/* File data, sparse-aware; refuses to write more than the free space. */
static int write_data(struct ex *x, struct archive *a, struct archive_entry *e, int fd, const char *name)
{
        la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        if (size < 0)
                return dc_err(x->err, EINVAL, "%.300s: negative size", name);
        if ((uint64_t)size > x->avail)
                return dc_err(x->err, EFBIG, "%.300s claims %lld bytes, more than the %llu bytes free where it is "
                              "unpacked; refusing it", name, (long long)size, (unsigned long long)x->avail);
        la_int64_t end = 0;
        for (;;) {
                const void *buf;
                size_t n;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &n, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return dc_err(x->err, EIO, "%.300s: the archive is truncated or damaged: %s", name,
                                      archive_error_string(a) ? archive_error_string(a) : "read error");
                if (off < 0 || off > size || (uint64_t)n > (uint64_t)(size - off))
                        return dc_err(x->err, EINVAL, "%.300s: data beyond its size", name);
                const char *p = buf;
                size_t left = n;
                la_int64_t at = off;
                while (left) {
                        ssize_t w = pwrite(fd, p, left, at);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return dc_err(x->err, errno, "%.300s: write: %s", name, strerror(errno));
                        p += w;
                        at += w;
                        left -= (size_t)w;
                }
                x->st->bytes += n;
                if (off + (la_int64_t)n > end)
                        end = off + (la_int64_t)n;
        }
        if (end < size && ftruncate(fd, size) < 0)
                return dc_err(x->err, errno, "%.300s: %s", name, strerror(errno));
        x->avail = x->avail > (uint64_t)size ? x->avail - (uint64_t)size : 0;
        return 0;
}

static int meta_fd(struct ex *x, struct archive_entry *e, int fd, const char *name)
{
        if (x->o->owners && x->root_user) {
                la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
                if (uid < 0 || gid < 0 || uid > 0xfffffffe || gid > 0xfffffffe)
                        return dc_err(x->err, EINVAL, "%.300s: owner %lld:%lld is out of range", name, (long long)uid,
                                      (long long)gid);
                if (fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
                        return dc_err(x->err, errno, "%.300s: cannot set the owner: %s", name, strerror(errno));
        }
        if (fchmod(fd, entry_mode(x, e)) < 0)
                return dc_err(x->err, errno, "%.300s: chmod: %s", name, strerror(errno));
        int r = set_xattrs(x, e, fd, name);
        if (r < 0)
                return r;
        struct timespec ts[2];
        entry_times(e, ts);
        futimens(fd, ts);
        return 0;
}

static int add_fix(struct ex *x, const char *path, struct archive_entry *e)
{
        x->fix = dc_xrealloc(x->fix, (x->nfix + 1) * sizeof(*x->fix));
        struct dirfix *f = &x->fix[x->nfix];
        f->path = dc_xstrdup(path);
        f->mode = entry_mode(x, e);
        entry_times(e, f->ts);
        f->idx = x->nfix++;
        f->depth = 0;
        for (const char *p = path; *p; p++)
                f->depth += *p == '/';
        f->depth += *path ? 1 : 0;
        return 0;
}

static int fix_cmp(const void *a, const void *b)
{
        const struct dirfix *x = a, *y = b;
        if (x->depth != y->depth)
                return y->depth - x->depth;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Directory modes and times last: children change the times, and a
 * read-only directory would refuse them. */
static void apply_fixes(struct ex *x)
{
        qsort(x->fix, x->nfix, sizeof(*x->fix), fix_cmp);
        for (size_t i = 0; i < x->nfix; i++) {
                struct dirfix *f = &x->fix[i];
                int fd = openat2_beneath(x->root, f->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (fd < 0)
                        continue; /* replaced by a later entry */
                fchmod(fd, f->mode);
                futimens(fd, f->ts);
                close(fd);
        }
}

static int whiteout(struct ex *x, int pfd, const char *base, const char *name)
{
        if (strcmp(base, ".wh..wh..opq") == 0) {
                /* overlayfs reads trusted.overlay.* when mounted by the host's
                 * root and user.overlay.* in a user namespace (userxattr); the
                 * root-owned cache serves both (steps/idmap_layers.c) */
                const char *attr = x->root_user ? "trusted.overlay.opaque" : "user.overlay.opaque";
                if (fsetxattr(pfd, attr, "y", 1, 0) < 0)
                        return dc_err(x->err, errno, "%.300s: cannot mark the directory opaque (%s): %s", name, attr,
                                      strerror(errno));
                /* a file system without user xattrs: fine for overlayfs
                 * mounted by the host's root; the entry is then refused for
                 * user namespaces (dc_cache_check_userns) */
                bool user_mark = !x->root_user;
                if (x->root_user) {
                        if (fsetxattr(pfd, "user.overlay.opaque", "y", 1, 0) == 0)
                                user_mark = true;
                        else if (errno != EOPNOTSUPP)
                                return dc_err(x->err, errno,
                                              "%.300s: cannot mark the directory opaque (user.overlay.opaque): %s", name,
                                              strerror(errno));
                }
                if (user_mark)
                        x->st->user_opaques++;
                x->st->opaques++;
                return 0;
        }
        if (dc_startswith(base, ".wh..wh."))
                return 0; /* aufs bookkeeping (.wh..wh.plnk, ...): not content */
        const char *target = base + 4;
        if (!*target || !strcmp(target, ".") || !strcmp(target, ".."))
                return dc_err(x->err, EINVAL, "%.300s: not a valid whiteout", name);
        drop_parent(x);
        int r = dc_rm_rf_at(pfd, target);
        if (r < 0)
                return dc_err(x->err, -r, "%.300s: cannot replace %s with a whiteout: %s", name, target, strerror(-r));
        if (mknodat(pfd, target, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return dc_err(x->err, errno, "%.300s: cannot create the whiteout %s: %s", name, target, strerror(errno));
        x->st->whiteouts++;
        return 0;
}

static int hardlink(struct ex *x, struct archive *a, struct archive_entry *e, int pfd, const char *base,
                    const char *name)
{
        _cleanup_free_ char *tgt = clean_name(x, archive_entry_hardlink(e), "hard link target");
        if (!tgt)
                return -x->err->code;
        if (!*tgt)
                return dc_err(x->err, EPERM, "%.300s: a hard link to the root directory", name);
        _cleanup_close_ int tfd = openat2_beneath(x->root, tgt, O_PATH | O_NOFOLLOW);
        if (tfd < 0) {
                if (tfd == -ENOENT)
                        return dc_err(x->err, ENOENT, "%.300s: hard link to %.300s, which is not in the archive "
                                      "before it (links never point outside the target)", name, tgt);
                if (tfd == -ELOOP || tfd == -EXDEV)
                        return dc_err(x->err, ELOOP, "%.300s: hard link to %.300s through a symbolic link; refused",
                                      name, tgt);
                return dc_err(x->err, -tfd, "%.300s: hard link to %.300s: %s", name, tgt, strerror(-tfd));
        }
        struct stat ts, cs;
        if (fstat(tfd, &ts) < 0)
                return dc_err(x->err, errno, "%.300s: %s", tgt, strerror(errno));
        if (S_ISDIR(ts.st_mode))
                return dc_err(x->err, EPERM, "%.300s: a hard link to the directory %.300s", name, tgt);
        if (fstatat(pfd, base, &cs, AT_SYMLINK_NOFOLLOW) == 0 && cs.st_ino == ts.st_ino && cs.st_dev == ts.st_dev)
                return 0; /* already that file */
        bool is_dir;
        int r = clear_name(x, pfd, base, name, false, &is_dir);
        if (r < 0)
                return r;
        if (linkat(tfd, "", pfd, base, AT_EMPTY_PATH) < 0) {
                struct dc_fdpath fp = dc_fdpath(tfd);
                if (linkat(AT_FDCWD, fp.s, pfd, base, AT_SYMLINK_FOLLOW) < 0)
                        return dc_err(x->err, errno, "%.300s: cannot link to %.300s: %s", name, tgt, strerror(errno));
        }
        x->st->hardlinks++;
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && S_ISREG(ts.st_mode)) {
                /* "hard link with data" (pax, cpio): the data replaces the content */
                _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return dc_err(x->err, errno, "%.300s: %s", name, strerror(errno));
                return write_data(x, a, e, fd, name);
        }
        return 0;
}

static int entry(struct ex *x, struct archive *a, struct archive_entry *e)
{
        const char *raw = archive_entry_pathname(e);
        if (!raw)
                raw = archive_entry_pathname_utf8(e);
        _cleanup_free_ char *rel = clean_name(x, raw, "entry");
        if (!rel)
                return -x->err->code;
        x->st->entries++;
        mode_t type = archive_entry_filetype(e);
        const char *name = raw;
        bool is_link = archive_entry_hardlink(e) != NULL;
        if (!*rel) {
                if (is_link || type != AE_IFDIR)
                        return dc_err(x->err, EPERM, "%.300s: the root of the archive is not a directory", name);
                if (x->o->owners && x->root_user) {
                        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
                        if (uid >= 0 && gid >= 0 && uid <= 0xfffffffe && gid <= 0xfffffffe &&
                            fchown(x->root, (uid_t)uid, (gid_t)gid) < 0)
                                return dc_err(x->err, errno, "%.300s: cannot set the owner: %s", name, strerror(errno));
                }
                return add_fix(x, "", e);
        }
        char *slash = strrchr(rel, '/');
        const char *base = slash ? slash + 1 : rel;
        _cleanup_free_ char *parent = slash ? dc_xstrndup(rel, (size_t)(slash - rel)) : dc_xstrdup("");
        int pfd = *parent ? parent_fd(x, name, parent) : x->root;
        if (pfd < 0)
                return pfd;

        if (x->o->layer && dc_startswith(base, ".wh."))
                return whiteout(x, pfd, base, name);
        if (is_link)
                return hardlink(x, a, e, pfd, base, name);

        bool is_dir;
        int r;
        switch (type) {
        case AE_IFREG: {
                if ((r = clear_name(x, pfd, base, name, false, &is_dir)) < 0)
                        return r;
                _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return dc_err(x->err, errno, "%.300s: cannot create: %s", name, strerror(errno));
                if ((r = write_data(x, a, e, fd, name)) < 0 || (r = meta_fd(x, e, fd, name)) < 0)
                        return r;
                x->st->files++;
                return 0;
        }
        case AE_IFDIR: {
                if ((r = clear_name(x, pfd, base, name, true, &is_dir)) < 0)
                        return r;
                if (!is_dir) {
                        if (mkdirat(pfd, base, 0700) < 0)
                                return dc_err(x->err, errno, "%.300s: cannot create the directory: %s", name,
                                              strerror(errno));
                        x->st->dirs++;
                }
                _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return dc_err(x->err, errno, "%.300s: %s", name, strerror(errno));
                if (x->o->owners && x->root_user && (r = chown_at(x, pfd, base, e, name)) < 0)
                        return r;
                if ((r = set_xattrs(x, e, fd, name)) < 0)
                        return r;
                return add_fix(x, rel, e);
        }
        case AE_IFLNK: {
                const char *to = archive_entry_symlink(e);
                if (!to)
                        to = archive_entry_symlink_utf8(e);
                if (!to || !*to)
                        return dc_err(x->err, EINVAL, "%.300s: a symbolic link without a target", name);
                if ((r = clear_name(x, pfd, base, name, false, &is_dir)) < 0)
                        return r;
                if (symlinkat(to, pfd, base) < 0)
                        return dc_err(x->err, errno, "%.300s: cannot create the link: %s", name, strerror(errno));
                if ((r = chown_at(x, pfd, base, e, name)) < 0)
                        return r;
                struct timespec ts[2];
                entry_times(e, ts);
                utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
                x->st->symlinks++;
                return 0;
        }
        case AE_IFIFO: {
                if ((r = clear_name(x, pfd, base, name, false, &is_dir)) < 0)
                        return r;
                if (mkfifoat(pfd, base, 0600) < 0)
                        return dc_err(x->err, errno, "%.300s: cannot create the fifo: %s", name, strerror(errno));
                if ((r = chown_at(x, pfd, base, e, name)) < 0)
                        return r;
                if (fchmodat(pfd, base, entry_mode(x, e), 0) < 0)
                        return dc_err(x->err, errno, "%.300s: chmod: %s", name, strerror(errno));
                struct timespec ts[2];
                entry_times(e, ts);
                utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
                x->st->files++;
                return 0;
        }
        case AE_IFCHR:
                if (x->o->layer && archive_entry_rdev(e) == 0) {
                        /* already in overlayfs's whiteout form */
                        drop_parent(x);
                        if ((r = dc_rm_rf_at(pfd, base)) < 0)
                                return dc_err(x->err, -r, "%.300s: %s", name, strerror(-r));
                        if (mknodat(pfd, base, S_IFCHR | 0000, makedev(0, 0)) < 0)
                                return dc_err(x->err, errno, "%.300s: cannot create the whiteout: %s", name,
                                              strerror(errno));
                        x->st->whiteouts++;
                        return 0;
                }
                __attribute__((fallthrough));
        case AE_IFBLK:
                x->st->skipped++;
                warn(x, "%.300s: %s device %u:%u not unpacked: device nodes are never created from an archive "
                     "(the container gets its own /dev)", name, type == AE_IFCHR ? "character" : "block",
                     (unsigned)archive_entry_rdevmajor(e), (unsigned)archive_entry_rdevminor(e));
                return 0;
        case AE_IFSOCK:
                x->st->skipped++;
                warn(x, "%.300s: socket not unpacked", name);
                return 0;
        default:
                return dc_err(x->err, EINVAL, "%.300s: an entry of unknown type 0%o", name, (unsigned)type);
        }
}

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

static const char *aerr(struct archive *a)
{
        return archive_error_string(a) ? archive_error_string(a) : "unknown error";
}

/* Position OUTER at MEMBER's data. */
static int find_member(struct archive *outer, const char *archive, const char *member, struct dc_error *err)
{
        for (;;) {
                struct archive_entry *e;
                int h = archive_read_next_header(outer, &e);
                if (h == ARCHIVE_EOF)
                        return dc_err(err, ENOENT, "%s: no member %s", archive, member);
                if (h < ARCHIVE_WARN)
                        return dc_err(err, EIO, "%s: damaged or truncated archive: %s", archive, aerr(outer));
                const char *raw = archive_entry_pathname(e);
                _cleanup_free_ char *name = raw ? dc_member_clean(raw) : NULL;
                if (name && strcmp(name, member) == 0 && archive_entry_filetype(e) == AE_IFREG &&
                    !archive_entry_hardlink(e))
                        return 0;
        }
}

void dc_extract_stats_free(struct dc_extract_stats *s)
{
        dc_strv_free(&s->warnings);
        memset(s, 0, sizeof(*s));
}

static int verify(const char *what, const char *want, const char *got_hex, const char *kind, struct dc_error *err)
{
        if (!want)
                return 0;
        if (strcmp(dc_digest_hex(want), got_hex) != 0)
                return dc_err(err, EBADMSG, "%s does not match its %s: expected %s, the data is sha256:%s; refusing it",
                              what, kind, want, got_hex);
        return 0;
}

int dc_extract(const struct dc_extract_source *src, int dirfd, const struct dc_extract_opts *o,
               struct dc_extract_stats *st, char raw_hex[DC_SHA256_HEX + 1], struct dc_error *err)
{
        memset(st, 0, sizeof(*st));
        if ((src->digest && !dc_digest_valid(src->digest)) || (src->diff_id && !dc_digest_valid(src->diff_id)))
                return dc_err(err, EINVAL, "bad digest to verify against");
        _cleanup_free_ char *what = src->member ? dc_xasprintf("%s: %s", src->archive, src->member)
                                                : dc_xstrdup(src->archive);
        _cleanup_close_ int fd = open(src->archive, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", src->archive, strerror(errno));
        _cleanup_archive_ struct archive *outer = NULL;
        if (src->member) {
                outer = archive_read_new();
                dc_archive_support_filters(outer);
                archive_read_support_format_tar(outer);
                if (archive_read_open_fd(outer, fd, 1 << 16) != ARCHIVE_OK)
                        return dc_err(err, EINVAL, "%s: %s", src->archive, aerr(outer));
                int r = find_member(outer, src->archive, src->member, err);
                if (r < 0)
                        return r;
        }
        struct rawsrc rs = { .fd = src->member ? -1 : fd, .outer = outer, .progress = o->progress,
                             .progress_arg = o->progress_arg };
        _cleanup_free_ char *buf = src->member ? NULL : dc_xmalloc(READ_CHUNK);
        rs.buf = buf;
        dc_sha256_init_bulk(&rs.h);
        struct midsrc mid = { 0 };
        _cleanup_archive_ struct archive *rawa = NULL, *tar = NULL;
        int r = 0;
        if (o->layer) {
                /* raw bytes -> (decompress) -> hashed -> tar */
                rawa = archive_read_new();
                dc_archive_support_filters(rawa);
                archive_read_support_format_raw(rawa);
                struct archive_entry *e;
                if (archive_read_open(rawa, &rs, NULL, raw_read, NULL) != ARCHIVE_OK ||
                    archive_read_next_header(rawa, &e) < ARCHIVE_WARN)
                        r = dc_err(err, EINVAL, "%s: not a layer libarchive can read: %s", what, aerr(rawa));
                mid.raw = rawa;
                /* only the pass-through "none" filter: the tar is the raw bytes, hashed once */
                mid.same = archive_filter_count(rawa) <= 1;
                dc_sha256_init_bulk(&mid.h);
                if (r == 0) {
                        tar = archive_read_new();
                        archive_read_support_format_tar(tar);
                        if (archive_read_open(tar, &mid, NULL, mid_read, NULL) != ARCHIVE_OK)
                                r = dc_err(err, EINVAL, "%s: not a tar layer: %s", what, aerr(tar));
                }
        } else {
                tar = archive_read_new();
                dc_archive_support_filters(tar);
                archive_read_support_format_all(tar);
                if (archive_read_open(tar, &rs, NULL, raw_read, NULL) != ARCHIVE_OK)
                        r = dc_err(err, EINVAL, "%s: not an archive libarchive can read: %s", what, aerr(tar));
        }

        struct ex x = { .root = dirfd, .o = o, .st = st, .err = err, .root_user = geteuid() == 0, .pfd = -1 };
        struct statvfs sv;
        x.avail = fstatvfs(dirfd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
        while (r == 0) {
                struct archive_entry *e;
                int h = archive_read_next_header(tar, &e);
                if (h == ARCHIVE_EOF)
                        break;
                if (h < ARCHIVE_WARN) {
                        r = dc_err(err, EIO, "%s: the archive is truncated or damaged: %s", what, aerr(tar));
                        break;
                }
                if (h == ARCHIVE_WARN)
                        warn(&x, "%s", aerr(tar));
                r = entry(&x, tar, e);
        }
        if (r == 0)
                apply_fixes(&x);
        close_parent(&x);
        for (size_t i = 0; i < x.nfix; i++)
                free(x.fix[i].path);
        free(x.fix);
        if (x.more_warnings)
                dc_strv_push_take(&st->warnings, dc_xasprintf("... and %llu more such warnings",
                                                              (unsigned long long)x.more_warnings));
        if (r < 0) {
                dc_sha256_free(&rs.h);
                dc_sha256_free(&mid.h);
                if (!dc_startswith(err->msg, what))
                        dc_err_wrap(err, "%s", what);
                return r;
        }

        /* Everything the parsers did not read counts for the digests too. */
        char hex[DC_SHA256_HEX + 1], mid_hex[DC_SHA256_HEX + 1];
        if (o->layer) {
                const void *p;
                while ((r = (int)mid_read(tar, &mid, &p)) > 0)
                        ;
                if (r < 0)
                        r = dc_err(err, EIO, "%s: %s", what, aerr(tar));
        }
        if (r == 0)
                r = raw_drain(&rs, rawa ? rawa : tar, err);
        if (r < 0) {
                dc_sha256_free(&rs.h);
                dc_sha256_free(&mid.h);
                return r;
        }
        st->raw_bytes = rs.bytes;
        dc_sha256_final(&rs.h, hex);
        if (o->layer && mid.same) {
                dc_sha256_free(&mid.h);
                memcpy(mid_hex, hex, sizeof(hex));
        } else if (o->layer) {
                dc_sha256_final(&mid.h, mid_hex);
        }
        if (raw_hex)
                memcpy(raw_hex, hex, sizeof(hex));
        if ((r = verify(what, src->digest, hex, "digest", err)) < 0)
                return r;
        if (o->layer && (r = verify(what, src->diff_id, mid_hex, "diff_id (the digest of the uncompressed layer)", err)) < 0)
                return r;
        return 0;
}
