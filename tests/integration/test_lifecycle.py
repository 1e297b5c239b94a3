"""Issue 4: the container lifecycle (start -d, list, status, exec, logs,
journal, stop, cleanup) and teardown on every path."""

import json
import os
import signal
import subprocess
import time

LOOP = 'trap "echo got-term; exit 0" TERM INT HUP; echo started; while true; do sleep 0.1; done'


def conf_for(t, name="life", script=LOOP, extra=""):
    r = t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sh", "-c", %s ];\n'
                        '  env = [ "PATH=/bin:/sbin:/usr/bin", "GREETING=hi" ]; cwd = "/etc"; };\n%s'
                  % (r, json.dumps(script), extra))


def status(t, name):
    return json.loads(t.diyctl("status", "--json", name, check=True).stdout)


def test_detached_lifecycle(t):
    conf = conf_for(t)
    p = t.diyctl("start", "-d", conf, check=True)
    t.eq(p.stdout.strip(), "life", "start -d prints the name")
    lst = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"]) for c in lst], [("life", "running")], "list --json")
    st = status(t, "life")
    t.ok(st["pid"] > 1 and os.path.exists("/proc/%d" % st["pid"]), "status reports a live pid")

    t.eq(st["detached"], True, "detached")
    t.eq(os.stat("/run/diyctl/life/status").st_mode & 0o777, 0o600,
         "the status file (it holds process.env, GREETING=hi) is the owner's alone")
    # exec joins every namespace, the cwd and the environment
    out = t.diyctl("exec", "life", "--", "/bin/sh", "-c", 'echo "$(hostname) $(pwd) $GREETING"; ps -o pid,args',
                   check=True).stdout
    t.contains(out, "life /etc hi", "exec runs with the container's hostname, cwd and env")
    t.contains(out, "1 /bin/sh -c trap", "exec sees the container's processes (same pid namespace)")
    t.eq(t.diyctl("exec", "life", "/bin/sh", "-c", "exit 9").returncode, 9, "exec propagates the exit code")
    for missing in ("no-such-program", ""):
        p = t.diyctl("exec", "life", "--", missing)
        t.eq(p.returncode, 127, "exec of a missing program %r exits 127, as a shell's would" % missing)
        t.contains(p.stderr, "command not found in the container", "and says so")
    with open("/proc/%d/ns/net" % st["pid"]) as _:
        pass
    t.eq(os.readlink("/proc/%d/ns/mnt" % st["pid"]) != os.readlink("/proc/self/ns/mnt"), True, "own mount ns")
    # the named netns works with ip netns exec
    links = json.loads(t.run(["ip", "netns", "exec", "diyctl-life", "ip", "-j", "link"]).stdout)
    t.eq([l["ifname"] for l in links], ["lo"], "ip netns exec diyctl-NAME reaches the container's netns")
    # logs
    t.wait_for(lambda: "started" in t.diyctl("logs", "life").stdout, msg="logs show the output")
    # the journal lists what was done on the host
    j = json.loads(t.diyctl("journal", "--json", "life", check=True).stdout)
    kinds = [r["kind"] for r in j["records"]]
    with open("/proc/self/mounts") as f:
        hybrid = any(l.split()[2] == "cgroup" for l in f)  # cgroup v1 hierarchies
    t.eq(kinds, ["statedir", "cgroup"] + (["cgroup"] if hybrid else []) + ["netns"],
         "journal records of a running container (its v2 cgroup, then its v1 ones on a hybrid host)")
    t.ok(all(r["state"] == "done" for r in j["records"]), "every record is done")
    t.contains(t.diyctl("journal", "life", check=True).stdout, "netns", "journal as a table")
    t0 = time.monotonic()
    t.diyctl("stop", "life", check=True)
    t.ok(time.monotonic() - t0 < 3, "a container that handles SIGTERM stops promptly")
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "nothing listed after stop")
    t.ok(t.diyctl("status", "life").returncode != 0, "status of a stopped container fails")


def test_same_name_twice(t):
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    p = t.diyctl("start", "-d", conf)
    t.ok(p.returncode != 0, "a second start of the same name fails")
    t.contains(p.stderr, "container life is already running", "clear error")
    t.eq(p.stderr.count("diyctl:"), 1, "said once")
    p = t.diyctl("start", conf)
    t.contains(p.stderr, "already running", "also in the foreground")
    t.diyctl("stop", "life", check=True)


def test_stop_escalates_to_sigkill(t):
    conf = conf_for(t, script='trap "" TERM; echo ignoring; while true; do sleep 0.1; done')
    t.diyctl("start", "-d", conf, check=True)
    t0 = time.monotonic()
    t.diyctl("stop", "-t", "1", "life", check=True)
    took = time.monotonic() - t0
    t.ok(1.0 <= took < 6, "stop -t 1 waits about a second, then kills (took %.2f s)" % took)
    t.eq(t.diyctl("status", "life").returncode != 0, True, "gone")


def catches(pid, sig):
    """Does process PID catch signal SIG (its SigCgt mask)?"""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (int(sig) - 1)))
    except OSError:
        pass
    return False


def test_sigterm_to_foreground_launcher_tears_down(t):
    conf = conf_for(t)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        before = t.snapshot()
        p = t.spawn([t.diyctl_bin, "start", conf])
        t.wait_for(lambda: json.loads(t.diyctl("status", "--json", "life").stdout or "{}").get("state") == "running",
                   msg="container running")
        # running is from its exec on: wait until the shell has set its trap
        # (as PID 1 it would ignore the signal until then, and be killed
        # after the grace time)
        pid = status(t, "life")["pid"]
        t.wait_for(lambda: catches(pid, sig), msg="the container's shell traps %s" % sig.name)
        os.kill(p.pid, sig)
        rc = p.wait(timeout=20)
        t.eq(rc, 0, "the container handled the forwarded %s and exited 0" % sig.name)
        t.host_unchanged(before, "teardown after %s" % sig.name)


def test_other_signals_to_the_launcher(t):
    """USR1, USR2, ALRM, a real-time signal... sent to the launcher go on to
    the container; none of them kills the launcher before its teardown."""
    before = t.snapshot()
    script = ('trap "echo got-usr1" USR1; trap "echo got-usr2" USR2; trap "echo got-rt; exit 6" 40; '
              'echo started; while true; do sleep 0.1; done')
    conf = conf_for(t, script=script, extra='network = { mode = "nat"; };\n')
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "life").stdout, msg="the traps are set")
    launcher = status(t, "life")["launcher_pid"]
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        os.kill(launcher, sig)
    t.wait_for(lambda: "got-usr1\ngot-usr2" in t.diyctl("logs", "life").stdout,
               msg="the container got USR1, then USR2, from its launcher")
    t.eq(status(t, "life")["state"], "running", "the launcher lives on")
    os.kill(launcher, 40)
    t.wait_for(lambda: json.loads(t.diyctl("status", "--json", "life").stdout)["state"] == "exited",
               msg="the container ended on the real-time signal it got")
    t.eq(json.loads(t.diyctl("status", "--json", "life").stdout)["exit_code"], 6, "its trap's exit code")
    t.diyctl("cleanup", "life", check=True)
    t.host_unchanged(before, "torn down, the NAT setup included")
    # foreground: SIGALRM would kill a launcher that does not handle it
    conf = conf_for(t, script='trap "exit 9" ALRM; echo started; while true; do sleep 0.1; done',
                    extra='network = { mode = "nat"; };\n')
    p = subprocess.Popen([t.diyctl_bin, "start", conf], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    t.ok(b"started" in p.stdout.readline(), "foreground container started")
    p.send_signal(signal.SIGALRM)
    t.eq(p.wait(timeout=30), 9, "the container got the SIGALRM and exited 9; start says so")
    p.stdout.close()
    t.host_unchanged(before, "and the launcher tore down")


def test_exec_with_a_pty(t):
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)

    def script(s):
        s.expect(r"# ")
        s.sendline("tty; echo done-$((40+2))")
        s.expect(r"/dev/pts/\d+")
        s.expect(r"done-42")
        s.sendline("exit 4")
    rc = t.pty_run([t.diyctl_bin, "exec", "life", "/bin/sh"], script, timeout=30,
                   env={"PS1": "# "})
    t.eq(rc, 4, "interactive exec on a pty")
    t.diyctl("stop", "life", check=True)


