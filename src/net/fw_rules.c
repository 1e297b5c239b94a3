/* The rule texts of both firewall backends (see fw.h). Pure. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/fw.h"

int dc_fw_port_parse(const char *s, struct dc_fw_port *out)
{
        memset(out, 0, sizeof(*out));
        char proto[8];
        unsigned h, c;
        int n = 0;
        if (!s || sscanf(s, "%3[a-z]:%u:%u%n", proto, &h, &c, &n) != 3 || s[n] != 0)
                return -EINVAL;
        if ((strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || h < 1 || h > 65535 || c < 1 ||
            c > 65535)
                return -EINVAL;
        snprintf(out->proto, sizeof(out->proto), "%s", proto);
        out->host = h;
        out->container = c;
        return 0;
}

__attribute__((format(printf, 2, 3))) static void push(struct dc_strv *out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        dc_strv_push_take(out, s);
}

/* --- iptables ---------------------------------------------------------- */

static void ipt_family(const struct dc_fw_spec *s, struct dc_strv *out, int fam)
{
        const char *sub = fam == 4 ? s->subnet4 : s->subnet6;
        const char *addr = fam == 4 ? s->addr4 : s->addr6;
        if (!sub)
                return;
        char cm[300];
        snprintf(cm, sizeof(cm), "-m comment --comment %s", s->tag);
        push(out, "%d filter FORWARD -I -i %s -s %s %s -j ACCEPT", fam, s->dev, sub, cm);
        push(out, "%d filter FORWARD -I -o %s -d %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT %s -j ACCEPT",
             fam, s->dev, sub, cm);
        push(out, "%d nat POSTROUTING -A -s %s ! -o %s %s -j MASQUERADE", fam, sub, s->dev, cm);
        for (size_t i = 0; i < s->n_ports; i++) {
                const struct dc_fw_port *p = &s->ports[i];
                char to[96];
                if (fam == 4)
                        snprintf(to, sizeof(to), "%s:%u", addr, p->container);
                else
                        snprintf(to, sizeof(to), "[%s]:%u", addr, p->container);
                push(out, "%d nat PREROUTING -A -m addrtype --dst-type LOCAL -p %s --dport %u %s -j DNAT --to-destination %s",
                     fam, p->proto, p->host, cm, to);
                push(out, "%d nat OUTPUT -A%s -m addrtype --dst-type LOCAL -p %s --dport %u %s -j DNAT --to-destination %s",
                     fam, fam == 6 ? " ! -d ::1" : "", p->proto, p->host, cm, to);
                if (fam == 4)
                        push(out, "4 nat POSTROUTING -A -s 127.0.0.0/8 -o %s -d %s -p %s --dport %u %s -j MASQUERADE",
                             s->dev, addr, p->proto, p->container, cm);
                push(out, "%d nat POSTROUTING -A -s %s -d %s -p %s --dport %u %s -j MASQUERADE", fam, addr, addr,
                     p->proto, p->container, cm);
        }
}

void dc_fw_iptables_rules(const struct dc_fw_spec *s, struct dc_strv *out)
{
        ipt_family(s, out, 4);
        ipt_family(s, out, 6);
}

/* --- nftables ---------------------------------------------------------- */

#define SET_IFS "ifs"
#define MAP_DNAT4 "dnat4"
#define MAP_DNAT6 "dnat6"

/* The one rule set of the table; nothing in it names a container. */
static const struct dc_nft_table_item table_items[] = {
        { "set", NULL, SET_IFS " { type ifname; comment \"host ends of NAT containers\"; }" },
        { "map", NULL, MAP_DNAT4 " { type inet_proto . inet_service : ipv4_addr . inet_service; "
                       "comment \"port forwards: protocol . host port : container address . port\"; }" },
        { "map", NULL, MAP_DNAT6 " { type inet_proto . inet_service : ipv6_addr . inet_service; "
                       "comment \"port forwards: protocol . host port : container address . port\"; }" },
        { "chain", NULL, "forward { type filter hook forward priority filter; policy accept; }" },
        { "chain", NULL, "prerouting { type nat hook prerouting priority dstnat; policy accept; }" },
        { "chain", NULL, "output { type nat hook output priority -100; policy accept; }" },
        { "chain", NULL, "postrouting { type nat hook postrouting priority srcnat; policy accept; }" },
        { "rule", "forward", "iifname @" SET_IFS " accept" },
        { "rule", "forward", "oifname @" SET_IFS " ct state established,related accept" },
        { "rule", "forward", "oifname @" SET_IFS " ct status dnat accept" },
        { "rule", "prerouting",
          "meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @" MAP_DNAT4 },
        { "rule", "prerouting",
          "meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @" MAP_DNAT6 },
        { "rule", "output",
          "meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @" MAP_DNAT4 },
        { "rule", "output",
          "meta nfproto ipv6 ip6 daddr != ::1 fib daddr type local dnat ip6 to meta l4proto . th dport map @" MAP_DNAT6 },
        { "rule", "postrouting", "iifname @" SET_IFS " masquerade" },
        { "rule", "postrouting", "meta nfproto ipv4 ip saddr 127.0.0.0/8 oifname @" SET_IFS " masquerade" },
};

