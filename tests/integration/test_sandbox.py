"""Tests of the test framework itself: the sandbox is private, the host-state
snapshot sees every kind of change it is meant to see, and the runner reports
failures, leaks, skips and timeouts. Each of these can fail."""

import json
import os
import re
import sys
import textwrap
import time

RUN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run.py")


def _mounts():
    res = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()
            dash = p.index("-", 6)
            res[p[4]] = p[dash + 1]
    return res


def _link_kind(t):
    """A link type for scratch links: dummy if the kernel has it, else ifb (this
    machine's kernel is built without CONFIG_DUMMY and has no modules)."""
    for kind in ("dummy", "ifb"):
        p = t.run(["ip", "link", "add", "dcprobe0", "type", kind], check=False)
        if p.returncode == 0:
            t.run(["ip", "link", "del", "dcprobe0"])
            return kind
    t.fail("neither dummy nor ifb links can be created here")


def test_sandbox_is_private(t):
    # Network: not the host's namespace (the runner passes the host's netns id).
    t.ok(t.host_netns, "the runner did not pass DC_TEST_HOST_NETNS")
    own = os.readlink("/proc/self/ns/net")
    t.ok(own != t.host_netns, "the test runs in the host's network namespace (%s)" % own)
    # Only loopback, and it is up.
    links = json.loads(t.run(["ip", "-j", "link"]).stdout)
    t.eq([l["ifname"] for l in links], ["lo"], "links in a fresh sandbox")
    t.contains(links[0]["flags"], "UP", "lo is not up")
    # A link made here exists here (and, the netns being private, only here).
    t.run(["ip", "link", "add", "dctest0", "type", _link_kind(t)])
    t.contains(t.run(["ip", "-j", "link"]).stdout, '"dctest0"', "dummy link not created")
    t.run(["ip", "link", "del", "dctest0"])

    # PID namespace: PID 1 is the sandbox's init (run.py --inner), not the host's.
    with open("/proc/1/cmdline", "rb") as f:
        init = f.read().split(b"\0")
    t.contains(init, b"--inner", "PID 1 is not the sandbox init: %r" % init)
    t.ok(os.getpid() != 1 and os.getppid() == 1, "the test is not a child of the sandbox init")

    # Mounts: private /run and /var/lib/diyctl, overlay on /etc.
    m = _mounts()
    t.eq(m.get("/run"), "tmpfs", "/run is not a private tmpfs")
    t.eq(m.get("/var/lib/diyctl"), "tmpfs", "/var/lib/diyctl is not a private tmpfs")
    t.eq(m.get("/etc"), "overlay", "/etc is not a private overlay")
    t.ok(not os.path.exists("/run/diyctl"), "/run/diyctl exists in a fresh sandbox")

    # cgroups: own namespace, rooted at the sandbox's cgroup in every hierarchy.
    with open("/proc/self/cgroup") as f:
        paths = [l.rstrip("\n").split(":", 2)[2] for l in f]
    t.eq(sorted(set(paths)), ["/"], "the sandbox does not have its own cgroup namespace root")
    host_ns = json.loads(os.environ.get("DC_TEST_HOST_NS", "{}"))
    for kind in ("net", "mnt", "pid", "cgroup"):
        t.ok(host_ns.get(kind), "the runner did not pass the host's %s namespace" % kind)
        t.ok(os.readlink("/proc/self/ns/" + kind) != host_ns[kind], "the %s namespace is the host's" % kind)
    t.ok(os.path.isdir("/sys/fs/cgroup"), "no /sys/fs/cgroup")

    # Private temp dir.
    t.ok(os.path.isdir(t.tmp) and not os.listdir(t.tmp), "t.tmp is not a fresh empty dir")


def test_snapshot_is_stable(t):
    a = t.snapshot()
    for key in ("ip -d link", "ip addr", "ip route", "ip -6 route", "nft ruleset", "iptables-save",
                "ip6tables-save", "mountinfo", "sysctl", "/run/diyctl", "/var/lib/diyctl", "/run/netns"):
        t.contains(a, key, "snapshot part missing")
    for key, lines in a.items():
        t.ok(not any(l.startswith("<error") for l in lines), "snapshot part %s failed: %s" % (key, lines))
    time.sleep(1.5)
    b = t.snapshot()
    t.eq(t.compare(a, b), {}, "two snapshots of an idle sandbox differ")


def _wait_equal(t, before, timeout=5):
    end = time.monotonic() + timeout
    while True:
        d = t.compare(before, t.snapshot())
        if not d or time.monotonic() > end:
            return d
        time.sleep(0.2)