def test_exec_options(t):
    """exec -u, -w and -e change the user, directory and environment the
    container's process has; options end at NAME, so whatever follows is the
    command's; a bad value is refused before anything runs."""
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    show = ["/bin/sh", "-c", 'echo "$(id -u):$(id -g) $(pwd) G=$GREETING N=$NEW C=$FROM_CALLER U=${UNSET-unset}"']
    out = t.diyctl("exec", "life", *show, check=True).stdout
    t.eq(out.strip(), "0:0 /etc G=hi N= C= U=unset", "without options: the container's user, cwd and env")
    env = dict(os.environ, FROM_CALLER="caller's")
    env.pop("UNSET", None)
    out = t.diyctl("exec", "-u", "65534:65534", "-w", "/tmp", "-e", "GREETING=bye", "--env=NEW=x y",
                   "-e", "FROM_CALLER", "-e", "UNSET", "life", *show, env=env, check=True).stdout
    t.eq(out.strip(), "65534:65534 /tmp G=bye N=x y C=caller's U=unset",
         "-u uid:gid, -w DIR, -e KEY=VALUE replaces or adds, -e KEY takes the caller's value (or none)")
    out = t.diyctl("exec", "--user", "nobody", "--workdir=/", "life", "/bin/sh", "-c", 'echo "$(id -un):$(id -gn) $(pwd)"',
                   check=True).stdout
    t.eq(out.strip(), "nobody:nogroup /", "-u NAME takes the user and its group from the rootfs's /etc/passwd")
    out = t.diyctl("exec", "-it", "-Tu65534", "-iw/tmp", "life", "/bin/sh", "-c", 'echo "$(id -u) $(pwd)"',
                   check=True).stdout
    t.eq(out.strip(), "65534 /tmp", "short options combine as docker's (-it; a value may follow in the same word)")
    p = t.diyctl("exec", "-u", "65534", "-w", "/root", "life", "pwd")
    t.eq(p.returncode, 125, "-w is entered as the -u user: /root (0700) is refused")
    t.contains(p.stderr, "exec --workdir /root: Permission denied", "and exec says so")
    p = t.diyctl("exec", "life", "/bin/sh", "-c", 'echo "$@"', "sh", "--help", "-u", "x")
    t.eq((p.returncode, p.stdout.strip()), (0, "--help -u x"), "after NAME every word is the command's")
    for args, rc, msg in (
            (["-u", "nosuch"], 125, "exec --user: user nosuch is not in the rootfs's /etc/passwd"),
            (["-w", "/no/such/dir"], 125, "exec --workdir /no/such/dir: No such file or directory"),
            (["-w", "relative"], 2, "--workdir relative is not an absolute path"),
            (["-u", "a b"], 2, "--user a b is not"),
            (["-e", "=x"], 2, "--env =x: expected KEY=VALUE or KEY"),
            (["--tty=yes"], 2, "--tty takes no value"),
            (["-x"], 2, "unknown option -x"),
            (["-tx"], 2, "unknown option -x"),
            (["-w", "/tmp/../etc"], 2, "--workdir /tmp/../etc must not contain")):
        p = t.diyctl("exec", *args, "life", "/bin/echo", "ran")
        t.eq(p.returncode, rc, "exec %s exits %d" % (" ".join(args), rc))
        t.contains(p.stderr, msg, "exec %s: the error says why" % " ".join(args))
        t.ok("ran" not in p.stdout, "exec %s: the command did not run" % " ".join(args))
    h = t.diyctl("exec", "--help")
    t.eq(h.returncode, 0, "exec --help")
    t.contains(h.stdout, "usage: diyctl exec [-u USER]", "exec --help shows the options")
    t.diyctl("stop", "life", check=True)


