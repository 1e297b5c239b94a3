/* What the container's process may do: its capabilities (libcap), no_new_privs
 * and the seccomp filter (libseccomp). Applied in the container's first
 * process (child.c's run_command) and by `diyctl exec` to every command it
 * runs, in two steps around the change of uid/gid.
 *
 * The seccomp filter is a deny list on top of the capability set: calls a
 * container has no business with return EPERM (not a kill, so programs can
 * fall back). Calls that a capability gates (mount needs CAP_SYS_ADMIN,
 * init_module CAP_SYS_MODULE, ...) are refused only while the container lacks
 * that capability, as Docker's profile does; calls no capability makes safe
 * (keyctl, io_uring, ...) are always refused. The filter covers the 32-bit
 * ABI too (int 0x80 on x86-64), or it could be walked around; x32 calls are
 * refused whole (ENOSYS).
 *
 * Also here: the launcher's defence against CVE-2019-5736 (overwriting the
 * runtime's binary through /proc/PID/exe of a process of ours that a
 * container can see): diyctl runs from a sealed memfd copy of itself. */
#include "diyctl/security.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

extern char **environ;

/* ---- capabilities -------------------------------------------------------- */

static const char *cap_label(int c, char *buf, size_t n)
{
        _cleanup_free_ char *name = dc_cap_name(c);
        snprintf(buf, n, "%s", name ? name : "?");
        if (!name)
                snprintf(buf, n, "capability %d", c);
        return buf;
}

/* The kernel's number of capabilities, as libcap found it once at start;
 * those this build does not know by name count too. */
static int kernel_caps(void)
{
        int n = (int)cap_max_bits();
        return n > 64 ? 64 : n;
}

/* Drop every capability outside keep from the bounding set, including those
 * the kernel has and this build does not know by name. Each one is dropped
 * without asking first (dropping one already gone is no error): one call
 * each, where asking first made it two (all of this is on the start's
 * critical path). */
static int drop_bounding(dc_capset keep, struct dc_error *err)
{
        for (int c = 0; c < kernel_caps(); c++) {
                if (keep & DC_CAP_BIT(c))
                        continue;
                /* without CAP_SETPCAP only an absent one may be passed over */
                if (cap_drop_bound((cap_value_t)c) < 0 && !(errno == EPERM && cap_get_bound((cap_value_t)c) == 0)) {
                        char b[48];
                        return dc_err(err, errno, "cannot drop %s from the bounding set: %s",
                                      cap_label(c, b, sizeof(b)), strerror(errno));
                }
        }
        return 0;
}

/* Permitted = effective = keep; inheritable empty (CVE-2022-24769: an
 * inheritable set would let file capabilities grant more); ambient cleared. */