def test_snapshot_detects_leaks(t):
    kind = _link_kind(t)
    before = t.snapshot()
    mnt = os.path.join(t.tmp, "mnt")
    os.mkdir(mnt)
    cg = "/sys/fs/cgroup/pids/diyctl-leaktest"
    if not os.path.isdir("/sys/fs/cgroup/pids"):
        cg = "/sys/fs/cgroup/diyctl-leaktest"

    # One change of each kind the snapshot must see, and where it must show.
    changes = [
        ("scratch link", ["ip", "link", "add", "dcleak0", "type", kind], ["ip", "link", "del", "dcleak0"],
         "ip -d link", "dcleak0"),
        ("link up", ["ip", "link", "set", "dcleak0", "up"], None, "ip -d link", "UP"),
        ("address", ["ip", "addr", "add", "203.0.113.1/24", "dev", "dcleak0"], None, "ip addr", "203.0.113.1"),
        ("route", ["ip", "route", "add", "198.18.0.0/16", "dev", "dcleak0"], None, "ip route", "198.18.0.0/16"),
        ("ipv6 route", ["ip", "-6", "route", "add", "2001:db8:1::/64", "dev", "dcleak0"], None,
         "ip -6 route", "2001:db8:1::/64"),
        ("nft table", ["nft", "add table inet dcleak"], ["nft", "delete table inet dcleak"],
         "nft ruleset", "dcleak"),
        ("iptables rule", ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.88.0.0/30", "-j", "MASQUERADE"],
         ["iptables", "-t", "nat", "-D", "POSTROUTING", "-s", "10.88.0.0/30", "-j", "MASQUERADE"],
         "iptables-save", "MASQUERADE"),
        ("ip6tables rule", ["ip6tables", "-A", "FORWARD", "-s", "fd88::/64", "-j", "ACCEPT"],
         ["ip6tables", "-D", "FORWARD", "-s", "fd88::/64", "-j", "ACCEPT"], "ip6tables-save", "fd88::/64"),
        ("sysctl", ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"],
         "sysctl", "net.ipv4.ip_forward = 1"),
        ("tmpfs mount", ["mount", "-t", "tmpfs", "dcleak", mnt], ["umount", mnt], "mountinfo", mnt),
        ("state dir", ["mkdir", "-p", "/run/diyctl/leak"], ["rm", "-rf", "/run/diyctl"], "/run/diyctl", "leak"),
        ("lib dir", ["touch", "/var/lib/diyctl/leak"], ["rm", "-f", "/var/lib/diyctl/leak"],
         "/var/lib/diyctl", "leak"),
        ("cgroup", ["mkdir", cg], ["rmdir", cg], "cgroups", "diyctl-leaktest"),
        ("netns", ["ip", "netns", "add", "dcleak"], ["ip", "netns", "delete", "dcleak"], "/run/netns", "dcleak"),
    ]
    undo = []
    try:
        for what, do, undo_cmd, key, needle in changes:
            mid = t.snapshot()
            t.run(do)
            if undo_cmd:
                undo.append(undo_cmd)
            diffs = t.compare(mid, t.snapshot())
            part = next((k for k in diffs if k.startswith(key)), None)
            t.ok(part is not None, "snapshot missed a %s: differences seen: %s" % (what, list(diffs)))
            t.contains(diffs[part], needle, "the diff of %s does not show the %s" % (part, what))
        all_diffs = t.compare(before, t.snapshot())
        for _, _, _, key, _ in changes:
            t.ok(any(k.startswith(key) for k in all_diffs), "%s missing from the total diff" % key)
    finally:
        for u in reversed(undo):
            t.run(u, check=False)
    # iptables-nft leaves its (now empty) nat and filter tables behind; the
    # snapshot must treat that as the state before.
    t.eq(_wait_equal(t, before), {}, "host state differs after undoing every change")


