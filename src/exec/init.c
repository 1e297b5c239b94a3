/* process.init = true: a minimal PID 1. It starts the command, reaps every
 * orphan the container produces, forwards the signals a supervisor sends, and
 * exits with the command's status once it ends (the kernel then kills what is
 * left in the pid namespace). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/security.h"
#include "diyctl/util.h"

/* The init cannot go on: say why on the container's stderr (its log when
 * detached), then end as a launcher failure would. */
__attribute__((noreturn)) static void init_fail(const char *what, int e)
{
        dprintf(STDERR_FILENO, "diyctl: the init (process.init) cannot start its command: %s: %s%s\n", what,
                strerror(e), e == EAGAIN ? " (limits.pids reached?)" : "");
        _exit(125);
}

void dc_init_run(void (*run)(void *), void *arg, const int *close_fds, size_t n_close)
{
        sigset_t all, waitset;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        /* Not the launcher's command line (the config's path, every --set)
         * for the container to read: before the fork, so that the command
         * does not show it until its execve either. */
        dc_cmdline_replace("diyctl-init");
        /* Out of the launcher's session and process group, as its command
         * will be: a signal to the launcher's group (the terminal's ^C, a
         * shell's kill %1) reaches the launcher only, which passes it on
         * once (as the stop signal, for a SIGTERM). */
        setsid();
        /* The command waits until the init has given up its privileges: until
         * then a command that traced it (same uid, and the init still
         * dumpable) could use them. The init says so with one byte; the end
         * of the pipe without it means the init died first, and then the
         * command never runs (without a pid namespace it would run on without
         * its init until the teardown). */
        int held[2];
        if (pipe2(held, O_CLOEXEC) < 0)
                init_fail("pipe", errno);
        /* Outside a pid namespace of its own (namespaces without "pid") the
         * init is not PID 1: it asks for the orphans of its command to be
         * handed to it, so that it reaps them as a PID 1 would. */
        if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                init_fail("PR_SET_CHILD_SUBREAPER", errno);
        pid_t pid = fork();
        if (pid < 0)
                init_fail("fork", errno);
        if (pid == 0) {
                /* (It ends with its init: run_command arms its death signal.) */
                close(held[1]);
                char c = 0;
                ssize_t n;
                while ((n = read(held[0], &c, 1)) < 0 && errno == EINTR)
                        ;
                close(held[0]);
                if (n != 1)
                        _exit(125);
                run(arg);
                _exit(127);
        }
        close(held[0]);
        if (dc_fault_is("child:init-dies")) {
                /* tests: the init gone before its command may start. Its end
                 * of the pipe closes at once; its exit comes a little later,
                 * as the teardown that follows it would otherwise race with a
                 * command that started anyway (a container without a cgroup
                 * has no such teardown: the command would live on). */
                close(held[1]);
                usleep(300 * 1000);
                _exit(125);
        }
        for (size_t i = 0; i < n_close; i++)
                if (close_fds[i] >= 0)
                        close(close_fds[i]);
        prctl(PR_SET_NAME, "diyctl-init");
        /* Our memory is the launcher's; keep other processes out of it. */
        prctl(PR_SET_DUMPABLE, 0);
        /* It needs no privilege but signalling its child: only CAP_KILL
         * stays. Failing that, neither goes on. */
        if (dc_security_restrict_init() < 0) {
                int e = errno;
                kill(pid, SIGKILL);
                init_fail("dropping its privileges", e);
        }
        /* The command goes on now. */
        if (write(held[1], "g", 1) != 1) {
                kill(pid, SIGKILL);
                _exit(125);
        }
        close(held[1]);
        /* The init keeps nothing of the launcher's: no lock, journal or socket. */
        syscall(SYS_close_range, 3U, ~0U, 0U);

        /* Every signal a supervisor may send (a stop signal, a reload, diyctl
         * kill) goes on to the command. */
        sigemptyset(&waitset);
        for (int sig = 1; sig <= SIGRTMAX; sig++)
                if (dc_signal_forwardable(sig))
                        sigaddset(&waitset, sig);
        sigaddset(&waitset, SIGCHLD);

        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&waitset, &si);
                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(125);
                }
                if (sig != SIGCHLD) {
                        kill(pid, sig);
                        continue;
                }
                for (;;) {
                        int status;
                        pid_t r = waitpid(-1, &status, WNOHANG);
                        if (r <= 0)
                                break;
                        if (r != pid)
                                continue;
                        if (WIFEXITED(status))
                                _exit(WEXITSTATUS(status));
                        _exit(128 + WTERMSIG(status));
                }
        }
}
