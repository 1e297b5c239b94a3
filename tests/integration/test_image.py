"""Issue 6: images. Containers from rootfs tarballs and `docker image save`
archives (both layouts Docker writes), unpacked safely into the cache, layered
with overlayfs; hostile archives refused without touching the host.

The archives are made here, with tarfile, from the busybox test rootfs: a
classic docker-save (manifest.json, <id>/layer.tar, <config>.json) and the
layout of Docker 25 and later (index.json, oci-layout, blobs/sha256/...,
manifest.json), with gzip and plain layers, and an upper layer that deletes a
file and replaces a directory opaquely."""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

CACHE = "/var/lib/diyctl/images"


# ---------------------------------------------------------------- archives

def _sha(b):
    return hashlib.sha256(b).hexdigest()


def _info(name, kind=tarfile.REGTYPE, mode=0o644, size=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.size = size
    ti.mtime = 1700000000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def _add_entries(tf, entries):
    for e in entries:
        name, kind = e[0], e[1]
        arg = e[2] if len(e) > 2 else None
        if kind == "dir":
            tf.addfile(_info(name, tarfile.DIRTYPE, 0o755))
        elif kind == "file":
            data = arg.encode() if isinstance(arg, str) else (arg or b"")
            tf.addfile(_info(name, size=len(data), mode=e[3] if len(e) > 3 else 0o644), io.BytesIO(data))
        elif kind == "symlink":
            tf.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=arg))
        elif kind == "hardlink":
            tf.addfile(_info(name, tarfile.LNKTYPE, linkname=arg))
        elif kind in ("chr", "blk"):
            tf.addfile(_info(name, tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE, 0o666,
                             devmajor=arg[0], devminor=arg[1]))
        else:
            raise ValueError(kind)


def layer_tar(entries):
    """An uncompressed tar of entries: (name, "dir"|"file"|"symlink"|"hardlink"|"chr"|"blk", data/target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add_entries(tf, entries)
    return buf.getvalue()


def dir_tar(root, extra=()):
    """A layer from a directory, as docker would write it (names without ./),
    then the EXTRA entries (as for layer_tar)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for n in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, n)
                tf.add(full, arcname=os.path.relpath(full, root), recursive=False)
        _add_entries(tf, extra)
    return buf.getvalue()


def compress(data, how):
    if how is None:
        return data
    if how == "gzip":
        return gzip.compress(data, 6, mtime=0)
    if how in ("zstd", "xz", "bzip2"):
        return subprocess.run([how, "-c", "-q"], input=data, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(how)


def image_config(layers_raw, cmd=None, env=None, workdir=None, entrypoint=None, user=None, diff_ids=None,
                 stop_signal=None):
    c = {}
    if stop_signal is not None:
        c["StopSignal"] = stop_signal
    if cmd is not None:
        c["Cmd"] = cmd
    if entrypoint is not None:
        c["Entrypoint"] = entrypoint
    if env is not None:
        c["Env"] = env
    if workdir is not None:
        c["WorkingDir"] = workdir
    if user is not None:
        c["User"] = user
    return {"architecture": "amd64", "os": "linux", "config": c,
            "rootfs": {"type": "layers",
                       "diff_ids": diff_ids if diff_ids is not None else ["sha256:" + _sha(l) for l in layers_raw]},
            "history": [{"created_by": "diyctl test"} for _ in layers_raw]}


def docker_save(path, images, layout="classic", outer=None):
    """Write a `docker image save` archive. images: dicts with "tags", "layers"
    (uncompressed tars), "compress" (per layer: None, "gzip", "zstd", ...),
    and config keys (cmd, env, workdir, entrypoint, user, diff_ids, stop_signal)."""
    members = {}  # name -> bytes, in order
    manifest = []
    index = []
    for im in images:
        raw = im["layers"]
        comp = im.get("compress") or [None] * len(raw)
        blobs = [compress(l, c) for l, c in zip(raw, comp)]
        cfg = json.dumps(image_config(raw, **{k: im[k] for k in ("cmd", "env", "workdir", "entrypoint", "user",
                                                                   "diff_ids", "stop_signal") if k in im}),
                         sort_keys=True).encode()
        if layout == "classic":
            cname = _sha(cfg) + ".json"
            lnames = []
            for i, b in enumerate(blobs):
                lid = _sha(("%d" % i).encode() + b)
                members[lid + "/VERSION"] = b"1.0"
                members[lid + "/json"] = json.dumps({"id": lid}).encode()
                members[lid + "/layer.tar"] = b
                lnames.append(lid + "/layer.tar")
        else:
            cname = "blobs/sha256/" + _sha(cfg)
            lnames = []
            ldescs = []
            for b, c in zip(blobs, comp):
                lnames.append("blobs/sha256/" + _sha(b))
                members["blobs/sha256/" + _sha(b)] = b
                mt = "application/vnd.oci.image.layer.v1.tar" + {None: "", "gzip": "+gzip", "zstd": "+zstd"}.get(c, "")
                ldescs.append({"mediaType": mt, "digest": "sha256:" + _sha(b), "size": len(b)})
            man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                         "digest": "sha256:" + _sha(cfg), "size": len(cfg)},
                              "layers": ldescs}).encode()
            members["blobs/sha256/" + _sha(man)] = man
            for tag in im["tags"] or [None]:
                d = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + _sha(man),
                     "size": len(man)}
                if tag:
                    full = tag if "/" in tag else "docker.io/library/" + tag
                    d["annotations"] = {"io.containerd.image.name": full,
                                        "org.opencontainers.image.ref.name": tag.rsplit(":", 1)[1]}
                index.append(d)
        members[cname] = cfg
        manifest.append({"Config": cname, "RepoTags": im["tags"], "Layers": lnames})
    if layout != "classic":
        members["index.json"] = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                            "manifests": index}).encode()
        members["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    members["manifest.json"] = json.dumps(manifest).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs = set()
        for name, data in members.items():
            d = os.path.dirname(name)
            while d and d not in dirs:
                dirs.add(d)
                tf.addfile(_info(d, tarfile.DIRTYPE, 0o755))
                d = os.path.dirname(d)
            tf.addfile(_info(name, size=len(data)), io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(compress(buf.getvalue(), outer))
    return path


def base_and_upper(t):
    """The busybox rootfs as a base layer (with /opt/data/{a,b} and /etc/deleteme),
    and an upper layer that deletes /etc/deleteme, replaces /opt/data opaquely
    with c only, and adds /upper-was-here."""
    r = t.rootfs("image-src")
    os.makedirs(os.path.join(r, "opt", "data", "sub"))
    for n in ("a", "b", "sub/x"):
        with open(os.path.join(r, "opt", "data", n), "w") as f:
            f.write(n)
    with open(os.path.join(r, "etc", "deleteme"), "w") as f:
        f.write("base")
    base = dir_tar(r)
    upper = layer_tar([("etc", "dir"), ("etc/.wh.deleteme", "file", ""), ("opt", "dir"), ("opt/data", "dir"),
                       ("opt/data/.wh..wh..opq", "file", ""), ("opt/data/c", "file", "c"),
                       ("upper-was-here", "file", "yes\n")])
    return base, upper


CHECK = ("echo deleted=$(test -e /etc/deleteme && echo no || echo yes); echo data=$(ls /opt/data | tr '\\n' ' ');"
         " echo upper=$(cat /upper-was-here); echo cwd=$(pwd) foo=$FOO uid=$(id -u)")


def prune_after(t):
    t.defer(t.diyctl, "image", "prune", check=True)


def entries(t):
    p = t.diyctl("image", "list", "--json", check=True)
    return json.loads(p.stdout)["entries"]


# ---------------------------------------------------------------- images

def _layered(t, layout, compress):
    prune_after(t)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "img.tar"), [{
        "tags": ["diyctl/test:1"], "layers": [base, upper], "compress": compress,
        "cmd": ["/bin/sh", "-c", CHECK], "env": ["PATH=/bin:/sbin", "FOO=from-image"], "workdir": "/opt/data",
        "user": "1000:1000"}], layout=layout)
    conf = t.conf("img", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.diyctl("start", conf, check=True)
    out = p.stdout
    t.contains(out, "deleted=yes", "the file deleted by the upper layer is gone")
    t.contains(out, "data=c\n", "the opaque directory holds only the upper layer's files")
    t.contains(out, "upper=yes", "the upper layer's own file is there")
    t.contains(out, "cwd=/opt/data foo=from-image uid=1000", "Cmd ran with the image's Env, WorkingDir and User")
    t.eq(p.stderr, "", "nothing on stderr off a terminal")
    es = entries(t)
    t.eq(sorted(e["kind"] for e in es), ["layer", "layer"], "two layers in the cache")
    t.eq(sorted(e["id"] for e in es), sorted("sha256:" + _sha(x) for x in (base, upper)),
         "layers are keyed by their uncompressed digest (diff_id)")
    # process keys override the image config
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "echo $FOO $BAR $(pwd) $(id -u)"]',
                 "--set", 'process.env=["FOO=from-conf", "BAR=2"]', "--set", 'process.cwd="/tmp"',
                 "--set", 'process.user="0:0"', check=True)
    t.eq(p.stdout.strip(), "from-conf 2 /tmp 0", "process.args/env/cwd/user override the image config")
    return arch, conf, base, upper


