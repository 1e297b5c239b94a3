/* Unit tests of security hardening (issue 8): capability names and sets, the
 * security keys, what the plan carries, the hostile-config checks, and the
 * seccomp filter itself (loaded in a forked child, which needs no root). */
#include "diyctl/security.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diyctl/config.h"
#include "diyctl/plan.h"
#include "tap.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct dc_config *load(const char *text, struct dc_error *err)
{
        struct dc_config *c = NULL;
        dc_config_load_string(text, "/srv/ct/t.conf", NULL, &c, err);
        return c;
}

static struct dc_plan *plan_of(const char *text, struct dc_error *err)
{
        struct dc_config *c = load(text, err);
        if (!c)
                return NULL;
        struct dc_plan_opts o = { .state_root = "/run/diyctl", .skip_fs_checks = true, .cgroups = true };
        struct dc_plan *p = NULL;
        dc_plan_build(c, &o, &p, err);
        dc_config_free(c);
        return p;
}

static const struct dc_step *find(const struct dc_plan *p, const char *kind)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->steps[i].ops->kind, kind) == 0)
                        return &p->steps[i];
        return NULL;
}

static int find_index(const struct dc_plan *p, const char *kind)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->steps[i].ops->kind, kind) == 0)
                        return (int)i;
        return -1;
}

#define ROOT "rootfs = { path = \"/srv/rootfs\"; };\n"

/* A config that must fail, with MSG in the error (which starts FILE:LINE: KEY:). */
static void bad(const char *text, const char *where, const char *msg)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of(text, &err);
        CHECK(p == NULL, "refused: %s", where);
        if (p)
                dc_plan_free(p);
        CHECK(strstr(err.msg, where) != NULL && strstr(err.msg, msg) != NULL, "error for %s names %s and says %s", where,
              where, msg);
        if (!(strstr(err.msg, where) && strstr(err.msg, msg)))
                printf("#   got: %s\n", err.msg);
}

/* ---- capabilities ------------------------------------------------------------ */

static void test_cap_names(void)
{
        int c;
        char *canon = NULL;
        /* (CHECK evaluates its condition twice: no allocating calls inside) */
        int r = dc_cap_parse("NET_ADMIN", &c, &canon);
        CHECK(r == 0 && c == 12, "NET_ADMIN is 12");
        CHECK_STREQ(canon, "CAP_NET_ADMIN", "canonical name");
        free(canon);
        static const char *const spellings[] = { "CAP_NET_ADMIN", "cap_net_admin", "net_admin", "Net_Admin" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(spellings); i++)
                CHECK(dc_cap_parse(spellings[i], &c, NULL) == 0 && c == 12, "%s is NET_ADMIN", spellings[i]);
        r = dc_cap_parse("all", &c, &canon);
        CHECK(r == 0 && c == DC_CAP_ALL, "ALL");
        CHECK_STREQ(canon, "ALL", "ALL canonical");
        free(canon);
        static const char *const bad_names[] = { "", "CAP_", "NET-ADMIN", "12", "CAP_12", "NET_ADMN", "sys admin",
                                                  "CAP_NET_ADMIN\n", "cap_chown,cap_kill" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad_names); i++)
                CHECK(dc_cap_parse(bad_names[i], &c, NULL) == -EINVAL, "%s is not a capability", bad_names[i]);
        char *n = dc_cap_name(0);
        CHECK_STREQ(n, "CAP_CHOWN", "name of 0");
        free(n);
        CHECK(dc_cap_name(-1) == NULL && dc_cap_name(63) == NULL, "no name outside the known range");
}

