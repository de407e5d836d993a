/* Helpers shared by the files of keyspace/ (not part of keyspace.h). */
#ifndef STRATA_KEYSPACE_INTERNAL_H
#define STRATA_KEYSPACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyspace/keyspace.h"

/* All fields of a hash, copied out (each field and value in one allocation). */
typedef struct ks__fieldvec {
    uint8_t **f, **v;
    size_t *fl, *vl;
    size_t n, cap;
} ks__fieldvec;

/* ks_field_fn that appends to a ks__fieldvec (returns ERR_NOMEM to stop). */
int ks__fv_add(void *arg, const void *f, size_t flen, const void *v, size_t vlen);
/* Loads every field of the hash m; 0 or an error (fv is then empty). */
int ks__fv_load(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m,
                ks__fieldvec *fv);
void ks__fv_free(ks__fieldvec *fv);

/* Number of databases of the keyspace t belongs to. */
int ks__txn_databases(const ks_txn *t);

#endif
