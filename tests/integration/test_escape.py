"""Issue 8: escape attempts. Each test is one attack made from inside a
container launched as root (the escapes that hit runc, crun, LXC and Docker,
and the classic ones); each test FAILS if the attack succeeds, and checks,
where it matters, that it was stopped by the layer meant to stop it (the
seccomp filter's EPERM, a read-only mount's EROFS, the device allow-list's
EPERM), so a regression in one layer shows even when another still holds.

The container side is `dc-probe try ATTEMPT` (tests/helpers/probe_escape.c):
it makes the calls and reports each result; it never does damage when a call
works (reboot asks for CAD_OFF, files opened for writing are not written). The
tests that aim at diyctl's own binary give the container a throw-away copy of
it. The README counts these tests ("N escape attempts, 0 succeeded")."""

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time

TIMEOUT = 120


# ---------------------------------------------------------------- helpers

def conf(t, extra="", name="esc", root=None):
    root = root or t.rootfs()
    return t.conf(name, 'rootfs = { path = "%s"; };\n%s' % (root, extra))


def attempt(t, cfg, *args, sets=(), timeout=60):
    """dc-probe try ARGS... in a container of CFG; its JSON report."""
    r = t.probe(cfg, *sets, args=["try"] + [str(a) for a in args], timeout=timeout)
    t.log("attempt: " + json.dumps(r))
    return r


def step(t, r, name):
    for s in r["steps"]:
        if s["step"] == name:
            return s
    t.fail("the probe did not report the step %r" % name, json.dumps(r))


def refused(t, r, name, errnos=None):
    """The call NAME failed (else: ESCAPE), with one of ERRNOS when given."""
    s = step(t, r, name)
    if s["ret"] >= 0:
        t.fail("ESCAPE: %s: %s succeeded (returned %d)" % (r["attempt"], name, s["ret"]), json.dumps(r))
    if errnos is not None and s["errno"] not in errnos:
        t.fail("%s: %s failed, but with %s (errno %d), not %s: a layer of the defence is missing"
               % (r["attempt"], name, s["error"], s["errno"],
                  "/".join(errno.errorcode.get(e, str(e)) for e in errnos)), json.dumps(r))
    return s


EPERM = [errno.EPERM]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def private_diyctl(t):
    """Point t.diyctl at a copy of the binary, so an attack that worked would
    damage only the copy; returns (path, hash)."""
    copy = os.path.join(t.tmp, "diyctl-under-attack")
    shutil.copy2(t.diyctl_bin, copy)
    t.diyctl_bin = copy
    return copy, sha256(copy)


def wait_stopped(t, name, timeout=30):
    # its launcher done: its record left ("exited"), or nothing
    t.wait_for(lambda: t.diyctl("status", name).returncode == 1 or
               '"state":"exited"' in t.diyctl("status", "--json", name).stdout, timeout=timeout,
               msg="container %s ended" % name)
    # a detached container that ended on its own leaves its record (log, exit code)
    t.diyctl("cleanup", name, check=True)


