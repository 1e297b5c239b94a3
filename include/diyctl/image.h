/* Images: rootfs tarballs and `docker image save` archives (src/image/).
 *
 *  - json.c     pure parsers of the archive's JSON documents (json-c): the
 *               Docker manifest.json, the OCI index.json, image manifests and
 *               image configs. No I/O, so they are unit tested and fuzzed.
 *  - inspect.c  reads an archive's small members (libarchive) and resolves
 *               which image a tag names, its layers and its config: what the
 *               planner needs, without unpacking anything.
 *  - extract.c  safe extraction of one tar stream into a directory (every
 *               path resolved beneath it, never through a symlink), OCI
 *               whiteouts turned into overlayfs whiteouts for layers.
 *  - cache.c    the content-addressed cache of unpacked trees, its locks,
 *               holders, list and prune.
 *  - digest.c   SHA-256 (nettle). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"
#include "diyctl/util.h"

/* ---- digests ---------------------------------------------------------- */

#define DC_SHA256_HEX 64

struct dc_sha256 {
        void *ctx; /* nettle's sha256_ctx (bulk), or the plain C state */
        bool bulk;
};
/* For short inputs (plain C, no library loaded: digest.c). */
void dc_sha256_init(struct dc_sha256 *h);
/* For layers and tarballs: nettle, loaded on first use. */
void dc_sha256_init_bulk(struct dc_sha256 *h);
void dc_sha256_update(struct dc_sha256 *h, const void *buf, size_t len);
/* Writes 64 lowercase hex digits and a NUL; frees the context. */
void dc_sha256_final(struct dc_sha256 *h, char hex[DC_SHA256_HEX + 1]);
void dc_sha256_free(struct dc_sha256 *h); /* without a result; safe twice */
/* The digest of a whole file (from its current offset). 0 or -errno. */
int dc_sha256_fd(int fd, char hex[DC_SHA256_HEX + 1]);

/* "sha256:" followed by 64 lowercase hex digits? */
bool dc_digest_valid(const char *digest);
/* The hex part of a valid digest, else NULL. */
const char *dc_digest_hex(const char *digest);

/* ---- the parsed JSON documents (json.c) ------------------------------ */

/* One image of a Docker manifest.json. */
struct dc_docker_image {
        char *config;          /* member path of the config */
        struct dc_strv tags;   /* RepoTags, as written */
        struct dc_strv layers; /* member paths, bottom first */
};

/* An OCI descriptor (index.json entries, manifest config and layers). */
struct dc_oci_desc {
        char *media_type;
        char *digest;          /* validated "sha256:HEX" */
        long long size;        /* -1 when absent */
        char *ref_name;        /* annotation org.opencontainers.image.ref.name */
        char *image_name;      /* annotation io.containerd.image.name */
        char *os, *arch, *variant; /* platform, NULL when absent */
};

struct dc_oci_manifest {
        bool is_index;         /* an index (list of manifests), not a manifest */
        struct dc_oci_desc config;           /* manifests only */
        struct dc_oci_desc *descs;           /* layers (manifest) or manifests (index) */
        size_t n;
};

/* What diyctl takes from an image config. */
struct dc_image_config {
        struct dc_strv entrypoint, cmd, env;
        char *workdir;         /* NULL when absent or empty */
        char *user;            /* NULL when absent or empty */
        char *stop_signal;     /* StopSignal as written; NULL when absent or empty */
        struct dc_strv diff_ids; /* rootfs.diff_ids, validated digests */
        bool has_diff_ids;
        char *os, *arch, *variant;
};

/* Each parser accepts any bytes (not necessarily NUL-terminated): it fills
 * *out, or returns -EINVAL (-E2BIG for absurd sizes) with err saying what is
 * wrong, leaving *out empty. The free functions are safe on empty values. */
int dc_parse_docker_manifest(const char *buf, size_t len, struct dc_docker_image **out, size_t *n,
                             struct dc_error *err);
void dc_docker_images_free(struct dc_docker_image *v, size_t n);
/* index.json, an OCI image manifest, or an image index (nested multi-platform). */
int dc_parse_oci(const char *buf, size_t len, struct dc_oci_manifest *out, struct dc_error *err);
void dc_oci_manifest_free(struct dc_oci_manifest *m);
int dc_parse_oci_layout(const char *buf, size_t len, struct dc_error *err);
int dc_parse_image_config(const char *buf, size_t len, struct dc_image_config *out, struct dc_error *err);
void dc_image_config_free(struct dc_image_config *c);

/* Does the reference REF (as a user writes it: "busybox", "busybox:1.36",
 * "docker.io/library/busybox:latest") name the image called NAME in an archive
 * (a RepoTag or an annotation)? Docker's defaults apply on both sides: no tag
 * is ":latest", no registry is docker.io, no namespace is library/. */
