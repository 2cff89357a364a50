/* Tests for src/cert.c and src/jwt.c (certificate loading, RS256 client assertions) and
 * src/subprocess.c (running a program without a shell). Built and run by ctest
 * (c/auth_parts and c-asan/auth_parts, see CMakeLists.txt). Needs the openssl CLI on PATH
 * and python3 ($ACR_PYTHON3, else the one on PATH); fixtures are generated into a
 * temporary directory that is removed at the end. By hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
 *       -Wstrict-prototypes -Wmissing-prototypes -g -O1 \
 *       -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
 *       -Isrc tests/c/auth_parts_test.c src/jwt.c src/cert.c src/sslerr.c src/subprocess.c \
 *       src/runio.c src/buf.c -o /tmp/auth_parts_test $(pkg-config --libs libcrypto) \
 *     && /tmp/auth_parts_test
 *
 * Prints one line per failed check and exits 1 if any failed. ACR_TEST_KEEP=1 keeps the
 * fixture directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "cert.h"
#include "check.h"
#include "jwt.h"
#include "run.h"
#include "subprocess.h"

#define PASSWORD "S3cr3t-pw"


/* ---- helpers ---- */

static char tmpdir[] = "/tmp/acr-auth-test-XXXXXX";

static const char *tmp(const char *name)
{
  static char paths[8][600];
  static int i;
  char *p = paths[i++ % 8];
  snprintf(p, 600, "%s/%s", tmpdir, name);
  return p;
}

/* Runs a shell command line in tmpdir (test fixtures only), quietly. 0 on exit 0. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
  char cmd[4096];
  int n;
  va_list ap;
  n = snprintf(cmd, sizeof cmd, "cd '%s' && ( ", tmpdir);
  va_start(ap, fmt);
  n += vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
  va_end(ap);
  snprintf(cmd + n, sizeof cmd - (size_t)n, " ) >/dev/null 2>&1");
  int st = system(cmd);
  return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, len, f);
  return (fclose(f) == 0 && w == len) ? 0 : -1;
}

/* Whole file, NUL-terminated, trailing newline kept. Caller frees. */
static char *read_text(const char *path)
{
  FILE *f = fopen(path, "rb");
  acr_buf b = ACR_BUF_INIT;
  char chunk[4096];
  size_t n;
  if (!f)
    return NULL;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    acr_buf_add(&b, chunk, n);
  fclose(f);
  if (!b.data)
    acr_buf_add(&b, "", 0);
  return b.data;
}

static int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;   /* the directory's own descriptor */
}

/* Whatever this process inherited stays out of the programs it starts (not acr_run's
 * business, but it keeps the "child sees only 0, 1, 2" check exact). */