def test_image_classic_layout_gzip_and_plain_layers(t):
    _layered(t, "classic", ["gzip", None])


def test_image_docker25_oci_layout(t):
    arch, conf, base, upper = _layered(t, "oci", [None, "gzip"])
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "image-unpack", "the plan shows the unpack steps")
    t.contains(plan, "layer 1/2 of diyctl/test:1", "with the layer and image named")


def test_image_zstd_xz_layers_and_gzipped_archive(t):
    prune_after(t)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "z.tar.gz"), [{
        "tags": ["z:latest"], "layers": [base, upper], "compress": ["zstd", "xz"],
        "cmd": ["/bin/sh", "-c", CHECK]}], layout="oci", outer="gzip")
    conf = t.conf("z", 'rootfs = { image = "%s"; };\n' % arch)
    out = t.diyctl("start", conf, check=True).stdout
    t.contains(out, "deleted=yes", "zstd and xz layers in a gzipped archive")
    t.contains(out, "data=c\n", "opaque directory")


def test_image_tags_select_among_several(t):
    prune_after(t)
    r = t.rootfs("src2")
    base = dir_tar(r)
    one = layer_tar([("which", "file", "one\n")])
    two = layer_tar([("which", "file", "two\n")])
    for layout in ("classic", "oci"):
        arch = docker_save(os.path.join(t.tmp, "multi-%s.tar" % layout), [
            {"tags": ["multi:one"], "layers": [base, one], "cmd": ["/bin/cat", "/which"]},
            {"tags": ["example.com/team/multi:two", "multi:latest"], "layers": [base, two],
             "cmd": ["/bin/cat", "/which"]}], layout=layout)
        conf = t.conf("m", 'rootfs = { image = "%s"; };\n' % arch)
        p = t.diyctl("start", conf, check=125)
        t.contains(p.stderr, "holds 2 images", "%s: no tag, several images: an error" % layout)
        t.contains(p.stderr, "rootfs.tag", "that says which key chooses")
        t.contains(p.stderr, "multi:one", "and lists the tags")
        t.eq(t.diyctl("start", conf, "--set", 'rootfs.tag="multi:one"', check=True).stdout, "one\n",
             "%s: the tag chooses the image" % layout)
        t.eq(t.diyctl("start", conf, "--set", 'rootfs.tag="example.com/team/multi:two"', check=True).stdout, "two\n",
             "%s: a full reference" % layout)
        t.eq(t.diyctl("start", conf, "--set", 'rootfs.tag="multi"', check=True).stdout, "two\n",
             "%s: no tag means :latest" % layout)
        p = t.diyctl("start", conf, "--set", 'rootfs.tag="nope:1"', check=125)
        t.contains(p.stderr, "rootfs.tag: ", "%s: an unknown tag is an error at rootfs.tag" % layout)
        t.contains(p.stderr, "has no image nope:1", "naming it")
    # the base layer is shared by all four images
    ids = [e["id"] for e in entries(t)]
    t.eq(ids.count("sha256:" + _sha(base)), 1, "a layer shared by images is unpacked once")


