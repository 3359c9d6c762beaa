/* Explicit little-endian encoding of on-disk and on-wire integers: byte
 * by byte, so neither host endianness nor alignment matters. */
#ifndef KVMC_CMN_LE_H
#define KVMC_CMN_LE_H

#include <stdint.h>

/* Stores the low `n` bytes of `v` at `p`, least significant first. */
static inline void cmn_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads an `n`-byte little-endian integer from `p`. */
static inline uint64_t cmn_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Fixed widths, for record codecs that name each field's size. */
static inline void cmn_put_le16(uint8_t *p, uint16_t v)
{
    cmn_put_le(p, v, 2);
}
static inline void cmn_put_le32(uint8_t *p, uint32_t v)
{
    cmn_put_le(p, v, 4);
}
static inline void cmn_put_le64(uint8_t *p, uint64_t v)
{
    cmn_put_le(p, v, 8);
}
static inline uint16_t cmn_get_le16(const uint8_t *p)
{
    return (uint16_t)cmn_get_le(p, 2);
}
static inline uint32_t cmn_get_le32(const uint8_t *p)
{
    return (uint32_t)cmn_get_le(p, 4);
}
static inline uint64_t cmn_get_le64(const uint8_t *p)
{
    return cmn_get_le(p, 8);
}

#endif
