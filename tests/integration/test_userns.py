"""Issue 7: user namespaces and rootless containers, time namespace offsets."""

import json
import os
import pwd
import re
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


def _user_argv(t, pw, xdg, args, env=()):
    return (["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups",
             "--inh-caps=-all", "env", "XDG_RUNTIME_DIR=" + xdg, "HOME=/nonexistent"] + list(env) +
            [t.diyctl_bin] + list(args))


def as_user(t, pw, xdg, *args, check=None):
    return t.run(_user_argv(t, pw, xdg, args), check=check)


ALL_NS = '[ "mount", "uts", "ipc", "pid", "net", "user", "cgroup", "time" ]'
# Without a time namespace the launcher clones the first process with its user
# namespace and writes the maps after; with one, a holder process makes the
# user namespace first (steps/idmap.c). Tests name which way they take.
NO_TIME_NS = '[ "mount", "uts", "ipc", "pid", "net", "user", "cgroup" ]'
WAYS = ((ALL_NS, "through the holder (time namespace)"), (NO_TIME_NS, "cloned with its user namespace"))


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
    p = as_user(t, pw, xdg, "start", conf, "--set", 'process.args=["/bin/cat", "/sys/class/net/lo/operstate"]',
                check=True)
    t.ok(p.stdout.strip() in ("unknown", "up"), "rootless: lo is up (operstate %r)" % p.stdout.strip())
    st = os.stat(os.path.join(vol, "made-inside"))
    t.eq((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), "a file made inside is owned by the user on the host")
    t.eq(sorted(os.listdir(xdg)), [], "the state under $XDG_RUNTIME_DIR is gone after stop")
    t.host_unchanged(before, "rootless: the host is as before")


def test_rootless_rlimits(t):
    """Rootless, process.rlimits can lower limits and raise soft ones up to
    the hard; a hard limit above the user's is refused with the reason."""
    pw, xdg = make_user(t)
    r = t.rootfs()
    for ns, way in WAYS:
        conf = t.conf("rlr", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                             'process = {\n  args = [ "/bin/cat", "/proc/self/limits" ];\n'
                             '  rlimits = { nofile = "300:400"; core = 0; };\n};\n' % (r, ns))
        os.chmod(conf, 0o644)
        argv = ["prlimit", "--nofile=100:500"] + _user_argv(t, pw, xdg, ["start", conf])
        out = t.run(argv, check=True).stdout
        t.ok(re.search(r"^Max open files +300 +400 ", out, re.M), "%s: nofile 300:400 (was 100:500)" % way)
        t.ok(re.search(r"^Max core file size +0 +0 ", out, re.M), "%s: core 0" % way)
        conf = t.conf("rlr", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                             'process = {\n  rlimits = { nofile = 600; };\n};\n' % (r, ns))
        os.chmod(conf, 0o644)
        p = t.run(["prlimit", "--nofile=100:500"] + _user_argv(t, pw, xdg, ["start", conf]), check=False)
        t.eq(p.returncode, 125, "%s: a hard limit above the user's fails the start" % way)
        t.contains(p.stderr, "rlr.conf:5: process.rlimits.nofile: cannot raise the hard limit from 500 to 600: "
                   "that takes CAP_SYS_RESOURCE on the host (root)", "%s: and says why" % way)
    t.eq(sorted(os.listdir(xdg)), [], "nothing is left in the state dir")


def test_rootless_devices(t):
    """Rootless, a device is bound in and the node's own mode decides (no
    device allow-list: narrowed permissions are refused by check)."""
    pw, xdg = make_user(t)
    r = t.rootfs()
    conf = t.conf("rdv", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                         'devices = [ "/dev/null:/dev/mynull" ];\n'
                         'process = { args = [ "/bin/sh", "-c", "echo x > /dev/mynull && echo wrote" ]; };\n'
                         % (r, NO_TIME_NS))
    os.chmod(conf, 0o644)
    t.eq(as_user(t, pw, xdg, "start", conf, check=True).stdout, "wrote\n", "the device is there and usable")
    conf = t.conf("rdv", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                         'devices = [ "/dev/null:/dev/mynull:r" ];\n' % (r, NO_TIME_NS))
    os.chmod(conf, 0o644)
    p = as_user(t, pw, xdg, "check", conf)
    t.eq(p.returncode, 1, "narrowed permissions rootless: refused")
    t.contains(p.stderr, "rdv.conf:4: devices: /dev/null: permissions (:r) need the device allow-list, which a "
               "container without root has not", "and says why")