def host_root_device():
    """(major, minor) of the file system under the host's / ."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()
            if p[4] == "/":
                ma, mi = p[2].split(":")
                return int(ma), int(mi)
    return 8, 0


# ---------------------------------------------------------------- the kernel

def test_escape_load_kernel_module(t):
    c = conf(t)
    refused(t, attempt(t, c, "init_module"), "init_module", EPERM)
    refused(t, attempt(t, c, "finit_module"), "finit_module", EPERM)


def test_escape_unload_kernel_module(t):
    refused(t, attempt(t, conf(t), "delete_module"), "delete_module", EPERM)


def test_escape_reboot_host(t):
    # EPERM, not EINVAL: EINVAL would mean the call got past the capability
    # check (and only the pid namespace stood in the way).
    refused(t, attempt(t, conf(t), "reboot"), "reboot", EPERM)


def test_escape_kexec_new_kernel(t):
    r = attempt(t, conf(t), "kexec")
    refused(t, r, "kexec_load", EPERM)
    refused(t, r, "kexec_file_load", EPERM)


def test_escape_kernel_keyring(t):
    r = attempt(t, conf(t), "keyctl")
    for call in ("keyctl", "add_key", "request_key"):
        refused(t, r, call, EPERM)


def test_escape_bpf(t):
    refused(t, attempt(t, conf(t), "bpf"), "bpf", EPERM)


def test_escape_perf_event_open(t):
    # perf_event_paranoid alone lets an unprivileged process profile itself;
    # the filter refuses the whole call.
    refused(t, attempt(t, conf(t), "perf_event_open"), "perf_event_open", EPERM)


def test_escape_userfaultfd(t):
    refused(t, attempt(t, conf(t), "userfaultfd"), "userfaultfd", EPERM)


def test_escape_io_uring(t):
    refused(t, attempt(t, conf(t), "io_uring"), "io_uring_setup", EPERM)


def test_escape_io_ports(t):
    r = attempt(t, conf(t), "ioports")
    refused(t, r, "iopl", EPERM)
    refused(t, r, "ioperm", EPERM)


def test_escape_set_host_clock(t):
    refused(t, attempt(t, conf(t), "settime"), "clock_settime", EPERM)


def test_escape_read_kernel_log(t):
    refused(t, attempt(t, conf(t), "syslog"), "syslog", EPERM)


def test_escape_swapon(t):
    refused(t, attempt(t, conf(t), "swapon"), "swapon", EPERM)


def test_escape_seccomp_through_32bit_abi(t):
    # int 0x80 from a 64-bit process reaches the i386 system call table: a
    # filter that covered only x86-64 numbers would let these through.
    r = attempt(t, conf(t), "int80")
    if r["info"].get("arch") != "x86_64":
        t.skip("the 32-bit ABI attempt is written for x86-64")
    for call in ("int80_unshare_user", "int80_keyctl", "int80_reboot"):
        refused(t, r, call, EPERM)
    # x32 (bit 30 set in the call number): refused whole (kernels that disable
    # x32, as this machine's, refuse them too; test-security checks the
    # filter's own answer)
    for call in ("x32_keyctl", "x32_unshare"):
        refused(t, r, call, [errno.ENOSYS])


# ---------------------------------------------------------------- namespaces and mounts

def test_escape_new_user_namespace(t):
    # A user namespace gives its creator every capability over it: the first
    # step of most kernel exploits from containers.
    c = conf(t)
    refused(t, attempt(t, c, "unshare", "user"), "unshare", EPERM)
    r = attempt(t, c, "clone", "user")
    refused(t, r, "clone", EPERM)
    refused(t, r, "clone3", [errno.ENOSYS, errno.EPERM])
    refused(t, attempt(t, c, "unshare", "mount"), "unshare", EPERM)


def test_escape_mount_host_disk(t):
    major, minor = host_root_device()
    c = conf(t)
    r = attempt(t, c, "mknod", "/tmp/disk", "b", major, minor)
    refused(t, r, "open")
    r = attempt(t, c, "mount", "ext4", "/tmp/disk", "/tmp/hostroot")
    refused(t, r, "mount", EPERM)
    r = attempt(t, c, "newmount")
    for call in ("fsopen", "open_tree", "fspick"):
        refused(t, r, call, EPERM)


def test_escape_cgroup_release_agent(t):
    # CVE-2022-0492: mount a cgroup v1 hierarchy, set release_agent to a
    # program of the container, run it on the host as root.
    c = conf(t)
    for ctrl in ("rdma", "memory", "none,name=dc"):
        refused(t, attempt(t, c, "mount", "cgroup", "cgroup", "/tmp/cg", ctrl), "mount", EPERM)
    d = t.probe(c)
    t.ok(not any(m["fstype"] in ("cgroup", "cgroup2") for m in d["mounts"]),
         "no cgroup file system is mounted in the container")


def test_escape_write_proc_sys(t):
    # core_pattern and modprobe run programs on the host as root.
    c = conf(t)
    for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/vm/drop_caches",
                 "/proc/sys/kernel/hostname"):
        if os.path.exists(path):
            refused(t, attempt(t, c, "open", path, "w"), "open", [errno.EROFS])


def test_escape_unmount_read_only_proc_sys(t):
    # Under the read-only bind of /proc/sys is the writable proc: unmounting
    # the bind, or mounting a new proc, would give it back.
    c = conf(t)
    refused(t, attempt(t, c, "umount", "/proc/sys"), "umount", EPERM)
    refused(t, attempt(t, c, "mount", "proc", "proc", "/tmp/proc"), "mount", EPERM)


def _sys_targets():
    cands = ["/sys/kernel/uevent_helper", "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/power/state",
             "/sys/kernel/profiling", "/sys/module/printk/parameters/time", "/sys/block/vda/queue/scheduler"]
    return [p for p in cands if os.path.exists(p)] or ["/sys/kernel/profiling"]


def test_escape_write_sys(t):
    c = conf(t)
    for path in _sys_targets():
        refused(t, attempt(t, c, "open", path, "w"), "open", [errno.EROFS])


def test_escape_write_sys_with_host_network(t):
    # Sharing the host's network namespace does not make /sys writable.
    c = conf(t, 'network = { mode = "host"; };\n')
    for path in _sys_targets() + ["/sys/class/net/lo/mtu"]:
        refused(t, attempt(t, c, "open", path, "w"), "open", [errno.EROFS])


def test_escape_sysrq_trigger(t):
    r = attempt(t, conf(t), "open", "/proc/sysrq-trigger", "w")
    # EROFS when the kernel has it (an empty read-only file is over it),
    # ENOENT when it was built without magic SysRq.
    refused(t, r, "open", [errno.EROFS, errno.ENOENT])


def test_escape_read_kernel_secrets(t):
    # Keys, timers, physical page flags, firmware tables: hidden (empty).
    c = conf(t)
    for path in ("/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/kpageflags", "/proc/kcore",
                 "/proc/sched_debug"):
        if not os.path.exists(path):
            continue
        r = attempt(t, c, "open", path, "r")
        s = step(t, r, "open")
        if s["ret"] >= 0 and r["info"].get("bytes", 0) > 0:
            t.fail("ESCAPE: %s is readable in the container (%d bytes)" % (path, r["info"]["bytes"]))
    p = t.diyctl("start", c, "--set", 'process.args=["/bin/ls", "-A", "/sys/firmware"]', check=True)
    t.eq(p.stdout.strip(), "", "/sys/firmware is an empty directory")


def test_escape_mknod_block_device(t):
    major, minor = host_root_device()
    c = conf(t)
    for path in ("/dev/sda", "/tmp/sda", "/run/sda", "/dev/shm/sda", "/sda"):
        r = attempt(t, c, "mknod", path, "b", major, minor)
        # the device allow-list refuses mknod; nodev would refuse the open
        refused(t, r, "mknod", EPERM)
        refused(t, r, "open")


def test_escape_mknod_char_device(t):
    c = conf(t)
    for name, (ma, mi) in (("mem", (1, 1)), ("kmem", (1, 2)), ("port", (1, 4)), ("kmsg", (1, 11))):
        r = attempt(t, c, "mknod", "/dev/" + name, "c", ma, mi)
        refused(t, r, "mknod", EPERM)
        refused(t, r, "open")


def _bind_host_device(t, path, kind, major, minor):
    """A device node made on the host and bound into the container as a
    volume: nodev does not apply to it, only the device allow-list does."""
    os.mknod(path, (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600, os.makedev(major, minor))


def test_escape_open_host_device_bound_in(t):
    major, minor = host_root_device()
    blk = os.path.join(t.tmp, "hostdisk")
    kmsg = os.path.join(t.tmp, "hostkmsg")
    _bind_host_device(t, blk, "b", major, minor)
    _bind_host_device(t, kmsg, "c", 1, 11)
    c = conf(t, 'volumes = ( { source = "%s"; target = "/dev/hostdisk"; },\n'
                '            { source = "%s"; target = "/dev/hostkmsg"; } );\n' % (blk, kmsg))
    refused(t, attempt(t, c, "open", "/dev/hostdisk", "r"), "open", EPERM)
    refused(t, attempt(t, c, "open", "/dev/hostkmsg", "r"), "open", EPERM)
    # the devices it was given still work
    r = attempt(t, c, "open", "/dev/null", "rw")
    t.ok(step(t, r, "open")["ret"] >= 0, "/dev/null opens")


def test_escape_open_host_device_cgroup_v2_only(t):
    # The same on a host with only cgroup v2: the BPF device program alone
    # must refuse it. DIYCTL_CGROUP_ROOT points diyctl at a cgroup2 mount.
    cg2 = os.path.join(t.tmp, "cg2")
    os.mkdir(cg2)
    t.run(["mount", "-t", "cgroup2", "none", cg2])
    t.defer(t.run, ["umount", "-l", cg2], check=False)
    major, minor = host_root_device()
    blk = os.path.join(t.tmp, "hostdisk")
    _bind_host_device(t, blk, "b", major, minor)
    c = conf(t, 'volumes = ( { source = "%s"; target = "/dev/hostdisk"; } );\n' % blk)
    env = {"DIYCTL_CGROUP_ROOT": cg2}
    d = t.probe(c, env=env)
    t.contains(d["cgroup"], "0::/", "the container is in a cgroup v2 cgroup")
    r = t.probe(c, args=["try", "open", "/dev/hostdisk", "r"], env=env)
    refused(t, r, "open", EPERM)
    r = t.probe(c, args=["try", "mknod", "/dev/sdz", "b", major, minor], env=env)
    refused(t, r, "mknod", EPERM)
    r = t.probe(c, args=["try", "open", "/dev/zero", "r"], env=env)
    t.ok(step(t, r, "open")["ret"] >= 0, "/dev/zero opens")


def test_escape_symlinked_volume_target(t):
    # The rootfs's /www is a symlink to a host directory: the volume (and the
    # directories and files made for it) must land inside the rootfs.
    # (not under /tmp, which the container's own /tmp would hide inside)
    host_dir = "/var/lib/diyctl/escape-%d" % os.getpid()
    os.mkdir(host_dir)
    t.defer(shutil.rmtree, host_dir, ignore_errors=True)
    root = t.rootfs()
    shutil.rmtree(os.path.join(root, "www"))
    os.symlink(host_dir, os.path.join(root, "www"))                       # absolute
    os.symlink("../../../../../../../../.." + host_dir, os.path.join(root, "www2"))  # relative, climbing
    os.makedirs(os.path.join(root, host_dir.lstrip("/")))                 # its place inside the rootfs
    vol = os.path.join(t.tmp, "vol")
    os.mkdir(vol)
    with open(os.path.join(vol, "from-volume"), "w") as f:
        f.write("v")
    vfile = os.path.join(t.tmp, "vfile")
    with open(vfile, "w") as f:
        f.write("f")
    c = conf(t, 'volumes = ( { source = "%s"; target = "/www/sub/dir"; },\n'
                '            { source = "%s"; target = "/www2/file"; } );\n' % (vol, vfile), root=root)
    p = t.diyctl("start", c, "--set", 'process.args=["/bin/ls", "/www/sub/dir", "/www2/file"]', check=True)
    t.contains(p.stdout, "from-volume", "the volume is mounted (inside the rootfs)")
    t.eq(os.listdir(host_dir), [], "ESCAPE: something was created in the host directory the symlink names")
    t.ok(os.path.isdir(os.path.join(root, host_dir.lstrip("/"), "sub", "dir")),
         "the target was created inside the rootfs")


def test_escape_symlinked_kernel_mount_points(t):
    # /proc, /sys, /dev, /tmp and /run of a hostile rootfs point at a host
    # directory: the start may fail, but nothing may appear on the host.
    host_dir = os.path.join(t.tmp, "host-target")
    os.mkdir(host_dir)
    root = t.rootfs()
    for d in ("proc", "sys", "dev", "tmp", "run"):
        p = os.path.join(root, d)
        shutil.rmtree(p)
        os.symlink(os.path.join(host_dir, d), p)
    t.diyctl("start", conf(t, root=root), "--set", 'process.args=["/bin/true"]')
    t.eq(os.listdir(host_dir), [], "ESCAPE: files or mount points appeared in the host directory")


def test_escape_chroot_breakout(t):
    # chroot to a subdirectory, climb out of it with "..", chroot again:
    # that leaves a chroot, not the container's root (pivot_root, old root
    # detached).
    marker = os.path.join(t.tmp, "host-marker")
    with open(marker, "w") as f:
        f.write("host")
    r = attempt(t, conf(t), "chroot", marker)
    refused(t, r, "stat_marker", [errno.ENOENT])


def test_escape_open_by_handle_at(t):
    # "shocker": open the file system's root directory by inode number,
    # past the mount tree, from the rootfs's file system (the host's disk).
    r = attempt(t, conf(t), "open_by_handle_at")
    refused(t, r, "open_by_handle_at", EPERM)


# ---------------------------------------------------------------- processes and the launcher

def test_escape_see_host_processes(t):
    d = t.probe(conf(t))
    t.eq(d["pids"], [1], "only the container's own process is visible")
    d = t.probe(conf(t, "process = { init = true; };\n"))
    t.eq(d["pids"], [1, 2], "with an init: the init and the process")
    p = t.diyctl("start", conf(t), "--set", 'process.args=["/bin/cat", "/proc/1/cmdline"]', check=True)
    t.eq(p.stdout.split("\0")[0], "/bin/cat", "PID 1 is the container's own process")


def _no_write_succeeded(t, r):
    tried = 0
    for s in r["steps"]:
        if s["step"].endswith(("exe_write", "late_write", "late_truncate", "exe_open_write")):
            tried += 1
            t.ok(s["ret"] < 0, "ESCAPE: %s succeeded: %s" % (s["step"], json.dumps(r)))
    t.ok(tried > 0, "the probe reported no write attempt at all: %s" % json.dumps(r))


def test_escape_read_launcher_fds(t):
    c = conf(t)
    for sets in ((), ("process.init=true",), ("process.terminal=false",)):
        d = t.probe(c, *sets)
        t.eq([f["fd"] for f in d["fds"]], [0, 1, 2], "ESCAPE: the process holds fds other than 0-2 (%s)"
             % json.dumps(d["fds"]))
    # detached: the log and /dev/null, nothing of the launcher's
    out = os.path.join(t.tmp, "out")
    os.mkdir(out)
    c2 = conf(t, 'volumes = ( { source = "%s"; target = "/out"; } );\n'
                 'process = { args = [ "/bin/sh", "-c", "exec /bin/dc-probe > /out/report" ]; };\n' % out, name="det")
    t.diyctl("start", "-d", c2, check=True)
    wait_stopped(t, "det")
    with open(os.path.join(out, "report")) as f:
        d = json.load(f)
    t.eq([f["fd"] for f in d["fds"]], [0, 1, 2], "detached: only 0-2 (%s)" % json.dumps(d["fds"]))
    for f in d["fds"]:
        t.ok("diyctl" not in (f["target"] or "") or f["fd"] in (1, 2),
             "fd %d points at %s" % (f["fd"], f["target"]))


def test_escape_read_launcher_fds_through_exec(t):
    c = conf(t, 'process = { args = [ "/bin/sleep", "30" ]; };\n', name="execfd")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "execfd")
    p = t.diyctl("exec", "execfd", "/bin/dc-probe", check=True)
    d = t.parse_probe(p)
    t.eq([f["fd"] for f in d["fds"]], [0, 1, 2], "ESCAPE: diyctl exec leaks fds: %s" % json.dumps(d["fds"]))
    t.eq(d["cwd"], "/", "exec: the container's cwd, not the caller's")


def test_escape_ptrace_init(t):
    # With an init, PID 1 is our code (non-dumpable, CAP_KILL only): nothing
    # of it may be read, written, traced or stolen.
    r = attempt(t, conf(t, "process = { init = true; };\n"), "ptrace", 1)
    refused(t, r, "ptrace_attach", EPERM)
    refused(t, r, "process_vm_readv", EPERM)
    refused(t, r, "proc_mem_rw", [errno.EACCES, errno.EPERM])
    refused(t, r, "fd_links", [errno.EACCES, errno.EPERM])
    refused(t, r, "fd_open", [errno.EACCES, errno.EPERM])
    refused(t, r, "open_root", [errno.EACCES, errno.EPERM])
    if step(t, r, "pidfd_open")["ret"] >= 0:
        for fd in range(8):
            refused(t, r, "pidfd_getfd_%d" % fd, [errno.EPERM, errno.EACCES, errno.EBADF])


def test_escape_ptrace_launcher(t):
    # The launcher lives in the host's pid namespace: from inside, its pid
    # names nothing (or a process of the container), so it cannot be traced,
    # read, or have its fds or executable taken.
    binary, before = private_diyctl(t)
    c = conf(t, 'process = { args = [ "/bin/sleep", "30" ]; };\n', name="lnch")
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "lnch")
    st = json.loads(t.diyctl("status", "--json", "lnch", check=True).stdout)
    lp = st["launcher_pid"]
    r = t.parse_probe(t.diyctl("exec", "lnch", "/bin/dc-probe", "try", "ptrace", lp, check=True))
    t.log("attempt: " + json.dumps(r))
    for s in ("ptrace_attach", "process_vm_readv", "proc_mem_rw", "fd_links", "fd_open", "open_root"):
        refused(t, r, s)
    r = t.parse_probe(t.diyctl("exec", "lnch", "/bin/dc-probe", "try", "exe", lp, check=True))
    refused(t, r, "exe_open_write")
    refused(t, r, "exe_open_path")
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


def test_escape_overwrite_diyctl_through_proc_1_exe(t):
    binary, before = private_diyctl(t)
    r = attempt(t, conf(t, "process = { init = true; };\n"), "exe", 1)
    refused(t, r, "exe_readlink", [errno.EACCES, errno.EPERM])
    refused(t, r, "exe_open_write", [errno.EACCES, errno.EPERM])
    refused(t, r, "exe_open_path", [errno.EACCES, errno.EPERM])
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


def test_escape_overwrite_diyctl_through_proc_1_exe_with_ptrace(t):
    # Even a container given CAP_SYS_PTRACE, which can look at PID 1, finds
    # a sealed in-memory copy there, not the host's binary.
    binary, before = private_diyctl(t)
    c = conf(t, 'process = { init = true; };\nsecurity = { capabilities = { add = [ "SYS_PTRACE" ]; }; };\n')
    r = attempt(t, c, "exe", 1)
    s = step(t, r, "exe_readlink")
    t.ok(s["ret"] >= 0, "with CAP_SYS_PTRACE the container can read /proc/1/exe")
    t.ok(r["info"]["exe"].startswith("/memfd:diyctl"), "PID 1 runs a sealed copy, not %s" % r["info"]["exe"])
    t.ok(binary not in r["info"]["exe"], "PID 1's executable is the host's binary")
    refused(t, r, "exe_open_write", [errno.ETXTBSY, errno.EPERM, errno.EACCES])
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


def _trap_exec(t, extra, user="root", exec_args=("/bin/true",), trap="/etc/passwd", root=None):
    """A container whose process lays a FIFO trap at TRAP, then `diyctl exec`
    of EXEC_ARGS walks into it; the trap's report."""
    out = os.path.join(t.tmp, "out")
    os.makedirs(out, exist_ok=True)
    name = "trap"
    script = "exec /bin/dc-probe try trap %s 20 > /out/trap.json" % trap
    c = conf(t, 'volumes = ( { source = "%s"; target = "/out"; } );\n'
                'process = { user = "%s"; args = [ "/bin/sh", "-c", "%s" ]; };\n%s'
             % (out, user, script, extra), name=name, root=root)
    t.diyctl("start", "-d", c, check=True)
    t.defer(t.diyctl, "stop", "-t", "1", name)
    rootfs = root or os.path.join(t.tmp, "rootfs")
    fifo = os.path.join(rootfs, trap.lstrip("/"))
    t.wait_for(lambda: os.path.exists(fifo) and stat.S_ISFIFO(os.lstat(fifo).st_mode), timeout=15,
               msg="the trap is laid")
    p = t.diyctl("exec", name, *exec_args, timeout=40)
    wait_stopped(t, name)
    with open(os.path.join(out, "trap.json")) as f:
        r = json.load(f)
    t.log("trap: " + json.dumps(r))
    t.ok(r["info"].get("caught") == 1, "the trap caught diyctl exec: " + json.dumps(r))
    t.ok(r["info"].get("victims", 0) >= 1, "a process of diyctl exec was found: " + json.dumps(r))
    return r, p


