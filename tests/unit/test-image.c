/* Images: the JSON parsers, references, member names, archive inspection
 * (archives built here with libarchive's writer), safe extraction into a
 * temporary directory, the cache, and the plan of an image container. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "diyctl/config.h"
#include "diyctl/image.h"
#include "diyctl/plan.h"
#include "tap.h"

static char tmpdir[256];

/* ---- helpers: archives in memory ---------------------------------------- */

struct buf {
        char *p;
        size_t n;
};

struct ent {
        const char *name;
        char type;           /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' chr, 'b' blk */
        const char *data;    /* file content, or link target */
        size_t len;          /* 0: strlen(data) */
};

static la_ssize_t buf_write(struct archive *a, void *arg, const void *p, size_t n)
{
        (void)a;
        struct buf *b = arg;
        b->p = realloc(b->p, b->n + n);
        memcpy(b->p + b->n, p, n);
        b->n += n;
        return (la_ssize_t)n;
}

static struct buf make_tar(const struct ent *e, size_t n, const char *filter)
{
        struct buf b = { 0 };
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (filter && !strcmp(filter, "gzip"))
                archive_write_add_filter_gzip(a);
        archive_write_set_bytes_in_last_block(a, 1);
        archive_write_open(a, &b, NULL, buf_write, NULL);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *x = archive_entry_new();
                archive_entry_set_pathname(x, e[i].name);
                archive_entry_set_mtime(x, 1700000000, 0);
                size_t len = e[i].len ? e[i].len : (e[i].data ? strlen(e[i].data) : 0);
                switch (e[i].type) {
                case 'd':
                        archive_entry_set_filetype(x, AE_IFDIR);
                        archive_entry_set_perm(x, 0755);
                        break;
                case 'l':
                        archive_entry_set_filetype(x, AE_IFLNK);
                        archive_entry_set_perm(x, 0777);
                        archive_entry_set_symlink(x, e[i].data);
                        len = 0;
                        break;
                case 'h':
                        archive_entry_set_filetype(x, AE_IFREG);
                        archive_entry_set_perm(x, 0644);
                        archive_entry_set_hardlink(x, e[i].data);
                        len = 0;
                        break;
                case 'c':
                case 'b':
                        archive_entry_set_filetype(x, e[i].type == 'c' ? AE_IFCHR : AE_IFBLK);
                        archive_entry_set_perm(x, 0666);
                        archive_entry_set_rdev(x, makedev(1, 3));
                        len = 0;
                        break;
                default:
                        archive_entry_set_filetype(x, AE_IFREG);
                        archive_entry_set_perm(x, 0644);
                        archive_entry_set_size(x, (la_int64_t)len);
                }
                archive_write_header(a, x);
                if (len)
                        archive_write_data(a, e[i].data, len);
                archive_entry_free(x);
        }
        archive_write_close(a);
        archive_write_free(a);
        return b;
}

static void sha_hex(const void *p, size_t n, char hex[65])
{
        struct dc_sha256 h;
        dc_sha256_init(&h);
        dc_sha256_update(&h, p, n);
        dc_sha256_final(&h, hex);
}

static char *write_file(const char *name, const void *p, size_t n)
{
        char *path = dc_xasprintf("%s/%s", tmpdir, name);
        FILE *f = fopen(path, "we");
        fwrite(p, 1, n, f);
        fclose(f);
        return path;
}

/* A docker-save archive of one image (two layers), classic or Docker 25 layout. */
struct img {
        struct buf layer[2];
        char diff[2][65];
        char cfg_hex[65];
        struct buf archive;
};

static void make_image(struct img *im, bool oci, const char *tags_json, bool gzip_top, bool bad_diff)
{
        static const struct ent base[] = {
                { "bin", 'd', NULL, 0 }, { "bin/sh", 'f', "#!shell\n", 0 }, { "etc", 'd', NULL, 0 },
                { "etc/gone", 'f', "x", 0 }, { "data", 'd', NULL, 0 }, { "data/a", 'f', "a", 0 },
        };
        static const struct ent top[] = {
                { "etc", 'd', NULL, 0 }, { "etc/.wh.gone", 'f', "", 0 }, { "data", 'd', NULL, 0 },
                { "data/.wh..wh..opq", 'f', "", 0 }, { "data/b", 'f', "b", 0 },
        };
        struct buf raw0 = make_tar(base, DC_ARRAY_SIZE(base), NULL);
        struct buf raw1 = make_tar(top, DC_ARRAY_SIZE(top), NULL);
        sha_hex(raw0.p, raw0.n, im->diff[0]);
        sha_hex(raw1.p, raw1.n, im->diff[1]);
        im->layer[0] = raw0;
        if (gzip_top) {
                im->layer[1] = make_tar(top, DC_ARRAY_SIZE(top), "gzip");
                free(raw1.p);
        } else {
                im->layer[1] = raw1;
        }
        char *cfg = dc_xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/sh\"],"
                                 "\"Cmd\":[\"-c\",\"echo hi\"],\"Env\":[\"PATH=/bin\",\"A=image\"],\"WorkingDir\":\"/data\","
                                 "\"User\":\"1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}",
                                 dc_image_host_arch(), im->diff[0], bad_diff ? "0000000000000000000000000000000000000000000000000000000000000000" : im->diff[1]);
        sha_hex(cfg, strlen(cfg), im->cfg_hex);
        char lhex[2][65];
        for (int i = 0; i < 2; i++)
                sha_hex(im->layer[i].p, im->layer[i].n, lhex[i]);
        struct ent e[12];
        size_t n = 0;
        char *names[6] = { 0 };
        char *man = NULL, *index = NULL, *ociman = NULL;
        if (!oci) {
                names[0] = dc_xasprintf("%s.json", im->cfg_hex);
                names[1] = dc_xasprintf("l0/layer.tar");
                names[2] = dc_xasprintf("l1/layer.tar");
                e[n++] = (struct ent){ "l0", 'd', NULL, 0 };
                e[n++] = (struct ent){ names[1], 'f', im->layer[0].p, im->layer[0].n };
                e[n++] = (struct ent){ "l1", 'd', NULL, 0 };
                e[n++] = (struct ent){ names[2], 'f', im->layer[1].p, im->layer[1].n };
        } else {
                names[0] = dc_xasprintf("blobs/sha256/%s", im->cfg_hex);
                names[1] = dc_xasprintf("blobs/sha256/%s", lhex[0]);
                names[2] = dc_xasprintf("blobs/sha256/%s", lhex[1]);
                ociman = dc_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\",\"size\":%zu},"
                                      "\"layers\":[{\"digest\":\"sha256:%s\",\"size\":%zu},{\"digest\":\"sha256:%s\",\"size\":%zu}]}",
                                      im->cfg_hex, strlen(cfg), lhex[0], im->layer[0].n, lhex[1], im->layer[1].n);
                char mhex[65];
                sha_hex(ociman, strlen(ociman), mhex);
                names[3] = dc_xasprintf("blobs/sha256/%s", mhex);
                index = dc_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:%s\",\"size\":%zu,"
                                     "\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/bb:1\","
                                     "\"org.opencontainers.image.ref.name\":\"1\"}}]}",
                                     mhex, strlen(ociman));
                e[n++] = (struct ent){ "blobs", 'd', NULL, 0 };
                e[n++] = (struct ent){ "blobs/sha256", 'd', NULL, 0 };
                e[n++] = (struct ent){ names[1], 'f', im->layer[0].p, im->layer[0].n };
                e[n++] = (struct ent){ names[2], 'f', im->layer[1].p, im->layer[1].n };
                e[n++] = (struct ent){ names[3], 'f', ociman, 0 };
                e[n++] = (struct ent){ "index.json", 'f', index, 0 };
                e[n++] = (struct ent){ "oci-layout", 'f', "{\"imageLayoutVersion\":\"1.0.0\"}", 0 };
                /* the legacy-compatible name some Docker versions add, as a symlink */
                e[n++] = (struct ent){ "l1", 'd', NULL, 0 };
                e[n++] = (struct ent){ "l1/layer.tar", 'l', "../blobs/sha256/x", 0 };
        }
        e[n++] = (struct ent){ names[0], 'f', cfg, 0 };
        man = dc_xasprintf("[{\"Config\":\"%s\",\"RepoTags\":%s,\"Layers\":[\"%s\",\"%s\"]}]", names[0], tags_json,
                           names[1], names[2]);
        e[n++] = (struct ent){ "manifest.json", 'f', man, 0 };
        im->archive = make_tar(e, n, NULL);
        for (int i = 0; i < 6; i++)
                free(names[i]);
        free(man);
        free(index);
        free(ociman);
        free(cfg);
}

