/* Copied unchanged from the project's shared pty floors (/work/shared/bench/c/pty_relay.c). */
/* pty_relay: C floor of "two virtual modems connected in data mode".
 * Opens two pty masters A and B, prints "SLAVE_A SLAVE_B" on stdout, and
 * copies bytes both ways (poll + read 64 KiB + blocking write_all).
 * Exits when either slave is closed after use (EIO/POLLHUP) or on SIGTERM.
 * usage: pty_relay [BUFSIZE] */
#include "common.h"
#include <poll.h>

int main(int argc, char **argv) {
    size_t bufsz = argc > 1 ? (size_t)atol(argv[1]) : 65536;
    char na[128], nb[128];
    int a = open_master(na, sizeof na), b = open_master(nb, sizeof nb);
    if (a < 0 || b < 0) die("open_master");
    printf("%s %s\n", na, nb);
    fflush(stdout);
    char *buf = malloc(bufsz);
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    for (;;) {
        int r = poll(p, 2, -1);
        if (r < 0) { if (errno == EINTR) continue; die("poll"); }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents) continue;
            int from = p[i].fd, to = p[1 - i].fd;
            ssize_t n = read(from, buf, bufsz);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                if (errno == EIO) return 0; /* a slave hung up */
                die("read");
            }
            if (n == 0) return 0;
            if (write_all(to, buf, (size_t)n) < 0) {
                if (errno == EIO) return 0;
                die("write");
            }
        }
    }
}
