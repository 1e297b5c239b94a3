/* Validation and plan building: pure, no root. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diyctl/config.h"
#include "diyctl/net.h"
#include "diyctl/plan.h"
#include "tap.h"

static struct dc_plan *plan_of(const char *text, struct dc_error *err, bool tty)
{
        struct dc_config *c = NULL;
        if (dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, err) < 0)
                return NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .stdin_tty = tty, .skip_fs_checks = true,
                                  .cgroups = true };
        struct dc_plan *p = NULL;
        dc_plan_build(c, &o, &p, err);
        dc_config_free(c);
        return p;
}

static int find_step(const struct dc_plan *p, const char *kind, const char *key, const char *val)
{
        for (size_t i = 0; i < p->n; i++) {
                if (strcmp(p->steps[i].ops->kind, kind) != 0)
                        continue;
                if (!key || dc_streq(dc_kvs_get(&p->steps[i].args, key), val))
                        return (int)i;
        }
        return -1;
}

static void test_basic_plan(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of("rootfs = { path = \"rootfs\"; };\n"
                                    "process = { args = [\"/bin/echo\", \"hi\"]; env = [\"A=1\"]; cwd = \"/tmp\"; user = \"1:2\"; };\n"
                                    "volumes = ( { source = \"/srv/www\"; target = \"/www\"; readonly = true; },\n"
                                    "            { type = \"tmpfs\"; target = \"/scratch\"; size = \"64M\"; } );\n",
                                    &err, false);
        CHECK(p != NULL, "basic config plans (%s)", err.msg);
        if (!p)
                return;
        CHECK_STREQ(p->name, "t", "name defaults to the file name");
        CHECK_STREQ(p->state_dir, "/run/diyctl/t", "state dir under the state root");
        CHECK_STREQ(p->steps[0].ops->kind, "statedir", "first step creates the state dir");
        CHECK(p->steps[0].ops->side == DC_SIDE_HOST, "statedir is a host step");
        CHECK_STREQ(p->steps[1].ops->kind, "cgroup", "the cgroup before the first process (cloned into it)");
        CHECK_STREQ(dc_kvs_get(&p->steps[1].args, "group"), "diyctl/t", "cgroup named after the container");
        CHECK_STREQ(p->steps[2].ops->kind, "spawn", "then the first process is spawned");
        CHECK_STREQ(dc_kvs_get(&p->steps[2].args, "namespaces"), "mount,uts,ipc,pid,net,cgroup",
                    "default namespaces");
        CHECK_STREQ(dc_kvs_get(&p->steps[1].args, "part"), "v2", "the v2 cgroup (cloned into it)");
        CHECK_STREQ(p->steps[3].ops->kind, "cgroup", "then the v1 cgroups, while the first process mounts");
        CHECK_STREQ(dc_kvs_get(&p->steps[3].args, "part"), "v1", "the v1 part");
        CHECK_STREQ(dc_kvs_get(&p->steps[3].args, "group"), "diyctl/t", "the same group");
        CHECK_STREQ(p->steps[4].ops->kind, "netns", "then the named netns");
        CHECK_STREQ(dc_kvs_get(&p->steps[4].args, "path"), "/run/netns/diyctl-t", "netns path");
        CHECK(p->steps[1].ops->side == DC_SIDE_HOST && p->steps[3].ops->side == DC_SIDE_HOST &&
                      p->steps[4].ops->side == DC_SIDE_HOST,
              "all host steps");
        CHECK(find_step(p, "loopback-up", NULL, NULL) == 5 && p->steps[5].ops->side == DC_SIDE_PARENT,
              "as root, the launcher brings lo up in the container's netns, after binding it");
        CHECK(find_step(p, "loopback-inside", NULL, NULL) < 0, "and the first process does not");
        CHECK_STREQ(p->steps[6].ops->kind, "make-private", "make-rprivate comes first inside");
        int rf = find_step(p, "rootfs", NULL, NULL);
        CHECK(rf == 7, "then the rootfs");
        CHECK_STREQ(dc_kvs_get(&p->steps[rf].args, "source"), "/srv/ct/rootfs", "rootfs path resolved against the file's dir");
        CHECK_STREQ(dc_kvs_get(&p->steps[rf].args, "writable"), "direct", "a path rootfs is writable directly by default");
        CHECK_STREQ(p->steps[p->n - 1].ops->kind, "exec", "exec is last");
        int pivot = find_step(p, "pivot-root", NULL, NULL);
        CHECK(pivot > rf && find_step(p, "readonly", NULL, NULL) == pivot + 1 &&
                      find_step(p, "mask", NULL, NULL) == pivot + 2 && find_step(p, "nodev", NULL, NULL) == pivot + 3,
              "pivot_root, then the hardening steps (readonly, mask, nodev)");
        /* the first process does all that while the launcher runs the host
         * steps; it waits for them only before its cgroup namespace (the
         * launcher places it in its cgroup) and exec */
        CHECK(find_step(p, "wait-launcher", NULL, NULL) == pivot + 4 && find_step(p, "cgroupns", NULL, NULL) == pivot + 5 &&
                      pivot + 6 == (int)p->n - 1,
              "then wait-launcher, the cgroup namespace, exec");
        int n_wait = 0;
        for (size_t i = 0; i < p->n; i++)
                n_wait += strcmp(p->steps[i].ops->kind, "wait-launcher") == 0;
        CHECK(n_wait == 1, "the first process waits once");
        int proc = find_step(p, "mount", "target", "/proc");
        int sys = find_step(p, "mount", "target", "/sys");
        int pts = find_step(p, "mount", "target", "/dev/pts");
        CHECK(proc > 3 && sys > proc && pts > sys, "proc, sys, devpts mounted in order");
        CHECK(sys >= 0 && strstr(dc_kvs_get(&p->steps[sys].args, "flags"), "ro") != NULL,
              "/sys read-only with a net namespace");
        CHECK_STREQ(dc_kvs_get(&p->steps[proc].args, "flags"), "nosuid,nodev,noexec", "proc flags");
        static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty" };
        for (size_t i = 0; i < 6; i++)
                CHECK(find_step(p, "bind", "target", devs[i]) > 0, "%s bound from the host", devs[i]);
        CHECK(find_step(p, "symlink", "path", "/dev/ptmx") > pts, "/dev/ptmx link after devpts");
        int vol = find_step(p, "bind", "target", "/www");
        CHECK(vol > 0 && dc_streq(dc_kvs_get(&p->steps[vol].args, "readonly"), "1"), "read-only bind volume");
        int tmp = find_step(p, "mount", "target", "/scratch");
        CHECK(tmp > 0 && strstr(dc_kvs_get(&p->steps[tmp].args, "data"), "size=67108864") != NULL, "tmpfs volume size");
        CHECK(find_step(p, "hostname", "name", "t") > 0, "hostname defaults to the name");
        const struct dc_step *e = &p->steps[p->n - 1];
        CHECK_STREQ(dc_kvs_get(&e->args, "arg"), "/bin/echo", "args");
        CHECK_STREQ(dc_kvs_get(&e->args, "env"), "A=1", "env");
        CHECK_STREQ(dc_kvs_get(&e->args, "cwd"), "/tmp", "cwd");
        CHECK_STREQ(dc_kvs_get(&e->args, "user"), "1:2", "user");
        CHECK_STREQ(dc_kvs_get(&e->args, "terminal"), "0", "no pty without a tty");
        CHECK(!dc_kvs_get(&e->args, "stop-signal"), "SIGTERM by default: no stop-signal");
        for (size_t i = 0; i < p->n; i++)
                CHECK(p->steps[i].ops->side != DC_SIDE_CHILD || i > 1, "child steps after spawn (%zu)", i);
        dc_plan_free(p);
}

