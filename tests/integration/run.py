#!/usr/bin/env python3
"""diyctl integration tests: each test function runs in its own sandbox host.

Usage:
    run.py [-k SUBSTRING] [-j JOBS] [--dir DIR] [--keep] [-v] [--list]

Discovers DIR/test_*.py (DIR defaults to this directory); every top-level
function test_xxx(t) is one test. Each test runs in a throwaway sandbox:

    unshare --net --mount --pid --fork --mount-proc --propagation private \
        python3 run.py --inner PATH::FUNC

Inside, before the test: own cgroup namespace (the sandbox gets its own
cgroup in every hierarchy, and /sys/fs/cgroup shows only that subtree),
tmpfs on /run and /var/lib/diyctl, a tmpfs overlay on /etc (so a test may
write /etc/diyctl/host.conf or /etc/subuid), `ip link set lo up`, a private
temp dir, then a SNAPSHOT of the host state (DESIGN.md, "Host state that
tests compare"). After the test (and its deferred clean-ups) the snapshot is
taken again; any difference fails the test with a diff.

Output is TAP, ending with one line "N passed, N failed, N skipped"; exit
status 1 when anything failed. A skip never counts as a pass; with CI=true or
DIYCTL_TEST_NO_SKIP=1 it counts as a failure.

Environment: DIYCTL (default <repo>/build/diyctl), DC_PROBE (default
<repo>/build/tests/dc-probe), DIYCTL_TEST_CACHE (default
/var/tmp/diyctl-test-cache; the busybox rootfs is built there once per run).

Other modes, used by tools/test.sh:
    run.py --sandbox -- CMD...        run CMD in a sandbox host, exit with its code
    run.py --host-snapshot FILE       save the snapshot of the real host
    run.py --host-compare FILE        compare the real host with it; exit 1 on a difference

Python 3 standard library only.
"""

import argparse
import ast
import concurrent.futures
import ctypes
import difflib
import errno
import fcntl
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_PY = os.path.abspath(__file__)

DEFAULT_TIMEOUT = 120
# Extra time the outer runner gives a test after its TIMEOUT before it kills the
# sandbox: the inner side raises a timeout in the test at TIMEOUT, then still
# runs clean-ups and the snapshot comparison.
KILL_GRACE = float(os.environ.get("DC_TEST_KILL_GRACE", "60"))
CLEANUP_TIMEOUT = 45
CACHE_DIR = os.environ.get("DIYCTL_TEST_CACHE", "/var/tmp/diyctl-test-cache")

STATE_DIRS = ["/run/diyctl", "/var/lib/diyctl"]
NETNS_DIR = "/run/netns"
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_MAXDEPTH = 4
# Our own per-sandbox cgroups must not match the "diyctl" filter of the snapshot.
SANDBOX_CGROUP_PREFIX = "dctest-"

# sysctls diyctl may touch. Global ones, plus a few per-interface ones for
# every interface that exists at snapshot time.
SYSCTLS = [
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv4.conf.all.proxy_arp",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
]
SYSCTLS_PER_IF4 = ["forwarding", "route_localnet", "proxy_arp"]
SYSCTLS_PER_IF6 = ["forwarding"]

CLONE_NEWCGROUP = 0x02000000
MNT_DETACH = 2


def no_skip_mode():
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("DIYCTL_TEST_NO_SKIP") == "1"


# --------------------------------------------------------------------------
# Host-state snapshot
# --------------------------------------------------------------------------

