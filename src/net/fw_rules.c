/* The rule texts of both firewall backends (see fw.h). Pure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void nft_family(const struct dc_fw_spec *s, struct dc_strv *out, int fam)
{
        const char *sub = fam == 4 ? s->subnet4 : s->subnet6;
        const char *addr = fam == 4 ? s->addr4 : s->addr6;
        if (!sub)
                return;
        const char *ip = fam == 4 ? "ip" : "ip6";
        char cm[300];
        snprintf(cm, sizeof(cm), "comment \"%s\"", s->tag);
        push(out, "forward iifname \"%s\" %s saddr %s accept %s", s->dev, ip, sub, cm);
        push(out, "forward oifname \"%s\" %s daddr %s ct state established,related accept %s", s->dev, ip, sub, cm);
        push(out, "forward oifname \"%s\" %s daddr %s ct status dnat accept %s", s->dev, ip, sub, cm);
        push(out, "postrouting %s saddr %s oifname != \"%s\" masquerade %s", ip, sub, s->dev, cm);
        for (size_t i = 0; i < s->n_ports; i++) {
                const struct dc_fw_port *p = &s->ports[i];
                char to[96];
                if (fam == 4)
                        snprintf(to, sizeof(to), "ip to %s:%u", addr, p->container);
                else
                        snprintf(to, sizeof(to), "ip6 to [%s]:%u", addr, p->container);
                const char *only = fam == 4 ? "meta nfproto ipv4" : "meta nfproto ipv6";
                push(out, "prerouting %s fib daddr type local %s dport %u dnat %s %s", only, p->proto, p->host, to, cm);
                push(out, "output %s%s fib daddr type local %s dport %u dnat %s %s", only,
                     fam == 6 ? " ip6 daddr != ::1" : "", p->proto, p->host, to, cm);
                if (fam == 4)
                        push(out, "postrouting ip saddr 127.0.0.0/8 oifname \"%s\" ip daddr %s %s dport %u masquerade %s",
                             s->dev, addr, p->proto, p->container, cm);
                push(out, "postrouting %s saddr %s %s daddr %s %s dport %u masquerade %s", ip, addr, ip, addr, p->proto,
                     p->container, cm);
        }
}

void dc_fw_nft_rules(const struct dc_fw_spec *s, struct dc_strv *out)
{
        nft_family(s, out, 4);
        nft_family(s, out, 6);
}
