"""Issue 8: what the container's process is given, seen from inside and from
the host: the capability sets, no_new_privs and seccomp (and that the
security keys change them), the masked and read-only kernel paths, nodev,
the device allow-list in the container's cgroup, the same restrictions for
`diyctl exec`, the init's own restrictions, and the launcher's sealed copy of
itself. The attacks themselves are in test_escape.py."""

import json
import os
import re
import shutil
import time

TIMEOUT = 120

DOCKER_DEFAULT = 0xa80425fb   # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
#                               NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
CAP = {"CHOWN": 0, "KILL": 5, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "SYS_PTRACE": 19,
       "SYS_ADMIN": 21}
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/kpagecgroup",
          "/proc/kpagecount", "/proc/kpageflags", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
          "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger", "/sys/firmware",
          "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"]


def conf(t, extra="", name="sec", root=None):
    root = root or t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\n%s' % (root, extra))


def caps(d, which="CapEff"):
    return int(d["caps"][which], 16)


def bits(*names):
    v = 0
    for n in names:
        v |= 1 << CAP[n]
    return v


def mount(d, mp):
    found = [m for m in d["mounts"] if m["mountpoint"] == mp]
    return found[-1] if found else None


def test_default_capabilities_seccomp_and_no_new_privs(t):
    d = t.probe(conf(t))
    for s in ("CapBnd", "CapPrm", "CapEff"):
        t.eq(caps(d, s), DOCKER_DEFAULT, "%s is Docker's default set" % s)
    t.eq(caps(d, "CapInh"), 0, "the inheritable set is empty (CVE-2022-24769)")
    t.eq(caps(d, "CapAmb"), 0, "the ambient set is empty")
    t.eq(d["no_new_privs"], 1, "no_new_privs is set")
    t.eq(d["seccomp"], 2, "a seccomp filter is loaded (mode 2)")


def test_non_root_user_gets_no_capabilities(t):
    d = t.probe(conf(t, 'process = { user = "1000:1000"; };\n'))
    t.eq((d["uid"], d["gid"]), (1000, 1000), "the configured user")
    t.eq(caps(d, "CapEff"), 0, "no effective capabilities")
    t.eq(caps(d, "CapPrm"), 0, "no permitted capabilities")
    t.eq(caps(d, "CapBnd"), DOCKER_DEFAULT, "the bounding set is the container's")


def test_capabilities_add_and_drop(t):
    d = t.probe(conf(t, 'security = { capabilities = { add = [ "NET_ADMIN", "cap_sys_ptrace" ]; '
                        'drop = [ "CAP_CHOWN", "net_raw" ]; }; };\n'))
    want = (DOCKER_DEFAULT | bits("NET_ADMIN", "SYS_PTRACE")) & ~bits("CHOWN", "NET_RAW")
    t.eq(caps(d, "CapEff"), want, "add and drop change the set (any spelling of the names)")
    t.eq(caps(d, "CapBnd"), want, "and the bounding set")
    d = t.probe(conf(t, 'security = { capabilities = { drop = [ "ALL" ]; add = [ "NET_BIND_SERVICE" ]; }; };\n'))
    t.eq(caps(d, "CapEff"), bits("NET_BIND_SERVICE"), "drop ALL, then add one")
    d = t.probe(conf(t, 'security = { capabilities = { add = [ "ALL" ]; drop = [ "SYS_ADMIN" ]; }; };\n'))
    t.ok(caps(d, "CapEff") & bits("NET_ADMIN", "SYS_PTRACE"), "add ALL gives every capability")
    t.eq(caps(d, "CapEff") & bits("SYS_ADMIN"), 0, "but the dropped one")
    d = t.probe(conf(t), "security.capabilities.drop=[\"ALL\"]")
    t.eq(caps(d, "CapEff"), 0, "--set security.capabilities.drop")