def test_image_second_start_is_cached(t):
    prune_after(t)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "c.tar"), [{"tags": ["c:1"], "layers": [base, upper], "compress": ["gzip", None],
                                                       "cmd": ["/bin/sleep", "60"]}], layout="oci")
    conf = t.conf("cached", 'rootfs = { image = "%s"; };\n' % arch)

    def memo_args():
        plan = json.loads(t.diyctl("plan", "--json", conf, check=True).stdout)
        return [dict(s["args"]).get("memo") for s in plan["steps"] if s["kind"] == "image-unpack"]

    # The plan reads the archive once, and the start remembers what it found
    # (keyed by the file's stat); later plans read only that memo.
    t.eq(memo_args(), [None, "1"], "before any start the plan read the archive: its last unpack step writes the memo")
    t.diyctl("start", "-d", conf, check=True)
    st = json.loads(t.diyctl("status", "--json", "cached", check=True).stdout)
    t.log(st)
    s1 = json.dumps(st)
    t.contains(s1, '"image.unpacked": "2"', "the first start unpacked both layers")
    es = entries(t)
    t.eq([e["users"] for e in es], [["cached"], ["cached"]], "image list shows the running user of each layer")
    ino = {e["id"]: os.stat(e["path"]).st_ino for e in es}
    created = {e["id"]: e["created"] for e in es}
    t.diyctl("stop", "-t", "1", "cached", check=True)
    t.eq([e["users"] for e in entries(t)], [[], []], "no user once stopped; the entries stay")
    t.eq(memo_args(), [None, None], "a plan made from the memo writes none")
    os.utime(arch, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    t.eq(memo_args(), [None, "1"], "once the archive changed, the plan reads it again and the start remembers it anew")
    t.diyctl("start", "-d", conf, check=True)
    st = json.dumps(json.loads(t.diyctl("status", "--json", "cached", check=True).stdout))
    t.contains(st, '"image.cached": "2"', "the second start took both layers from the cache")
    t.ok('"image.unpacked"' not in st, "and unpacked nothing")
    es = entries(t)
    t.eq({e["id"]: os.stat(e["path"]).st_ino for e in es}, ino, "the cache directories are the same inodes")
    t.eq({e["id"]: e["created"] for e in es}, created, "and were not recreated")
    p = t.diyctl("image", "prune", check=True)
    t.contains(p.stdout, "kept layer", "prune keeps what a running container uses")
    t.eq(len(entries(t)), 2, "both still there")
    t.diyctl("stop", "-t", "1", "cached", check=True)
    t.eq(memo_args(), [None, None], "the memo was renewed")
    # the cache's own directories are made where one is missing: here the holders'
    cache = os.path.dirname(os.path.dirname(entries(t)[0]["path"]))
    shutil.rmtree(os.path.join(cache, "holders"))
    t.diyctl("start", "-d", conf, check=True)
    t.eq([e["users"] for e in entries(t)], [["cached"], ["cached"]], "a cached start registers as the layers' user")
    t.diyctl("stop", "-t", "1", "cached", check=True)
    # a prune of everything removes the cache's directories too; the next start makes them again
    t.diyctl("image", "prune", check=True)
    t.eq(entries(t), [], "pruned")
    t.diyctl("start", "-d", conf, check=True)
    st = json.dumps(json.loads(t.diyctl("status", "--json", "cached", check=True).stdout))
    t.contains(st, '"image.unpacked": "2"', "after the prune the layers are unpacked again")
    t.diyctl("stop", "-t", "1", "cached", check=True)
    # an entry whose tree was removed by hand is unpacked again, not mounted as nothing
    damaged = entries(t)[0]
    shutil.rmtree(os.path.join(damaged["path"], "tree"))
    t.diyctl("start", "-d", conf, check=True)
    st = json.dumps(json.loads(t.diyctl("status", "--json", "cached", check=True).stdout))
    t.contains(st, '"image.unpacked": "1"', "the damaged layer was unpacked again")
    t.contains(st, '"image.cached": "1"', "the other taken from the cache")
    t.diyctl("stop", "-t", "1", "cached", check=True)


def test_image_workdir_that_the_image_lacks(t):
    """A WorkingDir the layers do not have is made at start, as Docker does;
    a process.cwd that does not exist is still an error."""
    prune_after(t)
    base, _ = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "wd.tar"), [{"tags": ["wd:1"], "layers": [base], "workdir": "/srv/made/here",
                                                        "cmd": ["/bin/sh", "-c", "pwd; stat -c %a /srv/made/here"],
                                                        "env": ["PATH=/bin:/usr/bin"], "user": "65534:65534"}])
    conf = t.conf("wd", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.diyctl("start", conf, check=True)
    t.eq(p.stdout.split(), ["/srv/made/here", "755"], "the WorkingDir was made (0755) and the command runs there")
    p = t.diyctl("start", conf, "--set", 'process.cwd="/not/there"')
    t.eq(p.returncode, 125, "a process.cwd that does not exist is not made")
    t.contains(p.stderr, "process.cwd: /not/there: No such file or directory", "and is named")


def test_image_default_path_and_home(t):
    """An image whose Env has no PATH runs with Docker's default one (its
    scripts call programs by name), and with HOME from the user's passwd
    entry; what the image or process.env sets wins; exec does the same."""
    prune_after(t)
    base, _ = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "np.tar"), [{"tags": ["np:1"], "layers": [base],
                                                        "cmd": ["/bin/sh", "-c", "echo $PATH; echo $HOME"],
                                                        "env": ["A=1"]}])
    conf = t.conf("np", 'rootfs = { image = "%s"; };\n' % arch)
    t.eq(t.diyctl("start", conf, check=True).stdout.split(),
         ["/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/root"],
         "Docker's default PATH, and root's home")
    t.eq(t.diyctl("start", conf, "--set", 'process.env=["PATH=/bin","HOME=/srv"]', check=True).stdout.split(),
         ["/bin", "/srv"], "process.env overrides both")
    t.eq(t.diyctl("start", conf, "--set", 'process.user="nobody"', check=True).stdout.split()[1], "/nonexistent",
         "another user's home")
    t.eq(t.diyctl("start", conf, "--set", 'process.user="4242"', check=True).stdout.split()[1], "/",
         "a uid passwd does not know: /")
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sleep","60"]', check=True)
    t.defer(t.diyctl, "stop", "-t", "1", "np")
    t.eq(t.diyctl("exec", "-u", "nobody", "np", "/bin/sh", "-c", "echo $HOME", check=True).stdout.strip(),
         "/nonexistent", "exec: the home of its user")
    t.diyctl("stop", "-t", "1", "np", check=True)
    # a directory rootfs keeps its empty environment (env -i)
    d = t.conf("dir", 'rootfs = { path = "%s"; };\nprocess = { args = ["/bin/sh", "-c", "echo [$HOME]"]; };\n'
               % t.rootfs())
    t.eq(t.diyctl("start", d, check=True).stdout.strip(), "[]", "no HOME is added outside images")
    arch = docker_save(os.path.join(t.tmp, "wp.tar"), [{"tags": ["wp:1"], "layers": [base],
                                                        "cmd": ["/bin/sh", "-c", "echo $PATH"], "env": ["PATH=/sbin:/bin"]}])
    conf = t.conf("wp", 'rootfs = { image = "%s"; };\n' % arch)
    t.eq(t.diyctl("start", conf, check=True).stdout.strip(), "/sbin:/bin", "the image's own PATH stays")


def test_image_stop_signal(t):
    """An image's StopSignal (Docker's STOPSIGNAL: nginx's SIGQUIT, postgres's
    SIGINT) is what stop sends first, also when the start takes the image
    from the memo; process.stop_signal overrides it; a StopSignal diyctl
    cannot use fails the plan, unless process.stop_signal is set."""
    prune_after(t)
    base, _ = base_and_upper(t)
    script = ("trap 'echo QUIT > /out/sig; exit 0' QUIT; trap 'echo INT > /out/sig; exit 0' INT; "
              "trap 'echo TERM > /out/sig; exit 0' TERM; echo started; while :; do sleep 0.1; done")
    out = os.path.join(t.tmp, "out")
    os.makedirs(out)
    vol = 'volumes = ( { source = "%s"; target = "/out"; } );\n' % out

    def image(name, stop_signal):
        return docker_save(os.path.join(t.tmp, name), [{"tags": ["s:1"], "layers": [base],
                                                        "cmd": ["/bin/sh", "-c", script], "env": ["PATH=/bin"],
                                                        "stop_signal": stop_signal}])

    def stopped_with(conf):
        sig = os.path.join(out, "sig")
        if os.path.exists(sig):
            os.unlink(sig)
        t.diyctl("start", "-d", conf, check=True)
        t.wait_for(lambda: "started" in t.diyctl("logs", "stopsig").stdout, msg="the traps are set")
        t.diyctl("stop", "-t", "30", "stopsig", check=True)
        with open(sig) as f:
            return f.read().strip()

    arch = image("quit.tar", "quit")   # Docker takes any case, and numbers
    conf = t.conf("stopsig", 'rootfs = { image = "%s"; };\n%s' % (arch, vol))
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "stopped with SIGQUIT", "the plan shows the image's StopSignal")
    ex = [s for s in json.loads(t.diyctl("plan", "--json", conf, check=True).stdout)["steps"] if s["kind"] == "exec"][0]
    t.ok(dict(ex["args"])["stop-signal-origin"].endswith("image config StopSignal"),
         "and says where it came from: %s" % dict(ex["args"])["stop-signal-origin"])
    t.eq(stopped_with(conf), "QUIT", "stop sent the image's StopSignal")
    t.eq(stopped_with(conf), "QUIT", "also when the start took the image config from the memo")
    t.eq(stopped_with(t.conf("stopsig", 'rootfs = { image = "%s"; };\nprocess = { stop_signal = 2; };\n%s'
                             % (arch, vol))), "INT", "process.stop_signal overrides the image's")
    arch = image("bad.tar", "SIGSEGV")
    bad = t.conf("stopsig", 'rootfs = { image = "%s"; };\n%s' % (arch, vol))
    p = t.diyctl("plan", bad)
    t.eq(p.returncode, 1, "a StopSignal that cannot stop a container fails the plan")
    t.contains(p.stderr, "StopSignal SIGSEGV is not a signal a container can be stopped with; set process.stop_signal",
               "and says what to do")
    t.eq(stopped_with(t.conf("stopsig", 'rootfs = { image = "%s"; };\nprocess = { stop_signal = "SIGTERM"; };\n%s'
                             % (arch, vol))), "TERM", "process.stop_signal set: the image's is not used")