def test_rootless_detached_lifecycle(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    conf = t.conf("rld", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                         'process = { args = [ "/bin/sh", "-c", "trap \\"exit 0\\" TERM; while true; do sleep 0.1; done" ]; };\n'
                         % (r, NO_TIME_NS))
    os.chmod(conf, 0o644)
    as_user(t, pw, xdg, "start", "-d", conf, check=True)
    lst = json.loads(as_user(t, pw, xdg, "list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"]) for c in lst], [("rld", "running")], "rootless list")
    # top without a cgroup of its own: the processes of its pid namespace
    st = json.loads(as_user(t, pw, xdg, "status", "--json", "rld", check=True).stdout)
    t.eq(st["cgroups"], [], "(no cgroup of its own here)")
    procs = json.loads(as_user(t, pw, xdg, "top", "--json", "rld", check=True).stdout)["processes"]
    t.eq((procs[0]["pid"], procs[0]["pid_inside"], procs[0]["args"][:2]), (st["pid"], 1, ["/bin/sh", "-c"]),
         "rootless top: its first process, PID 1 inside")
    t.ok(all(p["uid"] == pw.pw_uid and p["pid_inside"] >= 1 for p in procs),
         "each one the user's uid on the host (root inside): %r" % procs)

    def with_child():
        ps = json.loads(as_user(t, pw, xdg, "top", "--json", "rld", check=True).stdout)["processes"]
        return any(p["args"] == ["sleep", "0.1"] and p["pid_inside"] > 1 for p in ps)
    t.wait_for(with_child, msg="rootless top: the loop's sleep, a child in its pid namespace, shows too")
    out = as_user(t, pw, xdg, "exec", "rld", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map", check=True).stdout
    t.eq(out.split()[:4], ["0", "0", str(pw.pw_uid), "1"], "rootless exec joins the user namespace")
    p = as_user(t, pw, xdg, "exec", "-u", "65534", "rld", "id")
    t.eq(p.returncode, 125, "exec -u of an id the user namespace does not map fails")
    t.contains(p.stderr, "exec --user: 65534:65534 is not mapped in the container's user namespace (user.map)",
               "and says why")
    p = as_user(t, pw, xdg, "start", conf, "--set", 'process.user="nobody"', "--set", 'name="rldu"')
    t.eq(p.returncode, 125, "a process.user name the map leaves out fails at start")
    t.contains(p.stderr, "process.user: nobody (65534:65534) is not mapped in the container's user namespace "
               "(user.map)", "naming the key, the user and its ids")
    as_user(t, pw, xdg, "stop", "rld", check=True)
    t.eq(os.listdir(xdg), [], "nothing left")
    # with the init as PID 1 too (it never execs, so it is not the one to join)
    as_user(t, pw, xdg, "start", "-d", conf, "--set", "process.init=true", check=True)
    out = as_user(t, pw, xdg, "exec", "rld", "/bin/sh", "-c", "id -u; cat /proc/1/comm", check=True).stdout
    t.eq(out.split(), ["0", "diyctl-init"], "rootless exec with process.init: in the container, beside its init")
    as_user(t, pw, xdg, "stop", "rld", check=True)
    # exec enters through the init's command: one that made a namespace of
    # its own (here uts, with CAP_SYS_ADMIN in the container) is not the
    # container, and exec says so instead of joining it
    as_user(t, pw, xdg, "start", "-d", conf, "--set", "process.init=true", "--set", "hostname=rld",
            "--set", 'security={capabilities={add=["SYS_ADMIN"];}; seccomp="unconfined";}',
            "--set", 'process.args=["/bin/dc-probe","own-uts","elsewhere","60"]', check=True)
    t.wait_for(lambda: "own-uts" in as_user(t, pw, xdg, "logs", "rld").stdout, msg="the command has its own uts")
    t.contains(as_user(t, pw, xdg, "logs", "rld").stdout, "own-uts\n", "(its unshare worked)")
    p = as_user(t, pw, xdg, "exec", "rld", "hostname")
    t.eq(p.returncode, 125, "exec refuses to join the command's own namespaces")
    t.contains(p.stderr, "a uts namespace of their own, not the container's", "and says which one")
    t.ok("elsewhere" not in p.stdout, "nothing ran in the command's namespace")
    as_user(t, pw, xdg, "stop", "-t", "1", "rld", check=True)
    # one that ends on its own leaves its record in the user's runtime dir
    as_user(t, pw, xdg, "start", "-d", conf, "--set", 'process.args=["/bin/sh","-c","echo bye; exit 2"]', check=True)
    t.wait_for(lambda: '"state":"exited"' in as_user(t, pw, xdg, "status", "--json", "rld").stdout, timeout=20,
               msg="rootless: rld exited")
    t.eq(sorted(os.listdir(os.path.join(xdg, "diyctl", "rld"))), ["log", "status"], "rootless: the record")
    t.eq(as_user(t, pw, xdg, "logs", "rld", check=True).stdout, "bye\n", "rootless: its log")
    as_user(t, pw, xdg, "cleanup", "rld", check=True)
    t.eq(os.listdir(xdg), [], "cleanup removed the record")


def uid_map_lines(d_text):
    return [l.split() for l in d_text.strip().splitlines()]


def test_auto_map_unprivileged(t):
    pw, xdg = make_user(t)
    r = t.rootfs()
    # the user's first range (useradd may have made one before ours)
    def first(f):
        for line in open(f):
            who, start, count = line.strip().split(":")
            if who == USER:
                return start, count
    us, uc = first("/etc/subuid")
    gs, gc = first("/etc/subgid")
    for ns, way in WAYS:
        conf = t.conf("auto", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "auto"; };\n' % (r, ns))
        os.chmod(conf, 0o644)
        p = as_user(t, pw, xdg, "start", conf, "--set",
                    'process.args=["/bin/sh", "-c", "id -u; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map"]',
                    check=True)
        uid, gid = p.stdout.split("--")
        t.eq(uid.split()[0], "0", "%s: id inside says 0" % way)
        t.eq(uid_map_lines(uid)[1:], [["0", str(pw.pw_uid), "1"], ["1", us, uc]],
             "%s: auto: 0 is the caller, then the subordinate range (uid_map, by newuidmap)" % way)
        t.eq(uid_map_lines(gid), [["0", str(pw.pw_gid), "1"], ["1", gs, gc]], "%s: gid_map" % way)


def test_explicit_map_as_root(t):
    d = t.tmp
    while d not in ("/", "/tmp"):  # the mapped root is nobody special on the host
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    r = t.rootfs()
    for ns, way in WAYS:
        conf = t.conf("expl", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n'
                              'user = { map = ( { inside = 0; outside = 300000; count = 1000; },\n'
                              '                 { inside = 1000; outside = 400000; count = 10; } ); };\n' % (r, ns))
        p = t.diyctl("start", conf, "--set", 'process.args=["/bin/cat", "/proc/self/uid_map"]', check=True)
        t.eq(uid_map_lines(p.stdout), [["0", "300000", "1000"], ["1000", "400000", "10"]],
             "%s: /proc/self/uid_map inside matches the config" % way)
    vol = os.path.join(t.tmp, "v")
    os.mkdir(vol)
    os.chmod(vol, 0o777)
    p = t.diyctl("start", conf, "--set", 'volumes=({ source = "v"; target = "/v"; })',
                 "--set", 'process.args=["/bin/touch", "/v/f"]', check=True)
    t.eq(os.stat(os.path.join(vol, "f")).st_uid, 300000, "root inside is 300000 on the host")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "uid [0 300000 1000] [1000 400000 10]", "plan shows the maps")
    t.contains(plan, "parent loopback-up", "as root, the launcher brings lo up (in the user namespace's netns)")
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/cat", "/sys/class/net/lo/operstate"]', check=True)
    t.ok(p.stdout.strip() in ("unknown", "up"), "lo is up (operstate %r)" % p.stdout.strip())
    # A rootfs of host root's files has no /etc/resolv.conf to bind ours on.
    # Idmapped (rootfs.idmap "auto"), the container's root is the owner of
    # /etc and the file is made in the tmpfs layer; without the idmap the
    # mapped root may not make one: the error says which key asked for it
    # and why it cannot be made.
    if os.path.lexists(os.path.join(r, "etc", "resolv.conf")):
        os.unlink(os.path.join(r, "etc", "resolv.conf"))
    p = t.diyctl("start", conf, "--set", 'network.dns=["192.0.2.53"]', "--set",
                 'process.args=["/bin/cat", "/etc/resolv.conf"]', check=True)
    t.contains(p.stdout, "nameserver 192.0.2.53", "idmapped: the resolv.conf is made and bound")
    t.ok(not os.path.lexists(os.path.join(r, "etc", "resolv.conf")), "in the tmpfs layer, not the directory")
    p = t.diyctl("start", conf, "--set", 'network.dns=["192.0.2.53"]', "--set", 'process.args=["/bin/true"]',
                 "--set", "rootfs.idmap=false")
    t.eq(p.returncode, 125, "the start fails")
    t.contains(p.stderr, "--set: network.dns: cannot create /etc/resolv.conf: Permission denied",
               "naming the key that asked for the file")
    t.contains(p.stderr, "the container's root has the rights of the host ids user.map maps it to, not root's", "and why")


