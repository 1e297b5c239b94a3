/* diyctl top [--json] NAME: the processes of a running container, as the
 * host sees them (docker top, the process tree of machinectl status): its
 * cgroups' members, or without a cgroup of its own the processes of its pid
 * namespace, or the first process and its descendants. Read from /proc:
 * nothing runs in the container, so it works for a root without ps too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/state.h"
#include "diyctl/util.h"

struct pids {
        pid_t *v;
        size_t n;
};

static void pids_add(struct pids *p, pid_t pid)
{
        p->v = dc_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
        p->v[p->n++] = pid;
}

static int pid_cmp(const void *a, const void *b)
{
        pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
        return (x > y) - (x < y);
}

/* Sorted, each once: a container being fork-bombed is when top is asked. */
static void pids_sort(struct pids *p)
{
        if (!p->n)
                return;
        qsort(p->v, p->n, sizeof(*p->v), pid_cmp);
        size_t k = 1;
        for (size_t i = 1; i < p->n; i++)
                if (p->v[i] != p->v[k - 1])
                        p->v[k++] = p->v[i];
        p->n = k;
}

static bool pids_has(const struct pids *p, pid_t pid)
{
        return p->n && bsearch(&pid, p->v, p->n, sizeof(*p->v), pid_cmp) != NULL;
}

/* The members of the cgroup DIR and of the cgroups below it (a container
 * with its own cgroup namespace may make some); false when it cannot be read. */
static bool cgroup_members(const char *dir, struct pids *out, int depth)
{
        _cleanup_free_ char *procs = dc_xasprintf("%s/cgroup.procs", dir);
        _cleanup_free_ char *text = NULL;
        if (dc_read_file(procs, 16 << 20, &text) < 0)
                return false;
        for (char *s = text, *end; *s; s = end) {
                long v = strtol(s, &end, 10);
                if (end == s)
                        break;
                if (v > 0)
                        pids_add(out, (pid_t)v);
        }
        DIR *d = depth < 16 ? opendir(dir) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                        _cleanup_free_ char *sub = dc_xasprintf("%s/%s", dir, de->d_name);
                        cgroup_members(sub, out, depth + 1);
                }
        if (d)
                closedir(d);
        return true;
}

/* The parent of PID, from /proc/PID/stat (0 when gone). */
static pid_t parent_of(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_free_ char *text = NULL;
        if (dc_read_file(path, 4096, &text) < 0)
                return 0;
        const char *p = strrchr(text, ')'); /* the name may hold anything */
        int ppid = 0;
        char state;
        return p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 ? (pid_t)ppid : 0;
}