bool dc_image_ref_match(const char *ref, const char *name);

/* A member path as archives write it ("./a//b") made canonical ("a/b");
 * NULL when it is absolute or climbs with "..". */
char *dc_member_clean(const char *path);

/* The GOARCH name of this machine ("amd64", "arm64", ...). */
const char *dc_image_host_arch(void);

/* ---- inspection: which image, which layers (inspect.c) --------------- */

struct dc_image_layer {
        char *member;          /* path in the archive */
        char *digest;          /* of the blob as stored, when the archive names one */
        char *diff_id;         /* of the uncompressed tar, from the config */
        long long size;        /* bytes in the archive */
};

struct dc_image {
        char *archive;
        char *name;            /* the tag (or name) chosen, or NULL when it had none */
        char *id;              /* "sha256:HEX" of the config: the image id */
        char *layout;          /* "docker" (manifest.json) or "oci" (index.json only) */
        struct dc_image_layer *layers; /* bottom first */
        size_t n_layers;
        struct dc_image_config config;
};

/* Read ARCHIVE (a docker-save or OCI archive, compressed or not) and resolve
 * the image TAG names (NULL: the only image). Reads only small members. */
int dc_image_inspect(const char *archive, const char *tag, struct dc_image *out, struct dc_error *err);
/* The same over an archive in memory (tests, fuzzing). */
int dc_image_inspect_memory(const void *buf, size_t len, const char *tag, struct dc_image *out,
                            struct dc_error *err);
void dc_image_free(struct dc_image *img);
/* Does the tar archive PATH look like an image archive (`docker image save`,
 * classic or OCI) by its first members? Reads a few headers only; false when
 * it cannot be read. */
bool dc_image_archive_sniff(const char *path);
/* What is said of one given as rootfs.tarball (printf format, its path). */
#define DC_DOCKER_SAVE_AS_TARBALL                                                                            \
        "%s is an image archive (as `docker image save`, podman and skopeo write them: a manifest and the "   \
        "image's layers), not a root file system: use rootfs.image for it (rootfs.tarball takes a "           \
        "`docker export` or a distribution's rootfs tarball)"

/* ---- extraction (extract.c) ------------------------------------------ */

struct dc_extract_opts {
        bool layer;            /* an image layer: .wh. names become overlayfs whiteouts */
        bool owners;           /* keep the archive's uid/gid (root only) */
        /* called now and then while reading; may be NULL */
        void (*progress)(void *arg, uint64_t raw_bytes);
        void *progress_arg;
};

struct dc_extract_stats {
        uint64_t entries, files, dirs, symlinks, hardlinks, whiteouts, opaques;
        uint64_t user_opaques; /* opaque dirs also marked user.overlay.opaque (for user namespaces) */
        uint64_t bytes;        /* file data written */
        uint64_t raw_bytes;    /* bytes of the archive read (compressed) */
        uint64_t skipped;      /* entries not unpacked (devices, sockets) */
        struct dc_strv warnings; /* what was skipped or changed, one line each */
};
void dc_extract_stats_free(struct dc_extract_stats *s);

/* Where the bytes come from: a file, or the member of an outer archive. */
struct dc_extract_source {
        const char *archive;   /* path of the file */
        const char *member;    /* NULL: the file itself is the tar; else a member of it */
        const char *digest;    /* "sha256:HEX" the raw bytes must have, or NULL */
        const char *diff_id;   /* "sha256:HEX" the uncompressed tar must have, or NULL */
};

/* Unpack SRC into the directory DIRFD (empty, created by the caller). On any
 * error (hostile entry, damage, digest mismatch) returns negative with err
 * naming the entry; the directory then holds a partial tree the caller must
 * throw away. raw_hex (may be NULL) receives the SHA-256 of the raw bytes. */
int dc_extract(const struct dc_extract_source *src, int dirfd, const struct dc_extract_opts *o,
               struct dc_extract_stats *st, char raw_hex[DC_SHA256_HEX + 1], struct dc_error *err);

/* The decompressors archives may use: gzip, bzip2, xz, lzma, lzip, zstd,
 * lz4, compress. Not libarchive's "all", which would run external programs
 * (lrzip, grzip) on data that merely looks like theirs. */
struct archive;
void dc_archive_support_filters(struct archive *a);

/* Remove NAME under DIRFD recursively, never following a symlink. 0 when
 * gone (also when it was never there) or -errno. */
int dc_rm_rf_at(int dirfd, const char *name);

/* ---- the cache (cache.c) --------------------------------------------- */

