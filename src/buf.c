/* Growable buffers. Growth doubles, so appending n bytes costs O(n) amortised.
 * A buffer does not know whether it holds a secret (a body may carry a token or a
 * generated password), so every growth moves the bytes itself and cleanses the old
 * block: realloc would leave a copy behind in freed memory whenever it moved. */
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
    OPENSSL_cleanse(b->data, b->cap);
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
    OPENSSL_cleanse(b->data, b->cap);
  acr_buf_free(b);
}
