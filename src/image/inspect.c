/* Inspecting a `docker image save` archive (or an OCI image layout in a tar)
 * without unpacking it: one pass over its headers keeps the small members
 * (JSON documents), then the layout is resolved to one image: its config
 * and its layers, bottom first, each with the digests to verify it by.
 *
 * Two layouts are read. Docker's (every version) has manifest.json listing
 * each image's config and layer members by path: "<hex>.json" and
 * "<id>/layer.tar" before Docker 25, "blobs/sha256/<hex>" from Docker 25 on
 * (which also writes index.json and oci-layout). An archive with index.json
 * but no manifest.json (podman/skopeo oci-archive) is read the OCI way:
 * index -> (image index ->) manifest -> config and layer blobs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diyctl/fs.h"
#include "diyctl/image.h"
#include "diyctl/util.h"

#define SMALL_MEMBER (1u << 20)     /* JSON documents kept from the first pass */
#define SMALL_TOTAL (64u << 20)
#define MAX_DOC (16u << 20)
#define MAX_MEMBERS 200000
#define MAX_LINK_HOPS 16
#define MAX_NESTING 4

enum mtype { M_FILE, M_SYMLINK, M_HARDLINK, M_DIR, M_OTHER };

struct mem {
        char *name;
        enum mtype type;
        long long size;
        char *target;   /* links: the member it points to, canonical */
        char *data;     /* kept content of small files */
        size_t len;
        bool kept;
        unsigned count; /* times the name appears */
};

struct source {
        const char *path;       /* or */
        const void *buf;
        size_t len;
};

struct members {
        struct mem *v;
        size_t n, cap;
        size_t *slot;           /* open addressing: index + 1 into v, 0 = empty */
        size_t nslot;           /* a power of two, at least twice n */
        size_t kept_total;
        const struct source *src;
};

static void members_free(struct members *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->v[i].name);
                free(m->v[i].target);
                free(m->v[i].data);
        }
        free(m->v);
        free(m->slot);
        memset(m, 0, sizeof(*m));
}