/* /var/lib/diyctl/images for root, $XDG_DATA_HOME/diyctl/images (default
 * ~/.local/share) otherwise; DIYCTL_DATA_ROOT overrides the part before /images. */
char *dc_image_cache_root(uid_t uid);

enum dc_cache_kind { DC_CACHE_LAYER, DC_CACHE_TARBALL };
const char *dc_cache_kind_name(enum dc_cache_kind k);       /* "layer", "tarball" */
int dc_cache_kind_parse(const char *s, enum dc_cache_kind *k); /* 0 or -EINVAL */

/* ROOT/layers/HEX or ROOT/tarballs/HEX; the tree is ENTRY/tree. */
char *dc_cache_entry_path(const char *root, enum dc_cache_kind k, const char *hex);
/* Whether the entry whose tree is TREE (ENTRY/tree) can be a layer of an
 * overlay in a user namespace: every opaque directory of it carries
 * user.overlay.opaque, which overlayfs reads there (an entry unpacked by an
 * older diyctl, or on a file system without user xattrs, may lack it).
 * 0, or -EPROTO with err saying what to do. */
int dc_cache_check_userns(const char *tree, struct dc_error *err);

/* A tarball's SHA-256, from the memo the last unpack left (path, size,
 * mtime, ctime and inode unchanged) or by reading it. */
int dc_cache_tarball_key(const char *root, const char *path, char hex[DC_SHA256_HEX + 1], struct dc_error *err);

/* The inspection of an image archive, remembered in the cache while the
 * archive's path, size, times and inode stay the same, so a cached start
 * reads neither the archive nor libarchive. read: 0 on a hit, -ENOENT. */
int dc_cache_image_memo_read(const char *root, const char *archive, const char *tag, struct dc_image *out);
int dc_cache_image_memo_write(const char *root, const char *archive, const char *tag, struct dc_error *err);

/* What an unpack step needs. */
struct dc_cache_unpack {
        const char *root;
        enum dc_cache_kind kind;
        const char *hex;       /* the key */
        struct dc_extract_source src;
        const char *tmp;       /* ROOT/tmp/...: where to unpack (journaled by the caller) */
        const char *holder;    /* ROOT/holders/ID/NAME: registered before anything else */
        const char *holder_dir; /* the container's state dir, written into the holder */
        const char *label;     /* for progress and info ("layer 2/3 of x.tar") */
        void (*progress)(void *arg, uint64_t raw_bytes);
        void *progress_arg;
        /* results */
        bool cached;           /* the entry was there already */
        struct dc_extract_stats stats;
};
/* Register the holder, then (under the entry's lock, so concurrent starts
 * unpack once) unpack into tmp and rename it into place unless the entry is
 * complete already. */
int dc_cache_unpack(struct dc_cache_unpack *u, struct dc_error *err);
/* The journal-driven undo: drop the holder, remove a half unpack. Idempotent. */
int dc_cache_release(const char *root, const char *tmp, const char *holder, struct dc_error *err);
/* Paths the plan and the step use. Returned strings are owned by the caller. */
char *dc_cache_tmp_path(const char *root, enum dc_cache_kind k, const char *hex, unsigned seq);
char *dc_cache_holder_path(const char *root, enum dc_cache_kind k, const char *hex, const char *name,
                           const char *state_dir);

struct dc_cache_entry {
        enum dc_cache_kind kind;
        char *hex;
        char *path;
        struct dc_kvs info;    /* the entry's info file: size, files, created, source... */
        struct dc_strv users;  /* running containers (their state dirs) */
        struct dc_strv stale;  /* holders whose container is gone */
};
struct dc_cache_list {
        struct dc_cache_entry *v;
        size_t n;
        struct dc_strv partial; /* ROOT/tmp leftovers */
};
int dc_cache_list(const char *root, struct dc_cache_list *out, struct dc_error *err);
void dc_cache_list_free(struct dc_cache_list *l);

struct dc_cache_prune_opts {
        const char *const *ids; /* HEX prefixes (or "layer:", "tarball:" prefixed); NULL: all unused */
        size_t n_ids;
        bool dry_run;
};
struct dc_cache_prune_result {
        struct dc_strv removed; /* "kind HEX" */
        struct dc_strv kept;    /* "kind HEX: used by NAME" */
        uint64_t bytes;         /* size of what was removed, from the info files */
};
/* Remove entries no running container uses (and leftovers of interrupted
 * unpacks), under the cache's exclusive lock. */
int dc_cache_prune(const char *root, const struct dc_cache_prune_opts *o, struct dc_cache_prune_result *res,
                   struct dc_error *err);
void dc_cache_prune_result_free(struct dc_cache_prune_result *r);
