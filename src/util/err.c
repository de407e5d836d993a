/* Thread-local error messages for the 0-or-negative error convention. */
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char msg_buf[512];
static _Thread_local int msg_code;

int err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg_buf, sizeof(msg_buf), fmt, ap);
    va_end(ap);
    msg_code = code;
    return code;
}

const char *err_msg(void)
{
    if (msg_buf[0]) return msg_buf;
    return err_name(msg_code);
}

void err_clear(void)
{
    msg_buf[0] = 0;
    msg_code = 0;
}

const char *err_name(int code)
{
    static const char *names[ERR__COUNT] = {
        "ok",
        "not found",
        "corruption",
        "I/O error",
        "no space left",
        "invalid argument",
        "out of memory",
        "busy",
        "sequence no longer retained",
        "too big",
        "already exists",
        "closed",
    };
    if (code > 0 || code <= -ERR__COUNT) return "unknown error";
    return names[-code];
}

int err_from_errno(int e)
{
    switch (e) {
    case 0: return ERR_OK;
    case ENOENT: return ERR_NOTFOUND;
    case ENOSPC:
    case EDQUOT: return ERR_NOSPC;
    case ENOMEM: return ERR_NOMEM;
    case EEXIST: return ERR_EXISTS;
    case EINVAL: return ERR_INVAL;
    case EAGAIN:
    case EBUSY: return ERR_BUSY;
    default: return ERR_IO;
    }
}
