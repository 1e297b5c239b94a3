"""Issue 7: cgroups and resource limits (cgroup v1 controllers on this
machine, v2 where the host has them; the same keys)."""

import json
import os
import re
import time


def conf_with(t, name, limits, script):
    r = t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\nlimits = { %s };\n'
                        'process = { args = [ "/bin/sh", "-c", %s ]; };\n' % (r, limits, json.dumps(script)))


def test_memory_limit_oom(t):
    conf = conf_with(t, "mem", 'memory = "32M";', "exec tail /dev/zero")
    p = t.diyctl("start", conf, timeout=60)
    t.eq(p.returncode, 128 + 9, "a process allocating past limits.memory is killed (SIGKILL)")
    t.contains(p.stderr, "killed by the OOM killer", "and the exit is reported as an OOM kill")
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "memory=33554432", "plan shows the limit")
    # under the init, which turns its command's SIGKILL into an exit with 137
    p = t.diyctl("start", conf, "--set", "process.init=true", timeout=60)
    t.eq(p.returncode, 128 + 9, "with process.init: the same exit code")
    t.contains(p.stderr, "killed by the OOM killer", "and the same report")


def test_more_cpus_than_the_host_has_is_refused(t):
    # as Docker: a quota above the host's CPU count is a mistake (100 for 1.00)
    n = os.cpu_count()
    conf = conf_with(t, "cpu", 'cpus = %d;' % (n + 1), "true")
    p = t.diyctl("check", conf)
    t.eq(p.returncode, 1, "check refuses it")
    t.contains(p.stderr, "cpu.conf:2: limits.cpus: %d is more than the %d CPUs this host has: at most %d"
               % (n + 1, n, n), "naming file, line, key and the host's count")
    t.diyctl("check", conf, "--set", "limits.cpus=%d" % n, check=True)


def test_detached_oom_kill_is_on_record(t):
    # a detached container the OOM killer ends: its record says so, and why
    conf = conf_with(t, "mem", 'memory = "32M";', "echo allocating; exec tail /dev/zero")
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: '"state":"exited"' in t.diyctl("status", "--json", "mem").stdout, timeout=60,
               msg="the OOM killer ended it")
    st = json.loads(t.diyctl("status", "--json", "mem").stdout)
    t.eq((st["state"], st["exit_code"], st["oom_killed"]), ("exited", 128 + 9, True),
         "status --json: exited by SIGKILL, from the OOM killer")
    text = t.diyctl("status", "mem").stdout
    t.contains(text, "exit code:  137 (signal 9), killed by the OOM killer", "status names the signal and the OOM kill")
    log = t.diyctl("logs", "mem", check=True).stdout
    t.contains(log, "allocating", "logs: its own output")
    t.contains(log, "diyctl: mem was killed by the OOM killer", "and diyctl's word on how it ended")
    t.diyctl("stop", "mem", check=True)
    t.diyctl("start", "-d", conf, "--set", "process.init=true", check=True)
    t.wait_for(lambda: '"state":"exited"' in t.diyctl("status", "--json", "mem").stdout, timeout=60,
               msg="the OOM killer ended its command")
    st = json.loads(t.diyctl("status", "--json", "mem").stdout)
    t.eq((st["exit_code"], st["oom_killed"]), (128 + 9, True), "with process.init: on record as an OOM kill too")
    t.diyctl("stop", "mem", check=True)


def test_init_that_cannot_fork_says_so(t):
    conf = conf_with(t, "pids1", "pids = 1;", "true")
    p = t.diyctl("start", conf, "--set", "process.init=true")
    t.eq(p.returncode, 125, "the init cannot start its command under limits.pids = 1: 125")
    t.contains(p.stderr, "the init (process.init) cannot start its command: fork: Resource temporarily unavailable "
               "(limits.pids reached?)", "and says why, instead of nothing")


def test_pids_limit_stops_a_fork_bomb(t):
    conf = conf_with(t, "pids", "pids = 10;",
                     # only builtins count: once the limit is hit, nothing can fork
                     # (ash gives up when fork fails: the bomb runs in a subshell)
                     "(i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done) 2>/dev/null; "
                     "set -- /proc/[0-9]*; echo $#")
    p = t.diyctl("start", conf, timeout=60)
    n = int(p.stdout.strip().splitlines()[-1])
    t.ok(n <= 10, "no more than limits.pids processes exist (%d)" % n)
    t.ok(n >= 5, "but the container did run some (%d)" % n)


