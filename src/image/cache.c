/* The image cache: unpacked trees keyed by content, shared between
 * containers and images, kept until `diyctl image prune`.
 *
 *   ROOT/                     0700: setuid files and file capabilities of
 *                             images live here, out of reach of host users
 *     .lock                   shared by unpacks and releases, exclusive by prune
 *     layers/HEX/             a layer, HEX = its diff_id (uncompressed digest)
 *     tarballs/HEX/           a rootfs tarball, HEX = the file's sha256
 *        tree/                the files (an overlayfs lower directory)
 *        info                 what it is, where it came from, its size
 *     tmp/KIND-HEX.PID.N/     an unpack in progress; renamed to its place when
 *                             complete, so a half unpack never looks complete
 *     locks/KIND-HEX          the entry's lock: concurrent starts unpack once
 *     holders/KIND-HEX/NAME.CRC  one per container using the entry (its state dir);
 *                             the directory stays with the entry (prune removes
 *                             both): removing it on a disk file system at each
 *                             stop, and making it again at each start, cost a
 *                             cached image start about 0.2 ms (bench/README.md)
 *     sums/SHA(PATH)          a tarball's digest, valid while its size, times
 *                             and inode stay the same (a cached start then
 *                             need not read it)
 * A holder counts while its container's state dir is locked (it runs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diyctl/image.h"
#include "diyctl/journal.h"
#include "diyctl/state.h"
#include "diyctl/util.h"

static const char *const subdirs[] = { "layers", "tarballs", "tmp", "locks", "holders", "sums" };

char *dc_image_cache_root(uid_t uid)
{
        const char *env = getenv("DIYCTL_DATA_ROOT");
        if (env && *env)
                return dc_xasprintf("%s/images", env);
        if (uid == 0)
                return dc_xstrdup("/var/lib/diyctl/images");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && xdg[0] == '/')
                return dc_xasprintf("%s/diyctl/images", xdg);
        const char *home = getenv("HOME");
        if (home && home[0] == '/')
                return dc_xasprintf("%s/.local/share/diyctl/images", home);
        return dc_xasprintf("/var/tmp/diyctl-%u/images", (unsigned)uid);
}

const char *dc_cache_kind_name(enum dc_cache_kind k)
{
        return k == DC_CACHE_TARBALL ? "tarball" : "layer";
}

int dc_cache_kind_parse(const char *s, enum dc_cache_kind *k)
{
        if (dc_streq(s, "layer"))
                *k = DC_CACHE_LAYER;
        else if (dc_streq(s, "tarball"))
                *k = DC_CACHE_TARBALL;
        else
                return -EINVAL;
        return 0;
}

static const char *kind_dir(enum dc_cache_kind k)
{
        return k == DC_CACHE_TARBALL ? "tarballs" : "layers";
}

static bool hex_valid(const char *h)
{
        return h && strlen(h) == DC_SHA256_HEX && strspn(h, "0123456789abcdef") == DC_SHA256_HEX;
}

char *dc_cache_entry_path(const char *root, enum dc_cache_kind k, const char *hex)
{
        return dc_xasprintf("%s/%s/%s", root, kind_dir(k), hex);
}

char *dc_cache_tmp_path(const char *root, enum dc_cache_kind k, const char *hex, unsigned seq)
{
        return dc_xasprintf("%s/tmp/%s-%s.%d.%u", root, dc_cache_kind_name(k), hex, (int)getpid(), seq);
}

char *dc_cache_holder_path(const char *root, enum dc_cache_kind k, const char *hex, const char *name,
                           const char *state_dir)
{
        return dc_xasprintf("%s/holders/%s-%s/%s.%08x", root, dc_cache_kind_name(k), hex, name,
                            dc_crc32(state_dir, strlen(state_dir)));
}

/* ---- locks -------------------------------------------------------------- */

static int ensure_dirs(const char *root, struct dc_error *err)
{
        if (mkdir(root, 0700) == 0 || errno == EEXIST) {
                /* there (it may be a symlink to a directory elsewhere: fine) */
        } else if (errno == ENOENT) {
                _cleanup_free_ char *parent = dc_xstrdup(root);
                char *slash = strrchr(parent, '/');
                if (slash && slash != parent) {
                        *slash = 0;
                        int r = dc_mkdir_p(parent, 0755);
                        if (r < 0)
                                return dc_err(err, -r, "cannot create %s: %s", parent, strerror(-r));
                }
                if (mkdir(root, 0700) < 0 && errno != EEXIST)
                        return dc_err(err, errno, "cannot create %s: %s", root, strerror(errno));
        } else {
                return dc_err(err, errno, "cannot create %s: %s", root, strerror(errno));
        }
        for (size_t i = 0; i < DC_ARRAY_SIZE(subdirs); i++) {
                _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, subdirs[i]);
                if (mkdir(d, 0700) < 0 && errno != EEXIST)
                        return dc_err(err, errno, "cannot create %s: %s", d, strerror(errno));
        }
        return 0;
}

/* An OFD lock on PATH (created), re-taken when the file was replaced while
 * we waited (prune removes lock files). Returns the fd or negative. */