def _open_to_mapped_root(t):
    d = t.tmp
    while d not in ("/", "/tmp"):  # the mapped root is nobody special on the host
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)


IDMAP_NS = '[ "mount", "uts", "ipc", "pid", "net", "user", "cgroup" ]'
IDMAP_UMAP = 'user = { map = ( { inside = 0; outside = 300000; count = 65536; } ); };\n'
OWNERS = "echo root=$(stat -c %u:%g /) etc=$(stat -c %u:%g /etc/passwd) www=$(stat -c %u:%g /srv/www)"


def _idmap_conf(t, name, r, writable, idmap=None):
    body = 'rootfs = { path = "%s"; writable = "%s";%s };\nnamespaces = %s;\n%s' % (
        r, writable, "" if idmap is None else " idmap = %s;" % idmap, IDMAP_NS, IDMAP_UMAP)
    return t.conf(name, body)


def _mounted(t, name, fstype, options=None):
    """A fresh file system of FSTYPE at t.tmp/NAME, unmounted after the test."""
    d = os.path.join(t.tmp, name)
    os.makedirs(d, exist_ok=True)
    t.run(["mount", "-t", fstype] + (["-o", options] if options else []) + [fstype, d])
    t.defer(t.run, ["umount", d])
    return d


def _sh(t, conf, script, check=True):
    return t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "%s"]' % script.replace('"', '\\"'),
                    check=check)


def test_directory_rootfs_idmapped_as_root(t):
    """As root with a user namespace, a root-owned directory rootfs is handed
    to the container as an idmapped mount (rootfs.idmap = "auto"), as nspawn's
    --private-users-ownership=map: its owners (0, 33) are the same inside,
    instead of every file being nobody's. "auto" does it only when writes do
    not reach the directory (tmpfs, none, an upper layer) and the tree is not
    already shifted for the map; "direct" takes idmap = true, and then what
    the container's root makes belongs to the host's root on disk."""
    _open_to_mapped_root(t)
    r = t.rootfs()
    os.makedirs(os.path.join(r, "srv", "www"))
    os.chown(os.path.join(r, "srv", "www"), 33, 33)
    before = t.snapshot()

    # "auto" with a tmpfs upper layer: idmapped, read-only underneath
    conf = _idmap_conf(t, "idm", r, "tmpfs")
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sleep", "30"]', check=True)
    st = json.loads(t.diyctl("status", "--json", "idm", check=True).stdout)
    t.diyctl("stop", "-t", "1", "idm", check=True)
    t.eq(st["vars"].get("rootfs.idmap"), "idmapped", "status says the rootfs is idmapped")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "an idmapped read-only mount of the rootfs %s" % r, "plan names the idmapped rootfs")
    p = _sh(t, conf, OWNERS + "; echo new > /etc/made && echo made=$(stat -c %u /etc/made)")
    t.contains(p.stdout, "root=0:0 etc=0:0 www=33:33", "the directory's owners are the same inside")
    t.contains(p.stdout, "made=0", "root inside writes to the root-owned /etc (into the tmpfs layer)")
    t.ok(not os.path.exists(os.path.join(r, "etc", "made")), "the directory itself is not written")

    # "auto" with a read-only root
    conf = _idmap_conf(t, "idmro", r, "none")
    p = _sh(t, conf, OWNERS + "; touch /etc/x", check=False)
    t.contains(p.stdout, "root=0:0 etc=0:0 www=33:33", "read-only root: owners the same inside")
    t.ok(p.returncode != 0 and "Read-only" in p.stderr, "and it stays read-only (%r)" % p.stderr)
    p = t.diyctl("start", conf, "--set", 'security.capabilities.add=["SYS_ADMIN"]', "--set",
                 'process.args=["/bin/sh", "-c", "mount -o remount,rw,bind / ; mount -o remount,rw / ; '
                 'echo x > /pwned"]', check=False)
    t.ok(p.returncode != 0 and not os.path.exists(os.path.join(r, "pwned")),
         "not even a container given CAP_SYS_ADMIN writes into it")

    # "auto" with "direct": not idmapped (writes would reach the disk)
    conf = _idmap_conf(t, "idmdir", r, "direct")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.ok("idmap-layers" not in plan, "direct: auto does not idmap")
    t.contains(plan, 'rootfs.idmap "auto": not idmapped: writable "direct": writes would reach the directory',
               "and the plan says why, and what would")
    p = _sh(t, conf, OWNERS)
    t.contains(p.stdout, "root=65534:65534", "so root's files are nobody's inside, as before")

    # idmap = true with "direct": writes land with the ids the container names
    conf = _idmap_conf(t, "idmw", r, "direct", "true")
    t.contains(t.diyctl("plan", conf, check=True).stdout, "an idmapped writable mount of the rootfs",
               "plan says the mount is writable")
    p = _sh(t, conf, OWNERS + "; echo hi > /srv/www/page && chown 33:33 /srv/www/page && touch /etc/made")
    t.contains(p.stdout, "root=0:0 etc=0:0 www=33:33", "idmap = true: owners the same inside")
    st = os.stat(os.path.join(r, "srv", "www", "page"))
    t.eq((st.st_uid, st.st_gid), (33, 33), "a file chowned to 33 inside is 33's on disk")
    t.eq(os.stat(os.path.join(r, "etc", "made")).st_uid, 0, "a file root makes inside is root's on disk")

    # idmap = false: as before
    conf = _idmap_conf(t, "idmoff", r, "tmpfs", "false")
    t.ok("idmap-layers" not in t.diyctl("plan", conf, check=True).stdout, "false: not idmapped")
    t.contains(_sh(t, conf, OWNERS).stdout, "etc=65534:65534 www=65534:65534", "false: root's files are nobody's")

    # a tree already shifted for the map (as for LXC's unprivileged
    # containers) is left as it is: its ids are the container's already
    sh = t.rootfs("shifted")
    for dp, dns, fns in os.walk(sh):
        for n in [dp] + [os.path.join(dp, f) for f in dns + fns]:
            os.lchown(n, 300000, 300000)
    conf = _idmap_conf(t, "idmsh", sh, "tmpfs")
    t.ok("idmap-layers" not in t.diyctl("plan", conf, check=True).stdout, "a shifted tree: auto does not idmap")
    t.contains(_sh(t, conf, "echo root=$(stat -c %u:%g /)").stdout, "root=0:0", "and it is root's inside")
    p = t.diyctl("check", _idmap_conf(t, "idmsh2", sh, "tmpfs", "true"))
    t.contains(p.stderr, "idmsh2.conf:1: rootfs.idmap: true, but %s belongs to uid 300000, one of the container's "
               "host ids already" % sh, "true on a shifted tree is refused: every file would be nobody's")
    # a persistent upper layer the container's root cannot write: the
    # error says whose it must be
    up = os.path.join(t.tmp, "upper")
    os.mkdir(up)
    conf = _idmap_conf(t, "idmup", r, up)
    p = _sh(t, conf, "true", check=125)
    t.contains(p.stderr, "rootfs.writable %s: cannot create upper: Permission denied: the container's root is "
               "300000:300000 on the host, and the directory must be its: chown 300000:300000 %s" % (up, up),
               "the upper directory's error names the chown")
    os.chown(up, 300000, 300000)
    t.contains(_sh(t, conf, OWNERS).stdout, "etc=0:0 www=33:33", "after it, idmapped over the upper layer")
    t.host_unchanged(before, "idmapped rootfs: the host is as before")


