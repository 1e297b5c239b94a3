"""Issue 3: a .conf file becomes a running, isolated container. Each test
checks from inside (with the probe) what a user would check."""

import json
import os
import shutil
import signal
import socket

EXPECTED_MOUNTS = ["/", "/proc", "/sys", "/dev", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                   "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/shm", "/run", "/tmp"]
# Then the hardening mounts (issue 8; test_security.py checks them): read-only
# /proc/sys and friends, and the masks over kernel files this kernel has.
HARDENING = ("/proc/", "/sys/firmware", "/sys/devices/virtual/powercap")


def basic_conf(t, extra="", rootfs=None):
    r = rootfs or t.rootfs()
    return t.conf("box", 'rootfs = { path = "%s"; };\nhostname = "box1";\n%s' % (r, extra))


def mountpoints(d):
    return [m["mountpoint"] for m in d["mounts"]]


def opts(d, mountpoint):
    for m in d["mounts"]:
        if m["mountpoint"] == mountpoint:
            return set(m["options"].split(","))
    return set()


def test_pid1_hostname_and_processes(t):
    host_name = socket.gethostname()
    d = t.probe(basic_conf(t))
    t.eq(d["pid"], 1, "the command is PID 1 in its pid namespace")
    t.eq(d["pids"], [1], "ps shows only the container's processes")
    t.eq(d["hostname"], "box1", "the configured hostname")
    t.eq(socket.gethostname(), host_name, "the host's hostname is unchanged")
    t.eq((d["uid"], d["gid"]), (0, 0), "default user is 0:0")
    t.eq(d["cwd"], "/", "default cwd")
    t.eq(d["env"], [], "the environment starts empty, like env -i")


def test_root_is_the_rootfs_and_host_mounts_are_gone(t):
    r = t.rootfs()
    with open(os.path.join(r, "marker-%d" % os.getpid()), "w") as f:
        f.write("x")
    conf = basic_conf(t, rootfs=r)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/ls", "/"]', check=True)
    t.contains(p.stdout.split(), "marker-%d" % os.getpid(), "a marker file proves / is the rootfs")
    d = t.probe(conf)
    t.eq([m for m in mountpoints(d) if not m.startswith(HARDENING)], EXPECTED_MOUNTS,
         "/proc/self/mountinfo lists exactly the container's mounts")
    for host_mp in ("/etc", "/var/lib/diyctl", "/sys/fs/cgroup", "/run/diyctl"):
        t.ok(host_mp not in mountpoints(d), "host mount %s visible inside" % host_mp)
    t.ok({"nosuid", "nodev", "noexec"} <= opts(d, "/proc"), "/proc is nosuid,nodev,noexec: %s" % opts(d, "/proc"))
    t.ok("ro" in opts(d, "/sys"), "/sys is read-only with a net namespace")
    t.ok("nosuid" in opts(d, "/dev"), "/dev is nosuid")
    devpts = [m for m in d["mounts"] if m["mountpoint"] == "/dev/pts"][0]
    t.eq(devpts["fstype"], "devpts", "/dev/pts is a devpts")
    t.contains(devpts["super_options"], "ptmxmode=666", "a new devpts instance with its own ptmx")
    ls = t.diyctl("start", conf, "--set", 'process.args=["/bin/ls", "-l", "/dev/ptmx", "/dev/fd", "/dev/stdin"]',
                  check=True).stdout
    t.contains(ls, "/dev/ptmx -> pts/ptmx", "/dev/ptmx points into the container's devpts")
    t.contains(ls, "/dev/fd -> /proc/self/fd", "/dev/fd link")
    devs = t.diyctl("start", conf, "--set", 'process.args=["/bin/ls", "/dev"]', check=True).stdout.split()
    t.eq(sorted(devs), sorted(["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
                               "tty", "urandom", "zero"]), "/dev holds only the devices it was given")


def test_only_loopback_with_a_net_namespace(t):
    d = t.probe(basic_conf(t))
    t.eq(d["links"], ["lo"], "only lo exists in the container's net namespace")
    p = t.diyctl("start", basic_conf(t), "--set", 'process.args=["/bin/cat", "/sys/class/net/lo/operstate"]',
                 check=True)
    t.ok(p.stdout.strip() in ("unknown", "up"), "lo is up (operstate %r)" % p.stdout.strip())


def test_host_network_mode(t):
    host_links = sorted(l["ifname"] for l in json.loads(t.run(["ip", "-j", "link"]).stdout))
    d = t.probe(basic_conf(t, 'network = { mode = "host"; };\n'))
    t.eq(sorted(d["links"]), host_links, "network.mode host shares the host's links")
    t.ok("ro" in opts(d, "/sys"), "/sys read-only also with the host's net namespace (its knobs are the host's)")


def test_process_args_env_cwd_user(t):
    conf = basic_conf(t, 'process = { env = [ "A=1", "B=two words" ]; cwd = "/etc"; user = "65534:65534"; };\n')
    d = t.probe(conf, args=["x", "y z"])
    t.eq(d["argv"], ["/bin/dc-probe", "x", "y z"], "exactly the configured args")
    t.eq(d["env"], ["A=1", "B=two words"], "exactly the configured environment")
    t.eq(d["cwd"], "/etc", "the configured cwd")
    t.eq((d["uid"], d["gid"], d["euid"], d["egid"]), (65534, 65534, 65534, 65534), "the configured uid:gid")
    t.eq(d["groups"], [], "no supplementary groups")
    d = t.probe(basic_conf(t, 'process = { user = "nobody"; };\n'))
    t.eq((d["uid"], d["gid"]), (65534, 65534), "a user name is looked up in the rootfs's /etc/passwd")
    fds = sorted(int(k) for k in d["fds"]) if isinstance(d["fds"], dict) else sorted(f["fd"] for f in d["fds"])
    t.ok(fds[:3] == [0, 1, 2] and all(fd <= 3 for fd in fds), "only fds 0-2 reach the process: %s" % d["fds"])


