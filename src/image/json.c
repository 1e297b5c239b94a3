/* The JSON documents of docker-save and OCI archives, parsed with json-c:
 * Docker's manifest.json, OCI index.json / image manifests / image indexes,
 * oci-layout, and image configs. Pure functions over bytes: no I/O, every
 * field checked for its type, every digest validated, sizes bounded, so any
 * input gives a value or an error (tests/fuzz/fuzz-image.c). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/utsname.h>

#include <json-c/json.h>

#include "diyctl/image.h"
#include "diyctl/util.h"

/* Bounds on what an archive may describe. Overlayfs stacks at most 500 lower
 * layers; documents are small. */
#define MAX_DOC (16u << 20)
#define MAX_LAYERS 500
#define MAX_IMAGES 10000
#define MAX_STRINGS 100000
#define DEPTH 64

static void json_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* Parse a whole document: exactly one JSON value, nothing but white space after. */
static int parse_doc(const char *buf, size_t len, const char *what, json_object **out, struct dc_error *err)
{
        *out = NULL;
        if (len > MAX_DOC)
                return dc_err(err, E2BIG, "%s: %zu bytes is too big for a JSON document", what, len);
        if (len == 0)
                return dc_err(err, EINVAL, "%s: empty", what);
        if (memchr(buf, 0, len))
                return dc_err(err, EINVAL, "%s: not JSON (a NUL byte)", what);
        json_tokener *tok = json_tokener_new_ex(DEPTH);
        if (!tok)
                return dc_err(err, ENOMEM, "%s: out of memory", what);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
        enum json_tokener_error je = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        if (!o && je == json_tokener_continue) {
                /* a value that needs its end seen (a number, true, null): say so with a NUL */
                o = json_tokener_parse_ex(tok, "", 1);
                je = json_tokener_get_error(tok);
                end = len;
        }
        json_tokener_free(tok);
        if (!o) {
                if (je == json_tokener_success) /* the value null */
                        return dc_err(err, EINVAL, "%s: null", what);
                return dc_err(err, EINVAL, "%s: not valid JSON: %s", what,
                              je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je));
        }
        for (size_t i = end; i < len; i++) {
                if (!strchr(" \t\r\n", buf[i])) {
                        json_object_put(o);
                        return dc_err(err, EINVAL, "%s: not valid JSON: data after the value", what);
                }
        }
        *out = o;
        return 0;
}

static json_object *member(json_object *o, const char *key)
{
        json_object *v = NULL;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v; /* may be NULL for an explicit null */
}

/* A string without NUL bytes, or NULL. */
static const char *str_of(json_object *v)
{
        if (!json_object_is_type(v, json_type_string))
                return NULL;
        const char *s = json_object_get_string(v);
        int n = json_object_get_string_len(v);
        if (!s || n < 0 || strlen(s) != (size_t)n)
                return NULL;
        return s;
}

/* Optional string field: 0 with *out NULL when absent or null, -EINVAL when another type. */
static int opt_str(json_object *o, const char *key, const char *what, char **out, struct dc_error *err)
{
        *out = NULL;
        json_object *v = member(o, key);
        if (!v)
                return 0;
        const char *s = str_of(v);
        if (!s)
                return dc_err(err, EINVAL, "%s: %s is not a string", what, key);
        *out = dc_xstrdup(s);
        return 0;
}

/* Optional array of strings: absent or null leaves sv empty. */
static int opt_strv(json_object *o, const char *key, const char *what, struct dc_strv *sv, bool *present,
                    struct dc_error *err)
{
        json_object *v = member(o, key);
        if (present)
                *present = v != NULL;
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return dc_err(err, EINVAL, "%s: %s is not an array", what, key);
        size_t n = json_object_array_length(v);
        if (n > MAX_STRINGS)
                return dc_err(err, E2BIG, "%s: %s has %zu elements", what, key, n);
        for (size_t i = 0; i < n; i++) {
                const char *s = str_of(json_object_array_get_idx(v, i));
                if (!s)
                        return dc_err(err, EINVAL, "%s: %s[%zu] is not a string", what, key, i);
                dc_strv_push(sv, s);
        }
        return 0;
}

