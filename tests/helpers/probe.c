/* dc-probe: runs inside test containers and reports what it sees.
 *
 *   dc-probe [ARGS...]     print ONE JSON object describing the process and
 *                          its environment on stdout, exit 0
 *   dc-probe exit N        exit with code N
 *   dc-probe write PATH    try to create/append PATH; print {"ok":true} or
 *                          {"ok":false,"errno":N,"error":"..."}; exit 0
 *   dc-probe sleep SECS    sleep (fractions allowed), exit 0
 *   dc-probe own-uts NAME SECS
 *                          move to a uts namespace of its own named NAME
 *                          (needs CAP_SYS_ADMIN), say "own-uts", sleep SECS
 *   dc-probe try ATTEMPT   an escape attempt (probe_escape.c), reported as JSON
 *
 * Built statically (the test rootfs is busybox only, with no libc), plain
 * C11 plus libc. Every source that may be missing (no /proc, no /sys, ...)
 * is reported as null; the probe never crashes over it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probe_escape.h"

extern char **environ;

/* ---- JSON output ------------------------------------------------------ */

static FILE *out;

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        size_t len, i;
        unsigned int cp;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (len > n)
                return 0;
        for (i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

/* A JSON string; invalid UTF-8 bytes become U+00XX so the output always parses. */
static void j_strn(const char *str, size_t n)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0, l;

        fputc('"', out);
        while (i < n) {
                unsigned char c = s[i];
                switch (c) {
                case '"':
                        fputs("\\\"", out);
                        break;
                case '\\':
                        fputs("\\\\", out);
                        break;
                case '\n':
                        fputs("\\n", out);
                        break;
                case '\t':
                        fputs("\\t", out);
                        break;
                case '\r':
                        fputs("\\r", out);
                        break;
                default:
                        if (c < 0x20 || c == 0x7f) {
                                fprintf(out, "\\u%04x", c);
                        } else if (c < 0x80) {
                                fputc(c, out);
                        } else {
                                l = utf8_len(s + i, n - i);
                                if (l == 0) {
                                        fprintf(out, "\\u%04x", c);
                                } else {
                                        fwrite(s + i, 1, l, out);
                                        i += l;
                                        continue;
                                }
                        }
                        break;
                }
                i++;
        }
        fputc('"', out);
}

static void j_str(const char *s)
{
        if (s)
                j_strn(s, strlen(s));
        else
                fputs("null", out);
}

static void j_key(bool *first, const char *key)
{
        if (!*first)
                fputc(',', out);
        *first = false;
        j_str(key);
        fputc(':', out);
}

static void j_sep(bool *first)
{
        if (!*first)
                fputc(',', out);
        *first = false;
}

/* ---- small file helpers ------------------------------------------------ */

/* Whole file into a NUL-terminated malloc'd buffer; NULL on any error. */
static char *read_file(const char *path, size_t *len_out)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t cap = 4096, len = 0;
        char *buf, *nbuf;
        ssize_t r;

        if (fd < 0)
                return NULL;
        buf = malloc(cap);
        if (!buf) {
                close(fd);
                return NULL;
        }
        for (;;) {
                if (len + 1 >= cap) {
                        cap *= 2;
                        nbuf = realloc(buf, cap);
                        if (!nbuf) {
                                free(buf);
                                close(fd);
                                return NULL;
                        }
                        buf = nbuf;
                }
                r = read(fd, buf + len, cap - len - 1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        free(buf);
                        close(fd);
                        return NULL;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
        }
        close(fd);
        buf[len] = '\0';
        if (len_out)
                *len_out = len;
        return buf;
}

/* Value of "Key:\tvalue" in /proc/self/status (static buffer), NULL if absent. */
static char *status_buf;

static const char *status_field(const char *key)
{
        static char val[256];
        size_t klen = strlen(key);
        const char *p;

        if (!status_buf)
                return NULL;
        for (p = status_buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
                        const char *v = p + klen + 1, *e;
                        size_t n;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        e = strchr(v, '\n');
                        n = e ? (size_t)(e - v) : strlen(v);
                        if (n >= sizeof(val))
                                n = sizeof(val) - 1;
                        memcpy(val, v, n);
                        val[n] = '\0';
                        return val;
                }
        }
        return NULL;
}