def test_supplementary_groups_from_etc_group(t):
    # A user found in passwd gets the groups /etc/group lists it in, as
    # initgroups(3), Docker and nspawn give them; an explicit group is the
    # only one; exec does the same
    r = t.rootfs()
    with open(os.path.join(r, "etc", "passwd"), "a") as f:
        f.write("app::1000:1000:app:/:/bin/sh\n")
    with open(os.path.join(r, "etc", "group"), "a") as f:
        f.write("app:x:1000:\nextra:x:2000:app,nobody\nother::3000:nobody\nwheel:x:10:root\n")
    conf = basic_conf(t, 'process = { user = "app"; };\n', rootfs=r)
    d = t.probe(conf)
    t.eq((d["uid"], d["gid"], sorted(d["groups"])), (1000, 1000, [2000]), "app: its group extra too")
    d = t.probe(conf, 'process.user="1000"')
    t.eq(sorted(d["groups"]), [2000], "a numeric uid that passwd names: the same")
    d = t.probe(conf, 'process.user="nobody"')
    t.eq(sorted(d["groups"]), [2000, 3000], "nobody: extra and other (an empty password field too)")
    d = t.probe(conf, 'process.user="app:other"')
    t.eq((d["gid"], d["groups"]), (3000, []), "an explicit group alone, as docker run -u app:other")
    d = t.probe(conf, 'process.user="4242"')
    t.eq((d["uid"], d["gid"], d["groups"]), (4242, 0, []), "a uid passwd does not know: no groups")
    # a user namespace maps 0 alone: root's group wheel (10) is left out, not an error
    d = t.probe(conf, 'process.user="root"', 'namespaces=["mount","uts","ipc","pid","net","user"]',
                'user={map="root";}')
    t.eq((d["uid"], d["groups"]), (0, []), "in a user namespace, unmapped groups are left out")
    # exec, as the container's user or -u
    live = basic_conf(t, 'process = { user = "app"; args = [ "/bin/sleep", "60" ]; init = true; };\n', rootfs=r)
    t.diyctl("start", "-d", live, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "box", check=False)
    t.eq(t.diyctl("exec", "box", "id", "-G", check=True).stdout.split(), ["1000", "2000"], "exec: app's groups")
    t.eq(sorted(t.diyctl("exec", "-u", "nobody", "box", "id", "-G", check=True).stdout.split()),
         ["2000", "3000", "65534"], "exec -u nobody: nobody's")
    t.diyctl("stop", "-t", "1", "box", check=True)


def test_volumes(t):
    src = os.path.join(t.tmp, "www")
    os.mkdir(src)
    with open(os.path.join(src, "index.html"), "w") as f:
        f.write("hello")
    rw = os.path.join(t.tmp, "data")
    os.mkdir(rw)
    conf = basic_conf(t, 'volumes = ( { source = "www"; target = "/www"; readonly = true; },\n'
                         '            { source = "data"; target = "/data"; },\n'
                         '            { type = "tmpfs"; target = "/scratch"; size = "1M"; } );\n')
    w = t.probe(conf, args=["write", "/www/new"])
    t.eq((w["ok"], w.get("errno")), (False, 30), "writing to a read-only volume fails with EROFS")
    t.ok(not os.path.exists(os.path.join(src, "new")), "nothing written to the read-only source")
    w = t.probe(conf, args=["write", "/data/made-inside"])
    t.eq(w["ok"], True, "writing to a read-write volume works")
    t.ok(os.path.exists(os.path.join(rw, "made-inside")), "the file shows up on the host")
    out = t.diyctl("start", conf, "--set", 'process.args=["/bin/cat", "/www/index.html"]', check=True).stdout
    t.eq(out, "hello", "a relative volume source resolves against the config's directory")
    d = t.probe(conf)
    t.ok("ro" in opts(d, "/www"), "/www mounted read-only")
    scratch = [m for m in d["mounts"] if m["mountpoint"] == "/scratch"]
    t.ok(scratch and scratch[0]["fstype"] == "tmpfs" and "size=1024k" in scratch[0]["super_options"],
         "tmpfs volume with its size: %s" % scratch)


def test_nested_volumes_whatever_their_order(t):
    # a volume inside another's target stays visible when listed first
    for d, f in (("outer", "o"), ("inner", "i")):
        os.mkdir(os.path.join(t.tmp, d))
        open(os.path.join(t.tmp, d, f), "w").close()
    conf = basic_conf(t, 'volumes = ( { source = "inner"; target = "/p/q"; },\n'
                         '            { source = "outer"; target = "/p"; } );\n')
    out = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh","-c","ls /p; ls /p/q"]', check=True).stdout
    t.eq(out.split(), ["o", "q", "i"], "/p is outer's, and /p/q inner's on top of it")


def test_volume_target_through_a_dangling_link(t):
    # a target whose parent is a link to nowhere (inside the container) is
    # refused, and the message says it is the link, not a missing /abs
    r = t.rootfs()
    os.symlink("/nonexistent/outside", os.path.join(r, "abs"))
    conf = basic_conf(t, 'volumes = ( { type = "tmpfs";\n  target = "/abs/m"; } );\n', rootfs=r)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]')
    t.eq(p.returncode, 125, "the start fails")
    t.contains(p.stderr, "box.conf:4: volumes[0].target: /abs is a symbolic link to /nonexistent/outside, which "
               "does not exist in the container", "naming the link and where it points")
    t.ok(not os.path.exists("/nonexistent"), "nothing made on the host")


def test_exit_code_propagates(t):
    conf = basic_conf(t)
    t.eq(t.diyctl("start", conf, "--set", 'process.args=["/bin/dc-probe", "exit", "42"]').returncode, 42,
         "the container's exit code is diyctl's")
    t.eq(t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "kill -TERM $$"]',
                  "--set", "process.init=true").returncode, 128 + 15, "a signal death is 128+N")


def test_init_reaps_and_is_pid1(t):
    conf = basic_conf(t, "process = { init = true; };\n")
    d = t.probe(conf)
    t.eq((d["pid"], d["ppid"]), (2, 1), "with init, the command is PID 2 under PID 1")
    t.eq(sorted(d["pids"]), [1, 2], "only init and the command")
    # an orphan that exits must be reaped, not left a zombie
    out = t.diyctl("start", conf, "--set",
                   'process.args=["/bin/sh", "-c", "(sleep 0.2 &) ; sleep 0.5; cat /proc/*/stat | grep -c \' Z \' || true"]',
                   check=True).stdout.strip()
    t.eq(out, "0", "no zombies: init reaps orphans")