def _cpu_usage_seconds(name):
    """CPU time of the container's cgroup, from the hierarchy that counts it."""
    for path, scale in (("/sys/fs/cgroup/cpuacct/diyctl/%s/cpuacct.usage" % name, 1e9),
                        ("/sys/fs/cgroup/diyctl/%s/cpu.stat" % name, None),
                        ("/sys/fs/cgroup/unified/diyctl/%s/cpu.stat" % name, None)):
        if os.path.exists(path):
            text = open(path).read()
            if scale:
                return int(text) / scale
            for line in text.splitlines():
                k, v = line.split()
                if k == "usage_usec":
                    return int(v) / 1e6
    return None


def test_cpu_limit_half_a_core(t):
    # memory and pids too: status reports the usage of the controllers the
    # limits give the cgroup (test_cgroup_controllers_follow_the_limits)
    conf = conf_with(t, "cpu", 'cpus = 0.5; pids = 64; memory = "256M";',
                     'trap "exit 0" TERM; while :; do :; done')
    t.diyctl("start", "-d", conf, check=True)
    u0, w0 = _cpu_usage_seconds("cpu"), time.monotonic()
    t.ok(u0 is not None, "the container's cgroup counts CPU time")
    time.sleep(3)
    u1, w1 = _cpu_usage_seconds("cpu"), time.monotonic()
    st = json.loads(t.diyctl("status", "--json", "cpu", check=True).stdout)
    text = t.diyctl("status", "cpu", check=True).stdout
    t.diyctl("stop", "-t", "2", "cpu", check=True)
    t.ok(re.search(r"^memory: +\d+\.\d MiB$", text, re.M) and re.search(r"^pids: +[1-9]\d*$", text, re.M),
         "status (text) shows the memory and tasks in use too: %r" % text)
    share = (u1 - u0) / (w1 - w0)
    t.ok(0.3 <= share <= 0.7, "a busy loop under cpus = 0.5 gets about half a core (%.2f)" % share)
    t.ok(isinstance(st.get("pids_current"), int) and st["pids_current"] >= 1, "status reports pids: %s" % st)
    t.ok(isinstance(st.get("memory_bytes"), int) and st["memory_bytes"] > 0, "status reports memory: %s" % st)


def test_cgroup_namespace_sees_its_own_root(t):
    r = t.rootfs()
    conf = t.conf("cgns", 'rootfs = { path = "%s"; };\n' % r)
    d = t.probe(conf)
    paths = sorted(set(l.split(":", 2)[2] for l in d["cgroup"]))
    t.eq(paths, ["/"], "with the cgroup namespace, the container's cgroup is its /")


def _v1_controllers():
    """The cgroup v1 hierarchies mounted on this host: {mount point: controllers}."""
    out = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup":
                out[mnt] = set(o for o in opts.split(",") if o in ("memory", "cpu", "cpuacct", "pids", "devices",
                                                                     "freezer", "blkio", "cpuset"))
    return out


def test_cgroup_controllers_follow_the_limits(t):
    """On a host with cgroup v1 controllers, a container's cgroup is made in
    the devices hierarchy (the device list) and in the memory, cpu and pids
    ones only for a limit that uses them (as its v2 cgroup gets a controller
    only for a limit); status reports memory and pids usage where it has
    the controller."""
    v1 = _v1_controllers()
    r = t.rootfs()
    cases = (("plain", "", {"devices"}),
             ("mem", 'limits = { memory = "64M"; };', {"devices", "memory"}),
             ("all", 'limits = { memory = "64M"; pids = 32; cpus = 1.5; };', {"devices", "memory", "pids", "cpu"}))
    for name, limits, used in cases:
        conf = t.conf(name, 'rootfs = { path = "%s"; };\n%s\nprocess = { args = [ "/bin/sleep", "600" ]; };\n'
                      % (r, limits))
        t.diyctl("start", "-d", conf, env={"DIYCTL_STOP_TIMEOUT": "1"}, check=True)
        st = json.loads(t.diyctl("status", "--json", name, check=True).stdout)
        t.diyctl("stop", name, check=True)
        v1_dirs = [d for d in st["cgroups"] if any(d.startswith(m + "/") for m in v1)]
        if v1:
            got = set()
            for d in v1_dirs:
                got |= next(c for m, c in v1.items() if d.startswith(m + "/"))
            want = set(used)
            if "cpu" in used:  # co-mounted with cpu on some hosts
                want |= got & {"cpuacct"}
            t.eq(got, want, "%s: v1 controllers of its cgroups (%s)" % (name, st["cgroups"]))
            t.eq(isinstance(st["memory_bytes"], int) and st["memory_bytes"] > 0, "memory" in used,
                 "%s: status reports memory usage where the cgroup has the controller: %s" % (name, st))
            t.eq(isinstance(st["pids_current"], int) and st["pids_current"] >= 1, "pids" in used,
                 "%s: status reports pids where the cgroup has the controller: %s" % (name, st))
        else:
            t.eq(v1_dirs, [], "%s: a cgroup v2 host: no v1 directory" % name)
        t.eq(len(st["cgroups"]) - len(v1_dirs), 1, "%s: one cgroup in the v2 hierarchy" % name)
        for d in st["cgroups"]:
            t.ok(not os.path.exists(d), "%s: %s removed at stop" % (name, d))


