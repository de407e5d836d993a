/* Hash slots (see slot.h). The CRC table is built once from the polynomial;
 * ks_key_slot is pure and safe from any thread. */
#include "keyspace/slot.h"

#include <pthread.h>

static uint16_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int b = 0; b < 8; b++)
            c = (c & 0x8000) ? (uint16_t)((c << 1) ^ 0x1021) : (uint16_t)(c << 1);
        crc_table[i] = c;
    }
}

uint16_t ks_crc16(const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *s = p;
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++)
        crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ s[i]) & 0xff]);
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
