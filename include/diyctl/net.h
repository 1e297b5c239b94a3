/* Pure address arithmetic for networking: prefixes, overlap, carving a pool
 * into per-container subnets, naming the host end of a veth pair. No side
 * effects: the netlink and firewall code lives in src/net/. */
#pragma once
struct dc_plan;
/* Before a start: say on stderr when the container's resolv.conf (dns =
 * "host") will have no name server it can reach. */
void dc_resolv_note(const struct dc_plan *p);
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address with a prefix length (AF_INET or AF_INET6). For a bare address
 * len is 32 or 128. */
struct dc_prefix {
        int family;
        unsigned len;
        unsigned char addr[16]; /* network byte order; 4 bytes used for IPv4 */
};

/* Parse "A.B.C.D/N", "X::Y/N", or a bare address (full length). family 0
 * accepts both. 0 or -EINVAL. */
int dc_prefix_parse(const char *s, int family, struct dc_prefix *out);
/* "addr/len" and "addr" as new strings. */
char *dc_prefix_str(const struct dc_prefix *p);
char *dc_prefix_addr_str(const struct dc_prefix *p);
unsigned dc_prefix_bits(const struct dc_prefix *p); /* 32 or 128 */
/* p with its host bits cleared. */
struct dc_prefix dc_prefix_network(const struct dc_prefix *p);
bool dc_prefix_is_network(const struct dc_prefix *p);
/* Do the two ranges share any address? (different families never do) */
bool dc_prefix_overlaps(const struct dc_prefix *a, const struct dc_prefix *b);
/* Is all of inner inside outer? */
bool dc_prefix_contains(const struct dc_prefix *outer, const struct dc_prefix *inner);
bool dc_prefix_equal(const struct dc_prefix *a, const struct dc_prefix *b);
/* The address k of p's network (0 = the network address), with p's length. */
struct dc_prefix dc_prefix_host(const struct dc_prefix *p, uint64_t k);
/* The last address of p's range (IPv4: broadcast). */
struct dc_prefix dc_prefix_last(const struct dc_prefix *p);
bool dc_prefix_same_addr(const struct dc_prefix *a, const struct dc_prefix *b);

/* Subnet i of length sublen inside pool; -ERANGE when i is past the end. */
int dc_pool_subnet(const struct dc_prefix *pool, unsigned sublen, uint64_t i, struct dc_prefix *out);
/* The first subnet of length sublen in pool that overlaps none of taken[].
 * 0, or -ENOSPC when the pool is exhausted (or -EINVAL for bad sizes). */
int dc_pool_pick(const struct dc_prefix *pool, unsigned sublen, const struct dc_prefix *taken, size_t n_taken,
                 struct dc_prefix *out);

/* The addresses of a point-to-point container subnet: host end (gateway) and
 * container end. IPv4 /30: .1 and .2; /31: the two addresses; IPv6: ::1, ::2. */
void dc_subnet_ends(const struct dc_prefix *subnet, struct dc_prefix *host, struct dc_prefix *container);

/* The gateway of a pinned address's subnet when none is configured: its
 * first usable address other than addr itself (IPv4 /31: the other one).
 * The result has addr's prefix length. */
struct dc_prefix dc_subnet_default_gateway(const struct dc_prefix *addr);

/* Name of the host end of a container's veth pair: "dc-NAME" when that fits
 * in 15 bytes, else "dc-" + the first 7 bytes of NAME + "-" + 4 hex digits of
 * a hash of the whole name. Distinct names give distinct results except for
 * hash collisions (1 in 65536 among long names sharing their first 7 bytes),
 * which the veth step reports as a link that already exists. */
char *dc_net_host_ifname(const char *container_name);
