/* Helpers shared by the data command families (see cmdutil.h). */
#include "commands/cmdutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

ks_t *cmds__ks;

ks_txn *cmds__tx(srv_client *c)
{
    return ks_begin(cmds__ks, cmd_batch(c), cmd_batch_gen(), cmd_now_ms());
}

void cmds__end(srv_client *c)
{
    /* Cannot fail for lack of anything but memory; the commit then fails too. */
    ks_end(cmds__tx(c));
}

void cmds__reply_ks_error(srv_client *c, int rc)
{
    if (rc == ERR_TOOBIG)
        reply_error(c, "ERR key or value exceeds the storage engine's size limit");
    else if (rc == ERR_NOMEM)
        reply_error(c, "OOM command not allowed when used memory > 'maxmemory'.");
    else
        reply_errorf(c, "ERR storage error: %s", err_msg());
}

int cmds__lookup(srv_client *c, int i, ks_meta *m)
{
    size_t kl;
    const char *k = cmd_arg(c, i, &kl);
    int rc = ks_lookup(cmds__tx(c), cmd_db(c), k, kl, m);
    if (rc) {
        cmds__reply_ks_error(c, rc);
        return -1;
    }
    return 0;
}

int cmds__lookup_type(srv_client *c, int i, int want, ks_meta *m)
{
    if (cmds__lookup(c, i, m)) return -1;
    if (m->exists && m->type != want) {
        ks_meta_release(m);
        reply_error_wrongtype(c);
        return -1;
    }
    return 0;
}

int cmds__lookup_read(srv_client *c, int i, int want, ks_meta *m)
{
    if (cmds__lookup(c, i, m)) return -1;
    cmd_stat_keyspace(m->exists ? 1 : 0, m->exists ? 0 : 1);
    if (m->exists && m->type != want) {
        ks_meta_release(m);
        reply_error_wrongtype(c);
        return -1;
    }
    return 0;
}

int cmds__str2ld(const char *s, size_t n, long double *out)
{
    char buf[5120];
    if (n == 0 || n >= sizeof(buf)) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (isspace((unsigned char)buf[0])) return 0;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != n || isnan(v) || (errno == ERANGE && !isinf(v) && v != 0)) return 0;
    *out = v;
    return 1;
}

int cmds__ld2str(char *buf, size_t cap, long double v)
{
    if (isinf(v)) return snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    int l = snprintf(buf, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return 0;
    if (strchr(buf, '.')) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = 0;
    return l;
}
