#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/net.h"
#include "diyctl/exec.h"
#include "diyctl/security.h"
#include "diyctl/util.h"

/* -d: a supervisor process (its own session) runs the container and tears it
 * down when it ends; we wait until it reports READY or an error. */
static int start_detached(const struct dc_plan *p)
{
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                perror("diyctl: pipe");
                return 125;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                perror("diyctl: fork");
                return 125;
        }
        if (pid == 0) {
                close(pfd[0]);
                setsid();
                bool ready = false;
                /* (an OOM kill is noted in the log by dc_execute, before its teardown) */
                struct dc_exec_opts eo = { .verbose = dc_verbose, .notify_fd = pfd[1], .detached = true,
                                           .ready = &ready };
                struct dc_error err = { 0 };
                int code = 125;
                /* Errors before READY reach the caller through the pipe; later ones go to the log. */
                if (dc_execute(p, &eo, &code, &err) < 0 && ready)
                        dc_print_error(&err);
                _exit(code);
        }
        close(pfd[1]);
        char buf[4096];
        size_t len = 0;
        for (;;) {
                ssize_t n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                buf[len] = 0;
                if (strchr(buf, '\n') || len == sizeof(buf) - 1)
                        break;
        }
        close(pfd[0]);
        buf[len] = 0;
        if (dc_startswith(buf, "READY=1")) {
                printf("%s\n", p->name);
                return 0;
        }
        int status = 0, code = 125;
        if (dc_startswith(buf, "ERROR=")) {
                buf[strcspn(buf, "\n")] = 0;
                fprintf(stderr, "diyctl: %s\n", buf + 6);
                if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status))
                        code = WEXITSTATUS(status);
                return code;
        }
        /* Reaped before we say so: until it has fully exited (its last fds
         * closed, which can take a moment) it may still hold the state lock,
         * and a `diyctl cleanup` right after would find the container in use. */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        fprintf(stderr, "diyctl: the supervisor of %s died while starting it; see diyctl cleanup %s\n", p->name, p->name);
        return 125;
}

int dc_cmd_start(int argc, char **argv)
{
        struct dc_strv sets = { 0 };
        bool detach = false;
        int first = dc_parse_common(argc, argv, "start", &sets, NULL, &detach);
        if (first < 0)
                return 2;
        if (first != argc - 1) {
                dc_usage_error("start", "expected exactly one config file");
                dc_strv_free(&sets);
                return 2;
        }
        struct dc_error err = { 0 };
        _cleanup_config_ struct dc_config *c = NULL;
        _cleanup_plan_ struct dc_plan *p = NULL;
        int r = dc_load_plan(argv[first], (const char *const *)sets.v, sets.n, detach ? DC_LOAD_DETACHED : 0, &c, &p,
                             &err);
        dc_strv_free(&sets);
        if (r < 0) {
                dc_print_error(&err);
                return 125;
        }
        /* With an init (our code, PID 1 for the container's whole life) or
         * the host's pid namespace, the container can see processes of ours:
         * they must run a sealed copy of this binary (CVE-2019-5736; see
         * README, "Security"). Otherwise it never sees one, and we spare the
         * second exec. */
        if ((p->init || !(p->namespaces & DC_NS_PID)) && dc_main_argv && !dc_running_sealed()) {
                /* the sealed copy reads the config again */
                struct stat cst;
                if (stat(argv[first], &cst) < 0 || !S_ISREG(cst.st_mode)) {
                        fprintf(stderr, "diyctl: %s: with process.init (or without a pid namespace) the config "
                                "must be a regular file: diyctl re-executes a sealed copy of itself, which "
                                "reads it again\n", argv[first]);
                        return 125;
                }
                if (dc_reexec_sealed(dc_main_argv, &err) < 0) {
                        dc_print_error(&err);
                        return 125;
                }
        }
        dc_resolv_note(p);
        if (detach)
                return start_detached(p);
        bool oom = false;
        struct dc_exec_opts eo = { .verbose = dc_verbose, .notify_fd = -1, .oom_killed = &oom };
        int code = 125;
        r = dc_execute(p, &eo, &code, &err);
        if (oom)
                fprintf(stderr, "diyctl: %s was killed by the OOM killer (limits.memory = %llu bytes)\n", p->name,
                        c->limits.memory);
        if (r < 0) {
                dc_print_error(&err);
                return code ? code : 125;
        }
        return code;
}
