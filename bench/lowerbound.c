/* lowerbound: the least a container launcher must do, as the yardstick of the
 * benchmarks (bench/run). One clone with the namespace flags asked for, and
 * in the child: mounts made private, the rootfs bound on itself, pivot_root
 * into it, the old root detached, loopback up (with a net namespace), exec.
 * No /proc, /dev, cgroups, journal or anything else a real launcher adds.
 *
 *   lowerbound [-n mount,uts,ipc,pid,net,user] ROOTFS CMD [ARG]...
 *
 * With "user" the caller's uid and gid become 0 inside (works unprivileged).
 * Exit code: the command's (128+N for a signal), 125 when setup failed.
 *
 * Built by bench/run with the system compiler: cc -O2 -o lowerbound lowerbound.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct lb_clone_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
                set_tid_size, cgroup;
};

static void die(const char *what)
{
        fprintf(stderr, "lowerbound: %s: %s\n", what, strerror(errno));
        _exit(125);
}

static unsigned long parse_ns(const char *list)
{
        static const struct {
                const char *name;
                unsigned long flag;
        } map[] = {
                { "mount", CLONE_NEWNS }, { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
                { "pid", CLONE_NEWPID },  { "net", CLONE_NEWNET }, { "user", CLONE_NEWUSER },
        };
        unsigned long f = 0;
        char *copy = strdup(list), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t i;
                for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                        if (strcmp(t, map[i].name) == 0)
                                break;
                if (i == sizeof(map) / sizeof(map[0])) {
                        fprintf(stderr, "lowerbound: unknown namespace %s\n", t);
                        exit(2);
                }
                f |= map[i].flag;
        }
        free(copy);
        return f;
}

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                die(path);
        close(fd);
}

static void loopback_up(void)
{
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = { 0 };
        strcpy(ifr.ifr_name, "lo");
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                die("lo");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                die("lo up");
        close(fd);
}

int main(int argc, char **argv)
{
        const char *ns = "mount,uts,ipc,pid,net";
        int i = 1;
        if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
                ns = argv[i + 1];
                i += 2;
        }
        if (argc - i < 2) {
                fprintf(stderr, "usage: lowerbound [-n mount,uts,ipc,pid,net,user] ROOTFS CMD [ARG]...\n");
                return 2;
        }
        const char *rootfs = argv[i];
        char **cmd = argv + i + 1;
        unsigned long flags = parse_ns(ns) | CLONE_NEWNS; /* pivot_root needs its own mount namespace */
        uid_t uid = getuid();
        gid_t gid = getgid();

        /* The child waits on this pipe until its user namespace maps are written. */
        int sync[2];
        if (pipe2(sync, O_CLOEXEC) < 0)
                die("pipe");
        struct lb_clone_args a = { .flags = flags, .exit_signal = SIGCHLD };
        long pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid < 0)
                die("clone3");
        if (pid == 0) {
                close(sync[1]);
                char c;
                if (read(sync[0], &c, 1) < 0)
                        die("sync");
                if ((flags & CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                        die("setresuid");
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        die("make-rprivate");
                if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                        die("bind rootfs");
                if (chdir(rootfs) < 0)
                        die("chdir");
                if (syscall(SYS_pivot_root, ".", ".") < 0)
                        die("pivot_root");
                if (umount2(".", MNT_DETACH) < 0)
                        die("umount old root");
                if (chdir("/") < 0)
                        die("chdir /");
                if (flags & CLONE_NEWNET)
                        loopback_up();
                execv(cmd[0], cmd);
                die(cmd[0]);
        }
        close(sync[0]);
        if (flags & CLONE_NEWUSER) {
                char path[64], map[64];
                snprintf(path, sizeof(path), "/proc/%ld/setgroups", pid);
                write_file(path, "deny");
                snprintf(path, sizeof(path), "/proc/%ld/uid_map", pid);
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
                write_file(path, map);
                snprintf(path, sizeof(path), "/proc/%ld/gid_map", pid);
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
                write_file(path, map);
        }
        close(sync[1]);
        int status;
        while (waitpid((pid_t)pid, &status, 0) < 0)
                if (errno != EINTR)
                        die("waitpid");
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
}
