/* A growable byte buffer: request and response bodies, URLs being built. */
#ifndef ACR_BUF_H
#define ACR_BUF_H

#include <stddef.h>

typedef struct acr_buf {
  char *data;   /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;
} acr_buf;

#define ACR_BUF_INIT {NULL, 0, 0}

int acr_buf_reserve(acr_buf *b, size_t extra);           /* 0 ok, -1 out of memory */
int acr_buf_add(acr_buf *b, const void *p, size_t n);    /* 0 ok, -1 out of memory */
int acr_buf_adds(acr_buf *b, const char *s);
void acr_buf_clear(acr_buf *b);                          /* len = 0, keeps memory */
void acr_buf_free(acr_buf *b);
void acr_buf_wipe(acr_buf *b);                           /* cleanse, then free: secrets */

/* Cleanses p[0..n) in a way the compiler may not drop: explicit_bzero where the C library
 * has it (a vectorised memset), else OPENSSL_cleanse (a byte loop, several times slower
 * on large blocks, and every block libcurl frees goes through here). */
void acr_cleanse(void *p, size_t n);

#endif
