/* Shared host resources (a sysctl such as net.ipv4.ip_forward, a base firewall
 * chain) are held by reference: STATE_ROOT/.shared/ID lists the holders and the
 * host's state before the first one, under the host lock STATE_ROOT/.lock. The
 * first holder changes the host; the last one restores it exactly. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/state.h"
#include "diyctl/util.h"
#include "steps.h"

int dc_host_lock(const char *state_root, struct dc_error *err)
{
        int r = dc_mkdir_p(state_root, 0755);
        if (r < 0)
                return dc_err(err, r, "cannot create %s: %s", state_root, strerror(-r));
        _cleanup_free_ char *lp = dc_xasprintf("%s/.lock", state_root);
        for (;;) {
                int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return dc_err(err, errno, "%s: %s", lp, strerror(errno));
                struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
                int lr;
                while ((lr = fcntl(fd, F_OFD_SETLKW, &fl)) < 0 && errno == EINTR)
                        ;
                if (lr < 0) {
                        int e = errno;
                        close(fd);
                        return dc_err(err, e, "lock %s: %s", lp, strerror(e));
                }
                /* The holder before us may have unlinked it (dc_host_unlock):
                 * only a lock on the file the path names now counts. */
                struct stat a, b;
                if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                        return fd;
                close(fd);
        }
}

void dc_host_unlock(int fd, const char *state_root)
{
        if (fd < 0)
                return;
        /* Leave nothing behind: the lock file goes while we still hold it. */
        _cleanup_free_ char *lp = dc_xasprintf("%s/.lock", state_root);
        unlink(lp);
        close(fd);
        dc_state_root_prune(state_root);
}

struct holders {
        char *prev;           /* NULL when the file did not exist */
        struct dc_strv names;
};

static void holders_free(struct holders *h)
{
        free(h->prev);
        dc_strv_free(&h->names);
}

static char *shared_path(const char *state_root, const char *id)
{
        _cleanup_free_ char *enc = dc_pct_encode(id);
        for (char *p = enc; *p; p++)
                if (*p == '/')
                        *p = '_';
        return dc_xasprintf("%s/.shared/%s", state_root, enc);
}

static int holders_read(const char *path, struct holders *h)
{
        memset(h, 0, sizeof(*h));
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (dc_startswith(line, "prev=")) {
                        free(h->prev);
                        h->prev = dc_pct_decode(line + 5);
                } else if (dc_startswith(line, "holder=")) {
                        dc_strv_push(&h->names, line + 7);
                }
        }
        free(line);
        if (!h->prev)
                h->prev = dc_xstrdup("");
        return 0;
}

/* Atomically replace (or, with no holders, remove) the holders file. */
static int holders_write(const char *state_root, const char *path, const struct holders *h, struct dc_error *err)
{
        if (h->names.n == 0) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return dc_err(err, errno, "%s: %s", path, strerror(errno));
                _cleanup_free_ char *dir = dc_xasprintf("%s/.shared", state_root);
                rmdir(dir); /* only when empty */
                return 0;
        }
        _cleanup_free_ char *dir = dc_xasprintf("%s/.shared", state_root);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return dc_err(err, errno, "%s: %s", dir, strerror(errno));
        _cleanup_free_ char *tmp = dc_xasprintf("%s.tmp", path);
        _cleanup_fclose_ FILE *f = fopen(tmp, "we");
        if (!f)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        _cleanup_free_ char *enc = dc_pct_encode(h->prev ? h->prev : "");
        fprintf(f, "prev=%s\n", enc);
        for (size_t i = 0; i < h->names.n; i++)
                fprintf(f, "holder=%s\n", h->names.v[i]);
        if (fflush(f) != 0 || fdatasync(fileno(f)) < 0)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        if (rename(tmp, path) < 0)
                return dc_err(err, errno, "%s: %s", path, strerror(errno));
        return 0;
}

int dc_shared_hold(const char *state_root, const char *id, const char *holder,
                   int (*before)(void *arg, char **prev, struct dc_error *err),
                   int (*first)(void *arg, struct dc_error *err),
                   int (*last)(void *arg, const char *prev, struct dc_error *err), void *arg,
                   struct dc_error *err)
{
        int lock = dc_host_lock(state_root, err);
        if (lock < 0)
                return lock;
        _cleanup_free_ char *path = shared_path(state_root, id);
        struct holders h;
        int r = holders_read(path, &h);
        if (r < 0) {
                r = dc_err(err, r, "%s: %s", path, strerror(-r));
        } else if (!dc_strv_contains(&h.names, holder)) {
                bool is_first = h.names.n == 0;
                char *prev = NULL;
                if (is_first && (r = before(arg, &prev, err)) == 0) {
                        free(h.prev);
                        h.prev = prev;
                }
                /* The holder and the host's previous state are recorded before
                 * the host changes: a crash in between leaves a record whose
                 * undo restores a value that was never changed, which is
                 * harmless; the other order could leave a change nobody undoes. */
                if (r == 0) {
                        dc_strv_push(&h.names, holder);
                        r = holders_write(state_root, path, &h, err);
                }
                if (r == 0 && is_first && (r = first(arg, err)) < 0) {
                        struct dc_error ignored;
                        last(arg, h.prev, &ignored); /* undo a partial change */
                        dc_strv_free(&h.names);
                        holders_write(state_root, path, &h, &ignored);
                }
        }
        holders_free(&h);
        dc_host_unlock(lock, state_root);
        return r;
}

int dc_shared_release(const char *state_root, const char *id, const char *holder,
                      int (*last)(void *arg, const char *prev, struct dc_error *err), void *arg, struct dc_error *err)
{
        int lock = dc_host_lock(state_root, err);
        if (lock < 0)
                return lock;
        _cleanup_free_ char *path = shared_path(state_root, id);
        struct holders h;
        int r = holders_read(path, &h);
        if (r < 0) {
                r = dc_err(err, r, "%s: %s", path, strerror(-r));
        } else if (dc_strv_contains(&h.names, holder)) {
                struct dc_strv rest = { 0 };
                for (size_t i = 0; i < h.names.n; i++)
                        if (strcmp(h.names.v[i], holder) != 0)
                                dc_strv_push(&rest, h.names.v[i]);
                if (rest.n == 0)
                        r = last(arg, h.prev, err);
                if (r == 0) {
                        dc_strv_free(&h.names);
                        h.names = rest;
                        rest = (struct dc_strv){ 0 };
                        r = holders_write(state_root, path, &h, err);
                }
                dc_strv_free(&rest);
        }
        holders_free(&h);
        dc_host_unlock(lock, state_root);
        return r;
}
