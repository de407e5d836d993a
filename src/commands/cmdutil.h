/* Helpers shared by the data command families (internal to commands/). */
#ifndef STRATA_COMMANDS_CMDUTIL_H
#define STRATA_COMMANDS_CMDUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "keyspace/keyspace.h"
#include "server/cmd.h"
#include "server/resp.h" /* resp_str2ll: strict integer parse (Redis string2ll rules) */

/* The keyspace the families work on (set by cmds_data_init). */
extern ks_t *cmds__ks;

/* The keyspace transaction of the running command. */
ks_txn *cmds__tx(srv_client *c);
/* Looks up argument i as a key of the client's db into m. On an engine
 * error replies with an error and returns -1; else 0. */
int cmds__lookup(srv_client *c, int i, ks_meta *m);
/* Same, and replies WRONGTYPE (returning -1) when the key exists with
 * another type than want. */
int cmds__lookup_type(srv_client *c, int i, int want, ks_meta *m);
/* Same as cmds__lookup_type for read commands: also counts a keyspace hit
 * or miss (INFO stats keyspace_hits / keyspace_misses). */
int cmds__lookup_read(srv_client *c, int i, int want, ks_meta *m);
/* Replies the error for a failed keyspace call. */
void cmds__reply_ks_error(srv_client *c, int rc);
/* long double parse as INCRBYFLOAT does (no spaces, not nan). 1 on success. */
int cmds__str2ld(const char *s, size_t n, long double *out);
/* Formats a long double like Redis (%.17Lg, humanfriendly): returns length. */
int cmds__ld2str(char *buf, size_t cap, long double v);

/* Parses "cursor [MATCH p] [COUNT n] [TYPE t]" from argument i (TYPE only
 * when allow_type; *type < 0 for a type no key can have). Replies and
 * returns -1 on error. */
int cmds__scan_args(srv_client *c, int i, int allow_type, uint64_t *cursor, const char **pat,
                    size_t *plen, long long *count, int *type);

/* Ends the running command's keyspace work (ks_end on its transaction). */
void cmds__end(srv_client *c);
/* Defines fn##_w: runs fn, then cmds__end. */
#define CMDS_WRAP(fn)                                                                              \
    static void fn##_w(srv_client *c)                                                              \
    {                                                                                              \
        fn(c);                                                                                     \
        cmds__end(c);                                                                              \
    }

#endif
