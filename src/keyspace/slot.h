/* Hash slots: which of the 16384 slots a key belongs to, as Redis Cluster
 * computes it (CRC16/XMODEM of the key, or of its {hash tag} when the key
 * holds a non-empty one), so cluster-aware clients route the same way. */
#ifndef STRATA_KEYSPACE_SLOT_H
#define STRATA_KEYSPACE_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define KS_SLOTS 16384

/* CRC16/XMODEM (poly 0x1021, init 0, no reflection) of n bytes. */
uint16_t ks_crc16(const void *p, size_t n);
/* Slot of a key: CRC16 of the bytes between the first '{' and the first '}'
 * after it when that span is non-empty, else of the whole key; mod 16384. */
uint16_t ks_key_slot(const void *key, size_t len);

#endif
