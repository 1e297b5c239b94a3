/* Address arithmetic on big-endian byte arrays, the same code for IPv4 and
 * IPv6. Pure: used by validation, the lease step and the unit tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "diyctl/net.h"
#include "diyctl/util.h"

unsigned dc_prefix_bits(const struct dc_prefix *p)
{
        return p->family == AF_INET ? 32 : 128;
}

static size_t nbytes(const struct dc_prefix *p)
{
        return p->family == AF_INET ? 4 : 16;
}

int dc_prefix_parse(const char *s, int family, struct dc_prefix *out)
{
        memset(out, 0, sizeof(*out));
        if (!s)
                return -EINVAL;
        const char *slash = strchr(s, '/');
        size_t alen = slash ? (size_t)(slash - s) : strlen(s);
        char buf[INET6_ADDRSTRLEN + 1];
        if (alen == 0 || alen >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, alen);
        buf[alen] = 0;
        if ((family == 0 || family == AF_INET) && inet_pton(AF_INET, buf, out->addr) == 1)
                out->family = AF_INET;
        else if ((family == 0 || family == AF_INET6) && inet_pton(AF_INET6, buf, out->addr) == 1)
                out->family = AF_INET6;
        else
                return -EINVAL;
        unsigned max = dc_prefix_bits(out);
        out->len = max;
        if (slash) {
                const char *d = slash + 1;
                if (!*d || strlen(d) > 3)
                        return -EINVAL;
                unsigned v = 0;
                for (; *d; d++) {
                        if (*d < '0' || *d > '9')
                                return -EINVAL;
                        v = v * 10 + (unsigned)(*d - '0');
                }
                if (v > max || (slash[1] == '0' && slash[2]))
                        return -EINVAL;
                out->len = v;
        }
        return 0;
}

char *dc_prefix_addr_str(const struct dc_prefix *p)
{
        char buf[INET6_ADDRSTRLEN];
        if (!inet_ntop(p->family, p->addr, buf, sizeof(buf)))
                return dc_xstrdup("?");
        return dc_xstrdup(buf);
}

char *dc_prefix_str(const struct dc_prefix *p)
{
        _cleanup_free_ char *a = dc_prefix_addr_str(p);
        return dc_xasprintf("%s/%u", a, p->len);
}

/* Is bit i (0 = most significant) a network bit of a len-bit prefix? */
static unsigned char mask_byte(unsigned len, size_t byte)
{
        if (len >= (byte + 1) * 8)
                return 0xff;
        if (len <= byte * 8)
                return 0;
        return (unsigned char)(0xff << (8 - (len - byte * 8)));
}

struct dc_prefix dc_prefix_network(const struct dc_prefix *p)
{
        struct dc_prefix r = *p;
        for (size_t i = 0; i < nbytes(p); i++)
                r.addr[i] &= mask_byte(p->len, i);
        return r;
}

bool dc_prefix_is_network(const struct dc_prefix *p)
{
        struct dc_prefix n = dc_prefix_network(p);
        return memcmp(n.addr, p->addr, nbytes(p)) == 0;
}

bool dc_prefix_same_addr(const struct dc_prefix *a, const struct dc_prefix *b)
{
        return a->family == b->family && memcmp(a->addr, b->addr, nbytes(a)) == 0;
}

bool dc_prefix_equal(const struct dc_prefix *a, const struct dc_prefix *b)
{
        return dc_prefix_same_addr(a, b) && a->len == b->len;
}

/* Do a and b agree on their first len bits? */
static bool same_bits(const struct dc_prefix *a, const struct dc_prefix *b, unsigned len)
{
        for (size_t i = 0; i < nbytes(a); i++) {
                unsigned char m = mask_byte(len, i);
                if ((a->addr[i] & m) != (b->addr[i] & m))
                        return false;
        }
        return true;
}

bool dc_prefix_overlaps(const struct dc_prefix *a, const struct dc_prefix *b)
{
        if (a->family != b->family)
                return false;
        return same_bits(a, b, a->len < b->len ? a->len : b->len);
}

bool dc_prefix_contains(const struct dc_prefix *outer, const struct dc_prefix *inner)
{
        if (outer->family != inner->family || outer->len > inner->len)
                return false;
        return same_bits(outer, inner, outer->len);
}

/* addr += v << shift (big-endian, shift in bits from the least significant end). */
static void add_shifted(unsigned char *addr, size_t n, uint64_t v, unsigned shift)
{
        /* Walk bytes from the least significant one; carry as we go. */
        unsigned byte_shift = shift / 8, bit_shift = shift % 8;
        unsigned __int128 acc = (unsigned __int128)v << bit_shift;
        for (size_t k = byte_shift; k < n; k++) {
                size_t idx = n - 1 - k;
                acc += addr[idx];
                addr[idx] = (unsigned char)(acc & 0xff);
                acc >>= 8;
                if (acc == 0)
                        break;
        }
}

