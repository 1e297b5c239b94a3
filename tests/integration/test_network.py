"""Issue 5: networking. NAT and bridge modes over netlink, port forwards,
IPv6, DNS, and both firewall backends (host.conf), each test run against
iptables and nftables where rules are involved. The sandbox host is linked
to an outside world (t.wan(): 198.51.100.2, plus fd88:ffff::2 here) that
runs a small HTTP server answering with the client's address."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

TIMEOUT = 240

WAN4 = "198.51.100.2"
HOST4 = "198.51.100.1"
WAN6 = "fd88:ffff::2"
HOST6 = "fd88:ffff::1"
PORT = 8000

SERVER = r'''
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        a = self.client_address[0]
        if a.startswith("::ffff:"):
            a = a[7:]
        body = (a + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
'''

LOOP = 'trap "exit 0" TERM; while true; do sleep 1; done'
HTTPD = 'exec httpd -f -p 80 -h /www'


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def backend(t, name):
    t.host_conf('firewall = "%s";\n' % name)


def wait_port(t, ns, addr, port, timeout=10):
    """Wait until something listens on addr:port (seen from netns ns, or here)."""
    code = ("import socket,sys,time\n"
            "end=time.time()+%r\n"
            "while True:\n"
            "    try:\n"
            "        socket.create_connection((%r,%d),timeout=1).close(); sys.exit(0)\n"
            "    except OSError:\n"
            "        if time.time()>end: sys.exit(1)\n"
            "        time.sleep(0.05)\n" % (timeout, addr, port))
    argv = (["ip", "netns", "exec", ns] if ns else []) + ["python3", "-c", code]
    t.run(argv, check=True, timeout=timeout + 5)


def outside(t, ipv6=True, server_ns="wan"):
    """The outside world with a server on port PORT that answers the client's address."""
    w = t.wan()
    if ipv6:
        t.run(["ip", "addr", "add", HOST6 + "/64", "dev", w["host_if"], "nodad"])
        t.run(["ip", "-n", w["ns"], "addr", "add", WAN6 + "/64", "dev", "eth0", "nodad"])
        t.run(["ip", "-6", "route", "add", "default", "via", WAN6])
    srv = os.path.join(t.tmp, "server.py")
    with open(srv, "w") as f:
        f.write(SERVER)
    t.spawn(["ip", "netns", "exec", w["ns"], "python3", srv, "::", str(PORT)])
    wait_port(t, None, WAN4, PORT)
    return w


def fetch_from(t, ns, url, timeout=10):
    """GET url from netns ns (None: the sandbox host); the body, or None."""
    code = ("import urllib.request,sys\n"
            "try:\n"
            "    print(urllib.request.urlopen(%r, timeout=%d).read().decode(), end='')\n"
            "except Exception as e:\n"
            "    print('ERROR', e); sys.exit(1)\n" % (url, timeout))
    argv = (["ip", "netns", "exec", ns] if ns else []) + ["python3", "-c", code]
    p = t.run(argv, check=False, timeout=timeout + 10)
    return p.stdout.strip() if p.returncode == 0 else None


def nat_conf(t, name, extra="", rootfs=None, args=None, net=""):
    r = rootfs or t.rootfs(name + "-root")
    a = json.dumps(args or ["/bin/sh", "-c", LOOP])
    return t.conf(name, 'name = "%s";\nrootfs = { path = "%s"; writable = "tmpfs"; };\n'
                        'process = { args = %s; init = true; };\n'
                        'network = { mode = "nat"; %s };\n%s' % (name, r, a, net, extra))


def status(t, name):
    return json.loads(t.diyctl("status", "--json", name, check=True).stdout)


def cexec(t, name, cmd, check=True, timeout=30):
    return t.diyctl("exec", name, "--", "/bin/sh", "-c", cmd, check=check, timeout=timeout)


def settled(t, before, tries=10):
    diffs = {}
    for _ in range(tries):
        diffs = t.compare(before, t.snapshot())
        if not diffs:
            return diffs
        time.sleep(0.3)
    return diffs


