/* The launcher's side of a container's terminal: the caller's terminal in raw
 * mode, bytes relayed both ways, window size kept in step. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/util.h"

struct dc_pty_relay {
        int master;
        bool in_open;
        bool master_open; /* until every copy of the terminal's other end is closed */
        bool raw;
        struct termios saved;
};

int dc_pty_relay_start(int master, bool input, struct dc_pty_relay **out, struct dc_error *err)
{
        (void)err;
        struct dc_pty_relay *r = dc_xcalloc(1, sizeof(*r));
        r->master = master;
        r->in_open = input;
        r->master_open = true;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &r->saved) == 0) {
                struct termios raw = r->saved;
                cfmakeraw(&raw);
                if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
                        r->raw = true;
                dc_pty_relay_winch(r);
        }
        *out = r;
        return 0;
}

void dc_pty_relay_winch(struct dc_pty_relay *r)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                ioctl(r->master, TIOCSWINSZ, &ws);
}

void dc_pty_relay_poll_fds(struct dc_pty_relay *r, int *in_fd, short *in_ev, int *master_fd, short *master_ev)
{
        *in_fd = r->in_open ? STDIN_FILENO : -1;
        *in_ev = POLLIN;
        /* Once hung up the master polls ready for ever: stop watching it, or
         * a command that closed its terminal but runs on would make the
         * caller spin until it ends. (Output written after a process of the
         * container opened /dev/pts/N again is then not relayed.) */
        *master_fd = r->master_open ? r->master : -1;
        *master_ev = POLLIN;
}

static int copy_once(int from, int to)
{
        char buf[16384];
        ssize_t n = read(from, buf, sizeof(buf));
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0)
                return -ENODATA;
        return dc_write_all(to, buf, (size_t)n);
}

int dc_pty_relay_io(struct dc_pty_relay *r, short in_revents, short master_revents)
{
        if (r->in_open && (in_revents & (POLLIN | POLLHUP | POLLERR))) {
                if (copy_once(STDIN_FILENO, r->master) < 0)
                        r->in_open = false;
        }
        if (r->master_open && (master_revents & (POLLIN | POLLHUP | POLLERR))) {
                int e = copy_once(r->master, STDOUT_FILENO);
                if (e == -EIO || e == -ENODATA || (e < 0 && !(master_revents & POLLIN))) {
                        r->master_open = false; /* every copy of the terminal is closed */
                        return 1;
                }
        }
        return 0;
}

void dc_pty_relay_finish(struct dc_pty_relay *r)
{
        if (!r)
                return;
        int fl = fcntl(r->master, F_GETFL);
        if (fl >= 0)
                fcntl(r->master, F_SETFL, fl | O_NONBLOCK);
        while (copy_once(r->master, STDOUT_FILENO) == 0) {
                struct pollfd p = { .fd = r->master, .events = POLLIN };
                if (poll(&p, 1, 0) <= 0)
                        break;
        }
        if (r->raw)
                tcsetattr(STDIN_FILENO, TCSADRAIN, &r->saved);
        close(r->master);
        free(r);
}
