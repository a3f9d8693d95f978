/* Copied unchanged from the project's shared pty floors (/work/shared/bench/c/pty_pipe_bench.c). */
/* pty_pipe_bench: push bytes into slave A, read them from slave B, through
 * whatever relay connects A and B (C relay, Python relays, socat).
 * The reader opens B (raw) first, then a forked writer opens A (raw) and
 * writes TOTAL_MIB MiB in CHUNK writes, and holds A open until the reader
 * has everything. Byte-sum checked.
 * usage: pty_pipe_bench SLAVE_A SLAVE_B CHUNK TOTAL_MIB
 * prints one JSON object; MB/s is 10^6 bytes per second. */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s A B CHUNK TOTAL_MIB\n", argv[0]); return 2; }
    size_t chunk = (size_t)atol(argv[3]);
    uint64_t total = (uint64_t)atol(argv[4]) << 20;
    int rfd = open(argv[2], O_RDWR | O_NOCTTY);
    if (rfd < 0) die("open B");
    set_raw(rfd);
    unsigned char *wbuf = malloc(chunk);
    for (size_t i = 0; i < chunk; i++) wbuf[i] = (unsigned char)(i * 131u + 7u);
    uint64_t csum = 0, expect;
    for (size_t i = 0; i < chunk; i++) csum += wbuf[i];
    expect = csum * (total / chunk);
    for (size_t i = 0; i < total % chunk; i++) expect += wbuf[i];
    int hold[2];
    if (pipe(hold) < 0) die("pipe");
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(hold[1]);
        int wfd = open(argv[1], O_RDWR | O_NOCTTY);
        if (wfd < 0) die("open A");
        set_raw(wfd);
        uint64_t left = total;
        while (left) {
            size_t n = left < chunk ? (size_t)left : chunk;
            if (write_all(wfd, wbuf, n) < 0) die("write A");
            left -= n;
        }
        char c;
        (void)!read(hold[0], &c, 1);
        _exit(0);
    }
    close(hold[0]);
    static unsigned char rbuf[65536];
    uint64_t got = 0, sum = 0;
    while (got < total) {
        ssize_t n = read(rfd, rbuf, sizeof rbuf);
        if (n < 0) { if (errno == EINTR) continue; die("read B"); }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) sum += rbuf[i];
        got += (uint64_t)n;
    }
    uint64_t t1 = now_ns();
    close(hold[1]);
    waitpid(pid, NULL, 0);
    double secs = (double)(t1 - t0) / 1e9;
    int ok = got == total && sum == expect;
    printf("{\"chunk\": %zu, \"bytes\": %llu, \"secs\": %.4f, \"MBps\": %.1f, \"ok\": %s}\n",
           chunk, (unsigned long long)got, secs, (double)got / secs / 1e6, ok ? "true" : "false");
    return ok ? 0 : 1;
}
