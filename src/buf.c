/* Growable buffers. Growth doubles, so appending n bytes costs O(n) amortised.
 * A buffer does not know whether it holds a secret (a body may carry a token or a
 * generated password), so every growth moves the bytes itself and cleanses the old
 * block: realloc would leave a copy behind in freed memory whenever it moved. */
#define _DEFAULT_SOURCE   /* explicit_bzero */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "buf.h"

int acr_buf_reserve(acr_buf *b, size_t extra)
{
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2)
      return -1;
    cap *= 2;
  }
  char *p = malloc(cap);
  if (!p)
    return -1;
  if (b->data) {
    memcpy(p, b->data, b->len + 1);
    acr_cleanse(b->data, b->cap);
    free(b->data);
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

int acr_buf_add(acr_buf *b, const void *p, size_t n)
{
  if (acr_buf_reserve(b, n) != 0)
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int acr_buf_adds(acr_buf *b, const char *s)
{
  return acr_buf_add(b, s, strlen(s));
}

void acr_buf_clear(acr_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void acr_buf_free(acr_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void acr_buf_wipe(acr_buf *b)
{
  if (b->data)
    acr_cleanse(b->data, b->cap);
  acr_buf_free(b);
}

/* A KiB at a time: from 2 KiB, glibc's memset turns to `rep stosb`, which is no faster
 * than its vector loop on blocks this size and which instruction counters (callgrind,
 * as the benchmarks are measured) count byte by byte; libcurl frees a 16 KiB download
 * buffer, over TLS also a 64 KiB upload buffer, after every transfer. */
#define CLEANSE_CHUNK 2016

void acr_cleanse(void *p, size_t n)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
  char *c = p;
  for (; n > CLEANSE_CHUNK; c += CLEANSE_CHUNK, n -= CLEANSE_CHUNK)
    explicit_bzero(c, CLEANSE_CHUNK);
  explicit_bzero(c, n);
#else
  OPENSSL_cleanse(p, n);
#endif
}