def test_signals_to_exec_reach_the_command(t):
    """A signal sent to diyctl exec (kill, timeout, a supervisor) is passed on
    to the command, which may handle it: its exit code is exec's."""
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    for sig, code in ((signal.SIGTERM, 7), (signal.SIGHUP, 8), (signal.SIGUSR1, 9)):
        mark = "/tmp/trapped-%s" % sig.name
        script = 'trap "exit %d" %s; touch %s; while :; do sleep 0.1; done' % (code, sig.name[3:], mark)
        # its own session: nothing but our kill can signal it
        p = subprocess.Popen([t.diyctl_bin, "exec", "life", "/bin/sh", "-c", script], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t.wait_for(lambda: t.diyctl("exec", "life", "test", "-e", mark).returncode == 0,
                   msg="the command has set its trap for %s" % sig.name)
        p.send_signal(sig)
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        p.stderr.close()
        t.eq(rc, code, "%s to diyctl exec reached the command, which exited %d" % (sig.name, code))
    # a signal to diyctl exec's whole process group (kill -USR1 -PGID, a
    # shell's kill %1) reaches the command once, not once per process
    mark = "/tmp/counting"
    script = ('n=0; trap "n=\\$((n+1))" USR1; touch %s; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; '
              'echo count=$n' % mark)
    p = subprocess.Popen([t.diyctl_bin, "exec", "life", "/bin/sh", "-c", script], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    t.wait_for(lambda: t.diyctl("exec", "life", "test", "-e", mark).returncode == 0, msg="the counter is ready")
    os.killpg(p.pid, signal.SIGUSR1)
    out, _ = p.communicate(timeout=30)
    t.eq(out.decode().strip(), "count=1", "USR1 to the process group: the command got it once")
    # the terminal's ^C, without a pty (-T): once, through diyctl exec
    script = ('n=0; trap "n=\\$((n+1))" INT; echo ready; i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; '
              'echo count=$n')

    def ctrl_c(s):
        s.expect("ready")
        s.send("\x03")
        s.expect(r"count=\d")
    rc = t.pty_run([t.diyctl_bin, "exec", "-T", "life", "/bin/sh", "-c", script], ctrl_c, timeout=30)
    t.contains(t.pty_output, "count=1", "^C on the caller's terminal reached the command once")
    t.eq(rc, 0, "and the command went on to its end")
    t.diyctl("stop", "life", check=True)


def _stat(pid):
    """(ppid, pgrp, session) of PID, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2]), int(fields[3])


def test_exec_and_init_keep_out_of_the_callers_groups(t):
    """What makes a signal to the caller's process group (the terminal's ^C,
    kill -PGID) reach a command once: diyctl exec's middle process has a
    process group of its own and the command a session of its own; the init
    has a session of its own too. And a diyctl exec killed with SIGKILL takes
    its command with it."""
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    p = subprocess.Popen([t.diyctl_bin, "exec", "life", "/bin/sleep", "77"], stdin=subprocess.DEVNULL)
    t.wait_for(lambda: t.children(p.pid) and t.children(t.children(p.pid)[0]), msg="exec's processes are there")
    mid = t.children(p.pid)[0]
    cmd = t.children(mid)[0]
    _, exec_pgrp, exec_sid = _stat(p.pid)
    _, mid_pgrp, _ = _stat(mid)
    t.ok(mid_pgrp == mid and mid_pgrp != exec_pgrp, "the middle process leads a group of its own")
    t.ok(_stat(cmd)[2] not in (exec_sid, 0) and _stat(cmd)[2] == cmd, "the command leads a session of its own")
    p.kill()
    p.wait()
    t.wait_for(lambda: not os.path.exists("/proc/%d" % cmd), timeout=10,
               msg="diyctl exec killed with SIGKILL: its command is gone too")
    t.diyctl("stop", "life", check=True)
    # the init (and the command under it) out of the launcher's session
    conf = t.conf("life", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sleep", "77" ]; init = true; };\n'
                  % t.rootfs())
    p = subprocess.Popen([t.diyctl_bin, "start", conf], stdin=subprocess.DEVNULL)
    t.wait_for(lambda: json.loads(t.diyctl("status", "--json", "life").stdout or "{}").get("state") == "running",
               msg="running")
    init = status(t, "life")["pid"]
    launcher_sid = _stat(p.pid)[2]
    t.ok(_stat(init)[2] == init and init != launcher_sid, "the init leads a session of its own")
    t.ok(all(_stat(c)[2] == c for c in t.children(init)), "and so does its command")
    p.terminate()
    t.eq(p.wait(timeout=30), 143, "stopped")


def test_exec_terminal_choice(t):
    """A pty when stdin and stdout are terminals (so `exec NAME cmd > file`
    writes plain lines), -T never, -t always; and a command that closes its
    terminal but runs on does not make exec spin."""
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    out = os.path.join(t.tmp, "out")
    rc = t.pty_run(["sh", "-c", '"$0" exec life /bin/sh -c "tty; echo two" > "$1"', t.diyctl_bin, out])
    t.eq(rc, 0, "exec with stdout redirected to a file")
    with open(out, "rb") as f:
        t.eq(f.read(), b"not a tty\ntwo\n", "stdout redirected: no pty, and the file has plain lines")
    rc = t.pty_run([t.diyctl_bin, "exec", "-T", "life", "tty"])
    t.eq(rc, 1, "-T: no pty on a terminal")
    rc = t.pty_run([t.diyctl_bin, "exec", "life", "tty"])
    t.eq(rc, 0, "stdin and stdout terminals: a pty")
    t.contains(t.pty_output, "/dev/pts/", "the command's terminal is in the container's devpts")
    p = t.diyctl("exec", "-t", "life", "tty")  # stdin: /dev/null
    t.eq(p.returncode, 0, "-t: a pty without a terminal")
    t.contains(p.stdout, "/dev/pts/", "-t: the command's terminal")
    # -t with stdin not a terminal: the terminal gets no input (docker's -t
    # without -i), so endless input cannot block exec
    p = t.run(["sh", "-c", 'yes | "$0" exec -t life /bin/sh -c "echo done"', t.diyctl_bin], timeout=30)
    t.contains(p.stdout, "done", "yes | exec -t: the command ran and exec ended")
    p = t.run(["sh", "-c", 'echo hi | "$0" exec -it life cat', t.diyctl_bin], timeout=30, check=False)
    t.eq(p.returncode, 125, "echo | exec -it: refused (a pty would wait for ever for the end of its input)")
    t.contains(p.stderr, "exec -it: standard input is not a terminal", "and says why")
    p = t.run(["sh", "-c", 'echo hi | "$0" exec -i life cat', t.diyctl_bin], timeout=30)
    t.eq(p.stdout, "hi\n", "exec -i: piped input reaches the command")
    # the session: a pty is the command's controlling terminal; without one it has none
    show = ["/bin/sh", "-c", "read pid comm state ppid pgrp sid tty rest < /proc/self/stat; echo tty_nr=$tty"]
    t.pty_run([t.diyctl_bin, "exec", "life"] + show)
    t.ok("tty_nr=0" not in t.pty_output and "tty_nr=" in t.pty_output, "with a pty: its controlling terminal")
    t.pty_run([t.diyctl_bin, "exec", "-T", "life"] + show)
    t.contains(t.pty_output, "tty_nr=0", "-T: no controlling terminal (the caller's is not the command's)")
    # the pty hangs up while the command sleeps on: exec waits without spinning
    start = os.times()
    rc = t.pty_run([t.diyctl_bin, "exec", "life", "/bin/sh", "-c", "exec >/dev/null 2>&1 </dev/null; sleep 2"])
    used = os.times()
    cpu = (used.children_user - start.children_user) + (used.children_system - start.children_system)
    t.eq(rc, 0, "the command outlived its terminal and ended")
    t.ok(cpu < 1.0, "exec waited for it without spinning (%.2f s of CPU over 2 s)" % cpu)
    t.diyctl("stop", "life", check=True)


def test_stop_signal(t):
    """process.stop_signal: what stop (or systemd's SIGTERM to the launcher)
    sends first, as Docker's STOPSIGNAL; the init passes it on too."""
    out = os.path.join(t.tmp, "out")
    os.makedirs(out)
    script = ("for s in QUIT TERM USR1; do trap \"echo $s > /out/sig; exit 0\" $s; done; "
              "trap 'echo RTMIN+3 > /out/sig; exit 0' 37; echo started; while :; do sleep 0.1; done")
    vol = 'volumes = ( { source = "%s"; target = "/out"; } );\n' % out
    for extra, want in (("stop_signal = \"SIGQUIT\";", "QUIT"), ("stop_signal = 10;", "USR1"),
                        ("stop_signal = \"SIGQUIT\"; init = true;", "QUIT"),
                        ("stop_signal = \"SIGRTMIN+3\"; init = true;", "RTMIN+3"), ("", "TERM")):
        if os.path.exists(os.path.join(out, "sig")):
            os.unlink(os.path.join(out, "sig"))
        conf = t.conf("sig", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sh", "-c", %s ]; %s };\n%s'
                      % (t.rootfs(), json.dumps(script), extra, vol))
        if want != "TERM":
            t.contains(t.diyctl("plan", conf, check=True).stdout, "stopped with SIG" + want,
                       "%s: plan says what stop sends" % extra)
        t.diyctl("start", "-d", conf, check=True)
        t.wait_for(lambda: "started" in t.diyctl("logs", "sig").stdout, msg="%s: the traps are set" % extra)
        t.diyctl("stop", "sig", "-t", "30", check=True)  # as CONFIG.md writes it: NAME [-t SECONDS]
        with open(os.path.join(out, "sig")) as f:
            t.eq(f.read().strip(), want, "%s: stop sent SIG%s" % (extra or "no stop_signal", want))
    # the foreground launcher: its SIGTERM becomes the stop signal, a SIGINT stays SIGINT
    conf = t.conf("sig", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sh", "-c", %s ]; '
                         'stop_signal = "SIGQUIT"; };\n'
                  % (t.rootfs(), json.dumps("trap 'exit 3' QUIT; trap 'exit 4' TERM; trap 'exit 5' INT; "
                                            "echo started; while :; do sleep 0.1; done")))
    for sig, code in ((signal.SIGTERM, 3), (signal.SIGINT, 5)):
        p = subprocess.Popen([t.diyctl_bin, "start", conf], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        t.ok(b"started" in p.stdout.readline(), "foreground container started")
        p.send_signal(sig)
        t.eq(p.wait(timeout=30), code, "%s to the launcher: the container got %s" %
             (sig.name, "SIGQUIT" if sig == signal.SIGTERM else sig.name))
        p.stdout.close()


def test_kill(t):
    """diyctl kill: a signal to the container's process, SIGKILL unless told;
    a container that ends of it leaves its record like any that ends on its
    own, and nothing else on the host."""
    def state(name):
        return json.loads(t.diyctl("status", "--json", name).stdout)

    before = t.snapshot()
    script = 'trap "echo got-hup" HUP; trap "echo got-usr1" USR1; echo started; while :; do sleep 0.1; done'
    conf = conf_for(t, script=script)
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "life").stdout, msg="the traps are set")
    t.diyctl("kill", "-s", "HUP", "life", check=True)
    t.diyctl("kill", "life", "--signal=usr1", check=True)  # options after NAME too
    t.wait_for(lambda: "got-hup\ngot-usr1" in t.diyctl("logs", "life").stdout,
               msg="the process got SIGHUP, then SIGUSR1 (a name in any case, with or without SIG)")
    t.eq(state("life")["state"], "running", "a handled signal: still running")
    for args, msg in ((["-s", "SIGFOO", "life"], "SIGFOO is not a signal"), (["-x", "life"], "unknown option -x"),
                      ([], "name a container")):
        p = t.diyctl("kill", *args)
        t.eq(p.returncode, 2, "kill %s: a usage error" % " ".join(args))
        t.contains(p.stderr, msg, "kill %s: says why" % " ".join(args))
    p = t.diyctl("kill", "life", "nosuch")
    t.eq(p.returncode, 1, "kill of a container that does not exist fails")
    t.contains(p.stderr, "no container nosuch", "and names it")
    t.wait_for(lambda: state("life")["state"] == "exited", msg="SIGKILL by default: the container ended")
    st = state("life")
    t.eq(st["exit_code"], 137, "its record: killed by SIGKILL (128+9)")
    t.contains(t.diyctl("status", "life").stdout, "exit code:  137 (signal 9)", "status says the signal")
    p = t.diyctl("kill", "-s", "9", "life")
    t.eq(p.returncode, 1, "kill of an exited container fails")
    t.contains(p.stderr, "life is not running", "and says so")
    t.diyctl("cleanup", "life", check=True)
    t.host_unchanged(before, "the launcher tore down after the kill")
    # with the init: it passes the signal on
    conf = t.conf("life", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sh", "-c", %s ]; init = true; };\n'
                  % (t.rootfs(), json.dumps(script)))
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "life").stdout, msg="the traps are set (init)")
    t.diyctl("kill", "-s", "SIGHUP", "life", check=True)
    t.wait_for(lambda: "got-hup" in t.diyctl("logs", "life").stdout, msg="the init passed SIGHUP on")
    t.diyctl("kill", "-s", "TERM", "life", check=True)
    t.wait_for(lambda: state("life")["state"] == "exited", msg="SIGTERM ended the command (not PID 1)")
    t.eq(state("life")["exit_code"], 143, "the init exits with its command's status")
    t.diyctl("stop", "life", check=True)
    t.host_unchanged(before, "nothing left")