static void test_cap_sets(void)
{
        dc_capset def = dc_caps_default();
        CHECK(def == 0xa80425fbULL, "the default set is Docker's (%llx)", (unsigned long long)def);
        char *s = dc_caps_format(def);
        CHECK_STREQ(s, "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,CAP_SETUID,CAP_SETPCAP,"
                       "CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_CHROOT,CAP_MKNOD,CAP_AUDIT_WRITE,CAP_SETFCAP",
                    "formatted in number order");
        dc_capset back = 0;
        CHECK(dc_caps_parse_list(s, &back) == 0 && back == def, "format and parse round-trip");
        free(s);
        s = dc_caps_format(0);
        CHECK_STREQ(s, "", "the empty set is an empty string");
        CHECK(dc_caps_parse_list(s, &back) == 0 && back == 0, "and parses back");
        free(s);
        CHECK(dc_caps_parse_list("CAP_CHOWN,BOGUS", &back) == -EINVAL, "a bad list is refused");
        CHECK(dc_caps_parse_list("ALL", &back) == -EINVAL, "ALL is not a member of a list");
        s = dc_caps_format(dc_caps_all());
        CHECK(dc_caps_parse_list(s, &back) == 0 && back == dc_caps_all(), "every capability round-trips");
        free(s);

        struct dc_strv add = { 0 }, drop = { 0 };
        dc_capset r;
        CHECK(dc_caps_resolve(&add, &drop, &r) == 0 && r == def, "no changes: the default");
        dc_strv_push(&add, "CAP_NET_ADMIN");
        dc_strv_push(&drop, "CAP_CHOWN");
        CHECK(dc_caps_resolve(&add, &drop, &r) == 0 && r == ((def | DC_CAP_BIT(12)) & ~DC_CAP_BIT(0)), "add and drop");
        dc_strv_free(&drop);
        dc_strv_push(&drop, "ALL");
        CHECK(dc_caps_resolve(&add, &drop, &r) == 0 && r == DC_CAP_BIT(12), "drop ALL: only what is added");
        dc_strv_free(&add);
        dc_strv_free(&drop);
        dc_strv_push(&add, "ALL");
        dc_strv_push(&drop, "CAP_SYS_ADMIN");
        CHECK(dc_caps_resolve(&add, &drop, &r) == 0 && r == (dc_caps_all() & ~DC_CAP_BIT(21)),
              "add ALL: everything but what is dropped");
        dc_strv_free(&drop);
        dc_strv_push(&drop, "ALL");
        CHECK(dc_caps_resolve(&add, &drop, &r) == -EINVAL, "ALL in both is refused");
        dc_strv_free(&add);
        dc_strv_free(&drop);
}

/* ---- config and plan --------------------------------------------------------- */

static void test_config_keys(void)
{
        struct dc_error err = { 0 };
        struct dc_config *c = load(ROOT, &err);
        CHECK(c != NULL, "minimal config (%s)", err.msg);
        if (c) {
                CHECK(c->security.no_new_privileges, "no_new_privileges defaults to true");
                CHECK(c->security.seccomp == DC_SECCOMP_DEFAULT, "seccomp defaults to default");
                CHECK(c->security.cap_add.n == 0 && c->security.cap_drop.n == 0, "no changes by default");
                dc_config_free(c);
        }
        c = load(ROOT "security = { capabilities = { add = [ \"net_admin\", \"CAP_SYS_PTRACE\" ]; drop = [ \"all\" ]; };\n"
                      "  seccomp = \"unconfined\"; no_new_privileges = false; };\n",
                 &err);
        CHECK(c != NULL, "every security key (%s)", err.msg);
        if (c) {
                CHECK(c->security.cap_add.n == 2, "two added");
                CHECK_STREQ(c->security.cap_add.v[0], "CAP_NET_ADMIN", "names are canonical");
                CHECK_STREQ(c->security.cap_drop.v[0], "ALL", "ALL canonical");
                CHECK(c->security.seccomp == DC_SECCOMP_UNCONFINED, "unconfined");
                CHECK(!c->security.no_new_privileges, "no_new_privileges false");
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                dc_config_print_json(c, m);
                fclose(m);
                CHECK(strstr(buf, "\"security\": {") && strstr(buf, "\"CAP_NET_ADMIN\"") &&
                              strstr(buf, "\"seccomp\": \"unconfined\"") && strstr(buf, "\"no_new_privileges\": false"),
                      "the resolved config shows them");
                free(buf);
                dc_config_free(c);
        }
        struct dc_config_opts o = { .sets = (const char *[]){ "security.capabilities.add=[\"NET_RAW\",\"KILL\"]" },
                                    .n_sets = 1 };
        c = NULL;
        dc_config_load_string(ROOT, "/srv/ct/t.conf", &o, &c, &err);
        CHECK(c && c->security.cap_add.n == 2, "--set security.capabilities.add (%s)", err.msg);
        dc_config_free(c);
}

