/* See jsonscan.h. RFC 8259's grammar, with lua-cjson's depth limit (64, as json.c sets
 * it) and its handling of surrogate pairs; numbers follow the RFC strictly (cjson also
 * takes "1.") and are read without the locale. */
#include <string.h>

#include "jsonscan.h"

#define MAX_DEPTH 64

typedef struct scanner {
  const char *p, *end;
  int depth;
  int oom;
} scanner;

static void blanks(scanner *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int literal(scanner *s, const char *word)
{
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return -1;
  s->p += n;
  return 0;
}

static int digit(char c)
{
  return c >= '0' && c <= '9';
}

/* A number at p: its value in *v and the end in *endp, or -1. Exact for the integers
 * token responses carry (expires_in, expires_on); a fraction or exponent is near enough. */
static int number_at(const char *p, const char *end, double *v, const char **endp)
{
  double x = 0, scale = 1;
  int neg = 0, e = 0, eneg = 0;
  if (p < end && *p == '-')
    neg = 1, p++;
  if (p >= end || !digit(*p))
    return -1;
  if (*p == '0')
    p++;
  else
    while (p < end && digit(*p))
      x = x * 10 + (*p++ - '0');
  if (p < end && *p == '.') {
    if (++p >= end || !digit(*p))
      return -1;
    while (p < end && digit(*p))
      x += (*p++ - '0') * (scale /= 10);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    if (p >= end || !digit(*p))
      return -1;
    for (; p < end && digit(*p); p++)
      if (e < 1000)   /* beyond that x is 0 or infinite anyway */
        e = e * 10 + (*p - '0');
  }
  while (e-- > 0)
    x = eneg ? x / 10 : x * 10;
  *v = neg ? -x : x;
  *endp = p;
  return 0;
}

static int hex4(scanner *s, unsigned *v)
{
  *v = 0;
  if (s->end - s->p < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    char c = *s->p++;
    unsigned d = digit(c) ? (unsigned)(c - '0')
                 : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                 : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10) : 16u;
    if (d > 15)
      return -1;
    *v = *v << 4 | d;
  }
  return 0;
}

static int put_utf8(scanner *s, acr_buf *out, unsigned cp)
{
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  }
  if (out && acr_buf_add(out, b, n) != 0)
    return s->oom = 1, -1;
  return 0;
}