static size_t name_hash(const char *s)
{
        size_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

/* The slot of NAME: where it is, or the empty one where it would go. */
static size_t *slot_of(struct members *m, const char *name)
{
        size_t mask = m->nslot - 1;
        for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
                if (!m->slot[i] || strcmp(m->v[m->slot[i] - 1].name, name) == 0)
                        return &m->slot[i];
}

static struct mem *find(struct members *m, const char *name)
{
        if (!m->nslot)
                return NULL;
        size_t *sl = slot_of(m, name);
        return *sl ? &m->v[*sl - 1] : NULL;
}

/* A new member (NAME taken); the name is not in the table yet. */
static struct mem *add(struct members *m, char *name)
{
        if (m->n == m->cap) {
                m->cap = m->cap ? 2 * m->cap : 64;
                m->v = dc_xrealloc(m->v, m->cap * sizeof(*m->v));
        }
        if (2 * (m->n + 1) > m->nslot) {
                free(m->slot);
                m->nslot = m->nslot ? 2 * m->nslot : 128;
                m->slot = dc_xcalloc(m->nslot, sizeof(*m->slot));
                for (size_t i = 0; i < m->n; i++)
                        *slot_of(m, m->v[i].name) = i + 1;
        }
        struct mem *x = &m->v[m->n++];
        memset(x, 0, sizeof(*x));
        x->name = name;
        *slot_of(m, name) = m->n;
        return x;
}

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

static int open_source(const struct source *src, struct archive **out, struct dc_error *err)
{
        struct archive *a = archive_read_new();
        if (!a)
                return dc_err(err, ENOMEM, "out of memory");
        dc_archive_support_filters(a);
        archive_read_support_format_tar(a);
        int r = src->path ? archive_read_open_filename(a, src->path, 1 << 16)
                          : archive_read_open_memory(a, src->buf, src->len);
        if (r != ARCHIVE_OK) {
                int e = archive_errno(a) > 0 ? archive_errno(a) : EINVAL;
                dc_err(err, e, "%s: not a tar archive libarchive can read: %s", src->path ? src->path : "(memory)",
                       archive_error_string(a) ? archive_error_string(a) : "unknown error");
                archive_read_free(a);
                return -e;
        }
        *out = a;
        return 0;
}

static const char *entry_name(struct archive_entry *e)
{
        const char *n = archive_entry_pathname(e);
        return n ? n : archive_entry_pathname_utf8(e);
}

/* "a/b" relative to the directory of member FROM ("x/y" -> "x/a/b"). */
static char *link_target(const char *from, const char *target, bool symlink)
{
        if (!target)
                return NULL;
        if (!symlink || target[0] == '/')
                return target[0] == '/' ? NULL : dc_member_clean(target);
        const char *slash = strrchr(from, '/');
        _cleanup_free_ char *dir = slash ? dc_xstrndup(from, (size_t)(slash - from)) : dc_xstrdup("");
        _cleanup_free_ char *joined = *dir ? dc_xasprintf("/%s/%s", dir, target) : dc_xasprintf("/%s", target);
        /* normalise lexically, never above the archive's root */
        _cleanup_free_ char *norm = dc_path_normalize(joined);
        if (!norm)
                return NULL;
        return dc_member_clean(norm + 1);
}

/* First pass: every member's name, type and size; small JSON-ish files kept. */
static int scan(const struct source *src, struct members *m, struct dc_error *err)
{
        memset(m, 0, sizeof(*m));
        m->src = src;
        _cleanup_archive_ struct archive *a = NULL;
        int r = open_source(src, &a, err);
        if (r < 0)
                return r;
        const char *what = src->path ? src->path : "archive";
        for (;;) {
                struct archive_entry *e;
                int h = archive_read_next_header(a, &e);
                if (h == ARCHIVE_EOF)
                        break;
                if (h < ARCHIVE_WARN)
                        return dc_err(err, EINVAL, "%s: damaged or truncated archive: %s", what,
                                      archive_error_string(a) ? archive_error_string(a) : "read error");
                const char *raw = entry_name(e);
                _cleanup_free_ char *name = raw ? dc_member_clean(raw) : NULL;
                if (!name)
                        continue; /* "./", or an odd name no manifest can point at */
                if (m->n >= MAX_MEMBERS)
                        return dc_err(err, E2BIG, "%s: more than %d members", what, MAX_MEMBERS);
                struct mem *old = find(m, name);
                if (old) {
                        old->count++;
                        continue;
                }
                struct mem *x = add(m, DC_TAKE(name));
                x->count = 1;
                x->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
                mode_t t = archive_entry_filetype(e);
                if (archive_entry_hardlink(e)) {
                        x->type = M_HARDLINK;
                        x->target = link_target(x->name, archive_entry_hardlink(e), false);
                } else if (t == AE_IFLNK) {
                        x->type = M_SYMLINK;
                        x->target = link_target(x->name, archive_entry_symlink(e), true);
                } else if (t == AE_IFREG) {
                        x->type = M_FILE;
                } else if (t == AE_IFDIR) {
                        x->type = M_DIR;
                } else {
                        x->type = M_OTHER;
                }
                bool wanted = dc_startswith(x->name, "blobs/") || strcmp(x->name, "oci-layout") == 0 ||
                              (strlen(x->name) > 5 && strcmp(x->name + strlen(x->name) - 5, ".json") == 0);
                if (x->type != M_FILE || !wanted || x->size < 0 || x->size > SMALL_MEMBER ||
                    m->kept_total + (size_t)x->size > SMALL_TOTAL)
                        continue;
                x->data = dc_xmalloc((size_t)x->size + 1);
                la_ssize_t got = 0;
                while (got < x->size) {
                        la_ssize_t n = archive_read_data(a, x->data + got, (size_t)(x->size - got));
                        if (n < 0)
                                return dc_err(err, EINVAL, "%s: %s: damaged or truncated archive: %s", what, x->name,
                                              archive_error_string(a) ? archive_error_string(a) : "read error");
                        if (n == 0)
                                break;
                        got += n;
                }
                if (got != x->size)
                        return dc_err(err, EINVAL, "%s: %s: truncated archive", what, x->name);
                x->data[got] = 0;
                x->len = (size_t)got;
                x->kept = true;
                m->kept_total += x->len;
        }
        return 0;
}

/* The regular file a member name stands for, following links inside the archive. */
static struct mem *resolve(struct members *m, const char *name, struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        const char *cur = name;
        for (int hop = 0; hop < MAX_LINK_HOPS; hop++) {
                struct mem *x = find(m, cur);
                if (!x) {
                        dc_err(err, ENOENT, "%s: no member %s in the archive", what, cur);
                        return NULL;
                }
                if (x->count > 1) {
                        dc_err(err, EINVAL, "%s: %s appears %u times in the archive; refusing to guess which one counts",
                               what, x->name, x->count);
                        return NULL;
                }
                if (x->type == M_FILE)
                        return x;
                if ((x->type != M_SYMLINK && x->type != M_HARDLINK) || !x->target) {
                        dc_err(err, EINVAL, "%s: %s is not a file in the archive", what, cur);
                        return NULL;
                }
                cur = x->target;
        }
        dc_err(err, ELOOP, "%s: %s: too many links", what, name);
        return NULL;
}

/* The content of a member (kept, or read in a second pass). */
static int content(struct members *m, struct mem *x, const char **data, size_t *len, struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        if (x->kept) {
                *data = x->data;
                *len = x->len;
                return 0;
        }
        if (x->size > MAX_DOC)
                return dc_err(err, E2BIG, "%s: %s: %lld bytes is too big for a JSON document", what, x->name, x->size);
        _cleanup_archive_ struct archive *a = NULL;
        int r = open_source(m->src, &a, err);
        if (r < 0)
                return r;
        for (;;) {
                struct archive_entry *e;
                int h = archive_read_next_header(a, &e);
                if (h == ARCHIVE_EOF)
                        break;
                if (h < ARCHIVE_WARN)
                        return dc_err(err, EINVAL, "%s: damaged or truncated archive: %s", what,
                                      archive_error_string(a) ? archive_error_string(a) : "read error");
                const char *raw = entry_name(e);
                _cleanup_free_ char *name = raw ? dc_member_clean(raw) : NULL;
                if (!name || strcmp(name, x->name) != 0)
                        continue;
                size_t cap = x->size > 0 ? (size_t)x->size : 0;
                free(x->data);
                x->data = dc_xmalloc(cap + 1);
                size_t got = 0;
                while (got < cap) {
                        la_ssize_t n = archive_read_data(a, x->data + got, cap - got);
                        if (n < 0)
                                return dc_err(err, EINVAL, "%s: %s: damaged or truncated archive: %s", what, x->name,
                                              archive_error_string(a) ? archive_error_string(a) : "read error");
                        if (n == 0)
                                break;
                        got += (size_t)n;
                }
                if (got != cap)
                        return dc_err(err, EINVAL, "%s: %s: truncated archive", what, x->name);
                x->data[got] = 0;
                x->len = got;
                x->kept = true;
                *data = x->data;
                *len = x->len;
                return 0;
        }
        return dc_err(err, ENOENT, "%s: %s vanished between two reads", what, x->name);
}

/* A member's content, by name; DIGEST (may be NULL) must match its bytes. */
static int read_doc(struct members *m, const char *name, const char *digest, const char **data, size_t *len,
                    struct dc_error *err)
{
        struct mem *x = resolve(m, name, err);
        if (!x)
                return -err->code;
        int r = content(m, x, data, len, err);
        if (r < 0 || !digest)
                return r;
        struct dc_sha256 h;
        char hex[DC_SHA256_HEX + 1];
        dc_sha256_init(&h);
        dc_sha256_update(&h, *data, *len);
        dc_sha256_final(&h, hex);
        if (strcmp(hex, dc_digest_hex(digest)) != 0)
                return dc_err(err, EBADMSG, "%s: %s does not match its digest %s (its content is sha256:%s)",
                              m->src->path ? m->src->path : "archive", name, digest, hex);
        return 0;
}

static char *blob_path(const char *digest)
{
        return dc_xasprintf("blobs/sha256/%s", dc_digest_hex(digest));
}

/* "sha256:HEX" when a member path names its own digest ("blobs/sha256/HEX"
 * or Docker's "HEX.json" config), else NULL. */
static char *digest_of_path(const char *path)
{
        if (dc_startswith(path, "blobs/sha256/")) {
                _cleanup_free_ char *d = dc_xasprintf("sha256:%s", path + 13);
                return dc_digest_valid(d) ? DC_TAKE(d) : NULL;
        }
        size_t n = strlen(path);
        if (n == DC_SHA256_HEX + 5 && strcmp(path + DC_SHA256_HEX, ".json") == 0) {
                _cleanup_free_ char *d = dc_xasprintf("sha256:%.*s", DC_SHA256_HEX, path);
                return dc_digest_valid(d) ? DC_TAKE(d) : NULL;
        }
        return NULL;
}

static bool arch_compatible(const char *image, const char *host)
{
        if (strcmp(image, host) == 0)
                return true;
        return (strcmp(host, "amd64") == 0 && strcmp(image, "386") == 0) ||
               (strcmp(host, "arm64") == 0 && strcmp(image, "arm") == 0);
}

static int check_platform(const struct dc_image_config *c, const char *what, struct dc_error *err)
{
        if (c->os && strcmp(c->os, "linux") != 0)
                return dc_err(err, EINVAL, "%s is an image for %s, not linux", what, c->os);
        const char *host = dc_image_host_arch();
        if (c->arch && strcmp(host, "unknown") != 0 && !arch_compatible(c->arch, host))
                return dc_err(err, EINVAL, "%s is an image for %s; this machine is %s", what, c->arch, host);
        return 0;
}

/* Does REF name the image with config digest ID ("sha256:HEX")? A prefix of
 * at least 4 hex digits, with or without "sha256:", does (as with docker). */
static bool id_match(const char *ref, const char *id)
{
        if (!ref || !id)
                return false;
        const char *hex = dc_startswith(ref, "sha256:") ? ref + 7 : ref;
        size_t n = strlen(hex);
        if (n < 4 || n > DC_SHA256_HEX || strspn(hex, "0123456789abcdef") != n)
                return false;
        return strncmp(id + 7, hex, n) == 0;
}

static void names_list(char *buf, size_t cap, const struct dc_strv *names)
{
        buf[0] = 0;
        for (size_t i = 0; i < names->n && strlen(buf) + 4 < cap; i++)
                snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", names->v[i]);
        if (!buf[0])
                snprintf(buf, cap, "(untagged)");
}

/* ---- Docker's manifest.json ------------------------------------------- */

static int from_docker(struct members *m, const char *tag, struct dc_image *out, struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        const char *data;
        size_t len;
        int r = read_doc(m, "manifest.json", NULL, &data, &len, err);
        if (r < 0)
                return r;
        struct dc_docker_image *imgs = NULL;
        size_t n = 0;
        if ((r = dc_parse_docker_manifest(data, len, &imgs, &n, err)) < 0)
                return dc_err_wrap(err, "%s", what);
        ssize_t pick = -1;
        struct dc_strv all = { 0 };
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *cd = digest_of_path(imgs[i].config);
                for (size_t k = 0; k < imgs[i].tags.n; k++) {
                        dc_strv_push(&all, imgs[i].tags.v[k]);
                        if (tag && pick < 0 && dc_image_ref_match(tag, imgs[i].tags.v[k])) {
                                pick = (ssize_t)i;
                                out->name = dc_xstrdup(imgs[i].tags.v[k]);
                        }
                }
                if (tag && pick < 0 && id_match(tag, cd))
                        pick = (ssize_t)i;
        }
        char names[600];
        names_list(names, sizeof(names), &all);
        dc_strv_free(&all);
        if (!tag && n == 1) {
                pick = 0;
                if (imgs[0].tags.n)
                        out->name = dc_xstrdup(imgs[0].tags.v[0]);
        } else if (!tag) {
                r = dc_err(err, EINVAL, "%s holds %zu images (%s): choose one with rootfs.tag", what, n, names);
        } else if (pick < 0) {
                r = dc_err(err, ENOENT, "%s has no image %s (it has: %s)", what, tag, names);
        }
        if (r == 0) {
                struct dc_docker_image *im = &imgs[pick];
                _cleanup_free_ char *cdigest = digest_of_path(im->config);
                r = read_doc(m, im->config, cdigest, &data, &len, err);
                if (r == 0 && (r = dc_parse_image_config(data, len, &out->config, err)) < 0)
                        dc_err_wrap(err, "%s: %s", what, im->config);
                if (r == 0 && cdigest) {
                        /* read_doc checked the bytes against it */
                        out->id = dc_xasprintf("sha256:%s", dc_digest_hex(cdigest));
                } else if (r == 0) {
                        struct dc_sha256 h;
                        char hex[DC_SHA256_HEX + 1];
                        dc_sha256_init(&h);
                        dc_sha256_update(&h, data, len);
                        dc_sha256_final(&h, hex);
                        out->id = dc_xasprintf("sha256:%s", hex);
                }
                if (r == 0 && out->config.has_diff_ids && out->config.diff_ids.n != im->layers.n)
                        r = dc_err(err, EINVAL, "%s: manifest.json lists %zu layers but the image config has %zu diff_ids",
                                   what, im->layers.n, out->config.diff_ids.n);
                if (r == 0) {
                        out->layers = dc_xcalloc(im->layers.n ? im->layers.n : 1, sizeof(*out->layers));
                        for (size_t i = 0; r == 0 && i < im->layers.n; i++) {
                                struct mem *x = resolve(m, im->layers.v[i], err);
                                if (!x) {
                                        r = -err->code;
                                        break;
                                }
                                struct dc_image_layer *l = &out->layers[out->n_layers++];
                                l->member = dc_xstrdup(x->name);
                                l->digest = digest_of_path(x->name);
                                l->size = x->size;
                                if (out->config.has_diff_ids)
                                        l->diff_id = dc_xstrdup(out->config.diff_ids.v[i]);
                        }
                }
        }
        dc_docker_images_free(imgs, n);
        out->layout = dc_xstrdup("docker");
        return r;
}

