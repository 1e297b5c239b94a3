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

#include "diyctl/config.h"
#include "diyctl/util.h"
#include "steps.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* minor -1: any. Every access (read, write, mknod) is allowed on these. */
struct dev_rule {
        char type;
        int major, minor;
        unsigned access; /* BPF_DEVCG_ACC_* */
};

#define ALL_ACCESS (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

static const struct dev_rule ours[] = {
        { 'c', 1, 3, ALL_ACCESS },    /* null */
        { 'c', 1, 5, ALL_ACCESS },    /* zero */
        { 'c', 1, 7, ALL_ACCESS },    /* full */
        { 'c', 1, 8, ALL_ACCESS },    /* random */
        { 'c', 1, 9, ALL_ACCESS },    /* urandom */
        { 'c', 5, 0, ALL_ACCESS },    /* tty */
        { 'c', 5, 2, ALL_ACCESS },    /* ptmx (/dev/pts/ptmx) */
        { 'c', 136, -1, ALL_ACCESS }, /* the pty slaves, /dev/pts/N */
};

/* The config's devices (devices[]): "c MAJOR:MINOR PERMS PATH" arguments
 * of the cgroup step (plan.c), after ours. At most MAX_RULES in all. */
#define MAX_RULES (DC_DEVICES_MAX + (int)DC_ARRAY_SIZE(ours))

bool dc_devices_is_default(char type, unsigned major, unsigned minor)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++)
                if (ours[i].type == type && (unsigned)ours[i].major == major &&
                    (ours[i].minor < 0 || (unsigned)ours[i].minor == minor))
                        return true;
        return false;
}

static int rules_of(const struct dc_kvs *args, struct dev_rule *out, struct dc_error *err)
{
        size_t n = 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(ours); i++)
                out[n++] = ours[i];
        for (size_t i = 0; args && i < args->n; i++) {
                if (strcmp(args->v[i].key, "device") != 0)
                        continue;
                char type, perms[8];
                unsigned maj, min;
                if (sscanf(args->v[i].val, "%c %u:%u %7s", &type, &maj, &min, perms) != 4 ||
                    (type != 'c' && type != 'b') || maj > INT32_MAX || min > INT32_MAX)
                        return dc_err(err, EINVAL, "bad device rule \"%s\"", args->v[i].val);
                if (n >= MAX_RULES)
                        return dc_err(err, E2BIG, "more than %d devices", MAX_RULES - (int)DC_ARRAY_SIZE(ours));
                unsigned acc = 0;
                for (const char *p = perms; *p; p++)
                        acc |= *p == 'r' ? BPF_DEVCG_ACC_READ : *p == 'w' ? BPF_DEVCG_ACC_WRITE
                                                             : *p == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
                out[n++] = (struct dev_rule){ type, (int)maj, (int)min, acc };
        }
        return (int)n;
}

const char *dc_devices_summary(void)
{
        return "null zero full random urandom tty ptmx pts/*";
}

/* --- cgroup v1 --------------------------------------------------------------- */

static int restrict_v1(const char *dir, const struct dev_rule *rules, size_t n, struct dc_error *err)
{
        _cleanup_free_ char *deny = dc_xasprintf("%s/devices.deny", dir);
        _cleanup_free_ char *allow = dc_xasprintf("%s/devices.allow", dir);
        int r = dc_write_file(deny, "a");
        if (r < 0)
                return dc_err(err, -r, "cannot deny devices in %s: %s", dir, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                char line[64], acc[4];
                size_t k = 0;
                if (rules[i].access & BPF_DEVCG_ACC_READ)
                        acc[k++] = 'r';
                if (rules[i].access & BPF_DEVCG_ACC_WRITE)
                        acc[k++] = 'w';
                if (rules[i].access & BPF_DEVCG_ACC_MKNOD)
                        acc[k++] = 'm';
                acc[k] = 0;
                if (rules[i].minor < 0)
                        snprintf(line, sizeof(line), "%c %d:* %s", rules[i].type, rules[i].major, acc);
                else
                        snprintf(line, sizeof(line), "%c %d:%d %s", rules[i].type, rules[i].major, rules[i].minor, acc);
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
static size_t build_program(const struct dev_rule *rules, size_t nrules, struct bpf_insn *p, size_t cap)
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
        EMIT(INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 0, 0)); /* access_type >> 16: the access */
        EMIT(INSN(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_5, 0, 0, 16));
        for (size_t i = 0; i < nrules; i++) {
                const struct dev_rule *r = &rules[i];
                int type = r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
                bool any = r->minor < 0;
                bool some = (r->access & ALL_ACCESS) != ALL_ACCESS;
                /* the rest of this block after each test: skip it on a mismatch */
                short rest = (short)(3 + !any + 2 * some);
                EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, rest--, type));
                EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, rest--, r->major));
                if (!any)
                        EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, rest--, r->minor));
                if (some) {
                        /* an access it does not allow: r6 = access & ~allowed != 0 */
                        EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_5, 0, 0));
                        rest--;
                        EMIT(INSN(BPF_JMP | BPF_JSET | BPF_K, BPF_REG_6, 0, rest--, (int)(~r->access & ALL_ACCESS)));
                }
                EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
                EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        }
        EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
        EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
#undef EMIT
        return n;
}

static int restrict_v2(const char *dir, const struct dev_rule *rules, size_t nrules, struct dc_error *err)
{
        struct bpf_insn prog[8 + 7 * MAX_RULES];
        size_t n = build_program(rules, nrules, prog, DC_ARRAY_SIZE(prog));
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

int dc_devices_restrict(const char *dir, const struct dc_kvs *args, struct dc_error *err)
{
        struct dev_rule rules[MAX_RULES];
        int n = rules_of(args, rules, err);
        if (n < 0)
                return n;
        struct statfs sf;
        if (statfs(dir, &sf) < 0)
                return dc_err(err, errno, "%s: %s", dir, strerror(errno));
        if ((long)sf.f_type == CGROUP2_SUPER_MAGIC)
                return restrict_v2(dir, rules, (size_t)n, err);
        _cleanup_free_ char *deny = dc_xasprintf("%s/devices.deny", dir);
        if (access(deny, F_OK) == 0)
                return restrict_v1(dir, rules, (size_t)n, err);
        return 0; /* a v1 hierarchy without the devices controller */
}
