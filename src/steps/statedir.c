/* The state directory STATE_ROOT/NAME: lock (held for the container's life),
 * journal, pid file, and the mount point of the container's root. Its record
 * is the journal's first, so undoing it is teardown's last act. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/state.h"
#include "diyctl/util.h"
#include "steps.h"

/* Files the state directory may hold; undo removes exactly these. */
static const char *const state_files[] = { "journal", "status", "status.tmp", "log", "log.1", "resolv.conf", "lock" };
/* What an exited container's record keeps of them (dc_statedir_retire). */
static const char *const record_files[] = { "log", "log.1", "status" };

/* Take the lock of an existing or new state dir. 0 with *fd set, -EBUSY when
 * another launcher holds it. */
static int lock_state(const char *dir, int *fd_out, struct dc_error *err)
{
        _cleanup_free_ char *lp = dc_xasprintf("%s/lock", dir);
        for (int attempt = 0; attempt < 5; attempt++) {
                _cleanup_close_ int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return dc_err(err, errno, "%s: %s", lp, strerror(errno));
                /* An open-file-description lock: held while any copy of this fd
                 * lives, released by the kernel when the holder dies, and
                 * testable with F_OFD_GETLK without taking it (dc_state_locked). */
                struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
                if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                        if (errno == EAGAIN || errno == EACCES)
                                return -EBUSY;
                        return dc_err(err, errno, "lock %s: %s", lp, strerror(errno));
                }
                /* A teardown may have unlinked the file we opened: retry on a new one. */
                struct stat a, b;
                if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                        *fd_out = DC_TAKE_FD(fd);
                        return 0;
                }
        }
        return dc_err(err, EAGAIN, "%s: lock file keeps changing", lp);
}

int dc_statedir_lock(const char *dir, int *fd_out, struct dc_error *err)
{
        return lock_state(dir, fd_out, err);
}

/* Before the journal exists nothing would undo the state dir: remove it
 * (and its lock) directly, if nothing else is in it. */
static void abandon(const char *path, int lock_fd)
{
        _cleanup_free_ char *lp = dc_xasprintf("%s/lock", path);
        unlink(lp);
        if (lock_fd >= 0)
                close(lock_fd);
        if (rmdir(path) == 0) {
                _cleanup_free_ char *base = dc_xstrdup(path);
                char *slash = strrchr(base, '/');
                if (slash && slash != base) {
                        *slash = 0;
                        dc_state_root_prune(base);
                }
        }
}

/* Is the directory at PATH empty (or gone)? */
static bool dir_empty(const char *path)
{
        DIR *d = opendir(path);
        if (!d)
                return true;
        struct dirent *de;
        bool empty = true;
        while (empty && (de = readdir(d)))
                empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
        closedir(d);
        return empty;
}

/* May a start take the existing PATH as NAME's state directory? When it is
 * ours (dc_statedir_is_ours), empty, or what a start killed early left (a
 * lock, an empty root/): never a directory of other software's that shares
 * the state root. */
static bool may_take(const char *path, const char *name)
{
        if (dc_statedir_is_ours(path, name))
                return true;
        DIR *d = opendir(path);
        if (!d)
                return true; /* (what follows fails with the reason) */
        struct dirent *de;
        bool ok = true;
        while (ok && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, "lock") == 0)
                        continue;
                _cleanup_free_ char *sub = dc_xasprintf("%s/%s", path, de->d_name);
                ok = strcmp(de->d_name, "root") == 0 && dir_empty(sub);
        }
        closedir(d);
        return ok;
}

static int statedir_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        const char *path = dc_kvs_get(&s->args, "path");
        const char *name = dc_kvs_get(&s->args, "name");
        _cleanup_free_ char *base = dc_xstrdup(path);
        char *slash = strrchr(base, '/');
        if (slash && slash != base) {
                *slash = 0;
                /* diyctl's own base directory; shared, never removed */
                int r = dc_mkdir_p(base, 0755);
                if (r < 0)
                        return dc_err(err, r, "cannot create %s: %s", base, strerror(-r));
                if ((r = dc_state_root_safe(base, err)) < 0)
                        return r;
        }
        bool existed = false;
        int tries = 0, lock_tries = 0;