def no_tentative(t, timeout=10):
    """Wait until IPv6 duplicate address detection is over on every link, so a
    snapshot taken now does not change on its own."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        links = json.loads(t.run(["ip", "-j", "addr"]).stdout)
        if not any(a.get("tentative") for l in links for a in l.get("addr_info", [])):
            return
        time.sleep(0.2)


def stop(t, name):
    t.diyctl("stop", "-t", "2", name, check=True, timeout=60)


# --------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------

def test_mode_none_and_host(t):
    r = t.rootfs()
    none = t.conf("n", 'rootfs = { path = "%s"; };\nnetwork = { mode = "none"; };\n' % r)
    d = t.probe(none)
    t.eq(d["links"], ["lo"], "mode none: only lo")
    host = t.conf("h", 'rootfs = { path = "%s"; };\nnetwork = { mode = "host"; };\n' % r)
    t.run(["ip", "link", "add", "dcnet-a", "type", "veth", "peer", "name", "dcnet-b"])
    t.defer(t.run, ["ip", "link", "del", "dcnet-a"], check=False)
    d = t.probe(host)
    t.ok("dcnet-a" in d["links"], "mode host: the host's links (%s)" % d["links"])
    t.ok(not any(s.startswith("dc-") for s in d["links"]), "mode host: no veth made")


def _nat_outbound(t, fw):
    backend(t, fw)
    outside(t)
    conf = nat_conf(t, "web", args=["/bin/sh", "-c",
                                    "wget -q -O- http://%s:%d/ && wget -q -O- http://[%s]:%d/" % (WAN4, PORT, WAN6, PORT)],
                    net="ipv6 = true;")
    p = t.diyctl("start", conf, check=True, timeout=60)
    lines = p.stdout.split()
    t.eq(lines, [HOST4, HOST6], "the server sees the sandbox host's addresses (masquerade, IPv4 and IPv6)")


def test_nat_outbound_iptables(t):
    _nat_outbound(t, "iptables")


def test_nat_outbound_nftables(t):
    _nat_outbound(t, "nftables")


def _port_forward(t, fw):
    backend(t, fw)
    w = outside(t)
    conf = nat_conf(t, "web", args=["/bin/sh", "-c", HTTPD], net='ipv6 = true; ports = ( { host = 8080; container = 80; } );')
    t.diyctl("start", "-d", conf, check=True)
    t.defer(t.diyctl, "stop", "web", check=False)
    st = status(t, "web")
    ip4 = st["vars"]["net.ipv4.ip"]
    wait_port(t, None, ip4, 80)
    want = "Hello from a diyctl container"
    t.contains(fetch_from(t, w["ns"], "http://%s:8080/" % HOST4) or "", want, "the outside world reaches the forwarded port")
    t.contains(fetch_from(t, w["ns"], "http://[%s]:8080/" % HOST6) or "", want, "over IPv6 too")
    t.contains(fetch_from(t, None, "http://%s:8080/" % HOST4) or "", want, "the host reaches it on its own address")
    t.contains(fetch_from(t, None, "http://127.0.0.1:8080/") or "", want, "and on 127.0.0.1")
    t.contains(fetch_from(t, None, "http://[%s]:8080/" % HOST6) or "", want, "and on its IPv6 address")
    p = cexec(t, "web", "wget -q -O- http://%s:8080/" % HOST4, check=False)
    t.contains(p.stdout, want, "the container reaches its own forwarded port on the host's address (hairpin)")

    # the same port from another container: a clear error, nothing changed
    before = t.snapshot()
    other = nat_conf(t, "other", net='ports = ( { host = 8080; container = 80; } );')
    p = t.diyctl("start", other)
    t.ok(p.returncode != 0, "a second container cannot forward the same port")
    t.contains(p.stderr, "8080/tcp is already forwarded to container web", "the error names the port and holder")
    t.contains(p.stderr, "other.conf:", "the error points at the config line")
    t.eq(settled(t, before), {}, "the refused start left nothing behind")
    stop(t, "web")


def test_port_forward_iptables(t):
    _port_forward(t, "iptables")


def test_port_forward_nftables(t):
    _port_forward(t, "nftables")


def _udp_forward(t, fw):
    backend(t, fw)
    w = outside(t)
    rootfs = t.rootfs("udp-root")
    helper = os.path.join(os.path.dirname(t.probe_bin), "dc-udpecho")
    t.ok(os.path.isfile(helper), "dc-udpecho is built (%s)" % helper)
    subprocess.run(["cp", helper, os.path.join(rootfs, "bin", "dc-udpecho")], check=True)
    conf = nat_conf(t, "udp", rootfs=rootfs, args=["/bin/dc-udpecho", "53"],
                    net='ipv6 = true; ports = ( { host = 5353; container = 53; protocol = "udp"; } );')
    t.diyctl("start", "-d", conf, check=True)
    t.defer(t.diyctl, "stop", "udp", check=False)
    for fam, addr in ((socket.AF_INET, HOST4), (socket.AF_INET6, HOST6)):
        code = ("import socket,sys\n"
                "s=socket.socket(%d,socket.SOCK_DGRAM); s.settimeout(0.5)\n"
                "for i in range(20):\n"
                "    s.sendto(b'ping',(%r,5353))\n"
                "    try:\n"
                "        print(s.recvfrom(100)[0].decode()); sys.exit(0)\n"
                "    except OSError:\n"
                "        pass\n"
                "sys.exit(1)\n" % (fam, addr))
        p = t.run(["ip", "netns", "exec", w["ns"], "python3", "-c", code], check=False, timeout=40)
        t.eq(p.stdout.strip(), "pong ping", "a UDP port forward to %s answers from the container" % addr)
    stop(t, "udp")


def test_udp_forward_iptables(t):
    _udp_forward(t, "iptables")


def test_udp_forward_nftables(t):
    _udp_forward(t, "nftables")


def _parallel(t, fw, n):
    backend(t, fw)
    outside(t, ipv6=False)
    rootfs = t.rootfs("shared-root")
    confs = [nat_conf(t, "p%02d" % i, rootfs=rootfs) for i in range(n)]
    results = [None] * n

    def start(i):
        results[i] = subprocess.run([t.diyctl_bin, "start", "-d", confs[i]], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    names = ["p%02d" % i for i in range(n)]
    for nm in names:
        t.defer(t.diyctl, "stop", "-t", "1", nm, check=False, timeout=60)
    bad = [(names[i], r.returncode, r.stderr.strip()) for i, r in enumerate(results) if r.returncode != 0]
    t.eq(bad, [], "every parallel start succeeded")
    subnets = [status(t, nm)["vars"]["net.ipv4.subnet"] for nm in names]
    t.eq(len(set(subnets)), n, "every container has its own subnet: %s" % subnets)
    for nm in names:
        p = cexec(t, nm, "wget -q -O- http://%s:%d/" % (WAN4, PORT), check=False)
        t.eq((nm, p.stdout.strip()), (nm, HOST4), "%s reaches the outside server" % nm)

    def stopper(nm):
        subprocess.run([t.diyctl_bin, "stop", "-t", "1", nm], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)

    threads = [threading.Thread(target=stopper, args=(nm,)) for nm in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    left = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq(left, [], "all stopped")


def test_parallel_two_iptables(t):
    _parallel(t, "iptables", 2)


def test_parallel_two_nftables(t):
    _parallel(t, "nftables", 2)


def test_parallel_twenty_iptables(t):
    _parallel(t, "iptables", 20)


def test_parallel_twenty_nftables(t):
    _parallel(t, "nftables", 20)


def _shared_refcount(t, fw):
    backend(t, fw)
    outside(t, ipv6=True)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        t.eq(f.read().strip(), "0", "the sandbox starts without forwarding")
    a = nat_conf(t, "a", net="ipv6 = true;")
    b = nat_conf(t, "b", net="ipv6 = true;")
    t.diyctl("start", "-d", a, check=True)
    t.diyctl("start", "-d", b, check=True)
    t.defer(t.diyctl, "stop", "a", check=False)
    t.defer(t.diyctl, "stop", "b", check=False)
    stop(t, "a")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        t.eq(f.read().strip(), "1", "B still holds ip_forward after A stopped")
    p = cexec(t, "b", "wget -q -O- http://%s:%d/ && wget -q -O- http://[%s]:%d/" % (WAN4, PORT, WAN6, PORT))
    t.eq(p.stdout.split(), [HOST4, HOST6], "B still reaches the outside after A stopped")
    stop(t, "b")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        t.eq(f.read().strip(), "0", "ip_forward restored after the last container")
    with open("/proc/sys/net/ipv6/conf/all/forwarding") as f:
        t.eq(f.read().strip(), "0", "IPv6 forwarding restored too")


def test_shared_refcount_iptables(t):
    _shared_refcount(t, "iptables")


def test_shared_refcount_nftables(t):
    _shared_refcount(t, "nftables")


def _crash_every_step(t, fw):
    backend(t, fw)
    conf = nat_conf(t, "crash", net='ipv6 = true; ports = ( { host = 8080; container = 80; } );')
    plan = json.loads(t.diyctl("plan", "--json", conf, check=True).stdout)
    points = [s["index"] for s in plan["steps"] if s["side"] in ("host", "spawn")]
    kinds = [s["kind"] for s in plan["steps"]]
    for k in ("lease", "ports", "veth", "addr", "route", "sysctl", "firewall", "resolv"):
        t.ok(k in kinds, "the plan has a %s step" % k)
    before = t.snapshot()
    for k in points:
        for when in ("before", "after"):
            p = t.diyctl("start", "-d", conf, env={"DIYCTL_FAULT": "%d:%s" % (k, when)})
            t.ok(p.returncode != 0, "start with the fault at %d:%s must not succeed" % (k, when))
            c = t.diyctl("cleanup", "crash")
            t.eq(c.returncode, 0, "cleanup after a kill at %d:%s (%s) (stderr: %s)" % (k, when, kinds[k - 1], c.stderr))
            t.eq(settled(t, before), {}, "host as before after a kill at %d:%s (%s) and cleanup" % (k, when, kinds[k - 1]))
    # killed inside a step: its intent is on disk, the host not yet changed
    for kind in dict.fromkeys(s["kind"] for s in plan["steps"] if s["side"] == "host"):
        p = t.diyctl("start", "-d", conf, env={"DIYCTL_FAULT": "%s:intent" % kind})
        t.ok(p.returncode != 0, "start with the fault after the intent of %s must not succeed" % kind)
        c = t.diyctl("cleanup", "crash")
        t.eq(c.returncode, 0, "cleanup after a kill after the intent of %s (stderr: %s)" % (kind, c.stderr))
        t.eq(settled(t, before), {}, "host as before after a kill after the intent of %s and cleanup" % kind)
    t.diyctl("start", "-d", conf, check=True)
    stop(t, "crash")
    t.eq(settled(t, before), {}, "host as before after a normal start and stop")


def test_crash_every_step_iptables(t):
    _crash_every_step(t, "iptables")


def test_crash_every_step_nftables(t):
    _crash_every_step(t, "nftables")


# --------------------------------------------------------------------------
# leases
# --------------------------------------------------------------------------

def test_lease_skips_what_the_host_uses(t):
    # another runtime's bridge on 10.88.0.0/24 and a VPN-like route for 10.88.1.0/24
    t.run(["ip", "link", "add", "other0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "other0"], check=False)
    t.run(["ip", "addr", "add", "10.88.0.1/24", "dev", "other0"])
    t.run(["ip", "link", "set", "other0", "up"])
    t.run(["ip", "route", "add", "10.88.1.0/24", "dev", "other0"])
    t.run(["ip", "-6", "addr", "add", "fd88::1/64", "dev", "other0", "nodad"])
    conf = nat_conf(t, "l1", net="ipv6 = true;")
    t.diyctl("start", "-d", conf, check=True)
    t.defer(t.diyctl, "stop", "l1", check=False)
    v = status(t, "l1")["vars"]
    t.eq(v["net.ipv4.subnet"], "10.88.2.0/30", "the first /30 clear of the host's address and route")
    t.eq(v["net.ipv4.address"], "10.88.2.2/30", "container address")
    t.eq(v["net.ipv4.gateway"], "10.88.2.1", "gateway on the host end")
    t.eq(v["net.ipv6.subnet"], "fd88:0:0:1::/64", "the first /64 clear of the host's fd88::/64")
    lst = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq([(c["name"], c["addresses"]) for c in lst], [("l1", ["10.88.2.2/30", "fd88:0:0:1::2/64"])],
         "list --json shows the container's addresses")
    t.contains(t.diyctl("list", check=True).stdout, "10.88.2.2/30,fd88:0:0:1::2/64", "and so does list")
    plain = t.diyctl("status", "l1", check=True).stdout
    t.contains(plain, "addresses:  10.88.2.2/30,fd88:0:0:1::2/64", "and status")
    t.ok(re.search(r"^resolved:   net\.ipv4\.\w+ = ", plain, re.M) and
         re.search(r"^ {12}net\.ipv4\.gateway = 10\.88\.2\.1$", plain, re.M),
         "plain status lists what the lease resolved, as --json's vars: %r" % plain)
    links = json.loads(t.run(["ip", "-j", "addr", "show", "dev", "dc-l1"]).stdout)
    addrs = sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in links[0]["addr_info"] if a["scope"] == "global")
    t.eq(addrs, ["10.88.2.1/30", "fd88:0:0:1::1/64"], "the host end holds the gateways")

    # a pinned address overlapping the host's bridge: a clear error
    bad = nat_conf(t, "l2", net='address = "10.88.0.200/24";')
    p = t.diyctl("start", bad)
    t.ok(p.returncode != 0, "a pinned address on the host's subnet is refused")
    t.contains(p.stderr, "l2.conf:4: network.address: 10.88.0.200/24 overlaps 10.88.0.0/24 (the address 10.88.0.1/24 on other0)",
               "the error says what it overlaps")
    # one overlapping another container's lease
    bad = nat_conf(t, "l3", net='address = "10.88.2.1/30";')
    p = t.diyctl("start", bad)
    t.contains(p.stderr, "overlaps 10.88.2.0/30 (the lease of container l1)", "and another container's lease")
    # a pinned address elsewhere works, and the next lease steps over it
    ok = nat_conf(t, "l4", net='address = "10.88.2.6/30";')
    t.diyctl("start", "-d", ok, check=True)
    t.defer(t.diyctl, "stop", "l4", check=False)
    t.eq(status(t, "l4")["vars"]["net.ipv4.gateway"], "10.88.2.5", "pinned: gateway is the other address")
    nxt = nat_conf(t, "l5")
    t.diyctl("start", "-d", nxt, check=True)
    t.defer(t.diyctl, "stop", "l5", check=False)
    t.eq(status(t, "l5")["vars"]["net.ipv4.subnet"], "10.88.2.8/30", "the next lease skips the pinned one")
    for n in ("l5", "l4", "l1"):
        stop(t, n)


def test_lease_skips_every_kind_of_route(t):
    """Routes in any table but local count, whatever their type, and so do
    routes inside a candidate subnet (a /32, an IPv6 /128)."""
    t.run(["ip", "link", "add", "other0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "other0"], check=False)
    t.run(["ip", "link", "set", "other0", "up"])
    for r in (["10.88.0.0/24", "dev", "other0", "table", "100"], ["blackhole", "10.88.1.0/24"],
              ["unreachable", "10.88.2.0/23"], ["10.88.4.1/32", "dev", "other0"]):
        t.run(["ip", "route", "add"] + r)
        t.defer(t.run, ["ip", "route", "del"] + r, check=False)
    for r in (["fd88::/64", "dev", "other0", "table", "200"], ["fd88:0:0:1::5/128", "dev", "other0"]):
        t.run(["ip", "-6", "route", "add"] + r)
        t.defer(t.run, ["ip", "-6", "route", "del"] + r, check=False)
    t.diyctl("start", "-d", nat_conf(t, "k1", net="ipv6 = true;"), check=True)
    t.defer(t.diyctl, "stop", "k1", check=False)
    v = status(t, "k1")["vars"]
    t.eq(v["net.ipv4.subnet"], "10.88.4.4/30", "past table 100's, the blackhole's, the unreachable /23 and a /32 inside")
    t.eq(v["net.ipv6.subnet"], "fd88:0:0:2::/64", "past table 200's /64 and a /128 inside the next one")
    p = t.diyctl("start", nat_conf(t, "k2", net='address = "10.88.2.130/25";'))
    t.contains(p.stderr, "overlaps 10.88.2.0/23 (the route 10.88.2.0/23)", "a pinned address in the unreachable /23")
    stop(t, "k1")


def test_pool_from_host_conf(t):
    t.host_conf('firewall = "nftables";\nnat = { ipv4_pool = "10.88.64.0/29"; ipv6_pool = "fd88:0:0:100::/63"; };\n')
    rootfs = t.rootfs("r")
    for i in range(2):
        t.diyctl("start", "-d", nat_conf(t, "q%d" % i, rootfs=rootfs, net="ipv6 = true;"), check=True)
        t.defer(t.diyctl, "stop", "q%d" % i, check=False)
    t.eq([status(t, "q%d" % i)["vars"]["net.ipv4.subnet"] for i in range(2)], ["10.88.64.0/30", "10.88.64.4/30"],
         "leases from the configured pool")
    t.eq([status(t, "q%d" % i)["vars"]["net.ipv6.subnet"] for i in range(2)],
         ["fd88:0:0:100::/64", "fd88:0:0:101::/64"], "IPv6 leases from the configured pool")
    p = t.diyctl("start", nat_conf(t, "q2", rootfs=rootfs))
    t.ok(p.returncode != 0, "a full pool is an error")
    t.contains(p.stderr, "the NAT pool 10.88.64.0/29 has no free /30 left (2 taken by containers: q0, q1; the rest",
               "and says so, naming the holders")
    for i in range(2):
        stop(t, "q%d" % i)
    t.host_conf('nat = { ipv4_pool = "10.88.64.1/29"; };\n')
    p = t.diyctl("check", nat_conf(t, "q3", rootfs=rootfs))
    t.ok(p.returncode != 0, "a bad host.conf is an error")
    t.contains(p.stderr, "/etc/diyctl/host.conf:1: nat.ipv4_pool: 10.88.64.1/29 has host bits set", "with file and line")


# --------------------------------------------------------------------------
# bridge
# --------------------------------------------------------------------------

def test_bridge_address_of_the_host_is_refused(t):
    # The container's address on the bridge may not be one the host has
    # (here the bridge's own): check refuses it, naming file, line and key.
    t.run(["ip", "link", "add", "br0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "br0"], check=False)
    t.run(["ip", "addr", "add", "10.88.201.1/24", "dev", "br0"])
    r = t.rootfs()
    bad = t.conf("bb", 'rootfs = { path = "%s"; };\n'
                       'network = { mode = "bridge"; bridge = "br0";\n  address = "10.88.201.1/24"; };\n' % r)
    p = t.diyctl("check", bad)
    t.eq(p.returncode, 1, "the bridge's own address is refused")
    t.contains(p.stderr, "bb.conf:3: network.address: 10.88.201.1/24 is already an address of this host "
               "(the address 10.88.201.1/24 on br0)", "naming the key and where the address is")
    ok = t.conf("bo", 'rootfs = { path = "%s"; };\n'
                      'network = { mode = "bridge"; bridge = "br0"; address = "10.88.201.2/24"; };\n' % r)
    t.diyctl("check", ok, check=True)


def test_bridge_mode(t):
    t.run(["ip", "link", "add", "br0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "br0"], check=False)
    t.run(["ip", "link", "set", "br0", "mtu", "1400"])
    t.run(["ip", "addr", "add", "10.88.200.1/24", "dev", "br0"])
    t.run(["ip", "link", "set", "br0", "up"])
    # another namespace on the same bridge, with a server
    t.run(["ip", "netns", "add", "peer"])
    t.defer(t.run, ["ip", "netns", "del", "peer"], check=False)
    t.run(["ip", "link", "add", "dcpeer", "type", "veth", "peer", "name", "eth0", "netns", "peer"])
    t.defer(t.run, ["ip", "link", "del", "dcpeer"], check=False)
    t.run(["ip", "link", "set", "dcpeer", "master", "br0", "up"])
    t.run(["ip", "-n", "peer", "addr", "add", "10.88.200.3/24", "dev", "eth0"])
    t.run(["ip", "-n", "peer", "link", "set", "eth0", "up"])
    t.run(["ip", "-n", "peer", "link", "set", "lo", "up"])
    srv = os.path.join(t.tmp, "server.py")
    with open(srv, "w") as f:
        f.write(SERVER)
    t.spawn(["ip", "netns", "exec", "peer", "python3", srv, "::", str(PORT)])
    wait_port(t, "peer", "10.88.200.3", PORT)

    r = t.rootfs()
    conf = t.conf("br", 'name = "br";\nrootfs = { path = "%s"; };\n'
                        'network = { mode = "bridge"; bridge = "br0"; address = "10.88.200.2/24"; gateway = "10.88.200.1"; };\n'
                        'process = { args = [ "/bin/sh", "-c", "wget -q -O- http://10.88.200.3:%d/; ip route; '
                        'cat /sys/class/net/eth0/mtu" ]; };\n' % (r, PORT))
    no_tentative(t)
    before = t.snapshot()
    p = t.diyctl("start", conf, check=True, timeout=60)
    out = p.stdout.splitlines()
    t.eq(out[0], "10.88.200.2", "the peer on the bridge sees the container's own address")
    t.contains(p.stdout, "default via 10.88.200.1 dev eth0", "default route via the configured gateway")
    t.eq(out[-1], "1400", "the veth took the bridge's MTU")
    t.eq(settled(t, before), {}, "the bridge is as before (port removed)")

    # a missing bridge is a validation error
    bad = t.conf("nobr", 'rootfs = { path = "%s"; };\nnetwork = { mode = "bridge";\n bridge = "nosuchbr"; };\n' % r)
    p = t.diyctl("check", bad)
    t.ok(p.returncode != 0, "check refuses a missing bridge")
    t.contains(p.stderr, "nobr.conf:3: network.bridge: there is no bridge nosuchbr on this host", "with file and line")
    notbr = t.conf("notbr", 'rootfs = { path = "%s"; };\nnetwork = { mode = "bridge"; bridge = "dcpeer"; };\n' % r)
    p = t.diyctl("check", notbr)
    t.contains(p.stderr, "network.bridge: dcpeer is not a bridge", "a link that is not a bridge")


def test_bridge_address_held_by_one_container(t):
    # Two containers on one bridge with the same address would answer ARP
    # for it in turn. The second start is refused, names the holder, and
    # leaves the host as it was; once the holder stops the address is free.
    t.run(["ip", "link", "add", "br0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "br0"], check=False)
    t.run(["ip", "link", "set", "br0", "up"])
    r = t.rootfs()

    def conf(name, addr, extra=""):
        return t.conf(name, 'name = "%s";\nrootfs = { path = "%s"; };\n'
                            'network = { mode = "bridge"; bridge = "br0";\n  address = "%s";%s };\n'
                            'process = { args = [ "/bin/sh", "-c", %s ]; init = true; };\n'
                            % (name, r, addr, extra, json.dumps(LOOP)))

    one = conf("one", "10.88.203.2/24", ' ipv6 = { address = "fd88:203::2/64"; };')
    t.diyctl("start", "-d", one, check=True, timeout=60)
    t.defer(t.diyctl, "stop", "-t", "2", "one", check=False)
    p = t.diyctl("plan", conf("two", "10.88.203.2/24"), check=True)
    t.contains(p.stdout, "claim 10.88.203.2/24 on bridge br0 for two", "plan shows the claim")

    no_tentative(t)
    before = t.snapshot()
    p = t.diyctl("start", "-d", conf("two", "10.88.203.2/24"), timeout=60)
    t.ok(p.returncode != 0, "a second container with the same address is refused")
    t.contains(p.stderr, "two.conf:4: network.address: 10.88.203.2/24 is already the address of container one "
               "on bridge br0", "naming the file, line, key and holder")
    # the same address with another prefix length is the same address
    p = t.diyctl("start", "-d", conf("two", "10.88.203.2/16"), timeout=60)
    t.contains(p.stderr, "is already the address of container one", "whatever its prefix length")
    p = t.diyctl("start", "-d", conf("six", "10.88.203.6/24", ' ipv6 = { address = "fd88:203::2/64"; };'),
                 timeout=60)
    t.contains(p.stderr, "six.conf:4: network.ipv6.address: fd88:203::2/64 is already the address of container one",
               "an IPv6 address too")
    t.eq(settled(t, before), {}, "the refused starts changed nothing on the host")

    # an address inside a NAT container's lease (its container end) is
    # taken too, though no host address shows it
    t.diyctl("start", "-d", nat_conf(t, "natty", rootfs=r, net='address = "10.88.205.2/30";'), check=True,
             timeout=60)
    t.defer(t.diyctl, "stop", "-t", "2", "natty", check=False)
    p = t.diyctl("start", "-d", conf("five", "10.88.205.2/24"), timeout=60)
    t.contains(p.stderr, "five.conf:4: network.address: 10.88.205.2/24 is in 10.88.205.0/30, the NAT lease of "
               "container natty", "a NAT lease holds it")
    stop(t, "natty")

    # another address on the same bridge is fine
    t.diyctl("start", "-d", conf("three", "10.88.203.3/24"), check=True, timeout=60)
    t.defer(t.diyctl, "stop", "-t", "2", "three", check=False)
    out = t.diyctl("exec", "three", "--", "ip", "-4", "-o", "addr", "show", "eth0", check=True).stdout
    t.contains(out, "10.88.203.3/24", "the other container has its address")

    # once the holder has stopped, the address is free again
    stop(t, "one")
    t.diyctl("start", "-d", conf("two", "10.88.203.2/24"), check=True, timeout=60)
    t.defer(t.diyctl, "stop", "-t", "2", "two", check=False)
    stop(t, "two")
    # and once a holder killed with -9 is cleaned up
    os.kill(status(t, "three")["launcher_pid"], signal.SIGKILL)
    t.wait_for(lambda: json.loads(t.diyctl("status", "--json", "three").stdout or "{}").get("state") == "dead",
               msg="the launcher is gone")
    p = t.diyctl("start", "-d", conf("four", "10.88.203.3/24"), timeout=60)
    t.contains(p.stderr, "already the address of container three, whose launcher is gone (diyctl cleanup three "
               "frees it) on bridge br0", "a dead holder's claim stands until cleanup, and says so")
    t.diyctl("cleanup", "three", check=True)
    t.diyctl("start", "-d", conf("four", "10.88.203.3/24"), check=True, timeout=60)
    t.defer(t.diyctl, "stop", "-t", "2", "four", check=False)
    stop(t, "four")


# --------------------------------------------------------------------------
# DNS
# --------------------------------------------------------------------------

def test_dns(t):
    r = t.rootfs()
    with open(os.path.join(r, "etc", "resolv.conf"), "w") as f:
        f.write("nameserver 10.88.9.9\n")
    args = '[ "/bin/cat", "/etc/resolv.conf" ]'
    explicit = t.conf("d1", 'rootfs = { path = "%s"; };\nprocess = { args = %s; };\n'
                            'network = { mode = "nat"; dns = [ "10.88.250.53", "fd88:ffff::53" ]; };\n' % (r, args))
    out = t.diyctl("start", explicit, check=True).stdout
    t.eq([l for l in out.splitlines() if l.startswith("nameserver")],
         ["nameserver 10.88.250.53", "nameserver fd88:ffff::53"], "the configured servers")
    with open(os.path.join(r, "etc", "resolv.conf")) as f:
        t.eq(f.read(), "nameserver 10.88.9.9\n", "the rootfs's own resolv.conf is untouched")

    # "host": a local stub is replaced by the upstream servers it publishes
    saved = None
    if os.path.exists("/etc/resolv.conf"):
        with open("/etc/resolv.conf") as f:
            saved = f.read()

    def restore():
        if saved is None:
            os.unlink("/etc/resolv.conf")
        else:
            with open("/etc/resolv.conf", "w") as f:
                f.write(saved)
    t.defer(restore)
    with open("/etc/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.test\n")
    os.makedirs("/run/systemd/resolve", exist_ok=True)
    t.defer(t.run, ["rm", "-rf", "/run/systemd"], check=False)
    with open("/run/systemd/resolve/resolv.conf", "w") as f:
        f.write("nameserver 10.88.250.1\nnameserver fd88:ffff::1\nsearch example.test\n")
    host = t.conf("d2", 'rootfs = { path = "%s"; };\nprocess = { args = %s; };\n'
                        'network = { mode = "nat"; };\n' % (r, args))
    out = t.diyctl("start", host, check=True).stdout
    t.eq([l for l in out.splitlines() if not l.startswith("#")],
         ["nameserver 10.88.250.1", "options edns0 trust-ad", "search example.test"],
         "the stub's upstream servers (IPv4 only without IPv6), with the host's options and search")
    host6 = t.conf("d3", 'rootfs = { path = "%s"; };\nprocess = { args = %s; };\n'
                         'network = { mode = "nat"; ipv6 = true; };\n' % (r, args))
    out = t.diyctl("start", host6, check=True).stdout
    t.contains(out, "nameserver fd88:ffff::1", "IPv6 servers with IPv6")
    # a host that points at real servers: used as they are
    with open("/etc/resolv.conf", "w") as f:
        f.write("nameserver 10.88.250.7\n")
    p = t.diyctl("start", host, check=True)
    t.eq([l for l in p.stdout.splitlines() if not l.startswith("#")], ["nameserver 10.88.250.7"], "the host's servers")
    t.ok("note" not in p.stderr, "no note when the container gets a name server: %r" % p.stderr)
    # only a loopback server and no stub's upstream list: none, and start says so
    t.run(["rm", "-rf", "/run/systemd"])
    with open("/etc/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\n")
    p = t.diyctl("start", host, check=True)
    t.eq([l for l in p.stdout.splitlines() if not l.startswith("#")], [], "no name server the container can reach")
    t.contains(p.stderr, "note: d2 gets no name server: the host's /etc/resolv.conf has none it can reach",
               "start says so and what to do (network.dns)")
    t.contains(p.stderr, "set network.dns", "and what to do")
    p = t.diyctl("start", "-d", host, "--set", 'process.args=["/bin/sleep", "60"]', check=True)
    t.contains(p.stderr, "note: d2 gets no name server", "start -d says so too, where its caller sees it")
    t.diyctl("stop", "-t", "1", "d2", check=True)
    # read-only inside
    p = t.diyctl("start", host, "--set", 'process.args=["/bin/sh", "-c", "echo x >> /etc/resolv.conf"]')
    t.ok(p.returncode != 0, "the container cannot write its resolv.conf")
    with open(os.path.join(r, "etc", "resolv.conf")) as f:
        t.eq(f.read(), "nameserver 10.88.9.9\n", "the rootfs's own resolv.conf is still untouched")


# --------------------------------------------------------------------------
# plan, status, check
# --------------------------------------------------------------------------

def test_plan_shows_every_change(t):
    t.host_conf('firewall = "nftables";\n')
    conf = nat_conf(t, "web", net='ipv6 = true; ports = ( { host = 8080; container = 80; } );')
    out = t.diyctl("plan", conf, check=True).stdout
    for want in ("next free /30 of 10.88.0.0/16", "next free /64 of fd88::/48", "reserve host port 8080/tcp",
                 "create veth pair dc-web (host) <-> eth0", "add address <the IPv4 gateway of the lease> to dc-web",
                 "add the IPv4 default route via", "add the IPv6 default route via",
                 "set net.ipv4.ip_forward = 1", "set net.ipv6.conf.all.forwarding = 1",
                 "nftables table inet diyctl", "postrouting: iifname @ifs masquerade",
                 "prerouting: meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @dnat4",
                 'create element inet diyctl ifs { "dc-web" comment "diyctl:web" }',
                 'create element inet diyctl dnat4 { tcp . 8080 comment "diyctl:web" : <the leased IPv4 address> . 80 }',
                 'create element inet diyctl dnat6 { tcp . 8080 comment "diyctl:web" : <the leased IPv6 address> . 80 }',
                 "route_localnet = 1",
                 "bind /run/diyctl/web/resolv.conf on /etc/resolv.conf (read-only)"):
        t.contains(out, want, "plan shows: %s" % want)
    t.host_conf('firewall = "iptables";\n')
    pinned = nat_conf(t, "pin", net='address = "10.88.7.6/30";')
    out = t.diyctl("plan", pinned, check=True).stdout
    for want in ("the pinned subnet of 10.88.7.6/30", "add address 10.88.7.5/30 to dc-pin",
                 "net.ipv6.conf.dc-pin.disable_ipv6 = 1 (the container has no IPv6)",
                 "add address 10.88.7.6/30 to eth0", "via 10.88.7.5 dev eth0",
                 "iptables -w -t nat -A POSTROUTING -s 10.88.7.4/30 ! -o dc-pin -m comment --comment diyctl:pin -j MASQUERADE"):
        t.contains(out, want, "pinned plan shows: %s" % want)


def nft_elements(t):
    """Every element of the table inet diyctl: {set: [(key, comment)]}, and
    the table's rules as text."""
    doc = json.loads(t.run(["nft", "-j", "list", "table", "inet", "diyctl"]).stdout)
    elems, rules = {}, []
    for it in doc["nftables"]:
        if "set" in it or "map" in it:
            st = it.get("set") or it.get("map")
            lst = elems.setdefault(st["name"], [])
            for e in st.get("elem", []):
                value = None
                if isinstance(e, list):  # a map's [key, value]
                    e, value = e
                e = e.get("elem", e) if isinstance(e, dict) else e
                key = e.get("val") if isinstance(e, dict) and "val" in e else e
                lst.append((json.dumps([key, value], sort_keys=True),
                            e.get("comment") if isinstance(e, dict) else None))
        if "rule" in it:
            rules.append(json.dumps(it["rule"]["expr"], sort_keys=True))
    return elems, rules