def test_tmpfs_volume_mode(t):
    # A tmpfs volume is world-writable and sticky by default, as /tmp and
    # Docker's are, so a process.user other than root can use it;
    # volumes[].mode sets another.
    script = 'stat -c "%a" /scratch /private; touch /scratch/mine && echo wrote; touch /private/x || echo refused'
    conf = basic_conf(t, 'process = { args = [ "/bin/sh", "-c", %s ]; user = "65534:65534"; '
                         'env = [ "PATH=/bin:/usr/bin" ]; };\n'
                         'volumes = ( { type = "tmpfs"; target = "/scratch"; },\n'
                         '            { type = "tmpfs"; target = "/private"; mode = "0700"; } );\n' % json.dumps(script))
    out = t.diyctl("start", conf, check=True).stdout.split()
    t.eq(out[:3], ["1777", "700", "wrote"], "default 1777 (nobody writes there), mode = \"0700\" as set")
    t.eq(out[3:], ["refused"], "the 0700 one is root's alone")
    j = json.loads(t.diyctl("config", "--json", conf, check=True).stdout)
    t.eq([v["mode"] for v in j["volumes"]], ["1777", "0700"], "config --json shows both, the default filled")
    p = t.diyctl("check", basic_conf(t, 'volumes = ( { source = "/tmp"; target = "/x"; mode = "0700"; } );\n'))
    t.contains(p.stderr, "volumes[0].mode: only applies to tmpfs volumes", "a bind volume has its source's mode")
    p = t.diyctl("check", basic_conf(t, 'volumes = ( { type = "tmpfs"; target = "/x"; mode = "755x"; } );\n'))
    t.contains(p.stderr, 'box.conf:3: volumes[0].mode: expected an octal mode as a string, like "1777"',
               "a bad mode is named by file, line and key")


def test_volume_error_names_the_volume(t):
    # A volume the kernel refuses at start (a file on a directory) is named
    # by file, line and key, and the failed start leaves the host as it was.
    with open(os.path.join(t.tmp, "afile"), "w") as f:
        f.write("x")
    conf = basic_conf(t, 'volumes = ( { type = "tmpfs"; target = "/scratch"; },\n'
                         '            { source = "afile"; target = "/etc"; } );\n')
    before = t.snapshot()
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    t.contains(p.stderr, "box.conf:4: volumes[1].target: cannot bind", "the error names the volume")
    t.contains(p.stderr, "one is a directory, the other is not", "and says why")
    t.host_unchanged(before, "nothing left")


def test_writable_dir_that_cannot_be_an_upper_layer(t):
    # check refuses what overlayfs would refuse or get wrong at start: an
    # upper layer inside the rootfs, or on overlayfs itself.
    r = t.rootfs()
    os.makedirs(os.path.join(r, "up"), exist_ok=True)
    c = t.conf("w1", 'rootfs = { path = "%s"; writable = "%s/up"; };\n' % (r, r))
    p = t.diyctl("check", c)
    t.eq(p.returncode, 1, "an upper layer inside the rootfs is refused")
    t.contains(p.stderr, "w1.conf:1: rootfs.writable: ", "naming file, line and key")
    t.contains(p.stderr, "overlap", "and why")
    ov = os.path.join(t.tmp, "ov")
    for d in ("lo", "u", "wk", "ov"):
        os.makedirs(os.path.join(t.tmp, d), exist_ok=True)
    t.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s/lo,upperdir=%s/u,workdir=%s/wk"
           % (t.tmp, t.tmp, t.tmp), ov])
    t.defer(t.run, ["umount", ov], check=False)
    os.mkdir(os.path.join(ov, "up"))
    c = t.conf("w2", 'rootfs = { path = "%s"; writable = "%s/up"; };\n' % (r, ov))
    p = t.diyctl("check", c)
    t.eq(p.returncode, 1, "an upper layer on overlayfs is refused")
    t.contains(p.stderr, "w2.conf:1: rootfs.writable: %s/up is on overlayfs" % ov, "and says why")
    up = os.path.join(t.tmp, "fine")
    os.mkdir(up)
    t.diyctl("check", t.conf("w3", 'rootfs = { path = "%s"; writable = "%s"; };\n' % (r, up)), check=True)
    p = t.diyctl("check", t.conf("w4", 'rootfs = { path = "%s"; writable = "/"; };\n' % r))
    t.contains(p.stderr, "w4.conf:1: rootfs.writable: / is the host's root directory",
               "the host's / is refused: upper/ and work/ would be made there")


def test_read_only_root_is_never_written(t):
    # With writable = "none" diyctl makes no mount point in the rootfs: a
    # missing one fails the start, named, and the directory stays as it was.
    r = t.rootfs()
    shutil.rmtree(os.path.join(r, "run"), ignore_errors=True)
    before_tree = sorted(os.listdir(r))
    conf = t.conf("ro", 'rootfs = { path = "%s"; writable = "none"; };\n' % r)
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    t.contains(p.stderr, 'ro.conf:1: rootfs.writable = "none": a read-only root gets no new mount points',
               "the error names the key and says why")
    t.eq(sorted(os.listdir(r)), before_tree, "no directory was made in the rootfs")
    os.mkdir(os.path.join(r, "run"))
    vol = os.path.join(t.tmp, "vol")
    os.mkdir(vol)
    conf = t.conf("ro", 'rootfs = { path = "%s"; writable = "none"; };\n'
                        'volumes = ( { source = "%s"; target = "/mnt/x/y"; } );\n' % (r, vol))
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "a volume with no mount point fails too")
    t.contains(p.stderr, "ro.conf:2: volumes[0].target: ", "named by its key")
    t.ok(not os.path.exists(os.path.join(r, "mnt", "x")), "and nothing was made for it in the rootfs")