/* The resolv.conf the launcher writes comes before the spawn, so the first
 * process binds it without waiting for the network's host steps: it waits
 * for the launcher only at the end, as without one. */
static void test_resolv_before_the_spawn(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of("rootfs = { path = \"rootfs\"; };\nnamespaces = [ \"mount\", \"pid\", \"net\" ];\n"
                                    "network = { mode = \"nat\"; address = \"10.99.0.2/30\"; dns = [ \"192.0.2.53\" ]; };\n",
                                    &err, false);
        CHECK(p != NULL, "a NAT config with DNS plans (%s)", err.msg);
        if (!p)
                return;
        int wait = find_step(p, "wait-launcher", NULL, NULL);
        int bind = find_step(p, "bind", "target", "/etc/resolv.conf");
        int resolv = find_step(p, "resolv", NULL, NULL);
        int spawn = find_step(p, "spawn", NULL, NULL);
        int veth = find_step(p, "veth", NULL, NULL);
        int dev = find_step(p, "mount", "target", "/dev");
        CHECK(resolv >= 0 && resolv < spawn && veth > spawn, "the launcher writes resolv.conf before the spawn, "
                                                              "the network's host steps come after it");
        CHECK(bind > dev && find_step(p, "pivot-root", NULL, NULL) > bind && wait > bind,
              "the first process binds it with its other mounts, and waits only after pivot_root");
        CHECK(find_step(p, "cgroupns", NULL, NULL) < 0, "no cgroup namespace asked for");
        int n_wait = 0;
        for (size_t i = 0; i < p->n; i++)
                n_wait += strcmp(p->steps[i].ops->kind, "wait-launcher") == 0;
        CHECK(n_wait == 1, "once");
        dc_plan_free(p);
}

/* Many errors: as many whole lines as fit, then how many more. */
static void test_many_errors(void)
{
        struct dc_error err = { 0 };
        char a[1201], b[1201];
        memset(a, 'a', 1200);
        memset(b, 'b', 1200);
        a[1200] = b[1200] = 0;
        char *text = dc_xasprintf("rootfs = { path = \"/r\"; };\nnamespaces = [ \"uts\" ];\nprocess = { cwd = \"%s\"; };\n"
                                  "volumes = ( { type = \"tmpfs\"; target = \"/%s/../x\"; } );\n", a, b);
        struct dc_plan *p = plan_of(text, &err, false);
        free(text);
        CHECK(!p, "a plan with errors fails");
        const char *last = strrchr(err.msg, '\n');
        CHECK(last && strcmp(last, "\nand 1 more error") == 0, "it ends saying how many more: %.80s",
              last ? last : err.msg);
        CHECK(strstr(err.msg, "namespaces: \"mount\" is required") && strstr(err.msg, "process.cwd: aaaa"),
              "the errors before it are whole");
        dc_plan_free(p);
}

static void test_variants(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of("rootfs = { path = \"/r\"; writable = \"none\"; };\nnamespaces = [\"mount\", \"pid\"];\n"
                                    "process = { init = true; terminal = \"auto\"; stop_signal = \"SIGRTMIN+3\"; };\n",
                                    &err, true);
        CHECK(p != NULL, "variant plans (%s)", err.msg);
        if (!p)
                return;
        CHECK(find_step(p, "hostname", NULL, NULL) < 0, "no hostname step without uts");
        CHECK(find_step(p, "netns", NULL, NULL) < 0 && find_step(p, "loopback-up", NULL, NULL) < 0 &&
                      find_step(p, "loopback-inside", NULL, NULL) < 0,
              "no netns steps without a net namespace");
        CHECK(find_step(p, "cgroupns", NULL, NULL) < 0, "no cgroupns step without the cgroup namespace");
        CHECK(find_step(p, "remount-root-ro", NULL, NULL) > 0, "writable none makes the root read-only");
        int sys = find_step(p, "mount", "target", "/sys");
        CHECK(sys > 0 && dc_startswith(dc_kvs_get(&p->steps[sys].args, "flags"), "ro,"),
              "/sys read-only also when sharing the host's network (its knobs are the host's)");
        const struct dc_step *e = &p->steps[p->n - 1];
        CHECK_STREQ(dc_kvs_get(&e->args, "arg"), "/bin/sh", "default command is /bin/sh");
        CHECK_STREQ(dc_kvs_get(&e->args, "terminal"), "1", "auto terminal with a tty");
        CHECK_STREQ(dc_kvs_get(&e->args, "init"), "1", "init");
        CHECK_STREQ(dc_kvs_get(&e->args, "stop-signal"), "SIGRTMIN+3", "the stop signal, by name");
        CHECK(dc_startswith(dc_kvs_get(&e->args, "stop-signal-origin"), "/srv/ct/t.conf:3: process.stop_signal"),
              "and where it was set (%s)", dc_kvs_get(&e->args, "stop-signal-origin"));
        CHECK(p->terminal && p->init, "plan flags");
        dc_plan_free(p);

        p = plan_of("rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"time\"];\n"
                    "time = { boottime = \"reset\"; monotonic = 86400; };\n", &err, false);
        CHECK(p != NULL, "time offsets plan (%s)", err.msg);
        if (p) {
                int sp = find_step(p, "spawn", NULL, NULL);
                CHECK(sp >= 0 && dc_streq(dc_kvs_get(&p->steps[sp].args, "boottime"), "reset"), "boottime in spawn");
                CHECK(sp >= 0 && dc_streq(dc_kvs_get(&p->steps[sp].args, "monotonic"), "86400"), "monotonic in spawn");
                dc_plan_free(p);
        }
        p = plan_of("rootfs = { path = \"/r\"; };\nnetwork = { mode = \"host\"; };\n", &err, false);
        CHECK(p && dc_streq(dc_kvs_get(&p->steps[find_step(p, "spawn", NULL, NULL)].args, "namespaces"),
                            "mount,uts,ipc,pid,cgroup"),
              "network.mode host drops net from the default namespaces (%s)", p ? "" : err.msg);
        if (p)
                dc_plan_free(p);
        p = plan_of("rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n", &err, false);
        CHECK(p && dc_streq(dc_kvs_get(&p->steps[find_step(p, "rootfs", NULL, NULL)].args, "writable"), "tmpfs"),
              "tmpfs overlay root");
        if (p)
                dc_plan_free(p);
}

/* What `diyctl plan` prints for P; free() it. */
static char *plan_text(const struct dc_plan *p)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        dc_plan_print(p, f);
        fclose(f);
        return buf;
}

static void test_describe_and_json(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of("rootfs = { path = \"/r\"; };\n", &err, false);
        CHECK(p != NULL, "plan for printing");
        if (!p)
                return;
        char *buf = plan_text(p);
        CHECK(strstr(buf, "* host   statedir") != NULL, "host steps are marked");
        CHECK(strstr(buf, "pivot_root into the rootfs") != NULL, "steps are described");
        free(buf);
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        dc_plan_print_json(p, f);
        fclose(f);
        CHECK(strstr(buf, "\"kind\":\"statedir\",\"side\":\"host\",\"host_change\":true") != NULL, "json marks host changes");
        CHECK(buf[len - 2] == '}', "json ends");
        free(buf);
        dc_plan_free(p);
}

struct bad {
        const char *text;
        const char *error; /* expected prefix */
};

