"""Issue 4: kill -9 of the launcher at every step and at random moments,
then `diyctl cleanup`: the host is exactly as before, every time. And a
damaged journal is reported, never misparsed."""

import json
import os
import random
import shutil
import signal
import subprocess
import time

TIMEOUT = 300
LOOP = 'trap "exit 0" TERM; while true; do sleep 0.1; done'


def conf_for(t, name="crash"):
    r = t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sh", "-c", %s ]; };\n'
                  % (r, json.dumps(LOOP)))


def host_step_points(t, conf):
    plan = json.loads(t.diyctl("plan", "--json", conf, check=True).stdout)
    return [s["index"] for s in plan["steps"] if s["side"] in ("host", "spawn")]


def test_kill_at_every_step(t):
    conf = conf_for(t)
    points = host_step_points(t, conf)
    t.ok(len(points) >= 4, "the plan has host steps to cut at: %s" % points)
    before = t.snapshot()
    for k in points:
        for when in ("before", "after"):
            p = t.diyctl("start", "-d", conf, env={"DIYCTL_FAULT": "%d:%s" % (k, when)})
            t.ok(p.returncode != 0, "start with the fault at %d:%s must not succeed" % (k, when))
            c = t.diyctl("cleanup", "crash")
            t.eq(c.returncode, 0, "cleanup after a kill at %d:%s (stderr: %s)" % (k, when, c.stderr))
            t.host_unchanged(before, "host after a kill at %d:%s and cleanup" % (k, when))
            # and a normal start works afterwards
    t.diyctl("start", "-d", conf, check=True)
    t.diyctl("stop", "crash", check=True)
    t.host_unchanged(before, "host after the test's teardowns")


def test_fault_kills_the_foreground_launcher(t):
    conf = conf_for(t)
    points = host_step_points(t, conf)
    p = t.diyctl("start", conf, env={"DIYCTL_FAULT": "%d:after" % points[-1]})
    t.eq(p.returncode, -signal.SIGKILL, "the launcher died by SIGKILL at the fault point")
    st = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"]) for c in st], [("crash", "dead")], "list shows the dead container")
    t.diyctl("cleanup", "--all", check=True)
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "cleanup --all removed it")


def _kill_tree(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_random_kills_during_start_and_stop(t):
    conf = conf_for(t)
    before = t.snapshot()
    rng = random.Random(int(os.environ.get("DIYCTL_TEST_SEED", "4242")))
    for i in range(50):
        if i % 2 == 0:
            # during start: the foreground launcher, killed after a random delay
            p = subprocess.Popen([t.diyctl_bin, "start", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, 0.03))
            _kill_tree(p.pid)
            p.wait()
        else:
            # during stop: the supervisor killed while it tears down
            t.diyctl("start", "-d", conf, check=True)
            st = json.loads(t.diyctl("status", "--json", "crash", check=True).stdout)
            s = subprocess.Popen([t.diyctl_bin, "stop", "crash"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, 0.03))
            _kill_tree(st["launcher_pid"])
            s.wait(timeout=30)
        c = t.diyctl("cleanup", "crash")
        t.eq(c.returncode, 0, "run %d: cleanup (stderr: %s)" % (i, c.stderr))
        t.host_unchanged(before, "host after random kill %d and cleanup" % i)


def test_cleanup_removes_a_state_root_left_empty(t):
    # a launcher killed after it made the state root, before its container's
    # directory, leaves the root empty: cleanup removes it, as a teardown would
    os.makedirs("/run/diyctl")
    t.diyctl("cleanup", "crash", check=True)
    t.ok(not os.path.exists("/run/diyctl"), "the empty state root is gone")
    os.makedirs("/run/diyctl/other")
    t.defer(shutil.rmtree, "/run/diyctl", True)
    t.diyctl("cleanup", "crash", check=True)
    t.ok(os.path.isdir("/run/diyctl/other"), "one that holds anything stays")


def _kill_supervisor(t, name):
    st = json.loads(t.diyctl("status", "--json", name, check=True).stdout)
    os.kill(st["launcher_pid"], signal.SIGKILL)
    t.wait_for(lambda: json.loads(t.diyctl("status", "--json", name).stdout or "{}").get("state") == "dead",
               msg="the launcher is gone")
    return "/run/diyctl/%s/journal" % name


def test_torn_journal_tail(t):
    conf = conf_for(t)
    before = t.snapshot()
    t.diyctl("start", "-d", conf, check=True)
    path = _kill_supervisor(t, "crash")
    data = open(path, "rb").read()
    last = data.rstrip(b"\n").rfind(b"\n")
    with open(path, "wb") as f:  # cut the last line in half, as a power cut would
        f.write(data[:last + 1 + (len(data) - last) // 2])
    c = t.diyctl("cleanup", "crash")
    t.eq(c.returncode, 0, "a torn last line is expected after a crash: cleanup succeeds")
    t.contains(c.stderr, "torn", "and says so")
    t.host_unchanged(before, "host after the test's teardowns")


def test_damaged_journal_is_reported(t):
    conf = conf_for(t)
    before = t.snapshot()
    t.diyctl("start", "-d", conf, check=True)
    path = _kill_supervisor(t, "crash")
    lines = open(path, "rb").read().split(b"\n")
    # damage the netns record's done line (line 7: header, 3 records x intent+done)
    idx = next(i for i, l in enumerate(lines) if b" done netns " in l)
    lines[idx] = lines[idx].replace(b"done netns", b"done netnz")
    open(path, "wb").write(b"\n".join(lines))
    c = t.diyctl("cleanup", "crash")
    t.eq(c.returncode, 1, "cleanup of a damaged journal exits non-zero, without crashing")
    t.contains(c.stderr, "line %d is damaged" % (idx + 1), "names the damaged line")
    # what came before the damage was undone (the cgroup); the rest is for a human
    t.ok(not any("diyctl" in d for d in os.listdir("/sys/fs/cgroup/pids")), "the cgroup was removed")
    t.ok(os.path.exists(path), "the journal is kept for inspection")
    t.run(["umount", "/run/netns/diyctl-crash"], check=False)
    t.run(["rm", "-rf", "/run/netns/diyctl-crash", "/run/diyctl/crash"])
    t.run(["rmdir", "/run/diyctl"], check=False)
    # garbage never crashes it
    os.makedirs("/run/diyctl/crash")
    open(path, "wb").write(os.urandom(4096))
    c = t.diyctl("cleanup", "crash")
    t.eq(c.returncode, 1, "garbage: a clear error, exit 1 (not a crash)")
    t.contains(c.stderr, "journal", "the error names the journal")
    t.run(["rm", "-rf", "/run/diyctl"])
    t.host_unchanged(before, "host after the test's teardowns")