def comments(elems):
    return sorted(c for lst in elems.values() for _, c in lst)


def test_journal_and_exact_removal(t):
    """Rules and links that look like ours but are not stay; ours go."""
    for fw in ("iptables", "nftables"):
        backend(t, fw)
        conf = nat_conf(t, "j", net='ports = ( { host = 8080; container = 80; } );')
        # a rule of the admin's own that matches our container's subnet
        t.run(["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.88.0.0/30", "-m", "comment", "--comment",
               "admin", "-j", "MASQUERADE"])
        if fw == "nftables":
            # another container keeps the table (and its elements must stay)
            t.diyctl("start", "-d", nat_conf(t, "k", net='ports = ( { host = 8081; container = 80; } );'), check=True)
            t.defer(t.diyctl, "stop", "k", check=False)
        t.diyctl("start", "-d", conf, check=True)
        j = t.diyctl("journal", "j", check=True).stdout
        t.contains(j, "firewall", "the journal records the firewall step")
        if fw == "iptables":
            t.contains(j, "MASQUERADE", "with the exact rule specs")
            # one of ours removed by hand: teardown still removes the rest
            spec = next(l for l in t.run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout.splitlines()
                        if "diyctl:j" in l and "MASQUERADE" in l)
            t.run(["iptables", "-t", "nat"] + spec.replace("-A ", "-D ", 1).replace('"', "").split())
        else:
            ip = status(t, "j")["vars"]["net.ipv4.ip"]
            t.contains(j, 'elem=ifs "dc-j"', "with the exact nft elements: the host end")
            t.contains(j, "elem=dnat4 tcp . 8080 : %s . 80" % ip, "and the port forward")
            t.eq(comments(nft_elements(t)[0]), ["diyctl:j", "diyctl:j", "diyctl:k", "diyctl:k"],
                 "two elements each, tagged")
            t.run(["nft", "delete", "element", "inet", "diyctl", "ifs", '{ "dc-j" }'])
        stop(t, "j")
        save = t.run(["iptables-save", "-t", "nat"]).stdout
        t.contains(save, "--comment admin", "the admin's look-alike rule is still there")
        t.ok("diyctl:j" not in save, "ours are gone")
        if fw == "nftables":
            t.eq(comments(nft_elements(t)[0]), ["diyctl:k", "diyctl:k"], "only the other container's elements are left")
            stop(t, "k")
        t.ok("diyctl" not in t.run(["nft", "list", "ruleset"]).stdout.replace("--comment admin", ""),
             "nothing of diyctl is left in nftables")
        t.run(["iptables", "-t", "nat", "-D", "POSTROUTING", "-s", "10.88.0.0/30", "-m", "comment", "--comment",
               "admin", "-j", "MASQUERADE"])


