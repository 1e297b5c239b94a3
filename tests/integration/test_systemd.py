"""Issue 9: diyctl under systemd. The sd_notify protocol against listener
sockets of our own (READY=1 only once the container's process runs,
STOPPING=1 on stop), the container's cgroup inside a delegated unit cgroup,
and a real systemd booted as PID 1 in the sandbox that starts the shipped
diyctl@.service template at boot."""

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

TIMEOUT = 240

SO_PASSCRED = 16
SCM_CREDENTIALS = 2


class Listener:
    """A notify socket like systemd's: SOCK_DGRAM with SO_PASSCRED. Records
    (monotonic time, sender pid, text) of every datagram."""

    def __init__(self, t, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
        if abstract:
            name = "dctest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.spec = "@" + name
        else:
            path = "/run/dctest-notify-%d.sock" % time.monotonic_ns()  # t.tmp is too long for sun_path
            self.sock.bind(path)
            self.spec = path
            t.defer(os.unlink, path)
        self.msgs = []
        t.defer(self.sock.close)

    def recv(self, timeout):
        """The next datagram as (time, pid, {VAR: value}, text), or None."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        when = time.monotonic()
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        text = data.decode()
        fields = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
        m = (when, pid, fields, text)
        self.msgs.append(m)
        return m

    def wait_for(self, t, var, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(0.05, end - time.monotonic()))
            if m and var in m[2]:
                return m
        t.fail("no %s= from diyctl within %d s; got %r" % (var, timeout, [m[3] for m in self.msgs]))


def _cgroups(pid):
    """{hierarchy id:controllers: path} of a process."""
    res = {}
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            res["%s:%s" % (hid, ctrls)] = path
    return res


def _conf(t, name, args, extra=""):
    r = t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\nprocess = { args = %s; };\n%s' % (r, json.dumps(args), extra)), r


def test_notify_ready_only_once_the_process_runs(t):
    conf, rootfs = _conf(t, "web", ["/bin/sleep", "600"])
    lis = Listener(t)
    busybox = os.stat(os.path.join(rootfs, "bin", "busybox"))
    started = time.monotonic()
    p = t.spawn([t.diyctl_bin, "start", conf], env={"NOTIFY_SOCKET": lis.spec, "DIYCTL_STOP_TIMEOUT": "1"})

    when, pid, f, text = lis.wait_for(t, "READY")
    # At the moment READY=1 arrives the container's first process has exec'd
    # its program: its /proc/PID/exe is the rootfs's busybox, not diyctl.
    kids = t.children(p.pid)
    t.eq(len(kids), 1, "the launcher has one child, the container's first process: %s" % kids)
    exe = os.stat("/proc/%d/exe" % kids[0])
    t.eq((exe.st_dev, exe.st_ino), (busybox.st_dev, busybox.st_ino),
         "READY=1 came after the container's process runs its program")
    t.eq(len(lis.msgs), 1, "READY=1 is the first message (nothing sent before the process runs)")
    t.eq(f.get("READY"), "1", "READY=1")
    t.eq(f.get("MAINPID"), str(p.pid), "MAINPID is the launcher (it supervises and tears down)")
    t.eq(pid, p.pid, "sent by the launcher itself (kernel credentials)")
    t.eq(f.get("STATUS"), "running web (pid %d)" % kids[0], "STATUS names the container and its pid")
    st = json.loads(t.diyctl("status", "--json", "web", check=True).stdout)
    t.eq(st["pid"], kids[0], "status agrees on the container's pid")
    t.log("READY after %.3f s" % (when - started))

    t.diyctl("stop", "web", check=True)
    m = lis.wait_for(t, "STOPPING")
    t.eq(m[2].get("STOPPING"), "1", "STOPPING=1 when the launcher begins to stop")
    t.eq(m[1], p.pid, "STOPPING=1 from the launcher")
    p.wait(timeout=30)
    t.ok(not os.path.exists("/run/diyctl/web"), "torn down after stop")
    stopping = [m for m in lis.msgs if "STOPPING" in m[2]]
    t.eq(len(stopping), 1, "STOPPING=1 is sent once: %r" % [m[3] for m in lis.msgs])


def test_notify_abstract_socket_and_own_exit(t):
    conf, _ = _conf(t, "quick", ["/bin/true"])
    lis = Listener(t, abstract=True)
    p = t.diyctl("start", conf, env={"NOTIFY_SOCKET": lis.spec}, check=True)
    t.eq(p.returncode, 0, "the container's exit code")
    msgs = []
    while True:
        m = lis.recv(0.5)
        if not m:
            break
        msgs.append(m[2])
    t.ok(msgs and msgs[0].get("READY") == "1", "READY=1 on an abstract (@name) socket: %r" % msgs)
    t.ok(any(m.get("STOPPING") == "1" for m in msgs[1:]),
         "STOPPING=1 when the container ended on its own and teardown begins: %r" % msgs)


def test_notify_failure_sends_status_not_ready(t):
    conf, _ = _conf(t, "broken", ["/no/such/program"])
    lis = Listener(t)
    p = t.diyctl("start", conf, env={"NOTIFY_SOCKET": lis.spec})
    t.ok(p.returncode != 0, "start fails")
    msgs = []
    while True:
        m = lis.recv(0.5)
        if not m:
            break
        msgs.append(m[2])
    t.ok(msgs, "a message arrived")
    t.ok(not any("READY" in m for m in msgs), "no READY=1 for a container that never ran: %r" % msgs)
    t.contains(msgs[0].get("STATUS", ""), "/no/such/program", "STATUS says why")
    t.ok(msgs[0].get("ERRNO", "").isdigit(), "ERRNO= is sent: %r" % msgs[0])


# --------------------------------------------------------------------------
# Delegated cgroups, the way systemd sets them up for Delegate=yes
# --------------------------------------------------------------------------

UNIT = "system.slice/diyctl@web.service"


def _hierarchies():
    """Every cgroup hierarchy mounted under /sys/fs/cgroup: (path, is_v2), as
    systemd would create a unit's cgroup in each (cpuset needs its cpus and
    mems set before a task can join, so it is left out)."""
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mp = parts[4]
            fstype = parts[parts.index("-", 6) + 1]
            if not mp.startswith("/sys/fs/cgroup") or fstype not in ("cgroup", "cgroup2"):
                continue
            if fstype == "cgroup" and "cpuset" in parts[-1].split(","):
                continue
            res.append((mp, fstype == "cgroup2"))
    return sorted(set(res))


def _fake_unit(t, delegate=True):
    """The unit cgroup in every hierarchy, marked delegated like systemd marks it."""
    dirs = []
    for h, v2 in _hierarchies():
        d = os.path.join(h, UNIT)
        os.makedirs(d)
        dirs.append((h, d, v2))
        if v2 and delegate:
            os.setxattr(d, "trusted.delegate", b"1")

    def remove():
        for h, d, _ in dirs:
            for sub in (d, os.path.dirname(d)):
                try:
                    os.rmdir(sub)
                except OSError as e:
                    t.log("rmdir %s: %s" % (sub, e))
    t.defer(remove)
    return dirs


def _hierarchy_of(path):
    """The mount point of the cgroup hierarchy a cgroup directory is in."""
    best = ""
    for h, _ in _hierarchies():
        if path.startswith(h + "/") and len(h) > len(best):
            best = h
    return best


def _enter(dirs):
    return "for d in %s; do echo $$ > $d/cgroup.procs; done; " % " ".join(d for _, d, _ in dirs)


def test_container_cgroup_inside_the_delegated_unit(t):
    dirs = _fake_unit(t)
    conf, _ = _conf(t, "web", ["/bin/sleep", "600"])
    lis = Listener(t)
    # As systemd would: the launcher starts inside the unit's cgroup.
    plan = t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)]).stdout
    step = [s for s in json.loads(plan)["steps"] if s["kind"] == "cgroup"][0]
    t.eq(step["args"], [["group", "web"], ["under", "self"], ["part", "v2"]], "the plan puts the cgroup inside the unit's")
    t.contains(step["description"], "delegated", "and says so")

    p = t.spawn(["sh", "-c", _enter(dirs) + "exec %s start %s" % (t.diyctl_bin, conf)],
                env={"NOTIFY_SOCKET": lis.spec, "DIYCTL_STOP_TIMEOUT": "1"})
    lis.wait_for(t, "READY")
    child = t.children(p.pid)[0]
    launcher_cg, child_cg = _cgroups(p.pid), _cgroups(child)
    st = json.loads(t.diyctl("status", "--json", "web", check=True).stdout)
    t.ok(st["cgroups"], "the container has cgroups")
    unit_of = {h: d for h, d, _ in dirs}
    for cg in st["cgroups"]:
        h = _hierarchy_of(cg)
        t.eq(cg, os.path.join(unit_of[h], "web"), "the container's cgroup is UNIT/web in %s" % h)
    for h, d, v2 in dirs:
        key = [k for k in child_cg if (k == "0:" if v2 else
                                       set(k.split(":", 1)[1].split(",")) == set(os.path.basename(h).split(",")))]
        if not key:
            continue
        used = any(_hierarchy_of(cg) == h for cg in st["cgroups"])
        t.eq(child_cg[key[0]], "/%s/web" % UNIT if used else "/" + UNIT, "the container's process in %s" % h)
        want = "/%s/supervisor" % UNIT if v2 else "/" + UNIT
        t.eq(launcher_cg[key[0]], want, "the launcher is in %s in %s" % (want, h))
        if v2:
            with open(os.path.join(d, "cgroup.procs")) as f:
                t.eq(f.read().strip(), "", "no process left in the unit's own cgroup (v2 inner node)")

    os.kill(p.pid, signal.SIGTERM)  # KillMode=mixed: systemd signals the main process
    lis.wait_for(t, "STOPPING")
    p.wait(timeout=30)
    for h, d, v2 in dirs:
        t.eq(sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))), [],
             "nothing left below the unit's cgroup in %s" % h)


def test_delegated_cgroup_cleanup_after_a_launcher_crash(t):
    dirs = _fake_unit(t)
    conf, _ = _conf(t, "web", ["/bin/sleep", "600"])
    plan = json.loads(t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)]).stdout)
    k = [s["index"] for s in plan["steps"] if s["kind"] == "cgroup"][0]
    p = t.run(["sh", "-c", _enter(dirs) + "exec %s start %s" % (t.diyctl_bin, conf)],
              env={"DIYCTL_FAULT": "%d:after" % k}, check=False)
    t.eq(p.returncode, -signal.SIGKILL, "the launcher was killed right after the cgroup step")
    v2 = [d for _, d, is2 in dirs if is2]
    if v2:
        t.ok(os.path.isdir(os.path.join(v2[0], "supervisor")), "the crash left the supervisor leaf behind")
    # ExecStopPost=diyctl cleanup %i, once the launcher's lock is free (the
    # container's first process may take a moment to notice it is orphaned)
    t.wait_for(lambda: json.loads(t.diyctl("list", "--json", check=True).stdout)[0]["state"] == "dead",
               msg="the container is not reported dead")
    t.diyctl("cleanup", "web", check=True)
    for h, d, _ in dirs:
        t.eq(sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))), [],
             "cleanup removed the container's cgroup and the supervisor leaf in %s" % h)


def test_undelegated_unit_keeps_the_default_place(t):
    dirs = _fake_unit(t, delegate=False)
    conf, _ = _conf(t, "web", ["/bin/true"])
    plan = json.loads(t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)]).stdout)
    step = [s for s in plan["steps"] if s["kind"] == "cgroup"][0]
    t.eq(step["args"], [["group", "diyctl/web"], ["part", "v2"]], "without Delegate=yes: HIERARCHY/diyctl/NAME")
    plan = json.loads(t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)],
                            env={"DIYCTL_CGROUP_PARENT": "self"}).stdout)
    step = [s for s in plan["steps"] if s["kind"] == "cgroup"][0]
    t.eq(step["args"], [["group", "web"], ["under", "self"], ["part", "v2"]], "DIYCTL_CGROUP_PARENT=self forces it")
    p = t.diyctl("plan", conf, env={"DIYCTL_CGROUP_PARENT": "relative/x"})
    t.eq(p.returncode, 1, "a bad DIYCTL_CGROUP_PARENT is an error")
    t.contains(p.stderr, "DIYCTL_CGROUP_PARENT", "naming the variable")


def test_explicit_cgroup_parent(t):
    conf, _ = _conf(t, "web", ["/bin/sleep", "600"])
    env = {"DIYCTL_CGROUP_PARENT": "/machine.slice/diyctl-fleet", "DIYCTL_STOP_TIMEOUT": "1"}
    t.diyctl("start", "-d", conf, env=env, check=True)
    t.defer(t.diyctl, "stop", "web")
    st = json.loads(t.diyctl("status", "--json", "web", check=True).stdout)
    t.ok(st["cgroups"], "the container has cgroups")
    for cg in st["cgroups"]:
        h = _hierarchy_of(cg)
        t.eq(cg, os.path.join(h, "machine.slice/diyctl-fleet/web"), "under the given parent in %s" % h)
    own = set(_cgroups(st["pid"]).values())
    t.ok("/machine.slice/diyctl-fleet/web" in own, "the container's process is there: %s" % own)
    t.diyctl("stop", "web", check=True)
    for h, _ in _hierarchies():
        t.ok(not os.path.exists(os.path.join(h, "machine.slice")), "the parents it made are removed again (%s)" % h)


# --------------------------------------------------------------------------
# A real systemd as PID 1 in the sandbox, booting with diyctl@web.service enabled
# --------------------------------------------------------------------------
#
# The booted system shares the machine's kernel, so it must not run the host's
# boot units (systemd-tmpfiles would empty /tmp, systemd-sysctl would set
# global sysctls, ...). It sees only the units we give it: SYSTEMD_UNIT_PATH
# is the sandbox's private /etc/systemd/system, emptied first, holding the
# shipped diyctl@.service and minimal targets; no generators. Its mount
# namespace also gets private /run, /tmp, /var/tmp, an overlay on /var, and
# read-only /proc/sys and /sys, so even a unit that tried could not reach
# the host.

SD_CGROUP = "dctest-systemd"
UNITS = "/etc/systemd/system"


def _sd(t, sdpid, *argv, check=True, timeout=30):
    """Run a command inside the booted system (all its namespaces)."""
    return t.run(["nsenter", "-t", str(sdpid), "-a", "--"] + list(argv), check=check, timeout=timeout)


def _show(t, sdpid, unit, *props):
    out = _sd(t, sdpid, "systemctl", "show", unit, *["-p" + p for p in props]).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def _shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


BOOT = """set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dctest/none /run/dctest/var-upper /run/dctest/var-work
cp -a {rootfs} /run/dctest/rootfs
cp {diyctl} /run/dctest/diyctl
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t overlay -o lowerdir=/var,upperdir=/run/dctest/var-upper,workdir=/run/dctest/var-work dctest-var /var
mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
cp /run/dctest/diyctl /usr/local/bin/diyctl
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
umount -R -l /sys/fs/cgroup
mount --bind /sys /sys
mount -o remount,bind,ro /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
exec env -i container=diyctl-test TERM=dumb SYSTEMD_UNIT_PATH={units} \\
    SYSTEMD_GENERATOR_PATH=/run/dctest/none SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/dctest/none \\
    /lib/systemd/systemd --unit=multi-user.target --log-target=console --log-level=info --show-status=no