struct dc_prefix dc_prefix_host(const struct dc_prefix *p, uint64_t k)
{
        struct dc_prefix r = dc_prefix_network(p);
        add_shifted(r.addr, nbytes(&r), k, 0);
        return r;
}

struct dc_prefix dc_prefix_last(const struct dc_prefix *p)
{
        struct dc_prefix r = dc_prefix_network(p);
        for (size_t i = 0; i < nbytes(p); i++)
                r.addr[i] |= (unsigned char)~mask_byte(p->len, i);
        return r;
}

int dc_pool_subnet(const struct dc_prefix *pool, unsigned sublen, uint64_t i, struct dc_prefix *out)
{
        unsigned bits = dc_prefix_bits(pool);
        if (sublen < pool->len || sublen > bits)
                return -EINVAL;
        unsigned span = sublen - pool->len; /* log2 of the number of subnets */
        if (span < 64 && i >= ((uint64_t)1 << span))
                return -ERANGE;
        *out = dc_prefix_network(pool);
        out->len = sublen;
        add_shifted(out->addr, nbytes(pool), i, bits - sublen);
        return 0;
}

/* Index of the subnet of length sublen (in pool) that holds addr. */
static uint64_t subnet_index(const struct dc_prefix *pool, unsigned sublen, const struct dc_prefix *addr)
{
        uint64_t idx = 0;
        for (unsigned b = pool->len; b < sublen; b++) {
                unsigned bit = (addr->addr[b / 8] >> (7 - b % 8)) & 1;
                idx = (idx << 1) | bit;
        }
        return idx;
}

struct span {
        uint64_t lo, hi; /* the candidates (subnet indexes) a taken prefix blocks */
};

static int span_cmp(const void *a, const void *b)
{
        const struct span *x = a, *y = b;
        return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int dc_pool_pick(const struct dc_prefix *pool, unsigned sublen, const struct dc_prefix *taken, size_t n_taken,
                 struct dc_prefix *out)
{
        unsigned bits = dc_prefix_bits(pool);
        if (sublen < pool->len || sublen > bits || sublen - pool->len > 63)
                return -EINVAL;
        uint64_t count = (uint64_t)1 << (sublen - pool->len);
        /* Prefixes either nest or are disjoint: one that overlaps the pool
         * covers it whole (nothing left), or blocks the candidates from the
         * one holding its first address to the one holding its last. Sorted
         * by the first, they are swept once: O(n log n), not a pass over all
         * of them for every candidate tried. */
        struct span *sp = n_taken ? dc_xmalloc(n_taken * sizeof(*sp)) : NULL;
        size_t n = 0;
        for (size_t k = 0; k < n_taken; k++) {
                const struct dc_prefix *t = &taken[k];
                if (!dc_prefix_overlaps(pool, t))
                        continue;
                if (dc_prefix_contains(t, pool)) {
                        free(sp);
                        return -ENOSPC;
                }
                struct dc_prefix first = dc_prefix_network(t), last = dc_prefix_last(t);
                sp[n].lo = subnet_index(pool, sublen, &first);
                sp[n].hi = subnet_index(pool, sublen, &last);
                n++;
        }
        if (n > 1)
                qsort(sp, n, sizeof(*sp), span_cmp);
        uint64_t cand = 0;
        for (size_t k = 0; k < n && sp[k].lo <= cand; k++)
                if (sp[k].hi >= cand)
                        cand = sp[k].hi + 1;
        free(sp);
        if (cand >= count)
                return -ENOSPC;
        return dc_pool_subnet(pool, sublen, cand, out);
}

void dc_subnet_ends(const struct dc_prefix *subnet, struct dc_prefix *host, struct dc_prefix *container)
{
        bool p2p = subnet->family == AF_INET && subnet->len >= 31;
        *host = dc_prefix_host(subnet, p2p ? 0 : 1);
        *container = dc_prefix_host(subnet, p2p ? 1 : 2);
}

struct dc_prefix dc_subnet_default_gateway(const struct dc_prefix *addr)
{
        bool p2p = addr->family == AF_INET && addr->len >= 31;
        struct dc_prefix g = dc_prefix_host(addr, p2p ? 0 : 1);
        if (dc_prefix_same_addr(&g, addr))
                g = dc_prefix_host(addr, p2p ? 1 : 2);
        g.len = addr->len;
        return g;
}

char *dc_net_host_ifname(const char *name)
{
        if (strlen(name) + 3 <= 15)
                return dc_xasprintf("dc-%s", name);
        /* the first 4 bytes and 28 bits of FNV-1a (64-bit): 300 names
         * sharing a prefix collide with odds of about 1 in 6000 (16 bits,
         * as before, gave even odds) */
        uint64_t h = 14695981039346656037ull;
        for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
                h ^= *c;
                h *= 1099511628211ull;
        }
        h ^= h >> 32;
        return dc_xasprintf("dc-%.4s-%07x", name, (unsigned)(h & 0xfffffff));
}
