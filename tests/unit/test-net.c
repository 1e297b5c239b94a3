/* Networking, the pure parts: address arithmetic, lease allocation, the
 * host end's name, host.conf, the firewall rule texts, network validation and
 * the network steps of the plan. No root, no netlink. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diyctl/config.h"
#include "diyctl/host.h"
#include "diyctl/net.h"
#include "diyctl/plan.h"
#include "net/fw.h"
#include "tap.h"

static struct dc_prefix P(const char *s)
{
        struct dc_prefix p;
        if (dc_prefix_parse(s, 0, &p) < 0) {
                printf("# bad test prefix %s\n", s);
                abort();
        }
        return p;
}

static char *S(const struct dc_prefix *p)
{
        return dc_prefix_str(p);
}

static void test_prefix(void)
{
        struct dc_prefix p;
        CHECK(dc_prefix_parse("10.88.0.6/30", 0, &p) == 0 && p.family == AF_INET && p.len == 30, "IPv4 with length");
        CHECK(dc_prefix_parse("fd88::2/64", 0, &p) == 0 && p.family == AF_INET6 && p.len == 64, "IPv6 with length");
        CHECK(dc_prefix_parse("10.1.2.3", 0, &p) == 0 && p.len == 32, "bare IPv4 address: /32");
        CHECK(dc_prefix_parse("::1", 0, &p) == 0 && p.len == 128, "bare IPv6 address: /128");
        CHECK(dc_prefix_parse("10.1.2.3/33", 0, &p) < 0, "IPv4 /33 rejected");
        CHECK(dc_prefix_parse("fd88::/129", 0, &p) < 0, "IPv6 /129 rejected");
        CHECK(dc_prefix_parse("10.1.2.3/", 0, &p) < 0, "empty length rejected");
        CHECK(dc_prefix_parse("10.1.2.3/x", 0, &p) < 0, "non-numeric length rejected");
        CHECK(dc_prefix_parse("10.1.2.3/08", 0, &p) < 0, "leading zero rejected");
        CHECK(dc_prefix_parse("fd88::1", AF_INET, &p) < 0, "family filter");
        CHECK(dc_prefix_parse("300.1.1.1/8", 0, &p) < 0, "bad address rejected");

        struct dc_prefix a = P("10.88.1.77/16");
        struct dc_prefix n = dc_prefix_network(&a);
        char *s = S(&n);
        CHECK_STREQ(s, "10.88.0.0/16", "network of 10.88.1.77/16");
        free(s);
        CHECK(!dc_prefix_is_network(&a) && dc_prefix_is_network(&n), "is_network");
        struct dc_prefix last = dc_prefix_last(&a);
        s = dc_prefix_addr_str(&last);
        CHECK_STREQ(s, "10.88.255.255", "last address of a /16");
        free(s);
        struct dc_prefix v6 = P("fd88:0:0:5::77/64");
        struct dc_prefix n6 = dc_prefix_network(&v6);
        s = S(&n6);
        CHECK_STREQ(s, "fd88:0:0:5::/64", "IPv6 network");
        free(s);
        struct dc_prefix h = dc_prefix_host(&n6, 2);
        s = dc_prefix_addr_str(&h);
        CHECK_STREQ(s, "fd88:0:0:5::2", "IPv6 host 2");
        free(s);

        struct dc_prefix x = P("10.88.0.0/16"), y = P("10.88.4.0/30"), z = P("10.89.0.0/16"), w = P("10.0.0.0/8");
        CHECK(dc_prefix_overlaps(&x, &y) && dc_prefix_overlaps(&y, &x), "nested prefixes overlap");
        CHECK(!dc_prefix_overlaps(&x, &z), "siblings do not overlap");
        CHECK(dc_prefix_overlaps(&w, &x), "a /8 overlaps a /16 in it");
        CHECK(dc_prefix_contains(&x, &y) && !dc_prefix_contains(&y, &x), "contains is one-way");
        struct dc_prefix q = P("fd88::/48");
        CHECK(!dc_prefix_overlaps(&x, &q), "different families never overlap");
}

static void test_pool(void)
{
        struct dc_prefix pool = P("10.88.0.0/16"), out;
        char *s;
        CHECK(dc_pool_pick(&pool, 30, NULL, 0, &out) == 0, "empty pool: a subnet");
        s = S(&out);
        CHECK_STREQ(s, "10.88.0.0/30", "first /30");
        free(s);

        struct dc_prefix taken[] = { P("10.88.0.0/30"), P("10.88.0.4/30"), P("10.88.0.12/30") };
        CHECK(dc_pool_pick(&pool, 30, taken, 3, &out) == 0, "with leases");
        s = S(&out);
        CHECK_STREQ(s, "10.88.0.8/30", "the first gap is taken");
        free(s);

        /* another runtime's bridge 10.88.0.0/24 and a VPN route 10.88.1.0/24 */
        struct dc_prefix host[] = { P("10.88.0.0/24"), P("10.88.1.0/24"), P("10.88.2.5/32") };
        CHECK(dc_pool_pick(&pool, 30, host, 3, &out) == 0, "skips the host's subnets");
        s = S(&out);
        CHECK_STREQ(s, "10.88.2.0/30", "after the /24s; 10.88.2.4/30 holds a host address but .0/30 is free");
        free(s);
        struct dc_prefix host2[] = { P("10.88.0.0/24"), P("10.88.1.0/24"), P("10.88.2.0/32") };
        dc_pool_pick(&pool, 30, host2, 3, &out);
        s = S(&out);
        CHECK_STREQ(s, "10.88.2.4/30", "a /32 host route blocks its /30");
        free(s);

        struct dc_prefix all[] = { P("10.0.0.0/8") };
        CHECK(dc_pool_pick(&pool, 30, all, 1, &out) == -ENOSPC, "a route covering the pool exhausts it");
        struct dc_prefix small = P("10.88.0.0/29");
        struct dc_prefix two[] = { P("10.88.0.0/30"), P("10.88.0.4/30") };
        CHECK(dc_pool_pick(&small, 30, two, 2, &out) == -ENOSPC, "a full pool is -ENOSPC");
        CHECK(dc_pool_pick(&small, 28, NULL, 0, &out) == -EINVAL, "subnet larger than the pool");

        struct dc_prefix p6 = P("fd88::/48");
        struct dc_prefix t6[] = { P("fd88::/64"), P("fd88:0:0:1::/64"), P("fd88:0:0:2::/63") };
        CHECK(dc_pool_pick(&p6, 64, t6, 3, &out) == 0, "IPv6 pool");
        s = S(&out);
        CHECK_STREQ(s, "fd88:0:0:4::/64", "IPv6: skips two /64s and a /63");
        free(s);
        CHECK(dc_pool_subnet(&p6, 64, 65535, &out) == 0 && dc_pool_subnet(&p6, 64, 65536, &out) == -ERANGE,
              "a /48 holds 65536 /64s");
        s = S(&out);
        free(s);

        /* many leases: still finds the gap quickly */
        struct dc_prefix *many = calloc(1000, sizeof(*many));
        for (int i = 0; i < 1000; i++)
                dc_pool_subnet(&pool, 30, (uint64_t)(i < 500 ? i : i + 1), &many[i]);
        CHECK(dc_pool_pick(&pool, 30, many, 1000, &out) == 0, "1000 leases");
        s = S(&out);
        CHECK_STREQ(s, "10.88.7.208/30", "the 501st /30 is the gap");
        free(s);
        free(many);

        /* against the obvious search (first candidate that overlaps nothing),
         * on random mixes of nested and disjoint prefixes of every length */
        struct dc_prefix rpool = P("10.88.0.0/24");
        unsigned seed = 12345;
        bool same = true;
        for (int round = 0; round < 2000 && same; round++) {
                struct dc_prefix tk[12];
                size_t n = (size_t)(round % 12);
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 1103515245u + 12345u;
                        unsigned len = 20 + (seed >> 16) % 13; /* /20 .. /32 */
                        seed = seed * 1103515245u + 12345u;
                        struct dc_prefix a = rpool;
                        a.addr[3] = (unsigned char)(seed >> 16);
                        if ((seed >> 8) % 8 == 0)
                                a.addr[2] = 89; /* outside the pool */
                        a.len = len;
                        tk[i] = dc_prefix_network(&a);
                }
                struct dc_prefix got, want = { 0 };
                int rg = dc_pool_pick(&rpool, 30, tk, n, &got), rw = -ENOSPC;
                for (uint64_t c = 0; c < 64 && rw != 0; c++) {
                        struct dc_prefix cand;
                        dc_pool_subnet(&rpool, 30, c, &cand);
                        bool clash = false;
                        for (size_t i = 0; i < n; i++)
                                clash |= dc_prefix_overlaps(&cand, &tk[i]);
                        if (!clash) {
                                want = cand;
                                rw = 0;
                        }
                }
                same = rg == rw && (rg != 0 || dc_prefix_equal(&got, &want));
        }
        CHECK(same, "the sweep finds what trying every candidate finds");

        struct dc_prefix sub = P("10.88.0.4/30"), gw, ct;
        dc_subnet_ends(&sub, &gw, &ct);
        char *g = dc_prefix_addr_str(&gw), *c = dc_prefix_addr_str(&ct);
        CHECK(strcmp(g, "10.88.0.5") == 0 && strcmp(c, "10.88.0.6") == 0, "/30 ends: .5 host, .6 container");
        free(g);
        free(c);
        struct dc_prefix s6 = P("fd88:0:0:7::/64");
        dc_subnet_ends(&s6, &gw, &ct);
        g = dc_prefix_addr_str(&gw);
        c = dc_prefix_addr_str(&ct);
        CHECK(strcmp(g, "fd88:0:0:7::1") == 0 && strcmp(c, "fd88:0:0:7::2") == 0, "/64 ends: ::1, ::2");
        free(g);
        free(c);
        struct dc_prefix pin = P("10.88.5.1/24");
        gw = dc_subnet_default_gateway(&pin);
        s = S(&gw);
        CHECK_STREQ(s, "10.88.5.2/24", "pinned .1: the gateway is .2");
        free(s);
        pin = P("10.88.5.9/24");
        gw = dc_subnet_default_gateway(&pin);
        s = S(&gw);
        CHECK_STREQ(s, "10.88.5.1/24", "pinned .9: the gateway is .1");
        free(s);
}