def test_image_writable_tmpfs_vs_directory(t):
    prune_after(t)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "w.tar"), [{"tags": ["w:1"], "layers": [base, upper]}])
    conf = t.conf("w", 'rootfs = { image = "%s"; };\n' % arch)
    write = 'process.args=["/bin/sh", "-c", "cat /made 2>/dev/null || echo none; echo new > /made; rm -f /bin/ls"]'
    t.eq(t.diyctl("start", conf, "--set", write, check=True).stdout, "none\n", "first start: no file")
    t.eq(t.diyctl("start", conf, "--set", write, check=True).stdout, "none\n",
         "writable = tmpfs (the default): changes vanish at stop")
    for e in entries(t):
        t.ok(not os.path.exists(os.path.join(e["path"], "tree", "made")), "the cached tree is never written")
    t.ok(any(os.path.exists(os.path.join(e["path"], "tree", "bin", "ls")) for e in entries(t)),
         "a file deleted in the container is still in the cache")
    upper_dir = os.path.join(t.tmp, "upper")
    os.mkdir(upper_dir)
    conf = t.conf("wd", 'rootfs = { image = "%s"; writable = "%s"; };\n' % (arch, upper_dir))
    t.eq(t.diyctl("start", conf, "--set", write, check=True).stdout, "none\n", "a directory upper starts empty")
    t.eq(t.diyctl("start", conf, "--set", write, check=True).stdout, "new\n", "and keeps changes between starts")
    conf = t.conf("wn", 'rootfs = { image = "%s"; writable = "none"; };\n' % arch)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "echo x > /y"]', check=False)
    t.ok(p.returncode != 0 and "Read-only" in p.stderr, "writable = none: a read-only root of several layers")


def test_image_concurrent_starts_unpack_once(t):
    prune_after(t)
    r = t.rootfs("big")
    with open(os.path.join(r, "bulk"), "wb") as f:
        f.write(os.urandom(64 << 20))
    arch = docker_save(os.path.join(t.tmp, "big.tar"), [{"tags": ["big:1"], "layers": [dir_tar(r)],
                                                         "cmd": ["/bin/sleep", "60"]}])
    confs = [t.conf("par%d" % i, 'rootfs = { image = "%s"; };\n' % arch) for i in range(3)]
    procs = [t.spawn([t.diyctl_bin, "start", "-d", c], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for c in confs]
    for p in procs:
        p.wait(timeout=120)
        t.eq(p.returncode, 0, "every concurrent start succeeds: %s" % p.stderr.read().decode())
    unpacked = cached = 0
    for i in range(3):
        st = json.loads(t.diyctl("status", "--json", "par%d" % i, check=True).stdout)
        s = json.dumps(st)
        unpacked += '"image.unpacked": "1"' in s
        cached += '"image.cached": "1"' in s
    t.eq((unpacked, cached), (1, 2), "one start unpacked the layer, the others waited and used it")
    es = entries(t)
    t.eq(len(es), 1, "one cache entry")
    t.eq(sorted(es[0]["users"]), ["par0", "par1", "par2"], "used by all three")
    # The container that created the shared parent cgroup goes last (its undo
    # removes the parent only when it made it; see the note in the report).
    order = sorted(range(3), key=lambda i: "parent=" in t.diyctl("journal", "par%d" % i, check=True).stdout)
    for i in order:
        t.diyctl("stop", "-t", "1", "par%d" % i, check=True)


def test_image_interrupted_unpack_never_looks_complete(t):
    prune_after(t)
    r = t.rootfs("big")
    with open(os.path.join(r, "bulk"), "wb") as f:
        f.write(os.urandom(96 << 20))
    arch = docker_save(os.path.join(t.tmp, "big.tar"), [{"tags": ["big:1"], "layers": [dir_tar(r)],
                                                         "compress": ["gzip"], "cmd": ["/bin/true"]}])
    conf = t.conf("cut", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.spawn([t.diyctl_bin, "start", conf])
    tmp = os.path.join(CACHE, "tmp")

    def writing_bulk():
        for d in os.listdir(tmp) if os.path.isdir(tmp) else []:
            if os.path.exists(os.path.join(tmp, d, "tree", "bulk")):
                return True
        return False
    t.wait_for(writing_bulk, timeout=60, interval=0.01, msg="the unpack began")
    p.kill()  # SIGKILL, mid-unpack
    p.wait()
    t.eq(entries(t), [], "a half unpack is not a cache entry")
    t.ok(os.listdir(tmp), "its temporary directory is what is left")
    t.diyctl("cleanup", "cut", check=True)
    t.eq(os.listdir(tmp) if os.path.isdir(tmp) else [], [], "cleanup removed the half unpack (it was journaled)")
    t.eq(t.diyctl("start", conf, check=True).returncode, 0, "the next start unpacks it whole")
    t.eq(len(entries(t)), 1, "and it is in the cache")


def test_image_progress_on_a_terminal_only(t):
    prune_after(t)
    r = t.rootfs("big")
    with open(os.path.join(r, "bulk"), "wb") as f:
        f.write(os.urandom(160 << 20))
    arch = docker_save(os.path.join(t.tmp, "big.tar"), [{"tags": ["big:1"], "layers": [dir_tar(r)],
                                                         "compress": ["gzip"], "cmd": ["/bin/true"]}])
    conf = t.conf("pg", 'rootfs = { image = "%s"; };\n' % arch)
    rc = t.pty_run([t.diyctl_bin, "start", conf], timeout=120)
    t.eq(rc, 0, "started on a terminal")
    t.contains(t.pty_output, "unpacking layer 1/1 of big:1", "a progress line names the layer")
    t.contains(t.pty_output, " MB", "and counts bytes")
    t.diyctl("image", "prune", check=True)
    p = t.diyctl("start", conf, check=True)
    t.eq(p.stderr, "", "off a terminal: nothing but errors")


def test_image_list_and_prune(t):
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "l.tar"), [{"tags": ["l:1"], "layers": [base, upper]}])
    tb = os.path.join(t.tmp, "root.tar.gz")
    with open(tb, "wb") as f:
        f.write(compress(base, "gzip"))
    t.diyctl("start", t.conf("l", 'rootfs = { image = "%s"; };\n' % arch), "--set", 'process.args=["/bin/true"]',
             check=True)
    t.diyctl("start", t.conf("tb", 'rootfs = { tarball = "%s"; };\n' % tb), "--set", 'process.args=["/bin/true"]',
             check=True)
    out = t.diyctl("image", "list", check=True).stdout
    t.contains(out, "tarball", "list shows the tarball")
    t.contains(out, "layer 2/2 of l:1", "and the layers, named")
    t.contains(out, "3 entries", "three entries")
    es = entries(t)
    p = t.diyctl("image", "prune", "-n", check=True)
    t.contains(p.stdout, "3 entries would be removed", "a dry run")
    t.eq(len(entries(t)), 3, "removes nothing")
    tbid = [e["id"] for e in es if e["kind"] == "tarball"][0]
    p = t.diyctl("image", "prune", tbid[7:19], check=True)
    t.contains(p.stdout, "removed tarball", "an entry by id prefix")
    t.eq(len(entries(t)), 2, "only that one")
    t.diyctl("image", "prune", "deadbeef", check=1)
    for bad in ("bogus:zzz", "layer:", "DEADBEEF", "sha256:xyz", "a" * 65, ""):
        p = t.diyctl("image", "prune", "-n", bad, check=1)
        t.contains(p.stderr, '"%s" is not a cache id' % bad, "a malformed id is named as such")
    t.eq(len(entries(t)), 2, "and nothing was removed")
    t.diyctl("image", "prune", check=True)
    t.eq(entries(t), [], "prune removes what no container uses")
    t.ok(not os.path.exists(CACHE), "and an empty cache leaves nothing behind")