static void cloexec_inherited(void)
{
  int fd;
  for (fd = 3; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
}


/* base64url without padding; -1 on a character outside the alphabet or on '='. */
static int b64url_decode(const char *s, size_t len, acr_buf *out)
{
  static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned long acc = 0;
  int bits = 0;
  size_t i;
  if (len % 4 == 1)
    return -1;
  for (i = 0; i < len; i++) {
    const char *p = s[i] ? strchr(al, s[i]) : NULL;
    if (!p)
      return -1;
    acc = (acc << 6) | (unsigned long)(p - al);
    bits += 6;
    if (bits >= 8) {
      unsigned char c = (unsigned char)(acc >> (bits - 8));
      bits -= 8;
      acc &= (1UL << bits) - 1;
      acr_buf_add(out, &c, 1);
    }
  }
  if (acc != 0)
    return -1;   /* non-canonical trailing bits */
  if (!out->data)
    acr_buf_add(out, "", 0);
  return 0;
}

/* ---- fixtures ---- */

static int make_fixtures(void)
{
  static const char ca_cnf[] =
      "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
      "default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n";
  if (write_file(tmp("ca.cnf"), ca_cnf, sizeof ca_cnf - 1) != 0)
    return -1;
  return sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem"
            " -days 30 -subj /CN=acr-test") ||
         sh("cat cert.pem key.pem > both.pem && cat key.pem cert.pem > keyfirst.pem") ||
         sh("openssl pkey -in key.pem -aes256 -passout pass:" PASSWORD " -out enc8.pem"
            " && cat cert.pem enc8.pem > enc.pem") ||
         sh("openssl rsa -in key.pem -aes256 -traditional -passout pass:" PASSWORD
            " -out enclegacy.pem && cat enclegacy.pem cert.pem > enc_legacy.pem") ||
         sh("openssl pkcs12 -export -in cert.pem -inkey key.pem -passout pass:" PASSWORD
            " -out cert.p12") ||
         sh("openssl pkcs12 -export -in cert.pem -inkey key.pem -passout pass: -out nopass.p12") ||
         sh("openssl pkey -in key.pem -pubout -out pub.pem") ||
         sh("openssl x509 -in cert.pem -outform DER -out cert.der") ||
         /* A CA and a leaf it signed: chain order and x5c. */
         sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca_key.pem -out ca.pem"
            " -days 30 -subj /CN=acr-test-ca") ||
         sh(": > index.txt && echo 01 > serial") ||
         sh("openssl req -new -newkey rsa:2048 -nodes -keyout leaf_key.pem -out leaf.csr"
            " -subj /CN=acr-test-leaf") ||
         sh("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca_key.pem -in leaf.csr"
            " -out leaf.pem -days 30 -notext") ||
         sh("cat ca.pem leaf_key.pem leaf.pem > chain.pem") ||
         sh("openssl pkcs12 -export -in leaf.pem -inkey leaf_key.pem -certfile ca.pem"
            " -passout pass:" PASSWORD " -out chain.p12") ||
         sh("openssl x509 -in ca.pem -outform DER -out ca.der") ||
         sh("openssl x509 -in leaf.pem -outform DER -out leaf.der") ||
         /* Expired and not yet valid, signed by the CA with explicit dates. */
         sh("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca_key.pem -in leaf.csr"
            " -out old.pem -startdate 20200101000000Z -enddate 20200201000000Z -notext"
            " && cat old.pem leaf_key.pem > expired.pem") ||
         sh("openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca_key.pem -in leaf.csr"
            " -out fut.pem -startdate 20990101000000Z -enddate 20990201000000Z -notext"
            " && cat fut.pem leaf_key.pem > future.pem") ||
         /* A key that belongs to another certificate. */
         sh("cat cert.pem leaf_key.pem > mismatch.pem") ||
         sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
            " -keyout ec_key.pem -out ec_cert.pem -days 30 -subj /CN=acr-test-ec"
            " && cat ec_cert.pem ec_key.pem > ec.pem") ||
         sh("cp cert.pem certonly.pem && cp key.pem keyonly.pem && : > empty.pem"
            " && printf 'not a certificate\\n' > garbage.pem") ||
         sh("head -c 100 cert.p12 > truncated.p12");
}

/* ---- cert.c and jwt.c ---- */

static void test_base64url(void)
{
  static const struct { const char *in, *out; } v[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff\xfe", "-__-"},
      {"\xff\xef", "_-8"}};
  size_t i;
  for (i = 0; i < sizeof v / sizeof v[0]; i++) {
    acr_buf b = ACR_BUF_INIT;
    CHECK(acr_base64url(&b, (const unsigned char *)v[i].in, strlen(v[i].in)) == 0);
    CHECK_STR(b.data ? b.data : "", v[i].out);
    acr_buf_free(&b);
  }
  /* Appends. */
  acr_buf b = ACR_BUF_INIT;
  acr_buf_adds(&b, "x.");
  acr_base64url(&b, (const unsigned char *)"foo", 3);
  CHECK_STR(b.data, "x.Zm9v");
  acr_buf_free(&b);
}

static acr_cert *load_ok(const char *name, const char *password, int line)
{
  char err[512] = "";
  acr_cert *c = acr_cert_load(tmp(name), password, err, sizeof err);
  check_at(c != NULL, line, "%s", name);
  if (!c)
    fprintf(stderr, "  %s: %s\n", name, err);
  check_at(ERR_peek_error() == 0, line, "error queue empty after a load");
  return c;
}

/* Loading fails, the message contains want, and never the password. */
static void load_fails(const char *name, const char *password, const char *want, int line)
{
  char err[512] = "";
  acr_cert *c = acr_cert_load(tmp(name), password, err, sizeof err);
  check_at(c == NULL, line, "%s", name);
  acr_cert_free(c);
  check_at(strstr(err, want) != NULL, line, "%s: error \"%s\" lacks \"%s\"", name, err, want);
  check_at(strstr(err, PASSWORD) == NULL && strstr(err, "wrong-pw") == NULL, line,
           "no password in the message");
  check_at(strstr(err, tmpdir) != NULL, line, "the message names the file");
  check_at(ERR_peek_error() == 0, line, "error queue empty after a failed load");
}