static const struct bad bad_plans[] = {
        { "rootfs = { path = \"/r\"; };\nprocess = { cwd = \"tmp\"; };\n", "/srv/ct/t.conf:2: process.cwd: tmp is not an absolute path" },
        /* every group of rules is checked: check names each key with an error */
        { "rootfs = { path = \"/r\"; };\nprocess = { cwd = \"tmp\"; };\nvolumes = ( { type = \"tmpfs\"; target = \"/a/../b\"; } );\n"
          "network = { mode = \"host\"; ports = ( { host = 80; } ); };\nnamespaces = [ \"mount\", \"net\" ];\n",
          "/srv/ct/t.conf:2: process.cwd: tmp is not an absolute path\n"
          "/srv/ct/t.conf:3: volumes[0].target: /a/../b must not contain \"..\"\n"
          "/srv/ct/t.conf:5: namespaces: \"net\" conflicts with network.mode = \"host\" (/srv/ct/t.conf:4)" },
        { "rootfs = { path = \"/r\"; };\nvolumes = ( { source = \"/a\"; target = \"www\"; } );\n", "/srv/ct/t.conf:2: volumes[0].target: www is not an absolute path" },
        { "rootfs = { path = \"/r\"; };\nvolumes = ( { source = \"/a\"; target = \"/\"; } );\n", "/srv/ct/t.conf:2: volumes[0].target: a volume cannot replace the root directory" },
        { "rootfs = { path = \"/r\"; };\nvolumes = ( { source = \"/a\"; target = \"/a/../b\"; } );\n", "/srv/ct/t.conf:2: volumes[0].target: /a/../b must not contain \"..\"" },
        { "rootfs = { path = \"/r\"; };\nvolumes = ( { source = \"/a\"; target = \"/x\"; },\n { type = \"tmpfs\"; target = \"/x/\"; } );\n", "/srv/ct/t.conf:3: volumes[1].target: /x/ is already the target of volumes[0]" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"uts\", \"pid\"];\n", "/srv/ct/t.conf:2: namespaces: \"mount\" is required" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\"];\nhostname = \"x\";\n", "/srv/ct/t.conf:3: hostname: setting the hostname needs \"uts\"" },
        { "rootfs = { path = \"/r\"; };\ntime = { monotonic = 5; };\n", "/srv/ct/t.conf:2: time" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"net\"];\nnetwork = { mode = \"host\"; };\n", "/srv/ct/t.conf:2: namespaces: \"net\" conflicts with network.mode = \"host\" (/srv/ct/t.conf:3)" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\"];\nnetwork = { mode = \"none\"; };\n", "/srv/ct/t.conf:3: network.mode: \"none\" needs \"net\" in namespaces" },
        { "rootfs = { path = \"/r\"; };\nnetwork = { mode = \"none\";\n interface = \"eth1\"; };\n", "/srv/ct/t.conf:3: network.interface: only used with network.mode \"nat\" or \"bridge\"" },
        { "rootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; bridge = \"br0\"; };\n", "/srv/ct/t.conf:2: network.bridge: only used with network.mode \"bridge\"" },
        { "rootfs = { tarball = \"x.tar\"; };\n", "/srv/ct/t.conf:1: rootfs.tarball: /srv/ct/x.tar: No such file or directory" },
        { "rootfs = { path = \"/r\"; };\nuser = { map = \"root\"; };\n", "/srv/ct/t.conf:2: user: needs \"user\" in namespaces" },
        { "rootfs = { path = \"/r\";\n idmap = true; };\n", "/srv/ct/t.conf:2: rootfs.idmap: true needs \"user\" in namespaces" },
        { "rootfs = { image = \"/x.tar\";\n idmap = false; };\n", "/srv/ct/t.conf:2: rootfs.idmap: only for rootfs.path" },
        { "rootfs = { path = \"/r\"; };\nvolumes = ( { source = \"/a\"; target = \"/a\";\n idmap = true; } );\n",
          "/srv/ct/t.conf:3: volumes[0].idmap: needs \"user\" in namespaces" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n"
          "security = { capabilities = { add = [\"ALL\"]; }; };\n"
          "volumes = ( { source = \"/a\"; target = \"/a\"; readonly = true;\n idmap = true; } );\n",
          "/srv/ct/t.conf:5: volumes[0].idmap: a read-only idmapped volume cannot stay read-only in a container given "
          "CAP_SYS_ADMIN" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"net\", \"user\"];\n", "/srv/ct/t.conf:2: namespaces: \"user\" needs \"pid\" too" },
        { "rootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\";\n interface = \"all\"; };\n", "/srv/ct/t.conf:3: network.interface: \"all\" is not a name a link can have" },
        { "rootfs = { path = \"/r\"; };\nnetwork = { mode = \"nat\"; };\n"
          "volumes = ( { source = \"/etc/resolv.conf\"; target = \"/etc/resolv.conf\"; } );\n",
          "/srv/ct/t.conf:3: volumes[0].target: diyctl mounts the container's own /etc/resolv.conf there" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"time\"];\ntime = { monotonic = -4000000000L; };\n",
          "/srv/ct/t.conf:3: time.monotonic: -4000000000 would set the container's clock before 0" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"time\"];\ntime = { boottime = 4700000000L; };\n",
          "/srv/ct/t.conf:3: time.boottime: 4700000000 would set the container's clock past the kernel's limit" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n"
          "user = { map = ( { inside = 1; outside = 100000; count = 10; } ); };\n",
          "/srv/ct/t.conf:3: user.map: no range maps 0 inside" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\nprocess = { user = \"5000:5000\"; };\n",
          "/srv/ct/t.conf:3: process.user: 5000:5000: the uid 5000 is not mapped in the container's user namespace" },
        { "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n"
          "user = { map = ( { inside = 0; outside = 100000; count = 10; } ); };\nprocess = { user = \"9:10\"; };\n",
          "/srv/ct/t.conf:4: process.user: 9:10: the gid 10 is not mapped" },
};

/* More ranges than a uid_map takes (340) is refused; 340 is not. */
static void test_map_extents(void)
{
        for (int n = 340; n <= 341; n++) {
                char *text = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&text, &len);
                fputs("rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\nuser = { map = (", f);
                for (int i = 0; i < n; i++)
                        fprintf(f, "%s{ inside = %d; outside = %d; count = 1; }", i ? ", " : "", i, 100000 + i);
                fputs("); };\n", f);
                fclose(f);
                struct dc_error err = { 0 };
                struct dc_plan *p = plan_of(text, &err, false);
                if (n == 340)
                        CHECK(p != NULL, "340 map ranges are taken (%s)", err.msg);
                else
                        CHECK(!p && strstr(err.msg, "user.map: 341 ranges: the kernel takes at most 340"),
                              "341 map ranges are refused: %s", p ? "(a plan)" : err.msg);
                if (p)
                        dc_plan_free(p);
                free(text);
        }
}

static void test_bad_plans(void)
{
        for (size_t i = 0; i < sizeof(bad_plans) / sizeof(bad_plans[0]); i++) {
                struct dc_error err = { 0 };
                struct dc_plan *p = plan_of(bad_plans[i].text, &err, false);
                bool ok = !p && strncmp(err.msg, bad_plans[i].error, strlen(bad_plans[i].error)) == 0;
                CHECK(ok, "bad plan %zu is refused with: %s", i, bad_plans[i].error);
                if (!ok)
                        printf("#   got: %s\n", p ? "(a plan)" : err.msg);
                if (p)
                        dc_plan_free(p);
        }
}

