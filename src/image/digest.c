/* SHA-256 with libcrypto (OpenSSL 3's EVP interface). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "diyctl/image.h"

void dc_sha256_init(struct dc_sha256 *h)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
                abort(); /* out of memory, or a libcrypto without SHA-256 */
        h->ctx = c;
}

void dc_sha256_update(struct dc_sha256 *h, const void *buf, size_t len)
{
        if (len && EVP_DigestUpdate(h->ctx, buf, len) != 1)
                abort();
}

void dc_sha256_final(struct dc_sha256 *h, char hex[DC_SHA256_HEX + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != DC_SHA256_HEX / 2)
                abort();
        for (unsigned i = 0; i < n; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        hex[DC_SHA256_HEX] = 0;
        dc_sha256_free(h);
}

void dc_sha256_free(struct dc_sha256 *h)
{
        if (h->ctx)
                EVP_MD_CTX_free(h->ctx);
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