def _run_tool(argv):
    """stdout of a tool, or None plus an error text (kept in the snapshot, so a
    tool that fails the same way both times compares equal)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    except FileNotFoundError:
        return None, "%s: not installed" % argv[0]
    except subprocess.TimeoutExpired:
        return None, "%s: timed out" % " ".join(argv)
    if p.returncode != 0:
        return None, "%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip())
    return p.stdout, None


def _ip_json(argv):
    out, err = _run_tool(argv)
    if out is None:
        return None, err
    out = out.strip()
    if not out:
        return [], None
    try:
        return json.loads(out), None
    except ValueError as e:
        return None, "%s: bad JSON: %s" % (" ".join(argv), e)


def _pretty(obj):
    return json.dumps(obj, indent=1, sort_keys=True).splitlines()


def _drop_timers(d):
    # Bridge and bridge-port details (ip -d) include running timers
    # (gc_timer, hello_timer, message_age_timer, ...) that tick on their own.
    return {k: v for k, v in d.items() if not k.endswith("_timer")}


def _snap_links():
    links, err = _ip_json(["ip", "-d", "-j", "link", "show"])
    if links is None:
        return ["<error: %s>" % err]
    res = {}
    for link in links:
        link = dict(link)
        info = link.get("linkinfo")
        if isinstance(info, dict):
            info = dict(info)
            for k in ("info_data", "info_slave_data"):
                if isinstance(info.get(k), dict):
                    info[k] = _drop_timers(info[k])
            link["linkinfo"] = info
        res[link.get("ifname", "?%s" % link.get("ifindex"))] = link
    return _pretty(res)


def _snap_addrs():
    links, err = _ip_json(["ip", "-j", "addr", "show"])
    if links is None:
        return ["<error: %s>" % err]
    res = {}
    for link in links:
        addrs = []
        for a in link.get("addr_info", []):
            a = dict(a)
            # Lifetimes of non-permanent addresses count down every second.
            for k in ("valid_life_time", "preferred_life_time"):
                if k in a and a[k] != 4294967295:
                    a[k] = "finite"
            addrs.append(a)
        addrs.sort(key=lambda x: json.dumps(x, sort_keys=True))
        res[link.get("ifname", "?%s" % link.get("ifindex"))] = addrs
    return _pretty(res)


def _snap_routes(family):
    # "table all": the main table as `ip -j route` shows it, plus local and any
    # other table, so policy routing tables diyctl might use are covered too.
    argv = ["ip"] + (["-6"] if family == 6 else []) + ["-j", "route", "show", "table", "all"]
    routes, err = _ip_json(argv)
    if routes is None:
        return ["<error: %s>" % err]
    # RA-learned IPv6 routes carry a countdown.
    routes = [{k: v for k, v in r.items() if k != "expires"} for r in routes]
    return sorted(json.dumps(r, sort_keys=True) for r in routes)


def _zero_nft(obj):
    """Zero packet/byte counters and quota usage, drop set-element expiry countdowns."""
    if isinstance(obj, list):
        return [_zero_nft(x) for x in obj]
    if isinstance(obj, dict):
        res = {}
        for k, v in obj.items():
            if k == "expires":
                continue
            if k in ("packets", "bytes", "used") and isinstance(v, int):
                res[k] = 0
            else:
                res[k] = _zero_nft(v)
        return res
    return obj


IPT_FAMILIES = ("ip", "ip6", "arp", "bridge")
IPT_TABLES = ("filter", "nat", "mangle", "raw", "security", "broute")
IPT_CHAINS = ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING", "BROUTING")


def normalize_nft(items):
    """iptables-nft creates a table and its built-in base chain on first use and
    never deletes them, even when the last rule is removed. An empty built-in
    chain with policy accept filters nothing, so "absent" and "empty" are the
    same state: drop such chains, and iptables' tables left empty by that, so a
    correct teardown compares equal. Any rule, user chain, set or policy change
    still shows."""
    items = _zero_nft(items)
    ruled = set()
    for it in items:
        r = it.get("rule")
        if isinstance(r, dict):
            ruled.add((r.get("family"), r.get("table"), r.get("chain")))

    def empty_builtin(c):
        return (c.get("family") in IPT_FAMILIES and c.get("table") in IPT_TABLES
                and c.get("name") in IPT_CHAINS and "hook" in c
                and c.get("policy", "accept") == "accept"
                and (c.get("family"), c.get("table"), c.get("name")) not in ruled)

    items = [it for it in items if not (isinstance(it.get("chain"), dict) and empty_builtin(it["chain"]))]
    used = set()
    for it in items:
        for k, v in it.items():
            if k not in ("table", "metainfo") and isinstance(v, dict):
                used.add((v.get("family"), v.get("table")))

    def empty_ipt_table(t):
        return (t.get("family") in IPT_FAMILIES and t.get("name") in IPT_TABLES
                and (t.get("family"), t.get("name")) not in used)

    return [it for it in items if not (isinstance(it.get("table"), dict) and empty_ipt_table(it["table"]))]


def _snap_nft():
    doc, err = _ip_json(["nft", "-j", "list", "ruleset"])
    if doc is None:
        return ["<error: %s>" % err]
    items = doc.get("nftables", []) if isinstance(doc, dict) else []
    return [json.dumps(it, sort_keys=True) for it in normalize_nft(items)]


def normalize_iptables_save(text):
    """Drop '#' comment lines (they hold a timestamp), zero [packets:bytes], and
    drop tables that hold nothing but built-in chains with policy ACCEPT and no
    rules (see normalize_nft: iptables-nft leaves them behind)."""
    lines = [re.sub(r"\[\d+:\d+\]", "[0:0]", l) for l in text.splitlines()
             if l.strip() and not l.startswith("#")]
    out, block = [], None
    for l in lines:
        if l.startswith("*"):
            block = [l]
            continue
        if block is None:
            out.append(l)
            continue
        block.append(l)
        if l == "COMMIT":
            body = block[1:-1]
            trivial = all(re.match(r"^:(%s) ACCEPT \[0:0\]$" % "|".join(IPT_CHAINS), b) for b in body)
            if not trivial:
                out.extend(block)
            block = None
    if block:
        out.extend(block)
    return out


def _snap_iptables(tool):
    out, err = _run_tool([tool])
    if out is None:
        return ["<error: %s>" % err]
    return normalize_iptables_save(out)


def _snap_mountinfo():
    try:
        with open("/proc/self/mountinfo") as f:
            return f.read().splitlines()
    except OSError as e:
        return ["<error: %s>" % e]


def _read_sysctl(name):
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "(absent)"


def _snap_sysctls():
    names = list(SYSCTLS)
    for fam, keys in (("ipv4", SYSCTLS_PER_IF4), ("ipv6", SYSCTLS_PER_IF6)):
        try:
            ifs = sorted(os.listdir("/proc/sys/net/%s/conf" % fam))
        except OSError:
            continue
        for i in ifs:
            if i in ("all", "default"):
                continue
            for k in keys:
                # interface names may contain dots; sysctl's own syntax uses '/' then
                names.append("net.%s.conf.%s.%s" % (fam, i.replace(".", "/"), k))
    return ["%s = %s" % (n, _read_sysctl(n)) for n in names]


def _walk_cgroups(root, maxdepth, match="diyctl"):
    res = []

    def walk(d, depth):
        if depth > maxdepth:
            return
        try:
            entries = os.scandir(d)
        except OSError:
            return
        with entries:
            for e in entries:
                try:
                    if not e.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                rel = os.path.relpath(e.path, root)
                if match in e.name:
                    res.append(rel)
                walk(e.path, depth + 1)

    walk(root, 1)
    return sorted(res)


def _snap_cgroups():
    return _walk_cgroups(CGROUP_ROOT, CGROUP_MAXDEPTH)


def _list_tree(top):
    if not os.path.lexists(top):
        return ["(absent)"]
    res = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            try:
                m = os.lstat(p).st_mode
            except OSError:
                continue
            kind = ("dir" if stat.S_ISDIR(m) else "link" if stat.S_ISLNK(m) else
                    "socket" if stat.S_ISSOCK(m) else "fifo" if stat.S_ISFIFO(m) else "file")
            res.append("%s (%s)" % (os.path.relpath(p, top), kind))
    return res


def _snap_netns():
    try:
        return sorted(os.listdir(NETNS_DIR))
    except OSError:
        return []


def snapshot():
    """The host state as {name: [lines]}."""
    s = {}
    s["ip -d link"] = _snap_links()
    s["ip addr"] = _snap_addrs()
    s["ip route"] = _snap_routes(4)
    s["ip -6 route"] = _snap_routes(6)
    s["nft ruleset"] = _snap_nft()
    s["iptables-save"] = _snap_iptables("iptables-save")
    s["ip6tables-save"] = _snap_iptables("ip6tables-save")
    s["mountinfo"] = _snap_mountinfo()
    s["sysctl"] = _snap_sysctls()
    s["cgroups (*diyctl* under %s)" % CGROUP_ROOT] = _snap_cgroups()
    for d in STATE_DIRS:
        s[d] = _list_tree(d)
    s[NETNS_DIR] = _snap_netns()
    return s


def compare(before, after):
    """{name: readable unified diff} for every part that differs; {} when equal."""
    res = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key, ["(missing)"]), after.get(key, ["(missing)"])
        if a != b:
            diff = difflib.unified_diff(a, b, "before", "after", lineterm="", n=2)
            res[key] = "\n".join(diff)
    return dict(sorted(res.items()))


def format_differences(diffs):
    out = []
    for key, text in diffs.items():
        out.append("host state changed: %s" % key)
        out.extend("    " + l for l in text.splitlines())
    return out


def settled_compare(before, tries=8, interval=0.5):
    """Compare, retrying for a few seconds: some effects of a teardown land
    asynchronously (link carrier/operstate via linkwatch, IPv6 DAD, cgroup
    removal after the last task exits)."""
    diffs = {}
    for i in range(tries):
        diffs = compare(before, snapshot())
        if not diffs:
            return diffs
        if i + 1 < tries:
            time.sleep(interval)
    return diffs


# --------------------------------------------------------------------------
# Sandbox set-up: cgroups
# --------------------------------------------------------------------------

def _mountinfo():
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            try:
                dash = parts.index("-", 6)
            except ValueError:
                continue
            unesc = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
            res.append({"id": parts[0], "parent": parts[1], "root": unesc(parts[3]),
                        "mountpoint": unesc(parts[4]), "options": parts[5],
                        "fstype": parts[dash + 1], "source": unesc(parts[dash + 2]),
                        "super": parts[dash + 3] if len(parts) > dash + 3 else ""})
    return res


def _cgroup_mounts():
    """The cgroup file systems mounted at or under /sys/fs/cgroup, topmost mount per point."""
    byp = {}
    for m in _mountinfo():
        mp = m["mountpoint"]
        if mp == CGROUP_ROOT or mp.startswith(CGROUP_ROOT + "/"):
            byp[mp] = m  # later entries cover earlier ones
    return [byp[k] for k in sorted(byp)]


V1_NONCONTROLLER_OPTS = {"rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode",
                         "favordynmods", "nsdelegate", "memory_recursiveprot",
                         "memory_localevents", "memory_hugetlb_accounting", "none"}


def _v1_key(super_opts):
    return frozenset(o for o in super_opts.split(",")
                     if o and o not in V1_NONCONTROLLER_OPTS and not o.startswith("release_agent="))


def _own_cgroups():
    """{('v2',) or frozenset(controllers): path} from /proc/self/cgroup."""
    res = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctrls == "":
                res["v2"] = path
            else:
                res[frozenset(ctrls.split(","))] = path
    return res


class CgroupSandbox:
    """One cgroup per hierarchy for a sandbox, created by the outer runner under
    its own cgroup. The sandbox joins them and unshares its cgroup namespace, so
    what diyctl creates under /sys/fs/cgroup inside lands below these, and
    parallel sandboxes never see each other's cgroups."""

    def __init__(self, name):
        self.name = name
        self.dirs = {}  # mountpoint -> host directory of the sandbox cgroup
        self.warnings = []

    def create(self):
        try:
            own = _own_cgroups()
            mounts = _cgroup_mounts()
        except OSError as e:
            self.warnings.append("cgroup isolation off: %s" % e)
            return self
        for m in mounts:
            if m["fstype"] == "cgroup2":
                path = own.get("v2")
            elif m["fstype"] == "cgroup":
                path = own.get(_v1_key(m["super"]))
            else:
                continue
            if path is None or m["root"] != "/":
                self.warnings.append("cgroup isolation off for %s" % m["mountpoint"])
                continue
            parent = os.path.join(m["mountpoint"], path.lstrip("/"))
            d = os.path.join(parent, self.name)
            try:
                os.mkdir(d)
                self.dirs[m["mountpoint"]] = d
                # cgroup v1 cpuset: a new cgroup has no CPUs/memory nodes until told.
                for f in ("cpuset.cpus", "cpuset.mems"):
                    pf, cf = os.path.join(parent, f), os.path.join(d, f)
                    if not os.path.exists(cf):
                        continue
                    with open(cf) as cur:
                        if cur.read().strip():
                            continue
                    with open(pf) as src:
                        val = src.read().strip()
                    with open(cf, "w") as dst:
                        dst.write(val)
            except OSError as e:
                self.warnings.append("cgroup isolation off for %s: %s" % (m["mountpoint"], e))
        return self

    def destroy(self, timeout=10.0):
        """Remove the sandbox cgroups (and anything a test left below them)."""
        left = []
        deadline = time.monotonic() + timeout
        for d in self.dirs.values():
            while True:
                try:
                    for sub in sorted(_all_subdirs(d), key=lambda p: -p.count("/")):
                        try:
                            os.rmdir(sub)
                        except FileNotFoundError:
                            pass
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if time.monotonic() > deadline:
                        left.append("%s: %s" % (d, e))
                        break
                    time.sleep(0.1)
        return left


