/* uuid4: random (version 4) UUIDs from the kernel's CSPRNG, drawn in blocks, and the UUID check. */
#ifndef AGG_UUID4_H
#define AGG_UUID4_H

#include "err.h"

#define UUID4_LEN 36

/* Writes a new lowercase 8-4-4-4-12 version 4 UUID and a NUL into out
 * (UUID4_LEN + 1 bytes). The bits come from randpool (getrandom(2), 4 KB
 * at a time), so the ids stay unguessable at one system call per 256 ids
 * instead of five. AGG_OK, or AGG_ERR with e filled when getrandom fails
 * (out is then an empty string). */
int uuid4_new(char out[UUID4_LEN + 1], err_t *e);

/* 1 when s is a canonical lowercase 8-4-4-4-12 hex UUID (any version, as
 * correlation ids are checked everywhere), else 0 (also for NULL). s is
 * borrowed for the call and read up to its NUL or its first wrong byte. */
int uuid4_valid(const char *s);

#endif
