/* Framing of the replication stream (docs/replication.md, "Protocol"):
 *     type (1 byte) | payload length (u32 LE) |
 *     masked CRC32C of type, length and payload (u32 LE) | payload
 * Written by the primary side, checked by the replica side before anything
 * of a frame is used. Internal to src/repl. */
#ifndef STRATA_REPL_FRAME_H
#define STRATA_REPL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "server/cmd.h"

#define REPL_FRAME_HDR 9
#define REPL_FRAME_MAX (1100u * 1024 * 1024) /* a batch may hold a 512 MiB value */

enum {
    FR_BATCH = 'B', /* sequence (u64) + encoded engine batch */
    FR_FILE = 'F',  /* full sync: size (u64) + file name */
    FR_DATA = 'D',  /* full sync: the next bytes of the file */
    FR_FEND = 'E',  /* full sync: CRC32C (u32) + size (u64) of the file */
    FR_SNAP = 'S',  /* full sync: checkpoint sequence (u64) + file count (u32) */
    FR_PING = 'P',  /* last sequence (u64), wall ms (u64), replid (40) */
    FR_GETACK = 'G' /* empty: acknowledge now */
};

/* Fills the header of a frame whose payload is p1[0..n1) then p2[0..n2). */
void repl__frame_hdr(uint8_t h[REPL_FRAME_HDR], int type, const void *p1, size_t n1, const void *p2,
                     size_t n2);
/* Queues one frame on a replica client's output. */
void repl__send_frame(srv_client *c, int type, const void *p1, size_t n1, const void *p2,
                      size_t n2);
/* Payload length of the frame whose header is h (not yet checked). */
uint32_t repl__frame_len(const uint8_t h[REPL_FRAME_HDR]);
/* 1 when the checksum in h matches its type, length and the payload at
 * h + REPL_FRAME_HDR (repl__frame_len(h) bytes, all present). */
int repl__frame_ok(const uint8_t *h);

#endif