def test_check_sees_what_start_would_miss(t):
    # check (and plan) look into a directory rootfs for what start would
    # fail on; start keeps its own errors (127 for a missing program)
    r = t.rootfs()
    os.mkdir(os.path.join(r, "data"))
    open(os.path.join(r, "afile"), "w").close()
    os.mkdir(os.path.join(t.tmp, "srcdir"))
    open(os.path.join(t.tmp, "srcfile"), "w").close()
    cases = [
        ('process = { args = [ "/bin/nothere" ]; };', "box.conf:3: process.args: /bin/nothere: no such executable "
         "file in the rootfs"),
        ('process = { args = [ "nothere" ]; env = [ "PATH=/bin:/sbin" ]; };',
         "box.conf:3: process.args: nothere: command not found in the rootfs (PATH /bin:/sbin)"),
        ('process = { args = [ "/etc/passwd" ]; };', "process.args: /etc/passwd: no such executable file"),
        ('process = { cwd = "/nope"; };', "box.conf:3: process.cwd: /nope: no such directory in the rootfs"),
        ('process = { cwd = "/afile"; };', "box.conf:3: process.cwd: /afile is not a directory in the rootfs"),
        # /run and /tmp are empty tmpfs in the container; directories are
        # made only on the way to a volume
        ('process = { cwd = "/tmp/work"; };', "box.conf:3: process.cwd: /tmp/work: no such directory in the rootfs"),
        ('process = { cwd = "/srv/other"; };\nvolumes = ( { type = "tmpfs"; target = "/srv/data"; } );',
         "box.conf:3: process.cwd: /srv/other: no such directory in the rootfs"),
        ('process = { args = [ "/bin/sh/" ]; };', "box.conf:3: process.args: /bin/sh/: no such executable file"),
        ('process = { user = "ghost"; };', "box.conf:3: process.user: user ghost is not in the rootfs's /etc/passwd"),
        ('process = { user = "nobody:ghosts"; };', "process.user: group ghosts is not in the rootfs's /etc/group"),
        ('volumes = ( { source = "srcfile"; target = "/data"; } );',
         "box.conf:3: volumes[0].target: /data is a directory in the rootfs, and the source %s/srcfile a file"
         % t.tmp),
        ('volumes = ( { source = "srcdir"; target = "/afile"; } );', "volumes[0].target: /afile is a file in the "
         "rootfs, and the source %s/srcdir a directory" % t.tmp),
        ('rootfs = { path = "%s"; writable = "none"; };\nvolumes = ( { type = "tmpfs"; target = "/newdir"; } );' % r,
         "volumes[0].target: /newdir is not in the rootfs, and rootfs.writable = \"none\""),
    ]
    def conf_of(extra):
        if extra.startswith("rootfs"):
            return t.conf("box", extra + "\n")
        return basic_conf(t, extra + "\n", rootfs=r)

    for extra, msg in cases:
        conf = conf_of(extra)
        for cmd in ("check", "plan"):
            p = t.diyctl(cmd, conf)
            t.eq(p.returncode, 1, "%s refuses %s" % (cmd, extra))
            t.contains(p.stderr, msg, "%s names it: %s" % (cmd, extra))
    # what mounts provide is not known before the start: left alone
    fine = ['process = { cwd = "/tmp"; args = [ "/data/x/run" ]; };\n'
            'volumes = ( { type = "tmpfs"; target = "/data/x"; } );',
            'process = { cwd = "/tmp/x/vol/sub"; };\nvolumes = ( { type = "tmpfs"; target = "/tmp/x/vol"; } );',
            'process = { cwd = "/srv/data"; };\nvolumes = ( { type = "tmpfs"; target = "/srv/data"; } );',
            'process = { args = [ "sh" ]; cwd = "/data"; user = "nobody:nogroup"; };',
            'process = { args = [ "tool" ]; env = [ "PATH=/opt/bin:/bin" ]; };\n'
            'volumes = ( { source = "srcdir"; target = "/opt/bin"; } );',
            'rootfs = { path = "%s"; writable = "none"; };\nvolumes = ( { source = "srcdir"; target = "/data"; } );'
            % r]
    for extra in fine:
        t.diyctl("check", conf_of(extra), check=True)
    # links of the rootfs that lead into a volume: not known before the start
    linked = t.rootfs("linked")
    os.makedirs(os.path.join(t.tmp, "appvol", "app"))
    with open(os.path.join(t.tmp, "appvol", "app", "run"), "w") as f:
        f.write("#!/bin/sh\necho from-volume\n")
    os.chmod(os.path.join(t.tmp, "appvol", "app", "run"), 0o755)
    os.symlink("/data/app/run", os.path.join(linked, "usr", "bin", "runapp"))
    os.symlink("/data/app", os.path.join(linked, "opt"))
    os.makedirs(os.path.join(t.tmp, "cfgvol"))
    shutil.copy(os.path.join(linked, "etc", "passwd"), os.path.join(t.tmp, "cfgvol", "passwd"))
    with open(os.path.join(t.tmp, "cfgvol", "passwd"), "a") as f:
        f.write("app:x:1000:1000::/:/bin/sh\n")
    os.unlink(os.path.join(linked, "etc", "passwd"))
    os.symlink("/config/passwd", os.path.join(linked, "etc", "passwd"))
    vols = 'volumes = ( { source = "appvol"; target = "/data"; }, { source = "cfgvol"; target = "/config"; } );\n'
    for proc in ('args = [ "/usr/bin/runapp" ];', 'args = [ "runapp" ]; env = [ "PATH=/usr/bin:/bin" ];',
                 'args = [ "/bin/pwd" ]; cwd = "/opt";', 'args = [ "/data/app/run" ]; user = "app";'):
        conf = basic_conf(t, "process = { %s };\n%s" % (proc, vols), rootfs=linked)
        t.diyctl("check", conf, check=True)
        t.diyctl("start", conf, check=True)
    # a merged /usr (/bin -> usr/bin): a volume on /bin/tool is where the program is
    merged = t.rootfs("merged")
    for d in ("bin", "sbin"):
        shutil.rmtree(os.path.join(merged, "usr", d), ignore_errors=True)
        os.rename(os.path.join(merged, d), os.path.join(merged, "usr", d))
        os.symlink("usr/" + d, os.path.join(merged, d))
    with open(os.path.join(t.tmp, "tool"), "w") as f:
        f.write("#!/bin/sh\necho tool-ok\n")
    os.chmod(os.path.join(t.tmp, "tool"), 0o755)
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nprocess = { args = [ "tool" ]; };\n'
                         'volumes = ( { source = "tool"; target = "/bin/tool"; } );\n' % merged)
    t.diyctl("check", conf, check=True)
    t.eq(t.diyctl("start", conf, check=True).stdout.strip(), "tool-ok", "and start finds it there")
    # a resolv.conf linked to where the rootfs has nothing (outside /run and /tmp, where start would make it)
    os.unlink(os.path.join(merged, "etc", "resolv.conf")) if os.path.lexists(os.path.join(merged, "etc", "resolv.conf")) \
        else None
    os.symlink("../var/nothere/resolv.conf", os.path.join(merged, "etc", "resolv.conf"))
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n' % merged)
    p = t.diyctl("check", conf)
    t.contains(p.stderr, "box.conf:2: network.dns: diyctl binds the container's /etc/resolv.conf, and the rootfs's is "
               "a link to ../var/nothere/resolv.conf, which will not exist", "a resolv.conf link to nowhere")
    t.ok(t.diyctl("start", conf).returncode != 0, "and start refuses it too")
    t.ok(not os.path.exists(os.path.join(merged, "var", "nothere")), "without making anything in the rootfs")
    # passwd lines start reads as none (a uid that is not a number), and a FIFO that would block a reader
    with open(os.path.join(merged, "etc", "passwd"), "a") as f:
        f.write("bob:x::100::/:/bin/sh\n")
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nprocess = { user = "bob"; };\n' % merged)
    t.contains(t.diyctl("check", conf).stderr, "process.user: user bob is not in the rootfs's /etc/passwd",
               "an entry start would not take")
    os.unlink(os.path.join(merged, "etc", "group"))
    os.mkfifo(os.path.join(merged, "etc", "group"))
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nprocess = { user = "root:wheel"; };\n' % merged)
    t.diyctl("check", conf, check=True, timeout=10)
    # with writable = "none", the resolv.conf diyctl binds needs its file
    bare = t.rootfs("bare")
    os.unlink(os.path.join(bare, "etc", "resolv.conf")) if os.path.lexists(os.path.join(bare, "etc", "resolv.conf")) \
        else None
    conf = t.conf("box", 'rootfs = { path = "%s"; writable = "none"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n'
                  % bare)
    p = t.diyctl("check", conf)
    t.contains(p.stderr, "box.conf:1: rootfs.writable: \"none\": the rootfs has no /etc/resolv.conf, where diyctl "
               "mounts its own", "the resolv.conf mount point too")
    # start finds them itself, with its exit codes
    p = t.diyctl("start", basic_conf(t, 'process = { args = [ "/bin/nothere" ]; };\n', rootfs=r))
    t.eq(p.returncode, 127, "start: a missing program exits 127 as before")


