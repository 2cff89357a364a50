/* The words of an error body that is not ARM's shape (a proxy's text or HTML page, a
 * {"message": …} of another framework) become err.message. They come from a server,
 * so they are made safe before they reach a log or a terminal: one line, no escape
 * sequences, valid UTF-8, and short. Locale-free: bytes are compared, not classified. */
#include <string.h>

#include "errtext.h"

typedef struct {
  char *out;
  size_t len, max;   /* max: the bytes text may take, "..." kept aside */
  int blank;         /* a blank is owed before the next character */
  int cut;
} writer;

static void put_blank(writer *w)
{
  w->blank = w->len > 0;   /* never one at the start; at the end it is never written */
}

/* Appends the n bytes of one character; sets w->cut when it does not fit. */
static int put(writer *w, const char *s, size_t n)
{
  size_t need = n + (w->blank ? 1 : 0);
  if (w->len + need > w->max) {
    w->cut = 1;
    return 0;
  }
  if (w->blank)
    w->out[w->len++] = ' ';
  memcpy(w->out + w->len, s, n);
  w->len += n;
  w->blank = 0;
  return 1;
}

/* The length of the well-formed UTF-8 character at s (n bytes left), 0 when it is not
 * one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  unsigned char c = s[0], lo = 0x80, hi = 0xbf;
  size_t k;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    k = 2;
  else if (c >= 0xe0 && c <= 0xef)
    k = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    k = 4;
  else
    return 0;
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (k > n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < k; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return k;
}

/* The bytes an escape sequence at s (s[0] == ESC) takes: CSI (ESC [ … final byte),
 * OSC (ESC ] … BEL or ESC \), or ESC and one more byte. */
static size_t escape_len(const unsigned char *s, size_t n)
{
  size_t i = 2;
  if (n < 2)
    return n;
  if (s[1] == '[') {
    while (i < n && s[i] >= 0x20 && s[i] <= 0x3f)
      i++;
    return i < n ? i + 1 : n;
  }
  if (s[1] == ']') {
    for (; i < n; i++) {
      if (s[i] == 0x07)
        return i + 1;
      if (s[i] == 0x1b && i + 1 < n && s[i + 1] == '\\')
        return i + 2;
    }
    return n;
  }
  return 2;
}

static int starts_with_ci(const char *s, size_t n, const char *word)
{
  size_t k = strlen(word);
  if (n < k)
    return 0;
  for (size_t i = 0; i < k; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != word[i])
      return 0;
  }
  return 1;
}

/* The bytes a tag at s (s[0] == '<') takes; for <script> and <style>, up to the end of
 * the closing tag, since what they hold is code, not words. */
static size_t tag_len(const char *s, size_t n)
{
  const char *close = NULL;
  if (starts_with_ci(s + 1, n - 1, "script"))
    close = "</script";
  else if (starts_with_ci(s + 1, n - 1, "style"))
    close = "</style";
  size_t i = 1;
  if (close)
    while (i < n && !starts_with_ci(s + i, n - i, close))
      i++;
  const char *gt = memchr(s + i, '>', n - i);
  return gt ? (size_t)(gt - s) + 1 : n;
}

static int token_char(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* The length of a secret that a page may echo: "Bearer <token>" (a proxy or firewall
 * page showing the request's headers) or a JWT ("eyJ" then three base64url parts, as
 * every Entra token is); 0 when s does not start with one. */
static size_t secret_len(const unsigned char *s, size_t n)
{
  size_t i = 0, dots = 0;
  if (n > 7 && starts_with_ci((const char *)s, n, "bearer ") && token_char(s[7])) {
    for (i = 7; i < n && token_char(s[i]); i++)
      ;
    return i;
  }
  if (n < 3 || memcmp(s, "eyJ", 3) != 0)
    return 0;
  for (; i < n && token_char(s[i]); i++)
    dots += s[i] == '.';
  return dots >= 2 ? i : 0;
}

size_t acr_errtext_clean(const char *in, size_t len, char *out, size_t cap)
{
  writer w = {out, 0, (cap > ACR_ERRTEXT_ARM_MAX + 1 ? ACR_ERRTEXT_ARM_MAX + 1 : cap) - 4, 0, 0};
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    i++;
  int html = i < len && s[i] == '<';
  while (i < len && !w.cut) {
    unsigned char c = s[i];
    size_t k;
    if ((i == 0 || !token_char(s[i - 1])) && (k = secret_len(s + i, len - i)) > 0) {
      put(&w, "[redacted]", 10);
    } else if (c == 0x1b) {
      k = escape_len(s + i, len - i);
      put_blank(&w);
    } else if (html && c == '<') {
      k = tag_len(in + i, len - i);
      put_blank(&w);
    } else if (c < 0x20 || c == 0x7f || c == ' ') {
      k = 1;
      put_blank(&w);
    } else if ((k = utf8_len(s + i, len - i)) == 0) {
      k = 1;
      put(&w, "?", 1);
    } else if (c == 0xc2 && s[i + 1] < 0xa0) {
      put_blank(&w);   /* C1 controls: 0x9b is a CSI to some terminals */
    } else {
      put(&w, in + i, k);
    }
    i += k;
  }
  if (w.cut) {
    memcpy(out + w.len, "...", 3);
    w.len += 3;
  }
  out[w.len] = '\0';
  return w.len;
}