again:
        existed = false;
        /* 0711: a remapped container root must reach root/, nothing else */
        while (mkdir(path, 0711) < 0) {
                if (errno == ENOENT && slash && slash != base && tries++ < 10) {
                        /* a teardown pruned the empty base dir meanwhile */
                        dc_mkdir_p(base, 0755);
                        continue;
                }
                if (errno != EEXIST)
                        return dc_err(err, errno, "cannot create %s: %s", path, strerror(errno));
                existed = true;
                break;
        }
        if (existed && !may_take(path, name))
                return dc_err(err, EEXIST, "%s is there and is not a container's state directory (is the state "
                              "directory shared with other files?)", path);
        int lock_fd = -1;
        int r = lock_state(path, &lock_fd, err);
        if (r == -ENOENT && existed && lock_tries++ < 10)
                goto again; /* an exited container's record, removed meanwhile (stop, cleanup) */
        if (r == -EBUSY) {
                struct dc_state st;
                struct dc_error ignored;
                bool stopping = false;
                if (slash && slash != base && dc_state_read(base, name, &st, &ignored) == 0) {
                        stopping = st.stopping;
                        dc_state_free(&st);
                }
                return dc_err(err, EBUSY,
                              stopping ? "container %s has ended and is being torn down; try again"
                                       : "container %s is already running (state in %s)",
                              name, path);
        }
        if (r < 0) {
                if (!existed)
                        abandon(path, -1);
                return r;
        }
        ctx->lock_fd = lock_fd;
        _cleanup_free_ char *jp = dc_xasprintf("%s/journal", path);
        if (existed && access(jp, F_OK) == 0)
                return dc_err(err, EEXIST,
                              "container %s was not torn down (its launcher died?); run: diyctl cleanup %s",
                              name, name);
        if (existed) {
                /* the record of an earlier run that exited: this run replaces it */
                for (size_t i = 0; i < DC_ARRAY_SIZE(record_files); i++) {
                        _cleanup_free_ char *f = dc_xasprintf("%s/%s", path, record_files[i]);
                        if (unlink(f) < 0 && errno != ENOENT)
                                return dc_err(err, errno, "cannot remove %s: %s", f, strerror(errno));
                }
        }
        r = dc_journal_create(jp, name, &ctx->journal, err);
        if (r < 0) {
                /* no journal, so no teardown will run: remove what we made here */
                abandon(path, ctx->lock_fd);
                ctx->lock_fd = -1;
                return r;
        }
        unsigned seq;
        r = dc_step_intent(ctx, s, NULL, &seq, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *root = dc_xasprintf("%s/root", path);
        if (mkdir(root, 0755) < 0 && errno != EEXIST)
                return dc_err(err, errno, "cannot create %s: %s", root, strerror(errno));
        return dc_step_done(ctx, s, seq, NULL, err);
}

/* Empty the state dir PATH: its root mount point and its files, in
 * state_files' order (the journal before the lock); with KEEP_RECORD all
 * but record_files. */
static int remove_contents(const char *path, bool keep_record, struct dc_error *err)
{
        if (!path || path[0] != '/')
                return dc_err(err, EINVAL, "statedir record without an absolute path");
        _cleanup_free_ char *root = dc_xasprintf("%s/root", path);
        if (rmdir(root) < 0 && errno != ENOENT)
                return dc_err(err, errno, "cannot remove %s: %s", root, strerror(errno));
        for (size_t i = 0; i < DC_ARRAY_SIZE(state_files); i++) {
                bool keep = false;
                for (size_t k = 0; keep_record && k < DC_ARRAY_SIZE(record_files); k++)
                        keep |= strcmp(state_files[i], record_files[k]) == 0;
                _cleanup_free_ char *f = dc_xasprintf("%s/%s", path, state_files[i]);
                if (!keep && unlink(f) < 0 && errno != ENOENT)
                        return dc_err(err, errno, "cannot remove %s: %s", f, strerror(errno));
        }
        return 0;
}

static int statedir_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        const char *path = dc_kvs_get(rec, "path");
        int r = remove_contents(path, false, err);
        if (r < 0)
                return r;
        if (rmdir(path) < 0 && errno != ENOENT) {
                int e = errno;
                /* a new start of the name made its lock after ours went:
                 * the directory is its now, and ours is done */
                if (e == ENOTEMPTY && dc_state_locked(path))
                        return 0;
                return dc_err(err, e, "cannot remove %s: %s", path, strerror(e));
        }
        _cleanup_free_ char *base = dc_xstrdup(path);
        char *slash = strrchr(base, '/');
        if (slash && slash != base) {
                *slash = 0;
                dc_state_root_prune(base);
        }
        return 0;
}

int dc_statedir_retire(const char *dir, struct dc_error *err)
{
        return remove_contents(dir, true, err);
}

void dc_state_root_prune(const char *state_root)
{
        /* Fails harmlessly (ENOTEMPTY) while any container or lock is there. */
        rmdir(state_root);
}

static void statedir_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "create %s (lock, journal, root mount point)", dc_kvs_get(&s->args, "path"));
}

const struct dc_step_ops dc_statedir_ops = {
        .kind = "statedir",
        .side = DC_SIDE_HOST,
        .apply = statedir_apply,
        .undo = statedir_undo,
        .describe = statedir_describe,
};