def test_seccomp_unconfined_and_no_new_privs_off(t):
    root = t.rootfs()
    dst = os.path.join(root, "bin", "suid-probe")
    shutil.copy2(t.probe_bin, dst)
    os.chown(dst, 0, 0)
    os.chmod(dst, 0o4755)
    c = conf(t, 'security = { seccomp = "unconfined"; no_new_privileges = false; };\n'
                'process = { user = "1000:1000"; args = [ "/bin/suid-probe" ]; };\n', root=root)
    d = t.parse_probe(t.diyctl("start", c, check=True))
    t.eq(d["seccomp"], 0, "no filter with seccomp = \"unconfined\"")
    t.eq(d["no_new_privs"], 0, "no_new_privs off")
    t.eq(d["euid"], 0, "without no_new_privs a setuid-root binary works (what the default prevents)")
    # the filter without no_new_privs: loaded while we were still root
    d = t.probe(conf(t, "security = { no_new_privileges = false; };\n"))
    t.eq((d["seccomp"], d["no_new_privs"]), (2, 0), "a filter, and no no_new_privs")
    r = t.probe(conf(t, "security = { no_new_privileges = false; };\n"), args=["try", "keyctl"])
    t.eq(r["steps"][0]["errno"], 1, "the filter works without no_new_privs")


def test_seccomp_follows_the_capabilities(t):
    # With CAP_SYS_ADMIN given, mount is no longer the filter's to refuse.
    c = conf(t, 'security = { capabilities = { add = [ "SYS_ADMIN" ]; }; };\n'
                'process = { args = [ "/bin/sh", "-c", "mount -t tmpfs none /mnt && echo mounted" ]; };\n')
    os.makedirs(os.path.join(t.tmp, "rootfs", "mnt"), exist_ok=True)
    p = t.diyctl("start", c, check=True)
    t.contains(p.stdout, "mounted", "mount works with CAP_SYS_ADMIN")
    r = t.probe(conf(t), args=["try", "personality", "0xffffffff"])
    t.ok(r["steps"][0]["ret"] >= 0, "personality(0xffffffff), a query, is allowed")
    r = t.probe(conf(t), args=["try", "personality", "0x0040000"])
    t.eq(r["steps"][0]["errno"], 1, "personality(ADDR_NO_RANDOMIZE) is refused")


def test_masked_and_read_only_paths(t):
    d = t.probe(conf(t))
    for p in MASKED:
        if not os.path.exists(p):
            continue
        m = mount(d, p)
        t.ok(m is not None, "%s is masked" % p)
        t.eq(m["fstype"], "tmpfs", "%s is covered by an empty tmpfs" % p)
        t.ok("ro" in m["options"].split(","), "the mask over %s is read-only" % p)
    for p in READONLY:
        m = mount(d, p)
        t.ok(m is not None and "ro" in m["options"].split(","), "%s is read-only" % p)
    t.ok("ro" in mount(d, "/sys")["options"].split(","), "/sys is read-only")
    p = t.diyctl("start", conf(t), "--set", 'process.args=["/bin/cat", "/proc/keys", "/proc/timer_list"]',
                 check=True)
    t.eq(p.stdout, "", "masked files read empty")
    p = t.diyctl("start", conf(t), "--set", 'process.args=["/bin/cat", "/proc/sys/kernel/ostype"]', check=True)
    t.eq(p.stdout.strip(), "Linux", "read-only paths still read")


def test_nodev_everywhere_but_devices(t):
    d = t.probe(conf(t, 'volumes = ( { type = "tmpfs"; target = "/scratch"; }, '
                        '{ source = "%s"; target = "/vol"; } );\n' % t.tmp))
    for m in d["mounts"]:
        o = m["options"].split(",")
        if m["fstype"] == "devpts" or m["mountpoint"] in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                                         "/dev/urandom", "/dev/tty"):
            t.ok("nodev" not in o, "%s keeps its devices" % m["mountpoint"])
        else:
            t.ok("nodev" in o, "%s is nodev (%s)" % (m["mountpoint"], m["options"]))
    # the devices it was given work, and so does a terminal
    p = t.diyctl("start", conf(t), "--set",
                 'process.args=["/bin/sh", "-c", "head -c 4 /dev/urandom | wc -c; echo x > /dev/null; '
                 'head -c 3 /dev/zero | wc -c"]', check=True)
    t.eq(p.stdout.split(), ["4", "3"], "/dev/urandom, /dev/null, /dev/zero work")
    rc = t.pty_run([t.diyctl_bin, "start", conf(t, name="tty"), "--set",
                    'process.args=["/bin/sh", "-c", "tty; echo hi > /dev/tty"]'], timeout=30)
    t.eq(rc, 0, "a container with a terminal")
    t.contains(t.pty_output, "/dev/pts/0", "the pty works")
    t.contains(t.pty_output, "hi", "/dev/tty works")