static void test_plan(void)
{
        struct dc_error err = { 0 };
        struct dc_plan *p = plan_of(ROOT, &err);
        CHECK(p != NULL, "plans (%s)", err.msg);
        if (!p)
                return;
        const struct dc_step *ex = find(p, "exec");
        CHECK(ex && strcmp(dc_kvs_get(&ex->args, "seccomp"), "default") == 0, "exec: seccomp default");
        CHECK(ex && strcmp(dc_kvs_get(&ex->args, "no-new-privs"), "1") == 0, "exec: no-new-privs");
        dc_capset caps = 0;
        CHECK(ex && dc_caps_parse_list(dc_kvs_get(&ex->args, "caps"), &caps) == 0 && caps == dc_caps_default(),
              "exec: the default capability list");
        struct dc_security sec;
        CHECK(ex && dc_security_from_kvs(&ex->args, &sec, &err) == 0 && sec.caps == dc_caps_default() && sec.seccomp &&
                      sec.no_new_privs,
              "the exec step's arguments read back");
        struct dc_kvs none = { 0 };
        CHECK(dc_security_from_kvs(&none, &sec, &err) == 0 && sec.caps == dc_caps_default() && sec.seccomp &&
                      sec.no_new_privs,
              "missing keys (an older status file) mean the defaults");
        int pivot = find_index(p, "pivot-root"), ro = find_index(p, "readonly"), mask = find_index(p, "mask"),
            nodev = find_index(p, "nodev");
        int wait = find_index(p, "wait-launcher"), exec = find_index(p, "exec");
        CHECK(pivot > 0 && ro == pivot + 1 && mask == ro + 1 && nodev == mask + 1 && wait > nodev && exec > wait,
              "readonly, mask and nodev after pivot_root, before waiting for the launcher and exec");
        const struct dc_step *m = find(p, "mask");
        bool kcore = false, keys = false, sysrq = false, fw = false;
        for (size_t i = 0; m && i < m->args.n; i++) {
                kcore |= dc_streq(m->args.v[i].val, "/proc/kcore");
                keys |= dc_streq(m->args.v[i].val, "/proc/keys");
                sysrq |= dc_streq(m->args.v[i].val, "/proc/sysrq-trigger");
                fw |= dc_streq(m->args.v[i].val, "/sys/firmware");
        }
        CHECK(kcore && keys && sysrq && fw, "kcore, keys, sysrq-trigger and /sys/firmware are masked");
        const struct dc_step *r = find(p, "readonly");
        CHECK(r && dc_kvs_get(&r->args, "path") && strcmp(dc_kvs_get(&r->args, "path"), "/proc/bus") == 0,
              "read-only paths start with /proc/bus");
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        dc_plan_print(p, f);
        fclose(f);
        CHECK(strstr(buf, "capabilities: CAP_CHOWN,") && strstr(buf, "seccomp: default; no_new_privs"),
              "diyctl plan shows the capabilities and the seccomp profile");
        CHECK(strstr(buf, "devices allowed: null zero full random urandom tty ptmx pts/*") != NULL,
              "diyctl plan shows the device allow-list");
        free(buf);
        int sys = -1;
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->steps[i].ops->kind, "mount") == 0 && dc_streq(dc_kvs_get(&p->steps[i].args, "target"), "/sys"))
                        sys = (int)i;
        CHECK(sys > 0 && dc_startswith(dc_kvs_get(&p->steps[sys].args, "flags"), "ro,"), "/sys read-only");
        dc_plan_free(p);

        p = plan_of(ROOT "network = { mode = \"host\"; };\n", &err);
        sys = -1;
        for (size_t i = 0; p && i < p->n; i++)
                if (strcmp(p->steps[i].ops->kind, "mount") == 0 && dc_streq(dc_kvs_get(&p->steps[i].args, "target"), "/sys"))
                        sys = (int)i;
        CHECK(p && sys > 0 && dc_startswith(dc_kvs_get(&p->steps[sys].args, "flags"), "ro,"),
              "/sys read-only with the host's network too");
        if (p)
                dc_plan_free(p);

        p = plan_of(ROOT "security = { capabilities = { drop = [ \"ALL\" ]; }; seccomp = \"unconfined\"; "
                         "no_new_privileges = false; };\n",
                    &err);
        ex = p ? find(p, "exec") : NULL;
        CHECK(ex && strcmp(dc_kvs_get(&ex->args, "caps"), "") == 0, "drop ALL: an empty list");
        CHECK(ex && strcmp(dc_kvs_get(&ex->args, "seccomp"), "unconfined") == 0 &&
                      strcmp(dc_kvs_get(&ex->args, "no-new-privs"), "0") == 0,
              "unconfined, no no_new_privs");
        if (p)
                dc_plan_free(p);
}