static int lock_path(const char *root, const char *path, short type, struct dc_error *err)
{
        for (int attempt = 0; attempt < 20; attempt++) {
                int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0 && errno == ENOENT) {
                        /* the cache (or part of it) is not there yet, or prune just removed it */
                        int r = ensure_dirs(root, err);
                        if (r < 0)
                                return r;
                        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                }
                if (fd < 0)
                        return dc_err(err, errno, "%s: %s", path, strerror(errno));
                struct flock fl = { .l_type = type, .l_whence = SEEK_SET };
                while (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
                        if (errno != EINTR) {
                                int e = errno;
                                close(fd);
                                return dc_err(err, e, "lock %s: %s", path, strerror(e));
                        }
                }
                struct stat a, b;
                if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                        return fd;
                close(fd);
        }
        return dc_err(err, EAGAIN, "%s: the lock file keeps changing", path);
}

static int lock_global(const char *root, short type, struct dc_error *err)
{
        _cleanup_free_ char *p = dc_xasprintf("%s/.lock", root);
        return lock_path(root, p, type, err);
}

static void closep_quiet(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_lock_ __attribute__((cleanup(closep_quiet)))

/* ---- small files ------------------------------------------------------ */

static int write_kv_file(const char *path, const struct dc_kvs *kv, bool sync, struct dc_error *err)
{
        _cleanup_free_ char *tmp = dc_xasprintf("%s.tmp", path);
        _cleanup_fclose_ FILE *f = fopen(tmp, "we");
        if (!f)
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        for (size_t i = 0; i < kv->n; i++) {
                _cleanup_free_ char *v = dc_pct_encode(kv->v[i].val);
                fprintf(f, "%s=%s\n", kv->v[i].key, v);
        }
        if (fflush(f) != 0 || (sync && fsync(fileno(f)) < 0))
                return dc_err(err, errno, "%s: %s", tmp, strerror(errno));
        if (rename(tmp, path) < 0)
                return dc_err(err, errno, "%s: %s", path, strerror(errno));
        return 0;
}

static void read_kv_file(const char *path, struct dc_kvs *kv)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq = 0;
                char *v = dc_pct_decode(eq + 1);
                if (v) {
                        dc_kvs_add(kv, line, v);
                        free(v);
                }
        }
        free(line);
}

int dc_cache_check_userns(const char *tree, struct dc_error *err)
{
        _cleanup_free_ char *entry = dc_xstrdup(tree);
        char *slash = strrchr(entry, '/');
        if (slash)
                *slash = 0;
        _cleanup_free_ char *ip = dc_xasprintf("%s/info", entry);
        struct dc_kvs info = { 0 };
        read_kv_file(ip, &info);
        long long wh = 0, op = -1, uop = -1;
        dc_kvs_get_ll(&info, "whiteouts", &wh);
        dc_kvs_get_ll(&info, "opaques", &op);
        dc_kvs_get_ll(&info, "user_opaques", &uop);
        dc_kvs_free(&info);
        /* an older entry does not say how many opaque directories it has:
         * only one without any whiteout is surely fine */
        bool ok = op >= 0 ? uop >= op : wh == 0;
        if (ok)
                return 0;
        return dc_err(err, EPROTO, "the cached layer %s lacks the user.overlay.opaque marks overlayfs needs in a user "
                      "namespace (unpacked by an older diyctl, or on a file system without user xattrs): remove it "
                      "with `diyctl image prune` (when no container uses it) and start again", entry);
}

/* ---- tarball digests ---------------------------------------------------- */

static char *memo_path(const char *root, const char *path)
{
        struct dc_sha256 h;
        char hex[DC_SHA256_HEX + 1];
        dc_sha256_init(&h);
        dc_sha256_update(&h, path, strlen(path));
        dc_sha256_final(&h, hex);
        return dc_xasprintf("%s/sums/%.32s", root, hex);
}

/* The fields an image memo holds; a memo of another format is inspected
 * again (2: StopSignal). */
#define IMAGE_MEMO_FORMAT "2"

