/* libFuzzer harness for the image parsers: manifest.json, OCI index.json /
 * manifests / image indexes, oci-layout, image configs, image references,
 * archive member names, and the inspection of a whole archive in memory
 * (libarchive reading a tar, possibly compressed, then the JSON inside).
 * Any input must give a value or an error, never a crash, a hang or a leak.
 *
 * Build and run: tools/test.sh does both (FUZZ_SECONDS); by hand:
 *   ./build-fuzz/fuzz-image -dict=tests/fuzz/image.dict tests/fuzz/corpus-image */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        struct dc_error err = { 0 };

        struct dc_docker_image *imgs = NULL;
        size_t nimg = 0;
        if (dc_parse_docker_manifest(buf, size, &imgs, &nimg, &err) == 0)
                dc_docker_images_free(imgs, nimg);

        struct dc_oci_manifest m;
        if (dc_parse_oci(buf, size, &m, &err) == 0)
                dc_oci_manifest_free(&m);

        struct dc_image_config c;
        if (dc_parse_image_config(buf, size, &c, &err) == 0)
                dc_image_config_free(&c);

        dc_parse_oci_layout(buf, size, &err);

        /* names: the input as a member path; its first two lines as a reference and a name */
        size_t n = size < 4096 ? size : 4096;
        char *s = malloc(n + 1); /* not strndup: the input has no NUL at its end */
        if (s) {
                memcpy(s, buf, n);
                s[n] = 0;
                free(dc_member_clean(s));
                char *nl = strchr(s, '\n');
                if (nl) {
                        *nl = 0;
                        char *second = nl + 1;
                        char *nl2 = strchr(second, '\n');
                        if (nl2)
                                *nl2 = 0;
                        dc_image_ref_match(s, second);
                }
                free(s);
        }

        /* a whole archive (tar blocks are 512 bytes) */
        if (size >= 512) {
                struct dc_image img;
                if (dc_image_inspect_memory(data, size, NULL, &img, &err) == 0)
                        dc_image_free(&img);
                if (dc_image_inspect_memory(data, size, "busybox:latest", &img, &err) == 0)
                        dc_image_free(&img);
        }
        return 0;
}