def test_resolv_conf_linked_into_run(t):
    """A rootfs from a systemd-resolved system: /etc/resolv.conf links to
    ../run/systemd/resolve/stub-resolv.conf. The container's /run is its
    own empty tmpfs: the file is made there and bound, the rootfs is not
    changed, and a volume on the way is never written."""
    r = t.rootfs("resolved")
    link = os.path.join(r, "etc", "resolv.conf")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("../run/systemd/resolve/stub-resolv.conf", link)
    before = sorted(os.listdir(os.path.join(r, "run"))) if os.path.isdir(os.path.join(r, "run")) else None
    show = 'process = { args = [ "/bin/sh", "-c", "cat /etc/resolv.conf; readlink /etc/resolv.conf" ]; };\n'
    for writable, extra in (("tmpfs", ""), ("none", ""), ("direct", ""), ("tmpfs", 'namespaces = [ "mount", "uts", "ipc", "pid", "net", "user" ];\n')):
        conf = t.conf("box", 'rootfs = { path = "%s"; writable = "%s"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n'
                      '%s%s' % (r, writable, extra, show))
        t.diyctl("check", conf, check=True)
        out = t.diyctl("start", conf, check=True).stdout
        t.contains(out, "nameserver 192.0.2.53", "writable=%s %s: the link leads to diyctl's resolv.conf"
                   % (writable, extra.strip()))
        t.contains(out, "../run/systemd/resolve/stub-resolv.conf", "and /etc/resolv.conf is still the rootfs's link")
    t.eq(os.readlink(link), "../run/systemd/resolve/stub-resolv.conf", "the rootfs's link is unchanged")
    t.eq(sorted(os.listdir(os.path.join(r, "run"))) if os.path.isdir(os.path.join(r, "run")) else None, before,
         "nothing was made in the rootfs's /run")
    # a volume on the way is the host's: nothing is made in it, and start says why
    vol = os.path.join(t.tmp, "sysd")
    os.mkdir(vol)
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n'
                  'volumes = ( { source = "%s"; target = "/run/systemd"; } );\n%s' % (r, vol, show))
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "a resolv.conf link into a volume fails the start (exit %d)" % p.returncode)
    t.contains(p.stderr, "/etc/resolv.conf leads to /run/systemd/resolve, which is missing, and is not on the "
               "container's own /run or /tmp", "the error names where the link leads")
    t.eq(os.listdir(vol), [], "and nothing was made in the volume")
    # a volume on /run itself, or on /tmp for a link there: the same
    for target, to in (("/run", "../run/systemd/resolve/stub-resolv.conf"), ("/tmp", "/tmp/resolv/resolv.conf")):
        os.unlink(link)
        os.symlink(to, link)
        conf = t.conf("box", 'rootfs = { path = "%s"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n'
                      'volumes = ( { source = "%s"; target = "%s"; } );\n%s' % (r, vol, target, show))
        p = t.diyctl("start", conf)
        t.ok(p.returncode != 0, "a volume on %s: refused (exit %d)" % (target, p.returncode))
        t.contains(p.stderr, "is not on the container's own /run or /tmp", "a volume on %s: says why" % target)
        t.eq(os.listdir(vol), [], "a volume on %s: nothing was made in it" % target)
    # the rootfs's /run a link (to var/run): diyctl's tmpfs is where it leads, and the file is made there
    os.unlink(link)
    os.symlink("../run/systemd/resolve/stub-resolv.conf", link)
    run = os.path.join(r, "run")
    if os.path.isdir(run) and not os.path.islink(run):
        os.rmdir(run)
    os.makedirs(os.path.join(r, "var", "run"), exist_ok=True)
    os.symlink("var/run", run)
    conf = t.conf("box", 'rootfs = { path = "%s"; };\nnetwork = { dns = [ "192.0.2.53" ]; };\n%s' % (r, show))
    t.diyctl("check", conf, check=True)
    t.contains(t.diyctl("start", conf, check=True).stdout, "nameserver 192.0.2.53",
               "/run a link in the rootfs: check and start agree")
    t.eq(os.listdir(os.path.join(r, "var", "run")), [], "and nothing was made in the rootfs's var/run")