static void img_free(struct img *im)
{
        free(im->layer[0].p);
        free(im->layer[1].p);
        free(im->archive.p);
}

/* ---- parsers -------------------------------------------------------------- */

static void test_manifest(void)
{
        struct dc_error err = { 0 };
        struct dc_docker_image *v = NULL;
        size_t n = 0;
        const char *ok = "[{\"Config\":\"abc.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"l1/layer.tar\",\"./l2//layer.tar\"]},"
                         "{\"Config\":\"blobs/sha256/x\",\"RepoTags\":null,\"Layers\":[]}]";
        int r = dc_parse_docker_manifest(ok, strlen(ok), &v, &n, &err);
        CHECK(r == 0 && n == 2, "manifest.json with two images parses (%s)", err.msg);
        if (r == 0) {
                CHECK_STREQ(v[0].config, "abc.json", "Config");
                CHECK(v[0].tags.n == 1 && !strcmp(v[0].tags.v[0], "busybox:latest"), "RepoTags");
                CHECK(v[0].layers.n == 2 && !strcmp(v[0].layers.v[1], "l2/layer.tar"), "layer paths are made canonical");
                CHECK(v[1].tags.n == 0 && v[1].layers.n == 0, "null RepoTags and no layers");
                dc_docker_images_free(v, n);
        }
        static const struct {
                const char *in, *err;
        } bad[] = {
                { "", "manifest.json: empty" },
                { "{}", "manifest.json: not an array of images" },
                { "[]", "manifest.json: lists no image" },
                { "[1]", "manifest.json: image 1 is not an object" },
                { "[{\"Layers\":[]}]", "manifest.json: image 1 has no Config" },
                { "[{\"Config\":\"/etc/passwd\",\"Layers\":[]}]", "manifest.json: image 1: Config: /etc/passwd is not a path inside" },
                { "[{\"Config\":\"c\",\"Layers\":[\"../../x\"]}]", "manifest.json: image 1: Layers[0]: ../../x is not a path inside" },
                { "[{\"Config\":\"c\",\"Layers\":\"x\"}]", "manifest.json: image 1: Layers is missing or not an array" },
                { "[{\"Config\":\"c\",\"Layers\":[1]}]", "manifest.json: image 1: Layers[0] is not a string" },
                { "[{\"Config\":\"c\",\"RepoTags\":[2],\"Layers\":[]}]", "manifest.json: image 1: RepoTags[0] is not a string" },
                { "[{\"Config\":\"c\",\"Layers\":[]}] x", "manifest.json: not valid JSON" },
                { "[{\"Config\":\"c\",\"Layers\":[]}", "manifest.json: not valid JSON" },
                { "[{\"Config\":\"c\\u0000d\",\"Layers\":[]}]", "manifest.json: image 1: Config is not a string" },
                { "null", "manifest.json: null" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                v = NULL;
                r = dc_parse_docker_manifest(bad[i].in, strlen(bad[i].in), &v, &n, &err);
                bool good = r < 0 && !v && strncmp(err.msg, bad[i].err, strlen(bad[i].err)) == 0;
                CHECK(good, "bad manifest %zu refused: %s", i, bad[i].err);
                if (!good)
                        printf("#   got: %s\n", r < 0 ? err.msg : "(accepted)");
        }
        /* a NUL byte inside the buffer, not as a string escape */
        r = dc_parse_docker_manifest("[]\0[]", 5, &v, &n, &err);
        CHECK(r < 0 && strstr(err.msg, "NUL"), "a NUL byte is refused (%s)", err.msg);
        /* too deep */
        char deep[400];
        memset(deep, '[', 200);
        memset(deep + 200, ']', 200);
        r = dc_parse_docker_manifest(deep, sizeof(deep), &v, &n, &err);
        CHECK(r < 0, "absurd nesting is refused (%s)", err.msg);
        /* too many layers */
        struct dc_strv sb = { 0 };
        char *big = dc_xstrdup("[{\"Config\":\"c\",\"Layers\":[");
        for (int i = 0; i < 501; i++) {
                char *nb = dc_xasprintf("%s%s\"l%d\"", big, i ? "," : "", i);
                free(big);
                big = nb;
        }
        char *nb = dc_xasprintf("%s]}]", big);
        free(big);
        r = dc_parse_docker_manifest(nb, strlen(nb), &v, &n, &err);
        CHECK(r == -E2BIG && strstr(err.msg, "overlayfs stacks at most 500"), "more layers than overlayfs stacks (%s)", err.msg);
        free(nb);
        dc_strv_free(&sb);
}

static void test_oci(void)
{
        struct dc_error err = { 0 };
        struct dc_oci_manifest m;
        const char *h = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        char *idx = dc_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                 "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":7,"
                                 "\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/busybox:latest\","
                                 "\"org.opencontainers.image.ref.name\":\"latest\"},"
                                 "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}}]}", h);
        int r = dc_parse_oci(idx, strlen(idx), &m, &err);
        CHECK(r == 0 && m.is_index && m.n == 1, "an OCI index parses (%s)", err.msg);
        if (r == 0) {
                CHECK_STREQ(m.descs[0].digest, h, "digest");
                CHECK(m.descs[0].size == 7, "size");
                CHECK_STREQ(m.descs[0].image_name, "docker.io/library/busybox:latest", "containerd name annotation");
                CHECK_STREQ(m.descs[0].ref_name, "latest", "OCI ref.name annotation");
                CHECK_STREQ(m.descs[0].arch, "arm64", "platform architecture");
                CHECK_STREQ(m.descs[0].variant, "v8", "platform variant");
                dc_oci_manifest_free(&m);
        }
        free(idx);
        char *man = dc_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
                                 "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":0}]}", h, h);
        r = dc_parse_oci(man, strlen(man), &m, &err);
        CHECK(r == 0 && !m.is_index && m.n == 1 && m.config.size == -1, "an OCI manifest parses (%s)", err.msg);
        if (r == 0)
                dc_oci_manifest_free(&m);
        free(man);
        static const struct {
                const char *in, *err;
        } bad[] = {
                { "{\"manifests\":[]}", "OCI document: schemaVersion is not 2" },
                { "{\"schemaVersion\":2}", "OCI document: neither manifests" },
                { "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}", "OCI document: both manifests and layers" },
                { "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:abc\"}]}", "index: manifests[0]: sha256:abc is not a sha256 digest" },
                { "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha512:abc\"}]}", "index: manifests[0]: digest sha512:abc: only sha256" },
                { "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"SHA256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"}]}", "index: manifests[0]:" },
                { "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":-1}]}",
                  "index: manifests[0]: size is out of range" },
                { "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":1.5}]}",
                  "index: manifests[0]: size is not an integer" },
                { "{\"schemaVersion\":2,\"layers\":[]}", "manifest: config is not an object" },
                { "[]", "OCI document: not an object" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                r = dc_parse_oci(bad[i].in, strlen(bad[i].in), &m, &err);
                bool good = r < 0 && m.n == 0 && strncmp(err.msg, bad[i].err, strlen(bad[i].err)) == 0;
                CHECK(good, "bad OCI document %zu refused: %s", i, bad[i].err);
                if (!good)
                        printf("#   got: %s\n", r < 0 ? err.msg : "(accepted)");
        }
        CHECK(dc_parse_oci_layout("{\"imageLayoutVersion\":\"1.0.0\"}", 30, &err) == 0, "oci-layout 1.0.0");
        CHECK(dc_parse_oci_layout("{\"imageLayoutVersion\":\"2.0\"}", 28, &err) < 0 && strstr(err.msg, "not supported"),
              "oci-layout 2.0 is refused");
}

