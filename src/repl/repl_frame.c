/* Framing of the replication stream: one header layout, one checksum, on
 * both sides.
 *
 * Invariant: the CRC covers the type and length bytes as well as the
 * payload, so a frame whose header was damaged is refused even when its
 * payload happens to match. */
#include "repl/repl_frame.h"

#include "util/coding.h"
#include "util/crc32c.h"

void repl__frame_hdr(uint8_t h[REPL_FRAME_HDR], int type, const void *p1, size_t n1, const void *p2,
                     size_t n2)
{
    h[0] = (uint8_t)type;
    put_u32(h + 1, (uint32_t)(n1 + n2));
    uint32_t crc = crc32c(h, 5);
    crc = crc32c_extend(crc, p1, n1);
    crc = crc32c_extend(crc, p2, n2);
    put_u32(h + 5, crc32c_mask(crc));
}

void repl__send_frame(srv_client *c, int type, const void *p1, size_t n1, const void *p2, size_t n2)
{
    uint8_t h[REPL_FRAME_HDR];
    repl__frame_hdr(h, type, p1, n1, p2, n2);
    cmd_client_write_raw(c, h, REPL_FRAME_HDR);
    if (n1) cmd_client_write_raw(c, p1, n1);
    if (n2) cmd_client_write_raw(c, p2, n2);
}

uint32_t repl__frame_len(const uint8_t h[REPL_FRAME_HDR])
{
    return get_u32(h + 1);
}

int repl__frame_ok(const uint8_t *h)
{
    uint32_t crc = crc32c(h, 5);
    crc = crc32c_extend(crc, h + REPL_FRAME_HDR, get_u32(h + 1));
    return crc32c_mask(crc) == get_u32(h + 5);
}