static int cmp_long(const void *a, const void *b)
{
        long x = *(const long *)a, y = *(const long *)b;
        return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

/* ---- sections of the report -------------------------------------------- */

/* Decode mountinfo's octal escapes (\040 for space, ...) in place. */
static void unescape_octal(char *s)
{
        char *r = s, *w = s;

        while (*r) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else {
                        *w++ = *r++;
                }
        }
        *w = '\0';
}

static void emit_mounts(void)
{
        char *buf = read_file("/proc/self/mountinfo", NULL), *line, *save = NULL;
        bool first = true;

        if (!buf) {
                fputs("null", out);
                return;
        }
        fputc('[', out);
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
                char *f[64];
                int n = 0, dash = -1, i;
                char *tok, *s2 = NULL;
                bool ofirst = true;

                for (tok = strtok_r(line, " ", &s2); tok && n < 64; tok = strtok_r(NULL, " ", &s2)) {
                        if (dash < 0 && n >= 6 && strcmp(tok, "-") == 0)
                                dash = n;
                        f[n++] = tok;
                }
                if (n < 6 || dash < 0 || dash + 3 > n)
                        continue;
                for (i = 0; i < n; i++)
                        unescape_octal(f[i]);
                j_sep(&first);
                fputc('{', out);
                j_key(&ofirst, "id");
                fprintf(out, "%ld", strtol(f[0], NULL, 10));
                j_key(&ofirst, "parent");
                fprintf(out, "%ld", strtol(f[1], NULL, 10));
                j_key(&ofirst, "dev");
                j_str(f[2]);
                j_key(&ofirst, "root");
                j_str(f[3]);
                j_key(&ofirst, "mountpoint");
                j_str(f[4]);
                j_key(&ofirst, "options");
                j_str(f[5]);
                j_key(&ofirst, "optional");
                {
                        bool afirst = true;
                        fputc('[', out);
                        for (i = 6; i < dash; i++) {
                                j_sep(&afirst);
                                j_str(f[i]);
                        }
                        fputc(']', out);
                }
                j_key(&ofirst, "fstype");
                j_str(f[dash + 1]);
                j_key(&ofirst, "source");
                j_str(f[dash + 2]);
                j_key(&ofirst, "super_options");
                j_str(dash + 3 < n ? f[dash + 3] : NULL);
                fputc('}', out);
        }
        fputc(']', out);
        free(buf);
}

static void emit_links(void)
{
        DIR *d = opendir("/sys/class/net");
        char **names = NULL;
        size_t n = 0, cap = 0, i;
        bool first = true;

        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        if (n == cap) {
                                char **nn;
                                cap = cap ? cap * 2 : 16;
                                nn = realloc(names, cap * sizeof(*names));
                                if (!nn)
                                        break;
                                names = nn;
                        }
                        names[n] = strdup(de->d_name);
                        if (names[n])
                                n++;
                }
                closedir(d);
        } else {
                /* No sysfs: /proc/net/dev has two header lines, then "  name: stats". */
                char *buf = read_file("/proc/net/dev", NULL), *line, *save = NULL;
                int lineno = 0;

                if (!buf) {
                        fputs("null", out);
                        return;
                }
                for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char *colon, *start;
                        if (++lineno <= 2)
                                continue;
                        colon = strchr(line, ':');
                        if (!colon)
                                continue;
                        *colon = '\0';
                        for (start = line; *start == ' '; start++)
                                ;
                        if (n == cap) {
                                char **nn;
                                cap = cap ? cap * 2 : 16;
                                nn = realloc(names, cap * sizeof(*names));
                                if (!nn)
                                        break;
                                names = nn;
                        }
                        names[n] = strdup(start);
                        if (names[n])
                                n++;
                }
                free(buf);
        }
        if (n)
                qsort(names, n, sizeof(*names), cmp_str);
        fputc('[', out);
        for (i = 0; i < n; i++) {
                j_sep(&first);
                j_str(names[i]);
                free(names[i]);
        }
        fputc(']', out);
        free(names);
}