def test_nft_table_made_again_after_flush(t):
    """After `nft flush ruleset`, the next start makes the table again (its
    rules would otherwise be missing), and stopping the older container, whose
    elements went with the flush, deletes nothing of the newer one's."""
    backend(t, "nftables")
    w = outside(t, ipv6=False)
    rootfs = t.rootfs("r")
    t.diyctl("start", "-d", nat_conf(t, "old", rootfs=rootfs, net='ports = ( { host = 8080; container = 80; } );'),
             check=True)
    t.defer(t.diyctl, "stop", "old", check=False)
    t.run(["nft", "flush", "ruleset"])
    t.diyctl("start", "-d", nat_conf(t, "new", rootfs=rootfs, args=["/bin/sh", "-c", HTTPD],
                                     net='ports = ( { host = 8081; container = 80; } );'), check=True)
    t.defer(t.diyctl, "stop", "new", check=False)
    elems, rules = nft_elements(t)
    t.eq(len(rules), 9, "the table is whole again: its 9 rules")
    t.eq(comments(elems), ["diyctl:new", "diyctl:new"], "with the newer container's elements")
    stop(t, "old")
    after, rules_after = nft_elements(t)
    t.eq(after, elems, "the newer container's elements survive the older one's teardown")
    t.eq(rules_after, rules, "and so do the table's rules")
    p = cexec(t, "new", "wget -q -O- http://%s:%d/" % (WAN4, PORT), check=False)
    t.eq(p.stdout.strip(), HOST4, "the newer container still reaches the outside")
    wait_port(t, None, status(t, "new")["vars"]["net.ipv4.ip"], 80)
    t.contains(fetch_from(t, w["ns"], "http://%s:8081/" % HOST4) or "", "Hello from a diyctl container",
               "and its port forward works")
    stop(t, "new")