def test_escape_diyctl_exec_helper(t):
    # `diyctl exec` runs code of ours inside the container before it execs
    # the command: held there by a FIFO at /etc/passwd (it looks the user
    # up), it must be untouchable: no exe, memory, fds or ptrace, and no
    # capability the container does not have.
    binary, before = private_diyctl(t)
    r, p = _trap_exec(t, "")
    for s in ("v0_exe_readlink", "v0_exe_open_write", "v0_exe_open_path", "v0_proc_mem_rw", "v0_fd_links",
              "v0_fd_open"):
        refused(t, r, s, [errno.EACCES, errno.EPERM])
    refused(t, r, "v0_ptrace_attach", EPERM)
    cap = int(r["info"]["v0_capeff"], 16)
    t.eq(cap & ~0xa80425fb, 0, "the helper holds capabilities the container lacks: %x" % cap)
    t.eq(p.returncode, 0, "diyctl exec then completes")
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


def test_escape_diyctl_exec_helper_with_ptrace(t):
    # Given CAP_SYS_PTRACE the container can reach the helper's executable:
    # it is the sealed copy, so neither a write now nor one after the helper
    # ended (CVE-2019-5736's O_PATH trick) changes anything.
    binary, before = private_diyctl(t)
    r, p = _trap_exec(t, 'security = { capabilities = { add = [ "SYS_PTRACE" ]; }; };\n')
    t.ok(r["info"].get("v0_exe", "").startswith("/memfd:diyctl"),
         "the helper runs a sealed copy: %s" % r["info"].get("v0_exe"))
    refused(t, r, "v0_exe_open_write", [errno.ETXTBSY, errno.EPERM, errno.EACCES])
    _no_write_succeeded(t, r)
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