"""

MINIMAL = {
    "multi-user.target": "[Unit]\nDescription=Multi-User System (diyctl test)\nAllowIsolate=yes\n",
    "sysinit.target": "[Unit]\nDescription=System Initialization (empty: nothing of the host runs)\n",
    "basic.target": "[Unit]\nDescription=Basic System (empty)\n",
    "shutdown.target": "[Unit]\nDescription=Shutdown\nDefaultDependencies=no\n",
    "network-online.target": "[Unit]\nDescription=Network is Online (empty)\n",
    "system.slice": "[Unit]\nDescription=System Slice\nDefaultDependencies=no\n",
    # No journald here: the service's output goes to a file instead.
    "diyctl@web.service.d/output.conf": "[Service]\nStandardOutput=append:/run/dctest/web.log\n"
                                        "StandardError=inherit\n",
}


def _prepare(t):
    if not any(l.split()[4] == "/etc" and "overlay" in l for l in open("/proc/self/mountinfo")):
        t.skip("no private /etc in this sandbox: refusing to touch the host's /etc/systemd")
    unit = os.path.join(t.repo, "build", "diyctl@.service")
    t.ok(os.path.isfile(unit), "meson generated the unit: %s" % unit)
    if os.path.isdir(UNITS):
        for e in os.listdir(UNITS):
            p = os.path.join(UNITS, e)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    os.makedirs(UNITS, exist_ok=True)
    shutil.copy(unit, os.path.join(UNITS, "diyctl@.service"))
    for name, text in MINIMAL.items():
        os.makedirs(os.path.dirname(os.path.join(UNITS, name)), exist_ok=True)
        with open(os.path.join(UNITS, name), "w") as f:
            f.write(text)
    os.makedirs("/etc/diyctl", exist_ok=True)
    with open("/etc/diyctl/web.conf", "w") as f:
        f.write('rootfs = { path = "/run/dctest/rootfs"; };\n'
                'process = { args = [ "/bin/sleep", "600" ]; init = true; };\n')


def test_systemd_boots_the_enabled_unit(t):
    if not os.path.exists("/lib/systemd/systemd") or not shutil.which("nsenter"):
        t.skip("systemd is not installed (tools/deps.sh)")
    rootfs = t.rootfs()
    _prepare(t)
    out = t.run(["systemctl", "enable", "diyctl@web.service"], env={"SYSTEMD_UNIT_PATH": UNITS}).stderr
    t.contains(out, "multi-user.target.wants/diyctl@web.service", "enabled for boot (WantedBy=multi-user.target)")

    # Our own cgroup for the booted system, so everything systemd makes is below it.
    cg = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    sdcg = os.path.join(cg, SD_CGROUP)
    os.mkdir(sdcg)

    def rm_tree():
        subs = sorted((os.path.join(dp, d) for dp, ds, _ in os.walk(sdcg) for d in ds), key=lambda p: -p.count("/"))
        for sub in subs + [sdcg]:
            for _ in range(50):
                try:
                    os.rmdir(sub)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
    t.defer(rm_tree)

    log = open(os.path.join(t.tmp, "systemd.log"), "w")
    script = BOOT.format(rootfs=rootfs, diyctl=t.diyctl_bin, units=UNITS)
    boot = ("echo $$ > %s/cgroup.procs && exec unshare --cgroup --pid --fork --mount-proc --mount --uts --ipc "
            "--propagation private sh -c %s" % (sdcg, _shq(script)))
    p = t.spawn(["sh", "-c", boot], stdout=log, stderr=subprocess.STDOUT)

    def systemd_pid():
        for k in t.children(p.pid):  # unshare --fork: its child is the namespace's init
            try:
                if open("/proc/%d/comm" % k).read().strip() == "systemd":
                    return k
            except OSError:
                pass
        return None
    sdpid = t.wait_for(systemd_pid, timeout=20, msg="systemd did not start")

    def halt():
        # The unit is stopped by now; ending the namespace's init ends the rest.
        if p.poll() is None:
            try:
                os.kill(sdpid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=20)
        log.close()
        with open(os.path.join(t.tmp, "systemd.log")) as f:
            for l in f.read().splitlines()[-30:]:
                t.log("  systemd| " + l)
    t.defer(halt)

    def active():
        r = _sd(t, sdpid, "systemctl", "is-active", "diyctl@web.service", check=False).stdout.strip()
        return r == "active"
    try:
        t.wait_for(active, timeout=60, interval=0.5, msg="diyctl@web.service did not become active at boot")
    except BaseException:
        _sd(t, sdpid, "systemctl", "status", "--no-pager", "diyctl@web.service", check=False)
        _sd(t, sdpid, "cat", "/run/dctest/web.log", check=False)
        raise

    units = _sd(t, sdpid, "systemctl", "list-units", "--all", "--no-legend", "--plain").stdout.split("\n")
    names = [u.split()[0] for u in units if u.strip() and u.split()[1] == "loaded"]
    others = [n for n in names if n.rsplit(".", 1)[-1] in ("service", "socket", "timer", "path", "automount")
              and n != "diyctl@web.service"]
    t.eq(others, [], "the booted system runs nothing but diyctl@web.service (the host's boot units are not in "
                     "its unit path)")
    t.eq(_sd(t, sdpid, "systemctl", "is-enabled", "diyctl@web.service", check=False).stdout.strip(), "enabled",
         "started at boot because it is enabled")
    # Type=notify: active only after READY=1, with diyctl's STATUS=.
    show = _show(t, sdpid, "diyctl@web.service", "MainPID", "StatusText", "ControlGroup", "Type", "NRestarts")
    t.eq(show["Type"], "notify", "Type=notify")
    t.ok(show["StatusText"].startswith("running web (pid "),
         "systemctl status shows diyctl's STATUS=: %r" % show["StatusText"])
    unit_cg = show["ControlGroup"]
    t.eq(unit_cg, "/system.slice/system-diyctl.slice/diyctl@web.service", "the unit's cgroup")
    st = json.loads(_sd(t, sdpid, "/usr/local/bin/diyctl", "status", "--json", "web").stdout)
    t.eq(st["cgroups"], ["/sys/fs/cgroup%s/web" % unit_cg],
         "Delegate=yes: the container's cgroup is inside the unit's (pure cgroup v2 here)")
    t.eq(str(st["launcher_pid"]), show["MainPID"], "the launcher is the unit's main process")
    sup = _sd(t, sdpid, "cat", "/sys/fs/cgroup%s/supervisor/cgroup.procs" % unit_cg).stdout.split()
    t.eq(sup, [show["MainPID"]], "the launcher moved to the supervisor leaf")
    t.eq(_sd(t, sdpid, "cat", "/sys/fs/cgroup%s/cgroup.procs" % unit_cg).stdout.strip(), "",
         "the unit's cgroup itself holds no process")
    tasks = _sd(t, sdpid, "systemd-cgls", "--no-pager", "-u", "diyctl@web.service", check=False).stdout
    t.contains(tasks, "sleep 600", "systemd counts the container's processes as the unit's")

    # A crash of the launcher: ExecStopPost=diyctl cleanup tears down, then Restart= brings it back.
    _sd(t, sdpid, "systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "diyctl@web.service")

    def waiting():
        s = _show(t, sdpid, "diyctl@web.service", "SubState")
        return s["SubState"] == "auto-restart"
    t.wait_for(waiting, timeout=30, interval=0.1, msg="the unit did not wait to restart after the crash")
    left = _sd(t, sdpid, "sh", "-c", "ls /run/diyctl /run/netns 2>/dev/null; "
                                     "find /sys/fs/cgroup/system.slice/system-diyctl.slice -mindepth 1 -type d; "
                                     "true").stdout
    t.eq(left.split(), [], "after the launcher's crash, ExecStopPost=diyctl cleanup left nothing behind")

    def restarted():
        s = _show(t, sdpid, "diyctl@web.service", "MainPID", "ActiveState", "NRestarts")
        return s if s["ActiveState"] == "active" and s["NRestarts"] == "1" else None
    again = t.wait_for(restarted, timeout=60, interval=0.5, msg="the unit was not restarted after the crash")
    t.ok(again["MainPID"] != show["MainPID"], "a new launcher")

    _sd(t, sdpid, "systemctl", "stop", "diyctl@web.service", timeout=60)
    show = _show(t, sdpid, "diyctl@web.service", "ActiveState", "Result")
    t.eq(show["ActiveState"], "inactive", "stopped")
    t.eq(show["Result"], "success", "a clean stop is a success (SuccessExitStatus)")
    left = _sd(t, sdpid, "sh", "-c", "ls /run/diyctl /run/netns 2>/dev/null; "
                                     "find /sys/fs/cgroup/system.slice/system-diyctl.slice -mindepth 1 -type d; "
                                     "true").stdout
    t.eq(left.split(), [], "nothing left: state dir, netns, the unit's cgroups")
    t.log(_sd(t, sdpid, "cat", "/run/dctest/web.log", check=False).stdout[-2000:])