def test_nft_element_taken_is_refused_and_kept(t):
    """An element whose key is already in the table (added by hand, or left
    behind) refuses the start, which then deletes nothing of it."""
    backend(t, "nftables")
    rootfs = t.rootfs("r")
    t.diyctl("start", "-d", nat_conf(t, "a", rootfs=rootfs), check=True)
    t.defer(t.diyctl, "stop", "a", check=False)
    t.run(["nft", "add", "element", "inet", "diyctl", "dnat4", "{ tcp . 8090 : 192.0.2.9 . 80 }"])
    before = t.snapshot()
    p = t.diyctl("start", nat_conf(t, "b", rootfs=rootfs, net='ports = ( { host = 8090; container = 80; } );'))
    t.ok(p.returncode != 0, "the start is refused")
    t.contains(p.stderr, "already holds an element with one of the keys of diyctl:b", "and says why")
    t.eq(settled(t, before), {}, "nothing changed: the element that was there stays, nothing of b is left")
    t.run(["nft", "delete", "element", "inet", "diyctl", "dnat4", "{ tcp . 8090 }"])
    stop(t, "a")


def test_nft_table_left_behind_is_made_anew(t):
    """A table inet diyctl that no container holds (left by a failed
    teardown, or an older diyctl) is replaced by the first start, whole."""
    backend(t, "nftables")
    before = t.snapshot()
    t.run(["nft", "add table inet diyctl; add chain inet diyctl forward { type filter hook forward priority 0; }; "
                  "add rule inet diyctl forward counter comment \"diyctl:gone\""])
    t.diyctl("start", "-d", nat_conf(t, "fresh"), check=True)
    t.defer(t.diyctl, "stop", "fresh", check=False)
    elems, rules = nft_elements(t)
    t.eq(len(rules), 9, "the table's own 9 rules, nothing left of the old one")
    t.eq(comments(elems), ["diyctl:fresh"], "and the container's element")
    stop(t, "fresh")
    t.eq(settled(t, before), {}, "the last container deletes it")


