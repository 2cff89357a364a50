/* Tests for src/jsonscan.c, the reader token responses go through (so a token is never a
 * Lua string): what it accepts must be what lua-cjson accepts, and the members it keeps
 * must come out as cjson would decode them. Built and run by ctest (c/jsonscan and
 * c-asan/jsonscan); by hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Isrc \
 *       tests/c/jsonscan_test.c src/jsonscan.c src/buf.c -o /tmp/jsonscan_test \
 *       $(pkg-config --libs libcrypto) && /tmp/jsonscan_test */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "jsonscan.h"

/* Scans s for access_token (text) and expires_in (number). */
static int scan(const char *s, acr_buf *tok, double *in, acr_json_kind *kind)
{
  acr_json_want w[] = {{"access_token", tok, NULL, ACR_JSON_ABSENT},
                       {"expires_in", NULL, in, ACR_JSON_ABSENT}};
  acr_buf_clear(tok);
  *in = -1;
  int rc = acr_json_scan(s, strlen(s), w, 2);
  *kind = w[0].kind;
  return rc;
}

static void test_token_response(void)
{
  acr_buf tok = ACR_BUF_INIT;
  double in;
  acr_json_kind kind;
  CHECK_INT(scan("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"eyJ.a.b\"}",
                 &tok, &in, &kind), 1);
  CHECK_STR(tok.data, "eyJ.a.b");
  CHECK_INT(kind, ACR_JSON_STRING);
  CHECK(in == 3599);
  /* IMDS and App Service send numbers as strings */
  CHECK_INT(scan(" {\"expires_in\" : \"3600\", \"access_token\" : \"t\" } \n", &tok, &in, &kind), 1);
  CHECK(in == 3600);
  CHECK_INT(scan("{\"expires_in\":\"soon\",\"access_token\":\"t\"}", &tok, &in, &kind), 1);
  CHECK(in == -1);
  /* nested members of the same name are not the top-level one */
  CHECK_INT(scan("{\"x\":{\"access_token\":\"inner\"},\"y\":[1,{\"expires_in\":5}]}", &tok, &in,
                 &kind), 1);
  CHECK_INT(kind, ACR_JSON_ABSENT);
  CHECK(in == -1);
  /* the last of repeated members counts, as in cjson */
  CHECK_INT(scan("{\"access_token\":\"first\",\"access_token\":\"second\"}", &tok, &in, &kind), 1);
  CHECK_STR(tok.data, "second");
  CHECK_INT(scan("{\"access_token\":\"first\",\"access_token\":null}", &tok, &in, &kind), 1);
  CHECK_INT(kind, ACR_JSON_OTHER);
  CHECK_INT(scan("{\"access_token\":12}", &tok, &in, &kind), 1);
  CHECK_INT(kind, ACR_JSON_NUMBER);
  acr_buf_wipe(&tok);
}

static void test_escapes(void)
{
  acr_buf tok = ACR_BUF_INIT;
  double in;
  acr_json_kind kind;
  CHECK_INT(scan("{\"access\\u005ftoken\":\"a\\/b\\\"c\\\\d\\n\\u00e9\\ud83d\\ude00\"}", &tok, &in,
                 &kind), 1);
  CHECK_STR(tok.data, "a/b\"c\\d\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK_INT(scan("{\"access_token\":\"\\ud83d\"}", &tok, &in, &kind), -1);   /* lone surrogate */
  CHECK_INT(scan("{\"access_token\":\"\\ude00\"}", &tok, &in, &kind), -1);
  CHECK_INT(scan("{\"access_token\":\"\\x\"}", &tok, &in, &kind), -1);
  CHECK_INT(scan("{\"access_token\":\"tab\there\"}", &tok, &in, &kind), -1); /* raw control */
  acr_buf_wipe(&tok);
}

static void test_not_json(void)
{
  static const char *const bad[] = {
    "", "   ", "{", "{\"access_token\":\"t\"", "{\"access_token\":\"t\"}}", "{\"a\" 1}",
    "{\"a\":1,}", "[1,]", "{,}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
    "{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":nul}", "<html>", "{\"a\":1} x",
    "{\"access_token\":\"t\"", "{\"a\":\"unterminated}", NULL};
  acr_buf tok = ACR_BUF_INIT;
  double in;
  acr_json_kind kind;
  for (int i = 0; bad[i]; i++)
    CHECKF(scan(bad[i], &tok, &in, &kind) == -1, "'%s' is not JSON", bad[i]);
  static const char *const other[] = {"[]", "\"s\"", "-1.5e3", "true", "null", "[{\"a\":[]}]",
                                      NULL};
  for (int i = 0; other[i]; i++)
    CHECKF(scan(other[i], &tok, &in, &kind) == 0, "'%s' is JSON, not an object", other[i]);
  CHECK_INT(acr_json_scan(NULL, 0, NULL, 0), -1);
  acr_buf_wipe(&tok);
}

/* {"a":[[…]]} with `arrays` levels of arrays under the object. */
static int scan_nested(int arrays)
{
  char doc[256];
  int n = snprintf(doc, sizeof doc, "{\"a\":");
  for (int i = 0; i < arrays; i++)
    doc[n++] = '[';
  for (int i = 0; i < arrays; i++)
    doc[n++] = ']';
  doc[n++] = '}';
  return acr_json_scan(doc, (size_t)n, NULL, 0);
}

static void test_depth_and_numbers(void)
{
  CHECK_INT(scan_nested(63), 1);    /* 64 levels: cjson's limit, as the module sets it */
  CHECK_INT(scan_nested(64), -1);
  double v = 0;
  acr_json_want w[] = {{"n", NULL, &v, ACR_JSON_ABSENT}};
  const char *doc = "{\"n\":-12.5e2}";
  CHECK_INT(acr_json_scan(doc, strlen(doc), w, 1), 1);
  CHECK(v == -1250);
  doc = "{\"n\":1796116365}";
  CHECK_INT(acr_json_scan(doc, strlen(doc), w, 1), 1);
  CHECK(v == 1796116365.0);
}

int main(void)
{
  test_token_response();
  test_escapes();
  test_not_json();
  test_depth_and_numbers();
  return check_exit();
}