static void test_ifname(void)
{
        char *a = dc_net_host_ifname("web");
        CHECK_STREQ(a, "dc-web", "short names: dc-NAME");
        free(a);
        a = dc_net_host_ifname("abcdefghijkl");
        CHECK_STREQ(a, "dc-abcdefghijkl", "12 bytes still fit in 15");
        free(a);
        a = dc_net_host_ifname("webserver-production-1");
        char *b = dc_net_host_ifname("webserver-production-2");
        CHECK(strlen(a) == 15 && strlen(b) == 15, "long names: 15 bytes (%s, %s)", a, b);
        CHECK(strncmp(a, "dc-webs-", 8) == 0, "prefix kept (%s)", a);
        CHECK(strcmp(a, b) != 0, "names sharing a long prefix still differ");
        char *c = dc_net_host_ifname("webserver-production-1");
        CHECK_STREQ(c, a, "deterministic");
        free(a);
        free(b);
        free(c);
        /* distinct for fleets of similar names (the 16-bit hash before gave
         * 40 and 31 collisions in the first two) */
        static const char *const fmt[] = { "loadtest-container-%d", "frontend-%04d", "web-%d.prod.example" };
        for (size_t f = 0; f < DC_ARRAY_SIZE(fmt); f++) {
                int dup = 0;
                char *names[2000];
                for (int i = 0; i < 2000; i++) {
                        char n[64];
                        snprintf(n, sizeof(n), fmt[f], i);
                        names[i] = dc_net_host_ifname(n);
                        for (int k = 0; k < i; k++)
                                dup += strcmp(names[i], names[k]) == 0;
                }
                CHECK(dup == 0 && strlen(names[1999]) <= 15, "2000 names like %s, no collision (%s)", fmt[f],
                      names[1999]);
                for (int i = 0; i < 2000; i++)
                        free(names[i]);
        }
}