bool dc_digest_valid(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0)
                return false;
        const char *h = d + 7;
        size_t i = 0;
        for (; h[i]; i++)
                if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
                        return false;
        return i == DC_SHA256_HEX;
}

const char *dc_digest_hex(const char *d)
{
        return dc_digest_valid(d) ? d + 7 : NULL;
}

static int check_digest(const char *d, const char *what, struct dc_error *err)
{
        if (dc_digest_valid(d))
                return 0;
        if (d && strchr(d, ':') && strncmp(d, "sha256:", 7) != 0)
                return dc_err(err, EINVAL, "%s: digest %.80s: only sha256 digests are supported", what, d);
        return dc_err(err, EINVAL, "%s: %.80s is not a sha256 digest", what, d ? d : "(none)");
}

char *dc_member_clean(const char *path)
{
        if (!path || path[0] == '/')
                return NULL;
        size_t len = strlen(path);
        char *out = dc_xmalloc(len + 1);
        size_t o = 0;
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        free(out);
                        return NULL;
                }
                if (!(n == 1 && p[0] == '.')) {
                        if (o)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p = e;
        }
        out[o] = 0;
        if (o == 0) {
                free(out);
                return NULL;
        }
        return out;
}

/* A member path from a JSON document: relative, canonical. */
static int member_path(json_object *v, const char *what, char **out, struct dc_error *err)
{
        const char *s = str_of(v);
        if (!s)
                return dc_err(err, EINVAL, "%s is not a string", what);
        char *c = dc_member_clean(s);
        if (!c)
                return dc_err(err, EINVAL, "%s: %.200s is not a path inside the archive", what, s);
        *out = c;
        return 0;
}

/* ---- manifest.json ---------------------------------------------------- */

void dc_docker_images_free(struct dc_docker_image *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].config);
                dc_strv_free(&v[i].tags);
                dc_strv_free(&v[i].layers);
        }
        free(v);
}

int dc_parse_docker_manifest(const char *buf, size_t len, struct dc_docker_image **out, size_t *n_out,
                             struct dc_error *err)
{
        *out = NULL;
        *n_out = 0;
        _cleanup_json_ json_object *root = NULL;
        int r = parse_doc(buf, len, "manifest.json", &root, err);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_array))
                return dc_err(err, EINVAL, "manifest.json: not an array of images");
        size_t n = json_object_array_length(root);
        if (n == 0)
                return dc_err(err, EINVAL, "manifest.json: lists no image");
        if (n > MAX_IMAGES)
                return dc_err(err, E2BIG, "manifest.json: %zu images", n);
        struct dc_docker_image *v = dc_xcalloc(n, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                json_object *im = json_object_array_get_idx(root, i);
                char what[64];
                snprintf(what, sizeof(what), "manifest.json: image %zu", i + 1);
                if (!json_object_is_type(im, json_type_object)) {
                        r = dc_err(err, EINVAL, "%s is not an object", what);
                        break;
                }
                json_object *c = member(im, "Config");
                if (!c) {
                        r = dc_err(err, EINVAL, "%s has no Config", what);
                        break;
                }
                char cw[96];
                snprintf(cw, sizeof(cw), "%s: Config", what);
                if ((r = member_path(c, cw, &v[i].config, err)) < 0)
                        break;
                if ((r = opt_strv(im, "RepoTags", what, &v[i].tags, NULL, err)) < 0)
                        break;
                json_object *ls = member(im, "Layers");
                if (!ls || !json_object_is_type(ls, json_type_array)) {
                        r = dc_err(err, EINVAL, "%s: Layers is missing or not an array", what);
                        break;
                }
                size_t nl = json_object_array_length(ls);
                if (nl > MAX_LAYERS) {
                        r = dc_err(err, E2BIG, "%s has %zu layers; overlayfs stacks at most %d", what, nl, MAX_LAYERS);
                        break;
                }
                for (size_t k = 0; r == 0 && k < nl; k++) {
                        char lw[96];
                        snprintf(lw, sizeof(lw), "%s: Layers[%zu]", what, k);
                        char *p = NULL;
                        r = member_path(json_object_array_get_idx(ls, k), lw, &p, err);
                        if (r == 0)
                                dc_strv_push_take(&v[i].layers, p);
                }
                if (r < 0)
                        break;
        }
        if (r < 0) {
                dc_docker_images_free(v, n);
                return r;
        }
        *out = v;
        *n_out = n;
        return 0;
}