static void test_bad_configs(void)
{
        bad(ROOT "security = { capabilities = { add = [ \"NET_ADMN\" ]; }; };\n", "t.conf:2: security.capabilities.add",
            "is not a capability");
        bad(ROOT "security = { capabilities = { add = [ 12 ]; }; };\n", "t.conf:2: security.capabilities.add",
            "expected an array of strings");
        bad(ROOT "security = { capabilities = { add = [ \"KILL\", \"cap_kill\" ]; }; };\n",
            "t.conf:2: security.capabilities.add", "CAP_KILL is listed twice");
        bad(ROOT "security = { capabilities = { add = [ \"KILL\" ]; drop = [ \"CAP_KILL\" ]; }; };\n",
            "t.conf:2: security.capabilities.drop", "CAP_KILL is also in security.capabilities.add");
        bad(ROOT "security = { capabilities = { add = [ \"ALL\" ]; drop = [ \"all\" ]; }; };\n",
            "t.conf:2: security.capabilities.drop", "ALL is also in security.capabilities.add");
        bad(ROOT "security = { capabilities = { keep = [ \"KILL\" ]; }; };\n", "t.conf:2: security.capabilities.keep",
            "unknown key");
        bad(ROOT "security = { seccomp = \"none\"; };\n", "t.conf:2: security.seccomp", "is not a seccomp profile");
        bad(ROOT "security = { no_new_privileges = 1; };\n", "t.conf:2: security.no_new_privileges",
            "expected a boolean");
        bad(ROOT "security = { secomp = \"default\"; };\n", "t.conf:2: security.secomp",
            "did you mean \"seccomp\"");
        /* volumes cannot undo a mask or a read-only path */
        bad(ROOT "volumes = ( { type = \"tmpfs\"; target = \"/proc/sys\"; } );\n", "t.conf:2: volumes[0].target",
            "inside /proc");
        bad(ROOT "volumes = ( { source = \"/srv\"; target = \"//proc/./kcore\"; } );\n", "volumes[0].target",
            "inside /proc");
        bad(ROOT "volumes = ( { type = \"tmpfs\"; target = \"/proc\"; } );\n", "volumes[0].target", "inside /proc");
}

/* Hostile strings: whatever reaches a mount option, a link name, a file name
 * or a line-based file is checked where it is read. */