static bool same_ns(pid_t a, pid_t b)
{
        char pa[64], pb[64];
        snprintf(pa, sizeof(pa), "/proc/%d/ns/pid", (int)a);
        snprintf(pb, sizeof(pb), "/proc/%d/ns/pid", (int)b);
        struct stat sa, sb;
        return stat(pa, &sa) == 0 && stat(pb, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* Without a cgroup: the processes of the container's own pid namespace, or
 * (in the host's) the first process and its descendants. /proc is read
 * once: each process's parent, then the descendants found level by level. */
static void proc_members(pid_t first, struct pids *out)
{
        bool own_ns = !same_ns(first, getpid());
        struct pids all = { 0 }, parent = { 0 };
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char *end;
                long v = strtol(de->d_name, &end, 10);
                if (*end || v <= 0)
                        continue;
                if (own_ns) {
                        if (same_ns((pid_t)v, first))
                                pids_add(out, (pid_t)v);
                        continue;
                }
                pids_add(&all, (pid_t)v);
                pids_add(&parent, parent_of((pid_t)v));
        }
        if (d)
                closedir(d);
        if (!own_ns) {
                pids_add(out, first);
                for (;;) {
                        pids_sort(out);
                        size_t n = out->n;
                        struct pids found = { 0 };
                        for (size_t i = 0; i < all.n; i++)
                                if (parent.v[i] > 0 && pids_has(out, parent.v[i]) && !pids_has(out, all.v[i]))
                                        pids_add(&found, all.v[i]);
                        for (size_t i = 0; i < found.n; i++)
                                pids_add(out, found.v[i]);
                        free(found.v);
                        if (out->n == n)
                                break;
                }
        }
        free(all.v);
        free(parent.v);
}

/* The first MAX bytes of PATH (a command line may be longer), NUL-ended;
 * its length, or -errno. */
static int read_head(const char *path, size_t max, char **out)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *buf = dc_xmalloc(max + 1);
        size_t len = 0;
        while (len < max) {
                ssize_t r = read(fd, buf + len, max - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        break;
                len += (size_t)r;
        }
        buf[len] = 0;
        *out = DC_TAKE(buf);
        return (int)len;
}

struct proc {
        pid_t pid, inside;
        long long uid;
        char state;
        unsigned long long rss;
        double cpu;
        struct dc_strv args;
};

/* What /proc says of PID; false when it is gone. */
static bool proc_read(pid_t pid, struct proc *p)
{
        memset(p, 0, sizeof(*p));
        p->pid = pid;
        p->uid = -1;
        char path[64];
        _cleanup_free_ char *status = NULL, *stat = NULL, *statm = NULL, *cmd = NULL;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (dc_read_file(path, 1 << 16, &status) < 0)
                return false;
        for (char *line = status; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (dc_startswith(line, "NSpid:")) {
                        const char *last = strrchr(line, '\t');
                        last = last ? last : strrchr(line, ' ');
                        p->inside = last ? (pid_t)atoi(last + 1) : pid;
                } else if (dc_startswith(line, "Uid:")) {
                        p->uid = strtoll(line + 4, NULL, 10);
                }
                line = nl ? nl + 1 : NULL;
        }
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (dc_read_file(path, 4096, &stat) < 0)
                return false;
        const char *after = strrchr(stat, ')');
        unsigned long long ut = 0, st = 0;
        /* after the name: state ppid pgrp session tty tpgid flags minflt
         * cminflt majflt cmajflt utime stime */
        if (!after || sscanf(after + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &p->state, &ut,
                             &st) != 3)
                return false;
        long hz = sysconf(_SC_CLK_TCK);
        p->cpu = (double)(ut + st) / (double)(hz > 0 ? hz : 100);
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
        unsigned long long size = 0, res = 0;
        if (dc_read_file(path, 4096, &statm) >= 0 && sscanf(statm, "%llu %llu", &size, &res) == 2)
                p->rss = res * (unsigned long long)sysconf(_SC_PAGESIZE);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        int n = read_head(path, 1 << 16, &cmd);
        /* trailing NULs are padding (the init's, which overwrote a longer
         * command line), not empty arguments: ps drops them too */
        while (n > 0 && cmd[n - 1] == 0)
                n--;
        for (int i = 0; n > 0 && i < n; i += (int)strlen(cmd + i) + 1)
                dc_strv_push(&p->args, cmd + i);
        if (!p->args.n) { /* a kernel thread, or a zombie: its name */
                const char *open = strchr(stat, '(');
                if (open && after > open)
                        dc_strv_push_take(&p->args, dc_xasprintf("[%.*s]", (int)(after - open - 1), open + 1));
        }
        return true;
}

static void print_json(const char *name, const struct proc *v, size_t n)
{
        fputs("{\"name\":", stdout);
        dc_json_str(stdout, name);
        fputs(",\"processes\":[", stdout);
        for (size_t i = 0; i < n; i++) {
                printf("%s{\"pid\":%d,\"pid_inside\":%d,\"uid\":%lld,\"state\":\"%c\",\"rss_bytes\":%llu,"
                       "\"cpu_seconds\":%.2f,\"args\":[",
                       i ? "," : "", (int)v[i].pid, (int)v[i].inside, v[i].uid, v[i].state, v[i].rss, v[i].cpu);
                for (size_t k = 0; k < v[i].args.n; k++) {
                        fputs(k ? "," : "", stdout);
                        dc_json_str(stdout, v[i].args.v[k]);
                }
                fputs("]}", stdout);
        }
        fputs("]}\n", stdout);
}

static void print_table(const struct proc *v, size_t n)
{
        printf("%-8s %-10s %-6s %-5s %9s %9s  %s\n", "PID", "PID INSIDE", "UID", "STATE", "RSS", "CPU TIME",
               "COMMAND");
        for (size_t i = 0; i < n; i++) {
                char rss[32], cpu[32];
                snprintf(rss, sizeof(rss), "%.1f MiB", (double)v[i].rss / (1024.0 * 1024.0));
                long long cs = (long long)(v[i].cpu * 100 + 0.5);
                snprintf(cpu, sizeof(cpu), "%lld:%02lld.%02lld", cs / 6000, cs / 100 % 60, cs % 100);
                printf("%-8d %-10d %-6lld %-5c %9s %9s  ", (int)v[i].pid, (int)v[i].inside, v[i].uid, v[i].state, rss,
                       cpu);
                for (size_t k = 0; k < v[i].args.n; k++) {
                        /* one line each: control characters shown as '?' */
                        fputs(k ? " " : "", stdout);
                        for (const char *c = v[i].args.v[k]; *c; c++)
                                putchar((unsigned char)*c < ' ' || *c == 0x7f ? '?' : *c);
                }
                putchar('\n');
        }
}

int dc_cmd_top(int argc, char **argv)
{
        bool json = dc_take_flag(&argc, argv, "--json");
        struct dc_state st;
        int rc = dc_cmd_state_of("top", argc, argv, &st);
        if (rc)
                return rc;
        /* while it stops too: what hangs in its stop is worth seeing */
        if (!st.running || st.exited || st.pid <= 0) {
                fprintf(stderr, "diyctl: %s is not running\n", st.name);
                dc_state_free(&st);
                return 3;
        }
        struct pids pids = { 0 };
        bool from_cgroup = false;
        for (size_t k = 0; k < st.kv.n; k++)
                if (strcmp(st.kv.v[k].key, "cgroup") == 0 && cgroup_members(st.kv.v[k].val, &pids, 0))
                        from_cgroup = true;
        if (!from_cgroup)
                proc_members(st.pid, &pids);
        pids_sort(&pids);
        struct proc *v = dc_xcalloc(pids.n + 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; i < pids.n; i++)
                if (proc_read(pids.v[i], &v[n]))
                        n++;
        if (json)
                print_json(st.name, v, n);
        else
                print_table(v, n);
        for (size_t i = 0; i < n; i++)
                dc_strv_free(&v[i].args);
        free(v);
        free(pids.v);
        dc_state_free(&st);
        return 0;
}