static void test_fs_checks(void)
{
        struct dc_config *c = NULL;
        struct dc_error err = { 0 };
        int r = dc_config_load_string("rootfs = { path = \"/nonexistent-rootfs-dir\"; };\n", "/tmp/x.conf", NULL, &c, &err);
        CHECK(r == 0, "config loads");
        if (r < 0)
                return;
        struct dc_plan_opts o = { .state_root = "/run/diyctl" };
        struct dc_plan *p = NULL;
        r = dc_plan_build(c, &o, &p, &err);
        CHECK(r < 0 && strstr(err.msg, "/tmp/x.conf:1: rootfs.path: /nonexistent-rootfs-dir: No such file") == err.msg,
              "missing rootfs is an error at its key (%s)", err.msg);
        dc_config_free(c);
        c = NULL;
        r = dc_config_load_string("rootfs = { path = \"/\"; };\nvolumes = ( { source = \"/nonexistent-src\"; target = \"/x\"; } );\n",
                                  "/tmp/x.conf", NULL, &c, &err);
        CHECK(r == 0, "config loads");
        if (r < 0)
                return;
        r = dc_plan_build(c, &o, &p, &err);
        CHECK(r < 0 && strstr(err.msg, "/tmp/x.conf:2: volumes[0].source: /nonexistent-src: No such file") == err.msg,
              "missing volume source is an error (%s)", err.msg);
        dc_config_free(c);
}

/* As UID; unprivileged in a delegated cgroup when DELEGATED. */
static struct dc_plan *plan_cg(const char *text, uid_t uid, const char *subuid, bool delegated,
                               struct dc_error *err)
{
        struct dc_config *c = NULL;
        if (dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, err) < 0)
                return NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .skip_fs_checks = true, .uid = uid, .gid = uid,
                                  .subuid_file = subuid, .subgid_file = subuid, .cgroups = delegated,
                                  .cgroup_parent = delegated ? "self" : NULL };
        struct dc_plan *p = NULL;
        dc_plan_build(c, &o, &p, err);
        dc_config_free(c);
        return p;
}

static struct dc_plan *plan_as(const char *text, uid_t uid, const char *subuid, struct dc_error *err)
{
        return plan_cg(text, uid, subuid, false, err);
}

static const char *idmap_arg(const struct dc_plan *p, const char *key, int nth)
{
        int i = find_step(p, "idmap", NULL, NULL);
        if (i < 0)
                return NULL;
        const struct dc_kvs *a = &p->steps[i].args;
        for (size_t k = 0; k < a->n; k++)
                if (strcmp(a->v[k].key, key) == 0 && nth-- == 0)
                        return a->v[k].val;
        return NULL;
}

static void test_user_maps(void)
{
        char dir[] = "/tmp/dc-test-plan-XXXXXX";
        if (!mkdtemp(dir))
                return;
        char sub[64];
        snprintf(sub, sizeof(sub), "%s/subid", dir);
        FILE *f = fopen(sub, "w");
        fprintf(f, "# comment\nsomeone:300000:65536\n4242:100000:65536\n");
        fclose(f);
        const char *ns = "rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n";
        struct dc_error err = { 0 };
        char text[512];
        snprintf(text, sizeof(text), "%suser = { map = \"root\"; };\n", ns);
        struct dc_plan *p = plan_as(text, 4242, sub, &err);
        CHECK(p != NULL, "root map plans (%s)", err.msg);
        if (p) {
                int i = find_step(p, "idmap", NULL, NULL), sp = find_step(p, "spawn", NULL, NULL);
                CHECK(i >= 0 && i == sp + 1, "the maps are written right after the spawn (cloned with its user "
                                             "namespace, the first process waits for them)");
                CHECK(!dc_kvs_get(&p->steps[i].args, "holder"), "no holder process without a time namespace");
                CHECK_STREQ(idmap_arg(p, "uid", 0), "0 4242 1", "root: the caller becomes 0");
                CHECK_STREQ(idmap_arg(p, "setgroups", 0), "deny", "unprivileged: setgroups denied");
                CHECK_STREQ(idmap_arg(p, "method", 0), "direct", "no helper for one own line");
                CHECK(find_step(p, "cgroup", NULL, NULL) < 0 && find_step(p, "netns", NULL, NULL) < 0,
                      "rootless: no host cgroup, no host netns mount");
                dc_plan_free(p);
        }
        p = plan_as("rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\", \"time\"];\n"
                    "user = { map = \"root\"; };\ntime = { monotonic = 5; };\n", 4242, sub, &err);
        CHECK(p != NULL, "rootless with a time namespace plans (%s)", err.msg);
        if (p) {
                int i = find_step(p, "idmap", NULL, NULL), sp = find_step(p, "spawn", NULL, NULL);
                CHECK(i >= 0 && i < sp && dc_streq(dc_kvs_get(&p->steps[i].args, "holder"), "1"),
                      "with a time namespace: a holder makes the user namespace and gets the maps before the spawn");
                dc_plan_free(p);
        }
        p = plan_as("rootfs = { path = \"/r\"; };\nnamespaces = [\"mount\", \"pid\", \"user\", \"net\"];\n"
                    "user = { map = \"root\"; };\n", 4242, sub, &err);
        CHECK(p != NULL, "rootless with a net namespace plans (%s)", err.msg);
        if (p) {
                CHECK(find_step(p, "loopback-up", NULL, NULL) < 0 &&
                              find_step(p, "loopback-inside", NULL, NULL) > find_step(p, "rootfs", NULL, NULL),
                      "rootless: the first process brings its lo up itself");
                dc_plan_free(p);
        }
        snprintf(text, sizeof(text), "%suser = { map = \"auto\"; };\n", ns);
        p = plan_as(text, 4242, sub, &err);
        CHECK(p && dc_streq(idmap_arg(p, "uid", 0), "0 4242 1") && dc_streq(idmap_arg(p, "uid", 1), "1 100000 65536") &&
                      dc_streq(idmap_arg(p, "method", 0), "helper"),
              "auto, unprivileged: self then the subordinate range, via newuidmap");
        if (p)
                dc_plan_free(p);
        p = plan_as(text, 4343, sub, &err);
        CHECK(!p && strstr(err.msg, "/srv/ct/t.conf:3: user.map: \"auto\"") == err.msg && strstr(err.msg, "no range"),
              "auto without a subordinate range is an error at user.map (%s)", err.msg);
        if (p)
                dc_plan_free(p);
        snprintf(text, sizeof(text), "%suser = { map = ( { inside = 0; outside = 4242; count = 1; },\n"
                                     " { inside = 1; outside = 100000; count = 1000; } ); };\n", ns);
        p = plan_as(text, 4242, sub, &err);
        CHECK(p && dc_streq(idmap_arg(p, "uid", 1), "1 100000 1000") && dc_streq(idmap_arg(p, "gid", 1), "1 100000 1000"),
              "explicit maps for uid and gid (%s)", p ? "" : err.msg);
        if (p)
                dc_plan_free(p);
        snprintf(text, sizeof(text), "%suser = { map = ( { inside = 0; outside = 500000; count = 10; } ); };\n", ns);
        p = plan_as(text, 4242, sub, &err);
        CHECK(!p && strstr(err.msg, "is not yours to map"), "explicit map beyond the caller's allowance (%s)", err.msg);
        if (p)
                dc_plan_free(p);
        p = plan_as(text, 0, sub, &err);
        CHECK(p && dc_streq(idmap_arg(p, "uid", 0), "0 500000 10") && dc_streq(idmap_arg(p, "method", 0), "direct"),
              "root may map anything, directly");
        if (p)
                dc_plan_free(p);
        p = plan_as("rootfs = { path = \"/r\"; };\nlimits = { pids = 5; };\n", 4242, sub, &err);
        CHECK(!p && strstr(err.msg, "/srv/ct/t.conf:2: limits: resource limits need the container's own cgroup") == err.msg &&
                      strstr(err.msg, "systemd-run --user --scope -p Delegate=yes"),
              "rootless limits without a delegated cgroup are refused at their key, saying how to get one (%s)",
              err.msg);
        if (p)
                dc_plan_free(p);
        /* In a cgroup delegated to the caller: its own cgroup, v2 only, limits allowed. */
        snprintf(text, sizeof(text), "%suser = { map = \"root\"; };\nlimits = { memory = \"1M\";\n pids = 5; };\n", ns);
        p = plan_cg(text, 4242, sub, true, &err);
        CHECK(p != NULL, "rootless limits in a delegated cgroup plan (%s)", err.msg);
        if (p) {
                int i = find_step(p, "cgroup", NULL, NULL), sp = find_step(p, "spawn", NULL, NULL);
                int id = find_step(p, "idmap", NULL, NULL);
                CHECK(i >= 0 && i < sp && id == sp + 1,
                      "rootless: the cgroup, then the spawn (cloned into it), then the maps");
                const struct dc_kvs *a = i >= 0 ? &p->steps[i].args : NULL;
                CHECK(a && dc_streq(dc_kvs_get(a, "group"), "t") && dc_streq(dc_kvs_get(a, "under"), "self") &&
                              dc_streq(dc_kvs_get(a, "unprivileged"), "1"),
                      "rootless cgroup: NAME inside the launcher's cgroup, marked unprivileged");
                CHECK(a && dc_streq(dc_kvs_get(a, "pids"), "5") &&
                              dc_streq(dc_kvs_get(a, "pids-origin"), "/srv/ct/t.conf:5: limits.pids") &&
                              dc_streq(dc_kvs_get(a, "memory-origin"), "/srv/ct/t.conf:4: limits.memory") &&
                              !dc_kvs_get(a, "cpus-origin"),
                      "each limit carries its origin, for errors at start");
                char *buf = plan_text(p);
                CHECK(strstr(buf, "inside the launcher's delegated cgroup, on cgroup v2 only") &&
                              strstr(buf, "no device filter") && !strstr(buf, "devices allowed"),
                      "plan says: delegated, v2 only, no device filter");
                free(buf);
                dc_plan_free(p);
        }
        unlink(sub);
        rmdir(dir);
}