/* ---- OCI index.json --------------------------------------------------- */

static bool desc_named(const struct dc_oci_desc *d, const char *tag)
{
        return dc_image_ref_match(tag, d->image_name) || dc_image_ref_match(tag, d->ref_name);
}

static bool is_attestation(const struct dc_oci_desc *d)
{
        return dc_streq(d->os, "unknown") || dc_streq(d->arch, "unknown");
}

static int from_manifest(struct members *m, const struct dc_oci_desc *d, int depth, struct dc_image *out,
                         struct dc_error *err);

/* An image index: the manifest for this machine. */
static int from_index(struct members *m, const struct dc_oci_manifest *idx, int depth, struct dc_image *out,
                      struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        const char *host = dc_image_host_arch();
        const struct dc_oci_desc *best = NULL;
        for (size_t i = 0; i < idx->n; i++) {
                const struct dc_oci_desc *d = &idx->descs[i];
                if (is_attestation(d))
                        continue;
                if (d->os && strcmp(d->os, "linux") != 0)
                        continue;
                if (d->arch && !arch_compatible(d->arch, host))
                        continue;
                _cleanup_free_ char *bp = blob_path(d->digest);
                if (!find(m, bp))
                        continue; /* another platform's blobs were not saved */
                if (!best || (d->arch && strcmp(d->arch, host) == 0 && !(best->arch && strcmp(best->arch, host) == 0)))
                        best = d;
        }
        if (!best)
                return dc_err(err, ENOENT, "%s: the image index has no manifest for linux/%s in the archive", what, host);
        return from_manifest(m, best, depth + 1, out, err);
}

