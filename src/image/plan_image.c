/* Planning rootfs.tarball and rootfs.image: which cache entries the rootfs
 * is stacked from, the steps that make them available, and what the image
 * config says the process should be. */
#include "plan_image.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "diyctl/image.h"
#include "diyctl/util.h"

void dc_plan_image_free(struct dc_plan_image *pi)
{
        for (size_t i = 0; i < pi->n_steps; i++)
                dc_kvs_free(&pi->steps[i]);
        free(pi->steps);
        dc_strv_free(&pi->lowers);
        dc_strv_free(&pi->args);
        dc_strv_free(&pi->env);
        free(pi->cwd);
        free(pi->user);
        free(pi->stop_signal);
        free(pi->origin);
        memset(pi, 0, sizeof(*pi));
}

static struct dc_kvs *new_step(struct dc_plan_image *pi)
{
        pi->steps = dc_xrealloc(pi->steps, (pi->n_steps + 1) * sizeof(*pi->steps));
        struct dc_kvs *kv = &pi->steps[pi->n_steps++];
        memset(kv, 0, sizeof(*kv));
        return kv;
}

/* An error about KEY, at its place in the config. */
static int at_key(const struct dc_config *c, const char *key, struct dc_error *err)
{
        struct dc_error inner = *err;
        return dc_err_at(err, dc_config_origin(c, key), key, "%s", inner.msg);
}

static void common_args(struct dc_kvs *kv, const char *kind, const char *archive, const char *key, const char *root,
                        const char *name, const char *state_dir)
{
        enum dc_cache_kind k = strcmp(kind, "layer") == 0 ? DC_CACHE_LAYER : DC_CACHE_TARBALL;
        dc_kvs_add(kv, "kind", kind);
        dc_kvs_add(kv, "archive", archive);
        dc_kvs_add(kv, "key", key);
        dc_kvs_add(kv, "cache", root);
        _cleanup_free_ char *entry = dc_cache_entry_path(root, k, key);
        dc_kvs_add(kv, "entry", entry);
        _cleanup_free_ char *holder = dc_cache_holder_path(root, k, key, name, state_dir);
        dc_kvs_add(kv, "holder", holder);
        dc_kvs_add(kv, "statedir", state_dir);
}

static int plan_tarball(const struct dc_config *c, const char *root, const char *state_dir, struct dc_plan_image *pi,
                        struct dc_error *err)
{
        const char *path = c->rootfs.tarball;
        char hex[DC_SHA256_HEX + 1];
        if (dc_cache_tarball_key(root, path, hex, err) < 0)
                return at_key(c, "rootfs.tarball", err);
        struct stat st;
        struct dc_kvs *kv = new_step(pi);
        common_args(kv, "tarball", path, hex, root, c->name, state_dir);
        const char *slash = strrchr(path, '/');
        dc_kvs_addf(kv, "label", "tarball %s", slash ? slash + 1 : path);
        const struct dc_origin *o = dc_config_origin(c, "rootfs.tarball");
        if (o && o->line)
                dc_kvs_addf(kv, "origin", "%s:%d: rootfs.tarball", o->file, o->line);
        else if (o)
                dc_kvs_addf(kv, "origin", "%s: rootfs.tarball", o->file);
        if (stat(path, &st) == 0)
                dc_kvs_addf(kv, "size", "%lld", (long long)st.st_size);
        _cleanup_free_ char *entry = dc_cache_entry_path(root, DC_CACHE_TARBALL, hex);
        _cleanup_free_ char *tree = dc_xasprintf("%s/tree", entry);
        /* `docker image save` where `docker export` was meant, told before
         * anything is unpacked; a cached tarball was looked at when it was
         * unpacked (and the unpack looks once more: a layout this misses) */
        if (stat(tree, &st) < 0 && dc_image_archive_sniff(path))
                return dc_err_at(err, o, "rootfs.tarball", DC_DOCKER_SAVE_AS_TARBALL, path);
        dc_strv_push_take(&pi->lowers, DC_TAKE(tree));
        return 0;
}

