#ifndef _GNU_SOURCE
#endif
#include "diyctl/util.h"
#include "dc-build-config.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static void oom(void)
{
        static const char msg[] = "diyctl: out of memory\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        abort();
}

void *dc_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *dc_xcalloc(size_t n, size_t sz)
{
        void *p = calloc(n ? n : 1, sz ? sz : 1);
        if (!p)
                oom();
        return p;
}

void *dc_xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                oom();
        return p;
}

char *dc_xstrdup(const char *s)
{
        char *p = strdup(s);
        if (!p)
                oom();
        return p;
}

char *dc_xstrndup(const char *s, size_t n)
{
        /* Never looks past s[n-1]: s need not be NUL-terminated (the sanitizer's
         * strndup interceptor checks one byte further than glibc reads). */
        size_t len = 0;
        while (len < n && s[len])
                len++;
        char *p = dc_xmalloc(len + 1);
        memcpy(p, s, len);
        p[len] = 0;
        return p;
}

char *dc_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        return s;
}

void dc_strv_push_take(struct dc_strv *sv, char *s)
{
        sv->v = dc_xrealloc(sv->v, (sv->n + 2) * sizeof(char *));
        sv->v[sv->n++] = s;
        sv->v[sv->n] = NULL;
}

void dc_strv_push(struct dc_strv *sv, const char *s)
{
        dc_strv_push_take(sv, dc_xstrdup(s));
}

void dc_strv_free(struct dc_strv *sv)
{
        for (size_t i = 0; i < sv->n; i++)
                free(sv->v[i]);
        free(sv->v);
        sv->v = NULL;
        sv->n = 0;
}

void dc_strv_copy(struct dc_strv *dst, const struct dc_strv *src)
{
        for (size_t i = 0; i < src->n; i++)
                dc_strv_push(dst, src->v[i]);
}

bool dc_strv_contains(const struct dc_strv *sv, const char *s)
{
        for (size_t i = 0; i < sv->n; i++)
                if (strcmp(sv->v[i], s) == 0)
                        return true;
        return false;
}

bool dc_streq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

