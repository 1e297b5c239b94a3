/* The iptables backend: each rule is one `iptables -w` / `ip6tables -w` run
 * (whichever variant, legacy or nf_tables, the host has), and deleted with
 * `-D` and the very same spec: at teardown all of a family's in one
 * `iptables-restore -w --noflush` (atomic), one by one when some are gone. */
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

static const char *find_tool(const char *name, char *buf, size_t cap)
{
        static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
        for (size_t i = 0; i < DC_ARRAY_SIZE(dirs); i++) {
                snprintf(buf, cap, "%s/%s", dirs[i], name);
                if (access(buf, X_OK) == 0)
                        return buf;
        }
        snprintf(buf, cap, "%s", name);
        return buf;
}

static const char *tool_path(int fam)
{
        static char v4[64], v6[64];
        if (fam == 6)
                return v6[0] ? v6 : find_tool("ip6tables", v6, sizeof(v6));
        return v4[0] ? v4 : find_tool("iptables", v4, sizeof(v4));
}

/* Run argv with stdin from `input` (NULL: /dev/null) and stdout on
 * /dev/null; stderr captured into errbuf. Returns the exit status (>= 0) or
 * -errno when it could not run. */
static int run_in(char *const argv[], const char *input, char *errbuf, size_t cap)
{
        errbuf[0] = 0;
        int p[2], in[2] = { -1, -1 };
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        if (input && pipe2(in, O_CLOEXEC) < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return -e;
        }
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        if (input)
                posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        else
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
        if (input) {
                close(in[0]);
                if (r == 0) {
                        /* a child that exits without reading must not kill us */
                        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
                        sigaction(SIGPIPE, &ign, &old);
                        dc_write_all(in[1], input, strlen(input));
                        sigaction(SIGPIPE, &old, NULL);
                }
                close(in[1]);
        }
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

static int run(char *const argv[], char *errbuf, size_t cap)
{
        return run_in(argv, NULL, errbuf, cap);
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

/* One family's rules as an iptables-restore --noflush script that deletes
 * them ("-D CHAIN SPEC" per rule, grouped by table). NULL when none. */
static char *restore_script(const struct dc_strv *rules, int fam)
{
        static const char *const tables[] = { "filter", "nat", "mangle", "raw" };
        char *buf = NULL;
        size_t len = 0, n = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
                return NULL;
        for (size_t t = 0; t < DC_ARRAY_SIZE(tables); t++) {
                bool open = false;
                for (size_t i = rules->n; i-- > 0;) {
                        char f[2], table[16], chain[32], op[4];
                        int off = 0;
                        if (sscanf(rules->v[i], "%1s %15s %31s %3s %n", f, table, chain, op, &off) != 4 ||
                            f[0] != '0' + fam || strcmp(table, tables[t]) != 0)
                                continue;
                        if (!open)
                                fprintf(m, "*%s\n", tables[t]);
                        open = true;
                        fprintf(m, "-D %s %s\n", chain, rules->v[i] + off);
                        n++;
                }
                if (open)
                        fputs("COMMIT\n", m);
        }
        fclose(m);
        if (n == 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int dc_iptables_del_all(const struct dc_strv *rules, struct dc_error *err)
{
        for (int fam = 4; fam <= 6; fam += 2) {
                _cleanup_free_ char *script = restore_script(rules, fam);
                if (!script)
                        continue;
                char path[64], msg[1024];
                char *argv[] = { (char *)find_tool(fam == 6 ? "ip6tables-restore" : "iptables-restore", path,
                                                   sizeof(path)),
                                 "-w", "--noflush", NULL };
                int r = run_in(argv, script, msg, sizeof(msg));
                if (r == 0)
                        continue;
                /* Some rule is gone already (or no restore tool): one by one. */
                for (size_t i = rules->n; i-- > 0;) {
                        if (rules->v[i][0] != '0' + fam)
                                continue;
                        r = dc_iptables_del(rules->v[i], err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}