static int from_manifest(struct members *m, const struct dc_oci_desc *d, int depth, struct dc_image *out,
                         struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        if (depth > MAX_NESTING)
                return dc_err(err, ELOOP, "%s: image indexes nested too deep", what);
        _cleanup_free_ char *bp = blob_path(d->digest);
        const char *data;
        size_t len;
        int r = read_doc(m, bp, d->digest, &data, &len, err);
        if (r < 0)
                return r;
        struct dc_oci_manifest man;
        if ((r = dc_parse_oci(data, len, &man, err)) < 0)
                return dc_err_wrap(err, "%s: %s", what, bp);
        if (man.is_index) {
                r = from_index(m, &man, depth, out, err);
                dc_oci_manifest_free(&man);
                return r;
        }
        _cleanup_free_ char *cp = blob_path(man.config.digest);
        r = read_doc(m, cp, man.config.digest, &data, &len, err);
        if (r == 0 && (r = dc_parse_image_config(data, len, &out->config, err)) < 0)
                dc_err_wrap(err, "%s: %s", what, cp);
        if (r == 0) {
                out->id = dc_xstrdup(man.config.digest);
                if (out->config.has_diff_ids && out->config.diff_ids.n != man.n)
                        r = dc_err(err, EINVAL, "%s: the manifest lists %zu layers but the image config has %zu diff_ids",
                                   what, man.n, out->config.diff_ids.n);
        }
        if (r == 0) {
                out->layers = dc_xcalloc(man.n ? man.n : 1, sizeof(*out->layers));
                for (size_t i = 0; r == 0 && i < man.n; i++) {
                        const struct dc_oci_desc *ld = &man.descs[i];
                        const char *mt = ld->media_type ? ld->media_type : "";
                        if (strstr(mt, "nondistributable") || strstr(mt, "foreign")) {
                                _cleanup_free_ char *lp = blob_path(ld->digest);
                                if (!find(m, lp)) {
                                        r = dc_err(err, ENOENT, "%s: layer %zu (%s) is a foreign layer that is not in the archive",
                                                   what, i + 1, ld->digest);
                                        break;
                                }
                        }
                        _cleanup_free_ char *lp = blob_path(ld->digest);
                        struct mem *x = resolve(m, lp, err);
                        if (!x) {
                                r = -err->code;
                                break;
                        }
                        struct dc_image_layer *l = &out->layers[out->n_layers++];
                        l->member = dc_xstrdup(x->name);
                        l->digest = dc_xstrdup(ld->digest);
                        l->size = x->size;
                        if (out->config.has_diff_ids)
                                l->diff_id = dc_xstrdup(out->config.diff_ids.v[i]);
                }
        }
        dc_oci_manifest_free(&man);
        return r;
}

