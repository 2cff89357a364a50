/* Tests for src/errtext.c: an error body's words made safe and short for err.message.
 * Built and run by ctest (c/errtext and c-asan/errtext); by hand, from the repository root:
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -g -Isrc tests/c/errtext_test.c src/errtext.c \
 *       -o /tmp/errtext_test && /tmp/errtext_test
 */
#include "check.h"
#include "errtext.h"

static const char *clean(const char *s, size_t n)
{
  static char out[ACR_ERRTEXT_MAX + 1];
  acr_errtext_clean(s, n, out, sizeof out);
  return out;
}

#define CLEAN(lit) clean(lit, sizeof lit - 1)

/* a page that echoes the request's headers shows no token */
static void test_secrets(void)
{
  CHECK_STR(CLEAN("denied: Authorization: Bearer eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln"
                  " (blocked)"), "denied: Authorization: [redacted] (blocked)");
  CHECK_STR(CLEAN("authorization: bearer abc.DEF-123_~+/= next"),
            "authorization: [redacted] next");
  CHECK_STR(CLEAN("token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhIn0.sig-part_x end"),
            "token [redacted] end");
  /* what only looks a little like one stays */
  CHECK_STR(CLEAN("eyJust.one dot"), "eyJust.one dot");
  CHECK_STR(CLEAN("Bearer"), "Bearer");
  CHECK_STR(CLEAN("keyJ.a.b"), "keyJ.a.b");
  CHECK_STR(CLEAN("<html><body><p>Bearer eyJa.b.c</p></body></html>"), "[redacted]");
}

static void test_text(void)
{
  CHECK_STR(CLEAN("Error from the server"), "Error from the server");
  CHECK_STR(CLEAN("  \r\n upstream\ttimed\r\nout \n"), "upstream timed out");
  CHECK_STR(CLEAN(""), "");
  CHECK_STR(CLEAN(" \t\r\n"), "");
  /* control bytes, DEL and NUL become blanks */
  CHECK_STR(CLEAN("a\x01\x7f" "b\0c"), "a b c");
  /* terminal escapes go whole: CSI (colours, cursor moves), OSC (a title, a link), others */
  CHECK_STR(CLEAN("\x1b[31mred\x1b[0m text"), "red text");
  CHECK_STR(CLEAN("x\x1b[2J\x1b[1;1Hy"), "x y");
  CHECK_STR(CLEAN("\x1b]0;owned\x07title"), "title");
  CHECK_STR(CLEAN("\x1b]8;;http://x\x1b\\link"), "link");
  CHECK_STR(CLEAN("a\x1b" "cb"), "a b");
  CHECK_STR(CLEAN("end\x1b"), "end");
  CHECK_STR(CLEAN("end\x1b[31"), "end");
  /* UTF-8 stays; C1 controls (U+009B is a CSI to some terminals) do not; junk is '?' */
  CHECK_STR(CLEAN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK_STR(CLEAN("a\xc2\x9b" "31mb"), "a 31mb");
  CHECK_STR(CLEAN("a\xff" "b\x80" "c"), "a?b?c");
  CHECK_STR(CLEAN("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"), "?????????");
  CHECK_STR(CLEAN("cut \xe2\x82"), "cut ??");
}

static void test_html(void)
{
  CHECK_STR(CLEAN("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
                  "Gateway</h1></center><hr><center>nginx</center></body></html>"),
            "502 Bad Gateway 502 Bad Gateway nginx");
  CHECK_STR(CLEAN("<p>x</p><STYLE>p { color: red }</style><script>alert('<b>')</SCRIPT>y"), "x y");
  CHECK_STR(CLEAN("<p>open <b"), "open");
  /* only a text that starts with a tag is HTML: elsewhere '<' is a word's */
  CHECK_STR(CLEAN("size <b> too large"), "size <b> too large");
}

static void test_bound(void)
{
  char big[5000];
  memset(big, 'x', sizeof big);
  const char *s = clean(big, sizeof big);
  CHECK_INT(strlen(s), ACR_ERRTEXT_MAX);
  CHECK(!strcmp(s + ACR_ERRTEXT_MAX - 3, "..."));
  /* a cut falls between characters: 2-byte ones, then one 4-byte one near the end */
  char wide[2000];
  for (size_t i = 0; i + 1 < sizeof wide; i += 2) {
    wide[i] = '\xc3';
    wide[i + 1] = '\xa9';
  }
  s = clean(wide, sizeof wide);
  CHECK(strlen(s) <= ACR_ERRTEXT_MAX);
  CHECK_INT(strlen(s), 508 + 3);   /* 254 of them fit before "..." */
  CHECK(!strcmp(s + 508, "..."));
  char four[600];
  memset(four, 'a', sizeof four);
  memcpy(four + 507, "\xf0\x9f\x98\x80", 4);
  s = clean(four, sizeof four);
  CHECK_INT(strlen(s), 507 + 3);   /* the emoji does not fit whole: it is left out */
  /* exactly full: no "..." */
  s = clean(big, ACR_ERRTEXT_MAX - 3);
  CHECK_INT(strlen(s), ACR_ERRTEXT_MAX - 3);
  CHECK(strstr(s, "...") == NULL);
  /* a small buffer bounds it too */
  char small[8];
  acr_errtext_clean("hello world", 11, small, sizeof small);
  CHECK_STR(small, "hell...");
}

int main(void)
{
  test_text();
  test_secrets();
  test_html();
  test_bound();
  return check_exit();
}