/* ---- OCI -------------------------------------------------------------- */

static void desc_free(struct dc_oci_desc *d)
{
        free(d->media_type);
        free(d->digest);
        free(d->ref_name);
        free(d->image_name);
        free(d->os);
        free(d->arch);
        free(d->variant);
        memset(d, 0, sizeof(*d));
}

void dc_oci_manifest_free(struct dc_oci_manifest *m)
{
        desc_free(&m->config);
        for (size_t i = 0; i < m->n; i++)
                desc_free(&m->descs[i]);
        free(m->descs);
        memset(m, 0, sizeof(*m));
}

static int parse_desc(json_object *o, const char *what, struct dc_oci_desc *d, struct dc_error *err)
{
        memset(d, 0, sizeof(*d));
        d->size = -1;
        if (!json_object_is_type(o, json_type_object))
                return dc_err(err, EINVAL, "%s is not an object", what);
        int r = opt_str(o, "mediaType", what, &d->media_type, err);
        if (r < 0)
                return r;
        json_object *dg = member(o, "digest");
        const char *ds = str_of(dg);
        if ((r = check_digest(ds, what, err)) < 0)
                return r;
        d->digest = dc_xstrdup(ds);
        json_object *sz = member(o, "size");
        if (sz) {
                if (!json_object_is_type(sz, json_type_int))
                        return dc_err(err, EINVAL, "%s: size is not an integer", what);
                errno = 0;
                int64_t v = json_object_get_int64(sz);
                if (v < 0 || errno == ERANGE)
                        return dc_err(err, EINVAL, "%s: size is out of range", what);
                d->size = v;
        }
        json_object *an = member(o, "annotations");
        if (an) {
                if (!json_object_is_type(an, json_type_object))
                        return dc_err(err, EINVAL, "%s: annotations is not an object", what);
                if ((r = opt_str(an, "org.opencontainers.image.ref.name", what, &d->ref_name, err)) < 0 ||
                    (r = opt_str(an, "io.containerd.image.name", what, &d->image_name, err)) < 0)
                        return r;
        }
        json_object *pf = member(o, "platform");
        if (pf) {
                if (!json_object_is_type(pf, json_type_object))
                        return dc_err(err, EINVAL, "%s: platform is not an object", what);
                if ((r = opt_str(pf, "os", what, &d->os, err)) < 0 ||
                    (r = opt_str(pf, "architecture", what, &d->arch, err)) < 0 ||
                    (r = opt_str(pf, "variant", what, &d->variant, err)) < 0)
                        return r;
        }
        return 0;
}

static int parse_desc_list(json_object *arr, const char *what, size_t max, struct dc_oci_manifest *m,
                           struct dc_error *err)
{
        if (!json_object_is_type(arr, json_type_array))
                return dc_err(err, EINVAL, "%s is not an array", what);
        size_t n = json_object_array_length(arr);
        if (n > max)
                return dc_err(err, E2BIG, "%s has %zu entries (at most %zu)", what, n, max);
        m->descs = dc_xcalloc(n ? n : 1, sizeof(*m->descs));
        for (size_t i = 0; i < n; i++) {
                char w[96];
                snprintf(w, sizeof(w), "%s[%zu]", what, i);
                int r = parse_desc(json_object_array_get_idx(arr, i), w, &m->descs[i], err);
                m->n = i + 1; /* so the free covers it */
                if (r < 0)
                        return r;
        }
        return 0;
}

int dc_parse_oci(const char *buf, size_t len, struct dc_oci_manifest *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_json_ json_object *root = NULL;
        int r = parse_doc(buf, len, "OCI document", &root, err);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object))
                return dc_err(err, EINVAL, "OCI document: not an object");
        json_object *sv = member(root, "schemaVersion");
        if (!json_object_is_type(sv, json_type_int) || json_object_get_int64(sv) != 2)
                return dc_err(err, EINVAL, "OCI document: schemaVersion is not 2");
        json_object *manifests = member(root, "manifests");
        json_object *layers = member(root, "layers");
        if (manifests && layers)
                return dc_err(err, EINVAL, "OCI document: both manifests and layers (neither index nor manifest)");
        if (manifests) {
                out->is_index = true;
                r = parse_desc_list(manifests, "index: manifests", MAX_IMAGES, out, err);
        } else if (layers) {
                r = parse_desc(member(root, "config"), "manifest: config", &out->config, err);
                if (r == 0)
                        r = parse_desc_list(layers, "manifest: layers", MAX_LAYERS, out, err);
        } else {
                r = dc_err(err, EINVAL, "OCI document: neither manifests (an index) nor layers (a manifest)");
        }
        if (r < 0)
                dc_oci_manifest_free(out);
        return r;
}