/* Parents before what is mounted in them, else in the order given. */
static void test_volume_order(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of("rootfs = { path = \"rootfs\"; };\n"
                                    "volumes = ( { source = \"/v/c\"; target = \"/data/cache\"; },\n"
                                    "            { type = \"tmpfs\"; target = \"/x//y/z/\"; },\n"
                                    "            { source = \"/v/d\"; target = \"/data\"; },\n"
                                    "            { source = \"/v/o\"; target = \"/opt\"; } );\n",
                                    &err, false);
        CHECK(p != NULL, "volumes plan (%s)", err.msg);
        if (!p)
                return;
        int data = find_step(p, "bind", "target", "/data"), opt = find_step(p, "bind", "target", "/opt");
        int cache = find_step(p, "bind", "target", "/data/cache"), xyz = find_step(p, "mount", "target", "/x/y/z");
        CHECK(data > 0 && data < opt && opt < cache && cache < xyz,
              "by depth, then as listed: /data, /opt, /data/cache, /x/y/z (%d %d %d %d)", data, opt, cache, xyz);
        CHECK_STREQ(dc_kvs_get(&p->steps[cache].args, "origin"), "/srv/ct/t.conf:2: volumes[0].target",
                    "each keeps its own key for errors");
        dc_plan_free(p);
}

/* rootfs.idmap: which directory rootfs is handed over as an idmapped mount.
 * The planner looks at the owner of the directory: one made here belongs to
 * whoever runs the test, below 65536 in every setup this runs in. */
static struct dc_plan *plan_dir(const char *dir, const char *rootfs_extra, const char *map, uid_t uid,
                                struct dc_error *err)
{
        char text[1024];
        snprintf(text, sizeof(text),
                 "rootfs = { path = \"%s\"; %s };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n"
                 "user = { map = ( %s ); };\n",
                 dir, rootfs_extra, map);
        struct dc_config *c = NULL;
        if (dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, err) < 0)
                return NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .uid = uid, .gid = uid };
        struct dc_plan *p = NULL;
        dc_plan_build(c, &o, &p, err);
        dc_config_free(c);
        return p;
}