def test_snapshot_ignores_counters_not_rules(t):
    before = t.snapshot()
    t.run(["iptables", "-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"])
    t.run(["nft", "add table ip dccount; add chain ip dccount out { type filter hook output priority 0; };"
                  " add rule ip dccount out counter"])
    mid = t.snapshot()
    t.run(["busybox", "ping", "-c", "2", "-W", "1", "127.0.0.1"], check=False)
    counters = t.run(["nft", "list", "table", "ip", "dccount"]).stdout
    t.ok(re.search(r"packets [1-9]", counters), "no packets counted; the test proves nothing:\n" + counters)
    t.eq(t.compare(mid, t.snapshot()), {}, "packet counters made the snapshot differ")
    # A policy change on an otherwise empty built-in chain is a real change.
    t.run(["iptables", "-D", "OUTPUT", "-o", "lo", "-j", "ACCEPT"])
    t.run(["nft", "delete table ip dccount"])
    t.run(["iptables", "-P", "FORWARD", "DROP"])
    d = t.compare(before, t.snapshot())
    t.ok(any(k.startswith("iptables-save") for k in d), "policy DROP not seen: %s" % list(d))
    t.run(["iptables", "-P", "FORWARD", "ACCEPT"])
    t.eq(_wait_equal(t, before), {}, "host state differs after the clean-up")


