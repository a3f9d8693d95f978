/* Copied unchanged from the project's shared pty floors (/work/shared/bench/c/common.h). */
/* Shared helpers for the pty floor benchmarks (Linux, glibc). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Open a pty master only; slave path written to name (>= 64 bytes). */
static inline int open_master(char *name, size_t len) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) return -1;
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, len) != 0) {
        int e = errno;
        close(m);
        errno = e;
        return -1;
    }
    return m;
}

/* Raw mode: cfmakeraw, VMIN=1, VTIME=0 (what pyserial/socat raw give too). */
static inline void set_raw(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) < 0) die("tcgetattr");
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &t) < 0) die("tcsetattr raw");
}

/* Canonical (cooked) mode as a line-oriented client would use it: the
 * kernel's default pty termios (ICANON, ICRNL, OPOST|ONLCR, ISIG, IEXTEN)
 * with echo switched off (echo on would bounce the modem's reply back to it). */
static inline void set_canon(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) < 0) die("tcgetattr");
    t.c_iflag = ICRNL | IXON;
    t.c_oflag = OPOST | ONLCR;
    t.c_cflag = (t.c_cflag & ~(CSIZE | PARENB)) | CS8 | CREAD;
    t.c_lflag = ISIG | ICANON | IEXTEN;
    if (tcsetattr(fd, TCSANOW, &t) < 0) die("tcsetattr canon");
}

static inline int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static inline uint64_t pct(const uint64_t *s, size_t n, double p) {
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return s[k - 1];
}

/* Print latency stats (ns samples, sorted in place) as JSON fields. */
static inline void print_lat_json(uint64_t *lat, size_t n) {
    qsort(lat, n, sizeof *lat, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)lat[i];
    printf("\"n\": %zu, \"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, "
           "\"min_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f",
           n, pct(lat, n, 50) / 1e3, pct(lat, n, 90) / 1e3, pct(lat, n, 99) / 1e3,
           lat[0] / 1e3, lat[n - 1] / 1e3, sum / (double)n / 1e3);
}
#endif