def _host_libs(t, root, binary):
    """Copy the shared libraries BINARY needs into ROOT (the busybox rootfs
    has no libc), so it can run inside."""
    for line in t.run(["ldd", binary]).stdout.splitlines():
        parts = line.split()
        path = next((p for p in parts if p.startswith("/")), None)
        if not path:
            continue
        dst = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(path), dst)


def test_escape_overwrite_diyctl_through_proc_self_exe(t):
    # CVE-2019-5736 itself: the container's /bin/evil is "#!/proc/self/exe",
    # so `diyctl exec` of it runs the runtime's own executable inside the
    # container; held by a FIFO it reads, the container then opens that
    # process's /proc/PID/exe to overwrite it.
    binary, before = private_diyctl(t)
    root = t.rootfs()
    _host_libs(t, root, binary)
    with open(os.path.join(root, "bin", "evil"), "w") as f:
        f.write("#!/proc/self/exe check\n")   # also a valid (empty) config: # is a comment
    os.chmod(os.path.join(root, "bin", "evil"), 0o755)
    r, p = _trap_exec(t, "", user="0:0", exec_args=("/bin/evil", "/trap.conf"), trap="/trap.conf", root=root)
    exe = r["info"].get("v0_exe", "")
    t.ok(exe.startswith("/memfd:diyctl"), "the container reached a sealed copy, not %r" % exe)
    t.ok(binary not in exe, "ESCAPE: the container's process runs the host's diyctl binary")
    _no_write_succeeded(t, r)
    t.eq(sha256(binary), before, "ESCAPE: the diyctl binary changed")