static void emit_pids(void)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        long *pids = NULL;
        size_t n = 0, cap = 0, i;
        bool first = true;

        /* Without procfs mounted /proc is an empty directory: report null, not []. */
        if (!d || access("/proc/self/stat", F_OK) != 0) {
                if (d)
                        closedir(d);
                fputs("null", out);
                return;
        }
        while ((de = readdir(d))) {
                if (!all_digits(de->d_name))
                        continue;
                if (n == cap) {
                        long *np;
                        cap = cap ? cap * 2 : 64;
                        np = realloc(pids, cap * sizeof(*pids));
                        if (!np)
                                break;
                        pids = np;
                }
                pids[n++] = strtol(de->d_name, NULL, 10);
        }
        closedir(d);
        if (n)
                qsort(pids, n, sizeof(*pids), cmp_long);
        fputc('[', out);
        for (i = 0; i < n; i++) {
                j_sep(&first);
                fprintf(out, "%ld", pids[i]);
        }
        fputc(']', out);
        free(pids);
}

static void emit_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        long fds[1024];
        size_t n = 0, i;
        int self;
        bool first = true;

        if (!d) {
                fputs("null", out);
                return;
        }
        self = dirfd(d);
        while ((de = readdir(d)) && n < sizeof(fds) / sizeof(fds[0])) {
                long fd;
                if (!all_digits(de->d_name))
                        continue;
                fd = strtol(de->d_name, NULL, 10);
                if (fd == self || (out && fd == fileno(out)))
                        continue;
                fds[n++] = fd;
        }
        closedir(d);
        qsort(fds, n, sizeof(fds[0]), cmp_long);
        fputc('[', out);
        for (i = 0; i < n; i++) {
                char path[64], target[PATH_MAX];
                ssize_t l;
                bool ofirst = true;

                snprintf(path, sizeof(path), "/proc/self/fd/%ld", fds[i]);
                l = readlink(path, target, sizeof(target) - 1);
                j_sep(&first);
                fputc('{', out);
                j_key(&ofirst, "fd");
                fprintf(out, "%ld", fds[i]);
                j_key(&ofirst, "target");
                if (l >= 0)
                        j_strn(target, (size_t)l);
                else
                        fputs("null", out);
                fputc('}', out);
        }
        fputc(']', out);
}

static void emit_caps(void)
{
        static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
        bool first = true;
        size_t i;

        if (!status_buf) {
                fputs("null", out);
                return;
        }
        fputc('{', out);
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                j_key(&first, keys[i]);
                j_str(status_field(keys[i]));
        }
        fputc('}', out);
}

static void emit_status_int(const char *key)
{
        const char *v = status_field(key);

        if (v && all_digits(v))
                fprintf(out, "%ld", strtol(v, NULL, 10));
        else
                fputs("null", out);
}

static void emit_uptime(void)
{
        char *buf = read_file("/proc/uptime", NULL), *end;
        double v;

        if (!buf) {
                fputs("null", out);
                return;
        }
        v = strtod(buf, &end);
        if (end == buf)
                fputs("null", out);
        else
                fprintf(out, "%.2f", v);
        free(buf);
}

static void emit_clock(clockid_t id)
{
        struct timespec ts;

        if (clock_gettime(id, &ts) != 0)
                fputs("null", out);
        else
                fprintf(out, "%lld.%09ld", (long long)ts.tv_sec, (long)ts.tv_nsec);
}

static void emit_lines(const char *path)
{
        char *buf = read_file(path, NULL), *line, *save = NULL;
        bool first = true;

        if (!buf) {
                fputs("null", out);
                return;
        }
        fputc('[', out);
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                j_sep(&first);
                j_str(line);
        }
        fputc(']', out);
        free(buf);
}