static void test_hostile_strings(void)
{
        bad(ROOT "hostname = \"web\\nevil\";\n", "t.conf:2: hostname", "not a valid hostname");
        bad(ROOT "hostname = \"a;reboot\";\n", "t.conf:2: hostname", "not a valid hostname");
        bad(ROOT "name = \"../../etc\";\n", "t.conf:2: name", "not a valid name");
        bad(ROOT "name = \"web\\n\";\n", "t.conf:2: name", "not a valid name");
        bad("rootfs = { path = \"/srv/root\\nfs\"; };\n", "t.conf:1: rootfs.path", "control character");
        bad("rootfs = { path = \"/srv/rootfs\"; writable = \"/srv/up\\tper\"; };\n", "t.conf:1: rootfs.writable",
            "control character");
        bad(ROOT "volumes = ( { source = \"/srv/a\\nb\"; target = \"/a\"; } );\n", "volumes[0].source",
            "control character");
        bad(ROOT "volumes = ( { type = \"tmpfs\"; target = \"/a\\x1b[2J\"; } );\n", "volumes[0].target",
            "control character");
        bad(ROOT "volumes = ( { type = \"tmpfs\"; target = \"/a\\nb\"; } );\n", "volumes[0].target",
            "control character");
        bad(ROOT "process = { cwd = \"/\\r\"; };\n", "t.conf:2: process.cwd", "control character");
        bad(ROOT "process = { user = \"root\\n\"; };\n", "t.conf:2: process.user", "is not");
        bad(ROOT "process = { user = \"0:0,1\"; };\n", "t.conf:2: process.user", "is not");
        bad(ROOT "network = { mode = \"nat\"; interface = \"eth0/../x\"; };\n", "t.conf:2: network.interface",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"nat\"; interface = \"eth 0\"; };\n", "t.conf:2: network.interface",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"bridge\"; bridge = \"br0\\\"; rm -rf /\"; };\n", "t.conf:2: network.bridge",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"bridge\"; bridge = \"br\\\"x\"; };\n", "t.conf:2: network.bridge",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"nat\"; interface = \"-j\"; };\n", "t.conf:2: network.interface",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"nat\"; interface = \"e;x\"; };\n", "t.conf:2: network.interface",
            "not a valid interface name");
        bad(ROOT "network = { mode = \"nat\"; address = \"10.88.0.2/30 masquerade\"; };\n", "t.conf:2: network.address",
            "not an IPv4 address");
        bad(ROOT "network = { mode = \"nat\"; dns = [ \"1.1.1.1\\nnameserver 6.6.6.6\" ]; };\n", "t.conf:2: network.dns",
            "not an IPv4 or IPv6 address");
        bad(ROOT "process = { env = [ \"=x\" ]; };\n", "t.conf:2: process.env", "empty variable name");
}

/* ---- the seccomp filter -------------------------------------------------------- */

/* In a child: no_new_privs, the default filter for CAPS, then the calls;
 * exits 0 when every result was as expected, else the number of the first
 * surprise. */
static int filter_child(dc_capset caps)
{
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 100;
        struct dc_error err = { 0 };
        if (dc_seccomp_load(caps, &err) < 0)
                return 101;
        errno = 0;
        if (syscall(SYS_keyctl, 0, -4, 0) != -1 || errno != EPERM)
                return 1;
        if (syscall(SYS_unshare, CLONE_NEWUSER) != -1 || errno != EPERM)
                return 2;
        struct { uint64_t flags, pidfd, ctid, ptid, sig, stack, size, tls; } ca = { .sig = SIGCHLD };
        if (syscall(SYS_clone3, &ca, sizeof(ca)) != -1 || errno != ENOSYS)
                return 3;
        if (syscall(SYS_personality, 0xffffffffUL) < 0)
                return 4;
        if (syscall(SYS_personality, 0x0040000UL) != -1 || errno != EPERM)
                return 5;
        char c = 'x';
        if (ioctl(0, TIOCSTI, &c) != -1 || errno != EPERM)
                return 6;
        if (syscall(SYS_mount, "none", "/tmp", "tmpfs", 0UL, NULL) != -1 || errno != EPERM)
                return 7;
        if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
                return 8;
        if (getpid() <= 0 || access("/", F_OK) != 0)
                return 9; /* ordinary calls work */
        pid_t pid = fork(); /* clone without namespace flags works */
        if (pid == 0)
                _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
                return 10;
        if (syscall(SYS_clone, (unsigned long)CLONE_NEWNS | SIGCHLD, 0UL, NULL, NULL, 0UL) != -1 || errno != EPERM)
                return 11;
        return 0;
}