# ---------------------------------------------------------------- privileges

def _suid_rootfs(t):
    root = t.rootfs()
    for name in ("suid-probe", "fcap-probe"):
        dst = os.path.join(root, "bin", name)
        shutil.copy2(t.probe_bin, dst)
        os.chown(dst, 0, 0)
    os.chmod(os.path.join(root, "bin", "suid-probe"), 0o4755)
    p = t.run(["setcap", "cap_sys_admin,cap_sys_module,cap_dac_override+ep",
               os.path.join(root, "bin", "fcap-probe")], check=False)
    return root, p.returncode == 0


def test_escape_setuid_binary_with_no_new_privs(t):
    root, _ = _suid_rootfs(t)
    c = conf(t, 'process = { user = "1000:1000"; args = [ "/bin/suid-probe" ]; };\n', root=root)
    p = t.diyctl("start", c, check=True)
    d = t.parse_probe(p)
    t.eq((d["uid"], d["euid"]), (1000, 1000), "ESCAPE: the setuid-root binary made the process root")
    t.eq(int(d["caps"]["CapEff"], 16), 0, "ESCAPE: capabilities after exec of a setuid binary")
    t.eq(d["no_new_privs"], 1, "no_new_privs is set")


def test_escape_file_capabilities_with_no_new_privs(t):
    root, ok = _suid_rootfs(t)
    if not ok:
        t.skip("setcap failed (no security xattrs on this file system?)")
    c = conf(t, 'process = { user = "1000:1000"; args = [ "/bin/fcap-probe" ]; };\n', root=root)
    p = t.diyctl("start", c)
    if p.returncode == 126:
        # the kernel refuses to run a file whose capabilities it may not grant
        t.contains(p.stderr, "Operation not permitted", "exec refused with EPERM")
    else:
        d = t.parse_probe(p)
        t.eq(int(d["caps"]["CapEff"], 16), 0, "ESCAPE: file capabilities granted %s" % d["caps"]["CapEff"])
    # as root, file capabilities cannot reach past the bounding set
    c = conf(t, 'process = { args = [ "/bin/fcap-probe" ]; };\n', root=root, name="esc2")
    p = t.diyctl("start", c)
    if p.returncode == 126:
        t.contains(p.stderr, "Operation not permitted", "exec refused with EPERM")
    else:
        eff = int(t.parse_probe(p)["caps"]["CapEff"], 16)
        t.eq(eff & ((1 << 21) | (1 << 16)), 0, "ESCAPE: CAP_SYS_ADMIN or CAP_SYS_MODULE after exec (%x)" % eff)