static int from_oci(struct members *m, const char *tag, struct dc_image *out, struct dc_error *err)
{
        const char *what = m->src->path ? m->src->path : "archive";
        const char *data;
        size_t len;
        int r;
        if (find(m, "oci-layout")) {
                if ((r = read_doc(m, "oci-layout", NULL, &data, &len, err)) < 0)
                        return r;
                if ((r = dc_parse_oci_layout(data, len, err)) < 0)
                        return dc_err_wrap(err, "%s", what);
        }
        if ((r = read_doc(m, "index.json", NULL, &data, &len, err)) < 0)
                return r;
        struct dc_oci_manifest idx;
        if ((r = dc_parse_oci(data, len, &idx, err)) < 0)
                return dc_err_wrap(err, "%s: index.json", what);
        out->layout = dc_xstrdup("oci");
        if (!idx.is_index) {
                dc_oci_manifest_free(&idx);
                return dc_err(err, EINVAL, "%s: index.json is not an image index", what);
        }
        const struct dc_oci_desc *pick = NULL;
        struct dc_strv all = { 0 };
        for (size_t i = 0; i < idx.n; i++) {
                const struct dc_oci_desc *d = &idx.descs[i];
                const char *nm = d->image_name ? d->image_name : d->ref_name;
                if (nm)
                        dc_strv_push(&all, nm);
                if (tag && !pick && (desc_named(d, tag) || id_match(tag, d->digest)))
                        pick = d;
        }
        char names[600];
        names_list(names, sizeof(names), &all);
        dc_strv_free(&all);
        if (!tag && idx.n == 1)
                pick = &idx.descs[0];
        if (!pick) {
                if (!tag)
                        r = dc_err(err, EINVAL, "%s holds %zu images (%s): choose one with rootfs.tag", what, idx.n, names);
                else
                        r = dc_err(err, ENOENT, "%s has no image %s (it has: %s)", what, tag, names);
        } else {
                const char *nm = pick->image_name ? pick->image_name : pick->ref_name;
                if (nm)
                        out->name = dc_xstrdup(nm);
                r = from_manifest(m, pick, 0, out, err);
        }
        dc_oci_manifest_free(&idx);
        return r;
}

