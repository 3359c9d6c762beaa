/* CRC-32C (Castagnoli), as used by iSCSI, ext4 and sanlock on-disk. */
#ifndef KVMC_CMN_CRC32C_H
#define KVMC_CMN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0; the result of one call is the `crc`
 * argument of the next for data split across buffers.
 * cmn_crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t cmn_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