static int set_caps(dc_capset keep, struct dc_error *err)
{
        /* Only what we hold: a capability the host withheld from us (not in
         * our permitted set) cannot be given, so it is not asked for. */
        cap_t cur = cap_get_proc();
        if (!cur)
                return dc_err(err, errno, "cap_get_proc: %s", strerror(errno));
        cap_value_t list[64];
        int n = 0;
        for (int i = 0; i < 64; i++) {
                cap_flag_value_t have = CAP_CLEAR;
                if ((keep & DC_CAP_BIT(i)) && i < kernel_caps() &&
                    cap_get_flag(cur, (cap_value_t)i, CAP_PERMITTED, &have) == 0 && have == CAP_SET)
                        list[n++] = (cap_value_t)i;
        }
        cap_free(cur);
        cap_t c = cap_init();
        if (!c)
                return dc_err(err, ENOMEM, "cap_init: %s", strerror(errno));
        int r = 0;
        if (n > 0 && (cap_set_flag(c, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
                      cap_set_flag(c, CAP_EFFECTIVE, n, list, CAP_SET) < 0))
                r = dc_err(err, errno, "cap_set_flag: %s", strerror(errno));
        if (r == 0 && cap_set_proc(c) < 0)
                r = dc_err(err, errno, "cannot set the process's capabilities: %s", strerror(errno));
        cap_free(c);
        if (r < 0)
                return r;
        /* Ambient capabilities need a kernel >= 4.3; none to clear otherwise.
         * One call (libcap's cap_reset_ambient asks for each first). */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return dc_err(err, errno, "cannot clear the ambient capabilities: %s", strerror(errno));
        return 0;
}

int dc_security_before_setuid(const struct dc_security *sec, struct dc_error *err)
{
        /* Without no_new_privs the kernel takes a filter only from a holder of
         * CAP_SYS_ADMIN: load it first, while we are still root. The filter
         * refuses nothing our own setup does from here on. */
        int r = 0;
        if (sec->seccomp && !sec->no_new_privs && (r = dc_seccomp_load(sec->caps, err)) < 0)
                return r;
        r = drop_bounding(sec->caps, err);
        if (r < 0)
                return r;
        /* From here on, no more than the container's own set, plus what it
         * takes to change the uid and gid: whatever of ours is still running
         * in the container (diyctl exec's helper) is worth no more to a
         * process there than that process itself. A non-root uid keeps its
         * permitted set across setuid (KEEPCAPS); dc_security_apply trims it
         * to the list (execve then gives a non-root user none of them, as
         * with Docker). */
        r = set_caps(sec->caps | DC_CAP_BIT(CAP_SETUID) | DC_CAP_BIT(CAP_SETGID), err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return dc_err(err, errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
        return 0;
}

int dc_security_apply(const struct dc_security *sec, struct dc_error *err)
{
        int r = set_caps(sec->caps, err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return dc_err(err, errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
        if (sec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return dc_err(err, errno, "cannot set no_new_privs: %s", strerror(errno));
        if (sec->seccomp && sec->no_new_privs)
                return dc_seccomp_load(sec->caps, err);
        return 0;
}

int dc_security_restrict_init(void)
{
        struct dc_error ignored = { 0 };
        const dc_capset keep = DC_CAP_BIT(CAP_KILL); /* to forward signals to any uid */
        if (drop_bounding(keep, &ignored) < 0 || set_caps(keep, &ignored) < 0 ||
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -1;
        return 0;
}

/* ---- seccomp ---------------------------------------------------------------- */

#define SA DC_CAP_BIT(CAP_SYS_ADMIN)

/* Refused with EPERM unless the container holds one of the capabilities in
 * `unless` (0: always refused). */
static const struct {
        const char *name;
        dc_capset unless;
} deny[] = {
        /* kernel modules */
        { "init_module", DC_CAP_BIT(CAP_SYS_MODULE) },
        { "finit_module", DC_CAP_BIT(CAP_SYS_MODULE) },
        { "delete_module", DC_CAP_BIT(CAP_SYS_MODULE) },
        { "create_module", 0 },
        { "query_module", 0 },
        { "get_kernel_syms", 0 },
        /* the host's power, its kernel */
        { "reboot", DC_CAP_BIT(CAP_SYS_BOOT) },
        { "kexec_load", DC_CAP_BIT(CAP_SYS_BOOT) },
        { "kexec_file_load", DC_CAP_BIT(CAP_SYS_BOOT) },
        /* the kernel keyring is not namespaced: keys of the host and of other containers */
        { "keyctl", 0 },
        { "add_key", 0 },
        { "request_key", 0 },
        /* large kernel attack surface, reachable without privileges otherwise */
        { "bpf", SA | DC_CAP_BIT(CAP_BPF) },
        { "perf_event_open", SA | DC_CAP_BIT(CAP_PERFMON) },
        { "userfaultfd", DC_CAP_BIT(CAP_SYS_PTRACE) },
        { "io_uring_setup", 0 },
        { "io_uring_enter", 0 },
        { "io_uring_register", 0 },
        /* file handles open any inode of a file system, past the mount tree ("shocker") */
        { "open_by_handle_at", DC_CAP_BIT(CAP_DAC_READ_SEARCH) },
        /* mounts and namespaces */
        { "mount", SA },
        { "umount", SA },
        { "umount2", SA },
        { "pivot_root", SA },
        { "move_mount", SA },
        { "open_tree", SA },
        { "fsopen", SA },
        { "fsconfig", SA },
        { "fsmount", SA },
        { "fspick", SA },
        { "mount_setattr", SA },
        { "unshare", SA },
        { "setns", SA },
        /* host-wide administration */
        { "swapon", SA },
        { "swapoff", SA },
        { "quotactl", SA },
        { "quotactl_fd", SA },
        { "fanotify_init", SA },
        { "lookup_dcookie", SA },
        { "syslog", SA | DC_CAP_BIT(CAP_SYSLOG) },
        { "acct", DC_CAP_BIT(CAP_SYS_PACCT) },
        { "iopl", DC_CAP_BIT(CAP_SYS_RAWIO) },
        { "ioperm", DC_CAP_BIT(CAP_SYS_RAWIO) },
        { "settimeofday", DC_CAP_BIT(CAP_SYS_TIME) },
        { "stime", DC_CAP_BIT(CAP_SYS_TIME) },
        { "clock_settime", DC_CAP_BIT(CAP_SYS_TIME) },
        { "clock_settime64", DC_CAP_BIT(CAP_SYS_TIME) },
        { "vhangup", DC_CAP_BIT(CAP_SYS_TTY_CONFIG) },
        /* obsolete */
        { "uselib", 0 },
        { "ustat", 0 },
        { "sysfs", 0 },
        { "_sysctl", 0 },
        { "nfsservctl", 0 },
        { "vm86", 0 },
        { "vm86old", 0 },
};

/* personality(2) flags a container does not get: they switch off address
 * space randomisation or make data executable, which helps exploits. */
static const uint32_t personality_flags[] = {
        0x0040000, /* ADDR_NO_RANDOMIZE */
        0x0100000, /* MMAP_PAGE_ZERO */
        0x0200000, /* ADDR_COMPAT_LAYOUT */
        0x0400000, /* READ_IMPLIES_EXEC */
        0x0800000, /* ADDR_LIMIT_32BIT */
        0x8000000, /* ADDR_LIMIT_3GB */
};

static const uint64_t clone_ns_flags[] = {
        CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp,
                struct dc_error *err)
{
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* a call this libseccomp does not know */
        int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
        /* -EDOM/-EINVAL: the call does not exist on one of the architectures */
        if (r < 0 && r != -EDOM && r != -EINVAL && r != -EEXIST)
                return dc_err(err, -r, "seccomp: cannot add a rule for %s: %s", name, strerror(-r));
        return 0;
}

static int build_filter(dc_capset caps, scmp_filter_ctx *out, struct dc_error *err)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return dc_err(err, ENOMEM, "seccomp_init failed");
        int r = 0;
        /* We set no_new_privs ourselves (or, when it is off, load as root). */
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
                goto fail;
        /* The kernel's own error codes when loading fails. */
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0)
                goto fail;
        /* An architecture the filter does not cover gets ENOSYS, not a kill. */
        if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS))) < 0)
                goto fail;
        /* The rules as a binary tree of syscall numbers, not a chain. When
         * a filter is loaded, the kernel runs it for every syscall number of
         * each architecture to find the calls it always allows (its cache):
         * through a chain of 80 comparisons, that took 0.23 ms of every
         * start here; through the tree (a few more instructions in all),
         * 0.08 ms. A call not in that cache is also decided sooner. Only
         * an optimisation: a libseccomp without it builds the chain. */
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        /* The compat ABIs the kernel may also accept from this process. Not
         * x32: its calls (numbers with bit 30 set, under x86-64's audit
         * arch) get ENOSYS above, as on kernels that disable the ABI, which
         * most distributions' do. Covering it would make the program a
         * quarter longer, and the kernel's cost of loading a filter grows
         * with its length (bench/README.md). */
        uint32_t native = seccomp_arch_native();
        const uint32_t *extra = NULL;
        static const uint32_t x86_64_extra[] = { SCMP_ARCH_X86, 0 };
        static const uint32_t aarch64_extra[] = { SCMP_ARCH_ARM, 0 };
        if (native == SCMP_ARCH_X86_64)
                extra = x86_64_extra;
        else if (native == SCMP_ARCH_AARCH64)
                extra = aarch64_extra;
        for (; extra && *extra; extra++) {
                r = seccomp_arch_add(ctx, *extra);
                if (r < 0 && r != -EEXIST)
                        goto fail;
        }
        r = 0;

        const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
        for (size_t i = 0; i < DC_ARRAY_SIZE(deny); i++) {
                if (deny[i].unless & caps)
                        continue;
                if (rule(ctx, eperm, deny[i].name, 0, NULL, err) < 0) {
                        seccomp_release(ctx);
                        return -EINVAL;
                }
        }
        if (!(caps & SA)) {
                /* clone with a namespace flag; clone3 hides its flags in
                 * memory a filter cannot read, so it gets ENOSYS and libc
                 * falls back to clone. */
                for (size_t i = 0; i < DC_ARRAY_SIZE(clone_ns_flags); i++) {
                        struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
                        if (rule(ctx, eperm, "clone", 1, &a, err) < 0) {
                                seccomp_release(ctx);
                                return -EINVAL;
                        }
                }
                if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err) < 0) {
                        seccomp_release(ctx);
                        return -EINVAL;
                }
        }
        /* Typing into the terminal's input queue: with a terminal shared with
         * the host, that is typing into the host's shell (TIOCSTI); TIOCLINUX
         * does the same through the console's selection. The command is an
         * int: compare the low 32 bits only. */
        static const unsigned long tty_inject[] = { TIOCSTI, TIOCLINUX };
        for (size_t i = 0; i < DC_ARRAY_SIZE(tty_inject); i++) {
                struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, tty_inject[i]);
                if (rule(ctx, eperm, "ioctl", 1, &a, err) < 0) {
                        seccomp_release(ctx);
                        return -EINVAL;
                }
        }
        /* personality with one of those flags. 0xffffffff (a query, not a
         * change) has every bit set; no flag uses bit 31, so including it
         * in the mask lets the query through. */
        for (size_t i = 0; i < DC_ARRAY_SIZE(personality_flags); i++) {
                struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, personality_flags[i] | 0x80000000ULL,
                                                personality_flags[i]);
                if (rule(ctx, eperm, "personality", 1, &a, err) < 0) {
                        seccomp_release(ctx);
                        return -EINVAL;
                }
        }
        *out = ctx;
        return 0;