static int run_child(dc_capset caps)
{
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
                _exit(filter_child(caps));
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
                return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

/* A classic BPF interpreter for seccomp programs, for the instructions
 * libseccomp emits; an unknown one answers 0xffffffff (the test fails). The
 * call's arguments are all 0. */
static uint32_t run_filter(const struct sock_filter *p, unsigned len, uint32_t arch, uint32_t nr)
{
        uint32_t data[16] = { nr, arch }; /* struct seccomp_data: nr, arch, ip, args: zero */
        uint32_t a = 0, x = 0, mem[16] = { 0 };
        for (unsigned pc = 0; pc < len; pc++) {
                const struct sock_filter *i = &p[pc];
                switch (i->code) {
                case BPF_LD | BPF_W | BPF_ABS: a = i->k / 4 < 16 ? data[i->k / 4] : 0; break;
                case BPF_LD | BPF_MEM: a = mem[i->k & 15]; break;
                case BPF_LDX | BPF_MEM: x = mem[i->k & 15]; break;
                case BPF_ST: mem[i->k & 15] = a; break;
                case BPF_STX: mem[i->k & 15] = x; break;
                case BPF_ALU | BPF_AND | BPF_K: a &= i->k; break;
                case BPF_MISC | BPF_TAX: x = a; break;
                case BPF_MISC | BPF_TXA: a = x; break;
                case BPF_JMP | BPF_JA: pc += i->k; break;
                case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i->k ? i->jt : i->jf; break;
                case BPF_JMP | BPF_JGT | BPF_K: pc += a > i->k ? i->jt : i->jf; break;
                case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i->k ? i->jt : i->jf; break;
                case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i->k) ? i->jt : i->jf; break;
                case BPF_RET | BPF_K: return i->k;
                case BPF_RET | BPF_A: return a;
                default: return 0xffffffff;
                }
        }
        return 0xffffffff;
}

static void test_seccomp_filter(void)
{
        int r = run_child(dc_caps_default());
        CHECK(r == 0, "the default filter refuses what it should, with EPERM (ENOSYS for clone3), and no more (%d)", r);
        /* With CAP_SYS_ADMIN, mount and unshare are the kernel's to decide. */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                struct dc_error err = { 0 };
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                    dc_seccomp_load(dc_caps_default() | DC_CAP_BIT(21), &err) < 0)
                        _exit(100);
                /* clone3 is no longer the filter's ENOSYS (the kernel allows a
                 * plain clone3 to anyone) */
                struct { uint64_t flags, pidfd, ctid, ptid, sig, stack, size, tls; } ca = { .sig = SIGCHLD };
                long k = syscall(SYS_clone3, &ca, sizeof(ca));
                if (k == 0)
                        _exit(0);
                if (k > 0)
                        waitpid((pid_t)k, NULL, 0);
                _exit(k > 0 ? 0 : 1);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "with CAP_SYS_ADMIN the namespace calls pass the filter");
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        struct dc_error err = { 0 };
        int x = fd >= 0 ? dc_seccomp_export(dc_caps_default(), fd, &err) : -1;
        CHECK(x == 0, "the filter exports as BPF (%s)", err.msg);
        if (fd >= 0)
                close(fd);

        /* The filter carried by the binary is exactly a fresh compile's. */
        const struct dc_seccomp_prebuilt *pre = dc_seccomp_prebuilt_for(dc_caps_default());
        CHECK(pre != NULL, "the build carries the default filter");
        CHECK(dc_seccomp_prebuilt_for(dc_caps_default() | DC_CAP_BIT(21 /* CAP_SYS_ADMIN */)) == NULL,
              "and only for the default capabilities");
        struct sock_filter *fresh = NULL;
        size_t n_fresh = 0;
        x = dc_seccomp_program(dc_caps_default(), &fresh, &n_fresh, &err);
        CHECK(x == 0, "the filter compiles to a program in memory (%s)", err.msg);
        CHECK(pre && n_fresh == pre->len && memcmp(fresh, pre->insns, n_fresh * sizeof(*fresh)) == 0,
              "the prebuilt filter is the program libseccomp compiles now (%u instructions)", pre ? pre->len : 0);
