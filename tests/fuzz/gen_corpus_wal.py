#!/usr/bin/python3
"""Writes the seed corpus of fuzz_wal (tests/fuzz/corpus/fuzz_wal/): small
WAL files holding valid write batches, in each input mode of fuzz_wal.c.
The byte layout follows docs/format/wal.md. Run from the repository root."""
import os
import struct

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

WAL_MAGIC = 0x314C4157415453


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def batch(seq, ops):
    body = b""
    for kind, part, key, val in ops:
        body += bytes([kind]) + varint(part) + varint(len(key)) + key
        if kind != 2:
            body += varint(len(val)) + val
    return struct.pack("<QI", seq, len(ops)) + body


def file_header():
    h = struct.pack("<QI", WAL_MAGIC, 1)
    return h + struct.pack("<I", mask(crc32c(h)))


def record(payload):
    h = struct.pack("<II", mask(crc32c(payload)), len(payload))
    return h + struct.pack("<I", mask(crc32c(h))) + payload


BATCHES = [
    batch(1, [(1, 0, b"key", b"value")]),
    batch(2, [(2, 0, b"key", None), (1, 300, b"", b"empty key"), (3, 7, b"a", b"z")]),
    batch(5, []),
    batch(6, [(1, 0xFFFFFFFF, b"k" * 40, b"v" * 200)]),
]


def main():
    out = "tests/fuzz/corpus/fuzz_wal"
    os.makedirs(out, exist_ok=True)
    records = b"".join(record(b) for b in BATCHES)
    chunks = b"".join(struct.pack("<H", len(b)) + b for b in BATCHES)
    seeds = {
        "raw_valid": b"\x00" + file_header() + records,
        "raw_header_only": b"\x00" + file_header(),
        "raw_torn": b"\x00" + file_header() + records[:-7],
        "raw_zero_tail": b"\x00" + file_header() + records + b"\x00" * 40,
        "header_records": b"\x01" + records,
        "chunks": b"\x02" + chunks,
        "chunks_tail": b"\x02" + chunks + b"\x05\x00ab",
        "chunks_cut": b"\x03" + struct.pack("<H", 90) + b"\x00" + chunks,
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
