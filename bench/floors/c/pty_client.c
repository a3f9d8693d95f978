/* Copied unchanged from the project's shared pty floors (/work/shared/bench/c/pty_client.c). */
/* pty_client: ping-pong latency client on a pty slave.
 * Sends "AT\r", reads until the 6-byte reply "\r\nOK\r\n" is complete
 * (in canonical mode ICRNL turns it into "\n\nOK\n\n", still 6 bytes,
 * delivered one line per read()). Records each round trip.
 * usage: pty_client SLAVE_PATH N raw|canon [WARMUP]
 * prints one JSON object. */
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s SLAVE N raw|canon [WARMUP]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long n = atol(argv[2]);
    int canon = strcmp(argv[3], "canon") == 0;
    long warm = argc > 4 ? atol(argv[4]) : 1000;
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) die("open slave");
    if (canon) set_canon(fd); else set_raw(fd);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)n);
    if (!lat) die("malloc");
    char buf[256];
    long reads = 0;
    for (long i = -warm; i < n; i++) {
        uint64_t t0 = now_ns();
        if (write_all(fd, "AT\r", 3) < 0) die("write");
        int got = 0;
        while (got < 6) {
            ssize_t r = read(fd, buf + got, sizeof buf - (size_t)got);
            if (r < 0) { if (errno == EINTR) continue; die("read"); }
            if (r == 0) { fprintf(stderr, "EOF\n"); return 1; }
            got += (int)r;
            if (i >= 0) reads++;
        }
        uint64_t t1 = now_ns();
        if (got != 6 || buf[2] != 'O' || buf[3] != 'K') {
            fprintf(stderr, "bad reply (%d bytes)\n", got);
            return 1;
        }
        if (i >= 0) lat[i] = t1 - t0;
    }
    close(fd);
    printf("{\"mode\": \"%s\", ", canon ? "canon" : "raw");
    print_lat_json(lat, (size_t)n);
    printf(", \"reads_per_rt\": %.2f}\n", (double)reads / (double)n);
    return 0;
}
