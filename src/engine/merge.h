/* The merging iterator: k-way merge of internal iterators in internal-key
 * order, in both directions. It owns its children. Duplicate internal keys
 * cannot occur (sequences are unique), so ties never need breaking. */
#ifndef STRATA_ENGINE_MERGE_H
#define STRATA_ENGINE_MERGE_H

#include "engine/iter.h"

/* Takes ownership of children[0..n) (and of the array's contents, not the
 * array). NULL on allocation failure (children are then destroyed). */
ikiter *merge_iter_new(ikiter **children, int n);

#endif
