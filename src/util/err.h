/* One error convention for all of StrataDB: functions return 0 or a negative
 * error code from this list, and may attach a message (file, offset, option
 * name) to the calling thread with err_set(). The public engine header exposes
 * the same values as STRATA_E*. */
#ifndef STRATA_UTIL_ERR_H
#define STRATA_UTIL_ERR_H

enum {
    ERR_OK = 0,
    ERR_NOTFOUND = -1, /* key, file or partition does not exist */
    ERR_CORRUPT = -2,  /* checksum, magic or format mismatch; message names file and offset */
    ERR_IO = -3,       /* an I/O error from the operating system (EIO and others) */
    ERR_NOSPC = -4,    /* no space left on device */
    ERR_INVAL = -5,    /* bad argument or option; message names it */
    ERR_NOMEM = -6,    /* allocation failed */
    ERR_BUSY = -7,     /* resource locked or writes stopped (backpressure) */
    ERR_GONE = -8,     /* requested sequence is no longer retained */
    ERR_TOOBIG = -9,   /* key or value beyond the configured limit */
    ERR_EXISTS = -10,  /* already exists */
    ERR_CLOSED = -11,  /* object closed or in a failed state */
};
#define ERR__COUNT 12

/* Sets the calling thread's error message (printf-style) and returns code. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last message, or the code's name if none was set. */
const char *err_msg(void);
/* Clears the calling thread's message. */
void err_clear(void);
/* Short constant name of a code ("corruption", "I/O error", ...). */
const char *err_name(int code);
/* Maps an errno value to an error code (ENOSPC -> ERR_NOSPC, ENOENT -> ERR_NOTFOUND, ...). */
int err_from_errno(int e);

#endif