static void test_load(void)
{
  acr_cert *c;
  c = load_ok("both.pem", NULL, __LINE__);
  acr_cert_free(c);
  c = load_ok("keyfirst.pem", NULL, __LINE__);
  acr_cert_free(c);
  c = load_ok("both.pem", "ignored", __LINE__);   /* unencrypted: the password is unused */
  acr_cert_free(c);
  c = load_ok("enc.pem", PASSWORD, __LINE__);
  acr_cert_free(c);
  c = load_ok("enc_legacy.pem", PASSWORD, __LINE__);
  acr_cert_free(c);
  c = load_ok("cert.p12", PASSWORD, __LINE__);
  acr_cert_free(c);
  c = load_ok("nopass.p12", NULL, __LINE__);
  acr_cert_free(c);
  c = load_ok("nopass.p12", "", __LINE__);
  acr_cert_free(c);
  c = load_ok("chain.pem", NULL, __LINE__);
  acr_cert_free(c);
  c = load_ok("chain.p12", PASSWORD, __LINE__);
  acr_cert_free(c);
  acr_cert_free(NULL);

  load_fails("enc.pem", "wrong-pw", "wrong password", __LINE__);
  load_fails("enc_legacy.pem", "wrong-pw", "wrong password", __LINE__);
  load_fails("enc.pem", NULL, "no password was given", __LINE__);
  load_fails("cert.p12", "wrong-pw", "wrong password", __LINE__);
  load_fails("cert.p12", NULL, "needs a password", __LINE__);
  load_fails("mismatch.pem", NULL, "does not match", __LINE__);
  load_fails("expired.pem", NULL, "expired", __LINE__);
  load_fails("future.pem", NULL, "not yet valid", __LINE__);
  load_fails("ec.pem", NULL, "RSA", __LINE__);
  load_fails("certonly.pem", NULL, "no private key", __LINE__);
  load_fails("keyonly.pem", NULL, "no certificate", __LINE__);
  load_fails("empty.pem", NULL, "the file is empty", __LINE__);
  load_fails("garbage.pem", NULL, "no certificate", __LINE__);
  load_fails("truncated.p12", NULL, "no certificate", __LINE__);
  load_fails("missing.pem", NULL, "cannot open: No such file", __LINE__);
  load_fails(".", NULL, "cannot read", __LINE__);   /* a directory */

  /* A tiny err buffer is still terminated; NULL err is allowed. */
  char small[8];
  memset(small, 'x', sizeof small);
  CHECK(acr_cert_load(tmp("missing.pem"), NULL, small, sizeof small) == NULL);
  CHECK(memchr(small, '\0', sizeof small) != NULL);
  CHECK(acr_cert_load(tmp("missing.pem"), NULL, NULL, 0) == NULL);
  CHECK(acr_cert_load("", NULL, small, sizeof small) == NULL);
}

/* "AB:CD:…" from `openssl x509 -fingerprint -sha1`, as base64url. */
static int cli_x5t(const char *cert, acr_buf *out)
{
  unsigned char md[20];
  char *text, *p;
  size_t n = 0;
  if (sh("openssl x509 -in %s -noout -fingerprint -sha1 > fp.txt", cert) != 0)
    return -1;
  text = read_text(tmp("fp.txt"));
  p = text ? strchr(text, '=') : NULL;
  while (p && n < sizeof md) {
    unsigned v;
    if (sscanf(p + 1, "%2x", &v) != 1)
      break;
    md[n++] = (unsigned char)v;
    p = strchr(p + 1, ':');
  }
  free(text);
  return n == sizeof md ? acr_base64url(out, md, n) : -1;
}

/* Standard base64 of a DER file, by the CLI. */
static char *cli_base64(const char *der)
{
  char *s;
  if (sh("openssl base64 -A -in %s > b64.txt", der) != 0)
    return NULL;
  s = read_text(tmp("b64.txt"));
  if (s)
    s[strcspn(s, "\n")] = '\0';
  return s;
}