static void test_host_conf(void)
{
        struct dc_error err = { 0 };
        struct dc_host_conf *h = NULL;
        int r0 = dc_host_conf_load_string("", "/etc/diyctl/host.conf", &h, &err);
        CHECK(r0 == 0, "empty host.conf");
        CHECK(h && h->firewall == DC_FW_IPTABLES, "default backend iptables");
        CHECK(h && strcmp(h->nat_pool4, "10.88.0.0/16") == 0 && strcmp(h->nat_pool6, "fd88::/48") == 0, "default pools");
        CHECK(h && h->log_max_size == 10ull << 20, "logs rotated at 10 MiB by default");
        dc_host_conf_free(h);

        static const struct {
                const char *text;
                unsigned long long want;
        } sizes[] = { { "log_max_size = \"64K\";\n", 64ull << 10 }, { "log_max_size = 1048576;\n", 1ull << 20 },
                      { "log_max_size = 0;\n", 0 }, { "log_max_size = \"0\";\n", 0 },
                      { "log_max_size = \"2GiB\";\n", 2ull << 30 } };
        for (size_t i = 0; i < DC_ARRAY_SIZE(sizes); i++) {
                h = NULL;
                r0 = dc_host_conf_load_string(sizes[i].text, "/h.conf", &h, &err);
                CHECK(r0 == 0 && h && h->log_max_size == sizes[i].want, "log_max_size %zu (%s)", i,
                      r0 < 0 ? err.msg : "");
                if (h)
                        dc_host_conf_free(h);
        }

        r0 = dc_host_conf_load_string("firewall = \"nftables\";\nnat = { ipv4_pool = \"10.99.0.0/20\"; ipv6_pool = "
                                      "\"fd99:1::/56\"; };\n",
                                      "/h.conf", &h, &err);
        CHECK(r0 == 0, "full host.conf (%s)", err.msg);
        CHECK(h && h->firewall == DC_FW_NFTABLES, "nftables");
        CHECK(h && strcmp(h->nat_pool4, "10.99.0.0/20") == 0 && strcmp(h->nat_pool6, "fd99:1::/56") == 0, "pools");
        CHECK(h && !h->state_dir, "no state_dir: the default");
        char *root = dc_state_root_of(0, h, &err);
        CHECK_STREQ(root, "/run/diyctl", "root's default state root");
        free(root);
        dc_host_conf_free(h);

        r0 = dc_host_conf_load_string("state_dir = \"/srv/diyctl-state\";\n", "/h.conf", &h, &err);
        CHECK(r0 == 0 && h && dc_streq(h->state_dir, "/srv/diyctl-state"), "state_dir (%s)", err.msg);
        root = h ? dc_state_root_of(0, h, &err) : NULL;
        CHECK_STREQ(root, "/srv/diyctl-state", "state_dir is root's state root");
        free(root);
        dc_host_conf_free(h);

        static const struct {
                const char *text, *msg;
        } bad[] = {
                { "firewall = \"pf\";\n", "/h.conf:1: firewall: pf is not a firewall backend" },
                { "\nfirewal = \"nftables\";\n", "/h.conf:2: firewal: unknown key" },
                { "nat = { ipv4_pool = \"10.88.0.1/16\"; };\n", "/h.conf:1: nat.ipv4_pool: 10.88.0.1/16 has host bits set (did you mean 10.88.0.0/16?)" },
                { "nat = { ipv4_pool = \"10.88.0.0/31\"; };\n", "/h.conf:1: nat.ipv4_pool: 10.88.0.0/31: the pool must hold at least one /30" },
                { "nat = { ipv6_pool = \"10.88.0.0/16\"; };\n", "/h.conf:1: nat.ipv6_pool: 10.88.0.0/16 is not an IPv6 prefix" },
                { "nat = {\n  pool = \"x\"; };\n", "/h.conf:2: nat.pool: unknown key" },
                { "nat = \"x\";\n", "/h.conf:1: nat: expected a group" },
                { "firewall = 1;\n", "/h.conf:1: firewall: expected a string" },
                { "firewall = \n", "/h.conf:" },
                { "state_dir = \"run/diyctl\";\n", "/h.conf:1: state_dir: run/diyctl is not an absolute directory path" },
                { "state_dir = \"/\";\n", "/h.conf:1: state_dir: / is not an absolute directory path" },
                { "state_dir = \"/run/../etc\";\n", "/h.conf:1: state_dir: /run/../etc is not" },
                { "state_dir = \"/run/x/\";\n", "/h.conf:1: state_dir: /run/x/ is not" },
                { "state_dir = 5;\n", "/h.conf:1: state_dir: expected a string" },
                { "log_max_size = \"10X\";\n", "/h.conf:1: log_max_size: 10X is not a size, like \"10M\"" },
                { "log_max_size = -1;\n", "/h.conf:1: log_max_size: the size must not be negative, got -1" },
                { "log_max_size = \"1K\";\n", "/h.conf:1: log_max_size: 1024 bytes is too small: at least 4096" },
                { "\nlog_max_size = true;\n", "/h.conf:2: log_max_size: expected a size like \"10M\"" },
                /* every bad key, one a line, inside nat too */
                { "nat = { ipv4_pool = \"x\"; bogus = 1; };\n",
                  "/h.conf:1: nat.ipv4_pool: x is not an IPv4 prefix like 10.88.0.0/16\n/h.conf:1: nat.bogus: unknown key" },
                { "firewall = \"pf\";\nbogus = 1;\nstate_dir = \"x\";\n",
                  "/h.conf:1: firewall: pf is not a firewall backend (\"iptables\" or \"nftables\")\n"
                  "/h.conf:2: bogus: unknown key (known: firewall, log_max_size, nat, state_dir)\n/h.conf:3: state_dir: x is not" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                h = NULL;
                memset(&err, 0, sizeof(err));
                int r = dc_host_conf_load_string(bad[i].text, "/h.conf", &h, &err);
                CHECK(r < 0 && !h && strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0, "host.conf error %zu: %.*s",
                      i, (int)strcspn(err.msg, "\n"), err.msg);
        }
        /* root's state root from the host config read now: a broken one is an error, not a guess */
        {
                char hc[] = "/tmp/test-net-host.XXXXXX";
                int fd = mkstemp(hc);
                CHECK(fd >= 0 && write(fd, "firewal = 1;\n", 13) == 13, "a broken host.conf");
                if (fd >= 0)
                        close(fd);
                setenv("DIYCTL_HOST_CONF", hc, 1);
                unsetenv("DIYCTL_STATE_ROOT");
                memset(&err, 0, sizeof(err));
                root = dc_state_root_of(0, NULL, &err);
                CHECK(!root && strstr(err.msg, "firewal: unknown key"), "no state root from a broken host.conf: %s",
                      err.msg);
                free(root);
                root = dc_state_root_of(1000, NULL, &err);
                CHECK(root != NULL, "a user's state root does not read it");
                free(root);
                unsetenv("DIYCTL_HOST_CONF");
                unlink(hc);
        }
        r0 = dc_host_conf_load("/nonexistent/host.conf", &h, &err);
        CHECK(r0 == 0 && h && h->firewall == DC_FW_IPTABLES, "a missing file is the defaults");
        dc_host_conf_free(h);
}

static bool has(const struct dc_strv *v, const char *s)
{
        return dc_strv_contains(v, s);
}

static void test_rules(void)
{
        struct dc_fw_port ports[] = { { "tcp", 8080, 80 }, { "udp", 5353, 53 } };
        struct dc_fw_spec s = { "diyctl:web", "dc-web", "10.88.0.4/30", "10.88.0.6", "fd88:0:0:1::/64", "fd88:0:0:1::2",
                                ports, 2 };
        struct dc_strv r = { 0 };
        dc_fw_iptables_rules(&s, &r);
        CHECK(r.n == 2 * 3 + 2 * 4 + 2 * 3, "iptables: 3 base rules per family, 4 (IPv4) / 3 (IPv6) per port: %zu", r.n);
        CHECK(has(&r, "4 nat POSTROUTING -A -s 10.88.0.4/30 ! -o dc-web -m comment --comment diyctl:web -j MASQUERADE"),
              "masquerade the container's subnet");
        CHECK(has(&r, "4 nat PREROUTING -A -m addrtype --dst-type LOCAL -p tcp --dport 8080 -m comment --comment "
                      "diyctl:web -j DNAT --to-destination 10.88.0.6:80"),
              "DNAT from local addresses");
        CHECK(has(&r, "6 nat OUTPUT -A ! -d ::1 -m addrtype --dst-type LOCAL -p udp --dport 5353 -m comment --comment "
                      "diyctl:web -j DNAT --to-destination [fd88:0:0:1::2]:53"),
              "IPv6 DNAT for the host's own traffic, not ::1");
        CHECK(has(&r, "4 nat POSTROUTING -A -s 127.0.0.0/8 -o dc-web -d 10.88.0.6 -p tcp --dport 80 -m comment "
                      "--comment diyctl:web -j MASQUERADE"),
              "localhost port forwards masqueraded");
        bool tagged = true;
        for (size_t i = 0; i < r.n; i++)
                tagged &= strstr(r.v[i], "--comment diyctl:web") != NULL;
        CHECK(tagged, "every iptables rule carries the tag");
        dc_strv_free(&r);

        dc_fw_nft_elements(&s, &r);
        CHECK(r.n == 1 + 2 * 2, "nft: the host end, and per port and family one DNAT element: %zu", r.n);
        CHECK(has(&r, "ifs \"dc-web\""), "the host end in the set of host ends");
        CHECK(has(&r, "dnat4 tcp . 8080 : 10.88.0.6 . 80"), "IPv4 DNAT by protocol and host port");
        CHECK(has(&r, "dnat6 udp . 5353 : fd88:0:0:1::2 . 53"), "IPv6 DNAT");
        for (size_t i = 0; i < r.n; i++) {
                struct dc_nft_elem e;
                CHECK(dc_fw_nft_elem_parse(r.v[i], &e) == 0, "each element parses back: %s", r.v[i]);
        }
        dc_strv_free(&r);
        struct dc_fw_spec no_ports = { "diyctl:b", "dc-b", "10.88.0.8/30", "10.88.0.10", NULL, NULL, NULL, 0 };
        dc_fw_nft_elements(&no_ports, &r);
        CHECK(r.n == 1 && has(&r, "ifs \"dc-b\""), "without ports: only the host end");
        dc_strv_free(&r);

        struct dc_fw_spec only4 = { "diyctl:a", "dc-a", "10.88.0.0/30", "10.88.0.2", NULL, NULL, NULL, 0 };
        dc_fw_iptables_rules(&only4, &r);
        CHECK(r.n == 3, "no ports, no IPv6: 3 iptables rules");
        dc_strv_free(&r);

        struct dc_fw_port p;
        CHECK(dc_fw_port_parse("tcp:8080:80", &p) == 0 && p.host == 8080 && p.container == 80, "port parse");
        CHECK(dc_fw_port_parse("sctp:1:1", &p) < 0 && dc_fw_port_parse("tcp:0:1", &p) < 0 &&
                      dc_fw_port_parse("tcp:1:70000", &p) < 0 && dc_fw_port_parse("tcp:1:2x", &p) < 0,
              "bad ports rejected");
}

static void test_nft(void)
{
        /* the table: fixed, nothing in it names a container */
        size_t n;
        const struct dc_nft_table_item *t = dc_fw_nft_table(&n);
        size_t sets = 0, chains = 0, rules = 0;
        for (size_t i = 0; i < n; i++) {
                sets += strcmp(t[i].what, "set") == 0 || strcmp(t[i].what, "map") == 0;
                chains += strcmp(t[i].what, "chain") == 0;
                rules += strcmp(t[i].what, "rule") == 0;
                CHECK(!strstr(t[i].text, "dc-") && !strstr(t[i].text, "10.88"), "no container in %s", t[i].text);
                CHECK((t[i].chain != NULL) == (strcmp(t[i].what, "rule") == 0), "rules, and only rules, have a chain");
        }
        CHECK(sets == 3 && chains == 4 && rules == 9, "3 sets and maps, 4 base chains, 9 rules: %zu %zu %zu", sets,
              chains, rules);
        char *cmds = dc_fw_nft_table_cmds();
        CHECK(strstr(cmds, "add set inet diyctl ifs { type ifname;") != NULL, "the set of host ends");
        CHECK(strstr(cmds, "add map inet diyctl dnat4 { type inet_proto . inet_service : ipv4_addr . inet_service;") !=
                      NULL,
              "the IPv4 DNAT map");
        CHECK(strstr(cmds, "add chain inet diyctl postrouting { type nat hook postrouting priority srcnat;") != NULL,
              "base chains");
        CHECK(strstr(cmds, "add rule inet diyctl prerouting meta nfproto ipv4 fib daddr type local dnat ip to meta "
                           "l4proto . th dport map @dnat4\n") != NULL,
              "DNAT through the map");
        CHECK(strstr(cmds, "add rule inet diyctl output meta nfproto ipv6 ip6 daddr != ::1 fib daddr type local dnat "
                           "ip6 to meta l4proto . th dport map @dnat6\n") != NULL,
              "IPv6 DNAT of the host's own traffic, not ::1");
        CHECK(strstr(cmds, "add rule inet diyctl postrouting iifname @ifs masquerade\n") != NULL, "masquerade");
        CHECK(strstr(cmds, "interval") == NULL, "no interval set (libnftables would fetch its elements)");
        free(cmds);

        /* elements: parsed strictly, then turned into commands */
        struct dc_nft_elem e;
        CHECK(dc_fw_nft_elem_parse("ifs \"dc-web\"", &e) == 0 && strcmp(e.set, "ifs") == 0 &&
                      strcmp(e.key, "\"dc-web\"") == 0 && e.value[0] == 0,
              "a set element");
        char *c = dc_fw_nft_elem_add_cmd(&e, "diyctl:web");
        CHECK_STREQ(c, "create element inet diyctl ifs { \"dc-web\" comment \"diyctl:web\" }\n", "its add command");
        free(c);
        c = dc_fw_nft_elem_del_cmd(&e);
        CHECK_STREQ(c, "delete element inet diyctl ifs { \"dc-web\" }\n", "its delete command");
        free(c);
        CHECK(dc_fw_nft_elem_parse("dnat6 udp . 5353 : fd88:0:0:1::2 . 53", &e) == 0 &&
                      strcmp(e.key, "udp . 5353") == 0 && strcmp(e.value, "fd88:0:0:1::2 . 53") == 0,
              "a map element");
        c = dc_fw_nft_elem_add_cmd(&e, "diyctl:web");
        CHECK_STREQ(c, "create element inet diyctl dnat6 { udp . 5353 comment \"diyctl:web\" : fd88:0:0:1::2 . 53 }\n",
                    "the comment goes before the value");
        free(c);
        c = dc_fw_nft_elem_del_cmd(&e);
        CHECK_STREQ(c, "delete element inet diyctl dnat6 { udp . 5353 }\n", "deleted by key");
        free(c);
        static const char *const bad[] = {
                "", "ifs", "ifs dc-web", "ifs \"dc-web", "ifs \"\"", "ifs \"dc-web\" }; flush ruleset; {",
                "ifs \"a-name-longer-than-15\"", "ifs \"dc web\"", "ifs \"dc-\\\"x\"", "filter \"dc-web\"",
                "dnat4 tcp . 8080 : 10.88.0.6 . 80 }", "dnat4 tcp . 8080 : fd88::2 . 80", "dnat6 tcp . 8080 : 10.88.0.6 . 80",
                "dnat4 sctp . 8080 : 10.88.0.6 . 80", "dnat4 tcp . 0 : 10.88.0.6 . 80", "dnat4 tcp . 8080 : 10.88.0.6 . 65536",
                "dnat4 tcp . 8080:10.88.0.6 . 80", "dnat4 tcp . 08080 : 10.88.0.6 . 80", "dnat4 tcp . 8080 : 10.88.0.6",
                "dnat4 tcp . 8080 : 10.88.0.6 . 80 comment \"x\"", "dnat4 tcp . -1 : 10.88.0.6 . 80",
                "ifs \"-dc-web\"", "ifs \"..\"", /* names the config refuses too (dc_ifname_valid) */
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++)
                CHECK(dc_fw_nft_elem_parse(bad[i], &e) == -EINVAL, "refused: %s", bad[i]);
}

/* --- plans ------------------------------------------------------------- */

static struct dc_plan *plan_with(const char *text, const struct dc_host_conf *h, struct dc_error *err)
{
        struct dc_config *c = NULL;
        memset(err, 0, sizeof(*err));
        if (dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, err) < 0)
                return NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .skip_fs_checks = true, .cgroups = true, .host = h };
        struct dc_plan *p = NULL;
        dc_plan_build(c, &o, &p, err);
        dc_config_free(c);
        return p;
}

