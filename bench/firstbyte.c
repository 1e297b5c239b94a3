/* firstbyte: wait until an HTTP server answers, for the NAT benchmark
 * (bench/run). Connects to ADDR:PORT, sends a GET, and exits 0 as soon as
 * the first byte of the answer arrives; retries every 200 us while nothing
 * listens yet (connection refused, reset, no route), gives up after
 * TIMEOUT_MS (default 5000) with exit 1.
 *
 *   firstbyte ADDR PORT [TIMEOUT_MS]
 *
 * Built by bench/run with the system compiler: cc -O2 -o firstbyte firstbyte.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One attempt: 1 when a byte came back, 0 to retry. The connect waits at
 * most 20 ms, so a SYN lost while the route is not there yet costs no
 * kernel retransmission timeout (1 s). */
static int attempt(const struct sockaddr_in *sa, long long deadline)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return 0;
        int ok = 0;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof(err);
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
            (errno == EINPROGRESS && poll(&p, 1, 20) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)) {
                static const char req[] = "GET / HTTP/1.0\r\n\r\n";
                if (write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
                        p.events = POLLIN;
                        long long left = (deadline - now_us()) / 1000;
                        char c;
                        if (left > 0 && poll(&p, 1, (int)left) == 1 && read(fd, &c, 1) == 1)
                                ok = 1;
                }
        }
        close(fd);
        return ok;
}

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: firstbyte ADDR PORT [TIMEOUT_MS]\n");
                return 2;
        }
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
        if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
                fprintf(stderr, "firstbyte: %s: not an IPv4 address\n", argv[1]);
                return 2;
        }
        long long deadline = now_us() + (argc > 3 ? atoll(argv[3]) : 5000) * 1000;
        while (now_us() < deadline) {
                if (attempt(&sa, deadline))
                        return 0;
                struct timespec ts = { 0, 200 * 1000 };
                nanosleep(&ts, NULL);
        }
        fprintf(stderr, "firstbyte: no answer from %s:%s\n", argv[1], argv[2]);
        return 1;
}
