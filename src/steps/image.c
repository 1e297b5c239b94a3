/* image-unpack: make one cache entry (an image layer, or a rootfs tarball)
 * available to this container. The container is registered as a holder of
 * the entry first (so prune leaves it alone), then the entry is unpacked
 * unless it is cached already; concurrent starts of the same image unpack it
 * once (src/image/cache.c).
 *
 * The intent names the temporary directory of the unpack and the holder
 * file; undo removes both (a half unpack, the registration). The finished
 * entry is the cache's, not this container's: it stays, like a pulled docker
 * image, until `diyctl image prune`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/image.h"
#include "diyctl/util.h"
#include "steps.h"

struct progress {
        const char *label;
        long long total;         /* raw bytes, -1 unknown */
        struct timespec start, last;
        bool drawn;
};

static double since(const struct timespec *a, const struct timespec *b)
{
        return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* A progress bar on a terminal (bytes of this layer, which layer of how many);
 * nothing otherwise. Drawn only for unpacks that take a moment. */
static void progress_cb(void *arg, uint64_t bytes)
{
        struct progress *p = arg;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (since(&p->start, &now) < 0.3 || (p->drawn && since(&p->last, &now) < 0.1))
                return;
        p->last = now;
        p->drawn = true;
        double mb = (double)bytes / 1e6;
        if (p->total > 0) {
                double f = (double)bytes / (double)p->total;
                if (f > 1)
                        f = 1;
                char bar[31];
                int fill = (int)(f * 30);
                for (int i = 0; i < 30; i++)
                        bar[i] = i < fill ? '#' : '.';
                bar[30] = 0;
                fprintf(stderr, "\r\033[Kdiyctl: unpacking %s [%s] %.1f/%.1f MB", p->label, bar, mb,
                        (double)p->total / 1e6);
        } else {
                fprintf(stderr, "\r\033[Kdiyctl: unpacking %s %.1f MB", p->label, mb);
        }
        fflush(stderr);
}

static void count_var(struct dc_exec_ctx *ctx, const char *key)
{
        long long n = 0;
        dc_kvs_get_ll(&ctx->vars, key, &n);
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", n + 1);
        dc_kvs_set(&ctx->vars, key, buf);
}

static int image_apply(const struct dc_step *s, struct dc_exec_ctx *ctx, struct dc_error *err)
{
        static unsigned seq;
        const struct dc_kvs *a = &s->args;
        enum dc_cache_kind kind;
        const char *root = dc_kvs_get(a, "cache");
        const char *key = dc_kvs_get(a, "key");
        if (dc_cache_kind_parse(dc_kvs_get(a, "kind"), &kind) < 0 || !root || !key || !dc_kvs_get(a, "archive") ||
            !dc_kvs_get(a, "holder"))
                return dc_err(err, EINVAL, "image-unpack step without kind, cache, key, archive or holder");
        _cleanup_free_ char *tmp = dc_cache_tmp_path(root, kind, key, ++seq);
        struct dc_kvs extra = { 0 };
        dc_kvs_add(&extra, "tmp", tmp);
        unsigned jseq;
        int r = dc_step_intent(ctx, s, &extra, &jseq, err);
        dc_kvs_free(&extra);
        if (r < 0)
                return r;

        const char *label = dc_kvs_get(a, "label");
        struct progress pg = { .label = label ? label : key, .total = -1 };
        dc_kvs_get_ll(a, "size", &pg.total);
        clock_gettime(CLOCK_MONOTONIC, &pg.start);
        bool tty = isatty(STDERR_FILENO);
        struct dc_cache_unpack u = {
                .root = root,
                .kind = kind,
                .hex = key,
                .src = { .archive = dc_kvs_get(a, "archive"), .member = dc_kvs_get(a, "member"),
                         .digest = dc_kvs_get(a, "digest"), .diff_id = dc_kvs_get(a, "diff_id") },
                .tmp = tmp,
                .holder = dc_kvs_get(a, "holder"),
                .holder_dir = dc_kvs_get(a, "statedir"),
                .label = label,
                .progress = tty ? progress_cb : NULL,
                .progress_arg = &pg,
        };
        if (!u.holder_dir)
                u.holder_dir = "";
        r = dc_cache_unpack(&u, err);
        /* where the archive is named, for an error of its contents */
        if (r < 0 && dc_kvs_get(a, "origin") && err->code == EINVAL)
                dc_err_wrap(err, "%s", dc_kvs_get(a, "origin"));
        if (pg.drawn) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
        }
        /* What was not unpacked is worth knowing even off a terminal. */
        for (size_t i = 0; i < u.stats.warnings.n; i++)
                fprintf(stderr, "diyctl: warning: %s: %s\n", label ? label : key, u.stats.warnings.v[i]);
        struct dc_kvs res = { 0 };
        if (r == 0) {
                dc_kvs_add(&res, "cached", u.cached ? "1" : "0");
                if (!u.cached) {
                        dc_kvs_addf(&res, "entries", "%llu", (unsigned long long)u.stats.entries);
                        dc_kvs_addf(&res, "bytes", "%llu", (unsigned long long)u.stats.bytes);
                }
                count_var(ctx, u.cached ? "image.cached" : "image.unpacked");
        }
        dc_extract_stats_free(&u.stats);
        if (r == 0 && dc_streq(dc_kvs_get(a, "memo"), "1")) {
                /* so that the next plan need not read the archive (best effort) */
                struct dc_error ignored = { 0 };
                dc_cache_image_memo_write(root, u.src.archive, dc_kvs_get(a, "tag"), &ignored);
        }
        if (r == 0)
                r = dc_step_done(ctx, s, jseq, &res, err);
        dc_kvs_free(&res);
        return r;
}

static int image_undo(const struct dc_kvs *rec, struct dc_error *err)
{
        return dc_cache_release(dc_kvs_get(rec, "cache"), dc_kvs_get(rec, "tmp"), dc_kvs_get(rec, "holder"), err);
}

static void image_describe(const struct dc_step *s, FILE *out)
{
        const char *kind = dc_kvs_get(&s->args, "kind");
        const char *label = dc_kvs_get(&s->args, "label");
        fprintf(out, "unpack %s into %s unless cached (verified: %s; kept until diyctl image prune)",
                label ? label : kind, dc_kvs_get(&s->args, "entry"),
                dc_kvs_get(&s->args, "diff_id") || dc_kvs_get(&s->args, "digest") ? "digest" : "sha256 of the file");
}

const struct dc_step_ops dc_image_unpack_ops = {
        .kind = "image-unpack",
        .side = DC_SIDE_HOST,
        .apply = image_apply,
        .undo = image_undo,
        .describe = image_describe,
};