/* \uXXXX, with a UTF-16 surrogate pair as one code point; a lone surrogate is an error. */
static int unicode_escape(scanner *s, acr_buf *out)
{
  unsigned cp, lo;
  if (hex4(s, &cp) != 0 || (cp >= 0xdc00 && cp <= 0xdfff))
    return -1;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    if (literal(s, "\\u") != 0 || hex4(s, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
      return -1;
    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
  }
  return put_utf8(s, out, cp);
}

static int escape(scanner *s, acr_buf *out)
{
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  if (++s->p >= s->end)
    return -1;
  char c = *s->p++;
  if (c == 'u')
    return unicode_escape(s, out);
  const char *k = strchr(from, c);
  if (!k || !c)
    return -1;
  if (out && acr_buf_add(out, &to[k - from], 1) != 0)
    return s->oom = 1, -1;
  return 0;
}

/* The string at s->p (its opening quote), unescaped onto out when out is not NULL. */
static int string(scanner *s, acr_buf *out)
{
  s->p++;
  for (;;) {
    const char *run = s->p;
    while (s->p < s->end && *s->p != '"' && *s->p != '\\' && (unsigned char)*s->p >= 0x20)
      s->p++;
    if (out && s->p > run && acr_buf_add(out, run, (size_t)(s->p - run)) != 0)
      return s->oom = 1, -1;
    if (s->p >= s->end || (unsigned char)*s->p < 0x20)
      return -1;
    if (*s->p == '"') {
      s->p++;
      return 0;
    }
    if (escape(s, out) != 0)
      return -1;
  }
}

static int value(scanner *s);

/* Members or elements up to `close`, each read by one(s) after its separator. */
static int sequence(scanner *s, char close, int (*one)(scanner *, void *), void *ud)
{
  if (++s->depth > MAX_DEPTH)
    return -1;
  s->p++;
  blanks(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    if (one(s, ud) != 0)
      return -1;
    blanks(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      blanks(s);
      continue;
    }
    if (s->p < s->end && *s->p == close) {
      s->p++;
      s->depth--;
      return 0;
    }
    return -1;
  }
}

static int element(scanner *s, void *ud)
{
  (void)ud;
  return value(s);
}

/* A member name (onto name, when not NULL) and the colon after it. */
static int member_name(scanner *s, acr_buf *name)
{
  if (name)
    acr_buf_clear(name);
  if (s->p >= s->end || *s->p != '"' || string(s, name) != 0)
    return -1;
  blanks(s);
  if (s->p >= s->end || *s->p != ':')
    return -1;
  s->p++;
  blanks(s);
  return 0;
}

static int member(scanner *s, void *ud)
{
  (void)ud;
  return member_name(s, NULL) != 0 ? -1 : value(s);
}

static int value(scanner *s)
{
  if (s->p >= s->end)
    return -1;
  const char *end;
  double ignored;
  switch (*s->p) {
  case '{': return sequence(s, '}', member, NULL);
  case '[': return sequence(s, ']', element, NULL);
  case '"': return string(s, NULL);
  case 't': return literal(s, "true");
  case 'f': return literal(s, "false");
  case 'n': return literal(s, "null");
  default:
    if (number_at(s->p, s->end, &ignored, &end) != 0)
      return -1;
    s->p = end;
    return 0;
  }
}

/* ---- the top-level object, whose wanted members are kept ---- */

typedef struct top {
  acr_json_want *want;
  size_t nwant;
  acr_buf name, scratch;   /* scratch: a wanted string kept only as a number */
} top;

/* A wanted member's string: onto its buffer (or scratch), then read as a number. */
static int keep_string(scanner *s, top *t, acr_json_want *w)
{
  acr_buf *dst = w->text ? w->text : &t->scratch;
  acr_buf_clear(dst);
  if (string(s, dst) != 0)
    return -1;
  w->kind = ACR_JSON_STRING;
  const char *end;
  double v;
  if (w->number && dst->len && number_at(dst->data, dst->data + dst->len, &v, &end) == 0 &&
      end == dst->data + dst->len)
    *w->number = v;
  return 0;
}

static int keep(scanner *s, top *t, acr_json_want *w)
{
  const char *end;
  double v;
  if (*s->p == '"')
    return keep_string(s, t, w);
  if (*s->p == '-' || digit(*s->p)) {
    if (number_at(s->p, s->end, &v, &end) != 0)
      return -1;
    s->p = end;
    w->kind = ACR_JSON_NUMBER;
    if (w->number)
      *w->number = v;
    return 0;
  }
  w->kind = ACR_JSON_OTHER;
  return value(s);
}

static int top_member(scanner *s, void *ud)
{
  top *t = ud;
  if (member_name(s, &t->name) != 0 || s->p >= s->end)
    return -1;
  for (size_t i = 0; i < t->nwant; i++)
    if (strlen(t->want[i].key) == t->name.len && !memcmp(t->want[i].key, t->name.data, t->name.len))
      return keep(s, t, &t->want[i]);
  return value(s);
}

int acr_json_scan(const char *text, size_t n, acr_json_want *want, size_t nwant)
{
  scanner s = {text, text + n, 0, 0};
  top t = {want, nwant, ACR_BUF_INIT, ACR_BUF_INIT};
  for (size_t i = 0; i < nwant; i++)
    want[i].kind = ACR_JSON_ABSENT;
  if (!text)
    return -1;
  blanks(&s);
  int object = s.p < s.end && *s.p == '{';
  int rc = object ? sequence(&s, '}', top_member, &t) : value(&s);
  blanks(&s);
  acr_buf_free(&t.name);
  acr_buf_wipe(&t.scratch);
  if (s.oom)
    return -2;
  return rc != 0 || s.p != s.end ? -1 : object;
}