# ---------------------------------------------------------------- tarballs

def test_tarball_formats_and_cache(t):
    prune_after(t)
    r = t.rootfs("tsrc")
    raw = dir_tar(r)
    for how, ext in ((None, "tar"), ("gzip", "tar.gz"), ("xz", "tar.xz"), ("zstd", "tar.zst"), ("bzip2", "tar.bz2")):
        tb = os.path.join(t.tmp, "rootfs." + ext)
        with open(tb, "wb") as f:
            f.write(compress(raw, how))
        conf = t.conf("tb", 'rootfs = { tarball = "%s"; };\n' % tb)
        p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "cat /www/index.html >/dev/null && echo ok-%s"]' % ext,
                     check=True)
        t.eq(p.stdout, "ok-%s\n" % ext, "a %s rootfs tarball runs" % ext)
    es = entries(t)
    t.eq(len(es), 5, "one cache entry per tarball (keyed by the file's sha256)")
    tbgz = [e for e in es if e["archive"].endswith(".tar.gz")][0]
    t.eq(tbgz["id"], "sha256:" + _sha(open(os.path.join(t.tmp, "rootfs.tar.gz"), "rb").read()), "the key is the file's digest")
    ino = os.stat(tbgz["path"]).st_ino
    conf = t.conf("tb", 'rootfs = { tarball = "%s"; };\n' % os.path.join(t.tmp, "rootfs.tar.gz"))
    t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=True)
    t.eq(os.stat(tbgz["path"]).st_ino, ino, "a second start reuses the entry")
    # a changed file is a new entry
    with open(os.path.join(t.tmp, "rootfs.tar.gz"), "ab") as f:
        f.write(b"\0" * 1024)
    t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=True)
    t.eq(len(entries(t)), 6, "a changed tarball is unpacked again, under its new digest")


def test_check_looks_into_a_cached_tarball(t):
    """check and plan look into a tarball already in the cache as into a
    directory rootfs: a program it lacks, or a mount point it lacks under
    writable = "none", is named before the start. Before the first unpack
    there is nothing to look into, and check says nothing of it."""
    prune_after(t)
    tb = os.path.join(t.tmp, "rootfs.tar")
    with open(tb, "wb") as f:
        f.write(dir_tar(t.rootfs("tb")))
    bad = t.conf("tbbad", 'rootfs = { tarball = "%s"; };\nprocess = { args = [ "/bin/nope" ]; };\n' % tb)
    good = t.conf("tbok", 'rootfs = { tarball = "%s"; };\nprocess = { args = [ "/bin/true" ]; };\n' % tb)
    none = t.conf("tbnone", 'rootfs = { tarball = "%s"; writable = "none"; };\n'
                            'volumes = ( { type = "tmpfs"; target = "/nothere"; } );\n'
                            'process = { args = [ "/bin/true" ]; };\n' % tb)
    t.eq(t.diyctl("check", bad, none).returncode, 0, "not unpacked yet: nothing to look into")
    t.diyctl("start", good, check=True)
    t.eq(len(entries(t)), 1, "the start unpacked it into the cache")
    p = t.diyctl("check", bad)
    t.eq(p.returncode, 1, "cached: check finds the missing program")
    t.contains(p.stderr, "tbbad.conf:2: process.args: /bin/nope: no such executable file in the rootfs",
               "naming the key")
    p = t.diyctl("plan", bad)
    t.eq(p.returncode, 1, "plan too")
    p = t.diyctl("check", none)
    t.eq(p.returncode, 1, "cached: check finds the missing mount point under writable = \"none\"")
    t.contains(p.stderr, "/nothere is not in the rootfs", "naming it")
    t.eq(t.diyctl("check", good).returncode, 0, "a config the tarball has all of passes")
    s = t.diyctl("start", bad)
    t.eq(s.returncode, 127, "and start, which does not look, fails at the exec as before: %r" % s.stderr)


def test_tarball_like_docker_export(t):
    """A `docker export`: ./-prefixed names, a root entry, /dev/console and
    .dockerenv. The device node is skipped with a warning, the rest runs."""
    prune_after(t)
    r = t.rootfs("exp")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.add(r, arcname=".")
        tf.addfile(_info("./.dockerenv"), io.BytesIO(b""))
        tf.addfile(_info("./dev/console", tarfile.CHRTYPE, 0o600, devmajor=5, devminor=1))
    tb = os.path.join(t.tmp, "export.tar")
    with open(tb, "wb") as f:
        f.write(raw.getvalue())
    conf = t.conf("exp", 'rootfs = { tarball = "%s"; };\n' % tb)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "test -e /.dockerenv && echo ok"]', check=True)
    t.eq(p.stdout, "ok\n", "the exported rootfs runs")
    t.contains(p.stderr, "dev/console: character device 5:1 not unpacked", "the device node is skipped, said once")
    tree = os.path.join(entries(t)[0]["path"], "tree")
    t.ok(not os.path.lexists(os.path.join(tree, "dev", "console")), "and not in the cache")


