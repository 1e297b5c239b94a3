/* SHA-256, two ways.
 *
 * Short inputs (a cache key from a path, an image's config document) are
 * hashed here, in plain C after FIPS 180-4: no library is needed for them,
 * so a start that only looks up its cached image loads none.
 *
 * Bulk data (layers, tarballs: dc_sha256_init_bulk, dc_sha256_fd) goes
 * through nettle, which uses the CPU's SHA extensions where it has them.
 * nettle is loaded on first use (src/util/lazylib.c): linked in, its
 * constructor probes the CPU with cpuid, which traps to the hypervisor in a
 * VM (about 45 us of every diyctl process, measured: bench/README.md).
 * libarchive depends on nettle already, so it costs no extra library;
 * libcrypto would (OpenSSL 3 also reads its config and loads providers:
 * about 3 ms of every image start, measured). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "diyctl/image.h"

/* ---- the plain C one ------------------------------------------------------ */

struct soft {
        uint32_t h[8];
        uint64_t bytes;     /* message length so far */
        uint8_t block[64];
        size_t fill;        /* bytes waiting in block */
};

/* the first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t round_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
        return (x >> n) | (x << (32 - n));
}

static void soft_block(struct soft *s, const uint8_t *p)
{
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
                w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
                       (uint32_t)p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
                uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
        uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
        for (int i = 0; i < 64; i++) {
                uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + round_k[i] + w[i];
                uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
        }
        s->h[0] += a;
        s->h[1] += b;
        s->h[2] += c;
        s->h[3] += d;
        s->h[4] += e;
        s->h[5] += f;
        s->h[6] += g;
        s->h[7] += h;
}

static void soft_init(struct soft *s)
{
        /* the first 32 bits of the fractional parts of the square roots of the first 8 primes */
        static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        memcpy(s->h, iv, sizeof(iv));
        s->bytes = 0;
        s->fill = 0;
}

static void soft_update(struct soft *s, const uint8_t *p, size_t len)
{
        s->bytes += len;
        if (s->fill) {
                size_t take = 64 - s->fill < len ? 64 - s->fill : len;
                memcpy(s->block + s->fill, p, take);
                s->fill += take;
                p += take;
                len -= take;
                if (s->fill < 64)
                        return;
                soft_block(s, s->block);
                s->fill = 0;
        }
        for (; len >= 64; p += 64, len -= 64)
                soft_block(s, p);
        memcpy(s->block, p, len);
        s->fill = len;
}

static void soft_final(struct soft *s, uint8_t md[32])
{
        uint64_t bits = s->bytes * 8;
        static const uint8_t pad[64] = { 0x80 };
        /* 0x80, zeros up to 56 bytes into a block, then the length */
        size_t n = s->fill < 56 ? 56 - s->fill : 120 - s->fill;
        uint64_t keep = s->bytes;
        soft_update(s, pad, n);
        uint8_t len[8];
        for (int i = 0; i < 8; i++)
                len[i] = (uint8_t)(bits >> (56 - 8 * i));
        soft_update(s, len, 8);
        s->bytes = keep;
        for (int i = 0; i < 8; i++) {
                md[4 * i] = (uint8_t)(s->h[i] >> 24);
                md[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
                md[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
                md[4 * i + 3] = (uint8_t)s->h[i];
        }
}

/* ---- the interface ------------------------------------------------------ */

void dc_sha256_init(struct dc_sha256 *h)
{
        struct soft *s = dc_xmalloc(sizeof(*s));
        soft_init(s);
        h->ctx = s;
        h->bulk = false;
}

void dc_sha256_init_bulk(struct dc_sha256 *h)
{
        struct sha256_ctx *c = dc_xmalloc(sizeof(*c));
        sha256_init(c);
        h->ctx = c;
        h->bulk = true;
}

void dc_sha256_update(struct dc_sha256 *h, const void *buf, size_t len)
{
        if (!len)
                return;
        if (h->bulk)
                sha256_update(h->ctx, len, buf);
        else
                soft_update(h->ctx, buf, len);
}

void dc_sha256_final(struct dc_sha256 *h, char hex[DC_SHA256_HEX + 1])
{
        uint8_t md[SHA256_DIGEST_SIZE];
        if (h->bulk)
                sha256_digest(h->ctx, sizeof(md), md);
        else
                soft_final(h->ctx, md);
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
        dc_sha256_init_bulk(&h);
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