def test_missing_cwd_is_named(t):
    conf = basic_conf(t, 'process = { cwd = "/nonexistent"; };\n')
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    t.contains(p.stderr, "box.conf:3: process.cwd: /nonexistent: No such file or directory",
               "the error names the file, line and key")


def test_init_without_a_pid_namespace_reaps_orphans(t):
    # Without a pid namespace the init is not PID 1, yet it does what one
    # would: its command's orphans are handed to it (and reaped), and the
    # command ends with it.
    conf = basic_conf(t, 'namespaces = [ "mount", "uts", "ipc", "net" ];\nprocess = { init = true; };\n')
    script = ("(sleep 3 & echo $! > /tmp/orphan); sleep 0.3; "
              "echo init=$(grep PPid /proc/$$/status | cut -f2); "
              "echo orphan=$(grep PPid /proc/$(cat /tmp/orphan)/status | cut -f2)")
    out = t.diyctl("start", conf, "--set", "process.args=%s" % json.dumps(["/bin/sh", "-c", script]),
                   check=True).stdout
    got = dict(l.split("=", 1) for l in out.split() if "=" in l)
    t.ok(got.get("init", "").isdigit() and got["init"] != "1", "the init is not PID 1 here: %r" % out)
    t.eq(got.get("orphan"), got.get("init"), "an orphan of the command is handed to the init")
    # A launcher killed takes the init along (its death signal), and the init
    # its command, at once: not only at the cleanup that kills the cgroup.
    c2 = basic_conf(t, 'namespaces = [ "mount", "uts", "ipc", "net" ];\n'
                       'process = { init = true; args = [ "/bin/sleep", "60" ]; };\n')
    before = t.snapshot()
    t.diyctl("start", "-d", c2, check=True)
    st = json.loads(t.diyctl("status", "--json", "box", check=True).stdout)
    cmd = t.wait_for(lambda: [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == st["pid"]],
                     timeout=10, msg="the command runs under the init")
    os.kill(st["launcher_pid"], signal.SIGKILL)
    t.wait_for(lambda: _state(st["pid"]) in ("", "Z"), timeout=10, msg="the init ends with its launcher")
    t.wait_for(lambda: _state(cmd[0]) in ("", "Z"), timeout=10, msg="and the command with its init")
    t.diyctl("cleanup", "box", check=True)
    t.host_unchanged(before, "nothing left after the cleanup")