def test_docker_save_archive_as_a_tarball_is_named(t):
    """A `docker image save` archive given as rootfs.tarball (where a
    `docker export` belongs): check and start say which key it needs, from
    the archive's first members, before anything is unpacked (both layouts,
    also gzipped); one whose image members come later is still named, after
    the unpack; nothing is cached."""
    prune_after(t)
    r = t.rootfs("img")
    for layout, outer in (("classic", None), ("oci", None), ("classic", "gzip")):
        what = "%s%s" % (layout, "+" + outer if outer else "")
        img = os.path.join(t.tmp, "saved-%s.tar" % what)
        docker_save(img, [{"tags": ["busybox:latest"], "layers": [dir_tar(r)], "cmd": ["/bin/true"]}], layout=layout,
                    outer=outer)
        conf = t.conf("ds", 'rootfs = { tarball = "%s"; };\n' % img)
        said = ("ds.conf:1: rootfs.tarball: %s is an image archive (as `docker image save`, podman and skopeo "
                "write them: a manifest and the image's layers), not a root file system: use rootfs.image for it"
                % img)
        c = t.diyctl("check", conf)
        t.eq(c.returncode, 1, "%s: check refuses it" % what)
        t.contains(c.stderr, said, "%s: naming the key and rootfs.image" % what)
        p = t.diyctl("start", conf)
        t.eq(p.returncode, 125, "%s: the start fails" % what)
        t.contains(p.stderr, said, "%s: saying the same" % what)
        t.eq(entries(t), [], "%s: nothing is cached" % what)
        conf = t.conf("ds", 'rootfs = { image = "%s"; };\nprocess = { args = [ "/bin/echo", "ok" ]; };\n' % img)
        t.eq(t.diyctl("start", conf, check=True).stdout, "ok\n", "%s: as rootfs.image it runs" % what)
        t.diyctl("image", "prune", check=True)

    # check looks at the first members only: a manifest after 20 other files
    # passes it, and the unpack names it
    late = os.path.join(t.tmp, "late.tar")
    with tarfile.open(late, "w") as tf:
        for i in range(20):
            tf.addfile(_info("notes/%02d" % i, size=1), io.BytesIO(b"x"))
        man = json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode()
        tf.addfile(_info("manifest.json", size=len(man)), io.BytesIO(man))
    conf = t.conf("ds", 'rootfs = { tarball = "%s"; };\n' % late)
    t.eq(t.diyctl("check", conf).returncode, 0, "late: check does not read that far")
    p = t.diyctl("start", conf)
    t.eq(p.returncode, 125, "late: the start fails")
    t.contains(p.stderr, "ds.conf:1: rootfs.tarball: %s is an image archive" % late, "late: named")
    t.eq(entries(t), [], "late: nothing is cached")


# ---------------------------------------------------------------- hostile archives

def _watched(t):
    w = os.path.join(t.tmp, "watched")
    os.makedirs(w, exist_ok=True)
    with open(os.path.join(w, "keep"), "w") as f:
        f.write("keep")
    return w


def _snapshot_dir(d):
    res = {}
    for dp, dn, fn in os.walk(d):
        for n in dn + fn:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            res[os.path.relpath(p, d)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_nlink)
    return res


def _hostile(t, entries_, expect, as_layer=False, raw=None, expect_rc=125):
    """Start a container from a tarball (or an image whose top layer is) made
    of ENTRIES; it must fail with EXPECT, touch nothing outside, cache nothing."""
    prune_after(t)
    w = _watched(t)
    before = _snapshot_dir(w)
    etc_before = _snapshot_dir("/etc")
    data = raw if raw is not None else layer_tar(entries_)
    if as_layer:
        base = dir_tar(t.rootfs("hsrc"))
        arch = docker_save(os.path.join(t.tmp, "h.tar"), [{"tags": ["h:1"], "layers": [base, data]}], layout="oci")
        conf = t.conf("h", 'rootfs = { image = "%s"; };\n' % arch)
    else:
        tb = os.path.join(t.tmp, "h.tar")
        with open(tb, "wb") as f:
            f.write(data)
        conf = t.conf("h", 'rootfs = { tarball = "%s"; };\n' % tb)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=expect_rc)
    t.contains(p.stderr, expect, "a clear error")
    t.eq(_snapshot_dir(w), before, "the watched host directory is unchanged")
    t.eq(_snapshot_dir("/etc"), etc_before, "/etc is unchanged")
    t.eq([e for e in entries(t) if e["kind"] == ("layer" if as_layer else "tarball") and
          (not as_layer or e["id"] == "sha256:" + _sha(data))], [], "nothing half-made is in the cache")
    tmp = os.path.join(CACHE, "tmp")
    t.eq(os.listdir(tmp) if os.path.isdir(tmp) else [], [], "no partial unpack is left")
    return p


def test_hostile_dotdot(t):
    w = os.path.join(t.tmp, "watched")
    _hostile(t, [("ok", "file", "x"), ("../../../../../../../../../.." + w + "/x", "file", "evil"),
                 ("../../etc/x", "file", "evil")], '"..\" would leave the target directory')


def test_hostile_dotdot_in_a_layer(t):
    _hostile(t, [("a/../../../etc/x", "file", "evil")], '"..\" would leave the target directory', as_layer=True)


def test_hostile_absolute_names_land_inside(t):
    prune_after(t)
    w = _watched(t)
    before = _snapshot_dir(w)
    r = t.rootfs("abs")
    raw = dir_tar(r, [(w + "/x", "file", "evil"), ("/etc/x", "file", "evil")])
    tb = os.path.join(t.tmp, "abs.tar")
    with open(tb, "wb") as f:
        f.write(raw)
    conf = t.conf("abs", 'rootfs = { tarball = "%s"; };\n' % tb)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/cat", "/etc/x"]', check=True)
    t.eq(p.stdout, "evil", "an absolute name is neutralised: it lands inside the rootfs")
    t.contains(p.stderr, 'removed the leading "/"', "with a warning")
    t.eq(_snapshot_dir(w), before, "the watched host directory is unchanged")
    t.ok(not os.path.exists("/etc/x"), "the host's /etc/x was not created")


def test_hostile_symlink_then_file_through_it(t):
    w = os.path.join(t.tmp, "watched")
    _hostile(t, [("evil", "symlink", w), ("evil/x", "file", "evil")],
             "evil is a symbolic link; writing through links is refused")


def test_hostile_symlink_to_root_then_file(t):
    _hostile(t, [("dir", "dir"), ("dir/up", "symlink", "/"), ("dir/up/etc/x", "file", "evil")],
             "dir/up is a symbolic link; writing through links is refused", as_layer=True)


def test_hostile_hardlink_outside(t):
    _hostile(t, [("shadow", "hardlink", "/etc/shadow")], "hard link to etc/shadow, which is not in the archive")
    p = _hostile(t, [("shadow", "hardlink", "../../../../../../etc/shadow")], '"..\" would leave the target')


def test_hostile_hardlink_through_symlink(t):
    _hostile(t, [("etc", "symlink", "/etc"), ("pw", "hardlink", "etc/passwd")],
             "hard link to etc/passwd through a symbolic link")


def test_hostile_device_node(t):
    prune_after(t)
    r = t.rootfs("dev")
    raw = dir_tar(r, [("evil-sda", "blk", (8, 0)), ("evil-mem", "chr", (1, 1))])
    tb = os.path.join(t.tmp, "dev.tar")
    with open(tb, "wb") as f:
        f.write(raw)
    conf = t.conf("dev", 'rootfs = { tarball = "%s"; };\n' % tb)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "ls /evil-* 2>&1; true"]', check=True)
    t.contains(p.stderr, "evil-sda: block device 8:0 not unpacked", "a device node is neutralised, with a warning")
    t.contains(p.stderr, "evil-mem: character device 1:1 not unpacked", "each one")
    t.contains(p.stdout, "No such file", "it does not exist in the container")
    for e in entries(t):
        t.ok(not os.path.lexists(os.path.join(e["path"], "tree", "evil-sda")), "nor in the cache")