def test_nodev_error_names_the_mount(t):
    # When the kernel refuses to give a device mount its devices back (the
    # fault point stands in for that), the start fails, the error names the
    # mount as the container sees it, and the host is as it was.
    c = conf(t)
    before = t.snapshot()
    p = t.diyctl("start", c, env={"DIYCTL_FAULT": "child:nodev-keep"})
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    t.contains(p.stderr, "cannot give device access back to /dev/null:", "the error names the mount")
    t.ok("/proc/self/fd" not in p.stderr, "not by a file descriptor: %s" % p.stderr.strip())
    t.host_unchanged(before, "nothing left")


def test_device_allow_list_in_the_cgroup(t):
    c = conf(t, 'process = { args = [ "/bin/sleep", "30" ]; };\n', name="devs")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "devs")
    st = json.loads(t.diyctl("status", "--json", "devs", check=True).stdout)
    v1 = [d for d in st["cgroups"] if os.path.exists(os.path.join(d, "devices.list"))]
    if os.path.exists("/sys/fs/cgroup/devices"):
        t.ok(v1, "the container has a cgroup in the devices hierarchy: %s" % st["cgroups"])
        with open(os.path.join(v1[0], "devices.list")) as f:
            lines = sorted(f.read().split("\n"))
        t.eq([l for l in lines if l], sorted(["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                                              "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"]),
             "devices.list is the allow-list (no \"a *:* rwm\")")
    plan = t.diyctl("plan", c, check=True).stdout
    t.contains(plan, "devices allowed: null zero full random urandom tty ptmx pts/*", "plan shows the allow-list")


def test_exec_gets_the_same_restrictions(t):
    c = conf(t, 'process = { args = [ "/bin/sleep", "30" ]; };\n'
                'security = { capabilities = { add = [ "NET_ADMIN" ]; drop = [ "CHOWN" ]; }; };\n', name="ex")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "ex")
    d = t.parse_probe(t.diyctl("exec", "ex", "/bin/dc-probe", check=True))
    want = (DOCKER_DEFAULT | bits("NET_ADMIN")) & ~bits("CHOWN")
    t.eq(caps(d, "CapEff"), want, "exec: the container's capabilities")
    t.eq(caps(d, "CapBnd"), want, "exec: the container's bounding set")
    t.eq((caps(d, "CapInh"), caps(d, "CapAmb")), (0, 0), "exec: no inheritable or ambient")
    t.eq((d["no_new_privs"], d["seccomp"]), (1, 2), "exec: no_new_privs and the filter")
    r = t.parse_probe(t.diyctl("exec", "ex", "/bin/dc-probe", "try", "unshare", "user", check=True))
    t.eq(r["steps"][0]["errno"], 1, "exec: unshare(CLONE_NEWUSER) refused")


def test_init_keeps_only_cap_kill(t):
    c = conf(t, 'process = { init = true; args = [ "/bin/cat", "/proc/1/status" ]; };\n')
    out = t.diyctl("start", c, check=True).stdout
    fields = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
    t.eq(fields["Name"].strip(), "diyctl-init", "PID 1 is the init")
    t.eq(int(fields["CapEff"], 16), 1 << CAP["KILL"], "the init keeps only CAP_KILL")
    t.eq(int(fields["CapBnd"], 16), 1 << CAP["KILL"], "and its bounding set")
    t.eq(fields["NoNewPrivs"].strip(), "1", "the init has no_new_privs")


def test_command_never_runs_when_its_init_died_first(t):
    # The command waits for its init to give up its privileges. Without a pid
    # namespace nothing would end a command whose init died before that, so
    # it must not start at all (fault point: the init exits at once).
    vol = os.path.join(t.tmp, "vol")
    os.makedirs(vol)
    marker = os.path.join(vol, "marker")
    c = conf(t, 'namespaces = [ "mount", "uts", "ipc" ];\n'
                'volumes = ( { source = "%s"; target = "/vol"; } );\n'
                'process = { init = true; args = [ "/bin/sh", "-c", "echo ran > /vol/marker" ]; };\n' % vol,
             name="orphan")
    before = t.snapshot()
    p = t.diyctl("start", c, env={"DIYCTL_FAULT": "child:init-dies"})
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    time.sleep(0.5)
    t.ok(not os.path.exists(marker), "the command never ran")
    t.host_unchanged(before, "nothing left")
    t.diyctl("start", c, check=True)
    t.ok(os.path.exists(marker), "without the fault the command runs")


def test_launcher_runs_from_a_sealed_copy(t):
    # With an init, a process of ours lives in the container: the launcher
    # (and so the init) runs a sealed copy. Without one, none ever does, and
    # the launcher spares itself the second exec.
    c = conf(t, 'process = { init = true; args = [ "/bin/sleep", "30" ]; };\n', name="seal")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "seal")
    st = json.loads(t.diyctl("status", "--json", "seal", check=True).stdout)
    exe = os.readlink("/proc/%d/exe" % st["launcher_pid"])
    t.ok(exe.startswith("/memfd:diyctl"), "the launcher runs from a memfd: %s" % exe)
    t.ok(os.path.realpath(t.diyctl_bin) not in exe, "not from the binary on disk")
    with open("/proc/%d/exe" % st["launcher_pid"], "rb") as f:
        t.eq(f.read(4), b"\x7fELF", "an ELF copy")
    try:
        fd = os.open("/proc/%d/exe" % st["launcher_pid"], os.O_WRONLY)
        os.close(fd)
        t.fail("the launcher's executable could be opened for writing")
    except OSError:
        pass
    c = conf(t, 'process = { args = [ "/bin/sleep", "30" ]; };\n', name="plain")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "plain")
    st = json.loads(t.diyctl("status", "--json", "plain", check=True).stdout)
    t.eq(os.path.realpath("/proc/%d/exe" % st["launcher_pid"]), os.path.realpath(t.diyctl_bin),
         "without an init the launcher runs the binary itself (no process of ours is in the container)")
    # The sealed copy reads the config again: with an init, a config from a
    # pipe is refused (without one it works).
    with open(c) as f:
        text = f.read()
    p = t.diyctl("start", "--set", "name=pipe", "--set", "process.init=true", "/dev/stdin", input=text)
    t.eq(p.returncode, 125, "an init with a config from a pipe is refused")
    t.contains(p.stderr, "must be a regular file", "and says why")
    p = t.diyctl("start", "--set", "name=pipe", "--set", 'process.args=["/bin/true"]', "/dev/stdin", input=text)
    t.eq(p.returncode, 0, "without an init a config from a pipe works")


