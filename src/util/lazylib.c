/* Libraries that only some paths need, loaded on first use.
 *
 * libarchive (with libxml2, ICU and libstdc++ behind it) and libnftables
 * (with libxtables, jansson and gmp) are wanted only for images and tarballs
 * and for the nftables firewall backend, and nettle only to hash layers and
 * tarballs (its constructor runs cpuid, slow in a VM), yet linking them loads all of them
 * into every diyctl process: measured on the build machine, that was most of
 * the 4 ms the dynamic loader took per exec (the page faults and relocations
 * of some twenty libraries; twice per start when the launcher re-executes
 * itself, security.c). So each function of theirs that diyctl calls is
 * defined here, with the prototype of the library's own header (the
 * compiler checks it), and the first call dlopen()s the library and jumps to
 * its function. A start without an image and without the nftables backend
 * loads neither (bench/README.md, "Profile").
 *
 * A function not listed here still works: the libraries stay on the link
 * line with --as-needed, so the linker then takes it from the library and
 * the library is loaded at start again, which is only slower
 * (`readelf -d build/diyctl` shows it). When you call a new function of
 * these libraries, add it here.
 *
 * A library that cannot be loaded is reported as the dynamic loader reports
 * a missing one, on stderr, and the process exits with 127. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <nettle/sha2.h>
#include <nftables/libnftables.h>

#include "dc-lazylib.h"

struct lazy_lib {
        const char *soname;
        void *handle;
};

static struct lazy_lib lib_archive = { DC_SONAME_ARCHIVE, NULL };
static struct lazy_lib lib_nftables = { DC_SONAME_NFTABLES, NULL };
static struct lazy_lib lib_nettle = { DC_SONAME_NETTLE, NULL };

static void *lazy_sym(struct lazy_lib *l, const char *name)
{
        void *h = __atomic_load_n(&l->handle, __ATOMIC_ACQUIRE);
        if (!h) {
                h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
                if (!h) {
                        fprintf(stderr, "diyctl: error while loading shared libraries: %s\n", dlerror());
                        _exit(127);
                }
                __atomic_store_n(&l->handle, h, __ATOMIC_RELEASE);
        }
        void *f = dlsym(h, name);
        if (!f) {
                fprintf(stderr, "diyctl: symbol lookup error: %s: %s\n", l->soname, dlerror());
                _exit(127);
        }
        return f;
}

/* ret name params { return real args; }, real looked up once. */
#define LAZY(lib, ret, name, params, args)                                                      \
        ret name params                                                                         \
        {                                                                                       \
                static __typeof__(&name) real;                                                  \
                __typeof__(&name) f = __atomic_load_n(&real, __ATOMIC_RELAXED);                 \
                if (!f) {                                                                       \
                        f = (__typeof__(&name))lazy_sym(&lib, #name);                           \
                        __atomic_store_n(&real, f, __ATOMIC_RELAXED);                           \
                }                                                                               \
                return f args;                                                                  \
        }
#define LAZY_VOID(lib, name, params, args)                                                      \
        void name params                                                                        \
        {                                                                                       \
                static __typeof__(&name) real;                                                  \
                __typeof__(&name) f = __atomic_load_n(&real, __ATOMIC_RELAXED);                 \
                if (!f) {                                                                       \
                        f = (__typeof__(&name))lazy_sym(&lib, #name);                           \
                        __atomic_store_n(&real, f, __ATOMIC_RELAXED);                           \
                }                                                                               \
                f args;                                                                         \
        }

/* ---- libarchive ---------------------------------------------------------- */
#define A lib_archive
typedef struct archive ar;
typedef struct archive_entry ae;
LAZY(A, ar *, archive_read_new, (void), ())
LAZY(A, int, archive_read_free, (ar *a), (a))
LAZY(A, int, archive_read_support_format_all, (ar *a), (a))
LAZY(A, int, archive_read_support_format_raw, (ar *a), (a))
LAZY(A, int, archive_read_support_format_tar, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_bzip2, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_compress, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_gzip, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_lz4, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_lzip, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_lzma, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_xz, (ar *a), (a))
LAZY(A, int, archive_read_support_filter_zstd, (ar *a), (a))
LAZY(A, int, archive_read_open, (ar *a, void *data, archive_open_callback *o, archive_read_callback *r,
                                 archive_close_callback *c), (a, data, o, r, c))
LAZY(A, int, archive_read_open_fd, (ar *a, int fd, size_t block), (a, fd, block))
LAZY(A, int, archive_read_open_filename, (ar *a, const char *name, size_t block), (a, name, block))
LAZY(A, int, archive_read_open_memory, (ar *a, const void *buf, size_t size), (a, buf, size))
LAZY(A, int, archive_read_next_header, (ar *a, ae **e), (a, e))
LAZY(A, la_ssize_t, archive_read_data, (ar *a, void *buf, size_t size), (a, buf, size))
LAZY(A, int, archive_read_data_block, (ar *a, const void **buf, size_t *size, la_int64_t *off), (a, buf, size, off))
LAZY(A, int, archive_errno, (ar *a), (a))
LAZY(A, int, archive_filter_count, (ar *a), (a))
LAZY(A, const char *, archive_error_string, (ar *a), (a))
LAZY(A, time_t, archive_entry_atime, (ae *e), (e))
LAZY(A, int, archive_entry_atime_is_set, (ae *e), (e))
LAZY(A, long, archive_entry_atime_nsec, (ae *e), (e))
LAZY(A, time_t, archive_entry_mtime, (ae *e), (e))
LAZY(A, int, archive_entry_mtime_is_set, (ae *e), (e))
LAZY(A, long, archive_entry_mtime_nsec, (ae *e), (e))
LAZY(A, __LA_MODE_T, archive_entry_filetype, (ae *e), (e))
LAZY(A, __LA_MODE_T, archive_entry_perm, (ae *e), (e))
LAZY(A, la_int64_t, archive_entry_uid, (ae *e), (e))
LAZY(A, la_int64_t, archive_entry_gid, (ae *e), (e))
LAZY(A, la_int64_t, archive_entry_size, (ae *e), (e))
LAZY(A, int, archive_entry_size_is_set, (ae *e), (e))
LAZY(A, dev_t, archive_entry_rdev, (ae *e), (e))
LAZY(A, dev_t, archive_entry_rdevmajor, (ae *e), (e))
LAZY(A, dev_t, archive_entry_rdevminor, (ae *e), (e))
LAZY(A, const char *, archive_entry_pathname, (ae *e), (e))
LAZY(A, const char *, archive_entry_pathname_utf8, (ae *e), (e))
LAZY(A, const char *, archive_entry_hardlink, (ae *e), (e))
LAZY(A, const char *, archive_entry_symlink, (ae *e), (e))
LAZY(A, const char *, archive_entry_symlink_utf8, (ae *e), (e))
LAZY(A, int, archive_entry_xattr_reset, (ae *e), (e))
LAZY(A, int, archive_entry_xattr_next, (ae *e, const char **name, const void **value, size_t *size),
     (e, name, value, size))

/* Variadic: formatted here, passed on as "%s". */
void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
        static __typeof__(&archive_set_error) real;
        __typeof__(&archive_set_error) f = __atomic_load_n(&real, __ATOMIC_RELAXED);
        if (!f) {
                f = (__typeof__(&archive_set_error))lazy_sym(&lib_archive, "archive_set_error");
                __atomic_store_n(&real, f, __ATOMIC_RELAXED);
        }
        char msg[1024] = "";
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        f(a, err, fmt ? "%s" : NULL, msg);
}
#undef A

/* ---- nettle (bulk SHA-256 only: src/image/digest.c) ----------------------
 * sha2.h names them sha256_init ... by macros for nettle_sha256_init ... */
#define T lib_nettle
LAZY_VOID(T, nettle_sha256_init, (struct sha256_ctx *c), (c))
LAZY_VOID(T, nettle_sha256_update, (struct sha256_ctx *c, size_t n, const uint8_t *d), (c, n, d))
LAZY_VOID(T, nettle_sha256_digest, (struct sha256_ctx *c, size_t n, uint8_t *md), (c, n, md))
#undef T

/* ---- libnftables --------------------------------------------------------- */
#define N lib_nftables
LAZY(N, struct nft_ctx *, nft_ctx_new, (uint32_t flags), (flags))
LAZY_VOID(N, nft_ctx_free, (struct nft_ctx *c), (c))
LAZY_VOID(N, nft_ctx_output_set_flags, (struct nft_ctx *c, unsigned int flags), (c, flags))
LAZY(N, int, nft_ctx_buffer_output, (struct nft_ctx *c), (c))
LAZY(N, int, nft_ctx_buffer_error, (struct nft_ctx *c), (c))
LAZY(N, const char *, nft_ctx_get_output_buffer, (struct nft_ctx *c), (c))
LAZY(N, const char *, nft_ctx_get_error_buffer, (struct nft_ctx *c), (c))
LAZY(N, int, nft_run_cmd_from_buffer, (struct nft_ctx *c, const char *buf), (c, buf))
#undef N