def _ppid(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _state(pid):
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except OSError:
        pass
    return ""


def test_writable_modes(t):
    r = t.rootfs()
    conf = t.conf("w", 'rootfs = { path = "%s"; writable = "tmpfs"; };\n' % r)
    w = t.probe(conf, args=["write", "/made-in-tmpfs"])
    t.eq(w["ok"], True, "a tmpfs-writable root accepts writes")
    t.ok(not os.path.exists(os.path.join(r, "made-in-tmpfs")), "tmpfs changes never reach the rootfs")
    conf = t.conf("n", 'rootfs = { path = "%s"; writable = "none"; };\n' % r)
    w = t.probe(conf, args=["write", "/x"])
    t.eq((w["ok"], w.get("errno")), (False, 30), "writable none: the root is read-only")
    upper = os.path.join(t.tmp, "upper")
    os.mkdir(upper)
    conf = t.conf("d", 'rootfs = { path = "%s"; writable = "%s"; };\n' % (r, upper))
    t.eq(t.probe(conf, args=["write", "/kept"])["ok"], True, "a directory upper accepts writes")
    t.ok(os.path.exists(os.path.join(upper, "upper", "kept")), "the change persists in the upper directory")
    t.ok(not os.path.exists(os.path.join(r, "kept")), "and not in the rootfs")
    d = t.probe(conf, args=["write", "/kept2"])
    t.ok(os.path.exists(os.path.join(upper, "upper", "kept")), "still there at the next start")
    # one container at a time on an upper directory
    before = t.snapshot()
    busy = t.conf("d1", 'rootfs = { path = "%s"; writable = "%s"; };\nprocess = { args = [ "/bin/sleep", "60" ]; };\n'
                  % (r, upper))
    t.diyctl("start", "-d", busy, check=True)
    p = t.diyctl("start", "-d", t.conf("d2", 'rootfs = { path = "%s"; writable = "%s"; };\n' % (r, upper)))
    t.eq(p.returncode, 125, "a second container on the same upper directory is refused")
    t.contains(p.stderr, "rootfs.writable %s is the upper layer of another running container" % upper, "and says why")
    t.diyctl("stop", "-t", "1", "d1", check=True)
    t.eq(t.probe(conf, args=["write", "/kept3"])["ok"], True, "once it stopped, the next one may")
    t.host_unchanged(before, "the refused start left nothing")


def test_interactive_shell_on_a_pty(t):
    conf = basic_conf(t, 'process = { args = [ "/bin/sh" ]; env = [ "PATH=/bin:/usr/bin", "PS1=ct$ " ]; };\n')

    def script(s):
        s.expect(r"ct\$ ")
        s.sendline("echo pid=$$ tty=$(tty)")
        s.expect(r"pid=1 tty=/dev/pts/0")
        s.expect(r"ct\$ ")
        s.sendline("stty size")
        s.expect(r"24 80")
        s.expect(r"ct\$ ")
        s.sendline("exit 3")
    rc = t.pty_run([t.diyctl_bin, "start", conf], script, timeout=30)
    t.eq(rc, 3, "exit code of the interactive shell")


def test_process_that_closes_its_terminal(t):
    # A foreground container whose process closes its pty and runs on (a
    # daemon that detaches from its terminal): the launcher waits for it
    # without spinning on the hung-up pty.
    conf = basic_conf(t, 'process = { args = [ "/bin/sh", "-c", "exec >/dev/null 2>&1 </dev/null; sleep 2; exit 4" ]; };\n')
    start = os.times()
    rc = t.pty_run([t.diyctl_bin, "start", conf], timeout=30)
    used = os.times()
    cpu = (used.children_user - start.children_user) + (used.children_system - start.children_system)
    t.eq(rc, 4, "start ends with the process's exit code")
    t.ok(cpu < 1.0, "the launcher waited without spinning (%.2f s of CPU over 2 s)" % cpu)


def test_relayed_terminal_output_to_a_closed_pipe(t):
    # `diyctl start box.conf | head -1` from a terminal: the launcher relays
    # the container's pty to a pipe whose reader has gone. It must not die
    # of SIGPIPE before its teardown; the container runs to its end, and
    # start exits with its code with nothing left on the host.
    import subprocess
    before = t.snapshot()
    conf = basic_conf(t, 'process = { args = [ "/bin/sh", "-c", '
                         '"i=0; while [ $i -lt 40 ]; do echo line $i; i=$((i+1)); sleep 0.05; done; exit 7" ]; };\n')
    master, slave = os.openpty()
    t.defer(os.close, master)
    r, w = os.pipe()
    try:
        p = subprocess.Popen([t.diyctl_bin, "start", conf], stdin=slave, stdout=w, stderr=subprocess.PIPE,
                             start_new_session=True)
    finally:
        os.close(slave)
        os.close(w)
    t.defer(p.kill)
    first = os.read(r, 64)
    os.close(r)   # the reader goes away: the next writes fail with EPIPE
    t.contains(first.decode(errors="replace"), "line 0", "the container's output came through the pty relay")
    rc = p.wait(timeout=60)
    t.eq(rc, 7, "start ends with the container's exit code, not killed by SIGPIPE (%s)" % p.stderr.read().decode())
    t.host_unchanged(before, "and leaves nothing behind")


def test_check_and_plan_commands(t):
    good = basic_conf(t)
    t.diyctl("check", good, check=True)
    bad = t.conf("bad", 'rootfs = { path = "/" };\nnetwork = {\n  mode = "none";\n  address = "10.88.0.300/24";\n};\n')
    p = t.diyctl("check", bad, good)
    t.eq(p.returncode, 1, "check exits 1 when any file is bad")
    t.contains(p.stderr, "bad.conf:4: network.address: 10.88.0.300/24 is not an IPv4 address",
               "errors name file, line and key")
    pj = json.loads(t.diyctl("check", "--json", bad, good).stdout)
    t.eq([x["ok"] for x in pj], [False, True], "check --json")
    plan = json.loads(t.diyctl("plan", "--json", good, check=True).stdout)
    kinds = [s["kind"] for s in plan["steps"]]
    t.eq(kinds[0], "statedir", "plan starts with the state dir")
    t.eq(kinds[-1], "exec", "plan ends with exec")
    t.ok("pivot-root" in kinds and kinds.index("rootfs") < kinds.index("pivot-root"), "pivot_root after the rootfs")
    t.ok(all(s["host_change"] == (s["side"] == "host") for s in plan["steps"]), "host steps are marked")
    txt = t.diyctl("plan", good, check=True).stdout
    t.contains(txt, "* host   statedir", "human plan marks host steps")


def test_bad_input_leaves_host_unchanged(t):
    before = t.snapshot()
    conf = t.conf("nort", 'rootfs = { path = "/nonexistent-rootfs"; };\n')
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "a missing rootfs fails")
    t.contains(p.stderr, "nort.conf:1: rootfs.path: /nonexistent-rootfs: No such file or directory", "clear error")
    conf = basic_conf(t, 'process = { args = [ "/bin/nothere" ]; };\n')
    p = t.diyctl("start", conf)
    t.eq(p.returncode, 127, "a command not found in the rootfs exits 127")
    t.contains(p.stderr, "process.args: /bin/nothere: command not found in the rootfs", "clear error")
    t.eq(p.stderr.count("diyctl:"), 1, "one message")
    t.host_unchanged(before, "a failed start leaves the host as it was")


def test_kernel_refusal_is_clear(t):
    # An unprivileged caller cannot create these namespaces: the kernel says EPERM.
    run = os.path.join(t.tmp, "xdg")
    os.mkdir(run)
    os.chown(run, 65534, 65534)
    r = t.rootfs()
    d = t.tmp
    while d not in ("/", "/tmp"):  # let the unprivileged user reach the config
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    conf = t.conf("unpriv", 'rootfs = { path = "%s"; };\n' % r)
    os.chmod(conf, 0o644)
    p = t.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               t.diyctl_bin, "start", conf], env={"XDG_RUNTIME_DIR": run}, check=False)
    t.ok(p.returncode != 0, "start as an unprivileged user fails")
    t.contains(p.stderr, "the kernel refused the namespaces", "the message says what was refused")
    t.eq(os.listdir(os.path.join(run, "diyctl")) if os.path.isdir(os.path.join(run, "diyctl")) else [], [],
         "nothing left in the state dir")


def test_include_and_set(t):
    r = t.rootfs()
    os.mkdir(os.path.join(t.tmp, "common"))
    with open(os.path.join(t.tmp, "common", "proc.conf"), "w") as f:
        f.write('process = { env = [ "FROM=fragment" ]; };\n')
    conf = t.conf("inc", '@include "common/proc.conf"\nrootfs = { path = "%s"; };\n' % r)
    d = t.probe(conf)
    t.eq(d["env"], ["FROM=fragment"], "@include pulls in a fragment")
    d = t.probe(conf, "hostname=fromset", 'process.env=["X=1"]')
    t.eq((d["hostname"], d["env"]), ("fromset", ["X=1"]), "--set overrides, typed")