static void test_config(void)
{
        struct dc_error err = { 0 };
        struct dc_image_config c;
        const char *ok = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"a\",\"b c\"],"
                         "\"Env\":[\"PATH=/bin\",\"X=1=2\"],\"WorkingDir\":\"/w\",\"User\":\"nobody:nogroup\","
                         "\"StopSignal\":\"SIGQUIT\"},"
                         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"]}}";
        int r = dc_parse_image_config(ok, strlen(ok), &c, &err);
        CHECK(r == 0, "an image config parses (%s)", err.msg);
        if (r == 0) {
                CHECK(c.entrypoint.n == 1 && c.cmd.n == 2 && !strcmp(c.cmd.v[1], "b c"), "Entrypoint and Cmd");
                CHECK(c.env.n == 2 && !strcmp(c.env.v[1], "X=1=2"), "Env");
                CHECK_STREQ(c.workdir, "/w", "WorkingDir");
                CHECK_STREQ(c.user, "nobody:nogroup", "User");
                CHECK_STREQ(c.stop_signal, "SIGQUIT", "StopSignal");
                CHECK(c.has_diff_ids && c.diff_ids.n == 1, "diff_ids");
                CHECK_STREQ(c.arch, "amd64", "architecture");
                dc_image_config_free(&c);
        }
        const char *nulls = "{\"config\":{\"Entrypoint\":null,\"Cmd\":null,\"WorkingDir\":\"\",\"User\":\"\","
                            "\"StopSignal\":\"\"}}";
        r = dc_parse_image_config(nulls, strlen(nulls), &c, &err);
        CHECK(r == 0 && c.entrypoint.n == 0 && c.cmd.n == 0 && !c.workdir && !c.user && !c.stop_signal &&
                      !c.has_diff_ids,
              "null and empty fields mean unset (%s)", err.msg);
        if (r == 0)
                dc_image_config_free(&c);
        static const struct {
                const char *in, *err;
        } bad[] = {
                { "{\"config\":{\"Env\":[\"NOEQUALS\"]}}", "image config: config: Env[0] NOEQUALS is not NAME=VALUE" },
                { "{\"config\":{\"Env\":[\"=x\"]}}", "image config: config: Env[0] =x is not NAME=VALUE" },
                { "{\"config\":{\"WorkingDir\":\"rel\"}}", "image config: config: WorkingDir rel is not an absolute path" },
                { "{\"config\":{\"Cmd\":\"/bin/sh\"}}", "image config: config: Cmd is not an array" },
                { "{\"config\":{\"User\":0}}", "image config: config: User is not a string" },
                { "{\"config\":{\"StopSignal\":15}}", "image config: config: StopSignal is not a string" },
                { "{\"config\":[]}", "image config: config is not an object" },
                { "{\"rootfs\":{\"type\":\"squash\"}}", "image config: rootfs.type squash is not \"layers\"" },
                { "{\"rootfs\":{\"diff_ids\":[\"md5:x\"]}}", "image config: rootfs.diff_ids[0]: digest md5:x: only sha256" },
                { "{\"os\":5}", "image config: os is not a string" },
                { "[]", "image config: not an object" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                r = dc_parse_image_config(bad[i].in, strlen(bad[i].in), &c, &err);
                bool good = r < 0 && c.env.n == 0 && strncmp(err.msg, bad[i].err, strlen(bad[i].err)) == 0;
                CHECK(good, "bad config %zu refused: %s", i, bad[i].err);
                if (!good)
                        printf("#   got: %s\n", r < 0 ? err.msg : "(accepted)");
        }
}

static void test_refs_and_names(void)
{
        static const struct {
                const char *ref, *name;
                bool match;
        } refs[] = {
                { "busybox", "busybox:latest", true },
                { "busybox:latest", "docker.io/library/busybox:latest", true },
                { "library/busybox", "busybox:latest", true },
                { "docker.io/busybox:1.36", "busybox:1.36", true },
                { "index.docker.io/library/busybox", "busybox", true },
                { "busybox:1.36", "busybox:latest", false },
                { "quay.io/busybox", "busybox", false },
                { "localhost:5000/app", "localhost:5000/app:latest", true },
                { "localhost/app:2", "localhost/app:2", true },
                { "team/app", "docker.io/team/app:latest", true },
                { "busybox:latest", "latest", true },  /* an OCI ref.name that is just the tag */
                { "busybox:1", "latest", false },
                { "", "busybox", false },
                { "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                  "docker.io/library/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(refs); i++)
                CHECK(dc_image_ref_match(refs[i].ref, refs[i].name) == refs[i].match, "ref %s %s %s", refs[i].ref,
                      refs[i].match ? "names" : "does not name", refs[i].name);
        static const struct {
                const char *in, *out;
        } names[] = {
                { "a/b", "a/b" }, { "./a//b/", "a/b" }, { "./manifest.json", "manifest.json" }, { "a/./b", "a/b" },
                { "/etc/passwd", NULL }, { "a/../b", NULL }, { "..", NULL }, { "./", NULL }, { "", NULL },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(names); i++) {
                char *c = dc_member_clean(names[i].in);
                CHECK_STREQ(c, names[i].out, "member name \"%s\"", names[i].in);
                free(c);
        }
        CHECK(dc_digest_valid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") &&
                      !dc_digest_valid("sha256:e3b0") && !dc_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") &&
                      !dc_digest_valid(NULL),
              "digest validation");
        char hex[65];
        sha_hex("", 0, hex);
        CHECK_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 of nothing");
}

/* ---- inspection ----------------------------------------------------------- */

static void test_inspect(void)
{
        struct dc_error err = { 0 };
        for (int oci = 0; oci < 2; oci++) {
                struct img im;
                make_image(&im, oci, "[\"bb:1\"]", true, false);
                struct dc_image img;
                int r = dc_image_inspect_memory(im.archive.p, im.archive.n, NULL, &img, &err);
                CHECK(r == 0, "%s archive: one image, no tag needed (%s)", oci ? "Docker 25" : "classic", err.msg);
                if (r == 0) {
                        CHECK(img.n_layers == 2, "two layers");
                        CHECK_STREQ(img.name, "bb:1", "its name");
                        char want[80];
                        snprintf(want, sizeof(want), "sha256:%s", im.diff[1]);
                        CHECK_STREQ(img.layers[1].diff_id, want, "the layer's diff_id from the config");
                        CHECK(oci ? img.layers[1].digest != NULL : img.layers[1].digest == NULL,
                              "the blob digest where the archive names one");
                        snprintf(want, sizeof(want), "sha256:%s", im.cfg_hex);
                        CHECK_STREQ(img.id, want, "the image id is the config's digest");
                        CHECK(img.config.entrypoint.n == 1 && img.config.cmd.n == 2, "its config");
                        dc_image_free(&img);
                }
                r = dc_image_inspect_memory(im.archive.p, im.archive.n, "bb:2", &img, &err);
                CHECK(r == -ENOENT && strstr(err.msg, "has no image bb:2 (it has: bb:1)"), "an unknown tag (%s)", err.msg);
                r = dc_image_inspect_memory(im.archive.p, im.archive.n, im.cfg_hex, &img, &err);
                CHECK(r == 0, "the image id chooses too (%s)", err.msg);
                if (r == 0)
                        dc_image_free(&img);
                /* damaged: truncated in the middle */
                r = dc_image_inspect_memory(im.archive.p, im.archive.n / 2, NULL, &img, &err);
                CHECK(r < 0, "a truncated archive is refused (%s)", err.msg);
                img_free(&im);
        }
        struct img im;
        make_image(&im, false, "[\"a:1\",\"b:1\"]", false, false);
        struct dc_image img;
        int r = dc_image_inspect_memory(im.archive.p, im.archive.n, NULL, &img, &err);
        CHECK(r == 0, "one image with two tags needs no tag (%s)", err.msg);
        if (r == 0)
                dc_image_free(&img);
        r = dc_image_inspect_memory(im.archive.p, im.archive.n, "b", &img, &err);
        CHECK(r == -ENOENT, "\"b\" is b:latest, not b:1 (%s)", err.msg);
        r = dc_image_inspect_memory(im.archive.p, im.archive.n, "docker.io/library/b:1", &img, &err);
        CHECK(r == 0 && !strcmp(img.name, "b:1"), "a full reference names b:1 (%s)", err.msg);
        if (r == 0)
                dc_image_free(&img);
        img_free(&im);
        r = dc_image_inspect_memory("not a tar", 9, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "not a tar archive"), "not an archive (%s)", err.msg);
        struct ent only[] = { { "x", 'f', "y", 0 } };
        struct buf b = make_tar(only, 1, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "neither manifest.json nor index.json"), "a tar that is no image (%s)", err.msg);
        free(b.p);
        /* a config whose name says another digest */
        struct ent fake[] = {
                { "manifest.json", 'f', "[{\"Config\":\"blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000\",\"Layers\":[\"l\"]}]", 0 },
                { "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000", 'f', "{}", 0 },
                { "l", 'f', "x", 0 },
        };
        b = make_tar(fake, 3, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r == -EBADMSG && strstr(err.msg, "does not match its digest"), "a config that does not match its digest (%s)",
              err.msg);
        free(b.p);
        struct ent missing[] = { { "manifest.json", 'f', "[{\"Config\":\"c.json\",\"Layers\":[\"nope/layer.tar\"]}]", 0 },
                                 { "c.json", 'f', "{}", 0 } };
        b = make_tar(missing, 2, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "no member nope/layer.tar"), "a missing layer (%s)", err.msg);
        free(b.p);
        struct ent twice[] = { { "manifest.json", 'f', "[{\"Config\":\"c.json\",\"Layers\":[\"l\"]}]", 0 },
                               { "c.json", 'f', "{}", 0 }, { "c.json", 'f', "{\"a\":1}", 0 }, { "l", 'f', "x", 0 } };
        b = make_tar(twice, 4, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "appears 2 times"), "a member that appears twice (%s)", err.msg);
        free(b.p);
        struct ent wrongcount[] = { { "manifest.json", 'f', "[{\"Config\":\"c.json\",\"Layers\":[\"l\"]}]", 0 },
                                    { "c.json", 'f', "{\"rootfs\":{\"diff_ids\":[]}}", 0 }, { "l", 'f', "x", 0 } };
        b = make_tar(wrongcount, 3, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "lists 1 layers but the image config has 0 diff_ids"), "layer count mismatch (%s)",
              err.msg);
        free(b.p);
        /* many members: found by hash, not by a scan per name */
        size_t nm = 20000;
        struct ent *many = calloc(nm + 3, sizeof(*many));
        char **mnames = calloc(nm, sizeof(char *));
        for (size_t i = 0; i < nm; i++) {
                mnames[i] = dc_xasprintf("junk/%zu", i);
                many[i] = (struct ent){ mnames[i], 'f', "j", 0 };
        }
        many[nm] = (struct ent){ "manifest.json", 'f', "[{\"Config\":\"c.json\",\"Layers\":[\"junk/19999\"]}]", 0 };
        many[nm + 1] = (struct ent){ "c.json", 'f', "{}", 0 };
        b = make_tar(many, nm + 2, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r == 0 && img.n_layers == 1 && !strcmp(img.layers[0].member, "junk/19999"), "an archive of 20000 members (%s)",
              err.msg);
        if (r == 0)
                dc_image_free(&img);
        free(b.p);
        for (size_t i = 0; i < nm; i++)
                free(mnames[i]);
        free(mnames);
        free(many);

        /* an OCI archive whose index names a multi-platform index: this machine's manifest is taken */
        {
                const char *cfg = "{\"os\":\"linux\",\"config\":{\"Cmd\":[\"/x\"]}}";
                char chex[65], lhex[65], mhex[65], ihex[65], bogus[65];
                sha_hex(cfg, strlen(cfg), chex);
                sha_hex("layer", 5, lhex);
                sha_hex("missing", 7, bogus);
                char *man = dc_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\"},\"layers\":[{\"digest\":\"sha256:%s\"}]}",
                                         chex, lhex);
                sha_hex(man, strlen(man), mhex);
                char *idx = dc_xasprintf("{\"schemaVersion\":2,\"manifests\":["
                                         "{\"digest\":\"sha256:%s\",\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"}},"
                                         "{\"digest\":\"sha256:%s\",\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
                                         "{\"digest\":\"sha256:%s\",\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"}}]}",
                                         bogus, dc_image_host_arch(), bogus, mhex, dc_image_host_arch());
                sha_hex(idx, strlen(idx), ihex);
                char *top = dc_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:%s\","
                                         "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                         "\"annotations\":{\"org.opencontainers.image.ref.name\":\"1.0\"}}]}", ihex);
                char *n1 = dc_xasprintf("blobs/sha256/%s", chex), *n2 = dc_xasprintf("blobs/sha256/%s", lhex),
                     *n3 = dc_xasprintf("blobs/sha256/%s", mhex), *n4 = dc_xasprintf("blobs/sha256/%s", ihex);
                struct ent oe[] = { { "index.json", 'f', top, 0 }, { n1, 'f', cfg, 0 }, { n2, 'f', "layer", 0 },
                                    { n3, 'f', man, 0 }, { n4, 'f', idx, 0 } };
                b = make_tar(oe, DC_ARRAY_SIZE(oe), NULL);
                r = dc_image_inspect_memory(b.p, b.n, "app:1.0", &img, &err);
                CHECK(r == 0 && img.n_layers == 1 && dc_streq(img.layout, "oci") && img.config.cmd.n == 1,
                      "a multi-platform index picks this machine's manifest whose blobs are there (%s)", err.msg);
                if (r == 0)
                        dc_image_free(&img);
                free(b.p);
                free(man);
                free(idx);
                free(top);
                free(n1);
                free(n2);
                free(n3);
                free(n4);
        }

        struct ent foreign[] = { { "manifest.json", 'f', "[{\"Config\":\"c.json\",\"Layers\":[\"l\"]}]", 0 },
                                 { "c.json", 'f', "{\"os\":\"windows\"}", 0 }, { "l", 'f', "x", 0 } };
        b = make_tar(foreign, 3, NULL);
        r = dc_image_inspect_memory(b.p, b.n, NULL, &img, &err);
        CHECK(r < 0 && strstr(err.msg, "is an image for windows"), "another OS (%s)", err.msg);
        free(b.p);
}