static void stat_kv(const struct stat *st, const char *path, struct dc_kvs *kv)
{
        dc_kvs_add(kv, "path", path);
        dc_kvs_addf(kv, "size", "%lld", (long long)st->st_size);
        dc_kvs_addf(kv, "mtime", "%lld.%09ld", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        dc_kvs_addf(kv, "ctime", "%lld.%09ld", (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
        dc_kvs_addf(kv, "ino", "%llu:%llu", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
        return a->st_size == b->st_size && a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
               a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int dc_cache_tarball_key(const char *root, const char *path, char hex[DC_SHA256_HEX + 1], struct dc_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "%s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return dc_err(err, errno, "%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return dc_err(err, EINVAL, "%s is not a regular file", path);
        _cleanup_free_ char *mp = memo_path(root, path);
        struct dc_kvs memo = { 0 }, now = { 0 };
        read_kv_file(mp, &memo);
        stat_kv(&st, path, &now);
        bool hit = hex_valid(dc_kvs_get(&memo, "sha256"));
        for (size_t i = 0; hit && i < now.n; i++)
                hit = dc_streq(dc_kvs_get(&memo, now.v[i].key), now.v[i].val);
        if (hit)
                memcpy(hex, dc_kvs_get(&memo, "sha256"), DC_SHA256_HEX + 1);
        dc_kvs_free(&memo);
        dc_kvs_free(&now);
        if (hit)
                return 0;
        int r = dc_sha256_fd(fd, hex);
        if (r < 0)
                return dc_err(err, -r, "%s: %s", path, strerror(-r));
        return 0;
}

/* ---- image inspections ----------------------------------------------------- */

static char *image_memo_path(const char *root, const char *archive, const char *tag)
{
        struct dc_sha256 h;
        char hex[DC_SHA256_HEX + 1];
        dc_sha256_init(&h);
        dc_sha256_update(&h, "image", 6);
        dc_sha256_update(&h, archive, strlen(archive) + 1);
        if (tag)
                dc_sha256_update(&h, tag, strlen(tag));
        dc_sha256_final(&h, hex);
        return dc_xasprintf("%s/sums/%.32s", root, hex);
}

/* Fields joined by spaces, each percent-encoded ("-" for none). */
static char *join_fields(const char *const *f, size_t n)
{
        char *out = dc_xstrdup("");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *e = f[i] ? dc_pct_encode(f[i]) : dc_xstrdup("-");
                char *j = dc_xasprintf("%s%s%s", out, i ? " " : "", *e ? e : "%00");
                free(out);
                out = j;
        }
        return out;
}

static int split_fields(const char *s, char **f, size_t n)
{
        _cleanup_free_ char *copy = dc_xstrdup(s);
        char *save = NULL;
        size_t i = 0;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (i == n)
                        goto bad;
                f[i++] = strcmp(t, "-") == 0 ? NULL : dc_pct_decode(t);
                if (strcmp(t, "-") != 0 && !f[i - 1])
                        goto bad;
        }
        if (i == n)
                return 0;
bad:
        for (size_t k = 0; k < i; k++)
                free(f[k]);
        return -EINVAL;
}

static void strv_kv(struct dc_kvs *kv, const char *key, const struct dc_strv *sv)
{
        dc_kvs_addf(kv, key, "%zu", sv->n);
        for (size_t i = 0; i < sv->n; i++) {
                _cleanup_free_ char *k = dc_xasprintf("%s.%zu", key, i);
                dc_kvs_add(kv, k, sv->v[i]);
        }
}

static int kv_strv(const struct dc_kvs *kv, const char *key, struct dc_strv *sv)
{
        long long n;
        if (dc_kvs_get_ll(kv, key, &n) < 0 || n < 0 || n > 100000)
                return -EINVAL;
        for (long long i = 0; i < n; i++) {
                _cleanup_free_ char *k = dc_xasprintf("%s.%lld", key, i);
                const char *v = dc_kvs_get(kv, k);
                if (!v)
                        return -EINVAL;
                dc_strv_push(sv, v);
        }
        return 0;
}

static void opt_dup(char **dst, const char *v)
{
        *dst = v ? dc_xstrdup(v) : NULL;
}

int dc_cache_image_memo_read(const char *root, const char *archive, const char *tag, struct dc_image *out)
{
        memset(out, 0, sizeof(*out));
        struct stat st;
        if (stat(archive, &st) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        _cleanup_free_ char *mp = image_memo_path(root, archive, tag);
        struct dc_kvs memo = { 0 }, now = { 0 };
        read_kv_file(mp, &memo);
        stat_kv(&st, archive, &now);
        dc_kvs_add(&now, "format", IMAGE_MEMO_FORMAT);
        bool hit = dc_streq(dc_kvs_get(&memo, "kind"), "image") && dc_streq(dc_kvs_get(&memo, "tag"), tag ? tag : "");
        for (size_t i = 0; hit && i < now.n; i++)
                hit = dc_streq(dc_kvs_get(&memo, now.v[i].key), now.v[i].val);
        dc_kvs_free(&now);
        int r = hit ? 0 : -ENOENT;
        if (r == 0) {
                out->archive = dc_xstrdup(archive);
                opt_dup(&out->name, dc_kvs_get(&memo, "name"));
                opt_dup(&out->id, dc_kvs_get(&memo, "id"));
                opt_dup(&out->layout, dc_kvs_get(&memo, "layout"));
                struct dc_image_config *c = &out->config;
                opt_dup(&c->workdir, dc_kvs_get(&memo, "workdir"));
                opt_dup(&c->user, dc_kvs_get(&memo, "user"));
                opt_dup(&c->stop_signal, dc_kvs_get(&memo, "stopsignal"));
                if (kv_strv(&memo, "entrypoint", &c->entrypoint) < 0 || kv_strv(&memo, "cmd", &c->cmd) < 0 ||
                    kv_strv(&memo, "env", &c->env) < 0)
                        r = -ENOENT;
                for (size_t i = 0; r == 0 && i < memo.n; i++) {
                        if (strcmp(memo.v[i].key, "layer") != 0)
                                continue;
                        char *f[4];
                        if (split_fields(memo.v[i].val, f, 4) < 0 || !f[0] || !f[3]) {
                                r = -ENOENT;
                                break;
                        }
                        out->layers = dc_xrealloc(out->layers, (out->n_layers + 1) * sizeof(*out->layers));
                        struct dc_image_layer *l = &out->layers[out->n_layers++];
                        l->member = f[0];
                        l->digest = f[1];
                        l->diff_id = f[2];
                        l->size = atoll(f[3]);
                        free(f[3]);
                        if ((l->digest && !dc_digest_valid(l->digest)) || (l->diff_id && !dc_digest_valid(l->diff_id)))
                                r = -ENOENT;
                }
                if (r == 0 && out->n_layers == 0)
                        r = -ENOENT;
        }
        dc_kvs_free(&memo);
        if (r < 0)
                dc_image_free(out);
        return r;
}

int dc_cache_image_memo_write(const char *root, const char *archive, const char *tag, struct dc_error *err)
{
        struct stat before, after;
        if (stat(archive, &before) < 0)
                return dc_err(err, errno, "%s: %s", archive, strerror(errno));
        struct dc_image img;
        if (dc_cache_image_memo_read(root, archive, tag, &img) == 0) {
                dc_image_free(&img);
                return 0; /* up to date */
        }
        int r = dc_image_inspect(archive, tag, &img, err);
        if (r < 0)
                return r;
        if (stat(archive, &after) < 0 || !same_stat(&before, &after)) {
                dc_image_free(&img);
                return 0; /* changed meanwhile: remember nothing */
        }
        struct dc_kvs kv = { 0 };
        dc_kvs_add(&kv, "kind", "image");
        stat_kv(&after, archive, &kv);
        dc_kvs_add(&kv, "format", IMAGE_MEMO_FORMAT);
        dc_kvs_add(&kv, "tag", tag ? tag : "");
        if (img.name)
                dc_kvs_add(&kv, "name", img.name);
        if (img.id)
                dc_kvs_add(&kv, "id", img.id);
        if (img.layout)
                dc_kvs_add(&kv, "layout", img.layout);
        const struct dc_image_config *c = &img.config;
        strv_kv(&kv, "entrypoint", &c->entrypoint);
        strv_kv(&kv, "cmd", &c->cmd);
        strv_kv(&kv, "env", &c->env);
        if (c->workdir)
                dc_kvs_add(&kv, "workdir", c->workdir);
        if (c->user)
                dc_kvs_add(&kv, "user", c->user);
        if (c->stop_signal)
                dc_kvs_add(&kv, "stopsignal", c->stop_signal);
        for (size_t i = 0; i < img.n_layers; i++) {
                const struct dc_image_layer *l = &img.layers[i];
                char size[32];
                snprintf(size, sizeof(size), "%lld", l->size);
                const char *f[] = { l->member, l->digest, l->diff_id, size };
                _cleanup_free_ char *v = join_fields(f, 4);
                dc_kvs_add(&kv, "layer", v);
                const char *hex = dc_digest_hex(l->diff_id) ? dc_digest_hex(l->diff_id) : dc_digest_hex(l->digest);
                if (hex)
                        dc_kvs_add(&kv, "entry", hex);
        }
        _cleanup_free_ char *mp = image_memo_path(root, archive, tag);
        _cleanup_lock_ int g = lock_global(root, F_RDLCK, err); /* not while prune runs */
        r = g < 0 ? g : ensure_dirs(root, err);
        if (r == 0)
                r = write_kv_file(mp, &kv, false, err);
        dc_kvs_free(&kv);
        dc_image_free(&img);
        return r;
}

/* ---- unpack --------------------------------------------------------------- */

static int write_holder(const char *root, const char *holder, const char *state_dir, struct dc_error *err)
{
        _cleanup_free_ char *dir = dc_xstrdup(holder);
        *strrchr(dir, '/') = 0;
        struct dc_kvs kv = { 0 };
        dc_kvs_add(&kv, "statedir", state_dir);
        int r = 0;
        for (int attempt = 0; attempt < 5; attempt++) {
                int m = mkdir(dir, 0700);
                if (m < 0 && errno == ENOENT) {
                        /* the cache's own directories are not there yet */
                        if ((r = ensure_dirs(root, err)) < 0)
                                break;
                        m = mkdir(dir, 0700);
                }
                if (m < 0 && errno != EEXIST) {
                        r = dc_err(err, errno, "cannot create %s: %s", dir, strerror(errno));
                        break;
                }
                r = write_kv_file(holder, &kv, false, err);
                if (r != -ENOENT)
                        break; /* ENOENT: removed meanwhile (by an older diyctl's release) */
        }
        dc_kvs_free(&kv);
        return r;
}

static bool is_dir(const char *p)
{
        struct stat st;
        return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Does the unpacked TREE hold a `docker image save` archive: a top-level
 * manifest.json that is a list of images with their "Layers"? */
static bool is_docker_save(int tree)
{
        _cleanup_close_ int fd = openat(tree, "manifest.json", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        static char buf[65536];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        const char *p = buf + strspn(buf, " \t\r\n");
        return *p == '[' && strstr(p, "\"Layers\"") != NULL;
}

int dc_cache_unpack(struct dc_cache_unpack *u, struct dc_error *err)
{
        u->cached = false;
        memset(&u->stats, 0, sizeof(u->stats));
        if (!hex_valid(u->hex))
                return dc_err(err, EINVAL, "bad cache key %s", u->hex ? u->hex : "(none)");
        _cleanup_lock_ int g = lock_global(u->root, F_RDLCK, err);
        if (g < 0)
                return g;
        /* First the holder: from here on prune leaves the entry alone. The
         * cache's directories are made where one is missing (under the
         * global lock, prune removes none of them). */
        int r = write_holder(u->root, u->holder, u->holder_dir, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *lp = dc_xasprintf("%s/locks/%s-%s", u->root, dc_cache_kind_name(u->kind), u->hex);
        _cleanup_lock_ int l = lock_path(u->root, lp, F_WRLCK, err);
        if (l < 0)
                return l;
        _cleanup_free_ char *entry = dc_cache_entry_path(u->root, u->kind, u->hex);
        if (is_dir(entry)) {
                _cleanup_free_ char *tree = dc_xasprintf("%s/tree", entry);
                if (is_dir(tree)) {
                        u->cached = true;
                        return 0;
                }
                /* an entry without its tree (removed by hand): unpacked
                 * again, under the entry's lock, rather than mounted as
                 * nothing */
                if ((r = dc_rm_rf_at(AT_FDCWD, entry)) < 0)
                        return dc_err(err, -r, "%s has no tree/ and cannot be removed: %s (diyctl image prune "
                                      "removes it)", entry, strerror(-r));
        }

        /* A leftover of a dead launcher with our pid would be in the way. */
        if ((r = dc_rm_rf_at(AT_FDCWD, u->tmp)) < 0)
                return dc_err(err, -r, "cannot remove %s: %s", u->tmp, strerror(-r));
        if ((r = ensure_dirs(u->root, err)) < 0)
                return r;
        if (mkdir(u->tmp, 0700) < 0)
                return dc_err(err, errno, "cannot create %s: %s", u->tmp, strerror(errno));
        _cleanup_free_ char *tree = dc_xasprintf("%s/tree", u->tmp);
        if (mkdir(tree, 0755) < 0 || chmod(tree, 0755) < 0) {
                r = dc_err(err, errno, "cannot create %s: %s", tree, strerror(errno));
                dc_rm_rf_at(AT_FDCWD, u->tmp);
                return r;
        }
        _cleanup_close_ int tfd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0) {
                r = dc_err(err, errno, "%s: %s", tree, strerror(errno));
                dc_rm_rf_at(AT_FDCWD, u->tmp);
                return r;
        }
        struct stat before, after;
        bool have_before = stat(u->src.archive, &before) == 0;
        struct dc_extract_opts eo = { .layer = u->kind == DC_CACHE_LAYER, .owners = geteuid() == 0,
                                      .progress = u->progress, .progress_arg = u->progress_arg };
        char raw_hex[DC_SHA256_HEX + 1] = "";
        r = dc_extract(&u->src, tfd, &eo, &u->stats, raw_hex, err);
        if (r == 0 && u->kind == DC_CACHE_TARBALL && strcmp(raw_hex, u->hex) != 0)
                r = dc_err(err, EBADMSG, "%s changed since the plan was made (its sha256 is now %s, not %s); "
                           "start again", u->src.archive, raw_hex, u->hex);
        /* `docker image save` where `docker export` was meant: the image's
         * manifest and layers, which no process could run from */
        if (r == 0 && u->kind == DC_CACHE_TARBALL && is_docker_save(tfd))
                r = dc_err(err, EINVAL, DC_DOCKER_SAVE_AS_TARBALL, u->src.archive);
        struct dc_kvs info = { 0 };
        if (r == 0) {
                dc_kvs_add(&info, "kind", dc_cache_kind_name(u->kind));
                dc_kvs_addf(&info, "key", "sha256:%s", u->hex);
                dc_kvs_add(&info, "archive", u->src.archive);
                if (u->src.member)
                        dc_kvs_add(&info, "member", u->src.member);
                if (u->src.digest)
                        dc_kvs_add(&info, "digest", u->src.digest);
                if (u->label)
                        dc_kvs_add(&info, "label", u->label);
                dc_kvs_addf(&info, "created", "%lld", (long long)time(NULL));
                dc_kvs_addf(&info, "bytes", "%llu", (unsigned long long)u->stats.bytes);
                dc_kvs_addf(&info, "raw_bytes", "%llu", (unsigned long long)u->stats.raw_bytes);
                dc_kvs_addf(&info, "entries", "%llu", (unsigned long long)u->stats.entries);
                dc_kvs_addf(&info, "whiteouts", "%llu", (unsigned long long)(u->stats.whiteouts + u->stats.opaques));
                dc_kvs_addf(&info, "opaques", "%llu", (unsigned long long)u->stats.opaques);
                dc_kvs_addf(&info, "user_opaques", "%llu", (unsigned long long)u->stats.user_opaques);
                _cleanup_free_ char *ip = dc_xasprintf("%s/info", u->tmp);
                r = write_kv_file(ip, &info, false, err);
        }
        dc_kvs_free(&info);
        /* Durable before it is renamed into place: after a power cut an entry
         * is either absent or whole. */
        if (r == 0 && syncfs(tfd) < 0)
                r = dc_err(err, errno, "syncfs %s: %s", tree, strerror(errno));
        if (r == 0 && rename(u->tmp, entry) < 0)
                r = dc_err(err, errno, "cannot move %s to %s: %s", u->tmp, entry, strerror(errno));
        if (r < 0) {
                dc_rm_rf_at(AT_FDCWD, u->tmp);
                return r;
        }
        _cleanup_free_ char *kd = dc_xasprintf("%s/%s", u->root, kind_dir(u->kind));
        _cleanup_close_ int kfd = open(kd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (kfd >= 0)
                fsync(kfd);
        /* Remember the tarball's digest for the next plan, if it did not change meanwhile. */
        if (u->kind == DC_CACHE_TARBALL && have_before && stat(u->src.archive, &after) == 0 &&
            same_stat(&before, &after)) {
                struct dc_kvs memo = { 0 };
                stat_kv(&after, u->src.archive, &memo);
                dc_kvs_add(&memo, "sha256", u->hex);
                _cleanup_free_ char *mp = memo_path(u->root, u->src.archive);
                struct dc_error ignored;
                write_kv_file(mp, &memo, false, &ignored);
                dc_kvs_free(&memo);
        }
        return 0;
}

/* PATH is ROOT/SUB/<one component>... below ROOT, without "..". */
static bool under(const char *root, const char *sub, const char *path)
{
        _cleanup_free_ char *prefix = dc_xasprintf("%s/%s/", root, sub);
        return path && dc_startswith(path, prefix) && !strstr(path, "/../") && !strstr(path, "/./") &&
               path[strlen(prefix)] && path[strlen(prefix)] != '.';
}

int dc_cache_release(const char *root, const char *tmp, const char *holder, struct dc_error *err)
{
        if (!root || root[0] != '/' || (tmp && !under(root, "tmp", tmp)) || (holder && !under(root, "holders", holder)))
                return dc_err(err, EINVAL, "image-unpack record with paths outside the cache %s", root ? root : "(none)");
        struct stat st;
        if (stat(root, &st) < 0 && errno == ENOENT)
                return 0; /* pruned away entirely: nothing of ours is left */
        _cleanup_lock_ int g = lock_global(root, F_RDLCK, err);
        if (g < 0)
                return g;
        if (holder) {
                if (unlink(holder) < 0 && errno != ENOENT)
                        return dc_err(err, errno, "cannot remove %s: %s", holder, strerror(errno));
        }
        if (tmp) {
                int r = dc_rm_rf_at(AT_FDCWD, tmp);
                if (r < 0)
                        return dc_err(err, -r, "cannot remove the partial unpack %s: %s", tmp, strerror(-r));
        }
        return 0;
}

/* ---- list and prune ------------------------------------------------------ */

static void entry_free(struct dc_cache_entry *e)
{
        free(e->hex);
        free(e->path);
        dc_kvs_free(&e->info);
        dc_strv_free(&e->users);
        dc_strv_free(&e->stale);
}

void dc_cache_list_free(struct dc_cache_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                entry_free(&l->v[i]);
        free(l->v);
        dc_strv_free(&l->partial);
        memset(l, 0, sizeof(*l));
}

static int names_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in DIR, sorted (none when it does not exist). */
static void list_dir(const char *dir, struct dc_strv *out)
{
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        dc_strv_push(out, de->d_name);
        closedir(d);
        if (out->n)
                qsort(out->v, out->n, sizeof(char *), names_cmp);
}

static void holders_of(const char *root, struct dc_cache_entry *e)
{
        _cleanup_free_ char *hd = dc_xasprintf("%s/holders/%s-%s", root, dc_cache_kind_name(e->kind), e->hex);
        struct dc_strv names = { 0 };
        list_dir(hd, &names);
        for (size_t i = 0; i < names.n; i++) {
                if (strstr(names.v[i], ".tmp"))
                        continue;
                _cleanup_free_ char *p = dc_xasprintf("%s/%s", hd, names.v[i]);
                struct dc_kvs kv = { 0 };
                read_kv_file(p, &kv);
                const char *sd = dc_kvs_get(&kv, "statedir");
                if (sd && dc_state_locked(sd))
                        dc_strv_push(&e->users, sd);
                else
                        dc_strv_push(&e->stale, names.v[i]);
                dc_kvs_free(&kv);
        }
        dc_strv_free(&names);
}

static int collect(const char *root, struct dc_cache_list *out)
{
        memset(out, 0, sizeof(*out));
        for (int k = 0; k < 2; k++) {
                enum dc_cache_kind kind = k ? DC_CACHE_TARBALL : DC_CACHE_LAYER;
                _cleanup_free_ char *kd = dc_xasprintf("%s/%s", root, kind_dir(kind));
                struct dc_strv names = { 0 };
                list_dir(kd, &names);
                for (size_t i = 0; i < names.n; i++) {
                        if (!hex_valid(names.v[i]))
                                continue;
                        out->v = dc_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
                        struct dc_cache_entry *e = &out->v[out->n++];
                        memset(e, 0, sizeof(*e));
                        e->kind = kind;
                        e->hex = dc_xstrdup(names.v[i]);
                        e->path = dc_xasprintf("%s/%s", kd, names.v[i]);
                        _cleanup_free_ char *ip = dc_xasprintf("%s/info", e->path);
                        read_kv_file(ip, &e->info);
                        holders_of(root, e);
                }
                dc_strv_free(&names);
        }
        _cleanup_free_ char *td = dc_xasprintf("%s/tmp", root);
        list_dir(td, &out->partial);
        return 0;
}

int dc_cache_list(const char *root, struct dc_cache_list *out, struct dc_error *err)
{
        (void)err;
        return collect(root, out);
}

void dc_cache_prune_result_free(struct dc_cache_prune_result *r)
{
        dc_strv_free(&r->removed);
        dc_strv_free(&r->kept);
        memset(r, 0, sizeof(*r));
}

static bool id_selected(const struct dc_cache_prune_opts *o, const struct dc_cache_entry *e, bool *used)
{
        if (!o->n_ids)
                return true;
        for (size_t i = 0; i < o->n_ids; i++) {
                const char *id = o->ids[i];
                const char *kind = NULL;
                if (dc_startswith(id, "layer:")) {
                        kind = "layer";
                        id += 6;
                } else if (dc_startswith(id, "tarball:")) {
                        kind = "tarball";
                        id += 8;
                }
                if (dc_startswith(id, "sha256:"))
                        id += 7;
                if (kind && strcmp(kind, dc_cache_kind_name(e->kind)) != 0)
                        continue;
                if (*id && dc_startswith(e->hex, id)) {
                        used[i] = true;
                        return true;
                }
        }
        return false;
}

static void remove_dir_if_empty(const char *root, const char *sub)
{
        _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, sub);
        rmdir(d);
}

/* An id as `image list` shows it, or a prefix of one: [layer:|tarball:]
 * [sha256:] and 1 to 64 lowercase hex digits. */
static bool valid_cache_id(const char *id)
{
        if (dc_startswith(id, "layer:"))
                id += 6;
        else if (dc_startswith(id, "tarball:"))
                id += 8;
        if (dc_startswith(id, "sha256:"))
                id += 7;
        size_t n = strlen(id);
        return n >= 1 && n <= 64 && strspn(id, "0123456789abcdef") == n;
}

int dc_cache_prune(const char *root, const struct dc_cache_prune_opts *o, struct dc_cache_prune_result *res,
                   struct dc_error *err)
{
        memset(res, 0, sizeof(*res));
        for (size_t i = 0; i < o->n_ids; i++)
                if (!valid_cache_id(o->ids[i]))
                        return dc_err(err, EINVAL,
                                      "\"%s\" is not a cache id: a hex id or its prefix, optionally after \"layer:\" or "
                                      "\"tarball:\" and \"sha256:\", as `diyctl image list` shows them",
                                      o->ids[i]);
        struct stat st;
        if (stat(root, &st) < 0) {
                if (errno == ENOENT && !o->n_ids)
                        return 0;
                if (errno == ENOENT)
                        return dc_err(err, ENOENT, "no cache entry %s (the cache %s is empty)", o->ids[0], root);
                return dc_err(err, errno, "%s: %s", root, strerror(errno));
        }
        _cleanup_lock_ int g = lock_global(root, F_WRLCK, err);
        if (g < 0)
                return g;
        int r = o->dry_run ? 0 : ensure_dirs(root, err); /* an earlier prune may have removed empty ones */
        if (r < 0)
                return r;
        struct dc_cache_list l;
        collect(root, &l);
        bool *used = dc_xcalloc(o->n_ids + 1, sizeof(bool));
        for (size_t i = 0; i < l.n && r == 0; i++) {
                struct dc_cache_entry *e = &l.v[i];
                if (!id_selected(o, e, used))
                        continue;
                const char *kn = dc_cache_kind_name(e->kind);
                if (e->users.n) {
                        dc_strv_push_take(&res->kept, dc_xasprintf("%s %s: used by %s%s", kn, e->hex, e->users.v[0],
                                                                   e->users.n > 1 ? " and others" : ""));
                        continue;
                }
                long long b = 0;
                dc_kvs_get_ll(&e->info, "bytes", &b);
                res->bytes += b > 0 ? (uint64_t)b : 0;
                dc_strv_push_take(&res->removed, dc_xasprintf("%s %s", kn, e->hex));
                if (o->dry_run)
                        continue;
                /* Out of its place first, so a half removal never looks complete. */
                _cleanup_free_ char *trash = dc_xasprintf("%s/tmp/%s-%s.prune.%d", root, kn, e->hex, (int)getpid());
                if (rename(e->path, trash) < 0) {
                        r = dc_err(err, errno, "cannot move %s away: %s", e->path, strerror(errno));
                        break;
                }
                int q = dc_rm_rf_at(AT_FDCWD, trash);
                if (q < 0) {
                        r = dc_err(err, -q, "cannot remove %s: %s", trash, strerror(-q));
                        break;
                }
                _cleanup_free_ char *hd = dc_xasprintf("%s/holders/%s-%s", root, kn, e->hex);
                dc_rm_rf_at(AT_FDCWD, hd); /* stale holders only: it had no user */
                _cleanup_free_ char *lk = dc_xasprintf("%s/locks/%s-%s", root, kn, e->hex);
                unlink(lk);
        }
        for (size_t i = 0; r == 0 && i < o->n_ids; i++)
                if (!used[i])
                        r = dc_err(err, ENOENT, "no cache entry %s", o->ids[i]);
        free(used);
        if (r == 0 && !o->dry_run) {
                /* Leftovers of interrupted unpacks: no unpack runs while we hold the lock. */
                for (size_t i = 0; i < l.partial.n; i++) {
                        _cleanup_free_ char *p = dc_xasprintf("%s/tmp/%s", root, l.partial.v[i]);
                        dc_rm_rf_at(AT_FDCWD, p);
                }
                /* Digest memos of tarballs no longer cached, holders of gone entries, stray locks. */
                struct dc_strv names = { 0 };
                _cleanup_free_ char *sd = dc_xasprintf("%s/sums", root);
                list_dir(sd, &names);
                for (size_t i = 0; i < names.n; i++) {
                        _cleanup_free_ char *p = dc_xasprintf("%s/%s", sd, names.v[i]);
                        struct dc_kvs kv = { 0 };
                        read_kv_file(p, &kv);
                        const char *h = dc_kvs_get(&kv, "sha256");
                        _cleanup_free_ char *ep = hex_valid(h) ? dc_cache_entry_path(root, DC_CACHE_TARBALL, h) : NULL;
                        bool keep = ep && is_dir(ep);
                        if (dc_streq(dc_kvs_get(&kv, "kind"), "image")) {
                                /* an image's inspection: kept while all its layers are */
                                keep = true;
                                for (size_t k = 0; keep && k < kv.n; k++) {
                                        if (strcmp(kv.v[k].key, "entry") != 0)
                                                continue;
                                        _cleanup_free_ char *lp = hex_valid(kv.v[k].val)
                                                                          ? dc_cache_entry_path(root, DC_CACHE_LAYER, kv.v[k].val)
                                                                          : NULL;
                                        keep = lp && is_dir(lp);
                                }
                        }
                        if (!keep)
                                unlink(p);
                        dc_kvs_free(&kv);
                }
                dc_strv_free(&names);
                static const char *const perkey[] = { "holders", "locks" };
                for (size_t s = 0; s < DC_ARRAY_SIZE(perkey); s++) {
                        _cleanup_free_ char *dir = dc_xasprintf("%s/%s", root, perkey[s]);
                        list_dir(dir, &names);
                        for (size_t i = 0; i < names.n; i++) {
                                const char *dash = strchr(names.v[i], '-');
                                enum dc_cache_kind k = DC_CACHE_LAYER;
                                _cleanup_free_ char *kn = dash ? dc_xstrndup(names.v[i], (size_t)(dash - names.v[i])) : NULL;
                                _cleanup_free_ char *ep = NULL;
                                if (kn && dc_cache_kind_parse(kn, &k) == 0 && hex_valid(dash + 1))
                                        ep = dc_cache_entry_path(root, k, dash + 1);
                                _cleanup_free_ char *p = dc_xasprintf("%s/%s", dir, names.v[i]);
                                if (!ep || !is_dir(ep)) {
                                        /* holders of an entry that is gone: only stale ones can be left,
                                         * a live holder's entry is never removed */
                                        if (s == 0 && ep) {
                                                struct dc_cache_entry tmp = { .kind = k };
                                                tmp.hex = dc_xstrdup(dash + 1);
                                                holders_of(root, &tmp);
                                                free(tmp.hex);
                                                bool live = tmp.users.n > 0;
                                                dc_strv_free(&tmp.users);
                                                dc_strv_free(&tmp.stale);
                                                if (live)
                                                        continue;
                                        }
                                        dc_rm_rf_at(AT_FDCWD, p);
                                }
                        }
                        dc_strv_free(&names);
                }
                /* An empty cache leaves nothing behind. */
                for (size_t i = 0; i < DC_ARRAY_SIZE(subdirs); i++)
                        remove_dir_if_empty(root, subdirs[i]);
                bool empty = true;
                for (size_t i = 0; i < DC_ARRAY_SIZE(subdirs); i++) {
                        _cleanup_free_ char *d = dc_xasprintf("%s/%s", root, subdirs[i]);
                        if (access(d, F_OK) == 0)
                                empty = false;
                }
                if (empty) {
                        _cleanup_free_ char *lp = dc_xasprintf("%s/.lock", root);
                        unlink(lp);
                        rmdir(root);
                }
        }
        dc_cache_list_free(&l);
        return r;
}