def test_top(t):
    """diyctl top: the container's processes as the host sees them, with
    their pids inside, from its cgroup; the init and a process the command
    forks show, the host's processes do not; not running: exit 3."""
    script = 'sleep 600 & sleep 601 & echo started; wait'
    conf = conf_for(t, name="tp", script=script)
    t.diyctl("start", "-d", conf, check=True)
    t.defer(t.diyctl, "stop", "-t", "0", "tp", check=False)
    t.wait_for(lambda: "started" in t.diyctl("logs", "tp").stdout, msg="the children are forked")
    first = status(t, "tp")["pid"]
    top = json.loads(t.diyctl("top", "--json", "tp", check=True).stdout)
    t.eq(top["name"], "tp", "top --json: the container")
    procs = top["processes"]
    t.eq([p["args"] for p in procs], [["/bin/sh", "-c", script], ["sleep", "600"], ["sleep", "601"]],
         "the command and the two processes it forked, by host pid")
    t.eq(procs[0]["pid"], first, "the first is the container's process")
    t.eq([p["pid_inside"] for p in procs], [1, 2, 3], "with their pids in its pid namespace")
    for p in procs:
        with open("/proc/%d/status" % p["pid"]) as f:
            ns = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
        t.eq(ns, [str(p["pid"]), str(p["pid_inside"])], "pid %d: as /proc says" % p["pid"])
    t.ok(all(p["uid"] == 0 and p["state"] in "RSD" and p["rss_bytes"] > 0 for p in procs),
         "uid 0, alive, with memory: %r" % procs)
    t.ok(os.getpid() not in [p["pid"] for p in procs], "no process of the host")
    text = t.diyctl("top", "tp", check=True).stdout.splitlines()
    t.ok(text[0].split()[:4] == ["PID", "PID", "INSIDE", "UID"] and len(text) == 4, "a header and a line each: %r" % text)
    t.ok(text[2].split()[:2] == [str(procs[1]["pid"]), "2"] and text[2].endswith("  sleep 600"),
         "each line: pid, pid inside, ..., command: %r" % text[2])
    t.diyctl("stop", "-t", "0", "tp", check=True)
    # with the init as PID 1, which is a process of the container too
    conf = t.conf("tp", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sleep", "600" ]; init = true; };\n'
                  % t.rootfs())
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: len(json.loads(t.diyctl("top", "--json", "tp", check=True).stdout)["processes"]) == 2,
               msg="the init and its command")
    procs = json.loads(t.diyctl("top", "--json", "tp", check=True).stdout)["processes"]
    t.eq([(p["pid_inside"], p["args"]) for p in procs], [(1, ["diyctl-init"]), (2, ["/bin/sleep", "600"])],
         "the init is PID 1, its command PID 2")
    t.diyctl("stop", "-t", "0", "tp", check=True)
    p = t.diyctl("top", "tp")
    t.eq((p.returncode, p.stdout), (1, ""), "a stopped container is gone: exit 1")
    p = t.diyctl("top")
    t.eq(p.returncode, 2, "no name: a usage error")
    # an exited record: not running
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/true"]', "--set", "process.init=false", check=True)
    t.wait_for(lambda: '"state":"exited"' in t.diyctl("status", "--json", "tp").stdout, msg="tp exited")
    p = t.diyctl("top", "tp")
    t.eq(p.returncode, 3, "an exited container: exit 3")
    t.contains(p.stderr, "tp is not running", "and says so")
    t.diyctl("cleanup", "tp", check=True)


def test_logs_tail(t):
    """logs -n N: the last N lines (a last line without its newline counts),
    also across the reader's 64 KiB chunks; with -f it then follows."""
    script = 'i=1; while [ $i -le 20000 ]; do echo "line $i"; i=$((i+1)); done; printf partial; exit 0'
    conf = conf_for(t, name="job", script=script)
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: json.loads(t.diyctl("status", "--json", "job").stdout).get("state") == "exited",
               msg="the job wrote its lines and ended")
    full = t.diyctl("logs", "job", check=True).stdout
    t.eq(len(full.splitlines()), 20001, "logs: every line")
    t.eq(t.diyctl("logs", "-n", "3", "job", check=True).stdout, "line 19999\nline 20000\npartial",
         "-n 3: the last three lines, the unfinished one included")
    t.eq(t.diyctl("logs", "job", "-n", "2", check=True).stdout, "line 20000\npartial",
         "options after NAME too, as CONFIG.md writes `logs NAME [-f]`")
    t.eq(t.diyctl("logs", "--tail=1", "job", check=True).stdout, "partial", "--tail=1")
    t.eq(t.diyctl("logs", "-n0", "job", check=True).stdout, "", "-n 0: nothing")
    out = t.diyctl("logs", "--tail", "12000", "job", check=True).stdout
    t.eq(out, "".join("line %d\n" % i for i in range(8002, 20001)) + "partial",
         "12000 lines, more than one 64 KiB chunk back")
    t.eq(t.diyctl("logs", "-n", "30000", "job", check=True).stdout, full, "more lines than the log has: all")
    t.eq(t.diyctl("logs", "-f", "-n", "all", "job", check=True).stdout, full, "-n all -f")
    for bad in ("-1", "x", ""):
        p = t.diyctl("logs", "-n", bad, "job")
        t.eq(p.returncode, 2, "-n %r: a usage error" % bad)
        t.contains(p.stderr, "--tail takes a number of lines", "-n %r: says what it takes" % bad)
    t.diyctl("cleanup", "job", check=True)
    # -n 0 -f: only what comes next
    conf = conf_for(t, name="job", script='echo old; read x < /dev/null; sleep 0.5; echo new; exit 0')
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: "old" in t.diyctl("logs", "job").stdout, msg="the first line is written")
    out = t.diyctl("logs", "job", "-f", "-n", "0", check=True, timeout=30).stdout
    t.eq(out, "new\n", "-n 0 -f: what came after, until the container ended")
    t.diyctl("cleanup", "job", check=True)


