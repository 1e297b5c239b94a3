/* The iptables backend: each rule is one `iptables -w` / `ip6tables -w` run
 * (whichever variant, legacy or nf_tables, the host has), and deleted with
 * `-D` and the very same spec. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/fw.h"

extern char **environ;

static const char *tool_path(int fam)
{
        static const char *const v4[] = { "/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables" };
        static const char *const v6[] = { "/usr/sbin/ip6tables", "/sbin/ip6tables", "/usr/bin/ip6tables" };
        const char *const *c = fam == 6 ? v6 : v4;
        for (size_t i = 0; i < 3; i++)
                if (access(c[i], X_OK) == 0)
                        return c[i];
        return fam == 6 ? "ip6tables" : "iptables";
}

/* Run argv with stdin/stdout on /dev/null; stderr captured into errbuf.
 * Returns the exit status (>= 0) or -errno when it could not run. */
static int run(char *const argv[], char *errbuf, size_t cap)
{
        errbuf[0] = 0;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        posix_spawnattr_init(&at);
        sigset_t none, dfl;
        sigemptyset(&none);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid;
        int r = argv[0][0] == '/' ? posix_spawn(&pid, argv[0], &fa, &at, argv, environ)
                                  : posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return -r;
        }
        size_t len = 0;
        for (;;) {
                char tmp[512];
                ssize_t n = read(p[0], tmp, sizeof(tmp));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = (size_t)n;
                if (len + take >= cap)
                        take = cap - 1 - len;
                memcpy(errbuf + len, tmp, take);
                len += take;
        }
        errbuf[len] = 0;
        close(p[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        /* one line of stderr is enough for a message */
        while (len > 0 && (errbuf[len - 1] == '\n' || errbuf[len - 1] == ' '))
                errbuf[--len] = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define MAX_TOKENS 64

/* "4 filter FORWARD -I spec..." -> argv for op ("-I", "-A" or "-D"). */
static int build(const char *rule, bool del, char *buf, size_t cap, char *argv[MAX_TOKENS + 8])
{
        if (strlen(rule) >= cap)
                return -E2BIG;
        strcpy(buf, rule);
        char *tok[MAX_TOKENS];
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == MAX_TOKENS)
                        return -E2BIG;
                tok[n++] = t;
        }
        if (n < 5 || (strcmp(tok[0], "4") != 0 && strcmp(tok[0], "6") != 0) ||
            (strcmp(tok[3], "-I") != 0 && strcmp(tok[3], "-A") != 0))
                return -EINVAL;
        size_t k = 0;
        argv[k++] = (char *)tool_path(tok[0][0] == '6' ? 6 : 4);
        argv[k++] = "-w";
        argv[k++] = "-t";
        argv[k++] = tok[1];
        argv[k++] = del ? "-D" : tok[3];
        argv[k++] = tok[2];
        for (size_t i = 4; i < n; i++)
                argv[k++] = tok[i];
        argv[k] = NULL;
        return 0;
}

int dc_iptables_add(const char *rule, struct dc_error *err)
{
        char buf[2048], msg[1024];
        char *argv[MAX_TOKENS + 8];
        int r = build(rule, false, buf, sizeof(buf), argv);
        if (r < 0)
                return dc_err(err, -r, "bad firewall rule \"%s\"", rule);
        r = run(argv, msg, sizeof(msg));
        if (r < 0)
                return dc_err(err, -r, "cannot run %s: %s", argv[0], strerror(-r));
        if (r != 0)
                return dc_err(err, EIO, "%s failed (exit %d) adding \"%s\": %s", argv[0], r, rule,
                              msg[0] ? msg : "no message");
        return 0;
}

int dc_iptables_del(const char *rule, struct dc_error *err)
{
        char buf[2048], msg[1024];
        char *argv[MAX_TOKENS + 8];
        int r = build(rule, true, buf, sizeof(buf), argv);
        if (r < 0)
                return dc_err(err, -r, "bad firewall rule \"%s\"", rule);
        r = run(argv, msg, sizeof(msg));
        if (r < 0)
                return dc_err(err, -r, "cannot run %s: %s", argv[0], strerror(-r));
        if (r == 0)
                return 0;
        /* Already gone: the rule, or its chain/table (nothing left to delete). */
        if (strstr(msg, "does a matching rule exist") || strstr(msg, "No chain/target/match by that name") ||
            strstr(msg, "Table does not exist") || strstr(msg, "does not exist"))
                return 0;
        return dc_err(err, EIO, "%s failed (exit %d) deleting \"%s\": %s", argv[0], r, rule,
                      msg[0] ? msg : "no message");
}
