/* The firewall of a NAT container, for both backends.
 *
 * iptables: each container adds its own rules (S = the container's subnet, C
 * its address, H the host end of its veth pair, per family; per port P -> Q):
 *   FORWARD      in H from S: accept
 *   FORWARD      out H to S: accept when established/related or DNATed
 *   POSTROUTING  from S, not out H: masquerade
 *   PREROUTING   to a local address, port P: DNAT to C:Q          (port forward)
 *   OUTPUT       the same for the host's own traffic (IPv6: not ::1)
 *   POSTROUTING  from 127.0.0.0/8 out H to C:Q: masquerade        (IPv4 only;
 *                with route_localnet on H, so localhost:P works)
 *   POSTROUTING  from C to C:Q: masquerade                        (hairpin)
 * Every rule carries the tag "diyctl:NAME" (an iptables comment).
 *
 * nftables: the table inet diyctl holds rules that never change (made by the
 * first container, deleted by the last); they look the containers up in a set
 * and two maps, and a container adds and deletes only its elements:
 *   set ifs      the host ends H                          "dc-web"
 *   map dnat4    protocol . host port : C . port (IPv4)   tcp . 8080 : 10.88.0.6 . 80
 *   map dnat6    the same for IPv6
 * The table's rules (dc_fw_nft_table):
 *   forward      in a host end: accept; out a host end: accept when
 *                established/related or DNATed
 *   prerouting   to a local address: DNAT by protocol and port through dnat4/dnat6
 *   output       the same for the host's own traffic (IPv6: not ::1)
 *   postrouting  in a host end: masquerade (out to anywhere, the host's other
 *                containers and back to itself: the hairpin); from
 *                127.0.0.0/8 out a host end: masquerade (localhost:P)
 * Each element belongs to one container: its link name is its own, and its
 * host ports are reserved for it (net_ports.c) while its journal lives. So an
 * element is journaled as it is and deleted by its key, with no handle and no
 * listing, and adding or deleting one costs the same however many containers
 * run (libnftables fetches only the table and set headers for it: no
 * interval sets, whose elements it would fetch, bench/README.md).
 *
 * The builders are pure, so `diyctl plan` shows what start adds, and the unit
 * tests check it. */
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
#define DC_NFT_FAMILY "inet"
#define DC_NFT_TABLE "diyctl"
/* nftables: the container's elements, each "SET KEY" or "MAP KEY : VALUE"
 * ("ifs \"dc-web\"", "dnat4 tcp . 8080 : 10.88.0.6 . 80"). */
void dc_fw_nft_elements(const struct dc_fw_spec *s, struct dc_strv *out);

/* One element, parsed and checked (dc_fw_nft_elem_parse): the set or map is
 * one of the table's, the key and value have the syntax of its type. */
struct dc_nft_elem {
        const char *set;   /* "ifs", "dnat4", "dnat6" */
        char key[80];      /* "\"dc-web\"", "tcp . 8080" */
        char value[80];    /* "10.88.0.6 . 80"; "" for a set */
};
/* 0, or -EINVAL for anything else (a damaged or forged journal record never
 * reaches nft as a command). */
int dc_fw_nft_elem_parse(const char *elem, struct dc_nft_elem *out);
/* The command that adds it, refusing an element that is already there:
 * "create element inet diyctl SET { KEY comment \"TAG\" [: VALUE] }\n". */
char *dc_fw_nft_elem_add_cmd(const struct dc_nft_elem *e, const char *tag);
/* The command that deletes it by key: "delete element inet diyctl SET { KEY }\n". */
char *dc_fw_nft_elem_del_cmd(const struct dc_nft_elem *e);

/* The table's sets, maps, base chains and rules, in order. */
struct dc_nft_table_item {
        const char *what;   /* "set", "map", "chain" or "rule" */
        const char *chain;  /* for a rule: its chain */
        const char *text;   /* "ifs { type ifname; ... }", "forward { type filter ... }", the rule */
};
const struct dc_nft_table_item *dc_fw_nft_table(size_t *n);
/* The table's items as nft commands ("add set inet diyctl ...\n", ...). */
char *dc_fw_nft_table_cmds(void);

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
/* Make the table afresh with its sets, maps, chains and rules, in one
 * transaction (a table left over by an earlier diyctl with none of its
 * containers running is replaced). For the first container. */
int dc_nft_base_create(struct dc_error *err);
/* Make the table only if there is none (after `nft flush ruleset` while
 * containers run): -EEXIST (err filled) when a table of that name exists. */
int dc_nft_base_restore(struct dc_error *err);
/* Delete the table (with whatever is in it); 0 when it is already gone. */
int dc_nft_base_delete(struct dc_error *err);
/* Add a container's elements (dc_fw_nft_elements) in one transaction, each
 * with the comment tag: all or none. -ENOENT when the table or a set is
 * missing, -EEXIST when an element with one of the keys is already there
 * (err filled either way). */
int dc_nft_elems_add(const struct dc_strv *elems, const char *tag, struct dc_error *err);
/* Delete them by key, in one transaction, or, when that fails because some
 * are gone already (deleted by hand, the table flushed or deleted), one by
 * one; 0 when none of them is left. */
int dc_nft_elems_del(const struct dc_strv *elems, struct dc_error *err);
