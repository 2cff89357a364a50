/* Tests for src/url.c: origins (the token goes to the endpoint's origin only), relative
 * URL resolution and api-version replacement (../shared/DESIGN.md, "Behaviour"). Built
 * and run by ctest (c/url and c-asan/url); by hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
 *       -Wstrict-prototypes -Wmissing-prototypes -g -Isrc \
 *       tests/c/url_test.c src/url.c src/buf.c -o /tmp/url_test \
 *       $(pkg-config --libs libcrypto) && /tmp/url_test */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "url.h"

#define EP "https://management.azure.com"

/* Whether a and b parse and have the same origin. */
static int same_origin(const char *a, const char *b)
{
  acr_origin oa, ob;
  return acr_url_origin(a, &oa) == 0 && acr_url_origin(b, &ob) == 0 && acr_origin_equal(&oa, &ob);
}

static void test_origin(void)
{
  acr_origin o;
  CHECK_INT(acr_url_origin(EP "/subscriptions/s?api-version=1", &o), 0);
  CHECK_STR(o.scheme, "https");
  CHECK_STR(o.host, "management.azure.com");
  CHECK_INT(o.port, 443);
  CHECK_INT(acr_url_origin("HTTP://Example.COM:8080", &o), 0);
  CHECK_STR(o.scheme, "http");
  CHECK_STR(o.host, "example.com");
  CHECK_INT(o.port, 8080);
  CHECK_INT(acr_url_origin("http://h/x", &o), 0);
  CHECK_INT(o.port, 80);
  CHECK_INT(acr_url_origin("https://[::1]:8443/x", &o), 0);
  CHECK_STR(o.host, "::1");
  CHECK_INT(o.port, 8443);

  /* the same origin: scheme and host case-insensitively, default ports */
  static const char *const same[] = {
    EP, EP "/", EP "/subscriptions/s/providers/x?api-version=1#f",
    "https://Management.Azure.COM/x", "HTTPS://MANAGEMENT.AZURE.COM:443/",
    "https://management.azure.com:443", "hTTps://management.azure.com/a/b",
  };
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
    CHECKF(same_origin(EP, same[i]), "%s is not on the origin of " EP, same[i]);
  CHECK(same_origin("http://127.0.0.1:80/a", "http://127.0.0.1/b"));
  CHECK(same_origin("http://LocalHost:8080", "http://localhost:8080/x"));

  /* another origin */
  static const char *const other[] = {
    "http://management.azure.com", "http://management.azure.com:443",
    "https://management.azure.com:8443", "https://management.azure.com:80",
    "https://management.azure.com.evil.example", "https://evil.example/management.azure.com",
    "https://evil.example/?https://management.azure.com", "https://management.azure.co",
    "https://management.chinacloudapi.cn", "https://login.microsoftonline.com",
  };
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
    CHECKF(!same_origin(EP, other[i]), "%s is taken for the origin of " EP, other[i]);
  CHECK(!same_origin("https://h", "http://h:443"));
  CHECK(!same_origin("http://h", "https://h:80"));

  /* not an absolute http(s) URL, or one whose user info hides its host */
  static const char *const bad[] = {
    "", "/subscriptions/s", "management.azure.com/x", "//management.azure.com/x",
    "ftp://management.azure.com/", "file:///etc/passwd", "javascript:alert(1)",
    "https://user@management.azure.com/", "https://management.azure.com@evil.example/",
    "https://management.azure.com:443@evil.example/", "https://:@evil.example/",
    "https://management.azure.com:99999/",
    /* what other readers take for another host, or for the loopback address */
    "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://127.0.0.01/", "http://127%2e0%2e0%2e1/", "http://local%68ost/",
    "http://127.0.0.1.:8080/", "http://a..b/", "http://.a/", "http://1.2.3/",
    "http://[::1%25lo]/", "http://[zz::1]/", "http://[::1]x/", "http://[::1/",
    "http://h:/x", "http://h:0443/", "http://h:+443/", "http://h:0/", "http://:80/",
    "http://h\\@evil/", "http://h/a\\b", "http://h x/", "http://h/\t", "http://h/\x7f",
    "http://h\xc3\xa9/", "http://h/\xc3\xa9", "http://h,i/", "http://h;i/",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECKF(acr_url_origin(bad[i], &o) == -1, "acr_url_origin(\"%s\") is not -1", bad[i]);
}

static void test_loopback(void)
{
  static const struct { const char *url; int want; } cases[] = {
    {"http://127.0.0.1:8080/", 1}, {"http://127.5.6.7/", 1}, {"http://localhost/", 1},
    {"http://LOCALHOST:1/", 1}, {"http://[::1]:8080/", 1},
    {"http://127.0.0.1.nip.io/", 0}, {"http://128.0.0.1/", 0}, {"http://10.0.0.1/", 0},
    {"http://localhost.evil.example/", 0}, {"http://[::2]/", 0}, {"https://h/", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acr_origin o;
    int ok = acr_url_origin(cases[i].url, &o) == 0;
    CHECKF(ok && acr_origin_is_loopback(&o) == cases[i].want, "%s: loopback is not %d",
           cases[i].url, cases[i].want);
  }
}

/* acr_url_resolve(base, ref) as a string; "(refused)" if it failed. */
static const char *resolve(const char *base, const char *ref, acr_origin *o)
{
  static char result[512];
  acr_buf b = ACR_BUF_INIT;
  int ok = acr_url_resolve(base, ref, &b, o) == 0 && b.len == strlen(b.data) &&
           b.len < sizeof result;
  snprintf(result, sizeof result, "%s", ok ? b.data : "(refused)");
  acr_buf_free(&b);
  return result;
}

static void test_resolve(void)
{
  /* RFC 3986 §5.4's examples, in canonical form: no fragment, "/" for an empty path */
  static const struct { const char *ref, *want; } rfc[] = {
    {"g", "http://a/b/c/g"}, {"./g", "http://a/b/c/g"}, {"g/", "http://a/b/c/g/"},
    {"/g", "http://a/g"}, {"//g", "http://g/"}, {"?y", "http://a/b/c/d;p?y"},
    {"g?y", "http://a/b/c/g?y"}, {"#s", "http://a/b/c/d;p?q"}, {"g#s", "http://a/b/c/g"},
    {"g?y#s", "http://a/b/c/g?y"}, {";x", "http://a/b/c/;x"}, {"g;x", "http://a/b/c/g;x"},
    {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"}, {"./", "http://a/b/c/"},
    {"..", "http://a/b/"}, {"../", "http://a/b/"}, {"../g", "http://a/b/g"},
    {"../..", "http://a/"}, {"../../", "http://a/"}, {"../../g", "http://a/g"},
    {"../../../g", "http://a/g"}, {"../../../../g", "http://a/g"}, {"/./g", "http://a/g"},
    {"/../g", "http://a/g"}, {"g.", "http://a/b/c/g."}, {".g", "http://a/b/c/.g"},
    {"g..", "http://a/b/c/g.."}, {"..g", "http://a/b/c/..g"}, {"./../g", "http://a/b/g"},
    {"./g/.", "http://a/b/c/g/"}, {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
    {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"},
    {"g?y/./x", "http://a/b/c/g?y/./x"}, {"g?y/../x", "http://a/b/c/g?y/../x"},
    {"HTTP://A/b/../c", "http://a/c"},
    /* "http:g" is read two ways (RFC 3986 §5.4.2): refused */
    {"http:g", NULL}, {"g:h", NULL},
  };
  acr_origin o;
  for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
    const char *got = resolve("http://a/b/c/d;p?q", rfc[i].ref, &o);
    const char *want = rfc[i].want ? rfc[i].want : "(refused)";
    CHECKF(!strcmp(got, want), "resolve(\"%s\"): %s, want %s", rfc[i].ref, got, want);
  }

  static const struct { const char *base, *ref, *want, *host; } cases[] = {
    {EP, "/subscriptions/s?api-version=1", EP "/subscriptions/s?api-version=1", NULL},
    {EP, EP "/next?$skiptoken=x", EP "/next?$skiptoken=x", NULL},
    {EP, "results/1", EP "/results/1", NULL},
    {EP, "", EP "/", NULL},
    {EP "/a/b?x=1", "//management.azure.com:443/c", EP "/c", NULL},
    {EP, "https://MANAGEMENT.azure.com:443/x#frag", EP "/x", NULL},
    {"http://[::1]:8080/a/b", "c", "http://[::1]:8080/a/c", "::1"},
    {"http://127.0.0.1:9/a", "HTTP://LocalHost:80/x", "http://localhost/x", "localhost"},
    /* another origin resolves; whether it may be followed is the caller's check */
    {EP, "HTTP://Other.Example/x", "http://other.example/x", "other.example"},
    {EP, "//evil.example/x", "https://evil.example/x", "evil.example"},
    {EP, "//evil.example", "https://evil.example/", "evil.example"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = resolve(cases[i].base, cases[i].ref, &o);
    const char *host = cases[i].host ? cases[i].host : "management.azure.com";
    CHECKF(!strcmp(got, cases[i].want) && !strcmp(o.host, host), "resolve(%s, %s): %s (%s)",
           cases[i].base, cases[i].ref, got, o.host);
  }

  /* refused: what acr_url_origin refuses, in the reference or in the base */
  static const char *const bad[] = {
    "https://127.1/x", "//0x7f000001/x", "//2130706433", "//user@management.azure.com/",
    "//management.azure.com:/x", "/a b", "/a\\b", "\\\\evil/x", "https:/x", "https:x",
    "ftp://management.azure.com/x", "javascript:alert(1)", "httpx://h/", "/\xc3\xa9",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *got = resolve(EP, bad[i], &o);
    CHECKF(!strcmp(got, "(refused)"), "resolve(\"%s\") is %s", bad[i], got);
  }
  CHECK_STR(resolve("/relative/base", "/x", &o), "(refused)");
  CHECK_STR(resolve("http://127.1/", "/x", &o), "(refused)");
}

static void test_format(void)
{
  static const char *const cases[][2] = {
    {"HTTPS://Management.Azure.com:443/", "https://management.azure.com"},
    {"http://127.0.0.1:80", "http://127.0.0.1"}, {"http://127.0.0.1:8080/x", "http://127.0.0.1:8080"},
    {"https://h:80", "https://h:80"}, {"http://[::1]:9/", "http://[::1]:9"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acr_origin o;
    acr_buf b = ACR_BUF_INIT;
    CHECK_INT(acr_url_origin(cases[i][0], &o), 0);
    CHECK_INT(acr_origin_format(&o, &b), 0);
    CHECKF(b.data && !strcmp(b.data, cases[i][1]), "format(%s): %s", cases[i][0], b.data ? b.data : "(none)");
    acr_buf_free(&b);
  }
}

/* acr_url_set_param on a copy of url; "(error)" if it failed. */
static const char *set_param(const char *url, const char *name, const char *value)
{
  static char result[512];
  acr_buf b = ACR_BUF_INIT;
  int ok = acr_buf_adds(&b, url) == 0 && acr_url_set_param(&b, name, value) == 0 &&
           b.len == strlen(b.data) && b.len < sizeof result;
  snprintf(result, sizeof result, "%s", ok ? b.data : "(error)");
  acr_buf_free(&b);
  return result;
}

static void test_set_param(void)
{
  static const struct { const char *url, *value, *want; } cases[] = {
    {"https://h/p", "2", "https://h/p?api-version=2"},
    {"https://h/p?", "2", "https://h/p?api-version=2"},
    {"https://h/p?api-version=1", "2", "https://h/p?api-version=2"},
    {"https://h/p?a=1&api-version=1&b=2", "2", "https://h/p?a=1&b=2&api-version=2"},
    /* every one, whatever its case, is replaced: never two api-versions */
    {"https://h/p?API-VERSION=1&x=y&Api-Version=0", "2", "https://h/p?x=y&api-version=2"},
    {"https://h/p?api-version&a=1", "2", "https://h/p?a=1&api-version=2"},
    {"https://h/p?api-version=", "2", "https://h/p?api-version=2"},
    /* names that only look alike stay */
    {"https://h/p?api-versions=1&xapi-version=2&api=3", "4",
     "https://h/p?api-versions=1&xapi-version=2&api=3&api-version=4"},
    {"https://h/p?a=api-version", "2", "https://h/p?a=api-version&api-version=2"},
    /* empty parameters go */
    {"https://h/p?&a=1&&b=2&", "2", "https://h/p?a=1&b=2&api-version=2"},
    /* a nextLink's own encoding is kept; the value is encoded */
    {"https://h/p?api-version=1&%24skiptoken=ab%3D%3D", "2021-04-01",
     "https://h/p?%24skiptoken=ab%3D%3D&api-version=2021-04-01"},
    {"https://h/p", "a b&c=d/\xc3\xa9", "https://h/p?api-version=a%20b%26c%3Dd%2F%C3%A9"},
    /* value NULL removes it */
    {"https://h/p?api-version=1", NULL, "https://h/p"},
    {"https://h/p?a=1&Api-Version=1", NULL, "https://h/p?a=1"},
    {"https://h/p", NULL, "https://h/p"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = set_param(cases[i].url, "api-version", cases[i].value);
    CHECKF(!strcmp(got, cases[i].want), "set api-version=%s on %s: %s, want %s",
           cases[i].value ? cases[i].value : "NULL", cases[i].url, got, cases[i].want);
  }
  /* the name given is compared case-insensitively too */
  CHECK_STR(set_param("https://h/p?api-version=1", "API-Version", "2"),
            "https://h/p?API-Version=2");
  /* a '?' after the '#' starts no query, and the query ends at the '#' */
  const char *got = set_param("https://h/p#f?api-version=1", "api-version", "2");
  const char *want = "https://h/p?api-version=2";
  CHECKF(!strncmp(got, want, strlen(want)), "after a fragment: %s, want %s...", got, want);
  got = set_param("https://h/p?api-version=1#f", "api-version", "2");
  const char *first = strstr(got, "api-version=");
  CHECKF(first && !strstr(first + 1, "api-version=") && !strstr(got, "api-version=1"),
         "before a fragment: %s", got);
}

static void test_escape(void)
{
  acr_buf b = ACR_BUF_INIT;
  CHECK_INT(acr_url_escape(&b, "", 0), 0);
  CHECK_STR(b.data, "");
  const char *unreserved = "AZaz09-._~";
  CHECK_INT(acr_url_escape(&b, unreserved, strlen(unreserved)), 0);
  CHECK_STR(b.data, "AZaz09-._~");
  acr_buf_clear(&b);
  CHECK(acr_buf_adds(&b, "x=") == 0);
  const char *reserved = " /?#&=+%:@!*'()[];,$\"<>\\^`{|}";
  CHECK_INT(acr_url_escape(&b, reserved, strlen(reserved)), 0);
  CHECK_STR(b.data, "x=%20%2F%3F%23%26%3D%2B%25%3A%40%21%2A%27%28%29%5B%5D%3B%2C%24%22%3C"
                    "%3E%5C%5E%60%7B%7C%7D");
  acr_buf_clear(&b);
  CHECK_INT(acr_url_escape(&b, "a\0b\xc3\xa9\x7f", 6), 0);  /* length-delimited */
  CHECK_STR(b.data, "a%00b%C3%A9%7F");
  CHECK_INT(b.len, 14);
  acr_buf_free(&b);
}

int main(void)
{
  test_origin();
  test_loopback();
  test_resolve();
  test_format();
  test_set_param();
  test_escape();
  return check_exit();
}