def test_sysctls_of_the_containers_own_namespaces(t):
    """sysctls, as Docker's --sysctl: set in the container's own network, IPC
    and UTS namespaces before its process runs; the host's stay as they were;
    a sysctl of the host, or one whose namespace the container lacks, is
    refused by check with the file, line and key."""
    r = t.rootfs()
    host_before = {k: open("/proc/sys/" + k).read() for k in
                   ("net/core/somaxconn", "kernel/shmmni", "fs/mqueue/msg_max", "kernel/domainname",
                    "net/ipv4/ping_group_range")}
    show = " ".join("/proc/sys/" + k for k in ("net/core/somaxconn", "kernel/shmmni", "fs/mqueue/msg_max",
                                               "kernel/domainname", "net/ipv4/ping_group_range"))
    sysctls = ('sysctls = [ "net.core.somaxconn=1234", "kernel.shmmni=1000", "fs.mqueue.msg_max=20",\n'
               '            "kernel.domainname=example.org", "net/ipv4/ping_group_range=0 0" ];\n')
    for ns, way in (("", "default namespaces"),
                    ('namespaces = [ "mount", "uts", "ipc", "pid", "net", "user" ];\n', "in a user namespace")):
        conf = t.conf("sc", 'rootfs = { path = "%s"; };\n%s%sprocess = { args = [ "/bin/sh", "-c", "cat %s" ]; };\n'
                      % (r, ns, sysctls, show))
        t.diyctl("check", conf, check=True)
        out = t.diyctl("start", conf, check=True).stdout.split("\n")
        t.eq([l.split() for l in out[:5]], [["1234"], ["1000"], ["20"], ["example.org"], ["0", "0"]],
             "%s: the container sees its values" % way)
    t.contains(t.diyctl("plan", conf, check=True).stdout,
               "set net.core.somaxconn = 1234 (the container's own net namespace)", "plan shows them")
    t.eq({k: open("/proc/sys/" + k).read() for k in host_before}, host_before, "the host's values are unchanged")
    # the container's own interface, which the launcher moves in: set after it is there (every time)
    conf = t.conf("sc", 'rootfs = { path = "%s"; };\nnetwork = { mode = "nat"; };\n'
                        'sysctls = [ "net.ipv4.conf.eth0.rp_filter=2", "net.ipv4.conf.eth0.arp_ignore=1" ];\n'
                        'process = { args = [ "/bin/cat", "/proc/sys/net/ipv4/conf/eth0/rp_filter", '
                        '"/proc/sys/net/ipv4/conf/eth0/arp_ignore" ]; };\n' % r)
    for i in range(5):
        t.eq(t.diyctl("start", conf, check=True).stdout.split(), ["2", "1"], "eth0's sysctls, start %d" % (i + 1))
    # kernel.domainname in a user namespace whose root is not the host's (which must reach the rootfs)
    d = r
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    conf = t.conf("sc", 'rootfs = { path = "%s"; };\nnamespaces = [ "mount", "uts", "ipc", "pid", "net", "user" ];\n'
                        'user = { map = ( { inside = 0; outside = 300000; count = 65536; } ); };\n'
                        'sysctls = [ "kernel.domainname=example.org", "net.core.somaxconn=77" ];\n'
                        'process = { args = [ "/bin/cat", "/proc/sys/kernel/domainname", '
                        '"/proc/sys/net/core/somaxconn" ]; };\n' % r)
    t.eq(t.diyctl("start", conf, check=True).stdout.split(), ["example.org", "77"],
         "a user namespace mapped away from root: domainname and a net sysctl")
    # refused by check, naming the element's line
    for extra, msg in (('sysctls = [ "kernel.panic=1" ];\n',
                        "sc.conf:2: sysctls: kernel.panic is not a sysctl of the container's own namespaces "
                        "(setting it would change the host)"),
                       ('sysctls = [ "vm.swappiness=1" ];\n', "sysctls: vm.swappiness is not a sysctl"),
                       ('sysctls = [ "net.core.somaxconn" ];\n', 'sysctls: net.core.somaxconn is not NAME=VALUE'),
                       ('sysctls = [ "net..core=1" ];\n', "sysctls: net..core is not a sysctl"),
                       ('sysctls = [ "net/../kernel/panic=1" ];\n', "sysctls: net/../kernel/panic is not a sysctl"),
                       ('sysctls = [ "kernel.hostname=x" ];\n', "sysctls: kernel.hostname: set the container's host "
                                                               "name with hostname"),
                       ('sysctls = [ "net.core.somaxconn=1",\n  "net/core/somaxconn=2" ];\n',
                        "sc.conf:3: sysctls: net/core/somaxconn is set twice"),
                       ('network = { mode = "host"; };\nsysctls = [ "net.core.somaxconn=1" ];\n',
                        "sc.conf:3: sysctls: net.core.somaxconn needs the container's own network namespace"),
                       ('namespaces = [ "mount", "pid", "net" ];\nsysctls = [ "kernel.shmmni=5" ];\n',
                        "sc.conf:3: sysctls: kernel.shmmni needs \"ipc\" in namespaces")):
        conf = t.conf("sc", 'rootfs = { path = "%s"; };\n%s' % (r, extra))
        p = t.diyctl("check", conf)
        t.eq(p.returncode, 1, "check refuses %r" % extra)
        t.contains(p.stderr, msg, "and says why")
    # a name the kernel does not have: start fails before the process, and says so
    conf = t.conf("sc", 'rootfs = { path = "%s"; };\nsysctls = [ "net.core.nothere=1" ];\n'
                        'process = { args = [ "/bin/echo", "ran" ]; };\n' % r)
    before = t.snapshot()
    p = t.diyctl("start", conf)
    t.eq(p.returncode, 125, "an unknown sysctl fails the start")
    t.ok("ran" not in p.stdout, "before the process runs")
    t.contains(p.stderr, "sc.conf:2: sysctls: net.core.nothere: no such sysctl in the container's net namespace",
               "naming it")
    t.host_unchanged(before, "and the host is as before")


def test_init_hides_the_launchers_command_line(t):
    """The init is a copy of the launcher: /proc/1/cmdline (readable by
    every user in the container) shows "diyctl-init", not the launcher's
    command line with the config's path and every --set."""
    conf = basic_conf(t, 'process = { args = [ "/bin/sleep", "60" ]; init = true; };\n')
    t.diyctl("start", "-d", conf, "--set", 'process.env=["SECRET_IN_ARGS=hunter2"]', check=True)
    try:
        out = t.diyctl("exec", "box", "cat", "/proc/1/cmdline", check=True).stdout
        t.eq(out.rstrip("\0"), "diyctl-init", "the init's command line")
        t.ok("hunter2" not in out and conf not in out, "no --set value or config path in it")
        st = json.loads(t.diyctl("status", "--json", "box", check=True).stdout)
        with open("/proc/%d/cmdline" % st["pid"]) as f:
            t.eq(f.read().rstrip("\0"), "diyctl-init", "seen from the host too")
    finally:
        t.diyctl("stop", "-t", "1", "box", check=True)