static int inspect(const struct source *src, const char *tag, struct dc_image *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        out->archive = dc_xstrdup(src->path ? src->path : "(memory)");
        struct members m;
        int r = scan(src, &m, err);
        if (r == 0) {
                if (find(&m, "manifest.json"))
                        r = from_docker(&m, tag, out, err);
                else if (find(&m, "index.json"))
                        r = from_oci(&m, tag, out, err);
                else
                        r = dc_err(err, EINVAL,
                                   "%s is not a docker-save or OCI archive: it has neither manifest.json nor index.json",
                                   out->archive);
        }
        if (r == 0 && (r = check_platform(&out->config, out->archive, err)) == 0 && out->n_layers == 0)
                r = dc_err(err, EINVAL, "%s: the image has no layers", out->archive);
        members_free(&m);
        if (r < 0)
                dc_image_free(out);
        return r;
}

int dc_image_inspect(const char *archive, const char *tag, struct dc_image *out, struct dc_error *err)
{
        struct source src = { .path = archive };
        struct stat st;
        if (stat(archive, &st) < 0)
                return dc_err(err, errno, "%s: %s", archive, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return dc_err(err, EINVAL, "%s is not a regular file", archive);
        return inspect(&src, tag, out, err);
}

int dc_image_inspect_memory(const void *buf, size_t len, const char *tag, struct dc_image *out,
                            struct dc_error *err)
{
        struct source src = { .buf = buf, .len = len };
        return inspect(&src, tag, out, err);
}

static bool hex64(const char *s, size_t n)
{
        return n == 64 && strspn(s, "0123456789abcdef") >= 64;
}

/* A member only an image archive has: a classic `docker image save` layer
 * ("HEX/layer.tar"), one as skopeo and podman write them ("HEX.tar", and the
 * config "HEX.json"), an OCI blob ("blobs/sha256/HEX"), or "oci-layout". */
static bool image_member(const char *name)
{
        const char *slash = strchr(name, '/');
        if (slash && hex64(name, (size_t)(slash - name)) && strcmp(slash, "/layer.tar") == 0)
                return true;
        if (!slash && strlen(name) > 64 && hex64(name, 64) &&
            (strcmp(name + 64, ".tar") == 0 || strcmp(name + 64, ".json") == 0))
                return true;
        if (dc_startswith(name, "blobs/sha256/") && hex64(name + 13, strlen(name + 13)))
                return true;
        return strcmp(name, "oci-layout") == 0;
}

bool dc_image_archive_sniff(const char *path)
{
        struct source src = { .path = path };
        struct dc_error ignored;
        _cleanup_archive_ struct archive *a = NULL;
        if (open_source(&src, &a, &ignored) < 0)
                return false; /* the unpack says what is wrong with it */
        /* Both layouts name such a member among their first few: a classic
         * save begins with its first layer's directory (HEX/, HEX/VERSION,
         * HEX/json, HEX/layer.tar), an OCI one with its blobs. */
        for (int i = 0; i < 16; i++) {
                struct archive_entry *e;
                int h = archive_read_next_header(a, &e);
                if (h == ARCHIVE_EOF || h < ARCHIVE_WARN)
                        return false;
                const char *raw = entry_name(e);
                _cleanup_free_ char *name = raw ? dc_member_clean(raw) : NULL;
                if (name && image_member(name))
                        return true;
        }
        return false;
}

void dc_image_free(struct dc_image *img)
{
        for (size_t i = 0; i < img->n_layers; i++) {
                free(img->layers[i].member);
                free(img->layers[i].digest);
                free(img->layers[i].diff_id);
        }
        free(img->layers);
        free(img->archive);
        free(img->name);
        free(img->id);
        free(img->layout);
        dc_image_config_free(&img->config);
        memset(img, 0, sizeof(*img));
}
