/* dc-probe try ATTEMPT [ARGS...]: the container side of the escape tests.
 *
 * Each attempt makes the system calls an attacker inside a container would
 * make and reports what each returned; the test decides what counts as an
 * escape. Attempts never do damage when they succeed: reboot asks for
 * CAD_OFF (no reboot), files opened for writing are not written (except the
 * executables of /proc/PID/exe, which the tests point at a throw-away copy of
 * diyctl), clock_settime sets the time it just read.
 *
 * Output: ONE JSON object
 *     {"attempt": NAME, "steps": [{"step": S, "ret": R, "errno": E, "error": "..."}, ...],
 *      "info": {KEY: VALUE, ...}}
 * where ret is the call's result (>= 0: it worked) and errno is 0 then.
 *
 * Static, C11 and libc only (raw syscall() where libc has no wrapper). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "probe_escape.h"

/* ---- output -------------------------------------------------------------- */

static char *steps_buf, *info_buf;
static size_t steps_len, info_len;
static FILE *steps, *info;
static bool steps_first = true, info_first = true;

static void jstr(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p >= 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

/* Record a call's result: ret < 0 means it failed with err. */
static void step(const char *name, long ret, int err)
{
        fprintf(steps, "%s{\"step\":", steps_first ? "" : ",");
        steps_first = false;
        jstr(steps, name);
        fprintf(steps, ",\"ret\":%ld,\"errno\":%d,\"error\":", ret, ret < 0 ? err : 0);
        jstr(steps, ret < 0 ? strerror(err) : "");
        fputc('}', steps);
}

/* Run EXPR (a call returning < 0 on failure with errno set) as a step. */
#define STEP(name, expr)                                                       \
        ({                                                                     \
                errno = 0;                                                     \
                long _r = (long)(expr);                                        \
                int _e = errno;                                                \
                step((name), _r, _e);                                          \
                errno = _e;                                                    \
                _r;                                                            \
        })

static void info_s(const char *key, const char *val)
{
        fprintf(info, "%s", info_first ? "" : ",");
        info_first = false;
        jstr(info, key);
        fputc(':', info);
        if (val)
                jstr(info, val);
        else
                fputs("null", info);
}

static void info_i(const char *key, long long val)
{
        fprintf(info, "%s", info_first ? "" : ",");
        info_first = false;
        jstr(info, key);
        fprintf(info, ":%lld", val);
}

static void stepf(long ret, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void stepf(long ret, int err, const char *fmt, ...)
{
        char name[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(name, sizeof(name), fmt, ap);
        va_end(ap);
        step(name, ret, err);
}

/* ---- helpers -------------------------------------------------------------- */

static long parse_long(const char *s)
{
        return strtol(s, NULL, 0);
}

static int ns_flag(const char *name)
{
        static const struct {
                const char *n;
                int f;
        } m[] = {
                { "user", CLONE_NEWUSER }, { "mount", CLONE_NEWNS },    { "net", CLONE_NEWNET },
                { "pid", CLONE_NEWPID },   { "uts", CLONE_NEWUTS },     { "ipc", CLONE_NEWIPC },
                { "cgroup", CLONE_NEWCGROUP }, { "time", 0x80 },
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
                if (strcmp(m[i].n, name) == 0)
                        return m[i].f;
        return -1;
}

static void read_line_of(const char *path, const char *key, const char *label)
{
        FILE *f = fopen(path, "re");
        char line[512];
        if (!f) {
                info_s(label, NULL);
                return;
        }
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        char *v = line + strlen(key);
                        while (*v == ':' || *v == ' ' || *v == '\t')
                                v++;
                        info_s(label, v);
                        fclose(f);
                        return;
                }
        fclose(f);
        info_s(label, NULL);
}

/* The fds of process PID: reading where they point, or opening them, is
 * the escape (its directory may well be listable). Reported as the number of
 * fds reached, or -1 with the last error. */
static void fd_attack(pid_t pid, const char *prefix)
{
        int links = 0, opens = 0, lerr = ENOENT, oerr = ENOENT;
        for (int fd = 0; fd < 64; fd++) {
                char path[64], target[256];
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
                if (readlink(path, target, sizeof(target)) >= 0)
                        links++;
                else if (errno != ENOENT)
                        lerr = errno;
                int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (f >= 0) {
                        opens++;
                        close(f);
                } else if (errno != ENOENT) {
                        oerr = errno;
                }
        }
        stepf(links ? links : -1, lerr, "%sfd_links", prefix);
        stepf(opens ? opens : -1, oerr, "%sfd_open", prefix);
}

/* ---- attempts ------------------------------------------------------------- */

static int a_init_module(int argc, char **argv)
{
        (void)argc, (void)argv;
        static char image[64];
        STEP("init_module", syscall(SYS_init_module, image, sizeof(image), ""));
        return 0;
}

static int a_finit_module(int argc, char **argv)
{
        (void)argc, (void)argv;
        int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
        STEP("finit_module", syscall(SYS_finit_module, fd, "", 0));
        return 0;
}

static int a_delete_module(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("delete_module", syscall(SYS_delete_module, "loop", O_NONBLOCK));
        return 0;
}

static int a_reboot(int argc, char **argv)
{
        (void)argc, (void)argv;
        /* CAD_OFF: if this ever got through it would only change what
         * Ctrl-Alt-Del does (and in a pid namespace it is EINVAL). */
        STEP("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL));
        return 0;
}

static int a_kexec(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
        STEP("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL));
        return 0;
}

static int a_keyctl(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
        STEP("add_key", syscall(SYS_add_key, "user", "dc-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
        STEP("request_key", syscall(SYS_request_key, "user", "dc-probe", NULL, KEY_SPEC_PROCESS_KEYRING));
        return 0;
}

static int a_bpf(int argc, char **argv)
{
        (void)argc, (void)argv;
        struct bpf_insn prog[2] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
        a.insn_cnt = 2;
        a.insns = (uint64_t)(uintptr_t)prog;
        a.license = (uint64_t)(uintptr_t) "GPL";
        STEP("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a)));
        return 0;
}

static int a_perf(int argc, char **argv)
{
        (void)argc, (void)argv;
        struct perf_event_attr a;
        memset(&a, 0, sizeof(a));
        a.type = PERF_TYPE_SOFTWARE;
        a.size = sizeof(a);
        a.config = PERF_COUNT_SW_TASK_CLOCK;
        a.disabled = 1;
        a.exclude_kernel = 1;
        a.exclude_hv = 1;
        STEP("perf_event_open", syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
        return 0;
}

static int a_userfaultfd(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
        return 0;
}

static int a_io_uring(int argc, char **argv)
{
        (void)argc, (void)argv;
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        STEP("io_uring_setup", syscall(SYS_io_uring_setup, 1, &p));
        return 0;
}

static int a_ioports(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("iopl", syscall(SYS_iopl, 3));
        STEP("ioperm", syscall(SYS_ioperm, 0x80UL, 1UL, 1));
        return 0;
}

static int a_settime(int argc, char **argv)
{
        (void)argc, (void)argv;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* set what it is: harmless even if it works */
        STEP("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
        return 0;
}

static int a_swapon(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("swapon", syscall(SYS_swapon, "/dev/null", 0));
        return 0;
}

static int a_syslog(int argc, char **argv)
{
        (void)argc, (void)argv;
        static char buf[4096];
        STEP("syslog", syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, buf, (int)sizeof(buf)));
        return 0;
}

/* "shocker": open a directory of the file system under "/" by its inode
 * number (2, ext4's root), bypassing the mount tree. */
static int a_open_by_handle(int argc, char **argv)
{
        (void)argc, (void)argv;
        struct {
                unsigned int handle_bytes;
                int handle_type;
                unsigned char f_handle[8];
        } h = { .handle_bytes = 8, .handle_type = 1 /* FILEID_INO32_GEN */ };
        uint32_t ino = 2, gen = 0;
        memcpy(h.f_handle, &ino, 4);
        memcpy(h.f_handle + 4, &gen, 4);
        int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long fd = STEP("open_by_handle_at", syscall(SYS_open_by_handle_at, mfd, &h, O_RDONLY | O_DIRECTORY));
        if (fd >= 0) {
                DIR *d = fdopendir((int)fd);
                struct dirent *de;
                char names[1024] = "";
                while (d && (de = readdir(d)))
                        if (strlen(names) + strlen(de->d_name) + 2 < sizeof(names)) {
                                strcat(names, de->d_name);
                                strcat(names, " ");
                        }
                info_s("entries", names);
        }
        return 0;
}

static int a_mount(int argc, char **argv)
{
        if (argc < 3)
                return 2;
        mkdir(argv[2], 0755);
        STEP("mount", mount(argv[1], argv[2], argv[0], 0, argc > 3 ? argv[3] : NULL));
        return 0;
}

static int a_umount(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        STEP("umount", umount2(argv[0], MNT_DETACH));
        return 0;
}

static int a_newmount(int argc, char **argv)
{
        (void)argc, (void)argv;
        STEP("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
        STEP("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
        STEP("fspick", syscall(SYS_fspick, AT_FDCWD, "/", 0));
        return 0;
}

static int a_unshare(int argc, char **argv)
{
        if (argc < 1 || ns_flag(argv[0]) < 0)
                return 2;
        STEP("unshare", unshare(ns_flag(argv[0])));
        return 0;
}

static int a_clone(int argc, char **argv)
{
        if (argc < 1 || ns_flag(argv[0]) < 0)
                return 2;
        fflush(NULL);
        long pid = syscall(SYS_clone, (unsigned long)ns_flag(argv[0]) | SIGCHLD, 0UL, NULL, NULL, 0UL);
        if (pid == 0)
                _exit(0);
        step("clone", pid, errno);
        if (pid > 0)
                waitpid((pid_t)pid, NULL, 0);
        struct {
                uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
        } ca = { .flags = (uint64_t)ns_flag(argv[0]), .exit_signal = SIGCHLD };
        fflush(NULL);
        pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid == 0)
                _exit(0);
        step("clone3", pid, errno);
        if (pid > 0)
                waitpid((pid_t)pid, NULL, 0);
        return 0;
}

/* The same calls through the 32-bit ABI (int 0x80): a filter that only
 * covers the native ABI lets these by. */
static int a_int80(int argc, char **argv)
{
        (void)argc, (void)argv;
#if defined(__x86_64__)
        struct {
                const char *name;
                long nr, a1, a2, a3;
        } calls[] = {
                { "int80_unshare_user", 310, CLONE_NEWUSER, 0, 0 },
                { "int80_keyctl", 288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0 },
                { "int80_reboot", 88, (long)(int)LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF },
        };
        for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
                long r;
                __asm__ volatile("int $0x80"
                                 : "=a"(r)
                                 : "a"(calls[i].nr), "b"(calls[i].a1), "c"(calls[i].a2), "d"(calls[i].a3)
                                 : "memory", "r8", "r9", "r10", "r11");
                step(calls[i].name, r < 0 && r > -4096 ? -1 : r, r < 0 && r > -4096 ? (int)-r : 0);
        }
        /* x32 calls: x86-64's own entry with bit 30 set in the number */
        static const struct {
                const char *name;
                long nr;
        } x32[] = { { "x32_keyctl", 0x40000000L | 250 }, { "x32_unshare", 0x40000000L | 272 } };
        for (size_t i = 0; i < sizeof(x32) / sizeof(x32[0]); i++) {
                long r = syscall(x32[i].nr, i == 0 ? (long)KEYCTL_GET_KEYRING_ID : (long)CLONE_NEWUSER,
                                 (long)KEY_SPEC_USER_KEYRING, 0L);
                step(x32[i].name, r, r < 0 ? errno : 0);
        }
        info_s("arch", "x86_64");
#else
        info_s("arch", "other");
#endif
        return 0;
}

static int a_personality(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        STEP("personality", syscall(SYS_personality, (unsigned long)parse_long(argv[0])));
        return 0;
}

static int a_open(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        int flags = strcmp(argv[1], "w") == 0    ? O_WRONLY
                    : strcmp(argv[1], "rw") == 0 ? O_RDWR
                    : strcmp(argv[1], "path") == 0 ? O_PATH
                                                   : O_RDONLY;
        long fd = STEP("open", open(argv[0], flags | O_CLOEXEC | O_NOCTTY));
        if (fd >= 0 && (flags == O_RDONLY || flags == O_RDWR)) {
                char buf[512];
                long n = STEP("read", read((int)fd, buf, sizeof(buf)));
                info_i("bytes", n);
        }
        /* never written: success of the open is what counts */
        return 0;
}

static int a_mknod(int argc, char **argv)
{
        if (argc < 4)
                return 2;
        mode_t type = argv[1][0] == 'b' ? S_IFBLK : S_IFCHR;
        dev_t dev = makedev((unsigned)parse_long(argv[2]), (unsigned)parse_long(argv[3]));
        unlink(argv[0]);
        STEP("mknod", mknod(argv[0], type | 0600, dev));
        long fd = STEP("open", open(argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (fd >= 0) {
                char buf[512];
                STEP("read", read((int)fd, buf, sizeof(buf)));
        }
        unlink(argv[0]);
        return 0;
}

static int a_ptrace(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        pid_t pid = (pid_t)parse_long(argv[0]);
        long r = STEP("ptrace_attach", ptrace(PTRACE_SEIZE, pid, NULL, NULL));
        if (r == 0)
                ptrace(PTRACE_DETACH, pid, NULL, NULL);
        char buf[64];
        struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000, sizeof(buf) };
        STEP("process_vm_readv", syscall(SYS_process_vm_readv, pid, &local, 1UL, &remote, 1UL, 0UL));
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
        STEP("proc_mem_rw", open(path, O_RDWR | O_CLOEXEC));
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        step("pidfd_open", pfd, errno);
        if (pfd >= 0)
                for (int fd = 0; fd < 8; fd++)
                        stepf(syscall(SYS_pidfd_getfd, pfd, fd, 0), errno, "pidfd_getfd_%d", fd);
        fd_attack(pid, "");
        snprintf(path, sizeof(path), "/proc/%d/root/", (int)pid);
        STEP("open_root", open(path, O_PATH | O_CLOEXEC));
        return 0;
}

/* /proc/PID/exe: the path to a runtime binary (CVE-2019-5736). Opening it
 * for writing is the escape; a successful open is reported, and then a write
 * of one byte at its end is tried (the tests give the container a throw-away
 * copy of diyctl). */
static void exe_attack(pid_t pid, const char *prefix, int *keep_fd)
{
        char path[64], target[256];
        snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        stepf(n, errno, "%sexe_readlink", prefix);
        if (n >= 0) {
                target[n] = 0;
                char key[64];
                snprintf(key, sizeof(key), "%sexe", prefix);
                info_s(key, target);
        }
        int w = open(path, O_WRONLY | O_CLOEXEC);
        stepf(w, errno, "%sexe_open_write", prefix);
        if (w >= 0) {
                off_t end = lseek(w, 0, SEEK_END);
                stepf(pwrite(w, "\0", 1, end), errno, "%sexe_write", prefix);
                close(w);
        }
        int p = open(path, O_PATH | O_CLOEXEC);
        stepf(p, errno, "%sexe_open_path", prefix);
        if (keep_fd)
                *keep_fd = p;
        else if (p >= 0)
                close(p);
}

/* Write through an O_PATH fd of an executable after its process ended. */
static void late_write(int fd, const char *prefix)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        /* Text file busy while anything still runs it (the caller's
         * diyctl exec, say): wait up to 3 s for it to end. */
        int w = -1;
        for (int i = 0; i < 300; i++) {
                w = open(path, O_WRONLY | O_CLOEXEC);
                if (w >= 0 || errno != ETXTBSY)
                        break;
                struct timespec ms = { 0, 10 * 1000 * 1000 };
                nanosleep(&ms, NULL);
        }
        stepf(w, errno, "%slate_open_write", prefix);
        if (w >= 0) {
                off_t end = lseek(w, 0, SEEK_END);
                stepf(pwrite(w, "\0", 1, end), errno, "%slate_write", prefix);
                stepf(ftruncate(w, 0), errno, "%slate_truncate", prefix);
                close(w);
        }
}

static int a_exe(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        pid_t pid = (pid_t)parse_long(argv[0]);
        exe_attack(pid, "", NULL);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        read_line_of(path, "Name", "name");
        return 0;
}

/* The classic chroot breakout: chroot into a subdirectory while keeping the
 * cwd outside it, walk up, chroot to where we are. Then: is MARKER (a host
 * path outside the rootfs) visible? */
static int a_chroot(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        mkdir("/tmp/dc-jail", 0755);
        STEP("chroot_jail", chroot("/tmp/dc-jail"));
        for (int i = 0; i < 64; i++)
                if (chdir("..") < 0)
                        break;
        STEP("chroot_dot", chroot("."));
        struct stat st;
        STEP("stat_marker", stat(argv[0], &st));
        return 0;
}

/* Type into the terminal on fd 0 (the host's, when the container shares it). */
static int a_tiocsti(int argc, char **argv)
{
        (void)argc, (void)argv;
        char c = ' ';
        info_i("isatty", isatty(0));
        STEP("tiocsti", ioctl(0, TIOCSTI, &c));
        return 0;
}

/* ---- the trap: a FIFO that holds a process of ours while we look at it ---- */

static bool pid_seen(const pid_t *v, size_t n, pid_t p)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == p)
                        return true;
        return false;
}

/* dc-probe try trap PATH SECONDS: put a FIFO at PATH (moving a file there
 * aside), wait until some process opens it for reading (diyctl exec reading
 * /etc/passwd, say), then attack every other process in our pid namespace
 * while it is blocked there; let it go (the moved file's content is written
 * to the FIFO), wait for it to end, try writing its executable again, put
 * PATH back. */
static int a_trap(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        const char *fifo = argv[0];
        double secs = strtod(argv[1], NULL);
        char real[512];
        snprintf(real, sizeof(real), "%s.dc-real", fifo);
        bool moved = rename(fifo, real) == 0;
        if (STEP("mkfifo", mkfifo(fifo, 0644)) < 0)
                return 0;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int w = -1;
        for (;;) {
                w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (w >= 0)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > secs)
                        break;
                struct timespec ms = { 0, 2 * 1000 * 1000 };
                nanosleep(&ms, NULL);
        }
        info_i("caught", w >= 0);
        pid_t victims[16];
        int keep[16];
        size_t nv = 0;
        if (w >= 0) {
                DIR *d = opendir("/proc");
                struct dirent *de;
                while (d && (de = readdir(d)) && nv < 16) {
                        pid_t p = (pid_t)strtol(de->d_name, NULL, 10);
                        if (p <= 0 || p == getpid() || pid_seen(victims, nv, p))
                                continue;
                        char prefix[32], path[64], key[64];
                        snprintf(prefix, sizeof(prefix), "v%zu_", nv);
                        snprintf(path, sizeof(path), "/proc/%d/status", (int)p);
                        snprintf(key, sizeof(key), "%sname", prefix);
                        read_line_of(path, "Name", key);
                        snprintf(key, sizeof(key), "%scapeff", prefix);
                        read_line_of(path, "CapEff", key);
                        snprintf(key, sizeof(key), "%sdumpable_uid", prefix);
                        read_line_of(path, "Uid", key);
                        keep[nv] = -1;
                        exe_attack(p, prefix, &keep[nv]);
                        long r = ptrace(PTRACE_SEIZE, p, NULL, NULL);
                        stepf(r, errno, "%sptrace_attach", prefix);
                        if (r == 0)
                                ptrace(PTRACE_DETACH, p, NULL, NULL);
                        snprintf(path, sizeof(path), "/proc/%d/mem", (int)p);
                        int m = open(path, O_RDWR | O_CLOEXEC);
                        stepf(m, errno, "%sproc_mem_rw", prefix);
                        if (m >= 0)
                                close(m);
                        fd_attack(p, prefix);
                        victims[nv++] = p;
                }
                if (d)
                        closedir(d);
                info_i("victims", (long long)nv);
                /* Let it go: it reads the real file through the FIFO. */
                char buf[4096];
                int rf = moved ? open(real, O_RDONLY | O_CLOEXEC) : -1;
                ssize_t n;
                while (rf >= 0 && (n = read(rf, buf, sizeof(buf))) > 0)
                        if (write(w, buf, (size_t)n) < 0)
                                break;
                if (rf >= 0)
                        close(rf);
                close(w);
                /* Wait (up to 10 s) until the victims are gone, then write again. */
                for (int i = 0; i < 1000; i++) {
                        bool alive = false;
                        for (size_t k = 0; k < nv; k++) {
                                if (kill(victims[k], 0) == 0) {
                                        char path[64];
                                        snprintf(path, sizeof(path), "/proc/%d/stat", (int)victims[k]);
                                        char st[256] = "";
                                        FILE *f = fopen(path, "re");
                                        if (f) {
                                                if (!fgets(st, sizeof(st), f))
                                                        st[0] = 0;
                                                fclose(f);
                                        }
                                        char *rp = strrchr(st, ')');
                                        if (!(rp && rp[1] == ' ' && rp[2] == 'Z'))
                                                alive = true;
                                        waitpid(victims[k], NULL, WNOHANG);
                                }
                        }
                        if (!alive)
                                break;
                        struct timespec ms = { 0, 10 * 1000 * 1000 };
                        nanosleep(&ms, NULL);
                }
                for (size_t k = 0; k < nv; k++) {
                        if (keep[k] < 0)
                                continue;
                        char prefix[32];
                        snprintf(prefix, sizeof(prefix), "v%zu_", k);
                        late_write(keep[k], prefix);
                        close(keep[k]);
                }
        }
        unlink(fifo);
        if (moved)
                rename(real, fifo);
        return 0;
}

/* ---- dispatch ----------------------------------------------------------------- */

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
} attempts[] = {
        { "init_module", a_init_module },
        { "finit_module", a_finit_module },
        { "delete_module", a_delete_module },
        { "reboot", a_reboot },
        { "kexec", a_kexec },
        { "keyctl", a_keyctl },
        { "bpf", a_bpf },
        { "perf_event_open", a_perf },
        { "userfaultfd", a_userfaultfd },
        { "io_uring", a_io_uring },
        { "ioports", a_ioports },
        { "settime", a_settime },
        { "swapon", a_swapon },
        { "syslog", a_syslog },
        { "open_by_handle_at", a_open_by_handle },
        { "mount", a_mount },         /* TYPE SOURCE TARGET [DATA] */
        { "umount", a_umount },       /* TARGET */
        { "newmount", a_newmount },
        { "unshare", a_unshare },     /* user|mount|net|pid|uts|ipc|cgroup|time */
        { "clone", a_clone },         /* the same, through clone and clone3 */
        { "int80", a_int80 },
        { "personality", a_personality }, /* VALUE */
        { "open", a_open },           /* PATH r|w|rw|path */
        { "mknod", a_mknod },         /* PATH b|c MAJOR MINOR */
        { "ptrace", a_ptrace },       /* PID */
        { "exe", a_exe },             /* PID */
        { "chroot", a_chroot },       /* MARKER */
        { "tiocsti", a_tiocsti },
        { "trap", a_trap },           /* FIFO SECONDS */
};

int dc_probe_try(int argc, char **argv)
{
        if (argc < 1) {
                fprintf(stderr, "usage: dc-probe try ATTEMPT [ARGS...]\n");
                return 2;
        }
        int (*fn)(int, char **) = NULL;
        for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
                if (strcmp(attempts[i].name, argv[0]) == 0)
                        fn = attempts[i].fn;
        if (!fn) {
                fprintf(stderr, "dc-probe try: no attempt %s\n", argv[0]);
                return 2;
        }
        steps = open_memstream(&steps_buf, &steps_len);
        info = open_memstream(&info_buf, &info_len);
        if (!steps || !info)
                return 1;
        int r = fn(argc - 1, argv + 1);
        fclose(steps);
        fclose(info);
        if (r == 2) {
                fprintf(stderr, "dc-probe try %s: bad arguments\n", argv[0]);
                return 2;
        }
        printf("{\"attempt\":");
        FILE *o = stdout;
        jstr(o, argv[0]);
        printf(",\"steps\":[%s],\"info\":{%s}}\n", steps_buf ? steps_buf : "", info_buf ? info_buf : "");
        free(steps_buf);
        free(info_buf);
        return fflush(stdout) == 0 ? 0 : 1;
}