fail:
        seccomp_release(ctx);
        return dc_err(err, -r, "seccomp: cannot set up the filter: %s", strerror(-r));
}

static struct {
        bool set;
        dc_capset caps;
        struct sock_filter *insns;
        unsigned short len;
} compiled;

int dc_seccomp_use_compiled(dc_capset caps, int fd, struct dc_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return dc_err(err, errno, "the compiled seccomp filter: %s", strerror(errno));
        if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
            st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
                return dc_err(err, EINVAL, "the compiled seccomp filter has a bad size (%lld bytes)",
                              (long long)st.st_size);
        struct sock_filter *insns = dc_xcalloc(1, (size_t)st.st_size);
        for (off_t off = 0; off < st.st_size;) {
                ssize_t n = pread(fd, (char *)insns + off, (size_t)(st.st_size - off), off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        free(insns);
                        return dc_err(err, n < 0 ? errno : EIO, "cannot read the compiled seccomp filter");
                }
                off += n;
        }
        free(compiled.insns);
        compiled.insns = insns;
        compiled.len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
        compiled.caps = caps;
        compiled.set = true;
        return 0;
}

const struct dc_seccomp_prebuilt *dc_seccomp_prebuilt_for(dc_capset caps)
{
        const struct dc_seccomp_prebuilt *p = &dc_seccomp_prebuilt;
        if (!p || p->caps != caps || p->arch != seccomp_arch_native() || !p->len)
                return NULL;
        return p;
}