#if defined(__x86_64__)
        /* What the program answers, run here by a small interpreter: the
         * native and i386 numbers of keyctl are refused, x32 calls and unknown
         * architectures get ENOSYS, an ordinary call passes. (The kernels
         * here disable x32, so only this shows the filter's own answer.) Both
         * the fresh compile and the one the binary carries. */
        const uint32_t x86_64 = 0xc000003e, i386 = 0x40000003, eperm = 0x00050000 | EPERM,
                       enosys = 0x00050000 | ENOSYS, allow = 0x7fff0000;
        for (int k = 0; k < 2; k++) {
                const struct sock_filter *prog = k == 0 ? fresh : pre ? pre->insns : NULL;
                unsigned len = k == 0 ? (unsigned)n_fresh : pre ? pre->len : 0;
                const char *which = k == 0 ? "fresh" : "prebuilt";
                CHECK(prog && run_filter(prog, len, x86_64, 250) == eperm, "%s: x86-64 keyctl: EPERM", which);
                CHECK(prog && run_filter(prog, len, x86_64, 39) == allow, "%s: x86-64 getpid: allowed", which);
                CHECK(prog && run_filter(prog, len, i386, 288) == eperm, "%s: i386 keyctl: EPERM", which);
                CHECK(prog && run_filter(prog, len, i386, 20) == allow, "%s: i386 getpid: allowed", which);
                CHECK(prog && run_filter(prog, len, x86_64, 0x40000000 | 250) == enosys, "%s: x32 keyctl: ENOSYS",
                      which);
                CHECK(prog && run_filter(prog, len, x86_64, 0x40000000 | 39) == enosys, "%s: x32 getpid: ENOSYS",
                      which);
                CHECK(prog && run_filter(prog, len, 0xc00000b7 /* aarch64 */, 39) == enosys,
                      "%s: another architecture: ENOSYS", which);
        }
#endif
        free(fresh);
        if (pre) {
                pid_t p = fork();
                if (p == 0) {
                        struct dc_error e2 = { 0 };
                        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || dc_seccomp_load(dc_caps_default(), &e2) < 0)
                                _exit(2);
                        /* keyctl is refused with EPERM (without a filter, reading
                         * the session keyring's id works for anyone, and
                         * nothing is changed if the filter fails to refuse it:
                         * kexec_load(0, 0, NULL, 0), tried here before, would
                         * unload the host's kexec image as root) */
                        _exit(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0) < 0 &&
                                              errno == EPERM
                                      ? 0
                                      : 1);
                }
                int ws = 0;
                waitpid(p, &ws, 0);
                CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the prebuilt filter loads and refuses keyctl");
        }
}

int main(void)
{
        test_cap_names();
        test_cap_sets();
        test_config_keys();
        test_plan();
        test_bad_configs();
        test_hostile_strings();
        test_seccomp_filter();
        return tap_done();
}