def test_nft_many_containers_only_elements(t):
    """30 NAT containers with the nftables backend: the table's rules stay the
    same 9 (a container adds only elements), every container answers on its
    forwarded port, and stopping them all leaves the host as it was."""
    backend(t, "nftables")
    w = outside(t, ipv6=False)
    no_tentative(t)
    before = t.snapshot()
    rootfs = t.rootfs("many")
    n = 30
    names = ["m%02d" % i for i in range(n)]
    for i, nm in enumerate(names):
        t.diyctl("start", "-d", nat_conf(t, nm, rootfs=rootfs, args=["/bin/sh", "-c", HTTPD],
                                         net="ports = ( { host = %d; container = 80; } );" % (9000 + i)),
                 check=True)
        t.defer(t.diyctl, "stop", "-t", "1", nm, check=False, timeout=60)
        if i == 0:
            _, first_rules = nft_elements(t)
    elems, rules = nft_elements(t)
    t.eq(rules, first_rules, "the rules are the same with 30 containers as with one")
    t.eq(len(rules), 9, "9 rules")
    t.ok(not any("dc-m" in r or "10.88." in r for r in rules), "no rule names a container")
    t.eq(sorted(c for _, c in elems.get("ifs", [])), ["diyctl:" + nm for nm in names], "one host end per container")
    t.eq(sorted(c for _, c in elems.get("dnat4", [])), ["diyctl:" + nm for nm in names], "one port forward each")
    t.eq(elems.get("dnat6", []), [], "no IPv6 forwards without IPv6")
    t.eq(t.run(["ip", "-6", "-o", "addr", "show", "dev", "dc-m00"]).stdout, "",
         "no IPv6 (not even link-local) on the host end of a container without IPv6")
    with open("/proc/sys/net/ipv6/conf/dc-m00/disable_ipv6") as f:
        t.eq(f.read().strip(), "1", "IPv6 disabled on it")
    for i, nm in enumerate(names):
        wait_port(t, None, status(t, nm)["vars"]["net.ipv4.ip"], 80)
        t.contains(fetch_from(t, w["ns"], "http://%s:%d/" % (HOST4, 9000 + i)) or "", "Hello from a diyctl container",
                   "%s answers on its port %d" % (nm, 9000 + i))
    t.diyctl("stop", "-t", "1", *names, check=True, timeout=240)
    t.eq(settled(t, before), {}, "the host is as before")
