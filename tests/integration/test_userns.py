"""Issue 7: user namespaces and rootless containers, time namespace offsets."""

import json
import os
import pwd
import time

USER = "dcuser"
SUB_START, SUB_COUNT = 200000, 65536


def make_user(t):
    """An ordinary user with subordinate ranges (the sandbox's /etc is private)."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        t.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", USER])
        pw = pwd.getpwnam(USER)
    for f in ("/etc/subuid", "/etc/subgid"):
        with open(f, "a") as fp:
            fp.write("%s:%d:%d\n" % (USER, SUB_START, SUB_COUNT))
    # let the user reach the test's files
    d = t.tmp
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    xdg = os.path.join(t.tmp, "xdg")
    os.makedirs(xdg, exist_ok=True)
    os.chown(xdg, pw.pw_uid, pw.pw_gid)
    os.chmod(xdg, 0o700)
    return pw, xdg


def as_user(t, pw, xdg, *args, check=None):
    return t.run(["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups",
                  "--inh-caps=-all", "env", "XDG_RUNTIME_DIR=" + xdg, "HOME=/nonexistent",
                  t.diyctl_bin] + list(args), check=check)


ALL_NS = '[ "mount", "uts", "ipc", "pid", "net", "user", "cgroup", "time" ]'


def test_rootless_with_every_namespace(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    vol = os.path.join(t.tmp, "vol")
    os.mkdir(vol)
    os.chown(vol, pw.pw_uid, pw.pw_gid)
    conf = t.conf("rl", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n'
                        'user = { map = "root"; };\ntime = { boottime = "reset"; };\n'
                        'volumes = ( { source = "vol"; target = "/vol"; } );\n'
                        # mount needs CAP_SYS_ADMIN, which no container gets by default (issue 8)
                        'security = { capabilities = { add = [ "SYS_ADMIN" ]; }; };\n' % (r, ALL_NS))
    os.chmod(conf, 0o644)
    before = t.snapshot()
    p = as_user(t, pw, xdg, "start", conf, "--set", 'process.args=["/bin/dc-probe"]', check=True)
    d = t.parse_probe(p)
    t.eq((d["uid"], d["gid"]), (0, 0), "id inside says 0")
    t.eq(d["pid"], 1, "own pid namespace")
    t.ok(d["uptime"] < 5, "time namespace: uptime starts at zero (%s)" % d["uptime"])
    p = as_user(t, pw, xdg, "start", conf, "--set",
                'process.args=["/bin/sh", "-c", "touch /vol/made-inside && mount -t tmpfs none /tmp && echo mounted"]',
                check=True)
    t.contains(p.stdout, "mounted", "mount of a new tmpfs inside works")
    st = os.stat(os.path.join(vol, "made-inside"))
    t.eq((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), "a file made inside is owned by the user on the host")
    t.eq(sorted(os.listdir(xdg)), [], "the state under $XDG_RUNTIME_DIR is gone after stop")
    t.host_unchanged(before, "rootless: the host is as before")


def test_rootless_detached_lifecycle(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    conf = t.conf("rld", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                         'process = { args = [ "/bin/sh", "-c", "trap \\"exit 0\\" TERM; while true; do sleep 0.1; done" ]; };\n'
                         % (r, ALL_NS))
    os.chmod(conf, 0o644)
    as_user(t, pw, xdg, "start", "-d", conf, check=True)
    lst = json.loads(as_user(t, pw, xdg, "list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"]) for c in lst], [("rld", "running")], "rootless list")
    out = as_user(t, pw, xdg, "exec", "rld", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map", check=True).stdout
    t.eq(out.split()[:4], ["0", "0", str(pw.pw_uid), "1"], "rootless exec joins the user namespace")
    as_user(t, pw, xdg, "stop", "rld", check=True)
    t.eq(os.listdir(xdg), [], "nothing left")


def uid_map_lines(d_text):
    return [l.split() for l in d_text.strip().splitlines()]


def test_auto_map_unprivileged(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    conf = t.conf("auto", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "auto"; };\n' % (r, ALL_NS))
    os.chmod(conf, 0o644)
    p = as_user(t, pw, xdg, "start", conf, "--set",
                'process.args=["/bin/sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map"]', check=True)
    uid, gid = p.stdout.split("--")
    # the user's first range (useradd may have made one before ours)
    def first(f):
        for line in open(f):
            who, start, count = line.strip().split(":")
            if who == USER:
                return start, count
    us, uc = first("/etc/subuid")
    gs, gc = first("/etc/subgid")
    t.eq(uid_map_lines(uid), [["0", str(pw.pw_uid), "1"], ["1", us, uc]],
         "auto: 0 is the caller, then the subordinate range (uid_map)")
    t.eq(uid_map_lines(gid), [["0", str(pw.pw_gid), "1"], ["1", gs, gc]], "gid_map")


def test_explicit_map_as_root(t):
    d = t.tmp
    while d not in ("/", "/tmp"):  # the mapped root is nobody special on the host
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    r = t.rootfs()
    conf = t.conf("expl", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n'
                          'user = { map = ( { inside = 0; outside = 300000; count = 1000; },\n'
                          '                 { inside = 1000; outside = 400000; count = 10; } ); };\n' % (r, ALL_NS))
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/cat", "/proc/self/uid_map"]', check=True)
    t.eq(uid_map_lines(p.stdout), [["0", "300000", "1000"], ["1000", "400000", "10"]],
         "/proc/self/uid_map inside matches the config")
    vol = os.path.join(t.tmp, "v")
    os.mkdir(vol)
    os.chmod(vol, 0o777)
    p = t.diyctl("start", conf, "--set", 'volumes=({ source = "v"; target = "/v"; })',
                 "--set", 'process.args=["/bin/touch", "/v/f"]', check=True)
    t.eq(os.stat(os.path.join(vol, "f")).st_uid, 300000, "root inside is 300000 on the host")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "uid [0 300000 1000] [1000 400000 10]", "plan shows the maps")


def test_time_offsets(t):
    r = t.rootfs()
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    conf = t.conf("tm", 'rootfs = { path = "%s"; };\nnamespaces = [ "mount", "pid", "time" ];\n'
                        'time = { boottime = "reset"; monotonic = 86400; };\n' % r)
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    d = t.probe(conf)
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    t.ok(d["uptime"] < 5 and host_up > 5 or host_up <= 5,
         "boottime reset: /proc/uptime inside %s, host %s" % (d["uptime"], host_up))
    t.ok(d["clock_boottime"] < 5, "CLOCK_BOOTTIME starts near zero (%s)" % d["clock_boottime"])
    t.ok(before + 86400 - 1 <= d["clock_monotonic"] <= after + 86400 + 1,
         "CLOCK_MONOTONIC is a day ahead of the host's (%s vs %s)" % (d["clock_monotonic"], before))
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "boottime reset, monotonic 86400", "plan shows the offsets")
    bad = t.conf("tmbad", 'rootfs = { path = "%s"; };\ntime = { monotonic = 5; };\n' % r)
    p = t.diyctl("check", bad)
    t.contains(p.stderr, "tmbad.conf:2: time", "a time key without the time namespace is an error")


def test_rootless_kill_and_cleanup(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    conf = t.conf("rlk", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                         'process = { args = [ "/bin/sh", "-c", "while true; do sleep 0.1; done" ]; };\n' % (r, ALL_NS))
    os.chmod(conf, 0o644)
    before = t.snapshot()
    as_user(t, pw, xdg, "start", "-d", conf, check=True)
    st = json.loads(as_user(t, pw, xdg, "status", "--json", "rlk", check=True).stdout)
    os.kill(st["launcher_pid"], 9)
    t.wait_for(lambda: json.loads(as_user(t, pw, xdg, "status", "--json", "rlk").stdout or "{}").get("state") == "dead",
               msg="the launcher is gone")
    def gone(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    t.wait_for(lambda: gone(st["pid"]), timeout=5, msg="the container died with its launcher")
    as_user(t, pw, xdg, "cleanup", "rlk", check=True)
    t.eq(os.listdir(xdg), [], "rootless cleanup leaves nothing")
    t.host_unchanged(before, "rootless: the host is as before")
