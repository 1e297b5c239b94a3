/* sd_notify(3) without libsystemd: the documented datagram protocol. The
 * message is one datagram of "VAR=value" lines; the service manager learns
 * the sender's pid from the credentials the kernel attaches (it sets
 * SO_PASSCRED on its socket), so nothing else is sent along. */
#include "diyctl/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "diyctl/util.h"

int dc_notify_to(const char *spec, const char *msg)
{
        if (!spec || !*spec)
                return 0;
        if (strncmp(spec, "vsock:", 6) == 0)
                return -EAFNOSUPPORT; /* systemd in a VM; not for a container launcher */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(spec);
        socklen_t len;
        if (spec[0] == '@') {
                /* abstract: a leading NUL, then the name; the length is exact */
                if (n < 2 || n > sizeof(sa.sun_path))
                        return -EINVAL;
                memcpy(sa.sun_path + 1, spec + 1, n - 1);
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else if (spec[0] == '/') {
                if (n >= sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                memcpy(sa.sun_path, spec, n);
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        } else {
                return -EINVAL;
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Never hang the launcher on a manager that does not read. */
        struct timeval tv = { .tv_sec = 5 };
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        size_t mlen = strlen(msg);
        for (;;) {
                ssize_t w = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
                if (w >= 0)
                        return (size_t)w == mlen ? 1 : -EMSGSIZE;
                if (errno != EINTR)
                        return -errno;
        }
}

int dc_notify(const char *msg)
{
        return dc_notify_to(getenv("NOTIFY_SOCKET"), msg);
}

int dc_notifyf(const char *fmt, ...)
{
        if (!getenv("NOTIFY_SOCKET"))
                return 0;
        va_list ap;
        va_start(ap, fmt);
        char *m = NULL;
        int n = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        int r = dc_notify(m);
        free(m);
        return r;
}

/* STATUS= is one line: newlines would start new assignments. */
static char *one_line(const char *s)
{
        char *t = dc_xstrdup(s ? s : "");
        for (char *p = t; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        if (strlen(t) > 1024)
                t[1024] = 0;
        return t;
}

int dc_notify_ready(pid_t main_pid, const char *status)
{
        _cleanup_free_ char *st = one_line(status);
        return dc_notifyf("READY=1\nMAINPID=%d\nSTATUS=%s\n", (int)main_pid, st);
}

int dc_notify_stopping(const char *status)
{
        static bool sent;
        _cleanup_free_ char *st = one_line(status);
        if (sent)
                return dc_notifyf("STATUS=%s\n", st);
        int r = dc_notifyf("STOPPING=1\nSTATUS=%s\n", st);
        if (r > 0)
                sent = true;
        return r;
}

int dc_notify_failed(const char *status, int code)
{
        _cleanup_free_ char *st = one_line(status);
        if (code > 0)
                return dc_notifyf("STATUS=%s\nERRNO=%d\n", st, code);
        return dc_notifyf("STATUS=%s\n", st);
}
