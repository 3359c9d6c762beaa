/* Helpers shared by the libFuzzer harnesses of tests/fuzz.
 *
 * Each fuzz-<name>.c defines LLVMFuzzerTestOneInput over one decoder that
 * reads bytes from outside the process. The same file is linked twice:
 * with libFuzzer's main into tests/fuzz/fuzz-<name> (--enable-fuzzing,
 * scripts/fuzz), and with fuzz-regress.c into the cmocka test
 * tests/fuzz/regress-<name>, which replays the checked-in seeds and every
 * input that once crashed (tests/data/fuzz-regress/<name>/) in
 * `make check`, plain and under the sanitizers. */
#ifndef KVMC_FUZZ_H
#define KVMC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The schemas of the source tree unless the caller chose others. */
static inline void fuzz_env(void)
{
    setenv("KVMC_SCHEMADIR", FUZZ_SRCDIR "/schemas", 0);
}

/* A cursor over the input: reads past the end give zeros. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_u8(struct fuzz_in *in)
{
    unsigned v = 0;

    if (in->n) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

static inline unsigned fuzz_u16(struct fuzz_in *in)
{
    unsigned lo = fuzz_u8(in);

    return lo | fuzz_u8(in) << 8;
}

/* Up to `want` bytes of the input; *ret_len says how many. */
static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t want,
                                       size_t *ret_len)
{
    const uint8_t *p = in->p;

    if (want > in->n)
        want = in->n;
    in->p += want;
    in->n -= want;
    *ret_len = want;
    return p;
}

/* A NUL-terminated copy of `len` bytes (decoders of text get C strings;
 * the copy also lets ASan see a read past the input). */
static inline char *fuzz_strndup(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

#endif