def limits_of(text):
    """/proc/PID/limits as {"Max open files": ("1024", "4096"), ...}."""
    out = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


# one limit a line (the errors name each one's own line)
RL_CONF = ('rootfs = { path = "%s"; };\nnamespaces = %s;\n'
           'process = {\n  args = [ "/bin/cat", "/proc/self/limits" ];\n'
           '  rlimits = {\n    core = 0;\n    nofile = "%s";\n    stack = "8388608:unlimited";\n'
           '    nproc = "500:1000";\n  };\n};\n')


def has_cap(n):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> n & 1)
    return False


CAP_SYS_RESOURCE = 24


def test_rlimits_are_the_process_limits(t):
    """process.rlimits, as Docker's --ulimit: the process runs with exactly
    those, also in a user namespace (where it could not raise a hard limit
    itself, the launcher does); diyctl exec gets the same."""
    r = t.rootfs()
    ways = (('[ "mount", "uts", "ipc", "pid", "net" ]', "no user namespace"),
            ('[ "mount", "uts", "ipc", "pid", "net", "user" ]', "cloned with its user namespace"),
            ('[ "mount", "uts", "ipc", "pid", "net", "user", "time" ]', "through the holder (time namespace)"))
    # A launcher with CAP_SYS_RESOURCE raises hard limits above its own. Some
    # hosts (this project's CI runner among them) keep it out of even root's
    # bounding set: there the start must refuse, and say why.
    can_raise = has_cap(CAP_SYS_RESOURCE)
    for ns, way in ways:
        # the launcher's own limits: nofile 256:4096, core 1000:2000
        launcher = ["prlimit", "--nofile=256:4096", "--core=1000:2000", t.diyctl_bin, "start"]
        conf = t.conf("rl", RL_CONF % (r, ns, "1024:2048"))
        lim = limits_of(t.run(launcher + [conf], check=True).stdout)
        t.eq(lim.get("Max open files"), ("1024", "2048"), "%s: nofile as set (soft up, hard down)" % way)
        t.eq(lim.get("Max core file size"), ("0", "0"), "%s: an integer is both limits" % way)
        t.eq(lim.get("Max stack size"), ("8388608", "unlimited"), "%s: SOFT:unlimited" % way)
        t.eq(lim.get("Max processes"), ("500", "1000"), "%s: nproc" % way)
        conf = t.conf("rl", RL_CONF % (r, ns, "1024:65536"))
        p = t.run(launcher + [conf], check=False)
        if can_raise:
            t.eq((p.returncode, limits_of(p.stdout).get("Max open files")), (0, ("1024", "65536")),
                 "%s: a hard limit above the launcher's is raised" % way)
        else:
            t.eq(p.returncode, 125, "%s: without CAP_SYS_RESOURCE a hard limit above ours is refused" % way)
            t.contains(p.stderr, "rl.conf:7: process.rlimits.nofile: cannot raise the hard limit from 4096 to 65536: "
                       "that takes CAP_SYS_RESOURCE", "%s: and the error says why" % way)
    t.contains(t.diyctl("plan", conf, check=True).stdout,
               "rlimits core=0 nofile=1024:65536 nproc=500:1000 stack=8388608:unlimited", "plan shows them")
    # limits the launcher has unlimited (cpu, as, data: the kernel's default; stack's hard) are lowered,
    # and -1 is Docker's unlimited
    conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = {\n  args = [ "/bin/cat", "/proc/self/limits" ];\n'
                        '  rlimits = { cpu = 60; as = "4000000000"; stack = 1048576; data = -1; };\n};\n' % r)
    lim = limits_of(t.diyctl("start", conf, check=True).stdout)
    t.eq([lim.get(k) for k in ("Max cpu time", "Max address space", "Max stack size", "Max data size")],
         [("60", "60"), ("4000000000", "4000000000"), ("1048576", "1048576"), ("unlimited", "unlimited")],
         "limits below the launcher's unlimited ones")
    # with an init, and for exec (from a shell with other limits)
    conf = t.conf("rld", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sleep", "60" ]; init = true;\n'
                         '  rlimits = { nofile = "2000:3000"; }; };\n' % r)
    t.diyctl("start", "-d", conf, check=True)
    try:
        st = json.loads(t.diyctl("status", "--json", "rld", check=True).stdout)
        init_children = open("/proc/%d/task/%d/children" % (st["pid"], st["pid"])).read().split()
        with open("/proc/%s/limits" % init_children[0]) as f:
            t.eq(limits_of(f.read()).get("Max open files"), ("2000", "3000"), "under an init: the command has them")
        p = t.run(["prlimit", "--nofile=100:%d" % (3000 if not can_raise else 1000), t.diyctl_bin, "exec", "rld",
                   "cat", "/proc/self/limits"], check=True)
        t.eq(limits_of(p.stdout).get("Max open files"), ("2000", "3000"), "exec: the container's limits")
        p = t.run(["prlimit", "--core=0:0", t.diyctl_bin, "exec", "rld", "cat", "/proc/self/limits"], check=True)
        t.eq(limits_of(p.stdout).get("Max core file size"), ("0", "0"), "exec: a limit not set is the caller's")
    finally:
        t.diyctl("stop", "rld", check=True)