def test_hostile_huge_size_claim(t):
    ti = _info("huge", size=1 << 60)
    hdr = ti.tobuf(tarfile.PAX_FORMAT)
    _hostile(t, None, "claims 1152921504606846976 bytes, more than the", raw=hdr + b"x" * 4096 + b"\0" * 1024)


def test_hostile_truncated_archive(t):
    r = t.rootfs("tr")
    raw = dir_tar(r)
    _hostile(t, None, "truncated", raw=raw[:len(raw) // 2 + 100])


def test_hostile_truncated_gzip_layer(t):
    r = t.rootfs("tr")
    raw = compress(dir_tar(r), "gzip")
    _hostile(t, None, "truncated", raw=raw[:len(raw) // 2])


def test_hostile_layer_digest_mismatch(t):
    prune_after(t)
    w = _watched(t)
    base = dir_tar(t.rootfs("dsrc"))
    bad = layer_tar([("x", "file", "tampered")])
    arch = docker_save(os.path.join(t.tmp, "d.tar"), [{"tags": ["d:1"], "layers": [base, bad],
                                                       "diff_ids": ["sha256:" + _sha(base), "sha256:" + "0" * 64]}])
    conf = t.conf("d", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=125)
    t.contains(p.stderr, "does not match its diff_id", "a layer whose digest does not match is refused")
    t.eq([e["id"] for e in entries(t)], ["sha256:" + _sha(base)], "only the good layer is cached")
    # a blob whose content does not match its name (Docker 25 layout): same size, one byte changed
    arch = docker_save(os.path.join(t.tmp, "d2.tar"), [{"tags": ["d:2"], "layers": [base, bad]}], layout="oci")
    data = open(arch, "rb").read()
    t.eq(data.count(b"tampered"), 1, "the layer's content is in the archive once")
    with open(arch, "wb") as f:
        f.write(data.replace(b"tampered", b"Tampered"))
    conf = t.conf("d2", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=125)
    t.contains(p.stderr, "does not match its digest", "a blob that does not match its digest is refused")
    # a corrupt gzip stream
    arch = docker_save(os.path.join(t.tmp, "d3.tar"), [{"tags": ["d:3"], "layers": [base, bad],
                                                        "compress": [None, "gzip"]}], layout="oci")
    data = bytearray(open(arch, "rb").read())
    blob = compress(bad, "gzip")
    i = bytes(data).index(blob)
    data[i + len(blob) // 2] ^= 0xff
    with open(arch, "wb") as f:
        f.write(bytes(data))
    conf = t.conf("d3", 'rootfs = { image = "%s"; };\n' % arch)
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=125)
    t.contains(p.stderr, "blobs/sha256/" + _sha(blob), "a damaged layer is refused, naming it")
    t.eq(os.listdir(w), ["keep"], "the watched directory is unchanged")


def test_hostile_not_an_archive(t):
    _hostile(t, None, "not an archive libarchive can read", raw=b"this is not a tar file\n" * 100)


def test_image_kill_at_every_host_step(t):
    """kill -9 of the launcher around every host step of an image container
    (the unpacks included), then cleanup: no holder, no half unpack is left,
    and once the cache is pruned the host is exactly as before."""
    prune_after(t)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "k.tar"), [{"tags": ["k:1"], "layers": [base, upper],
                                                       "compress": ["gzip", None], "cmd": ["/bin/sleep", "60"]}])
    conf = t.conf("kill", 'rootfs = { image = "%s"; };\n' % arch)
    plan = json.loads(t.diyctl("plan", "--json", conf, check=True).stdout)
    points = [s["index"] for s in plan["steps"] if s["side"] in ("host", "spawn")]
    unpacks = [s["index"] for s in plan["steps"] if s["kind"] == "image-unpack"]
    t.eq(len(unpacks), 2, "two unpack steps")
    before = t.snapshot()
    for k in points:
        for when in ("before", "after"):
            p = t.diyctl("start", "-d", conf, env={"DIYCTL_FAULT": "%d:%s" % (k, when)})
            t.ok(p.returncode != 0, "start with the fault at %d:%s must not succeed" % (k, when))
            t.diyctl("cleanup", "kill", check=True)
            for e in entries(t):
                t.eq((e["users"], e["stale_holders"]), ([], 0), "no holder left after a kill at %d:%s" % (k, when))
            tmp = os.path.join(CACHE, "tmp")
            t.eq(os.listdir(tmp) if os.path.isdir(tmp) else [], [], "no half unpack left at %d:%s" % (k, when))
            if k == unpacks[-1] and when == "after":
                t.eq(len(entries(t)), 2, "complete unpacks stay in the cache")
            t.diyctl("image", "prune", check=True)
            t.eq(t.compare(before, t.snapshot()), {}, "the host is as before (kill at %d:%s)" % (k, when))
    t.diyctl("start", "-d", conf, check=True)
    t.diyctl("stop", "-t", "1", "kill", check=True)


def test_image_rootless(t):
    """An unprivileged user runs an image in a user namespace: the cache goes
    under $XDG_DATA_HOME, owned by the user (who is root inside), whiteouts
    and the opaque directory work with overlayfs's userxattr."""
    import pwd
    user = "dcimg"
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        t.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", user])
        pw = pwd.getpwnam(user)
    d = t.tmp
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    xdg = os.path.join(t.tmp, "xdg")
    data = os.path.join(t.tmp, "xdgdata")
    for p in (xdg, data):
        os.makedirs(p)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(p, 0o700)
    base, upper = base_and_upper(t)
    arch = docker_save(os.path.join(t.tmp, "rl.tar"), [{"tags": ["rl:1"], "layers": [base, upper],
                                                        "compress": ["gzip", None], "cmd": ["/bin/sh", "-c", CHECK],
                                                        "env": ["FOO=rootless"], "workdir": "/opt/data"}])
    os.chmod(arch, 0o644)
    conf = t.conf("rl", 'rootfs = { image = "%s"; };\nnamespaces = [ "mount", "uts", "ipc", "pid", "net", "user" ];\n'
                        'user = { map = "root"; };\n' % arch)
    os.chmod(conf, 0o644)

    def as_user(*args, check=None):
        return t.run(["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid, "--init-groups",
                      "--inh-caps=-all", "env", "XDG_RUNTIME_DIR=" + xdg, "XDG_DATA_HOME=" + data,
                      "HOME=/nonexistent", t.diyctl_bin] + list(args), check=check)
    out = as_user("start", conf, check=True).stdout
    t.contains(out, "deleted=yes", "the whiteout hides the file, rootless")
    t.contains(out, "data=c\n", "the opaque directory, rootless")
    t.contains(out, "cwd=/opt/data foo=rootless uid=0", "the image's Cmd, Env and WorkingDir")
    cache = os.path.join(data, "diyctl", "images")
    t.ok(os.path.isdir(os.path.join(cache, "layers")), "the cache is under $XDG_DATA_HOME")
    t.eq(os.stat(os.path.join(cache, "layers")).st_uid, pw.pw_uid, "owned by the user")
    t.ok(not os.path.exists(CACHE), "and not in /var/lib/diyctl")
    out = as_user("image", "list", check=True).stdout
    t.contains(out, "2 entries", "image list as the user shows the user's cache")
    as_user("image", "prune", check=True)
    t.ok(not os.path.exists(cache), "prune empties it")


def _owned_layer(entries):
    """A layer whose entries carry owners: (name, "dir"|"file", data, uid, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, uid, mode in entries:
            if kind == "dir":
                ti = _info(name, tarfile.DIRTYPE, mode, uid=uid, gid=uid, uname="", gname="")
                tf.addfile(ti)
            else:
                b = data.encode()
                tf.addfile(_info(name, size=len(b), mode=mode, uid=uid, gid=uid, uname="", gname=""), io.BytesIO(b))
    return buf.getvalue()


def test_image_as_root_in_a_user_namespace(t):
    """As root with a user namespace, each cached layer reaches the container
    as an idmapped mount: the image's owners (0, 33) are the same inside,
    whiteouts and opaque directories work under userxattr, the cache is never
    written, the host sees no mount, and what the container writes to a
    persistent upper directory belongs to the mapped ids on the host. The
    cache's mount is shared, as mounts are on systemd hosts: nothing the
    container mounts may propagate back."""
    prune_after(t)
    t.run(["mount", "--make-shared", "/var/lib/diyctl"])
    t.defer(t.run, ["mount", "--make-private", "/var/lib/diyctl"])
    d = t.tmp
    while d not in ("/", "/tmp"):  # the mapped root is nobody special on the host
        os.chmod(d, os.stat(d).st_mode | 0o055)
        d = os.path.dirname(d)
    base, upper = base_and_upper(t)
    www = _owned_layer([("srv", "dir", "", 0, 0o755), ("srv/www", "dir", "", 33, 0o750),
                        ("srv/www/index.html", "file", "hello from 33\n", 33, 0o640)])
    arch = docker_save(os.path.join(t.tmp, "ns.tar"), [{"tags": ["ns:1"], "layers": [base, upper, www],
                                                        "compress": ["gzip", None, None]}], layout="oci")
    ns = '[ "mount", "uts", "ipc", "pid", "net", "user", "cgroup", "time" ]'
    umap = 'user = { map = ( { inside = 0; outside = 200000; count = 65536; } ); };\n'
    conf = t.conf("nsimg", 'rootfs = { image = "%s"; };\nnamespaces = %s;\n%s' % (arch, ns, umap))
    plan = t.diyctl("plan", conf, check=True).stdout
    t.contains(plan, "idmap-layers", "plan shows the idmapped layers")
    t.contains(plan, "idmapped read-only mounts of 3 layers", "for each of the 3 layers")
    script = ("cat /proc/self/uid_map; echo id=$(id -u):$(id -g); echo www=$(stat -c %u:%g /srv/www/index.html);"
              " echo dir=$(stat -c %u:%g /srv/www); echo root=$(stat -c %u:%g /bin/busybox);"
              " cat /srv/www/index.html; " + CHECK + "; echo changed >> /srv/www/index.html &&"
              " tail -1 /srv/www/index.html; touch /made && echo made=$(stat -c %u /made)")
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "%s"]' % script.replace('"', '\\"'),
                 check=True)
    out = p.stdout
    t.contains(out, "0     200000      65536", "the user namespace maps 0 to 200000")
    t.contains(out, "id=0:0", "root inside")
    t.contains(out, "www=33:33", "a file the image gives to 33 is 33's inside")
    t.contains(out, "dir=33:33", "and its directory")
    t.contains(out, "root=0:0", "root's files are root's inside")
    t.contains(out, "hello from 33", "root inside reads the 0640 file as the image meant")
    t.contains(out, "deleted=yes", "the whiteout hides the file through idmapped layers")
    t.contains(out, "data=c\n", "the opaque directory works (user.overlay.opaque)")
    t.contains(out, "changed\n", "a lower file can be changed (copied up)")
    t.contains(out, "made=0", "a new file belongs to root inside")
    lay = [e for e in entries(t) if e["id"] == "sha256:" + _sha(www)][0]
    f = os.path.join(lay["path"], "tree", "srv", "www", "index.html")
    t.eq(open(f).read(), "hello from 33\n", "the cached layer is never written")
    t.eq((os.stat(f).st_uid, os.stat(f).st_gid), (33, 33), "and keeps the image's owners on disk")
    # a persistent upper directory: writes belong to the mapped ids on the host
    updir = os.path.join(t.tmp, "upper")
    os.mkdir(updir)
    os.chown(updir, 200000, 200000)
    conf = t.conf("nsimg2", 'rootfs = { image = "%s"; writable = "%s"; };\nnamespaces = %s;\n%s'
                  % (arch, updir, ns, umap))
    t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "echo kept > /srv/www/new && chown 33:33 /srv/www/new"]',
             check=True)
    nf = os.path.join(updir, "upper", "srv", "www", "new")
    t.eq(open(nf).read(), "kept\n", "the persistent upper keeps the write")
    t.eq((os.stat(nf).st_uid, os.stat(nf).st_gid), (200033, 200033), "owned by the mapped 33 on the host")
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "cat /srv/www/new; stat -c %u /srv/www/new"]',
                 check=True)
    t.eq(p.stdout, "kept\n33\n", "and is 33's again inside on the next start")
    # a tarball, read-only: one idmapped layer bound as the root
    tb = os.path.join(t.tmp, "rootfs.tar")
    with open(tb, "wb") as fp:
        fp.write(dir_tar(t.rootfs("tb-src"), extra=[]) )
    conf = t.conf("nstb", 'rootfs = { tarball = "%s"; writable = "none"; };\nnamespaces = %s;\n%s' % (tb, ns, umap))
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/sh", "-c", "id -u; stat -c %u /bin/busybox; touch /x"]',
                 check=False)
    t.eq(p.stdout, "0\n0\n", "a tarball rootfs under a user namespace: root's files are root's")
    t.ok(p.returncode != 0 and "Read-only" in p.stderr, "writable = none stays read-only")
    # even for a container given CAP_SYS_ADMIN (in its user namespace): the
    # root is a read-only overlay, which cannot be remounted writable
    tbe = [e for e in entries(t) if e["kind"] == "tarball"][0]
    p = t.diyctl("start", conf, "--set", 'security.capabilities.add=["SYS_ADMIN"]', "--set",
                 'process.args=["/bin/sh", "-c", "mount -o remount,rw,bind / ; mount -o remount,rw / ; echo x > /pwned"]',
                 check=False)
    t.ok(p.returncode != 0, "no write into a read-only root, even with CAP_SYS_ADMIN")
    t.ok(not os.path.exists(os.path.join(tbe["path"], "tree", "pwned")), "the shared cache is never written")
    # a layer unpacked by an older diyctl (its info does not count its
    # user.overlay.opaque marks) is refused, not used with its opaque dirs broken
    up = [e for e in entries(t) if e["id"] == "sha256:" + _sha(upper)][0]
    info = os.path.join(up["path"], "info")
    lines = open(info).read().splitlines(True)
    with open(info, "w") as f:
        f.writelines(l for l in lines if not l.startswith(("opaques=", "user_opaques=")))
    conf = t.conf("nsold", 'rootfs = { image = "%s"; };\nnamespaces = %s;\n%s' % (arch, ns, umap))
    p = t.diyctl("start", conf, "--set", 'process.args=["/bin/true"]', check=125)
    t.contains(p.stderr, "lacks the user.overlay.opaque marks", "an old cache entry is refused")
    t.contains(p.stderr, "diyctl image prune", "saying what to do")
