#!/usr/bin/env python3
"""The inside of bench/run: every measurement, in the sandbox host that
bench/run made (tests/integration/run.py --sandbox: own net, mount, pid and
cgroup namespaces, tmpfs /run, overlay /etc). Writes results.md,
results.json and chart.png to --out. See bench/README.md.

Python 3 standard library only; hyperfine does the timing of single commands.
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

NOBODY = 65534
WAN_HOST = "198.51.100.1"   # the sandbox host's own, non-loopback address (a veth to netns "wan")
OUTSIDE = "198.51.100.2"

# The namespace sets of the /bin/true start-to-exit groups.
SETS = [
    ("true4", "mount,uts,ipc,pid", False),
    ("true5", "mount,uts,ipc,pid,net", False),
    ("true6", "mount,uts,ipc,pid,net,user", True),
]
SET_TITLE = {
    "true4": "/bin/true, mount+uts+ipc+pid",
    "true5": "/bin/true, mount+uts+ipc+pid+net",
    "true6": "/bin/true, mount+uts+ipc+pid+net+user, rootless (uid 65534)",
}


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def sh(cmd, check=True, **kw):
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def version(cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.results = []     # one dict per measured command
        self.notes = []       # free text for the report
        self.failures = []    # (group, name, reason)

    # ------------------------------------------------------------ set-up
    def setup(self):
        w = self.work
        os.makedirs(w, exist_ok=True)
        os.chmod(w, 0o755)
        self.rootfs = os.path.join(w, "rootfs")
        sh([os.path.join(REPO, "examples", "mkrootfs.sh"), self.rootfs])
        # systemd-nspawn refuses a directory without an os-release file.
        with open(os.path.join(self.rootfs, "etc", "os-release"), "w") as f:
            f.write("ID=busybox\nNAME=busybox\n")
        # The diyctl binary twice: as built (on a writable file system) and
        # bound read-only. A binary on a writable file system re-executes
        # itself from a sealed copy when the container could see a process
        # of ours (init, no pid namespace: README, "Security"), which these
        # configs never have: the two rows show that it costs nothing here.
        self.diyctl = self.a.diyctl
        ro_dir = os.path.join(w, "ro")
        os.makedirs(ro_dir)
        self.diyctl_ro = os.path.join(ro_dir, "diyctl")
        open(self.diyctl_ro, "w").close()
        sh(["mount", "--bind", self.diyctl, self.diyctl_ro])
        sh(["mount", "-o", "remount,bind,ro", self.diyctl_ro])
        # State of rootless runs, owned by the unprivileged user.
        self.xdg = os.path.join(w, "xdg")
        os.makedirs(self.xdg)
        os.chown(self.xdg, NOBODY, NOBODY)
        os.chmod(self.xdg, 0o700)
        self.data = os.path.join(w, "data")
        os.makedirs(self.data)
        for fw in ("nftables", "iptables"):
            with open(os.path.join(w, "host-%s.conf" % fw), "w") as f:
                f.write('firewall = "%s";\n' % fw)
        # An outside world: the sandbox host gets 198.51.100.1 on a veth whose
        # other end is in netns "wan"; port forwards are reached on that address.
        sh("ip netns add wan && ip link add wan0 type veth peer name eth0 netns wan && "
           "ip addr add %s/24 dev wan0 && ip link set wan0 up && "
           "ip -n wan addr add %s/24 dev eth0 && ip -n wan link set eth0 up && ip -n wan link set lo up"
           % (WAN_HOST, OUTSIDE))
        self.lxcpath = os.path.join(w, "lxc")
        os.makedirs(self.lxcpath)
        self.bundles = os.path.join(w, "bundles")
        os.makedirs(self.bundles)
        os.chmod(self.bundles, 0o755)

    def conf(self, name, text):
        path = os.path.join(self.work, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def bundle(self, name, ns, args, rootless=False, netns_path=None):
        """An OCI bundle made by `crun spec` (--rootless for a user namespace),
        root pointed at the shared rootfs, the namespaces of the set."""
        d = os.path.join(self.bundles, name)
        os.makedirs(d)
        sh(["crun", "spec"] + (["--rootless"] if rootless else []), cwd=d)
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["root"] = {"path": self.rootfs, "readonly": False}
        want = {"mount": "mount", "uts": "uts", "ipc": "ipc", "pid": "pid", "net": "network", "user": "user"}
        types = [want[n] for n in ns.split(",")]
        old = {n["type"]: n for n in spec["linux"]["namespaces"]}
        spec["linux"]["namespaces"] = [old.get(t, {"type": t}) for t in types]
        if netns_path:
            for n in spec["linux"]["namespaces"]:
                if n["type"] == "network":
                    n["path"] = netns_path
        if rootless:
            # the unprivileged user's own id only: no subordinate ranges needed
            spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
            spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
            # without a network namespace of its own, sysfs cannot be mounted rootless
            if "network" not in types:
                spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys"]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(spec, f, indent=1)
        if rootless:
            sh(["chown", "-R", "%d:%d" % (NOBODY, NOBODY), d])
        return d

    def lxc_conf(self, name, net):
        path = os.path.join(self.lxcpath, name + ".conf")
        with open(path, "w") as f:
            f.write("lxc.uts.name = bench\n"
                    "lxc.rootfs.path = dir:%s\n"
                    "lxc.net.0.type = %s\n"
                    "lxc.autodev = 1\n"
                    "lxc.mount.auto = proc:mixed sys:ro\n"
                    "lxc.tty.max = 0\n"
                    "lxc.pty.max = 16\n"
                    "lxc.apparmor.profile = unconfined\n" % (self.rootfs, "empty" if net else "none"))
        return path

    # ------------------------------------------------------------ timing
    def hyperfine(self, name, command, runs, warmup, prepare=None, wrap=None, env=None):
        """Times one command; returns the list of run times (s) or raises."""
        fd, out = tempfile.mkstemp(suffix=".json", dir=self.work)
        os.close(fd)
        os.chmod(out, 0o666)
        hf = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
              "--export-json", out]
        if prepare:
            hf += ["--prepare", prepare]
        hf += ["-n", name, command]
        cmd = wrap(hf) if wrap else hf
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                           timeout=self.a.timeout)
        try:
            if p.returncode != 0:
                raise RuntimeError(p.stdout.strip()[-1500:])
            with open(out) as f:
                return json.load(f)["results"][0]["times"]
        finally:
            os.unlink(out)

    def measure(self, group, cmds, runs, warmup, rounds):
        """cmds: dicts name, command, and optionally wrap, prepare, env, note.
        Each command is timed in `rounds` slices, the commands interleaved,
        so a change of load on the shared machine hits all of them alike."""
        times = {c["name"]: [] for c in cmds}
        dead = {}
        per = max(1, runs // rounds)
        for r in range(rounds):
            for c in cmds:
                if c["name"] in dead:
                    continue
                try:
                    times[c["name"]] += self.hyperfine(c["name"], c["command"], per, warmup if r == 0 else 1,
                                                       c.get("prepare"), c.get("wrap"), c.get("env"))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    dead[c["name"]] = str(e).strip().splitlines()[-1] if str(e).strip() else "failed"
                    log("%s: %s failed: %s" % (group, c["name"], e))
        for c in cmds:
            res = {"group": group, "name": c["name"], "command": c.get("show", c["command"]),
                   "note": c.get("note", "")}
            if c["name"] in dead:
                res["error"] = dead[c["name"]]
                self.failures.append((group, c["name"], dead[c["name"]]))
            else:
                t = times[c["name"]]
                res.update(times=t, median=statistics.median(t), mean=statistics.mean(t),
                           stddev=statistics.stdev(t) if len(t) > 1 else 0.0, min=min(t), max=max(t), runs=len(t))
            self.results.append(res)
            if "median" in res:
                log("%-6s %-34s median %7.2f ms  mean %7.2f ms  sd %6.2f ms  (%d runs)" % (
                    group, c["name"], res["median"] * 1e3, res["mean"] * 1e3, res["stddev"] * 1e3, res["runs"]))

    # ------------------------------------------------------------ groups
    def group_true(self):
        r = self.rootfs
        for key, ns, user in SETS:
            if key not in self.a.only:
                continue
            net = "net" in ns
            nsconf = ", ".join('"%s"' % n for n in ns.split(","))
            extra = 'user = { map = "root"; };\n' if user else ""
            conf = self.conf(key, 'name = "%s";\nrootfs = { path = "%s"; };\nnamespaces = [ %s ];\n'
                                  'process = { args = [ "/bin/true" ]; };\n%s' % (key, r, nsconf, extra))
            cmds = []
            cmds.append({"name": "lower bound (bench/lowerbound.c)",
                         "command": "%s -n %s %s /bin/true" % (self.a.lowerbound, ns, r),
                         "show": "lowerbound -n %s ROOTFS /bin/true" % ns})
            uflags = (["--user", "--map-root-user"] if user else []) + ["--fork"] + \
                [f for f in ["--pid", "--mount", "--uts", "--ipc", "--net"] if f[2:] in ns.split(",")]
            cmds.append({"name": "unshare + chroot",
                         "command": "unshare %s chroot %s /bin/true" % (" ".join(uflags), r),
                         "show": "unshare %s chroot ROOTFS /bin/true" % " ".join(uflags)})
            cmds.append({"name": "diyctl", "command": "%s start %s" % (self.diyctl, conf),
                         "show": "diyctl start %s.conf" % key,
                         "note": "binary on a writable file system (no sealed copy: pid namespace, no init)"})
            if key == "true5":
                cmds.append({"name": "diyctl (read-only binary)", "command": "%s start %s" % (self.diyctl_ro, conf),
                             "show": "diyctl start %s.conf" % key,
                             "note": "binary on a read-only bind mount"})
            bw = ["--unshare-user"] if user else []
            bw += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"] + (["--unshare-net"] if net else [])
            cmds.append({"name": "bubblewrap",
                         "command": "bwrap %s --bind %s / --proc /proc --dev /dev /bin/true" % (" ".join(bw), r),
                         "show": "bwrap %s --bind ROOTFS / --proc /proc --dev /dev /bin/true" % " ".join(bw)})
            cb = self.bundle("crun-" + key, ns, ["/bin/true"], rootless=user)
            cmds.append({"name": "crun", "command": "crun --cgroup-manager=disabled run -b %s b%s" % (cb, key),
                         "show": "crun --cgroup-manager=disabled run (bundle from crun spec%s)" %
                                 (" --rootless" if user else ""),
                         "wrap": self.cgroup2_wrap(user)})
            rb = self.bundle("runc-" + key, ns, ["/bin/true"], rootless=user)
            runc = "runc --root %s/runc run -b %s r%s" % (self.xdg, rb, key) if user else \
                   "runc run -b %s r%s" % (rb, key)
            cmds.append({"name": "runc", "command": runc,
                         "show": "runc run (same bundle)" + (", rootless" if user else ""),
                         "wrap": self.nobody_wrap() if user else None})
            if not user:
                cmds.append({"name": "systemd-nspawn",
                             "command": "systemd-nspawn -q --register=no --keep-unit %s-D %s /bin/true" %
                                        ("--private-network " if net else "", r),
                             "show": "systemd-nspawn -q --register=no --keep-unit %s-D ROOTFS /bin/true" %
                                     ("--private-network " if net else "")})
                lc = self.lxc_conf(key, net)
                cmds.append({"name": "lxc-execute",
                             "command": "lxc-execute -P %s -n l%s -f %s -- /bin/true" % (self.lxcpath, key, lc),
                             "show": "lxc-execute -n NAME -f CONF -- /bin/true (lxc.net.0.type = %s)" %
                                     ("empty" if net else "none")})
            if user:
                # the whole hyperfine runs as the unprivileged user
                for c in cmds:
                    if c["name"] in ("crun",):
                        continue
                    if not c.get("wrap"):
                        c["wrap"] = self.nobody_wrap()
            self.measure(key, cmds, self.a.runs, self.a.warmup, self.a.rounds)
            if user:
                self.notes.append("%s: systemd-nspawn and LXC have no rootless mode without a service manager "
                                  "or subordinate id delegation; not measured." % key)

    def nobody_wrap(self):
        env = ["env", "XDG_RUNTIME_DIR=%s" % self.xdg, "HOME=/nonexistent",
               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        pre = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--inh-caps=-all"]
        return lambda hf: pre + env + hf

    def cgroup2_wrap(self, user):
        """crun 1.8 refuses this machine's hybrid cgroup layout: its hyperfine
        runs in a mount namespace of its own where /sys/fs/cgroup is a plain
        cgroup2 mount (and crun runs with --cgroup-manager=disabled)."""
        inner = "umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\""
        nob = self.nobody_wrap()

        def wrap(hf):
            cmd = nob(hf) if user else hf
            return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh"] + cmd
        return wrap

    def group_nat(self):
        if "nat" not in self.a.only:
            return
        r = self.rootfs
        fb = self.a.firstbyte
        httpd = '[ "/usr/sbin/httpd", "-f", "-p", "80", "-h", "/www" ]'
        cmds = []
        for i, (fw, binary, label) in enumerate([("nftables", self.diyctl, "diyctl, nftables"),
                                                 ("iptables", self.diyctl, "diyctl, iptables")]):
            name = "web%d" % i
            port = 8080 + i
            conf = self.conf(name, 'name = "%s";\nrootfs = { path = "%s"; };\nprocess = { args = %s; };\n'
                                   'network = { mode = "nat"; ports = ( { host = %d; container = 80; } ); };\n'
                                   % (name, r, httpd, port))
            script = self.script("nat-%s.sh" % name,
                                 "DIYCTL_HOST_CONF=%s/host-%s.conf; export DIYCTL_HOST_CONF\n"
                                 "%s start -d %s >/dev/null\n%s %s %d 5000\n%s stop -t 0 %s\n"
                                 % (self.work, fw, binary, conf, fb, WAN_HOST, port, binary, name))
            cmds.append({"name": label, "command": "sh -e %s" % script,
                         "show": "diyctl start -d web.conf; firstbyte; diyctl stop -t 0 web (%s)" % fw})
        # crun with a CNI-like set-up: what CNI's bridge/ptp + portmap plugins
        # do, as one `ip -batch` per namespace and one `nft -f`, around crun.
        cb = self.bundle("crun-web", "mount,uts,ipc,pid,net", ["/usr/sbin/httpd", "-f", "-p", "80", "-h", "/www"],
                         netns_path="/run/netns/cweb")
        w = self.work
        with open(os.path.join(w, "cni-up.ip"), "w") as f:
            f.write("netns add cweb\nlink add vcweb type veth peer name eth0 netns cweb\n"
                    "addr add 10.91.0.1/30 dev vcweb\nlink set vcweb up\n")
        with open(os.path.join(w, "cni-up-in.ip"), "w") as f:
            f.write("link set lo up\naddr add 10.91.0.2/30 dev eth0\nlink set eth0 up\n"
                    "route add default via 10.91.0.1\n")
        with open(os.path.join(w, "cni-up.nft"), "w") as f:
            f.write("table ip benchcni {\n"
                    " chain pre { type nat hook prerouting priority dstnat; fib daddr type local tcp dport 8090 "
                    "dnat to 10.91.0.2:80; }\n"
                    " chain out { type nat hook output priority -100; fib daddr type local tcp dport 8090 "
                    "dnat to 10.91.0.2:80; }\n"
                    " chain post { type nat hook postrouting priority srcnat; ip saddr 10.91.0.0/30 "
                    "oifname != \"vcweb\" masquerade; }\n}\n")
        script = self.script("nat-crun.sh",
                             "ip -b {w}/cni-up.ip\nip -n cweb -b {w}/cni-up-in.ip\nnft -f {w}/cni-up.nft\n"
                             "crun --cgroup-manager=disabled run -d -b {cb} cweb\n{fb} {h} 8090 5000\n"
                             "crun kill cweb KILL\ncrun delete -f cweb\nip -n cweb link del eth0\nip netns del cweb\n"
                             "nft delete table ip benchcni\n".format(w=w, cb=cb, fb=fb, h=WAN_HOST))
        cmds.append({"name": "crun + CNI-like script", "command": "sh -e %s" % script,
                     "show": "ip -b; ip -n -b; nft -f; crun run -d; firstbyte; crun kill; crun delete; "
                             "ip -n link del; ip netns del; nft delete table",
                     "wrap": self.cgroup2_wrap(False)})
        # systemd-nspawn --network-veth -p: it installs the port forward once the
        # container has an address; without systemd-networkd on either side the
        # addresses are set by hand (the container's command, and here). The
        # link goes up before the address: a connection DNATed while host0 is
        # still down would leave an incomplete neighbour entry, retried after 1 s.
        script = self.script("nat-nspawn.sh",
                             "systemd-nspawn -q --register=no --keep-unit --network-veth -p tcp:8091:80 -M nsweb "
                             "-D {r} /bin/sh -c 'ip link set host0 up; ip addr add 10.90.0.2/30 dev host0; "
                             "ip route add default via 10.90.0.1; exec httpd -f -p 80 -h /www' &\n"
                             "pid=$!\n"
                             "until ip link set ve-nsweb up 2>/dev/null; do sleep 0.002; done\n"
                             "ip addr add 10.90.0.1/30 dev ve-nsweb\n"
                             "{fb} {h} 8091 5000\n"
                             "kill $pid\nwait $pid || true\n".format(r=r, fb=fb, h=WAN_HOST))
        cmds.append({"name": "systemd-nspawn --network-veth -p", "command": "sh -e %s" % script,
                     "show": "systemd-nspawn --network-veth -p tcp:8091:80 &; address ve-; firstbyte; kill"})
        self.measure("nat", cmds, self.a.nat_runs, 2, self.a.rounds)

    def script(self, name, body):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(body)
        return path

    def image_archive(self):
        """A `docker image save` archive (classic layout, one uncompressed layer)
        of the same busybox rootfs, as tests/integration/test_image.py makes them."""
        import test_image
        path = os.path.join(self.work, "busybox.tar")
        test_image.docker_save(path, [{"tags": ["busybox:latest"], "layers": [test_image.dir_tar(self.rootfs)],
                                       "cmd": ["/bin/true"]}])
        return path

    def group_image(self):
        if "image" not in self.a.only:
            return
        img = self.image_archive()
        dconf = self.conf("dir", 'name = "dir";\nrootfs = { path = "%s"; };\nprocess = { args = [ "/bin/true" ]; };\n'
                          % self.rootfs)
        dtconf = self.conf("dirtmpfs", 'name = "dirtmpfs";\nrootfs = { path = "%s"; writable = "tmpfs"; };\n'
                           'process = { args = [ "/bin/true" ]; };\n' % self.rootfs)
        iconf = self.conf("img", 'name = "img";\nrootfs = { image = "%s"; };\n' % img)
        env = dict(os.environ, DIYCTL_DATA_ROOT=self.data)
        cache = os.path.join(self.data, "images")
        cmds = [
            {"name": "directory rootfs", "command": "%s start %s" % (self.diyctl, dconf), "env": env,
             "show": "diyctl start dir.conf (rootfs.path, writable = \"direct\", the default)"},
            {"name": "directory rootfs, tmpfs overlay", "command": "%s start %s" % (self.diyctl, dtconf), "env": env,
             "show": "diyctl start dirtmpfs.conf (rootfs.path, writable = \"tmpfs\")"},
            {"name": "image, cached", "command": "%s start %s" % (self.diyctl, iconf), "env": env,
             "show": "diyctl start img.conf (rootfs.image, layers already unpacked)"},
            {"name": "image, first start (unpack)", "command": "%s start %s" % (self.diyctl, iconf), "env": env,
             "prepare": "rm -rf %s" % cache,
             "show": "diyctl start img.conf after rm -rf of the image cache"},
        ]
        self.measure("image", cmds, self.a.image_runs, 2, self.a.rounds)

    def group_scale(self):
        if "scale" not in self.a.only:
            return
        import run as runpy
        n = self.a.scale
        env = dict(os.environ, DIYCTL_HOST_CONF="%s/host-nftables.conf" % self.work)
        before = runpy.snapshot()
        starts = []
        # The lower bound, run just before each start, as a reference for
        # what the machine's load did meanwhile. Without a network namespace:
        # one of those is torn down in the background after its last process,
        # beside the next start. It still pays the kernel's copy of the host's
        # mount table, which grows by the named netns of each running container.
        refs = []
        names = []
        ref_cmd = [self.a.lowerbound, "-n", "mount,uts,ipc,pid", self.rootfs, "/bin/true"]
        for i in range(n):
            name = "s%03d" % i
            conf = self.conf(name, 'name = "%s";\nrootfs = { path = "%s"; };\n'
                                   'process = { args = [ "/usr/sbin/httpd", "-f", "-p", "80", "-h", "/www" ]; };\n'
                                   'network = { mode = "nat"; ports = ( { host = %d; container = 80; } ); };\n'
                                   % (name, self.rootfs, 20000 + i))
            if ref_cmd:
                t0 = time.perf_counter()
                ref = subprocess.run(ref_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                refs.append(time.perf_counter() - t0)
                if ref.returncode != 0:   # no reference rather than a wrong one
                    self.failures.append(("scale", "lower bound beside %s" % name, ref.stderr.strip()))
                    refs, ref_cmd = [], None
            t0 = time.perf_counter()
            p = subprocess.run([self.diyctl, "start", "-d", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
            t1 = time.perf_counter()
            if p.returncode != 0:
                self.failures.append(("scale", name, p.stderr.strip()))
                log("scale: %s failed: %s" % (name, p.stderr.strip()))
                break
            names.append(name)
            starts.append(t1 - t0)
        # every one serves
        served = 0
        for i, name in enumerate(names):
            if sh([self.a.firstbyte, WAN_HOST, str(20000 + i), "3000"], check=False).returncode == 0:
                served += 1
        t0 = time.perf_counter()
        p = subprocess.run([self.diyctl, "stop", "-t", "0"] + names, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
        stop_all = time.perf_counter() - t0
        if p.returncode != 0:
            self.failures.append(("scale", "stop", p.stderr.strip()))
        diffs = runpy.settled_compare(before) if hasattr(runpy, "settled_compare") else \
            runpy.compare(before, runpy.snapshot())
        self.scale = {"n": len(starts), "starts": starts, "refs": refs[:len(starts)], "served": served,
                      "stop_all": stop_all,
                      "leftovers": diffs}
        if starts:
            log("scale: %d started; 1st %.1f ms, 10th %.1f ms, last %.1f ms; %d served; stop all %.2f s; "
                "leftovers: %s" % (len(starts), starts[0] * 1e3, starts[min(9, len(starts) - 1)] * 1e3,
                                   starts[-1] * 1e3, served, stop_all, "none" if not diffs else list(diffs)))

    # ------------------------------------------------------------ report
    def machine(self):
        def first(path, key):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith(key):
                            return line.split(":", 1)[1].strip()
            except OSError:
                pass
            return "?"
        mem = first("/proc/meminfo", "MemTotal")
        return {
            "host": platform.node(), "kernel": platform.release(), "arch": platform.machine(),
            "cpu": first("/proc/cpuinfo", "model name"), "cores": os.cpu_count(), "memory": mem,
            "load_start": self.load_start, "load_end": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "diyctl_needed": [l.split("[")[1].rstrip("]") for l in
                              sh(["readelf", "-d", self.diyctl], check=False).stdout.splitlines()
                              if "(NEEDED)" in l and "[" in l],
            "versions": {
                "diyctl": version([self.diyctl, "--version"]) + " (" + self.a.diyctl_build + ")",
                "crun": version(["crun", "--version"]), "runc": version(["runc", "--version"]),
                "bubblewrap": version(["bwrap", "--version"]),
                "systemd-nspawn": version(["systemd-nspawn", "--version"]),
                "lxc": "lxc " + version(["lxc-execute", "--version"]),
                "hyperfine": version(["hyperfine", "--version"]),
                "unshare": version(["unshare", "--version"]),
            },
        }

    def by(self, group, name):
        for r in self.results:
            if r["group"] == group and r["name"] == name and "median" in r:
                return r
        return None

    def report(self):
        m = self.machine()
        L = []
        L.append("Machine: %s, %d cores (%s), %s RAM, kernel %s; %s. Load average %.1f at the start, %.1f at the "
                 "end (the machine is shared: other builds and tests ran meanwhile)."
                 % (m["cpu"], m["cores"], m["arch"], m["memory"], m["kernel"], m["date"], m["load_start"][0],
                    m["load_end"][0]))
        L.append("")
        L.append("Versions: " + "; ".join("%s" % v for v in m["versions"].values()) + ".")
        L.append("")
        L.append("diyctl's shared libraries at start (`readelf -d`; libarchive and libnftables are loaded when "
                 "first used): %s." % ", ".join(m["diyctl_needed"]))
        L.append("")
        L.append("Timed by hyperfine (no shell, warm-up runs first), each command's runs split into %d rounds "
                 "with the commands interleaved; in ms; ratio = median / median of the reference row."
                 % self.a.rounds)
        groups = []
        for r in self.results:
            if r["group"] not in groups:
                groups.append(r["group"])
        for g in groups:
            rows = [r for r in self.results if r["group"] == g]
            if g.startswith("true"):
                title, ref = SET_TITLE[g], "lower bound (bench/lowerbound.c)"
            elif g == "nat":
                title, ref = "NAT container with one port forward: start, first byte served from inside, stop", \
                    "diyctl, nftables"
            else:
                title, ref = "image containers: /bin/true start-to-exit", "directory rootfs"
            base = self.by(g, ref)
            L.append("")
            L.append("### " + title)
            L.append("")
            L.append("| command | median ms | mean ms | stddev ms | min ms | runs | ratio to %s |" % ref)
            L.append("|---|---|---|---|---|---|---|")
            for r in rows:
                if "median" not in r:
                    L.append("| %s | failed: %s | | | | | |" % (r["name"], r["error"][:120].replace("|", "/")))
                    continue
                ratio = "%.2f" % (r["median"] / base["median"]) if base else "-"
                L.append("| %s | %.2f | %.2f | %.2f | %.2f | %d | %s |" % (
                    r["name"], r["median"] * 1e3, r["mean"] * 1e3, r["stddev"] * 1e3, r["min"] * 1e3, r["runs"], ratio))
            cmds = [(r["name"], r["command"]) for r in rows]
            L.append("")
            L.append("<details><summary>commands</summary>\n")
            for name, c in cmds:
                L.append("- %s: `%s`" % (name, c))
            L.append("\n</details>")
        if getattr(self, "scale", None) and self.scale["starts"]:
            s = self.scale
            st = s["starts"]
            k = min(10, len(st))
            L.append("")
            L.append("### Scale: %d NAT containers (nftables, one port forward each) started one after another and "
                     "kept running" % s["n"])
            L.append("")
            L.append("| | ms |")
            L.append("|---|---|")
            L.append("| start of the 1st | %.1f |" % (st[0] * 1e3))
            if len(st) >= 10:
                L.append("| start of the 10th | %.1f |" % (st[9] * 1e3))
            L.append("| start of the %dth | %.1f |" % (len(st), st[-1] * 1e3))
            L.append("| median start of the first %d | %.1f |" % (k, statistics.median(st[:k]) * 1e3))
            L.append("| median start of the last %d | %.1f |" % (k, statistics.median(st[-k:]) * 1e3))
            ref = s.get("refs") or []
            if len(ref) >= k:
                L.append("| beside each start, the lower bound's `/bin/true` (mount+uts+ipc+pid): median of the "
                         "first %d / the last %d | %.1f / %.1f |"
                         % (k, k, statistics.median(ref[:k]) * 1e3, statistics.median(ref[-k:]) * 1e3))
            L.append("| stop of all %d (`diyctl stop -t 0` with every name) | %.0f |" % (s["n"], s["stop_all"] * 1e3))
            L.append("")
            L.append("%d of %d answered on their forwarded port while all ran. Host state after stopping all, "
                     "compared with before (tests/integration/run.py's snapshot: links, addresses, routes, "
                     "nftables, iptables, mounts, sysctls, cgroups, state directories, /run/netns): %s."
                     % (s["served"], s["n"], "nothing left" if not s["leftovers"] else
                        "DIFFERENT: " + ", ".join(s["leftovers"])))
        L.append("")
        L.extend(self.targets())
        if self.notes:
            L.append("")
            L.append("Notes:")
            L.extend("- " + n for n in self.notes)
        if self.failures:
            L.append("")
            L.append("Failed measurements:")
            L.extend("- %s / %s: %s" % f for f in self.failures)
        return "\n".join(L) + "\n", m

    def targets(self):
        L = ["### Targets (issue 10)", ""]

        def line(ok, text):
            L.append("- %s %s" % ("MET:" if ok else "MISSED:", text))
        d = self.by("true5", "diyctl")
        dro = self.by("true5", "diyctl (read-only binary)")
        lb = self.by("true5", "lower bound (bench/lowerbound.c)")
        un = self.by("true5", "unshare + chroot")
        for label, x in (("diyctl", d), ("diyctl (read-only binary)", dro)):
            if x and lb and un:
                line(x["median"] <= 1.2 * un["median"],
                     "%s /bin/true with mount+uts+ipc+pid+net at most 1.2x unshare+chroot: %.2fx (%.2f vs %.2f ms)"
                     % (label, x["median"] / un["median"], x["median"] * 1e3, un["median"] * 1e3))
                line(x["median"] <= 1.3 * lb["median"],
                     "%s at most 1.3x the C lower bound: %.2fx (%.2f vs %.2f ms)"
                     % (label, x["median"] / lb["median"], x["median"] * 1e3, lb["median"] * 1e3))
                peers = [self.by("true5", p) for p in ("bubblewrap", "crun", "runc", "systemd-nspawn", "lxc-execute")]
                peers = [p for p in peers if p]
                slower = [p["name"] for p in peers if p["median"] <= x["median"]]
                line(not slower, "%s faster than %s%s" % (label, ", ".join(p["name"] for p in peers),
                                                          "" if not slower else " (not faster than: %s)"
                                                          % ", ".join(slower)))
        nat = self.by("nat", "diyctl, nftables")
        if nat:
            peers = [r for r in self.results if r["group"] == "nat" and "median" in r and
                     not r["name"].startswith("diyctl")]
            slower = [p["name"] for p in peers if p["median"] <= nat["median"]]
            line(not slower and peers, "NAT start+first byte+stop with nftables faster than every peer measured: "
                 "%.1f ms vs %s" % (nat["median"] * 1e3, ", ".join("%s %.1f ms" % (p["name"], p["median"] * 1e3)
                                                                   for p in peers)))
        s = getattr(self, "scale", None)
        if s and len(s["starts"]) >= 10:
            st = s["starts"]
            ref = s.get("refs") or []
            line(st[-1] <= 1.2 * st[0], "the %dth container starts within 1.2x of the 1st: %.2fx (%.1f vs %.1f ms; "
                 "single samples; medians of the last and first ten: %.2fx%s)"
                 % (len(st), st[-1] / st[0], st[-1] * 1e3, st[0] * 1e3,
                    statistics.median(st[-10:]) / statistics.median(st[:10]),
                    "" if len(ref) < 10 else "; the lower bound run beside each start, the same ratio: %.2fx (where "
                    "both rise, the machine's load rose)"
                    % (statistics.median(ref[-10:]) / statistics.median(ref[:10]))))
        ic = self.by("image", "image, cached")
        dr = self.by("image", "directory rootfs")
        dt = self.by("image", "directory rootfs, tmpfs overlay")
        if ic and dr:
            line(ic["median"] <= 1.1 * dr["median"], "cached image start within 1.1x of a directory rootfs start "
                 "(writable = \"direct\", a directory's default): %.2fx (%.2f vs %.2f ms)"
                 % (ic["median"] / dr["median"], ic["median"] * 1e3, dr["median"] * 1e3))
        if ic and dt:
            line(ic["median"] <= 1.1 * dt["median"], "cached image start within 1.1x of a directory rootfs start with "
                 "the same tmpfs overlay (an image's default): %.2fx (%.2f vs %.2f ms)"
                 % (ic["median"] / dt["median"], ic["median"] * 1e3, dt["median"] * 1e3))
        return L

    def chart(self, out_png):
        """Bars of the medians (ms, log scale), one cluster per group."""
        if not shutil.which("gnuplot"):
            self.notes.append("gnuplot not installed: no chart")
            return
        dat = os.path.join(self.work, "chart.dat")
        groups = []
        for r in self.results:
            if r["group"] not in groups:
                groups.append(r["group"])
        with open(dat, "w") as f:
            for g in groups:
                for r in self.results:
                    if r["group"] == g and "median" in r:
                        f.write('"%s" %.3f\n' % (r["name"].replace('"', "'"), r["median"] * 1e3))
                f.write("\n\n")
        blocks = []
        i = 0
        for g in groups:
            n = sum(1 for r in self.results if r["group"] == g and "median" in r)
            blocks.append((g, n))
        gp = os.path.join(self.work, "chart.gp")
        with open(gp, "w") as f:
            f.write('set terminal png size 1400,%d font ",9"\nset output "%s"\n' % (240 * len(groups) + 100, out_png))
            f.write("set multiplot layout %d,1 title \"diyctl and peers: median ms (log scale), %s\"\n"
                    % (len(groups), time.strftime("%Y-%m-%d")))
            f.write("set style data histogram\nset style fill solid 0.8\nset boxwidth 0.8\nset logscale y\n"
                    "set grid ytics\nset xtics rotate by -15 left\nset lmargin 10\nset bmargin 6\n")
            for idx, (g, n) in enumerate(blocks):
                f.write('set title "%s"\n' % SET_TITLE.get(g, {"nat": "NAT: start, first byte, stop",
                                                                "image": "image containers"}.get(g, g)))
                f.write('plot "%s" index %d using 2:xtic(1) notitle lc rgb "#3b78b0", '
                        "'' index %d using 0:2:(sprintf(\"%%.1f\",$2)) with labels offset 0,0.7 notitle\n"
                        % (dat, idx, idx))
            f.write("unset multiplot\n")
        p = sh(["gnuplot", gp], check=False)
        if p.returncode != 0:
            self.notes.append("gnuplot failed: %s" % p.stderr.strip()[:300])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/run/bench")
    ap.add_argument("--out", required=True)
    ap.add_argument("--diyctl", required=True)
    ap.add_argument("--diyctl-build", default="?")
    ap.add_argument("--lowerbound", required=True)
    ap.add_argument("--firstbyte", required=True)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nat-runs", type=int, default=20)
    ap.add_argument("--image-runs", type=int, default=20)
    ap.add_argument("--scale", type=int, default=100)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--only", default="true4,true5,true6,nat,image,scale")
    a = ap.parse_args()
    a.only = set(a.only.split(","))
    b = Bench(a)
    b.load_start = os.getloadavg()
    b.setup()
    b.group_true()
    b.group_nat()
    b.group_image()
    b.group_scale()
    os.makedirs(a.out, exist_ok=True)
    b.chart(os.path.join(a.out, "chart.png"))
    md, machine = b.report()
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"machine": machine, "results": b.results, "scale": getattr(b, "scale", None),
                   "failures": b.failures, "notes": b.notes}, f, indent=1)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