def test_escape_type_into_host_terminal(t):
    # Without a pty of its own (terminal = false, exec -T, or exec with its
    # stdout redirected) the container shares the caller's terminal: TIOCSTI
    # would type commands into the host's shell. The seccomp filter refuses
    # it; without the filter, the process is in a session of its own, so the
    # terminal is not its controlling terminal and the kernel refuses it.
    def reported(text, what):
        line = [l for l in text.splitlines() if l.startswith("{")]
        t.ok(line, "%s: the probe reported: %r" % (what, text))
        return json.loads(line[-1])

    for seccomp in ("default", "unconfined"):
        sec = 'security = { seccomp = "%s"; };\n' % seccomp
        c = conf(t, "process = { terminal = false; };\n" + sec)
        argv = [t.diyctl_bin, "start", c, "--set", 'process.args=["/bin/dc-probe", "try", "tiocsti"]']
        rc = t.pty_run(argv, timeout=30)
        t.eq(rc, 0, "start, seccomp %s: the probe ran" % seccomp)
        r = reported(t.pty_output, "start, seccomp %s" % seccomp)
        t.eq(r["info"].get("isatty"), 1, "fd 0 is the caller's terminal")
        refused(t, r, "tiocsti", EPERM)
        # diyctl exec into a running container, without a pty
        c = conf(t, 'process = { args = [ "/bin/sleep", "1000" ]; };\n' + sec, name="escx")
        t.diyctl("start", "-d", c, check=True)
        out = os.path.join(t.tmp, "probe.out")
        for what, argv in (("exec -T", [t.diyctl_bin, "exec", "-T", "escx", "/bin/dc-probe", "try", "tiocsti"]),
                           ("exec > file", ["sh", "-c", '"$0" exec escx /bin/dc-probe try tiocsti > "$1"',
                                            t.diyctl_bin, out])):
            rc = t.pty_run(argv, timeout=30)
            t.eq(rc, 0, "%s, seccomp %s: the probe ran" % (what, seccomp))
            if what == "exec > file":
                with open(out) as f:
                    r = reported(f.read(), what)
            else:
                r = reported(t.pty_output, what)
            t.eq(r["info"].get("isatty"), 1, "%s: fd 0 is the caller's terminal" % what)
            refused(t, r, "tiocsti", EPERM)
        t.diyctl("stop", "-t", "1", "escx", check=True)


