/* Reply writer: the only way a command handler answers its client.
 *
 * Every function appends one RESP value (or the header of an aggregate) to
 * the client's output buffer, encoded for the protocol the client chose with
 * HELLO (RESP2 by default). RESP3-only types degrade the way Redis does for
 * RESP2 clients: map -> flat array of 2n, set/push -> array, double -> bulk
 * string, null -> $-1 (or *-1 for reply_null_array), bool -> integer 1/0,
 * verbatim -> bulk string.
 *
 * Invariants
 *  1. Replies are appended in order; an aggregate header must be followed by
 *     exactly the announced number of elements (2n for a map).
 *  2. Nothing is sent here: the event loop writes the buffer after the
 *     command (or after the group-commit fsync for write commands when
 *     appendfsync is always).
 *  3. No call allocates for small replies: they go into a fixed per-client
 *     buffer; larger ones into pooled chunks bounded by
 *     client-output-buffer-limit (a client over its hard limit is closed).
 *  4. Error texts are complete Redis error lines without the leading '-'
 *     ("ERR syntax error", "WRONGTYPE Operation ..."); CR and LF inside are
 *     replaced by spaces so a reply can never break the framing. */
#ifndef STRATA_SERVER_REPLY_H
#define STRATA_SERVER_REPLY_H

#include <stddef.h>

typedef struct srv_client srv_client;

/* "+s\r\n". s must not contain CR or LF. */
void reply_simple(srv_client *c, const char *s);
/* "+OK\r\n". */
void reply_ok(srv_client *c);
/* "-msg\r\n"; msg starts with the error code ("ERR ...", "WRONGTYPE ..."). */
void reply_error(srv_client *c, const char *msg);
void reply_errorf(srv_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The standard Redis error lines. */
void reply_error_syntax(srv_client *c);    /* ERR syntax error */
void reply_error_not_int(srv_client *c);   /* ERR value is not an integer or out of range */
void reply_error_not_float(srv_client *c); /* ERR value is not a valid float */
void reply_error_wrongtype(srv_client *c); /* WRONGTYPE Operation against a key ... */
void reply_error_arity(srv_client *c);     /* ERR wrong number of arguments for '<cmd>' command */
void reply_error_overflow(srv_client *c);  /* ERR increment or decrement would overflow */

/* ":v\r\n". */
void reply_int(srv_client *c, long long v);
/* "$n\r\n<bytes>\r\n" (binary safe). */
void reply_bulk(srv_client *c, const void *p, size_t n);
void reply_bulk_cstr(srv_client *c, const char *s);
/* A bulk string holding the decimal text of v. */
void reply_bulk_ll(srv_client *c, long long v);
/* Null bulk string: "$-1" (RESP2) or "_" (RESP3). */
void reply_null(srv_client *c);
/* Null array: "*-1" (RESP2) or "_" (RESP3) (EXEC after WATCH failure, ...). */
void reply_null_array(srv_client *c);
/* Aggregate headers: the n elements follow (2n values for a map). */
void reply_array(srv_client *c, long n);
void reply_map(srv_client *c, long pairs);
void reply_set(srv_client *c, long n);
void reply_push(srv_client *c, long n);
/* A double: ",d" (RESP3) or a bulk string in Redis's %.17g style (RESP2).
 * inf/-inf print as "inf"/"-inf". */
void reply_double(srv_client *c, double d);
/* A double printed the way INCRBYFLOAT/HINCRBYFLOAT print (long double,
 * %.17Lg, trailing zeros removed); always a bulk string, as in Redis. */
void reply_bulk_ld(srv_client *c, long double d);
/* "#t"/"#f" (RESP3) or ":1"/":0" (RESP2). */
void reply_bool(srv_client *c, int v);
/* "=len\r\ntxt:<bytes>" (RESP3) or a bulk string (RESP2). ext is 3 chars. */
void reply_verbatim(srv_client *c, const void *p, size_t n, const char *ext);

/* Aggregates whose length is known only at the end (KEYS, SCAN): take a
 * placeholder, append the elements, then set the length once. */
typedef struct reply_deferred reply_deferred;
reply_deferred *reply_defer(srv_client *c);
void reply_defer_array(srv_client *c, reply_deferred *d, long n);
void reply_defer_map(srv_client *c, reply_deferred *d, long pairs);
void reply_defer_set(srv_client *c, reply_deferred *d, long n);

/* Protocol version chosen by the client: 2 or 3. */
int reply_proto(const srv_client *c);

#endif