def test_plan_shows_the_security_settings(t):
    c = conf(t, 'security = { capabilities = { add = [ "NET_ADMIN" ]; }; seccomp = "unconfined"; };\n')
    out = t.diyctl("plan", c, check=True).stdout
    t.contains(out, "CAP_NET_ADMIN", "the capability list")
    t.contains(out, "seccomp: unconfined", "the seccomp profile")
    t.contains(out, "no_new_privs", "no_new_privs")
    for kind in ("readonly", "mask", "nodev"):
        t.contains(out, " %s " % kind, "the %s step" % kind)
    j = json.loads(t.diyctl("plan", "--json", c, check=True).stdout)
    ex = [s for s in j["steps"] if s["kind"] == "exec"][0]
    args = dict((k, v) for k, v in ex["args"] if k in ("caps", "seccomp", "no-new-privs"))
    t.eq(args["seccomp"], "unconfined", "plan --json: seccomp")
    t.eq(args["no-new-privs"], "1", "plan --json: no-new-privs")
    t.ok("CAP_NET_ADMIN" in args["caps"].split(",") and "CAP_CHOWN" in args["caps"].split(","),
         "plan --json: caps")


def test_bad_security_configs_are_refused(t):
    cases = [
        ('security = { capabilities = { add = [ "NET_ADMN" ]; }; };', "security.capabilities.add",
         "not a capability"),
        ('security = { capabilities = { add = [ "12" ]; }; };', "security.capabilities.add", "not a capability"),
        ('security = { capabilities = { drop = [ "CHOWN", "CAP_CHOWN" ]; }; };', "security.capabilities.drop",
         "listed twice"),
        ('security = { capabilities = { add = [ "NET_ADMIN" ]; drop = [ "net_admin" ]; }; };',
         "security.capabilities.drop", "also in security.capabilities.add"),
        ('security = { seccomp = "strict"; };', "security.seccomp", "not a seccomp profile"),
        ('security = { no_new_privileges = "yes"; };', "security.no_new_privileges", "expected a boolean"),
        ('volumes = ( { type = "tmpfs"; target = "/proc/sys"; } );', "volumes[0].target", "inside /proc"),
        ('hostname = "a\\nb";', "hostname", "not a valid hostname"),
        ('process = { cwd = "/tmp\\n"; };', "process.cwd", "control character"),
    ]
    for i, (text, key, msg) in enumerate(cases):
        c = conf(t, text + "\n", name="bad%d" % i)
        p = t.diyctl("check", c)
        t.eq(p.returncode, 1, "check refuses: %s" % text)
        t.contains(p.stderr, "bad%d.conf:2: %s: " % (i, key), "the error names the file, line and key")
        t.contains(p.stderr, msg, "the error says why")