def test_state_dir_from_the_host_config(t):
    """host.conf's state_dir moves root's state directories (and the NAT
    lease index) for every command; /run/diyctl is left alone."""
    os.makedirs("/etc/diyctl", exist_ok=True)
    with open("/etc/diyctl/host.conf", "w") as f:
        f.write('state_dir = "/run/dc-custom/state";\n')
    t.defer(os.unlink, "/etc/diyctl/host.conf")
    before = t.snapshot()
    t.contains(t.diyctl("check", "--host", check=True).stdout, "state dir /run/dc-custom/state",
               "check --host shows it")
    conf = conf_for(t, extra='network = { mode = "nat"; };\n')
    t.diyctl("start", "-d", conf, check=True)
    t.ok(os.path.isdir("/run/dc-custom/state/life"), "the state directory is under state_dir")
    t.ok(not os.path.exists("/run/diyctl/life"), "not under /run/diyctl")
    t.eq([c["name"] for c in json.loads(t.diyctl("list", "--json", check=True).stdout)], ["life"], "list finds it")
    st = status(t, "life")
    t.eq(st["state_dir"], "/run/dc-custom/state/life", "status names it")
    t.ok(st["addresses"], "a NAT lease from the index under state_dir: %s" % st["addresses"])
    t.contains(t.diyctl("exec", "life", "hostname", check=True).stdout, "life", "exec finds it")
    t.diyctl("kill", "-s", "USR2", "life", check=True)  # (the loop ignores it)
    t.ok(any(r["kind"] == "statedir" for r in json.loads(t.diyctl("journal", "--json", "life", check=True).stdout)["records"]),
         "journal finds it")
    t.diyctl("stop", "life", check=True)
    left = os.listdir("/run/dc-custom/state") if os.path.exists("/run/dc-custom/state") else []
    t.eq([n for n in left if not n.startswith(".")], [], "stop left no container state there")
    t.host_unchanged(before, "nothing else left")
    # a state_dir shared with other software: diyctl touches only its own
    os.makedirs("/run/dc-custom/state/resolvconf")
    with open("/run/dc-custom/state/resolvconf/resolv.conf", "w") as f:
        f.write("nameserver 10.88.250.1\n")
    os.makedirs("/run/dc-custom/state/life")
    with open("/run/dc-custom/state/life/status", "w") as f:
        f.write("not diyctl's\n")
    t.diyctl("cleanup", "--all", check=True)
    t.eq(sorted(os.listdir("/run/dc-custom/state/resolvconf")), ["resolv.conf"], "cleanup --all left another's directory")
    t.eq(os.listdir("/run/dc-custom/state/life"), ["status"], "and one named like a container, not a container's")
    p = t.diyctl("start", "-d", conf)
    t.eq(p.returncode, 125, "start does not take a directory that is not a container's")
    t.contains(p.stderr, "/run/dc-custom/state/life is there and is not a container's state directory", "and says why")
    with open("/run/dc-custom/state/life/status") as f:
        t.eq(f.read(), "not diyctl's\n", "its file untouched")
    t.run(["rm", "-rf", "/run/dc-custom"])
    # a state directory others may write is not ours to use
    os.makedirs("/run/dc-custom/state")
    os.chmod("/run/dc-custom/state", 0o1777)
    for args in (["list"], ["start", "-d", conf], ["cleanup", "--all"]):
        p = t.diyctl(*args)
        t.ok(p.returncode != 0, "%s refuses a world-writable state directory" % args[0])
        t.contains(p.stderr, "state directory /run/dc-custom/state is writable by others (mode 1777)", "%s says why" % args[0])
    t.run(["rm", "-rf", "/run/dc-custom"])
    # a broken host config: no guessing where the containers are
    with open("/etc/diyctl/host.conf", "w") as f:
        f.write('state_dir = "/run/dc-custom/state";\nfirewal = "nftables";\n')
    p = t.diyctl("list")
    t.eq(p.returncode, 1, "list fails on a broken host.conf")
    t.contains(p.stderr, "/etc/diyctl/host.conf:2: firewal: unknown key", "and names the error")


def test_stop_timeout_reaches_the_launcher(t):
    """stop -t N: the launcher waits N seconds before its SIGKILL, not its
    own default; a DIYCTL_STOP_TIMEOUT that is not a number is said and
    ignored (it meant "kill at once")."""
    out = os.path.join(t.tmp, "out")
    os.makedirs(out)
    script = ("trap 'sleep 2; echo clean > /out/done; exit 0' TERM; echo started; "
              "while :; do sleep 0.1; done")
    conf = conf_for(t, name="slow", script=script,
                    extra='volumes = ( { source = "%s"; target = "/out"; } );\n' % out)
    # the launcher's own grace is 1 s; stop -t 8 asks for more
    t.diyctl("start", "-d", conf, env={"DIYCTL_STOP_TIMEOUT": "1"}, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "slow").stdout, msg="the trap is set")
    t.diyctl("stop", "slow", "-t", "8", check=True)
    t.ok(os.path.exists(os.path.join(out, "done")), "stop -t 8: the 2 s clean-up ran to its end")
    # without -t the launcher's own grace applies: 1 s, too short for it
    t.diyctl("start", "-d", conf, env={"DIYCTL_STOP_TIMEOUT": "1"}, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "slow").stdout, msg="the trap is set")
    os.unlink(os.path.join(out, "done"))
    t.diyctl("stop", "slow", check=True)
    t.ok(not os.path.exists(os.path.join(out, "done")), "stop without -t: the launcher's 1 s, then SIGKILL")
    # without -t and a launcher grace longer than stop's 10 s: stop waits for it
    slow = conf_for(t, name="slower", script=script.replace("sleep 2", "sleep 11"),
                    extra='volumes = ( { source = "%s"; target = "/out"; } );\n' % out)
    os.unlink(os.path.join(out, "done")) if os.path.exists(os.path.join(out, "done")) else None
    t.diyctl("start", "-d", slow, env={"DIYCTL_STOP_TIMEOUT": "20"}, check=True)
    t.wait_for(lambda: "started" in t.diyctl("logs", "slower").stdout, msg="the trap is set")
    t.diyctl("stop", "slower", check=True, timeout=60)
    t.ok(os.path.exists(os.path.join(out, "done")), "stop without -t waited the launcher's 20 s, not its own 10")
    for bad in ("", "abc", "-1", "5s"):
        p = t.diyctl("start", "-d", conf, env={"DIYCTL_STOP_TIMEOUT": bad})
        t.eq(p.returncode, 0, "DIYCTL_STOP_TIMEOUT=%r: the start goes on" % bad)
        t.contains(p.stderr, "DIYCTL_STOP_TIMEOUT=%s is not a number of seconds; the default, 10, applies" % bad,
                   "and says it is ignored")
        t.wait_for(lambda: "started" in t.diyctl("logs", "slow").stdout, msg="the trap is set")
        if os.path.exists(os.path.join(out, "done")):
            os.unlink(os.path.join(out, "done"))
        t.diyctl("stop", "slow", check=True)
        t.ok(os.path.exists(os.path.join(out, "done")), "%r: the default 10 s, not an immediate SIGKILL" % bad)


