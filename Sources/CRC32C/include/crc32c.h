#ifndef POLLTALLY_CRC32C_H
#define POLLTALLY_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) over `length` bytes. Start with `crc = 0`; feed the result of one
/// call into the next to checksum data in pieces. Uses the SSE4.2 instruction when the CPU has it,
/// a table otherwise; both give the same value (CRC32C("123456789") == 0xE3069283).
uint32_t polltally_crc32c(uint32_t crc, const void *data, size_t length);

/// The CRC32C of a log record's frame (`length u32 | crc u32 | payload`): of the four length
/// bytes at `frame`, then of the `payload_length` bytes at `frame + 8`, as two `polltally_crc32c`
/// calls would give, in one call (the scanner checks millions of records).
uint32_t polltally_crc32c_record(const void *frame, size_t payload_length);
/// 1 when the hardware instruction is used, 0 when the table fallback is.
int polltally_crc32c_hardware(void);

#endif