def test_locked_down_example(t):
    # examples/locked-down.conf works as its comment says: httpd as nobody,
    # read-only root, no capabilities at all.
    t.rootfs()
    with open(os.path.join(t.repo, "examples", "locked-down.conf")) as f:
        text = f.read()
    c = t.conf("locked-down", text)
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "locked-down")
    out = t.wait_for(lambda: t.diyctl("exec", "locked-down", "wget", "-q", "-O-", "http://127.0.0.1:8080/").stdout,
                     timeout=10, msg="httpd answers")
    t.contains(out, "Hello from a diyctl container", "the page")
    d = t.parse_probe(t.diyctl("exec", "locked-down", "/bin/dc-probe", check=True))
    t.eq(int(d["caps"]["CapBnd"], 16), 0, "no capabilities, not even in the bounding set")
    p = t.diyctl("exec", "locked-down", "/bin/dc-probe", "write", "/etc/x", check=True)
    t.eq(json.loads(p.stdout)["errno"], 30, "the root is read-only (EROFS)")


def test_binary_is_built_hardened(t):
    # diyctl runs as root: meson.build builds it as distributions build their
    # packages. What an auditor checks with readelf (checksec does the same):
    # a position-independent executable, its GOT read-only once loaded (full
    # RELRO: a GNU_RELRO segment and every symbol bound at load) and stack
    # canaries.
    binary = t.diyctl_bin
    header = t.run(["readelf", "-h", binary]).stdout
    dynamic = t.run(["readelf", "-d", binary]).stdout
    segments = t.run(["readelf", "-l", "-W", binary]).stdout
    symbols = t.run(["readelf", "--dyn-syms", "-W", binary]).stdout
    t.contains(header, "DYN (", "a position-independent executable (type DYN)")
    t.contains(segments, "INTERP", "with an interpreter, so not a shared library")
    t.contains(segments, "GNU_RELRO", "a RELRO segment")
    t.ok(re.search(r"\(FLAGS\)\s.*\bBIND_NOW\b|\(FLAGS_1\)\s.*\bNOW\b", dynamic),
         "every symbol bound at load (-z now):\n%s" % dynamic)
    t.contains(symbols, "__stack_chk_fail", "stack canaries (-fstack-protector-strong)")