def test_cleanup_is_idempotent(t):
    t.eq(t.diyctl("cleanup", "nosuchthing").returncode, 0, "cleanup of nothing succeeds (ExecStopPost)")
    t.eq(t.diyctl("cleanup", "--all").returncode, 0, "cleanup --all with nothing")
    conf = conf_for(t)
    t.diyctl("start", "-d", conf, check=True)
    p = t.diyctl("cleanup", "life")
    t.ok(p.returncode != 0 and "in use" in p.stderr, "cleanup refuses a running container")
    t.diyctl("stop", "life", check=True)


def test_error_after_host_steps_is_undone(t):
    before = t.snapshot()
    conf = conf_for(t, extra='volumes = ( { source = "%s"; target = "/bin/sh/x"; } );\n' % t.tmp)
    p = t.diyctl("start", conf)
    t.ok(p.returncode != 0, "a mount that cannot be made fails the start")
    t.contains(p.stderr, "/bin/sh/x", "the error names the target")
    t.host_unchanged(before, "an error after host steps is undone")


def test_first_process_error_while_the_launcher_sets_up_nat(t):
    """The first process makes its mounts while the launcher sets up the
    network: when a mount fails first, the start reports that error (not a
    later host step's), with exit 125, and leaves nothing, with either
    firewall backend."""
    for backend in ("iptables", "nftables"):
        os.makedirs("/etc/diyctl", exist_ok=True)
        with open("/etc/diyctl/host.conf", "w") as f:
            f.write('firewall = "%s";\n' % backend)
        before = t.snapshot()
        conf = conf_for(t, extra='network = { mode = "nat"; ports = ( { host = 8080; container = 80; } ); };\n'
                                 'volumes = ( { source = "%s"; target = "/bin/sh/x"; } );\n' % t.tmp)
        p = t.diyctl("start", conf)
        t.eq(p.returncode, 125, "%s: a mount that cannot be made fails the start" % backend)
        t.contains(p.stderr, "/bin/sh/x", "%s: the error is the first process's, naming the target" % backend)
        t.host_unchanged(before, "%s: nothing left of the NAT setup" % backend)
    os.unlink("/etc/diyctl/host.conf")


def test_first_process_killed_after_go(t):
    """A first process killed after "go" but before it runs the command (here
    with the seccomp filter the launcher sent it still unread) is a failed
    start, not a container that ran: the launcher sees the messages it left
    unread, says so and tears everything down."""
    # a capability set without a prebuilt filter: the launcher sends one
    conf = conf_for(t, script="exit 0", extra='security = { capabilities = { add = [ "NET_ADMIN" ]; }; };\n')
    before = t.snapshot()
    p = t.diyctl("start", conf, env={"DIYCTL_FAULT": "child:filter-unread"})
    t.ok(p.returncode != 0, "the start fails (exit %d)" % p.returncode)
    t.contains(p.stderr, "the container's first process died during its setup", "and says why")
    t.host_unchanged(before, "nothing left")
    p = t.diyctl("start", conf, check=True)
    t.eq(p.returncode, 0, "without the fault the same config starts and exits 0")


def test_status_names_the_config_absolutely(t):
    # Started with a relative path, list and status still name the file
    # so that it means the same from any directory.
    conf = conf_for(t, name="rel")
    t.diyctl("start", "-d", os.path.basename(conf), cwd=os.path.dirname(conf), check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "rel")
    st = json.loads(t.diyctl("status", "--json", "rel", check=True).stdout)
    t.eq(st["config"], os.path.realpath(conf), "status gives the config's absolute path")
    lst = json.loads(t.diyctl("list", "--json", check=True, cwd="/").stdout)
    t.eq([c["config"] for c in lst], [os.path.realpath(conf)], "and so does list, from elsewhere")


def test_start_d_client_killed_while_starting(t):
    # The client of `start -d` killed while the container is still starting
    # (a `timeout` around a slow first start): the supervisor's READY then
    # goes into a pipe nobody reads. It must not die of SIGPIPE and leave a
    # dead container with everything it made on the host: it goes on, the
    # container runs, and stops cleanly.
    import subprocess
    conf = conf_for(t, name="orphan")
    before = t.snapshot()
    env = dict(os.environ, DIYCTL_FAULT="start:slow")   # the launcher waits 1 s before its spawn
    starter = subprocess.Popen([t.diyctl_bin, "start", "-d", conf], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)   # SIGPIPE at its default, as from a shell
    t.defer(starter.kill)
    t.wait_for(lambda: os.path.isdir("/run/diyctl/orphan"), timeout=10, msg="the start has begun")
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    starter.stdout.close()   # the read end of the supervisor's READY pipe: nobody reads it now
    starter.stderr.close()
    t.wait_for(lambda: os.path.exists("/run/diyctl/orphan/status"), timeout=20, msg="the start went on")
    time.sleep(0.5)   # READY has been written into the closed pipe by now
    st = json.loads(t.diyctl("status", "--json", "orphan", check=True).stdout)
    t.eq(st["state"], "running", "the container runs, its supervisor alive")
    t.eq(t.diyctl("stop", "-t", "2", "orphan").returncode, 0, "and stops")
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "nothing runs afterwards")
    t.host_unchanged(before, "and nothing is left")


def test_stop_while_starting(t):
    # A stop that arrives while the container is still starting (its
    # status not written yet) waits for the start, then stops it, as
    # `docker stop` waits for a create: it neither fails nor leaves the
    # container running.
    import subprocess
    conf = conf_for(t, name="slow")
    before = t.snapshot()
    env = dict(os.environ, DIYCTL_FAULT="start:slow")   # the launcher waits 1 s before its spawn
    starter = subprocess.Popen([t.diyctl_bin, "start", "-d", conf], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    t.defer(starter.kill)
    t.wait_for(lambda: os.path.isdir("/run/diyctl/slow"), timeout=10, msg="the start has begun")
    t.ok(not os.path.exists("/run/diyctl/slow/status"), "and is still under way")
    p = t.diyctl("stop", "-t", "2", "slow")
    t.eq(p.returncode, 0, "stop while starting succeeds: %s" % p.stderr.strip())
    starter.wait(timeout=30)
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "nothing runs afterwards")
    t.host_unchanged(before, "and nothing is left")


def _record_only(t, before, name):
    """Everything the container changed on the host is undone but its record:
    the snapshot differs from `before` only in /run/diyctl/NAME/{log,status}."""
    for _ in range(10):  # (some effects of a teardown land late: link state, cgroup removal)
        diffs = t.compare(before, t.snapshot())
        if sorted(diffs) == ["/run/diyctl"]:
            break
        time.sleep(0.5)
    t.eq(sorted(diffs), ["/run/diyctl"], "only the state root differs from before the start: %s" % diffs)
    t.eq(sorted(os.listdir("/run/diyctl/%s" % name)), ["log", "status"], "the record is the log and the status")