def test_devices_given_by_the_config(t):
    """devices, as Docker's --device: the node is bound into the container's
    /dev and the device allow-list lets it through, with the permissions
    given; on a host with cgroup v1's devices controller and with cgroup v2
    alone (the BPF program)."""
    tun = os.path.join(t.tmp, "tun")
    os.mknod(tun, stat.S_IFCHR | 0o600, os.makedev(10, 200))  # /dev/net/tun: opening it changes nothing
    cg2 = os.path.join(t.tmp, "cg2")
    os.mkdir(cg2)
    t.run(["mount", "-t", "cgroup2", "none", cg2])
    t.defer(t.run, ["umount", "-l", cg2], check=False)

    def opened(r):
        s = step(t, r, "open")
        # given: the allow-list lets it through (ENODEV: no tun driver here)
        t.ok(s["ret"] >= 0 or s["errno"] in (errno.ENODEV, errno.ENXIO), "%s: opens (%s)" % (r["attempt"], s))

    for env, where in (({}, "this host's hierarchies"), ({"DIYCTL_CGROUP_ROOT": cg2}, "cgroup v2 alone")):
        c = conf(t, 'devices = [ "%s:/dev/net/tun" ];\n' % tun)
        opened(t.probe(c, args=["try", "open", "/dev/net/tun", "rw"], env=env))
        c = conf(t, 'devices = [ "%s:/dev/net/tun:r" ];\n' % tun)
        opened(t.probe(c, args=["try", "open", "/dev/net/tun", "r"], env=env))
        t.log("with %s, read-only:" % where)
        refused(t, t.probe(c, args=["try", "open", "/dev/net/tun", "rw"], env=env), "open", EPERM)
        refused(t, t.probe(c, args=["try", "mknod", "/dev/tun2", "c", 10, 200], env=env), "mknod", EPERM)
        # the others stay refused, ours stay allowed
        major, minor = host_root_device()
        refused(t, t.probe(c, args=["try", "mknod", "/dev/sdz", "b", major, minor], env=env), "mknod", EPERM)
        r = t.probe(c, args=["try", "open", "/dev/zero", "r"], env=env)
        t.ok(step(t, r, "open")["ret"] >= 0, "%s: /dev/zero opens" % where)
    # the host's nodes are bound read-only: the container's root (CAP_CHOWN, CAP_FOWNER) cannot change them
    before = os.stat(tun)
    c2 = conf(t, 'devices = [ "%s:/dev/net/tun" ];\nprocess = { args = [ "/bin/sh", "-c", '
                 '"chmod 666 /dev/net/tun; chown 1234 /dev/net/tun; chmod 666 /dev/null; grep -c . /dev/null; '
                 'echo x > /dev/null && echo wrote; cat /proc/self/mountinfo" ]; };\n' % tun, name="dv2")
    p = t.diyctl("start", c2, check=True)
    after = os.stat(tun)
    t.eq((after.st_mode, after.st_uid), (before.st_mode, before.st_uid), "the host's node keeps its mode and owner")
    t.contains(p.stderr, "Read-only file system", "chmod inside is refused")
    t.contains(p.stdout, "wrote", "writing to the device still works")
    ro = {l.split()[4]: l.split()[5] for l in p.stdout.splitlines() if len(l.split()) > 5}
    for dev in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/net/tun"):
        t.ok(ro.get(dev, "").split(",")[0] == "ro", "%s is bound read-only (%s)" % (dev, ro.get(dev)))
    # a path swapped for a directory between the plan and the bind is refused (start:slow: a second before
    # the first process is made)
    swapped = os.path.join(t.tmp, "swapped")
    os.mknod(swapped, stat.S_IFCHR | 0o600, os.makedev(10, 200))
    c3 = conf(t, 'devices = [ "%s:/dev/x" ];\n' % swapped, name="dv3")
    proc = subprocess.Popen([t.diyctl_bin, "start", c3], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, DIYCTL_FAULT="start:slow"))
    time.sleep(0.5)
    os.unlink(swapped)
    os.mkdir(swapped)
    out, err = proc.communicate(timeout=30)
    t.eq(proc.returncode, 125, "a device swapped meanwhile fails the start")
    t.contains(err, "%s is no longer the device c 10:200 it was when the plan was made" % swapped, "and says so")
    plan = t.diyctl("plan", c, check=True).stdout
    t.contains(plan, "/dev/net/tun (c 10:200 r)", "plan shows the device allowed")
    t.contains(plan, "bind %s on /dev/net/tun" % tun, "and its bind")
    # refused by check
    d = os.path.join(t.tmp, "adir")
    os.mkdir(d)
    for value, msg in (('"/dev/nonexistent"', "esc.conf:3: devices: /dev/nonexistent: No such file or directory"),
                       ('"%s:/dev/d"' % d, "esc.conf:3: devices: %s is not a device node but a directory" % d),
                       ('"dev/fuse"', "devices: dev/fuse: the host's device must be an absolute path"),
                       ('"%s:/opt/tun"' % tun, "the container's path must be in its /dev"),
                       ('"%s:/dev/null"' % tun, "devices: %s:/dev/null: diyctl makes /dev/null itself" % tun),
                       ('"%s:/dev/x:rwx"' % tun, "devices: %s:/dev/x:rwx: rwx are not permissions" % tun),
                       ('"%s:/dev/x", "%s:/dev/x"' % (tun, tun), "devices: /dev/x is given twice"),
                       ('"/dev/null:/dev/ronull:r"', "devices: /dev/null is a device every container may use fully"),
                       (", ".join('"/dev/null:/dev/n%d"' % i for i in range(57)), "devices: more than 56 devices")):
        c = conf(t, 'devices = [\n  %s ];\n' % value)
        p = t.diyctl("check", c)
        t.eq(p.returncode, 1, "check refuses devices = [ %s ]" % value[:60])
        t.contains(p.stderr, msg, "and says why")
    c = conf(t, 'devices = [ "%s:/dev/net/tun" ];\nvolumes = ( { source = "%s"; target = "/dev/net"; } );\n'
             % (tun, d))
    t.contains(t.diyctl("check", c).stderr, "esc.conf:3: volumes[].target: /dev/net would hide the device "
               "/dev/net/tun (devices, ", "a volume above a device")
    # config leaves the host's files to check
    c = conf(t, 'devices = [ "/dev/doesnotexist:/dev/x" ];\n')
    t.diyctl("config", c, check=True)