static int plan_image(const struct dc_config *c, const char *root, const char *state_dir, struct dc_plan_image *pi,
                      struct dc_error *err)
{
        struct dc_image img;
        /* what the last start learned of this very file, else the archive itself */
        int r = dc_cache_image_memo_read(root, c->rootfs.image, c->rootfs.tag, &img);
        bool memo_hit = r == 0;
        if (r < 0)
                r = dc_image_inspect(c->rootfs.image, c->rootfs.tag, &img, err);
        if (r < 0)
                return at_key(c, r == -ENOENT && c->rootfs.tag && strstr(err->msg, " has no image ") ? "rootfs.tag"
                                                                                                    : "rootfs.image",
                              err);
        const char *slash = strrchr(img.archive, '/');
        const char *shown = img.name ? img.name : slash ? slash + 1 : img.archive;
        /* Each distinct layer once; a layer repeated higher up makes the lower copy redundant. */
        struct dc_strv keys = { 0 };
        for (size_t i = img.n_layers; i-- > 0;) {
                const struct dc_image_layer *l = &img.layers[i];
                const char *hex = dc_digest_hex(l->diff_id);
                if (!hex)
                        hex = dc_digest_hex(l->digest);
                if (!hex) {
                        r = dc_err(err, EINVAL, "%s: layer %zu (%s) has no digest (no rootfs.diff_ids in the image config): "
                                   "it cannot be verified or cached", img.archive, i + 1, l->member);
                        break;
                }
                if (dc_strv_contains(&keys, hex))
                        continue;
                dc_strv_push(&keys, hex);
                _cleanup_free_ char *entry = dc_cache_entry_path(root, DC_CACHE_LAYER, hex);
                dc_strv_push_take(&pi->lowers, dc_xasprintf("%s/tree", entry));
        }
        dc_strv_free(&keys);
        if (r < 0) {
                dc_image_free(&img);
                return at_key(c, "rootfs.image", err);
        }
        /* The steps bottom first, so the progress counts up. */
        struct dc_strv done = { 0 };
        for (size_t i = 0; i < img.n_layers; i++) {
                const struct dc_image_layer *l = &img.layers[i];
                const char *hex = dc_digest_hex(l->diff_id) ? dc_digest_hex(l->diff_id) : dc_digest_hex(l->digest);
                if (dc_strv_contains(&done, hex))
                        continue;
                dc_strv_push(&done, hex);
                struct dc_kvs *kv = new_step(pi);
                common_args(kv, "layer", img.archive, hex, root, c->name, state_dir);
                dc_kvs_add(kv, "member", l->member);
                if (l->digest)
                        dc_kvs_add(kv, "digest", l->digest);
                if (l->diff_id)
                        dc_kvs_add(kv, "diff_id", l->diff_id);
                dc_kvs_addf(kv, "label", "layer %zu/%zu of %s", i + 1, img.n_layers, shown);
                if (l->size >= 0)
                        dc_kvs_addf(kv, "size", "%lld", l->size);
        }
        dc_strv_free(&done);
        /* the last step remembers the inspection for the next plan, unless
         * this plan came from that memo already */
        struct dc_kvs *last = &pi->steps[pi->n_steps - 1];
        if (!memo_hit) {
                dc_kvs_add(last, "memo", "1");
                if (c->rootfs.tag)
                        dc_kvs_add(last, "tag", c->rootfs.tag);
        }
        const struct dc_image_config *ic = &img.config;
        dc_strv_copy(&pi->args, &ic->entrypoint);
        for (size_t i = 0; i < ic->cmd.n; i++)
                dc_strv_push(&pi->args, ic->cmd.v[i]);
        dc_strv_copy(&pi->env, &ic->env);
        /* An image without PATH gets Docker's, as docker run gives it: its
         * entrypoint scripts call programs by name. */
        bool has_path = false;
        for (size_t i = 0; i < pi->env.n; i++)
                has_path |= dc_startswith(pi->env.v[i], "PATH=");
        if (!has_path)
                dc_strv_push(&pi->env, "PATH=" DC_DEFAULT_PATH);
        pi->cwd = ic->workdir ? dc_xstrdup(ic->workdir) : NULL;
        pi->user = ic->user ? dc_xstrdup(ic->user) : NULL;
        pi->stop_signal = ic->stop_signal ? dc_xstrdup(ic->stop_signal) : NULL;
        pi->origin = dc_xasprintf("%s (%s): image config", img.archive, shown);
        dc_image_free(&img);
        return 0;
}

int dc_plan_image_load(const struct dc_config *c, const struct dc_plan_opts *opts, const char *state_dir,
                       struct dc_plan_image *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        if (!c->rootfs.tarball && !c->rootfs.image)
                return 0;
        out->active = true;
        _cleanup_free_ char *root = dc_image_cache_root(opts->uid);
        int r = c->rootfs.tarball ? plan_tarball(c, root, state_dir, out, err)
                                  : plan_image(c, root, state_dir, out, err);
        if (r < 0)
                dc_plan_image_free(out);
        return r;
}

static size_t name_len(const char *e)
{
        const char *eq = strchr(e, '=');
        return eq ? (size_t)(eq - e) : strlen(e);
}

void dc_plan_image_env(const struct dc_plan_image *pi, const struct dc_strv *cfg_env, struct dc_kvs *args)
{
        struct dc_strv env = { 0 };
        if (pi)
                dc_strv_copy(&env, &pi->env);
        for (size_t i = 0; i < cfg_env->n; i++) {
                const char *e = cfg_env->v[i];
                size_t n = name_len(e);
                bool replaced = false;
                for (size_t k = 0; k < env.n && !replaced; k++) {
                        if (name_len(env.v[k]) == n && strncmp(env.v[k], e, n) == 0) {
                                free(env.v[k]);
                                env.v[k] = dc_xstrdup(e);
                                replaced = true;
                        }
                }
                if (!replaced)
                        dc_strv_push(&env, e);
        }
        for (size_t i = 0; i < env.n; i++)
                dc_kvs_add(args, "env", env.v[i]);
        dc_strv_free(&env);
}