def test_detached_container_that_exits_leaves_its_record(t):
    # a NAT container: its veth, firewall rules, lease and sysctls go when it
    # ends; its output and exit code stay until the name is started again,
    # stopped or cleaned up (as docker keeps an exited container)
    nat = 'network = { mode = "nat"; ports = ( { host = 8080; container = 80; } ); };\n'
    conf = conf_for(t, name="job", script="echo to-stdout; echo to-stderr >&2; exit 3", extra=nat)
    before = t.snapshot()
    t0 = int(time.time())
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited", timeout=20, msg="job ended")
    _record_only(t, before, "job")
    st = status_any(t, "job")
    t.eq((st["state"], st["exit_code"], st["pid"], st["launcher_pid"], st["uptime"], st["addresses"], st["cgroups"],
          st["oom_killed"]), ("exited", 3, 0, 0, 0, [], [], False),
         "status --json: exited with its code; no pid, address or cgroup is left")
    t.ok(t0 <= st["started"] <= st["ended"] <= time.time(), "started <= ended, both from this run: %s" % st)
    t.eq(st["args"], ["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"], "and what it ran")
    lst = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"], c["exit_code"]) for c in lst], [("job", "exited", 3)], "list --json")
    row = t.diyctl("list", check=True).stdout.splitlines()[1].split()
    t.eq(row[:4], ["job", "exited(3)", "-", "-"], "list: the state with its code, no pid or uptime")
    text = t.diyctl("status", "job").stdout
    t.contains(text, "state:      exited", "status says it exited")
    t.contains(text, "exit code:  3", "and with which code")
    t.eq(t.diyctl("logs", "job", check=True).stdout, "to-stdout\nto-stderr\n", "logs: its output, after its end")
    t.eq(t.diyctl("logs", "-f", "job", check=True, timeout=10).stdout, "to-stdout\nto-stderr\n",
         "logs -f of an exited container ends at once")
    p = t.diyctl("exec", "job", "--", "true")
    t.ok(p.returncode != 0 and "not running" in p.stderr, "exec into it: not running (%s)" % p.stderr.strip())
    t.contains(t.diyctl("journal", "job", check=True).stdout, "job has exited: its teardown undid every host change",
               "journal: nothing is recorded as left")
    t.eq(json.loads(t.diyctl("journal", "--json", "job", check=True).stdout),
         {"name": "job", "records": [], "damaged_line": 0}, "journal --json: no records")
    t.eq(os.stat("/run/diyctl/job/status").st_mode & 0o777, 0o600, "the status (process.env) is the owner's")

    # starting the name again replaces the record, not appends to it
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sh","-c","echo second"]', check=True)
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited" and status_any(t, "job")["exit_code"] == 0,
               timeout=20, msg="the second run ended")
    t.eq(t.diyctl("logs", "job", check=True).stdout, "second\n", "the log is the second run's alone")
    _record_only(t, before, "job")
    # stop removes an exited container's record (nothing else is left)
    t.diyctl("stop", "job", check=True)
    t.ok(not os.path.exists("/run/diyctl/job"), "stop removed the record")
    t.eq(t.diyctl("status", "job").returncode, 1, "no container job any more")
    p = t.diyctl("journal", "job")
    t.ok(p.returncode == 1 and "no container job" in p.stderr, "journal of no container: %s" % p.stderr.strip())
    t.host_unchanged(before, "stop of an exited container leaves the host as before")

    # cleanup --all removes records too; a stopped container leaves none
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited", timeout=20, msg="job ended")
    t.diyctl("cleanup", "--all", check=True)
    t.host_unchanged(before, "cleanup --all removed the record")
    t.diyctl("start", "-d", conf_for(t, name="svc"), check=True)
    t.diyctl("stop", "svc", check=True)
    t.host_unchanged(before, "a container ended by stop leaves no record")
    # in the foreground nothing is kept either: its output went to the terminal
    t.eq(t.diyctl("start", conf).returncode, 3, "foreground: the exit code")
    t.host_unchanged(before, "a foreground container leaves no record")


def test_stop_as_a_container_ends_on_its_own(t):
    # stop read the container as running, then (DIYCTL_FAULT=stop:slow)
    # waits a second before its signal: the container has ended on its own
    # meanwhile and its launcher left its record. stop still leaves nothing.
    conf = conf_for(t, name="job", script="sleep 0.3; exit 5")
    before = t.snapshot()
    t.diyctl("start", "-d", conf, check=True)
    p = t.diyctl("stop", "job", env={"DIYCTL_FAULT": "stop:slow"})
    t.eq(p.returncode, 0, "stop succeeds: %s" % p.stderr.strip())
    t.ok(not os.path.exists("/run/diyctl/job"), "and removed the record the launcher left")
    t.host_unchanged(before, "nothing is left after stop")


def test_stop_leaves_a_newer_run_alone(t):
    # stop read run A, then (stop:slow) waits before its signal; A ends on its
    # own, and run B of the same name starts and ends within the same second.
    # stop removes only A's record: B's (its own run id) stays.
    a = conf_for(t, name="job", script="echo old; sleep 0.3; exit 5")
    time.sleep(1.02 - time.time() % 1)  # both starts in one second: "started" does not tell them apart
    t.diyctl("start", "-d", a, check=True)
    stopper = t.spawn([t.diyctl_bin, "stop", "job"], env={"DIYCTL_FAULT": "stop:slow"})
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited", timeout=20, msg="run A ended")
    t.diyctl("start", "-d", a, "--set", 'process.args=["/bin/sh","-c","echo new; exit 7"]', check=True)
    t.wait_for(lambda: status_any(t, "job").get("exit_code") == 7, timeout=20, msg="run B ended")
    t.eq(stopper.wait(timeout=30), 0, "stop of run A succeeds")
    t.eq(status_any(t, "job").get("exit_code"), 7, "run B's record is still there")
    t.eq(t.diyctl("logs", "job", check=True).stdout, "new\n", "with its log")
    t.diyctl("stop", "job", check=True)


def _lines(a, b):
    return "".join("line %04d %s\n" % (i, "x" * 40) for i in range(a, b + 1))