const struct dc_nft_table_item *dc_fw_nft_table(size_t *n)
{
        *n = DC_ARRAY_SIZE(table_items);
        return table_items;
}

char *dc_fw_nft_table_cmds(void)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                abort();
        for (size_t i = 0; i < DC_ARRAY_SIZE(table_items); i++) {
                const struct dc_nft_table_item *t = &table_items[i];
                if (t->chain)
                        fprintf(m, "add rule %s %s %s %s\n", DC_NFT_FAMILY, DC_NFT_TABLE, t->chain, t->text);
                else
                        fprintf(m, "add %s %s %s %s\n", t->what, DC_NFT_FAMILY, DC_NFT_TABLE, t->text);
        }
        if (fclose(m) != 0)
                abort();
        return buf;
}

void dc_fw_nft_elements(const struct dc_fw_spec *s, struct dc_strv *out)
{
        push(out, "%s \"%s\"", SET_IFS, s->dev);
        for (int fam = 4; fam <= 6; fam += 2) {
                const char *addr = fam == 4 ? s->addr4 : s->addr6;
                if (!addr)
                        continue;
                for (size_t i = 0; i < s->n_ports; i++) {
                        const struct dc_fw_port *p = &s->ports[i];
                        push(out, "%s %s . %u : %s . %u", fam == 4 ? MAP_DNAT4 : MAP_DNAT6, p->proto, p->host, addr,
                             p->container);
                }
        }
}

int dc_fw_nft_elem_parse(const char *elem, struct dc_nft_elem *out)
{
        memset(out, 0, sizeof(*out));
        if (!elem)
                return -EINVAL;
        size_t n = strlen(elem);
        if (dc_startswith(elem, SET_IFS " \"")) {
                const char *name = elem + strlen(SET_IFS) + 2;
                size_t len = n - (size_t)(name - elem);
                if (len < 2 || name[len - 1] != '"' || !dc_ifname_valid(name, len - 1))
                        return -EINVAL;
                out->set = SET_IFS;
                snprintf(out->key, sizeof(out->key), "\"%.*s\"", (int)(len - 1), name);
                return 0;
        }
        int family;
        if (dc_startswith(elem, MAP_DNAT4 " ")) {
                out->set = MAP_DNAT4;
                family = AF_INET;
        } else if (dc_startswith(elem, MAP_DNAT6 " ")) {
                out->set = MAP_DNAT6;
                family = AF_INET6;
        } else {
                return -EINVAL;
        }
        char text[200], proto[4], addr[INET6_ADDRSTRLEN];
        unsigned hport, cport;
        int end = 0;
        if (n >= sizeof(text) ||
            sscanf(elem + strlen(out->set) + 1, "%3[a-z] . %u : %45[0-9a-fA-F:.] . %u%n", proto, &hport, addr, &cport,
                   &end) != 4 ||
            elem[strlen(out->set) + 1 + (size_t)end] != 0)
                goto bad;
        unsigned char bin[16];
        if ((strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) || hport < 1 || hport > 65535 || cport < 1 ||
            cport > 65535 || inet_pton(family, addr, bin) != 1)
                goto bad;
        snprintf(out->key, sizeof(out->key), "%s . %u", proto, hport);
        snprintf(out->value, sizeof(out->value), "%s . %u", addr, cport);
        /* only the canonical spelling, as dc_fw_nft_elements writes it */
        snprintf(text, sizeof(text), "%s %s : %s", out->set, out->key, out->value);
        if (strcmp(text, elem) != 0)
                goto bad;
        return 0;
bad:
        memset(out, 0, sizeof(*out));
        return -EINVAL;
}

char *dc_fw_nft_elem_add_cmd(const struct dc_nft_elem *e, const char *tag)
{
        return dc_xasprintf("create element %s %s %s { %s comment \"%s\"%s%s }\n", DC_NFT_FAMILY, DC_NFT_TABLE, e->set,
                            e->key, tag, e->value[0] ? " : " : "", e->value);
}

char *dc_fw_nft_elem_del_cmd(const struct dc_nft_elem *e)
{
        return dc_xasprintf("delete element %s %s %s { %s }\n", DC_NFT_FAMILY, DC_NFT_TABLE, e->set, e->key);
}
