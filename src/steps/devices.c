/* The devices a container may create and open: only those it is given (null,
 * zero, full, random, urandom, tty, ptmx and the pty slaves). Applied to the
 * container's own cgroup before its process runs, in every hierarchy that can
 * enforce it:
 *
 *   cgroup v1, devices controller: "a" into devices.deny, then one line per
 *       allowed device into devices.allow;
 *   cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup
 *       (BPF_F_ALLOW_MULTI, so a service manager's own program still runs;
 *       the kernel allows an access only when every program does).
 *
 * On a hybrid host the v1 controller alone: the kernel would ask a v2
 * program as well, but it would refuse nothing more (cgroup.c skips it).
 *
 * Nothing is journaled for this: both live in the container's cgroup, which
 * the cgroup step journals and removes. The BPF program is attached with no
 * pinned reference of ours (the fd is closed at once), so removing the
 * cgroup detaches and frees it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "diyctl/util.h"
#include "steps.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* minor -1: any. Every access (read, write, mknod) is allowed on these. */
static const struct dev_rule {
        char type;
        int major, minor;
} rules[] = {
        { 'c', 1, 3 },    /* null */
        { 'c', 1, 5 },    /* zero */
        { 'c', 1, 7 },    /* full */
        { 'c', 1, 8 },    /* random */
        { 'c', 1, 9 },    /* urandom */
        { 'c', 5, 0 },    /* tty */
        { 'c', 5, 2 },    /* ptmx (/dev/pts/ptmx) */
        { 'c', 136, -1 }, /* the pty slaves, /dev/pts/N */
};

const char *dc_devices_summary(void)
{
        return "null zero full random urandom tty ptmx pts/*";
}

/* --- cgroup v1 --------------------------------------------------------------- */

static int restrict_v1(const char *dir, struct dc_error *err)
{
        _cleanup_free_ char *deny = dc_xasprintf("%s/devices.deny", dir);
        _cleanup_free_ char *allow = dc_xasprintf("%s/devices.allow", dir);
        int r = dc_write_file(deny, "a");
        if (r < 0)
                return dc_err(err, -r, "cannot deny devices in %s: %s", dir, strerror(-r));
        for (size_t i = 0; i < DC_ARRAY_SIZE(rules); i++) {
                char line[64];
                if (rules[i].minor < 0)
                        snprintf(line, sizeof(line), "%c %d:* rwm", rules[i].type, rules[i].major);
                else
                        snprintf(line, sizeof(line), "%c %d:%d rwm", rules[i].type, rules[i].major, rules[i].minor);
                r = dc_write_file(allow, line);
                if (r < 0)
                        return dc_err(err, -r, "cannot allow %s in %s: %s", line, dir, strerror(-r));
        }
        return 0;
}

/* --- cgroup v2: a device program ---------------------------------------------- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* The program, for a struct bpf_cgroup_dev_ctx in r1:
 *     r2 = access_type & 0xffff (the device type), r3 = major, r4 = minor
 *     for each rule: if (type, major[, minor]) match: return 1
 *     return 0 */
static size_t build_program(struct bpf_insn *p, size_t cap)
{
        size_t n = 0;
#define EMIT(x)                         \
        do {                            \
                if (n < cap)            \
                        p[n] = (x);     \
                n++;                    \
        } while (0)
        EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0)); /* access_type */
        EMIT(INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
        EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 4, 0)); /* major */
        EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 8, 0)); /* minor */
        for (size_t i = 0; i < DC_ARRAY_SIZE(rules); i++) {
                const struct dev_rule *r = &rules[i];
                int type = r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
                bool any = r->minor < 0;
                /* the rest of this block after each test: skip it on a mismatch */
                short rest = any ? 3 : 4;
                EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, rest--, type));
                EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, rest--, r->major));
                if (!any)
                        EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, rest--, r->minor));
                EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
                EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        }
        EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
        EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
#undef EMIT
        return n;
}

static int restrict_v2(const char *dir, struct dc_error *err)
{
        struct bpf_insn prog[128];
        size_t n = build_program(prog, DC_ARRAY_SIZE(prog));
        if (n > DC_ARRAY_SIZE(prog))
                return dc_err(err, E2BIG, "internal error: device program too long");
        static char log[4096];
        log[0] = 0;
        union bpf_attr la;
        memset(&la, 0, sizeof(la));
        la.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        la.insn_cnt = (unsigned)n;
        la.insns = (uint64_t)(uintptr_t)prog;
        la.license = (uint64_t)(uintptr_t) "GPL";
        /* Without a verifier log: writing it is most of the load's cost
         * (bench/README.md); only a refused program is loaded again with
         * one, to say why. */
        _cleanup_close_ int pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &la, sizeof(la));
        if (pfd < 0 && errno != ENOSYS && errno != EPERM) {
                int e = errno;
                la.log_buf = (uint64_t)(uintptr_t)log;
                la.log_size = sizeof(log);
                la.log_level = 1;
                int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &la, sizeof(la));
                if (again >= 0 || errno == ENOSPC)
                        log[0] = 0; /* no explanation after all, or one too long */
                if (again >= 0)
                        close(again);
                errno = e;
        }
        if (pfd < 0)
                return dc_err(err, errno, "cannot load the device filter (BPF) for %s: %s%s%.200s", dir,
                              strerror(errno), log[0] ? ": " : "", log);
        _cleanup_close_ int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0)
                return dc_err(err, errno, "%s: %s", dir, strerror(errno));
        union bpf_attr aa;
        memset(&aa, 0, sizeof(aa));
        aa.target_fd = (unsigned)cg;
        aa.attach_bpf_fd = (unsigned)pfd;
        aa.attach_type = BPF_CGROUP_DEVICE;
        aa.attach_flags = BPF_F_ALLOW_MULTI;
        if (syscall(SYS_bpf, BPF_PROG_ATTACH, &aa, sizeof(aa)) < 0)
                return dc_err(err, errno, "cannot attach the device filter to %s: %s", dir, strerror(errno));
        return 0;
}

int dc_devices_restrict(const char *dir, struct dc_error *err)
{
        struct statfs sf;
        if (statfs(dir, &sf) < 0)
                return dc_err(err, errno, "%s: %s", dir, strerror(errno));
        if ((long)sf.f_type == CGROUP2_SUPER_MAGIC)
                return restrict_v2(dir, err);
        _cleanup_free_ char *deny = dc_xasprintf("%s/devices.deny", dir);
        if (access(deny, F_OK) == 0)
                return restrict_v1(dir, err);
        return 0; /* a v1 hierarchy without the devices controller */
}