static void test_rootfs_idmap(void)
{
        char dir[] = "/tmp/dc-test-idmap-XXXXXX";
        bool made = mkdtemp(dir) != NULL;
        CHECK(made, "a directory to plan with (%s)", made ? "" : strerror(errno));
        if (!made)
                return;
        const char *shifted = "{ inside = 0; outside = 300000; count = 65536; }";
        char own[96];
        snprintf(own, sizeof(own), "{ inside = 0; outside = %u; count = 1; }", (unsigned)geteuid());
        const char *mine = "{ inside = 0; outside = 1000; count = 1; }";
        static const struct {
                const char *extra, *what;
                int map; /* 0: shifted, 1: the directory's owner, 2: uid 1000's own */
                uid_t uid;
                bool idmapped, writable, fallback;
        } cases[] = {
                { "writable = \"tmpfs\";", "auto, tmpfs: the owner would be nobody's", 0, 0, true, false, true },
                { "writable = \"none\";", "auto, none", 0, 0, true, false, true },
                { "", "auto, direct (the default): writes would reach the directory", 0, 0, false, false, false },
                { "writable = \"tmpfs\";", "auto, the owner is mapped already", 1, 0, false, false, false },
                { "writable = \"tmpfs\";", "auto, unprivileged", 2, 1000, false, false, false },
                { "idmap = true;", "true, direct: writable", 0, 0, true, true, false },
                { "writable = \"tmpfs\"; idmap = false;", "false", 0, 0, false, false, false },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(cases); i++) {
                struct dc_error err = { 0 };
                const char *map = cases[i].map == 0 ? shifted : cases[i].map == 1 ? own : mine;
                struct dc_plan *p = plan_dir(dir, cases[i].extra, map, cases[i].uid, &err);
                CHECK(p != NULL, "%s: plans (%s)", cases[i].what, err.msg);
                if (!p)
                        continue;
                int k = find_step(p, "idmap-layers", NULL, NULL), rf = find_step(p, "rootfs", NULL, NULL);
                CHECK((k >= 0) == cases[i].idmapped, "%s: idmapped %s", cases[i].what, cases[i].idmapped ? "yes" : "no");
                CHECK(dc_streq(dc_kvs_get(&p->steps[rf].args, "idmapped"), "1") == cases[i].idmapped,
                      "%s: the rootfs step agrees", cases[i].what);
                /* "auto" says why not, where it is not obvious (a shifted
                 * tree, or no user namespace to speak of, say nothing) */
                const char *note = dc_kvs_get(&p->steps[rf].args, "idmap-note");
                bool want_note = !cases[i].idmapped && cases[i].map == 0 && cases[i].uid == 0 &&
                                 !strstr(cases[i].extra, "false");
                CHECK((note != NULL) == want_note, "%s: a note %s (%s)", cases[i].what, want_note ? "" : "not",
                      note ? note : "none");
                if (k >= 0) {
                        const struct dc_kvs *a = &p->steps[k].args;
                        CHECK_STREQ(dc_kvs_get(a, "source"), dir, "%s: the directory", cases[i].what);
                        CHECK(dc_streq(dc_kvs_get(a, "writable"), "1") == cases[i].writable, "%s: writable %d",
                              cases[i].what, cases[i].writable);
                        CHECK(dc_streq(dc_kvs_get(a, "auto"), "1") == cases[i].fallback, "%s: falls back %d",
                              cases[i].what, cases[i].fallback);
                        int w = find_step(p, "wait-launcher", NULL, NULL);
                        CHECK(w >= 0 && w < rf, "%s: the first process waits for it", cases[i].what);
                }
                dc_plan_free(p);
        }
        /* volumes[].idmap: the launcher's step lists them in mount order
         * (parents first), each bind names its index, and the first process
         * waits for the launcher before the first of them */
        struct dc_error err = { 0 };
        char text[1024];
        snprintf(text, sizeof(text),
                 "rootfs = { path = \"%s\"; idmap = false; };\nnamespaces = [\"mount\", \"pid\", \"user\"];\n"
                 "user = { map = ( %s ); };\n"
                 "volumes = ( { source = \"%s\"; target = \"/a/b\"; idmap = true; readonly = true; },\n"
                 "            { source = \"%s\"; target = \"/c\"; },\n"
                 "            { source = \"%s\"; target = \"/a\"; idmap = true; } );\n",
                 dir, shifted, dir, dir, dir);
        struct dc_config *c = NULL;
        struct dc_plan *p = NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl" };
        CHECK(dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, &err) == 0 && dc_plan_build(c, &o, &p, &err) == 0,
              "idmapped volumes plan (%s)", err.msg);
        dc_config_free(c);
        if (p) {
                int k = find_step(p, "idmap-layers", NULL, NULL);
                CHECK(k >= 0 && !dc_kvs_get(&p->steps[k].args, "source"), "one launcher step, without the rootfs");
                const struct dc_kvs *a = k >= 0 ? &p->steps[k].args : NULL;
                size_t nv = 0;
                char want0[600], want1[600];
                snprintf(want0, sizeof(want0), "rw %s", dir);
                snprintf(want1, sizeof(want1), "ro %s", dir);
                for (size_t i = 0; a && i < a->n; i++)
                        if (strcmp(a->v[i].key, "volume") == 0) {
                                CHECK_STREQ(a->v[i].val, nv == 0 ? want0 : want1, "volume %zu in mount order", nv);
                                CHECK(i + 1 < a->n && strcmp(a->v[i + 1].key, "volume-origin") == 0 &&
                                              strstr(a->v[i + 1].val, nv == 0 ? "t.conf:6: volumes[2].idmap"
                                                                              : "t.conf:4: volumes[0].idmap"),
                                      "volume %zu: its origin follows", nv);
                                nv++;
                        }
                CHECK(nv == 2, "two idmapped volumes (%zu)", nv);
                int ba = find_step(p, "bind", "target", "/a"), bb = find_step(p, "bind", "target", "/a/b");
                int bc = find_step(p, "bind", "target", "/c"), w = find_step(p, "wait-launcher", NULL, NULL);
                CHECK(ba >= 0 && bb >= 0 && bc >= 0 && ba < bb, "binds in mount order");
                CHECK(ba >= 0 && dc_streq(dc_kvs_get(&p->steps[ba].args, "idmapped"), "0") && bb >= 0 &&
                              dc_streq(dc_kvs_get(&p->steps[bb].args, "idmapped"), "1") && bc >= 0 &&
                              !dc_kvs_get(&p->steps[bc].args, "idmapped"),
                      "each idmapped bind names its mount; the plain one none");
                CHECK(w >= 0 && w < ba && w > find_step(p, "rootfs", NULL, NULL),
                      "the first process waits for the launcher after its root, before the first idmapped volume");
                dc_plan_free(p);
                p = NULL;
        }
        p = plan_dir(dir, "", shifted, 0, &err);
        int rf = p ? find_step(p, "rootfs", NULL, NULL) : -1;
        CHECK(rf >= 0 && strstr(dc_kvs_get(&p->steps[rf].args, "idmap-note") ?: "", "writable \"direct\": writes "
                                                                                     "would reach the directory"),
              "direct: the note says why, and what would idmap it");
        dc_plan_free(p);
        p = plan_dir(dir, "idmap = true;", own, 0, &err);
        CHECK(!p && strstr(err.msg, "rootfs.idmap: true, but ") && strstr(err.msg, "one of the container's host ids "
                                                                                   "already"),
              "true on a tree shifted for the map is refused (%s)", err.msg);
        dc_plan_free(p);
        char up[] = "/tmp/dc-test-upper-XXXXXX";
        if (mkdtemp(up)) {
                char extra[128];
                snprintf(extra, sizeof(extra), "writable = \"%s\";", up);
                p = plan_dir(dir, extra, shifted, 0, &err);
                rf = p ? find_step(p, "rootfs", NULL, NULL) : -1;
                CHECK(rf >= 0 && dc_streq(dc_kvs_get(&p->steps[rf].args, "upper-owner"), "300000:300000"),
                      "an upper layer directory: the ids it must belong to (%s)", err.msg);
                dc_plan_free(p);
                rmdir(up);
        }
        p = plan_dir(dir, "idmap = true;", mine, 1000, &err);
        CHECK(!p && strstr(err.msg, "/srv/ct/t.conf:1: rootfs.idmap: true needs root on the host") == err.msg,
              "unprivileged: true is refused (%s)", err.msg);
        dc_plan_free(p);
        rmdir(dir);
}

/* diyctl check over a fleet: what two configs cannot share on one host. */
static struct dc_config *conf_set(const char *file, const char *text, const char *set)
{
        struct dc_config *c = NULL;
        struct dc_error err;
        const char *sets[] = { set };
        struct dc_config_opts o = { .sets = sets, .n_sets = set ? 1 : 0 };
        if (dc_config_load_string(text, file, &o, &c, &err) < 0)
                printf("# %s: %s\n", file, err.msg);
        return c;
}

static struct dc_config *conf_at(const char *file, const char *text)
{
        return conf_set(file, text, NULL);
}

