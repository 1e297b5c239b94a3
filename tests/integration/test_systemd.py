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


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


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
    kids = _children(p.pid)
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
    t.eq(step["args"], [["group", "web"], ["under", "self"]], "the plan puts the cgroup inside the unit's")
    t.contains(step["description"], "delegated", "and says so")

    p = t.spawn(["sh", "-c", _enter(dirs) + "exec %s start %s" % (t.diyctl_bin, conf)],
                env={"NOTIFY_SOCKET": lis.spec, "DIYCTL_STOP_TIMEOUT": "1"})
    lis.wait_for(t, "READY")
    child = _children(p.pid)[0]
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
    # ExecStopPost=diyctl cleanup %i
    t.diyctl("cleanup", "web", check=True)
    for h, d, _ in dirs:
        t.eq(sorted(e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))), [],
             "cleanup removed the container's cgroup and the supervisor leaf in %s" % h)


def test_undelegated_unit_keeps_the_default_place(t):
    dirs = _fake_unit(t, delegate=False)
    conf, _ = _conf(t, "web", ["/bin/true"])
    plan = json.loads(t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)]).stdout)
    step = [s for s in plan["steps"] if s["kind"] == "cgroup"][0]
    t.eq(step["args"], [["group", "diyctl/web"]], "without Delegate=yes: HIERARCHY/diyctl/NAME")
    plan = json.loads(t.run(["sh", "-c", _enter(dirs) + "exec %s plan --json %s" % (t.diyctl_bin, conf)],
                            env={"DIYCTL_CGROUP_PARENT": "self"}).stdout)
    step = [s for s in plan["steps"] if s["kind"] == "cgroup"][0]
    t.eq(step["args"], [["group", "web"], ["under", "self"]], "DIYCTL_CGROUP_PARENT=self forces it")
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