def test_directory_rootfs_idmap_errors_and_fallback(t):
    """rootfs.idmap's errors name the file, line and key; "auto" on a file
    system without idmapped mounts (ramfs) uses the directory as it is,
    where true refuses to start."""
    _open_to_mapped_root(t)
    r = t.rootfs()
    cases = (
        ('rootfs = { path = "%s"; idmap = true; };\n' % r,
         "rootfs.idmap: true needs \"user\" in namespaces"),
        ('rootfs = { path = "%s"; idmap = "yes"; };\n' % r,
         'rootfs.idmap: expected "auto" or a boolean, got "yes" (a string)'),
        ('rootfs = { path = "%s"; idmap = 1; };\n' % r,
         'rootfs.idmap: expected "auto" or a boolean, got 1 (an integer)'),
        ('rootfs = { tarball = "%s/x.tar"; idmap = false; };\n' % t.tmp,
         "rootfs.idmap: only for rootfs.path"),
    )
    for i, (body, msg) in enumerate(cases):
        conf = t.conf("idmbad%d" % i, body)
        p = t.diyctl("check", conf)
        t.ok(p.returncode != 0, "check refuses %r" % body)
        t.contains(p.stderr, "idmbad%d.conf:1: %s" % (i, msg), "naming file, line and key")
    pw, xdg = make_user(t)
    conf = t.conf("idmrl", 'rootfs = { path = "%s"; idmap = true; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                  % (r, IDMAP_NS))
    p = as_user(t, pw, xdg, "check", conf)
    t.ok(p.returncode != 0, "rootless: idmap = true is refused")
    t.contains(p.stderr, "idmrl.conf:1: rootfs.idmap: true needs root on the host", "saying why")

    ram = _mounted(t, "ram", "ramfs")
    t.run(["cp", "-a", r + "/.", ram])
    before = t.snapshot()
    conf = _idmap_conf(t, "idmram", ram, "tmpfs")
    t.contains(t.diyctl("plan", conf, check=True).stdout, "where it cannot be idmapped (its file system, an "
               "idmapped mount already), the directory as it is", "plan says what auto does where it cannot idmap")
    p = _sh(t, conf, "echo etc=$(stat -c %u:%g /etc/passwd); id -u")
    t.eq(p.stdout, "etc=65534:65534\n0\n", "ramfs cannot be idmapped: auto starts with the directory as it is")
    # and status says what "auto" came to
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sleep", "30"]', check=True)
    st = json.loads(t.diyctl("status", "--json", "idmram", check=True).stdout)
    t.diyctl("stop", "-t", "1", "idmram", check=True)
    t.eq(st["vars"].get("rootfs.idmap"), "the directory as it is (Invalid argument (its file system does not "
         "support idmapped mounts))", "status names the fallback and why")
    conf = _idmap_conf(t, "idmram2", ram, "tmpfs", "true")
    p = _sh(t, conf, "true", check=125)
    t.contains(p.stderr, "idmram2.conf:1: rootfs.idmap: cannot make an idmapped mount of the rootfs %s: Invalid "
               "argument (its file system does not support idmapped mounts); rootfs.idmap = false uses it as it is"
               % ram, "true refuses to start there, naming the key and the way out")
    t.host_unchanged(before, "the host is as before")


def test_directory_rootfs_idmap_keeps_what_the_bind_gave(t):
    """Where an idmapped overlay would differ from the plain bind it replaces,
    "auto" keeps the bind (mounts below the directory stay visible), and the
    directory's own mount flags (noexec, nosuid) still apply to the overlay
    that replaces the bind."""
    _open_to_mapped_root(t)
    r = t.rootfs("withsub")
    sub = os.path.join(t.tmp, "sub")
    os.mkdir(sub)
    with open(os.path.join(sub, "f"), "w") as f:
        f.write("from the submount\n")
    os.makedirs(os.path.join(r, "srv", "sub"))
    t.run(["mount", "--bind", sub, os.path.join(r, "srv", "sub")])
    t.defer(t.run, ["umount", os.path.join(r, "srv", "sub")])
    conf = _idmap_conf(t, "idmsub", r, "none")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.ok("idmap-layers" not in plan, "auto: a directory with mounts below it is not idmapped")
    t.contains(plan, "not idmapped: mounts below it (%s/srv/sub)" % r, "the plan says why")
    t.eq(_sh(t, conf, "cat /srv/sub/f").stdout, "from the submount\n", "and the mount below it is seen")
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sleep", "30"]', check=True)
    st = json.loads(t.diyctl("status", "--json", "idmsub", check=True).stdout)
    t.diyctl("stop", "-t", "1", "idmsub", check=True)
    t.eq(st["vars"].get("rootfs.idmap"), "the directory as it is (mounts below it (%s/srv/sub), which an idmapped "
         "mount would not take along)" % r, "and so does the status")
    # under an overlay (tmpfs or an upper layer) such a directory cannot be
    # a lower layer in a user namespace: check says so
    p = t.diyctl("check", _idmap_conf(t, "idmsub2", r, "tmpfs"))
    t.contains(p.stderr, "idmsub2.conf:1: rootfs.path: %s has mounts below it (%s/srv/sub): in a user namespace "
               "overlayfs takes no lower layer with mounts below it" % (r, r), "tmpfs over a directory with mounts")

    # a rootfs reached through a link: "auto" keeps the plain bind, true
    # is refused (an idmapped source is never reached through one)
    ln = os.path.join(t.tmp, "rootlink")
    os.symlink(t.rootfs("linked"), ln)
    conf = _idmap_conf(t, "idmln", ln, "tmpfs")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.ok("idmap-layers" not in plan, "auto: not through a link")
    t.contains(plan, "not idmapped: its path goes through a link (the real path is %s)"
               % os.path.join(t.tmp, "linked"), "the plan names the real path")
    p = t.diyctl("check", _idmap_conf(t, "idmln2", ln, "tmpfs", "true"))
    t.contains(p.stderr, "idmln2.conf:1: rootfs.idmap: %s is reached through a link (it is %s)"
               % (ln, os.path.join(t.tmp, "linked")), "true: refused, naming the real path")

    nx = _mounted(t, "nx", "tmpfs", "noexec,nosuid")
    t.run(["cp", "-a", t.rootfs("nxsrc") + "/.", nx])
    for writable, idmap in (("none", "auto"), ("tmpfs", "auto"), ("none", "false")):
        conf = _idmap_conf(t, "idmnx", nx, writable, '"%s"' % idmap if idmap == "auto" else idmap)
        plan = t.diyctl("plan", conf, check=True).stdout
        t.eq("idmap-layers" in plan, idmap == "auto", "%s/%s: idmapped as planned" % (writable, idmap))
        p = _sh(t, conf, "true", check=False)
        t.ok(p.returncode != 0 and "Permission denied" in p.stderr,
             "%s, idmap %s: a rootfs on a noexec mount runs nothing (%r)" % (writable, idmap, p.stderr))
    # the overlay root carries the directory's nosuid itself, as the bind did
    ns_ = _mounted(t, "ns", "tmpfs", "nosuid")
    t.run(["cp", "-a", t.rootfs("nssrc") + "/.", ns_])
    for writable in ("none", "tmpfs"):
        conf = _idmap_conf(t, "idmns", ns_, writable)
        t.contains(t.diyctl("plan", conf, check=True).stdout, "idmap-layers", "%s: idmapped" % writable)
        root = [l.split() for l in _sh(t, conf, "cat /proc/self/mountinfo").stdout.splitlines()
                if l.split()[4] == "/"]
        t.ok(root and "nosuid" in root[-1][5].split(","),
             "%s: the container's / is nosuid like the directory's mount (%s)" % (writable, root))


def test_idmapped_volumes(t):
    """volumes[].idmap, as nspawn's --bind=...:idmap and podman's :idmap: the
    launcher hands the container an idmapped mount of the source, so its
    owners are the same inside, and what the container writes belongs on the
    host to the ids it names. A read-only one stays read-only: the launcher
    makes it so, and a container given CAP_SYS_ADMIN (which could remount it)
    is refused by check."""
    _open_to_mapped_root(t)
    r = t.rootfs()
    vol, ro = os.path.join(t.tmp, "vol"), os.path.join(t.tmp, "ro")
    os.mkdir(vol)
    os.mkdir(ro)
    with open(os.path.join(vol, "f"), "w") as f:
        f.write("from the host\n")
    os.chown(os.path.join(vol, "f"), 33, 33)
    with open(os.path.join(ro, "cfg"), "w") as f:
        f.write("setting\n")
    single = os.path.join(t.tmp, "single")
    with open(single, "w") as f:
        f.write("one file\n")
    os.chown(single, 33, 33)
    vols = ('volumes = ( { source = "%s"; target = "/v"; idmap = true; },\n'
            '            { source = "%s"; target = "/ro"; readonly = true; idmap = true; },\n'
            '            { source = "%s"; target = "/tmp/single"; idmap = true; } );\n' % (vol, ro, single))
    script = ("echo v=$(stat -c %u:%g /v) f=$(stat -c %u:%g /v/f) ro=$(stat -c %u:%g /ro/cfg) "
              "single=$(stat -c %u:%g /tmp/single); cat /v/f /tmp/single; touch /v/made && "
              "echo hi > /v/www && chown 33:33 /v/www && echo wrote; echo x > /ro/new || echo ro-refused; "
              "mount -o remount,rw /ro 2>/dev/null; echo y > /ro/after 2>/dev/null || echo remount-refused")
    # with the rootfs idmapped too (the first process waits for the launcher
    # before its root), and without (it waits before the first such volume)
    for (ns, way), rootfs_idmap in zip(WAYS, ("true", "false")):
        way += ", rootfs.idmap = " + rootfs_idmap
        for p_ in ("made", "www"):
            if os.path.exists(os.path.join(vol, p_)):
                os.unlink(os.path.join(vol, p_))
        before = t.snapshot()
        conf = t.conf("idv", 'rootfs = { path = "%s"; writable = "tmpfs"; idmap = %s; };\nnamespaces = %s;\n%s%s'
                      % (r, rootfs_idmap, ns, IDMAP_UMAP, vols))
        plan = t.diyctl("plan", conf, check=True).stdout
        steps = [l.split()[2] for l in plan.splitlines() if len(l.split()) > 2 and l.split()[0].isdigit()]
        first_bind = [i for i, l in enumerate(plan.splitlines()) if "the launcher's idmapped mount" in l]
        waits = [i for i, l in enumerate(plan.splitlines()) if "wait-launcher" in l]
        t.ok(first_bind and waits and waits[0] < first_bind[0],
             "%s: the first process waits for the launcher before the volumes (%s)" % (way, steps))
        t.contains(plan, "idmapped mounts of the volume sources %s (writable" % vol, "%s: plan names them" % way)
        t.contains(plan, "%s (read-only)" % ro, "%s: and which is read-only" % way)
        p = _sh(t, conf, script)
        out = p.stdout
        t.contains(out, "v=0:0 f=33:33 ro=0:0 single=33:33", "%s: the sources' owners are the same inside" % way)
        t.contains(out, "from the host\none file\n", "%s: contents readable" % way)
        t.contains(out, "wrote", "%s: root inside writes to the root-owned directory" % way)
        t.contains(out, "ro-refused", "%s: the read-only volume is read-only" % way)
        t.contains(out, "remount-refused", "%s: and a remount attempt leaves it read-only" % way)
        t.ok(not os.path.exists(os.path.join(ro, "after")), "%s: nothing written after it" % way)
        t.eq(os.stat(os.path.join(vol, "made")).st_uid, 0, "%s: a file root makes is root's on the host" % way)
        st = os.stat(os.path.join(vol, "www"))
        t.eq((st.st_uid, st.st_gid), (33, 33), "%s: one chowned to 33 is 33's on the host" % way)
        t.ok(not os.path.exists(os.path.join(ro, "new")), "%s: nothing written to the read-only source" % way)
        t.host_unchanged(before, "%s: the host is as before" % way)
    # The read-only flag is the launcher's: no process inside undoes it,
    # not even in a nested user and mount namespace (where it is locked),
    # with the syscall filter off.
    conf = t.conf("idvro", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n%s'
                  'security = { seccomp = "unconfined"; };\n'
                  'volumes = ( { source = "%s"; target = "/ro"; readonly = true; idmap = true; } );\n'
                  % (r, NO_TIME_NS, IDMAP_UMAP, ro))
    p = _sh(t, conf, "/usr/bin/unshare -Urm /bin/sh -c 'mount -o remount,bind,rw /ro; echo x > /ro/nested' "
                     "|| echo nested-refused")
    t.contains(p.stdout, "nested-refused", "a nested user+mount namespace cannot make it writable (%r)" % p.stderr)
    t.ok(not os.path.exists(os.path.join(ro, "nested")), "nothing written to the read-only source")

    # A container that can change a source's path (here: one below a plain
    # volume its root owns) puts a link there, to a directory of the host's
    # root; the next start refuses the path, instead of handing it the
    # directory writable as root.
    ctr, secret = os.path.join(t.tmp, "ctr"), os.path.join(t.tmp, "secret")
    os.makedirs(os.path.join(ctr, "shared"))
    os.chown(ctr, 300000, 300000)
    os.mkdir(secret, 0o700)
    with open(os.path.join(secret, "key"), "w") as f:
        f.write("topsecret\n")
    conf = t.conf("idvln", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n%s'
                  'volumes = ( { source = "%s"; target = "/data"; },\n'
                  '            { source = "%s/shared"; target = "/shared"; idmap = true; } );\n'
                  % (r, NO_TIME_NS, IDMAP_UMAP, ctr, ctr))
    _sh(t, conf, "rm -rf /data/shared && ln -s %s /data/shared" % secret)
    t.ok(os.path.islink(os.path.join(ctr, "shared")), "the container put a link where the source was")
    p = _sh(t, conf, "cat /shared/key; echo pwn > /shared/pwned", check=False)
    t.ok(p.returncode != 0 and "topsecret" not in p.stdout, "the start is refused")
    t.contains(p.stderr, "idvln.conf:5: volumes[1].idmap: %s/shared is reached through a link (it is %s)"
               % (ctr, secret), "naming the key, the path and where the link leads")
    t.ok(not os.path.exists(os.path.join(secret, "pwned")), "the host's directory is untouched")
    # a source with a mount below it: an idmapped mount would not take it
    # along, and would show what it covers
    cov = os.path.join(t.tmp, "cov")
    os.makedirs(os.path.join(cov, "hidden"))
    _mounted(t, "cov/hidden", "tmpfs")
    conf = t.conf("idvsub", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n%s'
                  'volumes = ( { source = "%s"; target = "/cov"; idmap = true; } );\n'
                  % (r, NO_TIME_NS, IDMAP_UMAP, cov))
    p = t.diyctl("check", conf)
    t.contains(p.stderr, "idvsub.conf:4: volumes[0].idmap: %s has mounts below it" % cov, "a source with mounts "
               "below it is refused")

    # without idmap, the same source is nobody's inside
    conf = t.conf("idvno", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n%s'
                  'volumes = ( { source = "%s"; target = "/v"; } );\n' % (r, NO_TIME_NS, IDMAP_UMAP, vol))
    t.contains(_sh(t, conf, "stat -c %u:%g /v/f").stdout, "65534:65534", "without idmap: nobody's")
    # errors name file, line and key
    cases = (
        ('rootfs = { path = "%s"; };\nvolumes = ( { source = "%s"; target = "/v";\n idmap = true; } );\n' % (r, vol),
         "idvbad0.conf:3: volumes[0].idmap: needs \"user\" in namespaces"),
        ('rootfs = { path = "%s"; };\nnamespaces = %s;\nvolumes = ( { type = "tmpfs"; target = "/v";\n idmap = true; } );\n'
         % (r, NO_TIME_NS), "idvbad1.conf:4: volumes[0].idmap: only applies to bind volumes"),
        ('rootfs = { path = "%s"; };\nnamespaces = %s;\nsecurity = { capabilities = { add = [ "SYS_ADMIN" ]; }; };\n'
         'volumes = ( { source = "%s"; target = "/v"; readonly = true;\n idmap = true; } );\n' % (r, NO_TIME_NS, vol),
         "idvbad2.conf:5: volumes[0].idmap: a read-only idmapped volume cannot stay read-only in a container given "
         "CAP_SYS_ADMIN"),
    )
    for i, (body, msg) in enumerate(cases):
        p = t.diyctl("check", t.conf("idvbad%d" % i, body))
        t.ok(p.returncode != 0, "check refuses case %d" % i)
        t.contains(p.stderr, msg, "naming file, line and key")
    pw, xdg = make_user(t)
    conf = t.conf("idvrl", 'rootfs = { path = "%s"; };\nnamespaces = %s;\nuser = { map = "root"; };\n'
                  'volumes = ( { source = "%s"; target = "/v"; idmap = true; } );\n' % (r, NO_TIME_NS, vol))
    p = as_user(t, pw, xdg, "check", conf)
    t.ok(p.returncode != 0, "rootless: refused")
    t.contains(p.stderr, "idvrl.conf:4: volumes[0].idmap: needs root on the host", "saying why")
    # a source whose file system cannot be idmapped fails the start, naming the key
    ram = _mounted(t, "ramv", "ramfs")
    conf = t.conf("idvram", 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n%s'
                  'volumes = ( { source = "%s"; target = "/v"; idmap = true; } );\n' % (r, NO_TIME_NS, IDMAP_UMAP, ram))
    p = _sh(t, conf, "true", check=125)
    t.contains(p.stderr, "idvram.conf:4: volumes[0].idmap: cannot make an idmapped mount of the volume source %s: "
               "Invalid argument (its file system does not support idmapped mounts)" % ram, "the start names the key")


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


def _gone(pid):
    """The process is gone (or a zombie nobody reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):   # ESRCH: it went while we read
        return True


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
    t.wait_for(lambda: _gone(st["pid"]), timeout=5, msg="the container died with its launcher")
    as_user(t, pw, xdg, "cleanup", "rlk", check=True)
    t.eq(os.listdir(xdg), [], "rootless cleanup leaves nothing")
    t.host_unchanged(before, "rootless: the host is as before")


def test_dies_with_its_launcher_after_an_id_change(t):
    """A change of the host-side uid clears the kernel's death signal: the
    first process arms it again after becoming root of a user namespace that
    maps it elsewhere, and after becoming the configured user."""
    d = t.tmp
    while d not in ("/", "/tmp"):  # the mapped root is nobody special on the host
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    r = t.rootfs()
    loop = 'process = { args = [ "/bin/sh", "-c", "while true; do sleep 0.1; done" ]; %s };\n'
    cases = (
        ("idmapped", 'namespaces = %s;\nuser = { map = ( { inside = 0; outside = 300000; count = 65536; } ); };\n'
                     % NO_TIME_NS + loop % "", "root of a user namespace mapped to 300000"),
        ("idmapped-t", 'namespaces = %s;\nuser = { map = ( { inside = 0; outside = 300000; count = 65536; } ); };\n'
                       % ALL_NS + loop % "", "the same through the holder"),
        ("asuser", loop % 'user = "1000:1000";', "no user namespace, the process runs as 1000"),
    )
    for name, body, what in cases:
        conf = t.conf(name, 'rootfs = { path = "%s"; writable = "tmpfs"; };\n%s' % (r, body))
        before = t.snapshot()
        t.diyctl("start", "-d", conf, check=True)
        st = json.loads(t.diyctl("status", "--json", name, check=True).stdout)
        t.ok(st["pid"] > 0 and st["state"] == "running", "%s: running" % what)
        os.kill(st["launcher_pid"], 9)
        t.wait_for(lambda: _gone(st["pid"]), timeout=5, msg="%s: the container died with its launcher" % what)
        t.diyctl("cleanup", name, check=True)
        t.host_unchanged(before, "%s: the host is as before" % what)


# --------------------------------------------------------------------------
# Rootless containers in a cgroup delegated to the user, as systemd delegates
# one (systemd-run --user --scope -p Delegate=yes, or Delegate=yes in a user
# unit): the cgroup v2 directory and its cgroup.procs, cgroup.subtree_control
# and cgroup.threads belong to the user, and it is marked user.delegate=1.
# This machine's controllers are on cgroup v1, so the v2 hierarchy delegated
# here has none: placement is tested, limits only up to their clear refusal.
# --------------------------------------------------------------------------

DELEG = "app-diyctl.scope"  # "diyctl" in its name: the host snapshots watch it
DELEG_FILES = ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def _v2_mount():
    for mp in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.isfile(os.path.join(mp, "cgroup.controllers")):
            return mp
    return None


def _subdirs(d):
    return sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e)))


def _read(path):
    with open(path) as f:
        return f.read()


def delegated_cgroup(t, pw, name=DELEG, mark=True, chown=True):
    """A cgroup v2 directory set up the way systemd delegates one to a user
    (in the sandbox's own cgroup); removed after the test with whatever a
    failure left below it."""
    v2 = _v2_mount()
    if not v2:
        t.fail("no cgroup v2 hierarchy under /sys/fs/cgroup")
    d = os.path.join(v2, name)
    os.mkdir(d)

    def remove():
        for dirpath, _, _ in sorted(os.walk(d), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError as e:
                t.log("rmdir %s: %s" % (dirpath, e))
    t.defer(remove)
    if chown:
        for f in DELEG_FILES:
            os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)
    if mark:
        os.setxattr(d, "user.delegate", b"1")
    return v2, d


def as_user_in(t, pw, xdg, cg, *args, check=None, env=()):
    """as_user, started inside the cgroup cg (as systemd starts a scope's process)."""
    return t.run(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg] + _user_argv(t, pw, xdg, args, env),
                 check=check)


def _cg_of(pid):
    """The v2 cgroup of pid, as this sandbox's cgroup namespace shows it."""
    for line in _read("/proc/%d/cgroup" % pid).splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def _deleg_state(d):
    """What must be as before once the container is gone."""
    return {"subdirs": _subdirs(d), "procs": _read(os.path.join(d, "cgroup.procs")).split(),
            "subtree_control": _read(os.path.join(d, "cgroup.subtree_control")).split()}


LOOP = 'process = { args = [ "/bin/sh", "-c", "trap \\"exit 0\\" TERM; while true; do sleep 0.1; done" ]; };\n'


def rootless_in_delegated(t, name, extra=LOOP):
    """A user, a cgroup delegated to it, and a rootless config NAME; returns
    (pw, xdg, the delegated cgroup, config, its state before, host snapshot)."""
    pw, xdg = make_user(t)
    _, d = delegated_cgroup(t, pw)
    r = t.rootfs()
    conf = t.conf(name, 'rootfs = { path = "%s"; writable = "tmpfs"; };\nnamespaces = %s;\n'
                        'user = { map = "root"; };\n%s' % (r, NO_TIME_NS, extra))
    os.chmod(conf, 0o644)
    return pw, xdg, d, conf, _deleg_state(d), t.snapshot()


def test_rootless_cgroup_in_a_delegated_subtree(t):
    pw, xdg, d, conf, empty, before = rootless_in_delegated(t, "rlcg")

    plan = json.loads(as_user_in(t, pw, xdg, d, "plan", "--json", conf, check=True).stdout)
    steps = [s for s in plan["steps"] if s["kind"] == "cgroup"]
    t.eq(len(steps), 1, "rootless in a delegated cgroup: the plan has the cgroup step")
    t.eq(steps[0]["args"], [["group", "rlcg"], ["under", "self"], ["unprivileged", "1"]],
         "inside the launcher's own cgroup, unprivileged")
    t.contains(steps[0]["description"], "delegated cgroup, on cgroup v2 only", "the plan says where")
    t.contains(steps[0]["description"], "no device filter", "and that there is no device program")
    t.ok(not [s for s in json.loads(as_user(t, pw, xdg, "plan", "--json", conf, check=True).stdout)["steps"]
              if s["kind"] == "cgroup"], "outside the delegated cgroup: no cgroup step")

    as_user_in(t, pw, xdg, d, "start", "-d", conf, check=True)
    st = json.loads(as_user(t, pw, xdg, "status", "--json", "rlcg", check=True).stdout)
    t.eq(st["cgroups"], [os.path.join(d, "rlcg")], "one cgroup, on the v2 hierarchy only (never v1)")
    rel = "/" + DELEG
    t.eq(_cg_of(st["pid"]), rel + "/rlcg", "the container's process is in DELEG/NAME")
    t.eq(_cg_of(st["launcher_pid"]), rel + "/supervisor", "the launcher moved to the leaf supervisor")
    t.eq(_read(os.path.join(d, "cgroup.procs")).split(), [], "the delegated cgroup itself holds no process")
    t.eq(_subdirs(d), ["rlcg", "supervisor"], "nothing else below it")
    for line in _read("/proc/%d/cgroup" % st["pid"]).splitlines():
        if not line.startswith("0::"):
            t.ok(not line.endswith("/rlcg"), "no v1 cgroup of its own: %s" % line)
    ctrls = _read(os.path.join(d, "cgroup.controllers")).split()
    t.eq(st["pids_current"] is not None, "pids" in ctrls, "status: pids_current when pids is delegated: %s" % st)
    t.eq(st["memory_bytes"] is not None, "memory" in ctrls, "status: memory_bytes when memory is: %s" % st)

    # From a shell outside the delegated subtree the kernel refuses the move:
    # the command still runs, outside the container's cgroup, and says so.
    p = as_user(t, pw, xdg, "exec", "rlcg", "/bin/echo", "hi", check=True)
    t.eq(p.stdout.strip(), "hi", "exec from outside the delegated cgroup works")
    t.contains(p.stderr, "outside the container's cgroup", "and says it runs outside its cgroup")

    as_user(t, pw, xdg, "stop", "rlcg", check=True)
    t.eq(_deleg_state(d), empty, "after stop the delegated cgroup is as it was (no NAME, no supervisor)")
    t.eq(os.listdir(xdg), [], "the state is gone")

    # Inside, with "cgroup" in namespaces, its cgroup is "/".
    p = as_user_in(t, pw, xdg, d, "start", conf, "--set", 'process.args=["/bin/cat", "/proc/self/cgroup"]',
                   check=True)
    paths = sorted(set(l.split(":", 2)[2] for l in p.stdout.splitlines() if l.count(":") >= 2))
    t.eq(paths, ["/"], "the container sees its cgroup as / (%r)" % p.stdout)
    t.eq(_deleg_state(d), empty, "and leaves nothing")
    t.host_unchanged(before, "rootless cgroup: the host is as before")


def test_rootless_cgroup_limits_need_their_controller(t):
    pw, xdg, d, conf, empty, _ = rootless_in_delegated(t, "rlp", 'limits = {\n  pids = 10;\n};\n')
    # Not marked delegated; marked but not the user's.
    _, other = delegated_cgroup(t, pw, name="unmarked-diyctl.scope", mark=False)
    _, roots = delegated_cgroup(t, pw, name="root-diyctl.scope", chown=False)
    before = t.snapshot()
    if "pids" in _read(os.path.join(d, "cgroup.controllers")).split():
        t.fail("this test expects a v2 hierarchy without the pids controller (hybrid host)")
    plan = as_user_in(t, pw, xdg, d, "plan", conf, check=True).stdout
    t.contains(plan, "pids=10", "the plan shows the limit in the cgroup step")
    p = as_user_in(t, pw, xdg, d, "start", conf, "--set", 'process.args=["/bin/true"]')
    t.eq(p.returncode, 125, "start fails")
    t.contains(p.stderr, "rlp.conf:5: limits.pids: the pids controller is not delegated to /%s (" % DELEG,
               "naming the key, the controller and the cgroup")
    t.contains(p.stderr, "cgroup.controllers lists none", "and what is delegated")
    t.contains(p.stderr, "cgroup v1", "and, on a hybrid host, why")
    t.eq(_deleg_state(d), empty, "nothing left in the delegated cgroup")
    t.eq(os.listdir(xdg), [], "nor any state")

    # Without a delegated cgroup: refused at plan time, with how to get one.
    p = as_user(t, pw, xdg, "check", conf)
    t.eq(p.returncode, 1, "check fails outside a delegated cgroup")
    t.contains(p.stderr, "rlp.conf:4: limits: resource limits need the container's own cgroup", "at the key")
    t.contains(p.stderr, "systemd-run --user --scope -p Delegate=yes", "saying how to get one")
    # Not marked delegated, or not the user's: no cgroup by default either.
    p = as_user_in(t, pw, xdg, other, "check", conf)
    t.contains(p.stderr, "limits: resource limits need", "a cgroup without user.delegate is not taken")
    p = as_user_in(t, pw, xdg, roots, "check", conf)
    t.contains(p.stderr, "limits: resource limits need", "nor a marked one the user cannot write")
    # ... and DIYCTL_CGROUP_PARENT=self on it fails cleanly at start.
    p = as_user_in(t, pw, xdg, roots, "start", conf, "--set", 'process.args=["/bin/true"]', "--set", "limits={}",
                   env=["DIYCTL_CGROUP_PARENT=self"])
    t.eq(p.returncode, 125, "DIYCTL_CGROUP_PARENT=self in a cgroup that is not the user's: start fails")
    t.contains(p.stderr, "the launcher's cgroup /root-diyctl.scope is not delegated to you", "saying why")
    t.eq(_subdirs(roots), [], "leaving nothing")
    t.eq(os.listdir(xdg), [], "nor any state")
    t.host_unchanged(before, "refused limits: the host is as before")


def test_rootless_cgroup_cleanup_after_a_launcher_crash(t):
    pw, xdg, d, conf, empty, before = rootless_in_delegated(t, "rlk")
    as_user_in(t, pw, xdg, d, "start", "-d", conf, check=True)
    st = json.loads(as_user(t, pw, xdg, "status", "--json", "rlk", check=True).stdout)
    t.eq(_subdirs(d), ["rlk", "supervisor"], "running: NAME and supervisor")
    os.kill(st["launcher_pid"], 9)
    t.wait_for(lambda: json.loads(as_user(t, pw, xdg, "status", "--json", "rlk").stdout or "{}").get("state") == "dead",
               msg="the launcher is gone")
    t.ok(os.path.isdir(os.path.join(d, "rlk")), "the crash left the container's cgroup behind")
    j = json.loads(as_user(t, pw, xdg, "journal", "--json", "rlk", check=True).stdout)
    rec = [x for x in j["records"] if x["kind"] == "cgroup"]
    t.eq([(x["state"], x["fields"].get("dir"), x["fields"].get("unit"), x["fields"].get("supervisor"))
          for x in rec], [("done", os.path.join(d, "rlk"), d, os.path.join(d, "supervisor"))],
         "journaled as in the root case: the container's cgroup, the delegated one and the leaf")
    as_user(t, pw, xdg, "cleanup", "rlk", check=True)
    t.eq(_deleg_state(d), empty, "cleanup by the user removed NAME and supervisor")
    t.eq(os.listdir(xdg), [], "and the state")
    t.host_unchanged(before, "rootless cgroup after a crash: the host is as before")


def test_rootless_cgroup_kill_at_every_host_step(t):
    pw, xdg, d, conf, empty, before = rootless_in_delegated(t, "rlf")
    plan = json.loads(as_user_in(t, pw, xdg, d, "plan", "--json", conf, check=True).stdout)
    points = [s["index"] for s in plan["steps"] if s["side"] in ("host", "parent", "spawn")]
    t.ok([s for s in plan["steps"] if s["kind"] == "cgroup"], "the plan has the cgroup step")
    for k in points:
        for when in ("before", "after"):
            p = as_user_in(t, pw, xdg, d, "start", "-d", conf, env=["DIYCTL_FAULT=%d:%s" % (k, when)])
            t.ok(p.returncode != 0, "start with the fault at %d:%s must not succeed" % (k, when))
            c = as_user(t, pw, xdg, "cleanup", "rlf")
            t.eq(c.returncode, 0, "cleanup by the user after a kill at %d:%s (stderr: %s)" % (k, when, c.stderr))
            t.eq(_deleg_state(d), empty, "the delegated cgroup after a kill at %d:%s and cleanup" % (k, when))
            t.eq(os.listdir(xdg), [], "no state after a kill at %d:%s" % (k, when))
    t.host_unchanged(before, "rootless cgroup, kills at every step: the host is as before")