def test_wan_outside_world(t):
    w = t.wan()
    www = os.path.join(t.tmp, "www")
    os.mkdir(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello from wan\n")
    t.spawn(["ip", "netns", "exec", w["ns"], "busybox", "httpd", "-f", "-p", "80", "-h", www])
    url = "http://%s/" % w["wan_ip"]
    body = t.wait_for(lambda: t.run("timeout 5 busybox wget -q -O- %s" % url, check=False).stdout,
                      timeout=10, msg="the server in the wan namespace does not answer")
    t.eq(body, "hello from wan\n", "wan server content")


def test_pty_run(t):
    def script(p):
        p.expect(r"name\?")
        p.sendline("world")
        p.expect(r"hello world")
    rc = t.pty_run(["sh", "-c", "echo 'name?'; read n; echo \"hello $n\"; "
                    "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; tty; exit 3"], script, timeout=10)
    t.eq(rc, 3, "exit code through the pty")
    t.contains(t.pty_output, "on-a-tty", "stdin/stdout are not a terminal")
    t.ok(re.search(r"/dev/pts/\d+", t.pty_output), "tty did not name a pty: %r" % t.pty_output)
    # expect() must fail when the output does not come.
    try:
        t.pty_run(["sh", "-c", "echo nope"], [(r"never-printed", None)], timeout=3)
    except AssertionError as e:
        t.contains(str(e), "never-printed", "the failure message does not name the regex")
    else:
        t.fail("expect() did not fail on missing output")


def test_rootfs_and_probe(t):
    r = t.rootfs()
    with open(os.path.join(r, "etc", "diyctl-rootfs")) as f:
        t.eq(f.read().strip(), "diyctl busybox rootfs", "marker file")
    t.eq(os.readlink(os.path.join(r, "usr", "bin", "wget")), "../../bin/busybox", "applet link")
    t.eq(t.run(["chroot", r, "/bin/sh", "-c", "echo $((6*7))"]).stdout, "42\n", "busybox sh in a chroot")
    r2 = t.rootfs("second")
    t.ok(r2 != r and os.path.isfile(os.path.join(r2, "bin", "busybox")), "second copy")
    if not os.path.isfile(t.probe_bin):
        t.skip("dc-probe not built at %s" % t.probe_bin)
    t.ok(os.path.isfile(os.path.join(r, "bin", "dc-probe")), "probe not copied into the rootfs")
    p = t.run(["chroot", r, "/bin/dc-probe", "a b"])
    d = t.parse_probe(p)
    t.eq(d["argv"], ["/bin/dc-probe", "a b"], "probe argv")
    t.eq(d["mounts"], None, "no /proc in a plain chroot: mounts must be null")
    t.eq(t.run(["chroot", r, "/bin/dc-probe", "exit", "7"], check=7).returncode, 7, "probe exit")
    w = json.loads(t.run(["chroot", r, "/bin/dc-probe", "write", "/nonexistent/x"]).stdout)
    t.eq((w["ok"], w["errno"]), (False, 2), "probe write to a missing dir")


META_TESTS = '''
import os, signal, time

def test_pass(t):
    t.eq(1, 1)

def test_fail(t):
    t.eq(1, 2, "one is not two")

KIND = "ifb"  # this kernel has no dummy links

def test_leak(t):
    t.run(["ip", "link", "add", "dcmetaleak", "type", KIND])

def test_skip(t):
    t.skip("not here")

def test_crash(t):
    raise ValueError("boom")

def test_deferred_cleanup(t):
    t.run(["ip", "link", "add", "dcmetaok", "type", KIND])
    t.defer(t.run, ["ip", "link", "del", "dcmetaok"])
'''

META_TIMEOUT_TESTS = '''
import signal, time
TIMEOUT = 2

def test_soft_timeout(t):
    time.sleep(60)

def test_hard_timeout(t):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    time.sleep(60)
'''


def _meta_run(t, d, *args, env=None):
    e = {"DIYCTL_TEST_CACHE": os.path.join(t.tmp, "cache"), "DC_TEST_RUNDIR": t.tmp,
         "DC_TEST_KILL_GRACE": "2", "CI": "", "DIYCTL_TEST_NO_SKIP": ""}
    e.update(env or {})
    return t.run([sys.executable, RUN_PY, "--dir", d] + list(args), check=False, env=e, timeout=90)


def _tap(out):
    """{test name: (ok?, comment text)}"""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^(ok|not ok) \d+ - (\S+)(.*)$", line)
        if m:
            cur = m.group(2)
            res[cur] = [m.group(1) == "ok", m.group(3)]
        elif line.startswith("#") and cur:
            res[cur][1] += "\n" + line
    return res


def test_runner_reports_failures(t):
    d = os.path.join(t.tmp, "meta")
    os.mkdir(d)
    with open(os.path.join(d, "test_meta.py"), "w") as f:
        f.write(textwrap.dedent(META_TESTS))
    with open(os.path.join(d, "test_meta_timeout.py"), "w") as f:
        f.write(textwrap.dedent(META_TIMEOUT_TESTS))

    with open(os.path.join(d, "test_meta.py"), "a") as f:
        f.write("KIND = %r\n" % _link_kind(t))
    p = _meta_run(t, d, "-j", "2")
    tap = _tap(p.stdout)
    want = {
        "test_meta.py::test_pass": (True, None),
        "test_meta.py::test_fail": (False, "one is not two"),
        "test_meta.py::test_leak": (False, "dcmetaleak"),
        "test_meta.py::test_skip": (True, "# SKIP not here"),
        "test_meta.py::test_crash": (False, "ValueError: boom"),
        "test_meta.py::test_deferred_cleanup": (True, None),
        "test_meta_timeout.py::test_soft_timeout": (False, "timed out after 2 s"),
        "test_meta_timeout.py::test_hard_timeout": (False, "sandbox killed"),
    }
    for name, (ok, text) in want.items():
        t.contains(tap, name, "test missing from the TAP output:\n" + p.stdout)
        t.eq(tap[name][0], ok, "TAP status of %s:\n%s" % (name, p.stdout))
        if text:
            t.contains(tap[name][1], text, "TAP comment of %s" % name)
    t.contains(tap["test_meta.py::test_leak"][1], "host state changed: ip -d link", "leak diff")
    lines = p.stdout.strip().splitlines()
    t.eq(lines[0], "1..8", "TAP plan")
    t.eq(lines[-1], "2 passed, 5 failed, 1 skipped", "summary line")
    t.eq(p.returncode, 1, "runner exit code with failures")

    # A skip is a failure when skips are not allowed.
    for env in ({"DIYCTL_TEST_NO_SKIP": "1"}, {"CI": "true"}):
        p = _meta_run(t, d, "-k", "test_skip", env=env)
        t.eq(p.stdout.strip().splitlines()[-1], "0 passed, 1 failed, 0 skipped", "strict skip with %s" % env)
        t.eq(p.returncode, 1, "exit code of a strict skip")
    # All passing: exit 0.
    p = _meta_run(t, d, "-k", "test_pass")
    t.eq((p.stdout.strip().splitlines()[-1], p.returncode), ("1 passed, 0 failed, 0 skipped", 0), "passing run")
    # The nested runs left no sandbox cgroups behind in ours.
    left = [x for x in os.listdir("/sys/fs/cgroup/pids") if x.startswith("dctest-")] \
        if os.path.isdir("/sys/fs/cgroup/pids") else []
    t.eq(left, [], "sandbox cgroups left behind")


def test_host_unchanged_fails_on_a_leak(t):
    before = t.snapshot()
    t.host_unchanged(before, "an idle sandbox must compare equal")
    t.run(["ip", "link", "add", "dcleak0", "type", _link_kind(t)])
    try:
        t.host_unchanged(before, "expected to fail")
        failed = False
    except AssertionError as e:
        failed = "dcleak0" in str(e) or "ip -d link" in str(e)
    t.run(["ip", "link", "del", "dcleak0"])
    t.ok(failed, "host_unchanged did not report a leaked link")
    t.host_unchanged(before, "equal again once the link is gone")
