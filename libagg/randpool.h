/* randpool: unguessable random bytes from the kernel's CSPRNG, drawn 4 KB at a time per thread. */
#ifndef AGG_RANDPOOL_H
#define AGG_RANDPOOL_H

#include <stddef.h>

#include "err.h"

/* Writes n random bytes into out. They come from getrandom(2), read 4 KB at
 * a time into a per-thread pool, so that ids stay unguessable (a correlation
 * id is what lets a client read a patient's stream; span ids go to other
 * systems) at one system call per 4 KB instead of one per id: the worker made
 * seven per session for span ids alone. Bytes handed out are wiped from the
 * pool. AGG_OK, or AGG_ERR with e filled when getrandom fails (out is then
 * zeroed). */
int randpool_bytes(unsigned char *out, size_t n, err_t *e);

#endif
