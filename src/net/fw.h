/* The firewall rules of a NAT container, for both backends.
 *
 * The rule set (S = the container's subnet, C = its address, H = the host
 * end of its veth pair, per family; per port P -> Q):
 *   forward      in H from S: accept
 *   forward      out H to S: accept when established/related or DNATed
 *   postrouting  from S, not out H: masquerade
 *   prerouting   to a local address, port P: DNAT to C:Q          (port forward)
 *   output       the same for the host's own traffic (IPv6: not ::1)
 *   postrouting  from 127.0.0.0/8 out H to C:Q: masquerade        (IPv4 only;
 *                with route_localnet on H, so localhost:P works)
 *   postrouting  from C to C:Q: masquerade                        (hairpin)
 *
 * Every rule carries the tag "diyctl:NAME" (an iptables comment, an nft rule
 * comment). The builders are pure, so `diyctl plan` shows the very rules
 * start adds, and the unit tests check them. */
#pragma once
#include <stddef.h>

#include "diyctl/error.h"
#include "diyctl/util.h"

struct dc_fw_port {
        char proto[4];     /* "tcp" or "udp" */
        unsigned host, container;
};

struct dc_fw_spec {
        const char *tag;      /* "diyctl:NAME" */
        const char *dev;      /* H */
        const char *subnet4;  /* S and C, NULL without IPv4 */
        const char *addr4;
        const char *subnet6;  /* NULL without IPv6 */
        const char *addr6;
        const struct dc_fw_port *ports;
        size_t n_ports;
};

/* iptables: each rule as "4|6 TABLE CHAIN -I|-A SPEC..." (SPEC tokens
 * separated by single spaces, none containing a space). */
void dc_fw_iptables_rules(const struct dc_fw_spec *s, struct dc_strv *out);
/* nftables: each rule as "CHAIN EXPR... comment \"TAG\"" for
 * `add rule inet diyctl CHAIN ...`. */
void dc_fw_nft_rules(const struct dc_fw_spec *s, struct dc_strv *out);

/* Parse "tcp:8080:80" (the plan's port argument). 0 or -EINVAL. */
int dc_fw_port_parse(const char *s, struct dc_fw_port *out);

/* --- iptables backend (fw_iptables.c): runs iptables -w / ip6tables -w --- */
int dc_iptables_add(const char *rule, struct dc_error *err);
/* -D with the same spec; 0 when the rule (or its chain) is already gone. */
int dc_iptables_del(const char *rule, struct dc_error *err);
/* All of them, newest first: one `iptables-restore -w --noflush` of "-D"
 * lines per family (atomic, one process instead of one per rule), and when
 * that fails because a rule is already gone, dc_iptables_del one by one. */
int dc_iptables_del_all(const struct dc_strv *rules, struct dc_error *err);

/* --- nftables backend (fw_nft.c): libnftables, in-process ------------------ */
#define DC_NFT_FAMILY "inet"
#define DC_NFT_TABLE "diyctl"
/* The table and its base chains (forward, prerouting, output, postrouting). */
int dc_nft_base_create(struct dc_error *err);
/* Delete the table (with whatever is in it); 0 when it is already gone. */
int dc_nft_base_delete(struct dc_error *err);
/* Add rules (dc_fw_nft_rules format) in one batch, with the base table and
 * chains (no-ops when there) and the container's marker, a counter named
 * after the tag ("diyctl_NAME"); handles gets one "CHAIN:HANDLE" per rule. */
int dc_nft_add_rules(const struct dc_strv *rules, const char *tag, struct dc_strv *handles, struct dc_error *err);
/* Delete the rules and the marker. Fast path: the journaled `handles`
 * ("CHAIN:HANDLE") and the marker in one batch, trusted because the marker
 * proves the table was not made anew since. Otherwise (a rule already gone,
 * the table remade, or no handles because the launcher died before it
 * recorded them): list the table and delete the rules among `handles` that
 * still carry `tag`, or with no handles every rule carrying `tag`. 0 when
 * nothing of the container is left. */
int dc_nft_del_rules(const struct dc_strv *handles, const char *tag, struct dc_error *err);