struct jwt_parts {
  acr_buf header, claims, sig;
  char *input;   /* "<h>.<c>" */
};

static int split_jwt(const char *jwt, struct jwt_parts *p)
{
  const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  memset(p, 0, sizeof *p);
  if (!d1 || !d2 || strchr(d2 + 1, '.'))
    return -1;
  p->input = strndup(jwt, (size_t)(d2 - jwt));
  return b64url_decode(jwt, (size_t)(d1 - jwt), &p->header) ||
         b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p->claims) ||
         b64url_decode(d2 + 1, strlen(d2 + 1), &p->sig);
}

static void free_parts(struct jwt_parts *p)
{
  acr_buf_free(&p->header);
  acr_buf_free(&p->claims);
  acr_buf_free(&p->sig);
  free(p->input);
}

/* 0 when the CLI verifies sig over input with pub (RSA PKCS#1 v1.5, SHA-256). */
static int cli_verify(const char *pub, const char *input, const acr_buf *sig)
{
  if (write_file(tmp("input.txt"), input, strlen(input)) != 0 ||
      write_file(tmp("sig.bin"), sig->data, sig->len) != 0)
    return -1;
  return sh("openssl dgst -sha256 -verify %s -signature sig.bin input.txt", pub);
}

/* Checks claims JSON with python3: valid JSON and exactly the expected values. */
static int py_claims_ok(const acr_buf *claims, const char *aud, const char *client_id, long long t)
{
  static const char script[] =
      "import json, re, sys\n"
      "c = json.load(open(sys.argv[1], encoding='utf-8'))\n"
      "w = json.load(open(sys.argv[2], encoding='utf-8'))\n"
      "t = int(sys.argv[3])\n"
      "assert set(c) == {'aud','iss','sub','jti','nbf','iat','exp'}, c\n"
      "assert c['aud'] == w['aud'] and c['iss'] == w['id'] and c['sub'] == w['id'], c\n"
      "assert c['nbf'] == t and c['iat'] == t and c['exp'] - c['nbf'] == 600, c\n"
      "assert re.fullmatch('[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}',"
      " c['jti']), c\n";
  /* The expected strings go through a file as JSON too, escaped by hand here: only
   * the characters the tests use. */
  acr_buf w = ACR_BUF_INIT;
  const char *vals[2] = {aud, client_id};
  int i;
  acr_buf_adds(&w, "{");
  for (i = 0; i < 2; i++) {
    const char *s;
    acr_buf_adds(&w, i ? ",\"id\":\"" : "\"aud\":\"");
    for (s = vals[i]; *s; s++) {
      char esc[8];
      if (*s == '"' || *s == '\\')
        snprintf(esc, sizeof esc, "\\%c", *s);
      else if ((unsigned char)*s < 0x20)
        snprintf(esc, sizeof esc, "\\u%04x", (unsigned)(unsigned char)*s);
      else
        snprintf(esc, sizeof esc, "%c", *s);
      acr_buf_adds(&w, esc);
    }
    acr_buf_adds(&w, "\"");
  }
  acr_buf_adds(&w, "}");
  int rc = write_file(tmp("claims.json"), claims->data, claims->len) ||
           write_file(tmp("want.json"), w.data, w.len) ||
           write_file(tmp("check.py"), script, sizeof script - 1) ||
           sh("\"${ACR_PYTHON3:-python3}\" check.py claims.json want.json %lld", t);
  acr_buf_free(&w);
  return rc;
}