static int find(const struct dc_plan *p, const char *kind, int from)
{
        for (size_t i = (size_t)from; i < p->n; i++)
                if (strcmp(p->steps[i].ops->kind, kind) == 0)
                        return (int)i;
        return -1;
}

static const char *arg(const struct dc_plan *p, int i, const char *key)
{
        return i < 0 ? NULL : dc_kvs_get(&p->steps[i].args, key);
}

static void test_plan_nat(void)
{
        struct dc_error err;
        struct dc_plan *p = plan_with("name = \"web\";\nrootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; ipv6 = "
                                      "true;\n ports = ( { host = 8080; container = 80; } ); };\n",
                                      NULL, &err);
        CHECK(p != NULL, "nat plan (%s)", err.msg);
        if (!p)
                return;
        int spawn = find(p, "spawn", 0), lease = find(p, "lease", 0), ports = find(p, "ports", 0),
            veth = find(p, "veth", 0), fw = find(p, "firewall", 0), resolv = find(p, "resolv", 0);
        CHECK(resolv >= 0 && spawn > resolv && lease > spawn && ports > lease && veth > ports && fw > veth,
              "order: resolv, spawn, lease, ports, veth, ..., firewall");
        CHECK_STREQ(arg(p, lease, "pool4"), "10.88.0.0/16", "default IPv4 pool");
        CHECK_STREQ(arg(p, lease, "len4"), "30", "/30s");
        CHECK_STREQ(arg(p, lease, "pool6"), "fd88::/48", "default IPv6 pool");
        CHECK_STREQ(arg(p, lease, "root"), "/run/diyctl", "the lease registry lives in the state root");
        CHECK_STREQ(arg(p, ports, "port"), "tcp:8080:80", "port reservation");
        CHECK_STREQ(arg(p, veth, "name"), "dc-web", "host end named after the container");
        CHECK_STREQ(arg(p, veth, "peer"), "eth0", "container end is network.interface");
        CHECK_STREQ(arg(p, veth, "route_localnet"), "1", "route_localnet with port forwards");
        CHECK(arg(p, veth, "disable_ipv6") == NULL, "IPv6 on the host end of a container with IPv6");
        int a1 = find(p, "addr", 0), a2 = find(p, "addr", a1 + 1), a3 = find(p, "addr", a2 + 1),
            a4 = find(p, "addr", a3 + 1);
        CHECK(dc_streq(arg(p, a1, "where"), "host") && dc_streq(arg(p, a1, "address"), "@net.ipv4.host"),
              "host end gets the lease's gateway");
        CHECK(dc_streq(arg(p, a2, "address"), "@net.ipv6.host"), "and the IPv6 gateway");
        CHECK(dc_streq(arg(p, a3, "where"), "container") && dc_streq(arg(p, a3, "dev"), "eth0") &&
                      dc_streq(arg(p, a3, "address"), "@net.ipv4.address"),
              "container end gets the lease's address");
        CHECK(dc_streq(arg(p, a4, "address"), "@net.ipv6.address"), "and the IPv6 one");
        int r1 = find(p, "route", 0), r2 = find(p, "route", r1 + 1);
        CHECK(dc_streq(arg(p, r1, "via"), "@net.ipv4.gateway") && dc_streq(arg(p, r2, "family"), "6"),
              "default routes for both families");
        int s1 = find(p, "sysctl", 0), s2 = find(p, "sysctl", s1 + 1);
        CHECK(dc_streq(arg(p, s1, "key"), "net.ipv4.ip_forward") &&
                      dc_streq(arg(p, s2, "key"), "net.ipv6.conf.all.forwarding") && dc_streq(arg(p, s1, "holder"), "web"),
              "forwarding sysctls, held by the container");
        CHECK_STREQ(arg(p, fw, "backend"), "iptables", "default backend");
        CHECK_STREQ(arg(p, fw, "tag"), "diyctl:web", "rules tagged with the container's name");
        CHECK(find(p, "nft-table", 0) < 0, "no nft table with iptables");
        CHECK_STREQ(arg(p, resolv, "mode"), "host", "dns = host by default");
        int b = find(p, "bind", 0);
        while (b >= 0 && !dc_streq(arg(p, b, "target"), "/etc/resolv.conf"))
                b = find(p, "bind", b + 1);
        CHECK(b >= 0 && dc_streq(arg(p, b, "source"), "/run/diyctl/web/resolv.conf") && dc_streq(arg(p, b, "readonly"), "1"),
              "resolv.conf bound read-only from the state dir");
        CHECK(b > find(p, "rootfs", 0) && b < find(p, "pivot-root", 0), "the bind happens inside the new root");
        for (size_t i = 0; i < p->n; i++)
                if (p->steps[i].ops->side == DC_SIDE_HOST && i > (size_t)spawn)
                        CHECK(p->steps[i].ops->undo != NULL, "host step %s has an undo", p->steps[i].ops->kind);
        dc_plan_free(p);

        struct dc_host_conf *h = dc_host_conf_new();
        h->firewall = DC_FW_NFTABLES;
        free(h->nat_pool4);
        h->nat_pool4 = dc_xstrdup("10.99.0.0/20");
        p = plan_with("name = \"db\";\nrootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; dns = [\"10.99.0.53\"]; };\n",
                      h, &err);
        CHECK(p != NULL, "nft plan (%s)", err.msg);
        if (p) {
                int nt = find(p, "nft-table", 0), f = find(p, "firewall", 0);
                CHECK(nt >= 0 && f > nt, "nft table before the rules");
                CHECK_STREQ(arg(p, f, "backend"), "nftables", "backend from host.conf");
                CHECK_STREQ(arg(p, f, "root"), "/run/diyctl", "the host lock's root, to make the table again");
                CHECK_STREQ(arg(p, nt, "holder"), "db", "the table held by the container");
                CHECK_STREQ(arg(p, find(p, "lease", 0), "pool4"), "10.99.0.0/20", "pool from host.conf");
                CHECK(arg(p, find(p, "lease", 0), "pool6") == NULL, "no IPv6 lease without ipv6");
                CHECK(find(p, "ports", 0) < 0, "no port reservation without ports");
                int rs = find(p, "resolv", 0);
                CHECK(dc_streq(arg(p, rs, "mode"), "list") && dc_streq(arg(p, rs, "server"), "10.99.0.53"),
                      "explicit DNS servers");
                CHECK(arg(p, find(p, "veth", 0), "route_localnet") == NULL, "no route_localnet without ports");
                CHECK_STREQ(arg(p, find(p, "veth", 0), "disable_ipv6"), "1", "no IPv6 on the host end without IPv6");
                dc_plan_free(p);
        }
        dc_host_conf_free(h);

        /* a pinned address: the plan shows the real values */
        p = plan_with("name = \"pin\";\nrootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; address = \"10.88.7.6/30\"; "
                      "interface = \"host0\"; };\n",
                      NULL, &err);
        CHECK(p != NULL, "pinned nat plan (%s)", err.msg);
        if (p) {
                int l = find(p, "lease", 0);
                CHECK(dc_streq(arg(p, l, "addr4"), "10.88.7.6/30") && arg(p, l, "pool4") == NULL, "pinned lease");
                CHECK(dc_streq(arg(p, l, "origin4"), "/srv/ct/t.conf:3: network.address"), "with the key's origin");
                int a = find(p, "addr", 0);
                CHECK_STREQ(arg(p, a, "address"), "10.88.7.5/30", "host end: the first other address");
                a = find(p, "addr", a + 1);
                CHECK(dc_streq(arg(p, a, "address"), "10.88.7.6/30") && dc_streq(arg(p, a, "dev"), "host0"),
                      "container end: the pinned address on network.interface");
                CHECK_STREQ(arg(p, find(p, "route", 0), "via"), "10.88.7.5", "default route via the host end");
                CHECK_STREQ(arg(p, find(p, "firewall", 0), "subnet4"), "10.88.7.4/30", "rules for the pinned subnet");
                dc_plan_free(p);
        }
}