def test_rlimit_errors(t):
    r = t.rootfs()
    for value, msg in (('"4096:1024"', "process.rlimits.nofile: 4096:1024: the soft limit is above the hard one"),
                       ('"lots"', 'process.rlimits.nofile: lots is not a limit: an integer, "SOFT:HARD" or '
                                  '"unlimited"'),
                       ('-2', "process.rlimits.nofile: must be 0 or more, or -1 or \"unlimited\", got -2"),
                       ('"1024:"', "process.rlimits.nofile: 1024: is not a limit"),
                       ('true', "process.rlimits.nofile: expected an integer or a string like \"1024:4096\", got")):
        conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = {\n  rlimits = { nofile = %s; };\n};\n'
                      % (r, value))
        p = t.diyctl("check", conf)
        t.eq(p.returncode, 1, "check refuses nofile = %s" % value)
        t.contains(p.stderr, "rl.conf:3: " + msg, "and names the file, line and key")
    conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = { rlimits = { nofiles = 10; }; };\n' % r)
    t.contains(t.diyctl("check", conf).stderr, 'rl.conf:2: process.rlimits.nofiles: unknown key (did you mean '
               '"nofile"?)', "a misspelt limit")
    # nproc: a process of that uid cannot fork past it; and as under runc, a uid that already has as
    # many processes when the container's process takes it cannot run it (the error names the limit)
    conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = {\n  args = [ "/bin/sh", "-c", "/bin/echo forked; /bin/true" ];\n'
                        '  user = "65534:65534";\n  rlimits = { nproc = 1; };\n};\n' % r)
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0 and "forked" not in p.stdout and "fork" in p.stderr,
         "nproc = 1: the shell cannot fork (%d, %r)" % (p.returncode, p.stderr))
    sleeper = t.conf("sleeper", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sleep", "60" ]; '
                                'user = "65534:65534"; };\n' % r)
    t.diyctl("start", "-d", sleeper, check=True)
    try:
        conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = {\n  args = [ "/bin/echo", "ran" ];\n'
                            '  user = "65534:65534";\n  rlimits = { nproc = 0; };\n};\n' % r)
        p = t.diyctl("start", conf)
        t.eq((p.returncode, p.stdout), (126, ""), "nproc = 0 for a uid with a process already: it does not run")
        t.contains(p.stderr, "cannot run /bin/echo: its uid has as many processes as process.rlimits.nproc allows",
                   "and the error names the limit")
    finally:
        t.diyctl("stop", "-t", "1", "sleeper", check=True)
    # above what the kernel allows: start fails before the process runs, and says why
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    conf = t.conf("rl", 'rootfs = { path = "%s"; };\nprocess = {\n  args = [ "/bin/echo", "ran" ];\n'
                        '  rlimits = { nofile = %d; };\n};\n' % (r, nr_open + 1))
    before = t.snapshot()
    p = t.diyctl("start", conf)
    t.eq(p.returncode, 125, "start fails")
    t.ok("ran" not in p.stdout, "before the process runs")
    t.contains(p.stderr, "rl.conf:4: process.rlimits.nofile: a hard limit of %d is above the kernel's fs.nr_open (%d)"
               % (nr_open + 1, nr_open), "naming the key and the kernel's limit")
    t.host_unchanged(before, "and the host is as before")