static void emit_tty(void)
{
        bool first = true;
        const char *name;

        fputc('{', out);
        j_key(&first, "stdin");
        fputs(isatty(0) ? "true" : "false", out);
        j_key(&first, "stdout");
        fputs(isatty(1) ? "true" : "false", out);
        j_key(&first, "stderr");
        fputs(isatty(2) ? "true" : "false", out);
        j_key(&first, "ttyname");
        name = isatty(0) ? ttyname(0) : NULL;
        j_str(name);
        fputc('}', out);
}

static void emit_ns(void)
{
        static const char *const kinds[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
        bool first = true;
        size_t i;

        if (access("/proc/self/ns", F_OK) != 0) {
                fputs("null", out);
                return;
        }
        fputc('{', out);
        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                char path[64], target[256];
                ssize_t l;

                snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
                l = readlink(path, target, sizeof(target) - 1);
                j_key(&first, kinds[i]);
                if (l >= 0)
                        j_strn(target, (size_t)l);
                else
                        fputs("null", out);
        }
        fputc('}', out);
}

static int report(int argc, char **argv)
{
        char *buf = NULL;
        size_t buflen = 0;
        bool first = true;
        char host[HOST_NAME_MAX + 1];
        char cwd[PATH_MAX];
        gid_t *groups = NULL;
        int ng, i;
        mode_t um;
        size_t off;
        ssize_t w;

        out = open_memstream(&buf, &buflen);
        if (!out) {
                perror("dc-probe: open_memstream");
                return 1;
        }
        status_buf = read_file("/proc/self/status", NULL);

        fputc('{', out);
        j_key(&first, "pid");
        fprintf(out, "%ld", (long)getpid());
        j_key(&first, "ppid");
        fprintf(out, "%ld", (long)getppid());
        j_key(&first, "uid");
        fprintf(out, "%lu", (unsigned long)getuid());
        j_key(&first, "gid");
        fprintf(out, "%lu", (unsigned long)getgid());
        j_key(&first, "euid");
        fprintf(out, "%lu", (unsigned long)geteuid());
        j_key(&first, "egid");
        fprintf(out, "%lu", (unsigned long)getegid());

        j_key(&first, "groups");
        ng = getgroups(0, NULL);
        if (ng > 0) {
                groups = calloc((size_t)ng, sizeof(*groups));
                ng = groups ? getgroups(ng, groups) : -1;
        }
        if (ng < 0) {
                fputs("null", out);
        } else {
                bool afirst = true;
                fputc('[', out);
                for (i = 0; i < ng; i++) {
                        j_sep(&afirst);
                        fprintf(out, "%lu", (unsigned long)groups[i]);
                }
                fputc(']', out);
        }
        free(groups);

        j_key(&first, "hostname");
        if (gethostname(host, sizeof(host)) == 0) {
                host[sizeof(host) - 1] = '\0';
                j_str(host);
        } else {
                fputs("null", out);
        }

        j_key(&first, "cwd");
        j_str(getcwd(cwd, sizeof(cwd)));

        j_key(&first, "umask");
        um = umask(022);
        umask(um);
        fprintf(out, "\"%04o\"", (unsigned)um);

        j_key(&first, "env");
        {
                bool afirst = true;
                char **e;
                fputc('[', out);
                for (e = environ; e && *e; e++) {
                        j_sep(&afirst);
                        j_str(*e);
                }
                fputc(']', out);
        }

        j_key(&first, "argv");
        {
                bool afirst = true;
                fputc('[', out);
                for (i = 0; i < argc; i++) {
                        j_sep(&afirst);
                        j_str(argv[i]);
                }
                fputc(']', out);
        }

        j_key(&first, "mounts");
        emit_mounts();
        j_key(&first, "links");
        emit_links();
        j_key(&first, "pids");
        emit_pids();
        j_key(&first, "fds");
        emit_fds();
        j_key(&first, "caps");
        emit_caps();
        j_key(&first, "no_new_privs");
        if (status_buf) {
                emit_status_int("NoNewPrivs");
        } else {
                int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
                if (r < 0)
                        fputs("null", out);
                else
                        fprintf(out, "%d", r);
        }
        j_key(&first, "seccomp");
        emit_status_int("Seccomp");
        j_key(&first, "ns");
        emit_ns();
        j_key(&first, "uptime");
        emit_uptime();
        j_key(&first, "clock_monotonic");
        emit_clock(CLOCK_MONOTONIC);
        j_key(&first, "clock_boottime");
        emit_clock(CLOCK_BOOTTIME);
        j_key(&first, "cgroup");
        emit_lines("/proc/self/cgroup");
        j_key(&first, "tty");
        emit_tty();
        fputs("}\n", out);

        free(status_buf);
        status_buf = NULL;
        if (fclose(out) != 0) {
                perror("dc-probe: writing report");
                return 1;
        }
        out = NULL;

        /* One write where possible, so the JSON is not interleaved with anything. */
        for (off = 0; off < buflen; off += (size_t)w) {
                w = write(STDOUT_FILENO, buf + off, buflen - off);
                if (w < 0) {
                        if (errno == EINTR) {
                                w = 0;
                                continue;
                        }
                        perror("dc-probe: write");
                        free(buf);
                        return 1;
                }
        }
        free(buf);
        return 0;
}