static void test_plan_other_modes(void)
{
        struct dc_error err;
        struct dc_plan *p = plan_with("name = \"br\";\nrootfs = { path = \"/r\"; };\nnetwork = { mode = \"bridge\"; bridge = "
                                      "\"br0\";\n address = \"10.5.0.7/24\"; gateway = \"10.5.0.1\"; ipv6 = { address = "
                                      "\"fd00:5::7/64\"; gateway = \"fe80::1\"; }; };\n",
                                      NULL, &err);
        CHECK(p != NULL, "bridge plan (%s)", err.msg);
        if (p) {
                CHECK(find(p, "firewall", 0) < 0 && find(p, "sysctl", 0) < 0, "bridge: no rules, no sysctls");
                int l = find(p, "lease", 0), v = find(p, "veth", 0), bp = find(p, "bridge-port", 0);
                CHECK(l >= 0 && l < v && dc_streq(arg(p, l, "bridge"), "br0") && arg(p, l, "pool4") == NULL &&
                              dc_streq(arg(p, l, "addr4"), "10.5.0.7/24") && dc_streq(arg(p, l, "addr6"), "fd00:5::7/64"),
                      "bridge: a claim of both addresses on br0 before the veth");
                CHECK_STREQ(arg(p, l, "origin6"), "/srv/ct/t.conf:4: network.ipv6.address", "with the key's origin");
                CHECK(v >= 0 && bp > v && dc_streq(arg(p, bp, "bridge"), "br0") && dc_streq(arg(p, v, "mtu_of"), "br0"),
                      "veth, then its host end joins br0 (with its MTU)");
                int a = find(p, "addr", 0);
                CHECK(dc_streq(arg(p, a, "where"), "container") && dc_streq(arg(p, a, "address"), "10.5.0.7/24"),
                      "configured address inside");
                int r = find(p, "route", 0);
                CHECK(dc_streq(arg(p, r, "via"), "10.5.0.1"), "configured gateway");
                r = find(p, "route", r + 1);
                CHECK(dc_streq(arg(p, r, "via"), "fe80::1") && dc_streq(arg(p, r, "family"), "6"),
                      "IPv6 gateway may be link-local");
                dc_plan_free(p);
        }
        p = plan_with("name = \"br\";\nrootfs = { path = \"/r\"; };\nnetwork = { mode = \"bridge\"; bridge = \"br0\"; };\n",
                      NULL, &err);
        CHECK(p && find(p, "addr", 0) < 0 && find(p, "route", 0) < 0 && find(p, "link-up", 0) >= 0 &&
                      find(p, "lease", 0) < 0,
              "bridge without an address: just the link, nothing claimed (%s)", err.msg);
        if (p)
                dc_plan_free(p);

        p = plan_with("rootfs = { path = \"/r\"; };\n", NULL, &err);
        CHECK(p && find(p, "resolv", 0) < 0 && find(p, "veth", 0) < 0, "none: no links, no resolv.conf");
        if (p)
                dc_plan_free(p);
        p = plan_with("rootfs = { path = \"/r\"; };\nnetwork = { dns = [\"127.0.0.1\"]; };\n", NULL, &err);
        CHECK(p && dc_streq(arg(p, find(p, "resolv", 0), "mode"), "list"),
              "none with servers (a resolver inside): resolv.conf (%s)", err.msg);
        if (p)
                dc_plan_free(p);
        p = plan_with("rootfs = { path = \"/r\"; };\nnetwork = { mode = \"host\"; };\n", NULL, &err);
        CHECK(p && dc_streq(arg(p, find(p, "resolv", 0), "mode"), "copy") && find(p, "veth", 0) < 0,
              "host: a copy of the host's resolv.conf");
        if (p)
                dc_plan_free(p);
}

