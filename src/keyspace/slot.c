/* Hash slots (see slot.h). The CRC table is built once from the polynomial;
 * ks_key_slot is pure and safe from any thread. */
#include "keyspace/slot.h"

#include <pthread.h>

static uint16_t crc_table[256];
/* crc_pair[x]: the CRC step of a zero byte applied after the step of byte x,
 * folded, so that two input bytes cost two independent table loads:
 * crc' = crc_pair[(crc >> 8) ^ b0] ^ crc_table[(crc & 0xff) ^ b1]. */
static uint16_t crc_pair[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int b = 0; b < 8; b++)
            c = (c & 0x8000) ? (uint16_t)((c << 1) ^ 0x1021) : (uint16_t)(c << 1);
        crc_table[i] = c;
    }
    for (int i = 0; i < 256; i++)
        crc_pair[i] = (uint16_t)((crc_table[i] << 8) ^ crc_table[crc_table[i] >> 8]);
}

/* Built before main (the compaction filter's threads may hash keys too);
 * ks_crc16 still checks, for callers that run in other constructors. */
__attribute__((constructor)) static void crc_init_early(void)
{
    pthread_once(&crc_once, crc_init);
}

uint16_t ks_crc16(const void *p, size_t n)
{
    if (__builtin_expect(!crc_table[1], 0)) pthread_once(&crc_once, crc_init);
    const uint8_t *s = p;
    uint16_t crc = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2)
        crc = (uint16_t)(crc_pair[(crc >> 8) ^ s[i]] ^ crc_table[(crc & 0xff) ^ s[i + 1]]);
    if (i < n) crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ s[i]) & 0xff]);
    return crc;
}

uint16_t ks_key_slot(const void *key, size_t len)
{
    const uint8_t *k = key;
    size_t open = 0;
    while (open < len && k[open] != '{') open++;
    if (open < len) {
        size_t close = open + 1;
        while (close < len && k[close] != '}') close++;
        /* Only a non-empty tag counts: "{}" hashes the whole key. */
        if (close < len && close > open + 1)
            return (uint16_t)(ks_crc16(k + open + 1, close - open - 1) & (KS_SLOTS - 1));
    }
    return (uint16_t)(ks_crc16(k, len) & (KS_SLOTS - 1));
}