int dc_seccomp_load(dc_capset caps, struct dc_error *err)
{
        /* A program made ahead (at build time, or by the launcher): loaded as
         * libseccomp's seccomp_load does with our attributes (no flags,
         * no_new_privs left to us). */
        const struct dc_seccomp_prebuilt *pre = dc_seccomp_prebuilt_for(caps);
        struct sock_fprog prog = { 0 };
        if (pre)
                prog = (struct sock_fprog){ .len = pre->len, .filter = (struct sock_filter *)pre->insns };
        else if (compiled.set && compiled.caps == caps)
                prog = (struct sock_fprog){ .len = compiled.len, .filter = compiled.insns };
        if (prog.filter) {
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                        return dc_err(err, errno, "cannot load the seccomp filter: %s", strerror(errno));
                return 0;
        }
        scmp_filter_ctx ctx = NULL;
        int r = build_filter(caps, &ctx, err);
        if (r < 0)
                return r;
        r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0)
                return dc_err(err, -r, "cannot load the seccomp filter: %s", strerror(-r));
        return 0;
}

int dc_seccomp_export(dc_capset caps, int fd, struct dc_error *err)
{
        scmp_filter_ctx ctx = NULL;
        int r = build_filter(caps, &ctx, err);
        if (r < 0)
                return r;
        r = seccomp_export_bpf(ctx, fd);
        seccomp_release(ctx);
        if (r < 0)
                return dc_err(err, -r, "cannot export the seccomp filter: %s", strerror(-r));
        return 0;
}