static void test_validation(void)
{
        static const struct {
                const char *net, *msg;
        } bad[] = {
                { "mode = \"nat\"; gateway = \"10.88.0.1\";", "/srv/ct/t.conf:2: network.gateway: in nat mode the gateway" },
                { "mode = \"nat\"; address = \"10.88.0.4/30\";", "/srv/ct/t.conf:2: network.address: 10.88.0.4/30 is the network address" },
                { "mode = \"nat\"; address = \"10.88.0.7/30\";", "/srv/ct/t.conf:2: network.address: 10.88.0.7/30 is the broadcast address" },
                { "mode = \"nat\"; address = \"10.88.0.6/32\";", "/srv/ct/t.conf:2: network.address: 10.88.0.6/32: the prefix must leave room" },
                { "mode = \"nat\"; address = \"127.0.0.2/8\";", "/srv/ct/t.conf:2: network.address: 127.0.0.2/8 is a loopback address" },
                { "mode = \"nat\"; address = \"10.1.2.3/8\";", "/srv/ct/t.conf:2: network.address: 10.1.2.3/8 covers the whole NAT pool 10.88.0.0/16" },
                { "mode = \"nat\"; address = \"10.88.0.6/30\"; gateway = \"10.88.0.9\";", "/srv/ct/t.conf:2: network.gateway: 10.88.0.9 is outside the container's subnet 10.88.0.4/30" },
                { "mode = \"nat\"; address = \"10.88.0.6/30\"; gateway = \"10.88.0.6\";", "/srv/ct/t.conf:2: network.gateway: 10.88.0.6 is the container's own address" },
                { "mode = \"nat\"; ipv6 = { address = \"fe80::2/64\"; };", "/srv/ct/t.conf:2: network.ipv6.address: fe80::2/64 is a link-local address" },
                { "mode = \"nat\"; ipv6 = { address = \"fd88:9::2/64\"; gateway = \"fd88:8::1\"; };", "/srv/ct/t.conf:2: network.ipv6.gateway: fd88:8::1 is outside" },
                { "mode = \"nat\"; interface = \"lo\";", "/srv/ct/t.conf:2: network.interface: \"lo\" is the container's loopback" },
                { "mode = \"bridge\";", "/srv/ct/t.conf:2: network.mode: \"bridge\" needs network.bridge" },
                { "mode = \"bridge\"; bridge = \"br0\"; ports = ( { host = 80; } );", "/srv/ct/t.conf:2: network.ports: port forwards need network.mode \"nat\"" },
                { "mode = \"bridge\"; bridge = \"br0\"; gateway = \"10.0.0.1\";", "/srv/ct/t.conf:2: network.gateway: a gateway needs network.address" },
                { "mode = \"host\"; dns = [\"10.0.0.1\"];", "/srv/ct/t.conf:2: network.dns: with network.mode \"host\"" },
                { "mode = \"none\"; ports = ( { host = 80; } );", "/srv/ct/t.conf:2: network.ports: port forwards need network.mode \"nat\"" },
                { "mode = \"bridge\"; bridge = \"br0\"; ipv6 = true;", "/srv/ct/t.conf:2: network.ipv6: true (an address from the NAT pool) is for network.mode \"nat\"" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[512];
                snprintf(text, sizeof(text), "rootfs = { path = \"/r\"; };\nnetwork = { %s };\n", bad[i].net);
                struct dc_error err;
                struct dc_plan *p = plan_with(text, NULL, &err);
                CHECK(!p && strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0, "invalid network %zu: %s", i, err.msg);
                if (p)
                        dc_plan_free(p);
        }
        /* nat without a net namespace */
        struct dc_error err;
        struct dc_plan *p = plan_with("rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\"];\nnetwork = { mode = "
                                      "\"nat\"; };\n",
                                      NULL, &err);
        CHECK(!p && strstr(err.msg, "network.mode: \"nat\" needs \"net\" in namespaces"), "nat needs a netns: %s", err.msg);
        if (p)
                dc_plan_free(p);
        /* not root */
        struct dc_config *c = NULL;
        dc_config_load_string("rootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; };\n", "/srv/ct/t.conf", NULL, &c,
                              &err);
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .skip_fs_checks = true, .uid = 1000, .gid = 1000 };
        p = NULL;
        int r = c ? dc_plan_build(c, &o, &p, &err) : -1;
        CHECK(r < 0 && strstr(err.msg, "needs root"), "nat needs root: %s", err.msg);
        if (p)
                dc_plan_free(p);
        dc_config_free(c);
}

int main(void)
{
        test_prefix();
        test_pool();
        test_ifname();
        test_host_conf();
        test_rules();
        test_nft();
        test_plan_nat();
        test_plan_other_modes();
        test_validation();
        return tap_done();
}