/* The clashes of C with the configs before it, "" when none. */
static const char *clashes(struct dc_error *err, const struct dc_config *c, size_t n, ...)
{
        const struct dc_config *before[8];
        va_list ap;
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                before[i] = va_arg(ap, const struct dc_config *);
        va_end(ap);
        if (dc_fleet_check(before, n, c, err) == 0)
                snprintf(err->msg, sizeof(err->msg), "%s", "");
        return err->msg;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Two rootfs groups, b checked after a: its clash contains WANT ("": none). */
static void rootfs_pair(const char *what, const char *ra, const char *rb, const char *want)
{
        char *ta = dc_xasprintf("rootfs = { %s };\n", ra), *tb = dc_xasprintf("rootfs = { %s };\n", rb);
        struct dc_config *wa = conf_at("/srv/fleet/wa.conf", ta), *wb = conf_at("/srv/fleet/wb.conf", tb);
        struct dc_error err = { 0 };
        const char *got = wa && wb ? clashes(&err, wb, 1, wa) : "(not loaded)";
        CHECK(want[0] ? strstr(got, want) != NULL : got[0] == 0, "%s: %s", what, got);
        dc_config_free(wa);
        dc_config_free(wb);
        free(ta);
        free(tb);
}

static void test_fleet(void)
{
        struct dc_config *a = conf_at("/srv/fleet/a.conf",
                                      "name = \"web\";\nrootfs = { path = \"/r\"; writable = \"/srv/up/web\"; };\n"
                                      "network = { mode = \"nat\"; address = \"10.88.0.6/30\";\n"
                                      "  ipv6 = { address = \"fd88:0:0:7::2/64\"; gateway = \"fd88:0:0:7::1\"; };\n"
                                      "  ports = ( { host = 8080; container = 80; }, { host = 53; container = 53; protocol = \"udp\"; } ); };\n");
        /* clashes with a on every count, in an order unlike its lines */
        struct dc_config *b = conf_at("/srv/fleet/b.conf",
                                      "rootfs = { path = \"/r\"; writable = \"/srv/up/web\"; };\n"
                                      "network = { mode = \"nat\";\n"
                                      "  ports = ( { host = 53; container = 5353; protocol = \"udp\"; }, { host = 8080; container = 8080; } );\n"
                                      "  ipv6 = { address = \"fd88:0:0:7::9/64\"; gateway = \"fd88:0:0:7::1\"; };\n"
                                      "  address = \"10.88.0.0/29\"; };\nname = \"web\";\n");
        /* shares nothing that matters: other subnet, 8080/udp, 53/tcp, an
         * upper layer beside a's (below /srv/up/web, but not in its upper/ or work/) */
        struct dc_config *c = conf_at("/srv/fleet/c.conf",
                                      "rootfs = { path = \"/r\"; writable = \"/srv/up/web/c\"; };\n"
                                      "network = { mode = \"nat\"; address = \"10.88.0.10/30\";\n"
                                      "  ports = ( { host = 8080; container = 80; protocol = \"udp\"; }, { host = 53; container = 53; } ); };\n");
        /* bridges: one address on two bridges is fine, on one it is not */
        struct dc_config *d = conf_at("/srv/fleet/d.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n"
                                                            "network = { mode = \"bridge\"; bridge = \"br0\"; address = \"10.2.3.4/24\"; };\n");
        struct dc_config *e = conf_at("/srv/fleet/e.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n"
                                                            "network = { mode = \"bridge\"; bridge = \"br1\"; address = \"10.2.3.4/24\"; };\n");
        struct dc_config *f = conf_at("/srv/fleet/f.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n"
                                                            "network = { mode = \"bridge\"; bridge = \"br0\"; address = \"10.2.3.4/16\"; };\n");
        /* a NAT subnet inside a bridge's network */
        struct dc_config *g = conf_at("/srv/fleet/g.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n"
                                                            "network = { mode = \"nat\"; address = \"10.2.3.6/30\"; };\n");
        CHECK(a && b && c && d && e && f && g, "the fleet's configs load");
        if (!(a && b && c && d && e && f && g))
                return;
        struct dc_error err = { 0 };
        CHECK_STREQ(clashes(&err, a, 0), "", "a first config clashes with nothing");
        CHECK_STREQ(clashes(&err, c, 1, a), "", "c shares nothing with a (an upper layer below a's, beside its upper/)");
        CHECK_STREQ(clashes(&err, e, 2, a, d), "", "one address on two bridges is fine");
        CHECK(dc_fleet_check((const struct dc_config *const[]){ a }, 1, b, &err) == -EINVAL, "b clashes with a");
        CHECK_STREQ(err.msg,
                    "/srv/fleet/b.conf:1: rootfs.writable: upper layer /srv/up/web is also the upper layer of "
                    "/srv/fleet/a.conf:2: two overlays writing one upper layer corrupt each other's view of it\n"
                    "/srv/fleet/b.conf:3: network.ports[0].host: 53/udp is also forwarded by /srv/fleet/a.conf:5: a "
                    "host port goes to one container\n"
                    "/srv/fleet/b.conf:3: network.ports[1].host: 8080/tcp is also forwarded by /srv/fleet/a.conf:5: "
                    "a host port goes to one container\n"
                    "/srv/fleet/b.conf:4: network.ipv6.address: NAT subnet fd88:0:0:7::/64 is also the NAT subnet of "
                    "/srv/fleet/a.conf:4: a NAT container's subnet is routed to its own link, and no other network "
                    "may overlap it; give each its own\n"
                    "/srv/fleet/b.conf:5: network.address: NAT subnet 10.88.0.0/29 overlaps NAT subnet 10.88.0.4/30 "
                    "of /srv/fleet/a.conf:3: a NAT container's subnet is routed to its own link, and no other "
                    "network may overlap it; give each its own\n"
                    "/srv/fleet/b.conf:6: name: \"web\" is also the name in /srv/fleet/a.conf:1: each container needs "
                    "its own (its state, cgroup and links are named after it)",
                    "every clash, in b's line order, each naming a's line");
        dc_fleet_check((const struct dc_config *const[]){ c, a }, 2, b, &err);
        CHECK(strstr(err.msg, "(container") == NULL && strstr(err.msg, "c.conf") == NULL,
              "only the config it clashes with is named");
        CHECK(strstr(clashes(&err, f, 3, a, c, d),
                     "/srv/fleet/f.conf:2: network.address: 10.2.3.4 on bridge br0 is also the address in "
                     "/srv/fleet/d.conf:2 (container d): ") == err.msg,
              "the same address on one bridge, whatever its prefix: %s", err.msg);
        CHECK(strstr(clashes(&err, g, 1, d), "/srv/fleet/g.conf:2: network.address: NAT subnet 10.2.3.4/30 overlaps "
                                             "bridge subnet 10.2.3.0/24 of /srv/fleet/d.conf:2 (container d): ") == err.msg,
              "a NAT subnet in a bridge's network: %s", err.msg);

        /* a name taken from the file name has no line */
        struct dc_config *h = conf_at("/srv/other/d.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n");
        const char *want_h = "/srv/other/d.conf: name: \"d\" (this file's name) is also the name in "
                             "/srv/fleet/d.conf: each container needs its own (its state, cgroup and links are named "
                             "after it); a config without name = takes its file's name: set one";
        CHECK(h && strcmp(clashes(&err, h, 1, d), want_h) == 0, "two files of one name in two directories: %s",
              err.msg);
        dc_config_free(h);

        /* long names cut and hashed alike for the host's link: a pair found
         * among 40000 names by sorting their link names */
        char n1[64] = "", n2[64] = "";
        enum { N = 40000 };
        char **seen = dc_xmalloc(N * sizeof(*seen));
        for (int i = 0; i < N; i++) {
                char x[64];
                snprintf(x, sizeof(x), "frontend-%d", i);
                _cleanup_free_ char *ifn = dc_net_host_ifname(x);
                seen[i] = dc_xasprintf("%s %s", ifn, x);
        }
        qsort(seen, N, sizeof(*seen), cmp_str);
        for (int i = 1; i < N && !n2[0]; i++)
                if (strncmp(seen[i], seen[i - 1], 15) == 0) {
                        snprintf(n1, sizeof(n1), "%s", seen[i - 1] + 16);
                        snprintf(n2, sizeof(n2), "%s", seen[i] + 16);
                }
        for (int i = 0; i < N; i++)
                free(seen[i]);
        free(seen);
        CHECK(n2[0] != 0, "a pair of names with one link name: %s %s", n1, n2);
        if (n2[0]) {
                char *t1 = dc_xasprintf("name = \"%s\";\nrootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; };\n", n1);
                char *t2 = dc_xasprintf("name = \"%s\";\nrootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; };\n", n2);
                struct dc_config *x1 = conf_at("/srv/fleet/x1.conf", t1), *x2 = conf_at("/srv/fleet/x2.conf", t2);
                _cleanup_free_ char *ifn = dc_net_host_ifname(n1);
                _cleanup_free_ char *want = dc_xasprintf("/srv/fleet/x2.conf:1: name: \"%s\" gives the host link the "
                                                         "name %s, as \"%s\" in /srv/fleet/x1.conf:1 (container %s): "
                                                         "two links cannot share a name",
                                                         n2, ifn, n1, n1);
                CHECK(x1 && x2 && strncmp(clashes(&err, x2, 1, x1), want, strlen(want)) == 0, "%s", err.msg);
                dc_config_free(x1);
                dc_config_free(x2);
                free(t1);
                free(t2);
        }

        /* the same value from one --set, which every file gets: no clash */
        struct dc_config *s1 = conf_set("/srv/fleet/s1.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n", "name=x");
        struct dc_config *s2 = conf_set("/srv/fleet/s2.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n", "name=x");
        CHECK(s1 && s2 && strcmp(clashes(&err, s2, 1, s1), "") == 0, "--set name=x over two files: %s", err.msg);
        dc_config_free(s1);
        dc_config_free(s2);

        /* writable layers */
        struct {
                const char *what, *a, *b, *want;
        } w[] = {
                { "an upper layer inside the other's upper/", "writable = \"/u/a\";", "writable = \"/u/a/upper/b\";",
                  "rootfs.writable: upper layer /u/a/upper/b is inside the upper layer of " },
                { "an upper layer holding the other's work/", "writable = \"/u/b/work\";", "writable = \"/u/b\";",
                  "rootfs.writable: upper layer /u/b holds the upper layer of " },
                { "two roots written directly", "writable = \"direct\";", "writable = \"direct\";",
                  "rootfs.path: root directory /r, written directly, is also the root, written directly, of " },
                { "a root written directly and an overlay on it", "writable = \"direct\";", "writable = \"tmpfs\";",
                  "rootfs.path: root directory /r is also the root, written directly, of " },
                { "an overlay on a root another writes directly", "writable = \"none\";", "writable = \"direct\";",
                  "rootfs.path: root directory /r, written directly, is also the root of " },
                { "two overlays on one root", "writable = \"tmpfs\";", "writable = \"none\";", "" },
                { "two roots written directly as by default", "", "",
                  "rootfs.path: root directory /r, written directly, is also the root, written directly, of " },
                { "an upper layer inside the other's root", "writable = \"tmpfs\";", "writable = \"/r/var/up\";",
                  "rootfs.writable: upper layer /r/var/up is inside the root directory of " },
                { "a root holding the other's upper layer", "writable = \"/r/var/up\";", "writable = \"none\";",
                  "rootfs.path: root directory /r holds the upper layer of " },
        };
        /* roots inside upper layers (paths given whole here) */
        struct {
                const char *what, *a, *b, *want;
        } w2[] = {
                { "a root inside the other's upper/", "path = \"/q\"; writable = \"/u/x\";", "path = \"/u/x/upper/r\";",
                  "rootfs.path: root directory /u/x/upper/r is inside the upper layer of " },
                { "an upper layer holding the other's root", "path = \"/u/x/work/r\";", "path = \"/q\"; writable = \"/u/x\";",
                  "rootfs.writable: upper layer /u/x holds the root directory of " },
                { "a root merely below the other's upper layer directory", "path = \"/q\"; writable = \"/u/x\";",
                  "path = \"/u/x/r\";", "" },
                { "a root written directly inside an overlay's lower layer", "path = \"/n\"; writable = \"tmpfs\";",
                  "path = \"/n/opt/inner\"; writable = \"direct\";",
                  "rootfs.path: root directory /n/opt/inner, written directly, is inside the root of " },
                { "a root written directly holding another's", "path = \"/n/opt/inner\"; writable = \"none\";",
                  "path = \"/n\";", "rootfs.path: root directory /n, written directly, holds the root of " },
                { "two overlays, one root inside the other's", "path = \"/n/opt/inner\"; writable = \"none\";",
                  "path = \"/n\"; writable = \"tmpfs\";", "" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(w2); i++)
                rootfs_pair(w2[i].what, w2[i].a, w2[i].b, w2[i].want);
        /* a --set of rootfs.writable, paths from the files: still compared */
        struct dc_config *v1 = conf_set("/srv/fleet/v1.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n", "rootfs.writable=direct");
        struct dc_config *v2 = conf_set("/srv/fleet/v2.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\n", "rootfs.writable=direct");
        CHECK(v1 && v2 && strstr(clashes(&err, v2, 1, v1), "rootfs.path: root directory /r, written directly, is also"),
              "--set rootfs.writable=direct over two files of one root: %s", err.msg);
        dc_config_free(v1);
        dc_config_free(v2);
        /* a --set of rootfs.path, one file writing it directly: compared */
        v1 = conf_set("/srv/fleet/v1.conf", "rootfs = { path = \"/a\"; writable = \"direct\"; };\n", "rootfs.path=\"/x\"");
        v2 = conf_set("/srv/fleet/v2.conf", "rootfs = { path = \"/b\"; writable = \"tmpfs\"; };\n", "rootfs.path=\"/x\"");
        CHECK(v1 && v2 && strstr(clashes(&err, v2, 1, v1), "rootfs.path: root directory /x is also the root, written"),
              "--set rootfs.path over two files, one writing it directly: %s", err.msg);
        dc_config_free(v1);
        dc_config_free(v2);
        /* many before it: the first named, the others counted */
        struct dc_config *p1 = conf_at("/srv/fleet/p1.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; ports = ( { host = 80; container = 80; } ); };\n");
        struct dc_config *p2 = conf_at("/srv/fleet/p2.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; ports = ( { host = 80; container = 80; } ); };\n");
        struct dc_config *p3 = conf_at("/srv/fleet/p3.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; ports = ( { host = 80; container = 80; } ); };\n");
        struct dc_config *p4 = conf_at("/srv/fleet/p4.conf", "rootfs = { path = \"/r\"; writable = \"tmpfs\"; };\nnetwork = { mode = \"nat\"; ports = ( { host = 80; container = 80; } ); };\n");
        CHECK_STREQ(p1 && p2 && p3 && p4 ? clashes(&err, p4, 3, p1, p2, p3) : "",
                    "/srv/fleet/p4.conf:2: network.ports[0].host: 80/tcp is also forwarded by /srv/fleet/p1.conf:2 "
                    "(container p1) and 2 other configs before it: a host port goes to one container",
                    "one message for a port three before it forward");
        dc_config_free(p1);
        dc_config_free(p2);
        dc_config_free(p3);
        dc_config_free(p4);
        for (size_t i = 0; i < DC_ARRAY_SIZE(w); i++) {
                /* the root is /r, or /q where the upper layer is in /r */
                _cleanup_free_ char *ra = dc_xasprintf("path = \"%s\"; %s", strstr(w[i].a, "/r/") ? "/q" : "/r", w[i].a);
                _cleanup_free_ char *rb = dc_xasprintf("path = \"%s\"; %s", strstr(w[i].b, "/r/") ? "/q" : "/r", w[i].b);
                rootfs_pair(w[i].what, ra, rb, w[i].want);
        }
        dc_config_free(a);
        dc_config_free(b);
        dc_config_free(c);
        dc_config_free(d);
        dc_config_free(e);
        dc_config_free(f);
        dc_config_free(g);
}

int main(void)
{
        test_fleet();
        test_rootfs_idmap();
        test_volume_order();
        test_user_maps();
        test_basic_plan();
        test_resolv_before_the_spawn();
        test_variants();
        test_many_errors();
        test_describe_and_json();
        test_bad_plans();
        test_map_extents();
        test_fs_checks();
        CHECK(dc_name_valid("web") && dc_name_valid("a.b-c_d") && !dc_name_valid("-x") && !dc_name_valid("Web") &&
                      !dc_name_valid(""),
              "name rules");
        return tap_done();
}