def _all_subdirs(d):
    res = []
    for dirpath, dirnames, _ in os.walk(d):
        for n in dirnames:
            res.append(os.path.join(dirpath, n))
    return res


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _sh(argv, check=True):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stdout.strip()))
    return p


def _enter_cgroups(dirs):
    """Join the sandbox cgroups, unshare the cgroup namespace and mount
    /sys/fs/cgroup afresh, the same layout as the host's, rooted at our cgroups."""
    warnings = []
    if not dirs:
        return ["no sandbox cgroups (cgroup isolation off)"]
    for mp, d in dirs.items():
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write("0")
    libc = _libc()
    if libc.unshare(CLONE_NEWCGROUP) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWCGROUP)")
    mounts = _cgroup_mounts()
    top = next((m for m in mounts if m["mountpoint"] == CGROUP_ROOT), None)
    links = {}
    if top is not None and top["fstype"] == "tmpfs":
        for e in os.listdir(CGROUP_ROOT):
            p = os.path.join(CGROUP_ROOT, e)
            if os.path.islink(p):
                links[e] = os.readlink(p)
    if libc.umount2(CGROUP_ROOT.encode(), MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount %s" % CGROUP_ROOT)
    if top is None:
        return warnings
    if top["fstype"] == "cgroup2":
        _sh(["mount", "-t", "cgroup2", "-o", top["super"] or "rw", "cgroup2", CGROUP_ROOT])
        return warnings
    opts = ",".join(o for o in top["super"].split(",") if o not in ("ro",)) or "rw"
    _sh(["mount", "-t", top["fstype"], "-o", opts, top["source"], CGROUP_ROOT])
    for m in mounts:
        if m is top:
            continue
        mp = m["mountpoint"]
        os.makedirs(mp, exist_ok=True)
        if m["fstype"] == "cgroup2":
            _sh(["mount", "-t", "cgroup2", "-o", m["super"] or "rw", "cgroup2", mp])
        elif m["fstype"] == "cgroup":
            o = [x for x in m["super"].split(",") if x and x not in ("rw", "ro")]
            if not _v1_key(m["super"]) - {x for x in o if x.startswith("name=")} and "none" not in o:
                o.insert(0, "none")  # a named hierarchy without controllers
            _sh(["mount", "-t", "cgroup", "-o", ",".join(o), "cgroup", mp])
        if "ro" in m["options"].split(","):
            _sh(["mount", "-o", "remount,bind,ro", mp], check=False)
    for name, target in links.items():
        os.symlink(target, os.path.join(CGROUP_ROOT, name))
    if "ro" in top["options"].split(","):
        _sh(["mount", "-o", "remount,ro", CGROUP_ROOT], check=False)
    return warnings


# --------------------------------------------------------------------------
# Sandbox set-up: mounts, loopback
# --------------------------------------------------------------------------

SANDBOX_PRIV = "/run/.dctest"


def _setup_sandbox():
    """Runs as PID 1 of the sandbox's fresh pid namespace, in its own mount and
    net namespaces. Returns a list of warnings."""
    warnings = []
    if os.getpid() != 1:
        raise RuntimeError("--inner must run as PID 1 of a new pid namespace (under unshare)")
    cg = json.loads(os.environ.get("DC_TEST_CGROUPS", "{}"))
    try:
        warnings += _enter_cgroups(cg)
    except (OSError, RuntimeError) as e:
        warnings.append("cgroup namespace set-up failed: %s" % e)

    # Submounts under /etc (a container runtime may bind /etc/resolv.conf) would be
    # hidden by the overlay: park them first, move them back on top afterwards.
    etc_subs = [m["mountpoint"] for m in _mountinfo() if m["mountpoint"].startswith("/etc/")]

    _sh(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run"])
    os.makedirs("/var/lib/diyctl", exist_ok=True)  # exists already: the outer runner made it
    _sh(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/var/lib/diyctl"])

    os.makedirs(SANDBOX_PRIV, mode=0o700)
    upper, work = SANDBOX_PRIV + "/etc-upper", SANDBOX_PRIV + "/etc-work"
    os.mkdir(upper)
    os.mkdir(work)
    try:
        parked = []
        for i, sub in enumerate(etc_subs):
            p = "%s/etc-keep-%d" % (SANDBOX_PRIV, i)
            if os.path.isdir(sub):
                os.mkdir(p)
            else:
                open(p, "w").close()
            _sh(["mount", "--bind", sub, p])
            parked.append((p, sub))
        _sh(["mount", "-t", "overlay", "-o", "lowerdir=/etc,upperdir=%s,workdir=%s" % (upper, work),
             "dctest-etc", "/etc"])
        for p, sub in parked:
            _sh(["mount", "--move", p, sub])
    except RuntimeError as e:
        warnings.append("no overlay on /etc (t.host_conf unavailable): %s" % e)

    # The first `ip netns add` turns /run/netns into a shared bind mount of
    # itself, and nothing ever undoes that (iproute2's netns_add). Do it now, the
    # same way, so the baseline already has it: a test's "wan" namespace, or a
    # diyctl that uses named namespaces, must not count as a leaked mount.
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    _sh(["mount", "--bind", NETNS_DIR, NETNS_DIR])
    _sh(["mount", "--make-rshared", NETNS_DIR])

    _sh(["ip", "link", "set", "lo", "up"])
    return warnings


# --------------------------------------------------------------------------
# The test context
# --------------------------------------------------------------------------

class TestFailure(AssertionError):
    pass


class TestSkip(BaseException):
    """BaseException, so a test's `except Exception` does not swallow it."""


class TestTimeout(BaseException):
    pass


def _tail(text, n=40):
    lines = (text or "").splitlines()
    if len(lines) > n:
        lines = ["... (%d lines before)" % (len(lines) - n)] + lines[-n:]
    return lines


def _indent(label, text, n=40):
    if text is None or text == "":
        return ["%s: (empty)" % label]
    return ["%s:" % label] + ["  | " + l for l in _tail(text, n)]


class PtySession:
    """What a pty_run script gets: send() input, expect() output."""

    def __init__(self, master, proc, deadline):
        self.master = master
        self.proc = proc
        self.deadline = deadline
        self.output = ""
        self.pos = 0
        self.eof = False
        self._dec = __import__("codecs").getincrementaldecoder("utf-8")("replace")

    def _read(self, timeout):
        if self.eof:
            return False
        r, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.eof = True
            return False
        self.output += self._dec.decode(data)
        return True

    def send(self, s):
        if isinstance(s, str):
            s = s.encode()
        os.write(self.master, s)

    def sendline(self, s=""):
        self.send(s + "\r")

    def expect(self, regex, timeout=10):
        """Wait until regex matches output after the previous match; returns the match."""
        rx = re.compile(regex)
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            m = rx.search(self.output, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0 or self.eof:
                why = "end of output" if self.eof else "%.0f s" % timeout
                raise TestFailure("pty: expected /%s/, got %s; output after the last match:\n%s"
                                  % (regex, why, "\n".join("  | " + repr(l) for l in
                                                          _tail(self.output[self.pos:], 30))))
            self._read(min(left, 0.5))

    def wait(self):
        """Read until the process ended (and its output drained); return its exit code."""
        while True:
            if self.proc.poll() is not None:
                while self._read(0.2):
                    pass
                return self.proc.returncode
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("pty: %s still running at the timeout; output:\n%s"
                                  % (self.proc.args, "\n".join("  | " + repr(l) for l in _tail(self.output, 30))))
            if not self._read(min(left, 0.2)) and self.eof:
                try:
                    self.proc.wait(timeout=max(0.0, self.deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass


class TestContext:
    """The `t` every test function gets."""

    def __init__(self, test_id, tmp):
        self.id = test_id
        self.tmp = tmp
        self.repo = REPO
        self.diyctl_bin = os.environ.get("DIYCTL") or os.path.join(REPO, "build", "diyctl")
        self.probe_bin = os.environ.get("DC_PROBE") or os.path.join(REPO, "build", "tests", "dc-probe")
        self.cache_rootfs = os.environ.get("DC_TEST_ROOTFS") or os.path.join(CACHE_DIR, "rootfs")
        self.host_netns = os.environ.get("DC_TEST_HOST_NETNS")
        self.pty_output = ""
        self._deferred = []
        self._procs = []
        self.baseline = None

    # -- logging and assertions --
    def log(self, *args):
        print(*args, flush=True)

    def fail(self, msg, *details):
        lines = [str(msg)]
        for d in details:
            lines.extend(str(d).splitlines())
        raise TestFailure("\n".join(lines))

    def ok(self, cond, msg="condition is false"):
        if not cond:
            self.fail(msg)

    def eq(self, a, b, msg="values differ"):
        if a != b:
            self.fail("%s\n  got:      %r\n  expected: %r" % (msg, a, b))

    def contains(self, haystack, needle, msg="not found"):
        try:
            found = needle in haystack
        except TypeError:
            found = False
        if not found:
            h = repr(haystack)
            if len(h) > 2000:
                h = h[:2000] + "..."
            self.fail("%s\n  looked for: %r\n  in:         %s" % (msg, needle, h))

    def skip(self, reason):
        raise TestSkip(reason)

    def wait_for(self, cond, timeout=10, interval=0.1, msg="condition not met"):
        end = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > end:
                self.fail("%s (waited %.1f s)" % (msg, timeout))
            time.sleep(interval)

    def defer(self, fn, *args, **kw):
        """Run fn(*args, **kw) after the test, before the final snapshot (LIFO)."""
        self._deferred.append((fn, args, kw))

    # -- host state --
    def snapshot(self):
        return snapshot()

    def compare(self, before, after):
        """{part name: diff text} for every differing part; {} when equal."""
        return compare(before, after)

    def host_unchanged(self, before, msg="the host state differs from the snapshot"):
        """Assert the host is as in the snapshot `before` (retrying for a few
        seconds, as the final check does, for effects that land late)."""
        diffs = settled_compare(before)
        if diffs:
            self.fail(msg, *format_differences(diffs))

    # -- processes --
    def _check_rc(self, p, check, what):
        if check is None or check is False:
            return
        want = 0 if check is True else int(check)
        if p.returncode != want:
            self.fail("%s exited with %s, expected %d" % (what, p.returncode, want),
                      *(_indent("stdout", p.stdout) + _indent("stderr", p.stderr)))

    def run(self, argv, input=None, timeout=60, check=True, env=None, cwd=None):
        """Run a command (a list, or a string for sh -c); CompletedProcess with text output."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        e = dict(os.environ)
        e.update(env or {})
        self.log("$ " + " ".join(argv))
        try:
            p = subprocess.run(argv, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=timeout, env=e, cwd=cwd or self.tmp)
        except subprocess.TimeoutExpired as ex:
            out = ex.stdout.decode(errors="replace") if isinstance(ex.stdout, bytes) else ex.stdout
            err = ex.stderr.decode(errors="replace") if isinstance(ex.stderr, bytes) else ex.stderr
            self.fail("%s: timed out after %s s (killed)" % (" ".join(argv), timeout),
                      *(_indent("stdout", out) + _indent("stderr", err)))
        except FileNotFoundError:
            self.fail("%s: not found" % argv[0])
        for l in _tail(p.stdout, 20):
            self.log("  1| " + l)
        for l in _tail(p.stderr, 20):
            self.log("  2| " + l)
        self.log("  -> exit %d" % p.returncode)
        self._check_rc(p, check, " ".join(argv))
        return p

    def diyctl(self, *args, input=None, timeout=60, check=None, env=None, cwd=None):
        """Run the diyctl under test. check=True asserts exit 0, check=N asserts exit N."""
        if not os.access(self.diyctl_bin, os.X_OK):
            self.fail("diyctl binary not found at %s (build it, or set DIYCTL)" % self.diyctl_bin)
        return self.run([self.diyctl_bin] + [str(a) for a in args], input=input, timeout=timeout,
                        check=check, env=env, cwd=cwd)

    def spawn(self, argv, env=None, cwd=None, **kw):
        """Start a background process; it gets SIGTERM (then SIGKILL) after the
        test, before the final snapshot."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        e = dict(os.environ)
        e.update(env or {})
        kw.setdefault("stdin", subprocess.DEVNULL)
        self.log("$ %s &" % " ".join(argv))
        p = subprocess.Popen(argv, env=e, cwd=cwd or self.tmp, start_new_session=True, **kw)
        self._procs.append(p)

        def stop():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
        self.defer(stop)
        return p

    def pty_run(self, argv, script=None, timeout=30, env=None, cwd=None, rows=24, cols=80):
        """Run argv on a fresh pty (its controlling terminal). script is a
        callable getting a PtySession (send, sendline, expect, output), or a list
        of (regex_to_expect_or_None, text_to_send_or_None). Returns the exit code;
        the whole output is in t.pty_output afterwards."""
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        e = dict(os.environ)
        e.setdefault("TERM", "xterm")
        e.update(env or {})

        def preexec():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.log("$ %s   (on a pty)" % " ".join(argv))
        try:
            p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=e,
                                 cwd=cwd or self.tmp, start_new_session=True, preexec_fn=preexec)
        finally:
            os.close(slave)
        sess = PtySession(master, p, time.monotonic() + timeout)
        try:
            if callable(script):
                script(sess)
            elif script:
                for exp, snd in script:
                    if exp is not None:
                        sess.expect(exp)
                    if snd is not None:
                        sess.send(snd)
            rc = sess.wait()
        finally:
            self.pty_output = sess.output
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            os.close(master)
            for l in _tail(sess.output, 20):
                self.log("  pty| " + repr(l))
        self.log("  -> exit %s" % rc)
        return rc

    # -- files --
    def rootfs(self, name="rootfs"):
        """A fresh copy of the cached busybox rootfs at t.tmp/NAME, with
        /bin/dc-probe in it."""
        err = os.environ.get("DC_TEST_ROOTFS_ERROR")
        if err:
            self.fail("the test rootfs could not be built: " + err)
        if not os.path.isfile(os.path.join(self.cache_rootfs, "bin", "busybox")):
            self.fail("no cached rootfs at %s" % self.cache_rootfs)
        dst = os.path.join(self.tmp, name)
        if os.path.lexists(dst):
            shutil.rmtree(dst)
        subprocess.run(["cp", "-a", self.cache_rootfs, dst], check=True)
        if os.path.isfile(self.probe_bin):
            shutil.copy2(self.probe_bin, os.path.join(dst, "bin", "dc-probe"))
        return dst

    @staticmethod
    def children(pid):
        """The pids of PID's children (none when it is gone)."""
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def conf(self, name, text):
        """Write t.tmp/NAME.conf and return its path."""
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def host_conf(self, text):
        """Write /etc/diyctl/host.conf (private to this sandbox)."""
        if not any(m["mountpoint"] == "/etc" and m["fstype"] == "overlay" for m in _mountinfo()):
            self.skip("no private /etc in this sandbox")
        os.makedirs("/etc/diyctl", exist_ok=True)
        with open("/etc/diyctl/host.conf", "w") as f:
            f.write(text)
        return "/etc/diyctl/host.conf"

    def probe(self, conf_path, *set_args, args=(), check=True, timeout=60, env=None):
        """diyctl start CONF --set process.args=["/bin/dc-probe", ARGS...]
        --set KEY=VALUE...; returns the probe's JSON report as a dict."""
        if not os.path.isfile(self.probe_bin):
            self.fail("dc-probe not found at %s (build it, or set DC_PROBE)" % self.probe_bin)
        pargs = json.dumps(["/bin/dc-probe"] + [str(a) for a in args], ensure_ascii=False)
        argv = ["start", conf_path, "--set", "process.args=" + pargs]
        for s in set_args:
            argv += ["--set", s]
        p = self.diyctl(*argv, check=check, timeout=timeout, env=env)
        return self.parse_probe(p)

    def parse_probe(self, p):
        out = p.stdout.strip()
        try:
            return json.loads(out)
        except ValueError:
            pass
        for line in reversed(out.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        self.fail("dc-probe output is not JSON (diyctl exit %d)" % p.returncode,
                  *(_indent("stdout", p.stdout) + _indent("stderr", p.stderr)))

    # -- an outside world --
    def wan(self, host_addr="198.51.100.1/24", wan_addr="198.51.100.2/24", ns="wan",
            host_if="dc-wan", default_route=True):
        """A network namespace NS ("the internet") linked to the sandbox by a
        veth pair: HOST_IF here with HOST_ADDR, eth0 there with WAN_ADDR. All of
        it is removed after the test, before the final snapshot."""
        self.run(["ip", "netns", "add", ns])
        self.defer(self.run, ["ip", "netns", "delete", ns], check=False)
        self.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns])
        self.defer(self.run, ["ip", "link", "delete", host_if], check=False)
        # No duplicate address detection on the test's own link: its IPv6
        # link-local address would otherwise stay tentative for a second or
        # more (longer on a loaded CI machine) and then change the snapshot a
        # test takes before the step it checks.
        ipv6 = os.path.exists("/proc/sys/net/ipv6/conf/%s/accept_dad" % host_if) and \
            _read_sysctl("net.ipv6.conf.%s.disable_ipv6" % host_if) == "0"
        if ipv6:
            with open("/proc/sys/net/ipv6/conf/%s/accept_dad" % host_if, "w") as f:
                f.write("0")
            self.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
        self.run(["ip", "addr", "add", host_addr, "dev", host_if])
        self.run(["ip", "link", "set", host_if, "up"])
        self.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.run(["ip", "-n", ns, "addr", "add", wan_addr, "dev", "eth0"])
        self.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        if default_route:
            self.run(["ip", "route", "add", "default", "via", wan_addr.split("/")[0]])
        if ipv6:
            self._link_local_settled(host_if)
        return {"ns": ns, "host_if": host_if, "host_ip": host_addr.split("/")[0],
                "wan_ip": wan_addr.split("/")[0]}

    def _link_local_settled(self, ifname, timeout=10):
        """Wait until IFNAME has its IPv6 link-local address and it is no
        longer tentative (the address and its local routes appear once the
        link has carrier, which the kernel reports asynchronously)."""
        end = time.monotonic() + timeout
        while True:
            info = json.loads(self.run(["ip", "-j", "-6", "addr", "show", "dev", ifname]).stdout or "[]")
            addrs = [a for l in info for a in l.get("addr_info", []) if a.get("scope") == "link"]
            if addrs and not any(a.get("tentative") for a in addrs):
                return
            if time.monotonic() > end:
                raise AssertionError("%s: no settled IPv6 link-local address after %ds" % (ifname, timeout))
            time.sleep(0.05)

    # -- after the test --
    def _run_deferred(self):
        errors = []
        while self._deferred:
            fn, args, kw = self._deferred.pop()
            try:
                fn(*args, **kw)
            except BaseException as e:  # noqa: B036 - a clean-up must not stop the others
                errors.append("clean-up %s failed: %s" % (getattr(fn, "__name__", fn), e))
        return errors

    def _kill_all(self):
        for p in self._procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _test_frames(tb, test_file):
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) == test_file]
    return ["at %s:%d in %s: %s" % (os.path.basename(f.filename), f.lineno, f.name, (f.line or "").strip())
            for f in frames]


def _load_test(test_id):
    path, func = test_id.rsplit("::", 1)
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod, getattr(mod, func)


def _run_test_child(test_id, result_path, timeout, warnings):
    """The test process inside the sandbox (a child of the sandbox's PID 1)."""
    status, reason, details = "pass", "", []
    start = time.monotonic()
    path = os.path.abspath(test_id.rsplit("::", 1)[0])
    base = os.environ.get("DC_TEST_TMPBASE") or None
    tmp = tempfile.mkdtemp(prefix="t-", dir=base)
    t = TestContext(test_id, tmp)
    for w in warnings:
        t.log("warning: " + w)

    def on_alarm(signum, frame):
        raise TestTimeout()

    try:
        before = snapshot()
        t.baseline = before
    except Exception:
        status, reason = "fail", "the first host snapshot failed"
        details = traceback.format_exc().splitlines()
        before = None

    if before is not None:
        signal.signal(signal.SIGALRM, on_alarm)
        try:
            _, fn = _load_test(test_id)
            signal.alarm(max(1, int(timeout)))
            try:
                fn(t)
            finally:
                signal.alarm(0)
        except TestSkip as e:
            status, reason = "skip", str(e)
        except TestTimeout as e:
            status, reason = "fail", "timed out after %d s" % timeout
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.name != "on_alarm"]
            details = ["interrupted in:"] + _test_frames(e.__traceback__, path)
            if frames and os.path.abspath(frames[-1].filename) != path:
                f = frames[-1]
                details.append("  (blocked in %s:%d %s)" % (f.filename, f.lineno, f.name))
        except TestFailure as e:
            status, reason = "fail", str(e).splitlines()[0] if str(e) else "assertion failed"
            details = str(e).splitlines()[1:] + _test_frames(e.__traceback__, path)
        except AssertionError as e:
            status, reason = "fail", "assertion failed: %s" % e if str(e) else "assertion failed"
            details = _test_frames(e.__traceback__, path) or traceback.format_exc().splitlines()
        except BaseException as e:
            status, reason = "fail", "%s: %s" % (type(e).__name__, e)
            details = [l for chunk in traceback.format_exception(type(e), e, e.__traceback__.tb_next)
                       for l in chunk.rstrip().splitlines()]

        # Clean-ups registered by the test, then the leak check. Bounded, too
        # (below KILL_GRACE, so the outer runner still gets a result).
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(CLEANUP_TIMEOUT)
        try:
            errs = t._run_deferred()
            if errs:
                if status != "fail":
                    status, reason = "fail", errs[0]
                details += errs
            diffs = settled_compare(before)
            if diffs:
                if status != "fail":
                    status, reason = "fail", "the test left changes on the host"
                    details = []
                details += ["the test left changes on the host:"] + format_differences(diffs)
        except TestTimeout:
            status, reason = "fail", "clean-up or the final snapshot took longer than %d s" % CLEANUP_TIMEOUT
        finally:
            signal.alarm(0)
        t._kill_all()

    with open(result_path, "w") as f:
        json.dump({"status": status, "reason": reason, "details": details,
                   "duration": time.monotonic() - start}, f)
    return 0


def _reap_until(child):
    """PID 1 duty: reap every orphan until `child` exits; return its exit code."""
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            return 3
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(st)
            return code if code >= 0 else 128 - code  # killed by signal N: 128+N, like a shell


def inner_main(test_id):
    result_path = os.environ["DC_TEST_RESULT"]
    timeout = float(os.environ.get("DC_TEST_TIMEOUT", DEFAULT_TIMEOUT))
    try:
        warnings = _setup_sandbox()
    except Exception:
        with open(result_path, "w") as f:
            json.dump({"status": "fail", "reason": "sandbox set-up failed",
                       "details": traceback.format_exc().splitlines()}, f)
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 3
        try:
            code = _run_test_child(test_id, result_path, timeout, warnings)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return _reap_until(child)


def inner_cmd_main(cmd):
    """--sandbox-inner: set up the sandbox, run cmd, exit with its code."""
    try:
        warnings = _setup_sandbox()
    except Exception:
        traceback.print_exc()
        return 125
    for w in warnings:
        print("run.py --sandbox: warning: " + w, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print("run.py --sandbox: %s: %s" % (cmd[0], e), file=sys.stderr)
        os._exit(127)
    return _reap_until(child)


# --------------------------------------------------------------------------
# The outer runner
# --------------------------------------------------------------------------

class Test:
    def __init__(self, path, func, timeout):
        self.path = path
        self.func = func
        self.timeout = timeout
        self.name = "%s::%s" % (os.path.basename(path), func)
        self.id = "%s::%s" % (path, func)


def discover(directory, substr=None):
    tests = []
    for fn in sorted(os.listdir(directory)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        path = os.path.abspath(os.path.join(directory, fn))
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        timeout = DEFAULT_TIMEOUT
        funcs = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(tg, ast.Name) and tg.id == "TIMEOUT"
                                                    for tg in node.targets):
                try:
                    timeout = float(ast.literal_eval(node.value))
                except ValueError:
                    pass
            elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                funcs.append(node.name)
        for fname in funcs:
            t = Test(path, fname, timeout)
            if substr is None or substr in t.name:
                tests.append(t)
    return tests


def _ensure_host_dirs():
    # The sandboxes mount a tmpfs on /var/lib/diyctl; the mount point must exist.
    # It stays empty on the host.
    os.makedirs("/var/lib/diyctl", exist_ok=True)


def _sandbox_cmd(args):
    return ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", sys.executable, RUN_PY] + args


def _kill_sandbox(p):
    """Kill the sandbox: its PID 1 (the whole pid namespace dies with it) and
    unshare's process group. By pid only."""
    try:
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            for pid in f.read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    except OSError:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_seq_lock = threading.Lock()
_seq = [0]
_running = set()     # sandboxes (Popen) now running, killed if the runner is interrupted
_interrupted = threading.Event()


def run_one(test, rundir, keep, verbose):
    with _seq_lock:
        _seq[0] += 1
        n = _seq[0]
    base = tempfile.mkdtemp(prefix="%03d-%s-" % (n, test.func[:40]), dir=rundir)
    result_path = os.path.join(base, "result.json")
    log_path = os.path.join(base, "log")
    tmpbase = os.path.join(base, "tmp")
    os.mkdir(tmpbase)
    cg = CgroupSandbox("%s%d-%d" % (SANDBOX_CGROUP_PREFIX, os.getpid(), n)).create()
    env = dict(os.environ)
    env.update({
        "DC_TEST_RESULT": result_path,
        "DC_TEST_TIMEOUT": str(test.timeout),
        "DC_TEST_TMPBASE": tmpbase,
        "DC_TEST_CGROUPS": json.dumps(cg.dirs),
        "DC_TEST_HOST_NETNS": os.readlink("/proc/self/ns/net"),
        "DC_TEST_HOST_NS": json.dumps({k: os.readlink("/proc/self/ns/" + k) for k in ("net", "mnt", "pid", "cgroup")}),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    start = time.monotonic()
    timed_out = False
    with open(log_path, "w") as log:
        for w in cg.warnings:
            log.write("warning: %s\n" % w)
        log.flush()
        with _seq_lock:
            if _interrupted.is_set():
                cg.destroy()
                return {"status": "fail", "reason": "interrupted", "details": []}
            p = subprocess.Popen(_sandbox_cmd(["--inner", test.id]), stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                 start_new_session=True)
            _running.add(p)
        try:
            rc = p.wait(timeout=test.timeout + KILL_GRACE)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_sandbox(p)
            rc = p.wait()
        finally:
            with _seq_lock:
                _running.discard(p)
    left = cg.destroy()
    duration = time.monotonic() - start
    try:
        with open(log_path, errors="replace") as f:
            logtext = f.read()
    except OSError:
        logtext = ""
    res = None
    if not timed_out:
        try:
            with open(result_path) as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = None
    if timed_out:
        res = {"status": "fail", "reason": "timed out after %d s; sandbox killed" % (test.timeout + KILL_GRACE),
               "details": []}
    elif res is None:
        res = {"status": "fail", "reason": "the sandbox ended without a result (exit %s)" % rc, "details": []}
    if left:
        res["details"] = res.get("details", []) + ["could not remove sandbox cgroups: %s" % "; ".join(left)]
        if res["status"] != "fail":
            res["status"], res["reason"] = "fail", "sandbox cgroups left behind"
    res["duration"] = duration
    if res["status"] == "fail" or verbose:
        if logtext.strip():
            res["log"] = _tail(logtext, 60)
    if keep:
        res.setdefault("details", []).append("kept: %s" % base)
    else:
        shutil.rmtree(base, ignore_errors=True)
    return res


def _build_rootfs():
    """Build (or refresh) the cached busybox rootfs once per run; returns an error text or None."""
    script = os.path.join(REPO, "examples", "mkrootfs.sh")
    dst = os.path.join(CACHE_DIR, "rootfs")
    if not os.path.isfile(script):
        return "%s is missing" % script
    os.makedirs(CACHE_DIR, exist_ok=True)
    p = subprocess.run(["bash", script, dst], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        return "mkrootfs.sh exit %d: %s" % (p.returncode, p.stdout.strip())
    return None


def outer_main(args):
    directory = os.path.abspath(args.dir or HERE)
    tests = discover(directory, args.k)
    if args.list:
        for t in tests:
            print(t.name)
        return 0
    print("1..%d" % len(tests), flush=True)
    if not tests:
        print("# no tests%s" % (" match -k %r" % args.k if args.k else ""))
        print("0 passed, 0 failed, 0 skipped")
        return 0

    results = {}
    if os.geteuid() != 0:
        for t in tests:
            results[t] = {"status": "skip", "reason": "integration tests need root", "details": []}
    else:
        _ensure_host_dirs()
        err = _build_rootfs()
        os.environ.pop("DC_TEST_ROOTFS_ERROR", None)
        if err:
            os.environ["DC_TEST_ROOTFS_ERROR"] = err
            print("# warning: test rootfs: %s" % err, flush=True)
        os.environ["DC_TEST_ROOTFS"] = os.path.join(CACHE_DIR, "rootfs")

    rundir = tempfile.mkdtemp(prefix="diyctl-test-run-", dir=os.environ.get("DC_TEST_RUNDIR", "/tmp"))
    counts = {"pass": 0, "fail": 0, "skip": 0}
    strict = no_skip_mode()
    next_to_print = [0]
    done = {}
    print_lock = threading.Lock()

    def report(i, t, res):
        status = res["status"]
        num = i + 1
        dur = " (%.1fs)" % res["duration"] if "duration" in res else ""
        if status == "pass":
            counts["pass"] += 1
            print("ok %d - %s%s" % (num, t.name, dur))
        elif status == "skip" and not strict:
            counts["skip"] += 1
            print("ok %d - %s # SKIP %s" % (num, t.name, res.get("reason", "")))
        else:
            counts["fail"] += 1
            reason = res.get("reason", "")
            if status == "skip":
                reason = "skipped, and skips count as failures here (CI / DIYCTL_TEST_NO_SKIP): " + reason
            print("not ok %d - %s%s" % (num, t.name, dur))
            for l in reason.splitlines():
                print("# " + l)
        if status != "pass" or args.verbose:
            for l in res.get("details", []):
                print("#   " + l)
            if res.get("log"):
                print("#   --- sandbox log ---")
                for l in res["log"]:
                    print("#   | " + l)
        sys.stdout.flush()

    def finished(i, t, res):
        with print_lock:
            done[i] = (t, res)
            while next_to_print[0] in done:
                j = next_to_print[0]
                report(j, *done.pop(j))
                next_to_print[0] += 1

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_sigterm)
    ex = None
    try:
        if results:
            for i, t in enumerate(tests):
                finished(i, t, results[t])
        else:
            ex = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j))
            futs = {ex.submit(run_one, t, rundir, args.keep, args.verbose): (i, t)
                    for i, t in enumerate(tests)}
            for fut in concurrent.futures.as_completed(futs):
                i, t = futs[fut]
                try:
                    res = fut.result()
                except Exception:
                    res = {"status": "fail", "reason": "runner error",
                           "details": traceback.format_exc().splitlines()}
                finished(i, t, res)
            ex.shutdown()
    except KeyboardInterrupt:
        # Kill the running sandboxes (by pid), let their threads clean up, report.
        with _seq_lock:
            _interrupted.set()
            for p in list(_running):
                _kill_sandbox(p)
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
        print("# interrupted")
        counts["fail"] += 1
    finally:
        if not args.keep:
            shutil.rmtree(rundir, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (counts["pass"], counts["fail"], counts["skip"]), flush=True)
    return 1 if counts["fail"] else 0


def sandbox_main(cmd, timeout=None):
    """--sandbox -- CMD: run CMD in a throw-away sandbox host; exit with its code
    (124 when it ran out of time and was killed, like timeout(1))."""
    if os.geteuid() != 0:
        print("run.py --sandbox: needs root", file=sys.stderr)
        return 125
    _ensure_host_dirs()
    cg = CgroupSandbox("%s%d-cmd" % (SANDBOX_CGROUP_PREFIX, os.getpid())).create()
    env = dict(os.environ)
    env["DC_TEST_CGROUPS"] = json.dumps(cg.dirs)
    p = subprocess.Popen(_sandbox_cmd(["--sandbox-inner", "--"] + cmd), env=env, start_new_session=True)
    def on_signal(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print("run.py --sandbox: %s: timed out after %s s, killed" % (cmd[0], timeout), file=sys.stderr)
        _kill_sandbox(p)
        p.wait()
        rc = 124
    except BaseException:
        _kill_sandbox(p)
        p.wait()
        raise
    finally:
        cg.destroy()
    return rc


def main():
    ap = argparse.ArgumentParser(description="diyctl integration tests (each in its own sandbox host)")
    ap.add_argument("-k", metavar="SUBSTRING", help="run only tests whose file::name contains this")
    ap.add_argument("-j", type=int, default=2, metavar="JOBS", help="sandboxes in parallel (default 2)")
    ap.add_argument("--dir", help="where to find test_*.py (default: next to run.py)")
    ap.add_argument("--keep", action="store_true", help="keep each test's temp dir and log")
    ap.add_argument("-v", "--verbose", action="store_true", help="show sandbox logs of passing tests too")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--inner", metavar="PATH::FUNC", help=argparse.SUPPRESS)
    ap.add_argument("--sandbox-inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sandbox", action="store_true", help="run the command after -- in a sandbox host")
    ap.add_argument("--timeout", type=float, help="with --sandbox: kill the sandbox after this many seconds")
    ap.add_argument("--host-snapshot", metavar="FILE", help="save a snapshot of this host's state")
    ap.add_argument("--host-compare", metavar="FILE", help="compare this host's state with a saved snapshot")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd

    if args.inner:
        return inner_main(args.inner)
    if args.sandbox_inner:
        return inner_cmd_main(cmd)
    if args.sandbox:
        if not cmd:
            ap.error("--sandbox needs a command after --")
        return sandbox_main(cmd, args.timeout)
    if args.host_snapshot:
        _ensure_host_dirs()
        with open(args.host_snapshot, "w") as f:
            json.dump(snapshot(), f)
        return 0
    if args.host_compare:
        with open(args.host_compare) as f:
            before = json.load(f)
        diffs = settled_compare(before, tries=6)
        for l in format_differences(diffs):
            print("# " + l)
        return 1 if diffs else 0
    if cmd:
        ap.error("unexpected arguments: %s" % " ".join(cmd))
    return outer_main(args)


if __name__ == "__main__":
    sys.exit(main())
