/* SHA-256 with nettle. libarchive depends on nettle already, so it costs no
 * extra library at start; libcrypto would (OpenSSL 3 also reads its config
 * and loads providers: about 3 ms of every image start, measured). nettle
 * uses the SHA extensions where the CPU has them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "diyctl/image.h"

void dc_sha256_init(struct dc_sha256 *h)
{
        struct sha256_ctx *c = dc_xmalloc(sizeof(*c));
        sha256_init(c);
        h->ctx = c;
}

void dc_sha256_update(struct dc_sha256 *h, const void *buf, size_t len)
{
        if (len)
                sha256_update(h->ctx, len, buf);
}

void dc_sha256_final(struct dc_sha256 *h, char hex[DC_SHA256_HEX + 1])
{
        uint8_t md[SHA256_DIGEST_SIZE];
        sha256_digest(h->ctx, sizeof(md), md);
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof(md); i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[DC_SHA256_HEX] = 0;
        dc_sha256_free(h);
}

void dc_sha256_free(struct dc_sha256 *h)
{
        free(h->ctx);
        h->ctx = NULL;
}

int dc_sha256_fd(int fd, char hex[DC_SHA256_HEX + 1])
{
        size_t cap = 1 << 20;
        char *buf = dc_xmalloc(cap);
        struct dc_sha256 h;
        dc_sha256_init(&h);
        for (;;) {
                ssize_t n = read(fd, buf, cap);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        dc_sha256_free(&h);
                        free(buf);
                        return -e;
                }
                if (n == 0)
                        break;
                dc_sha256_update(&h, buf, (size_t)n);
        }
        free(buf);
        dc_sha256_final(&h, hex);
        return 0;
}