/* ---- extraction ------------------------------------------------------------ */

static int extract_file(const char *name, const struct buf *b, bool layer, const char *digest, const char *diff_id,
                        struct dc_extract_stats *st, struct dc_error *err, char **dir_out)
{
        char *path = write_file(name, b->p, b->n);
        char *dir = dc_xasprintf("%s/out-%s", tmpdir, name);
        dc_rm_rf_at(AT_FDCWD, dir);
        mkdir(dir, 0755);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dc_extract_source src = { .archive = path, .digest = digest, .diff_id = diff_id };
        struct dc_extract_opts o = { .layer = layer, .owners = geteuid() == 0 };
        int r = dc_extract(&src, dfd, &o, st, NULL, err);
        close(dfd);
        free(path);
        *dir_out = dir;
        return r;
}

static bool exists_in(const char *dir, const char *rel)
{
        char *p = dc_xasprintf("%s/%s", dir, rel);
        struct stat st;
        bool e = lstat(p, &st) == 0;
        free(p);
        return e;
}

static void test_extract(void)
{
        struct dc_error err = { 0 };
        struct dc_extract_stats st;
        char *dir;
        /* an ordinary tree */
        struct ent good[] = {
                { "./", 'd', NULL, 0 }, { "./a", 'd', NULL, 0 }, { "./a/f", 'f', "hello", 0 }, { "./a/l", 'l', "/etc/passwd", 0 },
                { "./a/h", 'h', "a/f", 0 }, { "./b/c/d", 'f', "deep", 0 }, { "/abs", 'f', "abs", 0 }, { "./dev/null", 'c', NULL, 0 },
        };
        struct buf b = make_tar(good, DC_ARRAY_SIZE(good), "gzip");
        char hex[65];
        sha_hex(b.p, b.n, hex);
        char *digest = dc_xasprintf("sha256:%s", hex);
        int r = extract_file("good.tgz", &b, false, digest, NULL, &st, &err, &dir);
        CHECK(r == 0, "a gzipped tree unpacks (%s)", err.msg);
        CHECK(exists_in(dir, "a/f") && exists_in(dir, "b/c/d") && exists_in(dir, "abs"), "files, implicit parents, absolute names inside");
        char *lp = dc_xasprintf("%s/a/l", dir);
        char tgt[64] = "";
        CHECK(readlink(lp, tgt, sizeof(tgt) - 1) > 0, "the symlink is there");
        CHECK_STREQ(tgt, "/etc/passwd", "a symlink keeps its target text (it is never followed)");
        free(lp);
        char *fp = dc_xasprintf("%s/a/f", dir), *hp = dc_xasprintf("%s/a/h", dir);
        struct stat s1, s2;
        CHECK(stat(fp, &s1) == 0 && stat(hp, &s2) == 0 && s1.st_ino == s2.st_ino, "a hard link inside");
        free(fp);
        free(hp);
        CHECK(!exists_in(dir, "dev/null") && st.skipped == 1, "a device node is skipped");
        CHECK(st.warnings.n == 2, "with a warning, and one for the absolute name (%zu)", st.warnings.n);
        dc_extract_stats_free(&st);
        free(dir);
        /* the same with a wrong digest */
        r = extract_file("good2.tgz", &b, false, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                         NULL, &st, &err, &dir);
        CHECK(r == -EBADMSG && strstr(err.msg, "does not match its digest"), "a wrong digest (%s)", err.msg);
        dc_extract_stats_free(&st);
        free(dir);
        free(digest);
        free(b.p);

        static const struct {
                struct ent e[3];
                size_t n;
                const char *err;
        } bad[] = {
                { { { "../x", 'f', "x", 0 } }, 1, "\"..\" would leave the target directory" },
                { { { "a/../../x", 'f', "x", 0 } }, 1, "\"..\" would leave the target directory" },
                { { { "l", 'l', "/", 0 }, { "l/etc/x", 'f', "x", 0 } }, 2, "l is a symbolic link; writing through links is refused" },
                { { { "d", 'd', NULL, 0 }, { "d/l", 'l', "..", 0 }, { "d/l/x", 'f', "x", 0 } }, 3, "d/l is a symbolic link" },
                { { { "h", 'h', "/etc/shadow", 0 } }, 1, "hard link to etc/shadow, which is not in the archive" },
                { { { "h", 'h', "../../etc/shadow", 0 } }, 1, "\"..\" would leave" },
                { { { "l", 'l', "/etc", 0 }, { "h", 'h', "l/passwd", 0 } }, 2, "hard link to l/passwd through a symbolic link" },
                { { { "f", 'f', "x", 0 }, { "f/x", 'f', "y", 0 } }, 2, "f is not a directory" },
                { { { "d", 'd', NULL, 0 }, { "d/x", 'f', "y", 0 }, { "d", 'f', "z", 0 } }, 3, "a directory with contents cannot be replaced" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                b = make_tar(bad[i].e, bad[i].n, NULL);
                char name[32];
                snprintf(name, sizeof(name), "bad%zu.tar", i);
                r = extract_file(name, &b, false, NULL, NULL, &st, &err, &dir);
                bool good_err = r < 0 && strstr(err.msg, bad[i].err);
                CHECK(good_err, "hostile archive %zu refused: %s", i, bad[i].err);
                if (!good_err)
                        printf("#   got: %s\n", r < 0 ? err.msg : "(accepted)");
                dc_extract_stats_free(&st);
                free(dir);
                free(b.p);
        }
        /* names that exist only to exhaust something */
        char *deep = dc_xstrdup("");
        for (int i = 0; i < 300; i++) {
                char *d = dc_xasprintf("%sd/", deep);
                free(deep);
                deep = d;
        }
        char *deepf = dc_xasprintf("%sf", deep);
        struct ent deepe[] = { { deepf, 'f', "x", 0 } };
        b = make_tar(deepe, 1, NULL);
        r = extract_file("deep.tar", &b, false, NULL, NULL, &st, &err, &dir);
        CHECK(r == -ENAMETOOLONG && strstr(err.msg, "deeper than 255 directories"), "a name 300 directories deep (%s)",
              err.msg);
        dc_extract_stats_free(&st);
        free(dir);
        free(b.p);
        free(deep);
        free(deepf);
        char *longn = calloc(1, 5001);
        memset(longn, 'n', 5000);
        struct ent longe[] = { { longn, 'f', "x", 0 } };
        b = make_tar(longe, 1, NULL);
        r = extract_file("long.tar", &b, false, NULL, NULL, &st, &err, &dir);
        CHECK(r == -ENAMETOOLONG && strstr(err.msg, "a name of 5000 bytes"), "a name of 5000 bytes (%s)", err.msg);
        dc_extract_stats_free(&st);
        free(dir);
        free(b.p);
        free(longn);

        /* a truncated archive */
        struct ent big[] = { { "big", 'f', NULL, 100000 } };
        char *zeros = calloc(1, 100000);
        big[0].data = zeros;
        b = make_tar(big, 1, NULL);
        b.n = 50000;
        r = extract_file("trunc.tar", &b, false, NULL, NULL, &st, &err, &dir);
        CHECK(r < 0 && strstr(err.msg, "truncated"), "a truncated archive (%s)", err.msg);
        dc_extract_stats_free(&st);
        free(dir);
        free(b.p);
        free(zeros);

        /* a layer: whiteouts and an opaque directory */
        struct ent layer[] = {
                { "etc", 'd', NULL, 0 }, { "etc/.wh.gone", 'f', "", 0 }, { "data", 'd', NULL, 0 },
                { "data/.wh..wh..opq", 'f', "", 0 }, { "data/b", 'f', "b", 0 }, { ".wh..wh.plnk", 'd', NULL, 0 },
        };
        b = make_tar(layer, DC_ARRAY_SIZE(layer), NULL);
        sha_hex(b.p, b.n, hex);
        char *diff = dc_xasprintf("sha256:%s", hex);
        r = extract_file("layer.tar", &b, true, NULL, diff, &st, &err, &dir);
        CHECK(r == 0, "a layer with whiteouts unpacks (%s)", err.msg);
        char *wp = dc_xasprintf("%s/etc/gone", dir);
        struct stat ws;
        CHECK(lstat(wp, &ws) == 0 && S_ISCHR(ws.st_mode) && ws.st_rdev == makedev(0, 0),
              ".wh.gone became a 0/0 character device (an overlayfs whiteout)");
        CHECK(!exists_in(dir, "etc/.wh.gone") && !exists_in(dir, ".wh..wh.plnk"), "no .wh. names are left");
        char *dp = dc_xasprintf("%s/data", dir);
        char v[4] = "";
        const char *attr = geteuid() == 0 ? "trusted.overlay.opaque" : "user.overlay.opaque";
        ssize_t vn = getxattr(dp, attr, v, sizeof(v));
        CHECK(vn == 1 && v[0] == 'y', "the opaque marker became %s=y", attr);
        vn = getxattr(dp, "user.overlay.opaque", v, sizeof(v));
        CHECK(vn == 1 && v[0] == 'y', "and user.overlay.opaque=y (for overlayfs in a user namespace)");
        CHECK(st.whiteouts == 1 && st.opaques == 1 && st.user_opaques == 1, "counted (user.overlay.opaque too)");
        free(wp);
        free(dp);
        dc_extract_stats_free(&st);
        free(dir);
        r = extract_file("layer2.tar", &b, true, NULL, "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                         &st, &err, &dir);
        CHECK(r == -EBADMSG && strstr(err.msg, "does not match its diff_id"), "a wrong diff_id (%s)", err.msg);
        dc_extract_stats_free(&st);
        free(dir);
        free(b.p);
        free(diff);
}

/* ---- the cache and the plan ----------------------------------------------- */


/* The same "lower" values, in the same order, in both steps. */
static bool same_lowers(const struct dc_step *a, const struct dc_step *b)
{
        size_t i = 0, k = 0, n = 0;
        for (;;) {
                while (i < a->args.n && strcmp(a->args.v[i].key, "lower") != 0)
                        i++;
                while (k < b->args.n && strcmp(b->args.v[k].key, "lower") != 0)
                        k++;
                if (i == a->args.n || k == b->args.n)
                        return i == a->args.n && k == b->args.n && n > 0;
                if (strcmp(a->args.v[i++].val, b->args.v[k++].val) != 0)
                        return false;
                n++;
        }
}
static void test_cache_and_plan(void)
{
        struct dc_error err = { 0 };
        char *data = dc_xasprintf("%s/data", tmpdir);
        setenv("DIYCTL_DATA_ROOT", data, 1);
        char *root = dc_image_cache_root(getuid());
        char *want = dc_xasprintf("%s/images", data);
        CHECK_STREQ(root, want, "DIYCTL_DATA_ROOT moves the cache");
        free(want);
        struct img im;
        make_image(&im, true, "[\"bb:1\"]", true, false);
        char *arch = write_file("bb.tar", im.archive.p, im.archive.n);
        char *conf = dc_xasprintf("rootfs = { image = \"%s\"; };\nprocess = { env = [ \"A=conf\", \"B=2\" ]; };\n", arch);
        struct dc_config *c = NULL;
        int r = dc_config_load_string(conf, "/srv/ct/img.conf", NULL, &c, &err);
        CHECK(r == 0, "an image config loads (%s)", err.msg);
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .uid = getuid(), .gid = getgid() };
        struct dc_plan *p = NULL;
        if (r == 0)
                r = dc_plan_build(c, &o, &p, &err);
        CHECK(r == 0, "it plans (%s)", err.msg);
        if (r == 0) {
                CHECK_STREQ(p->steps[1].ops->kind, "image-unpack", "the layers are unpacked right after the state dir");
                CHECK_STREQ(p->steps[2].ops->kind, "image-unpack", "one step per layer");
                CHECK_STREQ(dc_kvs_get(&p->steps[1].args, "kind"), "layer", "a layer");
                char *k = dc_xasprintf("%s", im.diff[0]);
                CHECK_STREQ(dc_kvs_get(&p->steps[1].args, "key"), k, "keyed by its diff_id");
                free(k);
                CHECK(dc_kvs_get(&p->steps[2].args, "digest") != NULL, "the blob digest is verified too");
                const struct dc_step *rf = NULL, *ex = NULL;
                for (size_t i = 0; i < p->n; i++) {
                        if (!strcmp(p->steps[i].ops->kind, "rootfs"))
                                rf = &p->steps[i];
                        if (!strcmp(p->steps[i].ops->kind, "exec"))
                                ex = &p->steps[i];
                }
                CHECK(rf && !dc_kvs_get(&rf->args, "source") && strstr(dc_kvs_get(&rf->args, "lower"), im.diff[1]),
                      "the rootfs is the layers, top first");
                CHECK(rf && dc_streq(dc_kvs_get(&rf->args, "writable"), "tmpfs"), "tmpfs upper by default");
                size_t nargs = 0, nenv = 0;
                const char *envs[4] = { 0 };
                for (size_t i = 0; ex && i < ex->args.n; i++) {
                        if (!strcmp(ex->args.v[i].key, "arg"))
                                nargs++;
                        if (!strcmp(ex->args.v[i].key, "env") && nenv < 4)
                                envs[nenv++] = ex->args.v[i].val;
                }
                CHECK(nargs == 3 && dc_streq(dc_kvs_get(&ex->args, "arg"), "/bin/sh"), "Entrypoint + Cmd");
                CHECK(nenv == 3 && !strcmp(envs[0], "PATH=/bin") && !strcmp(envs[1], "A=conf") && !strcmp(envs[2], "B=2"),
                      "image Env, overridden by process.env name by name");
                CHECK_STREQ(dc_kvs_get(&ex->args, "cwd"), "/data", "WorkingDir");
                CHECK_STREQ(dc_kvs_get(&ex->args, "user"), "1000", "User");
                CHECK(strstr(dc_kvs_get(&ex->args, "user-origin"), "image config User") != NULL, "named as the image's");
                dc_plan_free(p);
        }
        dc_config_free(c);
        c = NULL;
        free(conf);

        /* as root with a user namespace, the layers are handed over idmapped */
        for (int as_root = 0; as_root < 2; as_root++) {
                conf = dc_xasprintf("rootfs = { image = \"%s\"; };\nnamespaces = [ \"mount\", \"pid\", \"user\" ];\n"
                                    "user = { map = %s; };\n", arch,
                                    as_root ? "( { inside = 0; outside = 100000; count = 65536; } )" : "\"root\"");
                r = dc_config_load_string(conf, "/srv/ct/img.conf", NULL, &c, &err);
                CHECK(r == 0, "an image config with a user namespace loads (%s)", err.msg);
                free(conf);
                struct dc_plan_opts ro = { .state_root = "/run/diyctl", .uid = as_root ? 0 : 1000, .gid = 1000 };
                p = NULL;
                if (r == 0)
                        r = dc_plan_build(c, &ro, &p, &err);
                dc_config_free(c);
                c = NULL;
                CHECK(r == 0, "it plans %s (%s)", as_root ? "as root" : "unprivileged", err.msg);
                if (r < 0)
                        break;
                size_t spawn = 0, idl = 0;
                const struct dc_step *rf = NULL, *il = NULL;
                for (size_t i = 0; i < p->n; i++) {
                        const char *k = p->steps[i].ops->kind;
                        if (!strcmp(k, "spawn"))
                                spawn = i;
                        if (!strcmp(k, "idmap-layers"))
                                il = &p->steps[idl = i];
                        if (!strcmp(k, "rootfs"))
                                rf = &p->steps[i];
                }
                if (as_root) {
                        CHECK(il && idl == spawn + 2 && !strcmp(p->steps[spawn + 1].ops->kind, "idmap"),
                              "as root: idmap-layers right after the spawn and its maps");
                        CHECK(il && il->ops->side == DC_SIDE_PARENT, "a launcher step that changes nothing on the host");
                        CHECK(il && rf && same_lowers(il, rf), "with the rootfs's layers, in the same order");
                        CHECK(rf && dc_streq(dc_kvs_get(&rf->args, "idmapped"), "1"), "the rootfs takes them idmapped");
                        CHECK(rf && !strcmp((rf - 1)->ops->kind, "wait-launcher") &&
                                      !strcmp((rf - 2)->ops->kind, "make-private"),
                              "after waiting for the launcher, which sends them");
                } else {
                        CHECK(!il && rf && !dc_kvs_get(&rf->args, "idmapped"),
                              "unprivileged: the user's own cache, no idmapped mounts");
                }
                dc_plan_free(p);
        }

        /* unpack both layers through the cache, as the steps do */
        struct dc_image img;
        r = dc_image_inspect(arch, NULL, &img, &err);
        CHECK(r == 0, "inspect from a file (%s)", err.msg);
        char *sd = dc_xasprintf("%s/state-x", tmpdir);
        mkdir(sd, 0700);
        for (size_t i = 0; r == 0 && i < img.n_layers; i++) {
                const char *hex = dc_digest_hex(img.layers[i].diff_id);
                char *tmp = dc_cache_tmp_path(root, DC_CACHE_LAYER, hex, (unsigned)i);
                char *holder = dc_cache_holder_path(root, DC_CACHE_LAYER, hex, "x", sd);
                struct dc_cache_unpack u = { .root = root, .kind = DC_CACHE_LAYER, .hex = hex,
                                             .src = { .archive = arch, .member = img.layers[i].member,
                                                      .digest = img.layers[i].digest, .diff_id = img.layers[i].diff_id },
                                             .tmp = tmp, .holder = holder, .holder_dir = sd, .label = "t" };
                r = dc_cache_unpack(&u, &err);
                CHECK(r == 0 && !u.cached, "layer %zu unpacked into the cache (%s)", i + 1, err.msg);
                dc_extract_stats_free(&u.stats);
                r = dc_cache_unpack(&u, &err);
                CHECK(r == 0 && u.cached, "the second time it is cached");
                dc_extract_stats_free(&u.stats);
                free(tmp);
                free(holder);
        }
        struct dc_cache_list l;
        dc_cache_list(root, &l, &err);
        CHECK(l.n == 2 && l.v[0].users.n == 0 && l.v[0].stale.n == 1, "two entries; their holder's state dir is not locked: stale");
        dc_cache_list_free(&l);
        struct dc_cache_prune_opts po = { .dry_run = true };
        struct dc_cache_prune_result pr;
        r = dc_cache_prune(root, &po, &pr, &err);
        CHECK(r == 0 && pr.removed.n == 2, "a dry run names both");
        dc_cache_prune_result_free(&pr);
        po.dry_run = false;
        r = dc_cache_prune(root, &po, &pr, &err);
        CHECK(r == 0 && pr.removed.n == 2 && access(root, F_OK) < 0, "prune removes them, and the empty cache (%s)", err.msg);
        dc_cache_prune_result_free(&pr);
        r = dc_cache_release(root, "/etc/passwd", NULL, &err);
        CHECK(r == -EINVAL, "an undo record that points outside the cache is refused");
        if (img.archive)
                dc_image_free(&img);

        /* the remembered inspection: a hit while the file is unchanged */
        CHECK(dc_cache_image_memo_read(root, arch, NULL, &img) == -ENOENT, "no memo before the first start");
        r = dc_cache_image_memo_write(root, arch, NULL, &err);
        CHECK(r == 0, "the memo is written (%s)", err.msg);
        r = dc_cache_image_memo_read(root, arch, NULL, &img);
        CHECK(r == 0 && img.n_layers == 2 && img.config.cmd.n == 2 && dc_streq(img.config.workdir, "/data") &&
                      dc_streq(img.name, "bb:1") && img.layers[1].diff_id && strstr(img.layers[1].diff_id, im.diff[1]),
              "and read back whole");
        if (r == 0)
                dc_image_free(&img);
        CHECK(dc_cache_image_memo_read(root, arch, "bb:1", &img) == -ENOENT, "it is per tag");
        FILE *f = fopen(arch, "ae");
        fputc(0, f);
        fclose(f);
        CHECK(dc_cache_image_memo_read(root, arch, NULL, &img) == -ENOENT, "a changed archive misses");
        po.dry_run = false;
        r = dc_cache_prune(root, &po, &pr, &err);
        CHECK(r == 0 && access(root, F_OK) < 0, "prune removes a memo whose layers are gone (%s)", err.msg);
        dc_cache_prune_result_free(&pr);

        /* a tarball's key: its sha256 */
        char hex[65], want_hex[65];
        int afd = open(arch, O_RDONLY | O_CLOEXEC);
        dc_sha256_fd(afd, want_hex);
        close(afd);
        r = dc_cache_tarball_key(root, arch, hex, &err);
        CHECK(r == 0 && !strcmp(hex, want_hex), "a tarball is keyed by its sha256");
        free(sd);
        free(arch);
        free(root);
        free(data);
        img_free(&im);
        unsetenv("DIYCTL_DATA_ROOT");
}

/* The plain C SHA-256 (short inputs) against FIPS 180-4's examples, and
 * against nettle's (bulk) for every length around the block edges, fed in
 * uneven pieces. */
static void sha_pieces(bool bulk, const uint8_t *p, size_t n, size_t piece, char hex[DC_SHA256_HEX + 1])
{
        struct dc_sha256 h;
        if (bulk)
                dc_sha256_init_bulk(&h);
        else
                dc_sha256_init(&h);
        for (size_t o = 0; o < n; o += piece)
                dc_sha256_update(&h, p + o, n - o < piece ? n - o : piece);
        dc_sha256_final(&h, hex);
}

static void test_sha256(void)
{
        static const struct {
                const char *in;
                const char *want;
        } v[] = {
                { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
                { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
                { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        };
        char hex[DC_SHA256_HEX + 1], want[DC_SHA256_HEX + 1];
        for (size_t i = 0; i < DC_ARRAY_SIZE(v); i++) {
                sha_pieces(false, (const uint8_t *)v[i].in, strlen(v[i].in), 7, hex);
                CHECK_STREQ(hex, v[i].want, "plain C SHA-256 of \"%.10s\" (%zu bytes)", v[i].in, strlen(v[i].in));
        }
        size_t big = 1000000;
        uint8_t *a = dc_xmalloc(big);
        memset(a, 'a', big);
        sha_pieces(false, a, big, 4093, hex);
        CHECK_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                    "plain C SHA-256 of a million 'a'");
        for (size_t i = 0; i < 300; i++)
                a[i] = (uint8_t)(i * 131 + 7);
        bool same = true;
        for (size_t n = 0; n <= 300 && same; n++) {
                sha_pieces(true, a, n, 300, want);
                for (size_t piece = 1; piece <= 70 && same; piece += 23) {
                        sha_pieces(false, a, n, piece, hex);
                        same = strcmp(hex, want) == 0;
                        if (!same)
                                CHECK_STREQ(hex, want, "plain C = nettle at %zu bytes in pieces of %zu", n, piece);
                }
        }
        CHECK(same, "plain C and nettle agree for 0 to 300 bytes, whole and in pieces");
        free(a);
}

/* Told by its first members: image archives of each layout, plain or
 * gzipped, are; a rootfs tarball, one with its image members late, a file
 * that is no archive, and no file are not. */
static void test_sniff(void)
{
        static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char d[80], layer[96], blob[96], skopeo[80], cfg[80];
        snprintf(d, sizeof(d), "%s", hex);
        snprintf(layer, sizeof(layer), "./%s/layer.tar", hex);
        snprintf(blob, sizeof(blob), "blobs/sha256/%s", hex);
        snprintf(skopeo, sizeof(skopeo), "%s.tar", hex);
        snprintf(cfg, sizeof(cfg), "%s.json", hex);
        const struct ent classic[] = { { d, 'd', NULL, 0 }, { layer, 'f', "x", 0 }, { "manifest.json", 'f', "[]", 0 } };
        const struct ent oci[] = { { "blobs", 'd', NULL, 0 }, { "blobs/sha256", 'd', NULL, 0 }, { blob, 'f', "x", 0 } };
        const struct ent sk[] = { { skopeo, 'f', "x", 0 } };
        const struct ent sk_cfg[] = { { cfg, 'f', "{}", 0 } };
        const struct ent layout[] = { { "oci-layout", 'f', "{}", 0 } };
        const struct ent rootfs[] = { { "./", 'd', NULL, 0 }, { "./bin", 'd', NULL, 0 }, { "./bin/sh", 'f', "x", 0 },
                                      { "./etc", 'd', NULL, 0 }, { "./manifest.json", 'f', "[]", 0 } };
        /* not quite: a 63-digit name, a layer.tar one level down, upper-case hex */
        char short_hex[80], deep[120], upper[80];
        snprintf(short_hex, sizeof(short_hex), "%.63s/layer.tar", hex);
        snprintf(deep, sizeof(deep), "x/%s/layer.tar", hex);
        snprintf(upper, sizeof(upper), "%s.tar", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
        const struct ent near[] = { { short_hex, 'f', "x", 0 }, { deep, 'f', "x", 0 }, { upper, 'f', "x", 0 } };
        struct ent late[18];
        char names[17][16];
        for (int i = 0; i < 17; i++) {
                snprintf(names[i], sizeof(names[i]), "notes/%02d", i);
                late[i] = (struct ent){ names[i], 'f', "x", 0 };
        }
        late[17] = (struct ent){ layer, 'f', "x", 0 };
        const struct {
                const char *what;
                const struct ent *e;
                size_t n;
                const char *filter;
                bool is;
        } cases[] = {
                { "classic", classic, DC_ARRAY_SIZE(classic), NULL, true },
                { "classic, gzipped", classic, DC_ARRAY_SIZE(classic), "gzip", true },
                { "OCI blobs", oci, DC_ARRAY_SIZE(oci), NULL, true },
                { "skopeo's HEX.tar", sk, DC_ARRAY_SIZE(sk), NULL, true },
                { "skopeo's HEX.json", sk_cfg, DC_ARRAY_SIZE(sk_cfg), NULL, true },
                { "oci-layout", layout, DC_ARRAY_SIZE(layout), NULL, true },
                { "a rootfs (with a manifest.json of its own)", rootfs, DC_ARRAY_SIZE(rootfs), NULL, false },
                { "names that only look alike", near, DC_ARRAY_SIZE(near), NULL, false },
                { "a layer after 17 other members", late, DC_ARRAY_SIZE(late), NULL, false },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(cases); i++) {
                struct buf b = make_tar(cases[i].e, cases[i].n, cases[i].filter);
                char *path = write_file("sniff.tar", b.p, b.n);
                CHECK(dc_image_archive_sniff(path) == cases[i].is, "sniff: %s: %s", cases[i].what,
                      cases[i].is ? "an image archive" : "not one");
                free(path);
                free(b.p);
        }
        char *junk = write_file("junk.tar", "not an archive at all\n", 22);
        CHECK(!dc_image_archive_sniff(junk), "sniff: a file that is no archive: not one");
        free(junk);
        CHECK(!dc_image_archive_sniff("/nonexistent/x.tar"), "sniff: no file: not one");
}

int main(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/dc-test-image.XXXXXX");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        test_sha256();
        test_manifest();
        test_oci();
        test_config();
        test_refs_and_names();
        test_inspect();
        test_sniff();
        test_extract();
        test_cache_and_plan();
        dc_rm_rf_at(AT_FDCWD, tmpdir);
        return tap_done();
}