bool dc_startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool dc_ifname_valid(const char *s, size_t n)
{
        if (n < 1 || n > 15 || s[0] == '-' || (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.'))))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

int dc_write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t w = write(fd, p, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                len -= (size_t)w;
        }
        return 0;
}

int dc_read_file(const char *path, size_t max, char **out)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t cap = 256, len = 0;
        _cleanup_free_ char *buf = dc_xmalloc(cap);
        for (;;) {
                /* Room for the NUL; a file of exactly max bytes fits, and
                 * reading one byte past max tells a bigger one apart. */
                if (len + 1 >= cap) {
                        if (len > max)
                                return -EFBIG;
                        cap *= 2;
                        buf = dc_xrealloc(buf, cap);
                }
                ssize_t r = read(fd, buf + len, cap - len - 1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = 0;
        *out = DC_TAKE(buf);
        return (int)len;
}

int dc_write_file(const char *path, const char *s)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return dc_write_all(fd, s, strlen(s));
}

/* mkdir that accepts an existing directory (but not an existing file). */
static int mkdir_one(const char *p, unsigned mode)
{
        if (mkdir(p, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        struct stat st;
        if (stat(p, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int dc_mkdir_p(const char *path, unsigned mode)
{
        if (!path || !*path)
                return -ENOENT;
        _cleanup_free_ char *p = dc_xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/' || s[-1] == '/')
                        continue;
                *s = 0;
                int r = mkdir_one(p, mode);
                if (r < 0)
                        return r;
                *s = '/';
        }
        return mkdir_one(p, mode);
}

int dc_parse_size(const char *s, unsigned long long *out)
{
        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        unsigned shift = 0;
        switch (*end) {
        case 0:
                break;
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        case 't': case 'T': shift = 40; end++; break;
        default:
                return -EINVAL;
        }
        if (shift && (*end == 'i' || *end == 'I'))
                end++;
        if (shift && (*end == 'b' || *end == 'B'))
                end++;
        if (*end)
                return -EINVAL;
        if (shift && v > (UINT64_MAX >> shift))
                return -EINVAL;
        *out = v << shift;
        return 0;
}

void dc_json_str(FILE *out, const char *s)
{
        if (!s) {
                fputs("null", out);
                return;
        }
        fputc('"', out);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                switch (*p) {
                case '"': fputs("\\\"", out); break;
                case '\\': fputs("\\\\", out); break;
                case '\n': fputs("\\n", out); break;
                case '\t': fputs("\\t", out); break;
                case '\r': fputs("\\r", out); break;
                default:
                        if (*p < 0x20)
                                fprintf(out, "\\u%04x", *p);
                        else
                                fputc(*p, out);
                }
        }
        fputc('"', out);
}

/* Locale-independent: bytes >= 0x80 are always encoded. */
static bool pct_plain(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != 0 && strchr("._/:,@+-", c));
}

char *dc_pct_encode(const char *s)
{
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                n += pct_plain(*p) ? 1 : 3;
        char *out = dc_xmalloc(n + 1), *o = out;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (pct_plain(*p))
                        *o++ = (char)*p;
                else
                        o += sprintf(o, "%%%02X", *p);
        }
        *o = 0;
        return out;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *dc_pct_decode(const char *s)
{
        char *out = dc_xmalloc(strlen(s) + 1), *o = out;
        for (const char *p = s; *p; p++) {
                if (*p != '%') {
                        *o++ = *p;
                        continue;
                }
                int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
                if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                        free(out);
                        return NULL;
                }
                *o++ = (char)(h * 16 + l);
                p += 2;
        }
        *o = 0;
        return out;
}

bool dc_fault_is(const char *point)
{
#if DC_FAULT_INJECTION
        const char *f = getenv("DIYCTL_FAULT");
        return f && strcmp(f, point) == 0;
#else
        (void)point;
        return false;
#endif
}

void dc_fault_point(const char *fmt, ...)
{
#if DC_FAULT_INJECTION
        if (!getenv("DIYCTL_FAULT"))
                return;
        char point[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(point, sizeof(point), fmt, ap);
        va_end(ap);
        if (dc_fault_is(point))
                raise(SIGKILL);
#else
        (void)fmt;
#endif
}

static const struct {
        const char *name;
        int sig;
} signal_names[] = {
        { "HUP", SIGHUP },       { "INT", SIGINT },       { "QUIT", SIGQUIT },   { "ILL", SIGILL },
        { "TRAP", SIGTRAP },     { "ABRT", SIGABRT },     { "IOT", SIGIOT },     { "BUS", SIGBUS },
        { "FPE", SIGFPE },       { "KILL", SIGKILL },     { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },
        { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE },     { "ALRM", SIGALRM },   { "TERM", SIGTERM },
        { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD },     { "CONT", SIGCONT },   { "STOP", SIGSTOP },
        { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN },     { "TTOU", SIGTTOU },   { "URG", SIGURG },
        { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ },     { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
        { "WINCH", SIGWINCH },   { "IO", SIGIO },         { "POLL", SIGPOLL },   { "PWR", SIGPWR },
        { "SYS", SIGSYS },
};

int dc_signal_parse(const char *s, bool digits)
{
        if (!s || !*s)
                return -1;
        if (digits && isdigit((unsigned char)*s)) {
                if (strlen(s) > 2 || !isdigit((unsigned char)s[strlen(s) - 1]))
                        return -1;
                int n = atoi(s);
                /* 32 and 33 are the C library's own */
                return (n >= 1 && n < 32) || (n >= SIGRTMIN && n <= SIGRTMAX) ? n : -1;
        }
        if (dc_startswith(s, "SIG"))
                s += 3;
        for (size_t i = 0; i < DC_ARRAY_SIZE(signal_names); i++)
                if (strcmp(s, signal_names[i].name) == 0)
                        return signal_names[i].sig;
        bool min = dc_startswith(s, "RTMIN"), max = dc_startswith(s, "RTMAX");
        if (!min && !max)
                return -1;
        s += 5;
        int off = 0;
        if (*s) {
                if (*s != (min ? '+' : '-') || !s[1] || strlen(s + 1) > 2 || strspn(s + 1, "0123456789") != strlen(s + 1))
                        return -1;
                off = atoi(s + 1);
        }
        int sig = min ? SIGRTMIN + off : SIGRTMAX - off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -1;
}

int dc_signal_parse_loose(const char *s)
{
        char up[24] = "";
        if (!s || strlen(s) >= sizeof(up))
                return -1;
        for (size_t k = 0; s[k]; k++)
                up[k] = (char)toupper((unsigned char)s[k]);
        return dc_signal_parse(up, true);
}

const char *dc_signal_name(int sig, char buf[24])
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(signal_names); i++)
                if (signal_names[i].sig == sig) { /* the first name: ABRT before IOT, IO before POLL */
                        snprintf(buf, 24, "SIG%s", signal_names[i].name);
                        return buf;
                }
        if (sig == SIGRTMAX)
                snprintf(buf, 24, "SIGRTMAX");
        else if (sig >= SIGRTMIN && sig < SIGRTMAX)
                snprintf(buf, 24, sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+%d", sig - SIGRTMIN);
        else
                snprintf(buf, 24, "signal %d", sig);
        return buf;
}

bool dc_signal_forwardable(int sig)
{
        switch (sig) {
        case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGTSTP: case SIGTTIN: case SIGTTOU:
        case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE: case SIGSEGV: case SIGSYS:
                return false;
        default:
                return (sig >= 1 && sig < 32) || (sig >= SIGRTMIN && sig <= SIGRTMAX);
        }
}

static char *cmdline_start;
static size_t cmdline_len;

void dc_cmdline_remember(int argc, char **argv)
{
        if (argc < 1 || !argv[0])
                return;
        /* the strings the kernel laid out one after the other */
        char *end = argv[0] + strlen(argv[0]) + 1;
        for (int i = 1; i < argc && argv[i] == end; i++)
                end = argv[i] + strlen(argv[i]) + 1;
        cmdline_start = argv[0];
        cmdline_len = (size_t)(end - argv[0]);
}

void dc_cmdline_replace(const char *name)
{
        if (!cmdline_start || !cmdline_len)
                return;
        memset(cmdline_start, 0, cmdline_len);
        size_t n = strlen(name);
        memcpy(cmdline_start, name, n < cmdline_len ? n : cmdline_len - 1);
}