static void test_assertion(void)
{
  const char *aud = "https://login.microsoftonline.com/tenant-id/oauth2/v2.0/token";
  const char *client = "00000000-1111-2222-3333-444444444444";
  const time_t t = 1700000000;
  char err[512];
  acr_buf jwt = ACR_BUF_INIT, want = ACR_BUF_INIT, x5t = ACR_BUF_INIT;
  struct jwt_parts p;
  acr_cert *c = load_ok("enc.pem", PASSWORD, __LINE__);
  if (!c)
    return;

  /* Without x5c. */
  CHECK(acr_jwt_assertion(c, client, aud, t, 0, &jwt, err, sizeof err) == 0);
  CHECK(jwt.data && !strpbrk(jwt.data, "=+/ \n"));
  CHECK(split_jwt(jwt.data ? jwt.data : "", &p) == 0);
  CHECK(cli_x5t("cert.pem", &x5t) == 0);
  acr_buf_adds(&want, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"");
  acr_buf_adds(&want, x5t.data ? x5t.data : "?");
  acr_buf_adds(&want, "\"}");
  CHECK_STR(p.header.data, want.data);
  CHECK(py_claims_ok(&p.claims, aud, client, (long long)t) == 0);
  CHECK(p.sig.len == 256);   /* RSA-2048 */
  CHECK(cli_verify("pub.pem", p.input, &p.sig) == 0);
  p.input[strlen(p.input) - 1] ^= 1;   /* a changed byte no longer verifies */
  CHECK(cli_verify("pub.pem", p.input, &p.sig) != 0);
  free_parts(&p);

  /* Each assertion has its own jti. */
  {
    acr_buf again = ACR_BUF_INIT;
    struct jwt_parts q;
    CHECK(acr_jwt_assertion(c, client, aud, t, 0, &again, err, sizeof err) == 0);
    CHECK(split_jwt(again.data ? again.data : "", &q) == 0);
    split_jwt(jwt.data ? jwt.data : "", &p);
    CHECK(q.claims.data && p.claims.data && strcmp(q.claims.data, p.claims.data) != 0);
    free_parts(&q);
    free_parts(&p);
    acr_buf_free(&again);
  }

  /* With x5c: the leaf alone (self-signed). Appends after what out holds. */
  acr_buf_clear(&jwt);
  acr_buf_adds(&jwt, "prefix:");
  CHECK(acr_jwt_assertion(c, client, aud, t, 1, &jwt, err, sizeof err) == 0);
  CHECK(jwt.data && strncmp(jwt.data, "prefix:", 7) == 0);
  CHECK(split_jwt(jwt.data ? jwt.data + 7 : "", &p) == 0);
  {
    char *leaf = cli_base64("cert.der");
    acr_buf_clear(&want);
    acr_buf_adds(&want, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"");
    acr_buf_adds(&want, x5t.data ? x5t.data : "?");
    acr_buf_adds(&want, "\",\"x5c\":[\"");
    acr_buf_adds(&want, leaf ? leaf : "?");
    acr_buf_adds(&want, "\"]}");
    CHECK_STR(p.header.data, want.data);
    free(leaf);
  }
  CHECK(cli_verify("pub.pem", p.input, &p.sig) == 0);
  free_parts(&p);

  /* Strings that need JSON escaping arrive intact. */
  acr_buf_clear(&jwt);
  {
    const char *odd_aud = "a\"b\\c\nd\te\x01 \xc3\xa9/</script>";
    const char *odd_id = "id \"quoted\" \\ back";
    CHECK(acr_jwt_assertion(c, odd_id, odd_aud, t, 0, &jwt, err, sizeof err) == 0);
    CHECK(split_jwt(jwt.data ? jwt.data : "", &p) == 0);
    CHECK(py_claims_ok(&p.claims, odd_aud, odd_id, (long long)t) == 0);
    free_parts(&p);
  }

  /* Bad arguments leave out untouched. */
  acr_buf_clear(&jwt);
  acr_buf_adds(&jwt, "keep");
  CHECK(acr_jwt_assertion(c, "", aud, t, 0, &jwt, err, sizeof err) == -1 && err[0]);
  CHECK(acr_jwt_assertion(c, client, NULL, t, 0, &jwt, err, sizeof err) == -1 && err[0]);
  CHECK(acr_jwt_assertion(NULL, client, aud, t, 0, &jwt, err, sizeof err) == -1 && err[0]);
  CHECK(acr_jwt_assertion(c, client, aud, (time_t)-1, 0, &jwt, err, sizeof err) == -1);
  CHECK_STR(jwt.data, "keep");
  acr_cert_free(c);

  /* A chain: the leaf is found wherever it sits, x5t is the leaf's, x5c is leaf then CA. */
  const char *files[] = {"chain.pem", "chain.p12"};
  int i;
  for (i = 0; i < 2; i++) {
    c = load_ok(files[i], i ? PASSWORD : NULL, __LINE__);
    if (!c)
      continue;
    acr_buf_clear(&jwt);
    acr_buf_clear(&x5t);
    acr_buf_clear(&want);
    CHECK(acr_jwt_assertion(c, client, aud, t, 1, &jwt, err, sizeof err) == 0);
    CHECK(split_jwt(jwt.data ? jwt.data : "", &p) == 0);
    CHECK(cli_x5t("leaf.pem", &x5t) == 0);
    char *leaf = cli_base64("leaf.der"), *ca = cli_base64("ca.der");
    acr_buf_adds(&want, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"");
    acr_buf_adds(&want, x5t.data ? x5t.data : "?");
    acr_buf_adds(&want, "\",\"x5c\":[\"");
    acr_buf_adds(&want, leaf ? leaf : "?");
    acr_buf_adds(&want, "\",\"");
    acr_buf_adds(&want, ca ? ca : "?");
    acr_buf_adds(&want, "\"]}");
    check_str_at(p.header.data, want.data, files[i], __LINE__);
    free(leaf);
    free(ca);
    CHECK(sh("openssl pkey -in leaf_key.pem -pubout -out leaf_pub.pem") == 0);
    CHECK(cli_verify("leaf_pub.pem", p.input, &p.sig) == 0);
    CHECK(cli_verify("pub.pem", p.input, &p.sig) != 0);   /* not some other key */
    free_parts(&p);
    acr_cert_free(c);
  }
  acr_buf_free(&jwt);
  acr_buf_free(&want);
  acr_buf_free(&x5t);
}

