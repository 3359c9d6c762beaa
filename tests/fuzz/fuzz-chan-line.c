/* The migration control channel's receive path (hvagent/hva-chan.c):
 * bytes arrive in records of any size, the buffer grows as
 * chan_dispatch grows it (16 KiB steps, cut off at HVA_CHAN_MAX_LINE),
 * and hva_chan_split_lines hands out each complete line. A PREPARE
 * line's definition goes through hva_vm_def_from_xml as the target's
 * in_prepare does first; a READY line's arguments go through
 * hva_mig_ready_parse as the source's (token, tls, nbd=PORT); ABORT
 * stops the channel as a handler that closes it would.
 *
 * Input: records of u16 length + bytes, each one TLS record's worth. */
#include "config.h"

#include "hvagent/hva-int.h"
#include "hvagent/hva-mig-nbd.h"
#include "tests/fuzz/fuzz.h"

struct rx {
    char *buf;
    size_t len, cap;
    bool closed;
};

static bool on_line(void *data, char *line)
{
    struct rx *rx = data;
    char *arg = strchr(line, ' ');

    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "PREPARE") == 0) {
        struct hva_vm_def *def = NULL;
        char err[512];

        if (hva_vm_def_from_xml(arg ? arg : "", &def, err, sizeof(err)) == 0)
            hva_vm_def_free(def);
    } else if (strcmp(line, "READY") == 0) {
        struct hva_mig_ready r;

        /* What it promises: a port in range, the token as long as asked. */
        if (hva_mig_ready_parse(arg, 64, &r) == 0 &&
            (r.nbd_port > 65535 || strlen(r.token) != 64))
            abort();
    } else if (strcmp(line, "ABORT") == 0) {
        rx->closed = true;
    }
    return !rx->closed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct rx rx = {0};

    while (in.n && !rx.closed) {
        size_t want = fuzz_u16(&in), len, start;
        const uint8_t *p;

        if (rx.cap - rx.len < 4096) {
            char *n;
            if (rx.cap >= HVA_CHAN_MAX_LINE)
                break; /* -EPROTO: the peer is cut off */
            n = realloc(rx.buf, rx.cap + 16384);
            if (!n)
                break;
            rx.buf = n;
            rx.cap += 16384;
        }
        if (want > rx.cap - rx.len - 1)
            want = rx.cap - rx.len - 1;
        p = fuzz_take(&in, want, &len);
        memcpy(rx.buf + rx.len, p, len);
        rx.len += len;
        start = hva_chan_split_lines(rx.buf, rx.len, on_line, &rx);
        if (start > rx.len)
            abort();
        if (rx.closed)
            break;
        memmove(rx.buf, rx.buf + start, rx.len - start);
        rx.len -= start;
    }
    free(rx.buf);
    return 0;
}