def test_logs_rotated_at_log_max_size(t):
    """host.conf log_max_size: a full log becomes log.1 (the older one goes),
    no file outgrows the cap, nothing between them is lost, and logs reads
    across the two, with -n and with -f."""
    t.host_conf('log_max_size = "8K";\n')
    burst = 'i=1; while [ $i -le 1000 ]; do printf "line %04d %s\\n" $i ' + "x" * 40 + '; i=$((i+1)); done'
    conf = conf_for(t, name="chatty", script=burst + "; exit 0")
    t.diyctl("start", "-d", conf, check=True)
    t.wait_for(lambda: status_any(t, "chatty").get("state") == "exited", timeout=30, msg="the job ended")
    log, log1 = "/run/diyctl/chatty/log", "/run/diyctl/chatty/log.1"
    t.ok(os.path.exists(log1), "the log was rotated (log.1 is there)")
    sizes = (os.path.getsize(log1), os.path.getsize(log))
    line = len(_lines(1, 1))
    t.ok(0 < sizes[0] < 8192 + line and 0 < sizes[1] < 8192 + line,
         "no file outgrows 8 KiB by more than the end of a line: %r" % (sizes,))
    kept = open(log1).read() + open(log).read()
    first = int(kept[5:9])
    t.eq(kept, _lines(first, 1000), "log.1 then log: the last lines, none lost or doubled at the seams")
    t.ok(first > 1 and len(kept) > 8192, "older lines are gone, more than one file's worth is kept")
    t.eq(t.diyctl("logs", "chatty", check=True).stdout, kept, "logs prints log.1, then log")
    t.eq(t.diyctl("logs", "-n", "2", "chatty", check=True).stdout, _lines(999, 1000), "-n 2")
    in_log = open(log).read().count("\n")
    n = in_log + 3
    t.eq(t.diyctl("logs", "-n", str(n), "chatty", check=True).stdout, _lines(1001 - n, 1000),
         "-n reaching back into log.1")
    t.eq(t.diyctl("logs", "-n", "100000", "chatty", check=True).stdout, kept, "-n more than kept: all kept")
    t.diyctl("cleanup", "chatty", check=True)
    t.ok(not os.path.exists("/run/diyctl/chatty"), "cleanup removes both files with the record")

    # logs -f, started before the output, sees every line across rotations
    slow = ('sleep 1; i=1; while [ $i -le 600 ]; do printf "line %04d %s\\n" $i ' + "x" * 40 +
            '; i=$((i+1)); [ $((i % 20)) = 0 ] && sleep 0.1; done; exit 0')
    conf = conf_for(t, name="chatty", script=slow)
    t.diyctl("start", "-d", conf, check=True)
    out = t.diyctl("logs", "-f", "chatty", check=True, timeout=60).stdout
    t.eq(out, _lines(1, 600), "logs -f followed every line through the rotations")
    t.ok(os.path.exists(log1), "(and the log was rotated meanwhile)")
    t.diyctl("cleanup", "chatty", check=True)

    # the same where a helper, not the launcher, clones the first process
    # (user and time namespaces), and where the output is a pty's
    for sets, what in ((['namespaces=["mount","uts","ipc","pid","net","user","time"]', 'user={map="root";}'],
                        "with user and time namespaces"),
                       (["process.terminal=true"], "with a terminal")):
        argv = ["start", "-d", conf_for(t, name="chatty", script=burst + "; exit 0")]
        for s in sets:
            argv += ["--set", s]
        t.diyctl(*argv, check=True)
        t.wait_for(lambda: status_any(t, "chatty").get("state") == "exited", timeout=30, msg="the job ended")
        t.ok(os.path.exists(log1) and os.path.getsize(log) < 8192 + line, "rotated %s" % what)
        t.contains(t.diyctl("logs", "-n", "1", "chatty", check=True).stdout, "line 1000 ", "%s: the last line" % what)
        t.diyctl("cleanup", "chatty", check=True)

    # 0: never rotated; the container writes the file itself
    t.host_conf('log_max_size = 0;\n')
    conf = conf_for(t, name="chatty", script=burst + "; sleep 60")
    t.diyctl("start", "-d", conf, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "chatty")
    t.wait_for(lambda: "line 1000" in t.diyctl("logs", "chatty").stdout, msg="all written")
    t.ok(not os.path.exists(log1), "log_max_size = 0: no rotation")
    t.eq(os.readlink("/proc/%d/fd/1" % status(t, "chatty")["pid"]), log, "its stdout is the log itself")
    t.diyctl("stop", "-t", "1", "chatty", check=True)
    # a container's own process.log_max_size wins over the host's
    t.diyctl("start", "-d", conf_for(t, name="chatty", script=burst + "; exit 0"), "--set",
             'process.log_max_size="8K"', check=True)
    t.wait_for(lambda: status_any(t, "chatty").get("state") == "exited", timeout=30, msg="the job ended")
    t.ok(os.path.exists(log1) and os.path.getsize(log) < 8192 + line, "process.log_max_size: rotated at 8K")
    t.diyctl("cleanup", "chatty", check=True)


def test_list_columns_line_up(t):
    # names may be 63 characters long: the columns widen to fit them
    names = ["a", "a-rather-long-container-name-for-the-list-" + "x" * 20]
    for n in names:
        t.diyctl("start", "-d", conf_for(t, name=n), "--set", "name=" + json.dumps(n), check=True)
        t.defer(t.diyctl, "stop", "-t", "1", n)
    lines = t.diyctl("list", check=True).stdout.splitlines()
    t.eq(len(lines), 3, "a header and two rows")
    shown = "\n".join(lines)
    t.eq(len({l.find(w) for l, w in zip(lines, ["STATE", "running", "running"])}), 1,
         "STATE starts in one column on every line:\n" + shown)
    t.eq(len({l.find(w) for l, w in zip(lines, ["CONFIG", "/", "/"])}), 1, "and so does CONFIG:\n" + shown)
    for n in names:
        t.diyctl("stop", "-t", "1", n, check=True)


def test_logs_follow_ends_with_its_run(t):
    # logs -f follows one run's log: when the next start of the name replaces
    # the record, it ends (it used to wait, on the old log, for the new run)
    conf = conf_for(t, name="job", script="echo one; sleep 1")
    t.diyctl("start", "-d", conf, check=True)
    f = t.spawn([t.diyctl_bin, "logs", "-f", "job"], stdout=subprocess.PIPE, text=True)

    def follows():
        try:
            return any(os.readlink("/proc/%d/fd/%s" % (f.pid, n)) == "/run/diyctl/job/log"
                       for n in os.listdir("/proc/%d/fd" % f.pid))
        except OSError:
            return False
    t.wait_for(follows, interval=0.01, msg="logs -f opened the log")
    # stopped while the first run ends and the second starts, so that it
    # cannot see the moment between them when no launcher holds the name
    os.kill(f.pid, signal.SIGSTOP)
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited", timeout=20, msg="the first run ended")
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sh","-c","echo two; sleep 60"]', check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "job")
    os.kill(f.pid, signal.SIGCONT)
    try:
        out, _ = f.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        t.fail("logs -f still follows the first run's log while the second runs")
    t.eq(out, "one\n", "logs -f printed the first run's output")
    t.wait_for(lambda: "two" in t.diyctl("logs", "job").stdout, msg="the second run has its own log")


def test_killed_from_the_host_is_on_record(t):
    # a detached container killed by a signal not from diyctl stop (here
    # SIGKILL from the host to its first process) has ended on its own
    conf = conf_for(t, name="job")
    t.diyctl("start", "-d", conf, check=True)
    pid = status(t, "job")["pid"]
    # (its first words written before the kill, or there is no log to keep)
    t.wait_for(lambda: "started" in t.diyctl("logs", "job").stdout, msg="the job has started")
    os.kill(pid, signal.SIGKILL)
    t.wait_for(lambda: status_any(t, "job").get("state") == "exited",
               timeout=20, msg="job exited")
    st = status_any(t, "job")
    t.eq((st["exit_code"], st["oom_killed"]), (137, False), "exit code 128+9, not the OOM killer")
    t.contains(t.diyctl("status", "job").stdout, "exit code:  137 (signal 9)\n", "status names the signal")
    t.contains(t.diyctl("logs", "job", check=True).stdout, "started", "its log is kept")
    t.diyctl("cleanup", "job", check=True)


def test_launcher_killed_tearing_down_an_exited_container(t):
    # killed after it wrote the exit record, before its teardown: the journal
    # is still there, so the container is dead (not exited) and cleanup
    # removes everything, the record included
    conf = conf_for(t, name="job", script="echo bye; exit 0")
    before = t.snapshot()
    t.diyctl("start", "-d", conf, check=True, env={"DIYCTL_FAULT": "exited:teardown"})
    t.wait_for(lambda: status_any(t, "job").get("state") == "dead", timeout=20, msg="its launcher died")
    # (the wait above would time out on "exited": with its journal left it is dead)
    t.eq(t.diyctl("status", "job").returncode, 3, "status: not running")
    t.ok(os.path.exists("/run/diyctl/job/journal"), "the journal is left for cleanup")
    t.diyctl("cleanup", "job", check=True)
    t.host_unchanged(before, "cleanup after the launcher died in the exited teardown")


def status_any(t, name):
    """status --json whatever its exit code (3: not running)."""
    p = t.diyctl("status", "--json", name)
    return json.loads(p.stdout) if p.stdout.strip() else {}