int dc_parse_oci_layout(const char *buf, size_t len, struct dc_error *err)
{
        _cleanup_json_ json_object *root = NULL;
        int r = parse_doc(buf, len, "oci-layout", &root, err);
        if (r < 0)
                return r;
        const char *v = str_of(member(root, "imageLayoutVersion"));
        if (!v)
                return dc_err(err, EINVAL, "oci-layout: no imageLayoutVersion");
        if (strncmp(v, "1.", 2) != 0)
                return dc_err(err, EINVAL, "oci-layout: image layout version %.20s is not supported (1.x is)", v);
        return 0;
}

/* ---- image config ----------------------------------------------------- */

void dc_image_config_free(struct dc_image_config *c)
{
        dc_strv_free(&c->entrypoint);
        dc_strv_free(&c->cmd);
        dc_strv_free(&c->env);
        dc_strv_free(&c->diff_ids);
        free(c->workdir);
        free(c->user);
        free(c->stop_signal);
        free(c->os);
        free(c->arch);
        free(c->variant);
        memset(c, 0, sizeof(*c));
}

static void empty_to_null(char **s)
{
        if (*s && !**s) {
                free(*s);
                *s = NULL;
        }
}

int dc_parse_image_config(const char *buf, size_t len, struct dc_image_config *out, struct dc_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_json_ json_object *root = NULL;
        const char *w = "image config";
        int r = parse_doc(buf, len, w, &root, err);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object)) {
                r = dc_err(err, EINVAL, "%s: not an object", w);
                goto out;
        }
        if ((r = opt_str(root, "os", w, &out->os, err)) < 0 ||
            (r = opt_str(root, "architecture", w, &out->arch, err)) < 0 ||
            (r = opt_str(root, "variant", w, &out->variant, err)) < 0)
                goto out;
        json_object *c = member(root, "config");
        if (c) {
                if (!json_object_is_type(c, json_type_object)) {
                        r = dc_err(err, EINVAL, "%s: config is not an object", w);
                        goto out;
                }
                const char *cw = "image config: config";
                if ((r = opt_strv(c, "Entrypoint", cw, &out->entrypoint, NULL, err)) < 0 ||
                    (r = opt_strv(c, "Cmd", cw, &out->cmd, NULL, err)) < 0 ||
                    (r = opt_strv(c, "Env", cw, &out->env, NULL, err)) < 0 ||
                    (r = opt_str(c, "WorkingDir", cw, &out->workdir, err)) < 0 ||
                    (r = opt_str(c, "User", cw, &out->user, err)) < 0 ||
                    (r = opt_str(c, "StopSignal", cw, &out->stop_signal, err)) < 0)
                        goto out;
                for (size_t i = 0; i < out->env.n; i++) {
                        const char *e = out->env.v[i];
                        if (!strchr(e, '=') || e[0] == '=') {
                                r = dc_err(err, EINVAL, "%s: Env[%zu] %.100s is not NAME=VALUE", cw, i, e);
                                goto out;
                        }
                }
                empty_to_null(&out->workdir);
                empty_to_null(&out->user);
                empty_to_null(&out->stop_signal);
                if (out->workdir && out->workdir[0] != '/') {
                        r = dc_err(err, EINVAL, "%s: WorkingDir %.200s is not an absolute path", cw, out->workdir);
                        goto out;
                }
        }
        json_object *rf = member(root, "rootfs");
        if (rf) {
                if (!json_object_is_type(rf, json_type_object)) {
                        r = dc_err(err, EINVAL, "%s: rootfs is not an object", w);
                        goto out;
                }
                const char *type = str_of(member(rf, "type"));
                if (type && strcmp(type, "layers") != 0) {
                        r = dc_err(err, EINVAL, "%s: rootfs.type %.40s is not \"layers\"", w, type);
                        goto out;
                }
                if ((r = opt_strv(rf, "diff_ids", "image config: rootfs", &out->diff_ids, &out->has_diff_ids, err)) < 0)
                        goto out;
                if (out->diff_ids.n > MAX_LAYERS) {
                        r = dc_err(err, E2BIG, "%s: %zu layers; overlayfs stacks at most %d", w, out->diff_ids.n,
                                   MAX_LAYERS);
                        goto out;
                }
                for (size_t i = 0; i < out->diff_ids.n; i++) {
                        char dw[64];
                        snprintf(dw, sizeof(dw), "image config: rootfs.diff_ids[%zu]", i);
                        if ((r = check_digest(out->diff_ids.v[i], dw, err)) < 0)
                                goto out;
                }
        }