/* ---- subcommands ------------------------------------------------------- */

static int cmd_write(const char *path)
{
        static const char line[] = "dc-probe\n";
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
        int err = 0;

        if (fd < 0) {
                err = errno;
        } else {
                if (write(fd, line, sizeof(line) - 1) != (ssize_t)(sizeof(line) - 1))
                        err = errno ? errno : EIO;
                if (close(fd) != 0 && !err)
                        err = errno;
        }
        if (err) {
                printf("{\"ok\":false,\"errno\":%d,\"error\":", err);
                out = stdout;
                j_str(strerror(err));
                out = NULL;
                printf("}\n");
        } else {
                printf("{\"ok\":true}\n");
        }
        return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_sleep(const char *arg)
{
        char *end;
        double secs;
        struct timespec ts;

        errno = 0;
        secs = strtod(arg, &end);
        if (errno || end == arg || *end || secs < 0 || secs > 1e9) {
                fprintf(stderr, "dc-probe: sleep: bad number of seconds: %s\n", arg);
                return 2;
        }
        ts.tv_sec = (time_t)secs;
        ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        return 0;
}

static void usage(void)
{
        fputs("usage: dc-probe [ARGS...]          print a JSON report\n"
              "       dc-probe exit N\n"
              "       dc-probe write PATH\n"
              "       dc-probe sleep SECONDS\n"
              "       dc-probe own-uts NAME SECONDS\n",
              stderr);
}

int main(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "exit") == 0) {
                char *end;
                long code;
                if (argc != 3) {
                        usage();
                        return 2;
                }
                code = strtol(argv[2], &end, 10);
                if (end == argv[2] || *end) {
                        usage();
                        return 2;
                }
                fflush(NULL);
                _exit((int)(code & 0xff));
        }
        if (argc >= 2 && strcmp(argv[1], "write") == 0) {
                if (argc != 3) {
                        usage();
                        return 2;
                }
                return cmd_write(argv[2]);
        }
        if (argc >= 2 && strcmp(argv[1], "try") == 0)
                return dc_probe_try(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
                if (argc != 3) {
                        usage();
                        return 2;
                }
                return cmd_sleep(argv[2]);
        }
        if (argc >= 2 && strcmp(argv[1], "own-uts") == 0) {
                if (argc != 4) {
                        usage();
                        return 2;
                }
                if (unshare(CLONE_NEWUTS) < 0 || sethostname(argv[2], strlen(argv[2])) < 0) {
                        printf("own-uts failed: %s\n", strerror(errno));
                        return 1;
                }
                printf("own-uts\n");
                fflush(stdout);
                return cmd_sleep(argv[3]);
        }
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage();
                return 0;
        }
        return report(argc, argv);
}