int dc_seccomp_program(dc_capset caps, struct sock_filter **out, size_t *len, struct dc_error *err)
{
        *out = NULL;
        *len = 0;
        _cleanup_close_ int fd = memfd_create("dc-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return dc_err(err, errno, "memfd_create: %s", strerror(errno));
        int r = dc_seccomp_export(caps, fd, err);
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return dc_err(err, errno, "fstat: %s", strerror(errno));
        if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0)
                return dc_err(err, EPROTO, "libseccomp exported %lld bytes, not a BPF program", (long long)st.st_size);
        size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
        struct sock_filter *p = dc_xcalloc(n, sizeof(*p));
        if (pread(fd, p, (size_t)st.st_size, 0) != st.st_size) {
                free(p);
                return dc_err(err, EIO, "cannot read the exported seccomp program back");
        }
        *out = p;
        *len = n;
        return 0;
}

/* ---- CVE-2019-5736 --------------------------------------------------------- */

#define DC_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

bool dc_running_sealed(void)
{
        _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return false;
        int seals = fcntl(self, F_GET_SEALS);
        return seals >= 0 && (seals & DC_SEALS) == DC_SEALS;
}

int dc_reexec_sealed(char **argv, struct dc_error *err)
{
        _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return dc_err(err, errno, "cannot open /proc/self/exe: %s", strerror(errno));
        int seals = fcntl(self, F_GET_SEALS);
        if (seals >= 0 && (seals & DC_SEALS) == DC_SEALS)
                return 0;
        /* On a read-only mount (a read-only /usr, or `mount --bind -o ro` of
         * the binary) nobody can write the file through /proc/PID/exe: the
         * kernel refuses a write open on a read-only mount whatever the
         * opener's privileges, and a container cannot remount a mount of
         * the host's mount namespace. No copy is needed then, which saves
         * the copy and a second exec on every start (bench/README.md). */
        struct statvfs sv;
        if (fstatvfs(self, &sv) == 0 && (sv.f_flag & ST_RDONLY))
                return 0;
        struct stat st;
        if (fstat(self, &st) < 0)
                return dc_err(err, errno, "/proc/self/exe: %s", strerror(errno));
        int mfd = memfd_create("diyctl", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (mfd < 0 && errno == EINVAL) /* a kernel before 6.3 has no MFD_EXEC */
                mfd = memfd_create("diyctl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0)
                return dc_err(err, errno, "memfd_create: %s", strerror(errno));
        _cleanup_close_ int m = mfd;
        off_t off = 0;
        while (off < st.st_size) {
                ssize_t n = sendfile(m, self, &off, (size_t)(st.st_size - off));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return dc_err(err, n < 0 ? errno : EIO, "cannot copy our executable: %s",
                                      n < 0 ? strerror(errno) : "short read");
        }
        if (fcntl(m, F_ADD_SEALS, DC_SEALS) < 0)
                return dc_err(err, errno, "cannot seal the copy of our executable: %s", strerror(errno));
        fexecve(m, argv, environ);
        return dc_err(err, errno, "cannot run the sealed copy of our executable: %s", strerror(errno));
}