out:
        if (r < 0)
                dc_image_config_free(out);
        return r;
}

/* ---- references ------------------------------------------------------- */

/* "registry/path:tag" with Docker's defaults filled in; a digest reference
 * ("name@sha256:...") keeps its digest as the tag. */
static char *ref_normalize(const char *ref)
{
        const char *at = strchr(ref, '@');
        _cleanup_free_ char *name = at ? dc_xstrndup(ref, (size_t)(at - ref)) : dc_xstrdup(ref);
        _cleanup_free_ char *tag = NULL;
        if (at) {
                tag = dc_xstrdup(at); /* "@sha256:..." */
        } else {
                char *colon = strrchr(name, ':');
                char *slash = strrchr(name, '/');
                if (colon && (!slash || colon > slash)) {
                        tag = dc_xasprintf(":%s", colon + 1);
                        *colon = 0;
                } else {
                        tag = dc_xstrdup(":latest");
                }
        }
        const char *slash = strchr(name, '/');
        bool has_registry = false;
        if (slash) {
                size_t n = (size_t)(slash - name);
                has_registry = memchr(name, '.', n) || memchr(name, ':', n) ||
                               (n == 9 && strncmp(name, "localhost", 9) == 0);
        }
        if (has_registry) {
                if (dc_startswith(name, "index.docker.io/") || dc_startswith(name, "registry-1.docker.io/")) {
                        const char *rest = strchr(name, '/') + 1;
                        if (!strchr(rest, '/'))
                                return dc_xasprintf("docker.io/library/%s%s", rest, tag);
                        return dc_xasprintf("docker.io/%s%s", rest, tag);
                }
                if (dc_startswith(name, "docker.io/") && !strchr(name + 10, '/'))
                        return dc_xasprintf("docker.io/library/%s%s", name + 10, tag);
                return dc_xasprintf("%s%s", name, tag);
        }
        if (!slash)
                return dc_xasprintf("docker.io/library/%s%s", name, tag);
        return dc_xasprintf("docker.io/%s%s", name, tag);
}

bool dc_image_ref_match(const char *ref, const char *name)
{
        if (!ref || !name || !*ref || !*name)
                return false;
        if (strcmp(ref, name) == 0)
                return true;
        /* An OCI ref.name annotation is often the tag alone ("latest", "1.36"). */
        if (!strchr(name, '/') && !strchr(name, ':') && !strchr(name, '@')) {
                const char *colon = strrchr(ref, ':');
                const char *slash = strrchr(ref, '/');
                if (colon && (!slash || colon > slash) && strcmp(colon + 1, name) == 0)
                        return true;
        }
        _cleanup_free_ char *a = ref_normalize(ref);
        _cleanup_free_ char *b = ref_normalize(name);
        return strcmp(a, b) == 0;
}

const char *dc_image_host_arch(void)
{
        struct utsname u;
        if (uname(&u) < 0)
                return "unknown";
        static const struct {
                const char *machine, *arch;
        } map[] = {
                { "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" }, { "armv6l", "arm" },
                { "i686", "386" },     { "i386", "386" },      { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
                { "riscv64", "riscv64" }, { "loongarch64", "loong64" }, { "mips64", "mips64" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(map); i++)
                if (strcmp(u.machine, map[i].machine) == 0)
                        return map[i].arch;
        return "unknown";
}
