/* Copied unchanged from the project's shared pty floors (/work/shared/bench/c/pty_responder.c). */
/* pty_responder: the C floor of a "modem" side.
 * Holds a pty master, prints the slave path on stdout, and answers every
 * CR it reads with "\r\nOK\r\n" (one write per read() batch) using plain
 * blocking read/write. Exits when the client closes the slave (EIO).
 * usage: pty_responder */
#include "common.h"

int main(void) {
    char name[128];
    int m = open_master(name, sizeof name);
    if (m < 0) die("open_master");
    printf("%s\n", name);
    fflush(stdout);
    static const char reply[] = "\r\nOK\r\n";
    char in[4096], out[4096 * 6];
    for (;;) {
        ssize_t n = read(m, in, sizeof in);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EIO) break; /* slave closed: client done */
            die("read master");
        }
        if (n == 0) break;
        size_t o = 0;
        for (ssize_t i = 0; i < n; i++)
            if (in[i] == '\r') { memcpy(out + o, reply, 6); o += 6; }
        if (o && write_all(m, out, o) < 0) {
            if (errno == EIO) break;
            die("write master");
        }
    }
    return 0;
}