/* ---- subprocess.c ---- */


/* True when pid is gone or a zombie (orphans may not be reaped by PID 1 in a container). */
static int dead(pid_t pid)
{
  char path[64], buf[512];
  FILE *f;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "r");
  if (!f)
    return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* True when pid is gone or a zombie within a second (a SIGKILL takes a moment). */
static int dies(pid_t pid)
{
  int i;
  for (i = 0; i < 100; i++) {
    if (dead(pid))
      return 1;
    nanosleep(&(struct timespec){0, 10000000}, NULL);
  }
  return 0;
}

static volatile sig_atomic_t reaped_by_handler, alarms;

/* Like nginx's: reaps any child. acr_run blocks SIGCHLD so its child is not taken. */
static void greedy_sigchld(int sig)
{
  int st, saved = errno;
  (void)sig;
  while (waitpid(-1, &st, WNOHANG) > 0)
    reaped_by_handler++;
  errno = saved;
}

static void on_alarm(int sig)
{
  (void)sig;
  alarms++;
}

static void test_run(void)
{
  struct run r;
  int fds_before = count_fds();

  {
    const char *argv[] = {"echo", "hello", "world", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_STR(str(&r.out), "hello world\n");
    CHECK_STR(str(&r.err), "");
    run_free(&r);
  }
  {
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 3);
    CHECK_STR(str(&r.out), "out\n");
    CHECK_STR(str(&r.err), "err\n");
    run_free(&r);
  }
  {
    /* Output is appended to what the buffers hold; exit_code may be NULL. */
    const char *argv[] = {"printf", "b", NULL};
    acr_buf out = ACR_BUF_INIT;
    char msg[128];
    acr_buf_adds(&out, "a");
    CHECK(acr_run(argv, 5000, &out, NULL, NULL, msg, sizeof msg) == ACR_RUN_OK);
    CHECK_STR(out.data, "ab");
    acr_buf_free(&out);
  }
  {
    /* stdin is /dev/null: cat ends at once. */
    const char *argv[] = {"cat", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0 && r.out.len == 0 && r.secs < 2);
    run_free(&r);
  }
  {
    /* Arguments are passed verbatim: no shell sees them. */
    const char *evil = "'; rm -rf /tmp/x; touch pwned1 $(touch pwned2) `touch pwned3` | touch pwned4";
    const char *argv[] = {"printf", "%s", evil, NULL};
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpdir) == 0);
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_STR(str(&r.out), evil);
    CHECK(access("pwned1", F_OK) != 0 && access("pwned2", F_OK) != 0 &&
          access("pwned3", F_OK) != 0 && access("pwned4", F_OK) != 0);
    CHECK(chdir(cwd) == 0);
    run_free(&r);
  }
  {
    /* The child sees only 0, 1 and 2 (ls adds its own 3 for the directory). */
    const char *argv[] = {"ls", "/proc/self/fd", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    CHECK_STR(str(&r.out), "0\n1\n2\n3\n");
    run_free(&r);
  }
  {
    /* Timeout: the child and its own child are killed, and nothing is left to reap. */
    const char *argv[] = {"sh", "-c", "sleep 5 & echo $!; wait", NULL};
    run(&r, 200, argv);
    CHECK(r.st == ACR_RUN_TIMEOUT);
    CHECK(r.secs >= 0.19 && r.secs < 1.5);
    CHECK(strstr(r.msg, "timed out") != NULL);
    pid_t grandchild = (pid_t)atol(str(&r.out));
    CHECK(grandchild > 0);
    CHECK(grandchild > 0 && dies(grandchild));
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    run_free(&r);
  }
  {
    const char *argv[] = {"sh", "-c", "sleep 5", NULL};
    run(&r, 200, argv);
    CHECK(r.st == ACR_RUN_TIMEOUT && r.secs < 1.5);
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    run_free(&r);
  }
  {
    /* Closing its pipes does not let a program outlive the timeout. */
    const char *argv[] = {"sh", "-c", "exec >&- 2>&-; sleep 5", NULL};
    run(&r, 300, argv);
    CHECK(r.st == ACR_RUN_TIMEOUT && r.secs >= 0.29 && r.secs < 1.5);
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    run_free(&r);
  }
  {
    /* A grandchild holding the pipes open (az's telemetry uploader) does not hold up the
     * result: the exit ends the run, with all the output written before it, and the
     * rest of the child's group is killed. */
    const char *argv[] = {"sh", "-c", "head -c 60000 /dev/zero | tr '\\0' x; echo; sleep 5 & "
                          "echo $!; echo err >&2; exit 3", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 3);
    CHECK(r.secs < 1.5);
    CHECK(r.out.len > 60001 && strspn(str(&r.out), "x") == 60000 && str(&r.out)[60000] == '\n');
    CHECK_STR(str(&r.err), "err\n");
    pid_t grandchild = r.out.len > 60001 ? (pid_t)atol(str(&r.out) + 60001) : 0;
    CHECK(grandchild > 0 && dies(grandchild));
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    run_free(&r);
  }
  {
    /* One that left the group (setsid, as a daemon does) is not ours to kill, and its
     * hold on the pipes does not hold up the result either. */
    char script[1400];
    const char *mark = tmp("detached");
    /* The child waits until the other has left the group: then the kill cannot catch it. */
    snprintf(script, sizeof script, "setsid sh -c 'touch %s; exec sleep 5' & "
             "while [ ! -e %s ]; do sleep 0.01; done; echo $!", mark, mark);
    const char *argv[] = {"sh", "-c", script, NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 0 && r.secs < 1.5);
    pid_t detached = (pid_t)atol(str(&r.out));
    CHECK(detached > 0 && !dead(detached));
    if (detached > 0)
      kill(detached, SIGKILL);
    run_free(&r);
  }
  {
    const char *argv[] = {"acr-no-such-program-8d1f", "x", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_NOT_FOUND);
    CHECK(strstr(r.msg, "acr-no-such-program-8d1f") != NULL);
    run_free(&r);
  }
  {
    const char *argv[] = {"/nonexistent/dir/prog", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_NOT_FOUND);
    run_free(&r);
  }
  {
    /* Not executable: NOT_FOUND (EACCES), as execvp reports it. */
    const char *argv[] = {tmp("cert.pem"), NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_NOT_FOUND);
    run_free(&r);
  }
  {
    /* An executable text file without #!: execvp would hand it to /bin/sh; we do not. */
    const char *script = tmp("noshebang");
    CHECK(write_file(script, "touch ran-by-a-shell\n", 21) == 0 && chmod(script, 0700) == 0);
    const char *argv[] = {script, NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_ERROR && r.msg[0]);
    CHECK(access(tmp("ran-by-a-shell"), F_OK) != 0);
    run_free(&r);
  }
  {
    /* Killed by a signal. */
    const char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
    run(&r, 5000, argv);
    CHECK(r.st == ACR_RUN_ERROR && strstr(r.msg, "signal 15") != NULL);
    run_free(&r);
  }
  {
    /* Large outputs are capped at 1 MiB each, and the child still finishes. */
    const char *argv[] = {"sh", "-c",
                          "head -c 3000000 /dev/zero; head -c 2500000 /dev/zero >&2; exit 4", NULL};
    run(&r, 10000, argv);
    CHECK(r.st == ACR_RUN_OK && r.code == 4);
    CHECK(r.out.len == 1024 * 1024 && r.err.len == 1024 * 1024);
    run_free(&r);
  }
  {
    /* Exactly at the cap, and NULL buffers discard. */
    const char *argv[] = {"head", "-c", "1048576", "/dev/zero", NULL};
    run(&r, 10000, argv);
    CHECK(r.st == ACR_RUN_OK && r.out.len == 1048576);
    run_free(&r);
    char msg[128];
    int code = -5;
    CHECK(acr_run(argv, 10000, NULL, NULL, &code, msg, sizeof msg) == ACR_RUN_OK && code == 0);
  }
  {
    /* Bad arguments. */
    const char *none[] = {NULL};
    const char *empty[] = {"", NULL};
    const char *argv[] = {"true", NULL};
    run(&r, 5000, none);
    CHECK(r.st == ACR_RUN_ERROR && r.msg[0]);
    run(&r, 5000, empty);
    CHECK(r.st == ACR_RUN_ERROR && r.msg[0]);
    run(&r, 0, argv);
    CHECK(r.st == ACR_RUN_ERROR && r.msg[0]);
    CHECK(acr_run(NULL, 5000, NULL, NULL, NULL, NULL, 0) == ACR_RUN_ERROR);
  }
  {
    /* Signals arriving all the time (EINTR in poll, read, waitpid) change nothing. */
    struct sigaction sa, old;
    struct itimerval it = {{0, 5000}, {0, 5000}}, off = {{0, 0}, {0, 0}};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;   /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    setitimer(ITIMER_REAL, &it, NULL);
    const char *argv[] = {"sh", "-c", "sleep 0.3; echo done; exit 7", NULL};
    run(&r, 5000, argv);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    CHECK(alarms > 5);
    CHECK(r.st == ACR_RUN_OK && r.code == 7);
    CHECK_STR(str(&r.out), "done\n");
    run_free(&r);
  }
  {
    /* A host SIGCHLD handler that reaps every child does not steal the exit status. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = greedy_sigchld;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    const char *argv[] = {"sh", "-c", "exit 9", NULL};
    int i;
    for (i = 0; i < 5; i++) {
      run(&r, 5000, argv);
      CHECK(r.st == ACR_RUN_OK && r.code == 9);
      run_free(&r);
    }
    sigaction(SIGCHLD, &old, NULL);
    CHECK(reaped_by_handler == 0);
  }
  {
    /* A host that ignores SIGPIPE (nginx does) does not pass that on, nor our SIGCHLD block. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old);
    const char *argv[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
    run(&r, 5000, argv);
    sigaction(SIGPIPE, &old, NULL);
    CHECK(r.st == ACR_RUN_OK && r.code == 0);
    /* Only what we changed is checked: the test's own parent may ignore other signals
     * (glibc's real-time ones, say), and those are its business, not ours. */
    unsigned long long blk = ~0ULL, ign = ~0ULL;
    CHECK(sscanf(str(&r.out), "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign) == 2);
    CHECK(blk == 0);
    CHECK((ign & (1ULL << (SIGPIPE - 1))) == 0);
    run_free(&r);
  }
  {
    /* With SIGCHLD ignored the kernel discards exit statuses: an error, not a made-up 0. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    const char *argv[] = {"sh", "-c", "echo x; exit 9", NULL};
    run(&r, 5000, argv);
    sigaction(SIGCHLD, &old, NULL);
    CHECK(r.st == ACR_RUN_ERROR && strstr(r.msg, "exit status was lost") != NULL);
    CHECK_STR(str(&r.out), "x\n");
    run_free(&r);
  }

  CHECK(count_fds() == fds_before);
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

int main(void)
{
  cloexec_inherited();
  int fds_start = count_fds();
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  if (make_fixtures() != 0) {
    fprintf(stderr, "could not generate the fixtures with the openssl CLI (kept in %s)\n",
            tmpdir);
    return 1;
  }
  test_base64url();
  test_load();
  test_assertion();
  test_run();
  CHECK(count_fds() == fds_start);
  if (getenv("ACR_TEST_KEEP")) {
    printf("fixtures kept in %s\n", tmpdir);
  } else {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", tmpdir);
  }
  return check_exit();
}
