#define _GNU_SOURCE
#include "crc32c.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define POLLTALLY_HAVE_SSE42_PATH 1
#endif

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    const uint32_t poly = 0x82F63B78u;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t n) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^ table[5][(word >> 16) & 0xFF] ^
              table[4][(word >> 24) & 0xFF] ^ table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF] ^
              table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#ifdef POLLTALLY_HAVE_SSE42_PATH
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    if (n >= 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        c32 = _mm_crc32_u32(c32, word);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t word;
        memcpy(&word, p, 2);
        c32 = _mm_crc32_u16(c32, word);
        p += 2;
        n -= 2;
    }
    if (n) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}
#endif

int polltally_crc32c_hardware(void) {
#ifdef POLLTALLY_HAVE_SSE42_PATH
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t polltally_crc32c(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    crc = ~crc;
#ifdef POLLTALLY_HAVE_SSE42_PATH
    if (__builtin_cpu_supports("sse4.2")) return ~crc_hw(crc, p, length);
#endif
    return ~crc_table(crc, p, length);
}

#ifdef POLLTALLY_HAVE_SSE42_PATH
__attribute__((target("sse4.2")))
static uint32_t crc_hw_record(const unsigned char *p, size_t payload_length) {
    uint32_t length;
    memcpy(&length, p, 4);
    return ~crc_hw(_mm_crc32_u32(~0u, length), p + 8, payload_length);
}
#endif

uint32_t polltally_crc32c_record(const void *frame, size_t payload_length) {
    const unsigned char *p = (const unsigned char *)frame;
#ifdef POLLTALLY_HAVE_SSE42_PATH
    if (__builtin_cpu_supports("sse4.2")) return crc_hw_record(p, payload_length);
#endif
    return ~crc_table(crc_table(~0u, p, 4), p + 8, payload_length);
}
