/* libFuzzer target for the RESP request parser: feeds the input in random
 * chunk sizes (derived from the first byte) through the incremental parser,
 * as the event loop does, and checks the parser's contract on every result:
 * arguments lie inside the consumed bytes and are NUL-terminated, consumed
 * never exceeds the buffer, and an error carries a "ERR Protocol error" text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)(data[0] % 17) + 1;
    int unauth = data[0] & 0x80;
    data++, size--;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    resp_parser p;
    resp_init(&p);
    resp_limits lim = {1024 * 1024, unauth != 0};
    size_t start = 0, have = 0;
    while (start < size) {
        have = have + step > size ? size : have + step;
        size_t used = 0;
        int rc = resp_parse(&p, buf + start, have - start, &lim, &used);
        if (rc == RESP_INCOMPLETE) {
            if (have == size) break;
            continue;
        }
        if (rc == RESP_ERROR) {
            if (strncmp(p.errbuf, "ERR Protocol error: ", 20)) abort();
            break;
        }
        if (used == 0 || start + used > have) abort();
        if (rc == RESP_COMMAND) {
            if (p.argc <= 0) abort();
            for (int i = 0; i < p.argc; i++) {
                if (p.argv[i].off + p.argv[i].len >= used + 1) abort();
                if (buf[start + p.argv[i].off + p.argv[i].len] != '\0') abort();
            }
        }
        start += used;
        resp_reset(&p);
    }
    resp_free(&p);
    free(buf);
    return 0;
}
