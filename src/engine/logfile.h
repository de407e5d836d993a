/* Record log files: the WAL segments (NNNNNN.log) and the manifest
 * (MANIFEST-NNNNNN) share this framing (docs/format/wal.md):
 *   file header: magic u64 | version u32 | crc32c(magic, version) masked u32
 *   record:      crc32c(payload) masked u32 | len u32
 *                | crc32c(first 8 header bytes) masked u32 | payload
 * Reader policy: a record cut short by the end of the file, or a tail of zero
 * bytes, is a torn tail: reading stops there and reports the offset of the
 * end of the last complete record (a file of zero bytes only, header
 * included, is a torn log with no record). A record with a bad header or payload
 * checksum followed by non-zero bytes is corruption, named by file and
 * offset. All integers are little-endian. */
#ifndef STRATA_ENGINE_LOGFILE_H
#define STRATA_ENGINE_LOGFILE_H

#include "util/env.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_MAGIC_WAL      0x314c4157415453ull /* "STAWAL1" */
#define LOG_MAGIC_MANIFEST 0x314e414d415453ull /* "STAMAN1" */
#define LOG_VERSION        1
#define LOG_FILE_HEADER    16
#define LOG_REC_HEADER     12
#define LOG_MAX_RECORD     (1u << 30)

typedef struct logw logw;
typedef struct logr logr;

/* Creates a new log file (truncating) and writes its header. */
int logw_open(env_t *env, const char *path, uint64_t magic, size_t buf_bytes, logw **out);
/* Appends one record; it may sit in the user-space buffer until logw_flush. */
int logw_add(logw *w, const void *payload, size_t len);
/* Hands buffered bytes to the OS (survives a process crash). On failure
 * they stay buffered (any part already appended is cut off again). */
int logw_flush(logw *w);
/* Flush plus fdatasync (survives power loss). */
int logw_sync(logw *w);
/* Bytes written including buffered ones. */
uint64_t logw_size(const logw *w);
/* Bytes handed to the OS (visible to readers). */
uint64_t logw_flushed(const logw *w);
/* Undoes a failed group write: cuts the log back to size bytes (a record
 * boundary). At or above logw_flushed only buffered bytes past size go;
 * below it the buffer goes and the file is truncated to size and synced. */
int logw_rewind(logw *w, uint64_t size);
int logw_close(logw *w);

/* Opens a log for reading and checks its header (ERR_CORRUPT naming the file). */
int logr_open(env_t *env, const char *path, uint64_t magic, logr **out);
/* Next record: 0 with *payload (valid until the next call); ERR_NOTFOUND at
 * the end or at a torn tail (see logr_torn); ERR_CORRUPT for a bad record. */
int logr_next(logr *r, const void **payload, size_t *len);
/* After ERR_NOTFOUND: true if the end was a torn (partial) record. */
bool logr_torn(const logr *r);
/* Offset just past the last complete record read. */
uint64_t logr_offset(const logr *r);
/* Repositions at offset off (a record boundary previously returned). */
void logr_seek(logr *r, uint64_t off);
void logr_close(logr *r);

#endif
