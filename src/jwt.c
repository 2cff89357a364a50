/* Certificate credentials: load a key and certificate (PEM or PKCS#12), then sign RS256
 * client assertions with them. Every OpenSSL call that can fail starts with an empty
 * error queue and drains it into the message afterwards, so messages are specific and
 * no stale error leaks into a later call. Passwords never reach a message or a log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"

/* A certificate file is a few KiB; anything this large is not one. */
#define MAX_CERT_FILE ((long)16 * 1024 * 1024)
#define ASSERTION_LIFETIME 600

struct acr_cert {
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;   /* the other certificates, in file order (for x5c) */
};

/* ---- messages ---- */

/* Appends ": lib: reason; lib: reason…" for the queued OpenSSL errors (each code once:
 * decoders retry and repeat themselves), emptying the queue. OpenSSL's own texts carry
 * no secrets (the password is never part of one). */
static void drain_errors(char *err, size_t errlen)
{
  size_t n = strlen(err);
  const char *sep = ": ";
  unsigned long e, seen[8];
  int nseen = 0, i, dup;
  const char *data;
  int flags;
  while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
    for (dup = 0, i = 0; i < nseen; i++)
      dup |= seen[i] == e;
    if (dup)
      continue;
    if (nseen < 8)
      seen[nseen++] = e;
    const char *lib = ERR_lib_error_string(e);
    const char *reason = ERR_reason_error_string(e);
    char one[320];
    if (reason)
      snprintf(one, sizeof one, "%s%s%s", lib ? lib : "", lib ? ": " : "", reason);
    else
      snprintf(one, sizeof one, "error %lu", e);
    if ((flags & ERR_TXT_STRING) && data && *data) {
      size_t m = strlen(one);
      snprintf(one + m, sizeof one - m, " (%s)", data);
    }
    if (n + 1 < errlen) {
      snprintf(err + n, errlen - n, "%s%s", sep, one);
      n += strlen(err + n);
    }
    sep = "; ";
  }
}

/* Writes "<what>" to err, then the OpenSSL errors (if any). */
static void set_err(char *err, size_t errlen, const char *what)
{
  if (!err || errlen == 0) {
    ERR_clear_error();
    return;
  }
  snprintf(err, errlen, "%s", what);
  drain_errors(err, errlen);
}

/* "certificate file <path>: <what>", then the OpenSSL errors. */
static void set_file_err(char *err, size_t errlen, const char *path, const char *what)
{
  char msg[1024];
  snprintf(msg, sizeof msg, "certificate file %s: %s", path, what);
  set_err(err, errlen, msg);
}

/* ---- reading the file ---- */

/* Whole file into a malloc'd buffer; the caller cleanses it before freeing (an
 * unencrypted key lives in it). Returns NULL with the reason in why. */
static unsigned char *read_file(const char *path, long *len, char *why, size_t whylen)
{
  FILE *f = fopen(path, "rb");
  unsigned char *data = NULL;
  size_t cap = 0, n = 0;
  if (!f) {
    snprintf(why, whylen, "cannot open: %s", strerror(errno));
    return NULL;
  }
  setvbuf(f, NULL, _IONBF, 0);   /* fclose would free stdio's copy of the key unwiped */
  for (;;) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 8192;
      unsigned char *p;
      if (ncap > (size_t)MAX_CERT_FILE + 1)
        ncap = (size_t)MAX_CERT_FILE + 1;
      if (ncap == cap) {
        snprintf(why, whylen, "too large to be a certificate file");
        goto fail;
      }
      /* Not realloc: the old block may hold key material and must be wiped. */
      p = malloc(ncap);
      if (!p) {
        snprintf(why, whylen, "out of memory");
        goto fail;
      }
      if (data) {
        memcpy(p, data, n);
        OPENSSL_cleanse(data, cap);
        free(data);
      }
      data = p;
      cap = ncap;
    }
    size_t got = fread(data + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        goto fail;
      }
      break;
    }
  }
  fclose(f);
  if (n == 0) {
    snprintf(why, whylen, "the file is empty");
    free(data);
    return NULL;
  }
  *len = (long)n;
  return data;
fail:
  fclose(f);
  if (data) {
    OPENSSL_cleanse(data, cap);
    free(data);
  }
  return NULL;
}

/* ---- PEM ---- */

struct pw_ctx {
  const char *password;
  int asked;
};

/* Supplies the given password; with none, refuses (OpenSSL would otherwise prompt on
 * the terminal). Never called for an unencrypted key. */
static int supply_password(char *buf, int size, int rwflag, void *u)
{
  struct pw_ctx *pw = u;
  size_t n;
  (void)rwflag;
  pw->asked = 1;
  if (!pw->password || size <= 0)
    return -1;
  n = strlen(pw->password);
  if (n > (size_t)size)
    return -1;
  memcpy(buf, pw->password, n);
  return (int)n;
}

/* True when the text has a PEM private key block of any kind ("PRIVATE KEY",
 * "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"…). OpenSSL 3's decoders do not say "none
 * found" reliably, so look for one before blaming the password or the format. */
static int has_pem_key(const unsigned char *data, long len)
{
  static const char tag[] = "PRIVATE KEY-----";
  const size_t tlen = sizeof tag - 1;
  long i;
  for (i = 0; i + (long)tlen <= len; i++)
    if (data[i] == 'P' && memcmp(data + i, tag, tlen) == 0)
      return 1;
  return 0;
}

/* True when the last queued error means "no more PEM objects". */
static int pem_at_end(void)
{
  unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static int load_pem(const unsigned char *data, long len, const char *path, const char *password,
                    EVP_PKEY **key, STACK_OF(X509) *certs, char *err, size_t errlen)
{
  struct pw_ctx pw = {password, 0};
  BIO *bio;
  X509 *x;

  /* Certificates: every one, in order. PEM_read_bio_X509 skips other objects. */
  ERR_clear_error();
  bio = BIO_new_mem_buf(data, (int)len);
  if (!bio) {
    set_file_err(err, errlen, path, "out of memory");
    return -1;
  }
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (!sk_X509_push(certs, x)) {
      X509_free(x);
      BIO_free(bio);
      set_file_err(err, errlen, path, "out of memory");
      return -1;
    }
  }
  BIO_free(bio);
  if (!pem_at_end()) {
    set_file_err(err, errlen, path, "a certificate could not be parsed");
    return -1;
  }
  ERR_clear_error();
  if (sk_X509_num(certs) == 0) {
    set_file_err(err, errlen, path, "no certificate found (expected PEM or PKCS#12)");
    return -1;
  }

  /* The private key: the first one (any PEM key type, encrypted or not). */
  if (!has_pem_key(data, len)) {
    set_file_err(err, errlen, path, "no private key found");
    return -1;
  }
  bio = BIO_new_mem_buf(data, (int)len);
  if (!bio) {
    set_file_err(err, errlen, path, "out of memory");
    return -1;
  }
  *key = PEM_read_bio_PrivateKey(bio, NULL, supply_password, &pw);
  BIO_free(bio);
  if (*key) {
    ERR_clear_error();
    return 0;
  }
  /* Without a password, OpenSSL's queue only says at length that it had none. */
  if (pw.asked && !password)
    ERR_clear_error();
  if (pw.asked && !password)
    set_file_err(err, errlen, path, "the private key is encrypted and no password was given");
  else if (pw.asked)
    set_file_err(err, errlen, path, "the private key could not be decrypted: wrong password?");
  else
    set_file_err(err, errlen, path, "the private key could not be parsed");
  return -1;
}

/* ---- PKCS#12 ---- */

/* The PKCS#12 structure data holds, or NULL when it is not one (then it may be PEM). */
static PKCS12 *parse_p12(const unsigned char *data, long len)
{
  const unsigned char *p = data;
  PKCS12 *p12;
  ERR_clear_error();
  p12 = d2i_PKCS12(NULL, &p, len);
  ERR_clear_error();
  return p12;
}

static int load_p12(PKCS12 *p12, const char *path, const char *password, EVP_PKEY **key,
                    STACK_OF(X509) *certs, char *err, size_t errlen)
{
  X509 *cert = NULL;
  STACK_OF(X509) *ca = NULL;
  int ok;

  ERR_clear_error();
  /* Check the MAC first so that a wrong password gets its own message. PKCS12_parse
   * treats NULL and "" alike (it tries both), so do the same. */
  if (PKCS12_mac_present(p12)) {
    if (password && *password)
      ok = PKCS12_verify_mac(p12, password, -1);
    else
      ok = PKCS12_verify_mac(p12, NULL, 0) || PKCS12_verify_mac(p12, "", 0);
    if (!ok) {
      set_file_err(err, errlen, path,
                   password && *password ? "PKCS#12 MAC verification failed: wrong password?"
                                         : "PKCS#12 file needs a password");
      return -1;
    }
  }
  ERR_clear_error();
  if (!PKCS12_parse(p12, password, key, &cert, &ca)) {
    set_file_err(err, errlen, path, "PKCS#12 contents could not be decrypted or parsed");
    return -1;
  }
  ERR_clear_error();
  /* The certificate PKCS12_parse matched to the key first, then the rest. */
  ok = 1;
  if (cert && !sk_X509_push(certs, cert)) {
    X509_free(cert);
    ok = 0;
  }
  while (ca && sk_X509_num(ca) > 0) {
    X509 *x = sk_X509_shift(ca);
    if (ok && sk_X509_push(certs, x))
      continue;
    X509_free(x);
    ok = 0;
  }
  sk_X509_free(ca);
  if (!ok) {
    set_file_err(err, errlen, path, "out of memory");
    return -1;
  }
  if (!*key) {
    set_file_err(err, errlen, path, "no private key found in the PKCS#12 file");
    return -1;
  }
  if (sk_X509_num(certs) == 0) {
    set_file_err(err, errlen, path, "no certificate found in the PKCS#12 file");
    return -1;
  }
  return 0;
}

/* ---- checks on what was loaded ---- */

static int check_key_type(const EVP_PKEY *key, const char *path, char *err, size_t errlen)
{
  char msg[200];
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
    return 0;
  snprintf(msg, sizeof msg,
           "the private key is %s, but RS256 assertions need an RSA key",
           EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "not RSA");
  set_file_err(err, errlen, path, msg);
  return -1;
}

/* Moves the certificate matching key from certs to *leaf; certs keeps the chain. */
static int pick_leaf(EVP_PKEY *key, STACK_OF(X509) *certs, X509 **leaf, const char *path,
                     char *err, size_t errlen)
{
  int i;
  for (i = 0; i < sk_X509_num(certs); i++) {
    ERR_clear_error();
    if (X509_check_private_key(sk_X509_value(certs, i), key) == 1) {
      *leaf = sk_X509_delete(certs, i);
      ERR_clear_error();
      return 0;
    }
  }
  ERR_clear_error();   /* the mismatch errors say nothing more than we do */
  set_file_err(err, errlen, path,
               sk_X509_num(certs) == 1 ? "the private key does not match the certificate"
                                       : "the private key matches none of the certificates");
  return -1;
}

static int check_validity(X509 *leaf, const char *path, char *err, size_t errlen)
{
  int before, after;
  ERR_clear_error();
  before = X509_cmp_current_time(X509_get0_notBefore(leaf));   /* <0: in the past */
  after = X509_cmp_current_time(X509_get0_notAfter(leaf));     /* >0: in the future */
  if (before == 0 || after == 0) {
    set_file_err(err, errlen, path, "the certificate has an invalid validity period");
    return -1;
  }
  if (before > 0) {
    set_file_err(err, errlen, path, "the certificate is not yet valid (notBefore is in the future)");
    return -1;
  }
  if (after < 0) {
    set_file_err(err, errlen, path, "the certificate has expired (notAfter is in the past)");
    return -1;
  }
  return 0;
}

void acr_cert_free(acr_cert *c)
{
  if (!c)
    return;
  EVP_PKEY_free(c->key);
  X509_free(c->leaf);
  sk_X509_pop_free(c->chain, X509_free);
  free(c);
}

acr_cert *acr_cert_load(const char *path, const char *password, char *err, size_t errlen)
{
  acr_cert *c = NULL;
  EVP_PKEY *key = NULL;
  X509 *leaf = NULL;
  STACK_OF(X509) *certs = NULL;
  unsigned char *data = NULL;
  long len = 0;
  char why[200];
  PKCS12 *p12;
  int rc;

  if (err && errlen)
    err[0] = '\0';
  if (!path || !*path) {
    set_err(err, errlen, "certificate file: no path given");
    return NULL;
  }
  data = read_file(path, &len, why, sizeof why);
  if (!data) {
    set_file_err(err, errlen, path, why);
    return NULL;
  }
  certs = sk_X509_new_null();
  if (!certs) {
    set_file_err(err, errlen, path, "out of memory");
    goto done;
  }
  p12 = parse_p12(data, len);
  if (p12) {
    rc = load_p12(p12, path, password, &key, certs, err, errlen);
    PKCS12_free(p12);
  } else {
    rc = load_pem(data, len, path, password, &key, certs, err, errlen);
  }
  if (rc != 0 || check_key_type(key, path, err, errlen) != 0 ||
      pick_leaf(key, certs, &leaf, path, err, errlen) != 0 ||
      check_validity(leaf, path, err, errlen) != 0)
    goto done;
  c = calloc(1, sizeof *c);
  if (!c) {
    set_file_err(err, errlen, path, "out of memory");
    goto done;
  }
  c->key = key;
  c->leaf = leaf;
  c->chain = certs;
  key = NULL;
  leaf = NULL;
  certs = NULL;
done:
  OPENSSL_cleanse(data, (size_t)len);
  free(data);
  EVP_PKEY_free(key);
  X509_free(leaf);
  sk_X509_pop_free(certs, X509_free);
  ERR_clear_error();
  return c;
}

/* ---- encodings ---- */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int base64(acr_buf *out, const unsigned char *d, size_t len, const char *alphabet,
                  int pad)
{
  size_t i, n = out->len;
  if (len > ((size_t)-1) / 4 - 3 || acr_buf_reserve(out, (len + 2) / 3 * 4) != 0)
    return -1;
  for (i = 0; i + 2 < len; i += 3) {
    unsigned long v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8 | d[i + 2];
    out->data[n++] = alphabet[(v >> 18) & 63];
    out->data[n++] = alphabet[(v >> 12) & 63];
    out->data[n++] = alphabet[(v >> 6) & 63];
    out->data[n++] = alphabet[v & 63];
  }
  if (i < len) {
    unsigned long v = (unsigned long)d[i] << 16;
    if (i + 1 < len)
      v |= (unsigned long)d[i + 1] << 8;
    out->data[n++] = alphabet[(v >> 18) & 63];
    out->data[n++] = alphabet[(v >> 12) & 63];
    if (i + 1 < len)
      out->data[n++] = alphabet[(v >> 6) & 63];
    else if (pad)
      out->data[n++] = '=';
    if (pad)
      out->data[n++] = '=';
  }
  out->len = n;
  out->data[n] = '\0';
  return 0;
}

int acr_base64url(acr_buf *out, const unsigned char *data, size_t len)
{
  return base64(out, data, len, b64_url, 0);
}

/* A JSON string literal. Bytes >= 0x80 pass through (the input is UTF-8). */
static int json_string(acr_buf *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  if (acr_buf_add(b, "\"", 1) != 0)
    return -1;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    char esc[7];
    size_t n = 2;
    esc[0] = '\\';
    switch (ch) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      if (ch < 0x20) {
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[ch >> 4];
        esc[5] = hex[ch & 15];
        n = 6;
      } else {
        esc[0] = (char)ch;
        n = 1;
      }
    }
    if (acr_buf_add(b, esc, n) != 0)
      return -1;
  }
  return acr_buf_add(b, "\"", 1);
}

/* A random (version 4) UUID, lower case. */
static int uuid4(char out[37])
{
  unsigned char r[16];
  static const char hex[] = "0123456789abcdef";
  int i, n = 0;
  if (RAND_bytes(r, sizeof r) != 1)
    return -1;
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[n++] = '-';
    out[n++] = hex[r[i] >> 4];
    out[n++] = hex[r[i] & 15];
  }
  out[n] = '\0';
  return 0;
}

/* Standard base64 of a certificate's DER, as a JSON string (for x5c). */
static int x5c_entry(acr_buf *b, X509 *x)
{
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  int rc;
  if (n <= 0)
    return -1;
  rc = acr_buf_add(b, "\"", 1) == 0 && base64(b, der, (size_t)n, b64_std, 1) == 0 &&
               acr_buf_add(b, "\"", 1) == 0
           ? 0
           : -1;
  OPENSSL_free(der);
  return rc;
}

/* ---- the assertion ---- */

static int build_header(const acr_cert *c, int with_x5c, acr_buf *json)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int i;
  if (!X509_digest(c->leaf, EVP_sha1(), md, &mdlen))
    return -1;
  if (acr_buf_adds(json, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"") != 0 ||
      acr_base64url(json, md, mdlen) != 0 || acr_buf_adds(json, "\"") != 0)
    return -1;
  if (with_x5c) {
    if (acr_buf_adds(json, ",\"x5c\":[") != 0 || x5c_entry(json, c->leaf) != 0)
      return -1;
    for (i = 0; i < sk_X509_num(c->chain); i++)
      if (acr_buf_adds(json, ",") != 0 || x5c_entry(json, sk_X509_value(c->chain, i)) != 0)
        return -1;
    if (acr_buf_adds(json, "]") != 0)
      return -1;
  }
  return acr_buf_adds(json, "}");
}

static int build_claims(const char *client_id, const char *aud, time_t now, const char *jti,
                        acr_buf *json)
{
  char times[160];
  long long t = (long long)now;
  snprintf(times, sizeof times, ",\"nbf\":%lld,\"iat\":%lld,\"exp\":%lld}", t, t,
           t + ASSERTION_LIFETIME);
  return acr_buf_adds(json, "{\"aud\":") == 0 && json_string(json, aud) == 0 &&
                 acr_buf_adds(json, ",\"iss\":") == 0 && json_string(json, client_id) == 0 &&
                 acr_buf_adds(json, ",\"sub\":") == 0 && json_string(json, client_id) == 0 &&
                 acr_buf_adds(json, ",\"jti\":") == 0 && json_string(json, jti) == 0 &&
                 acr_buf_adds(json, times) == 0
             ? 0
             : -1;
}

/* RSASSA-PKCS1-v1_5 with SHA-256 over the signing input; appends base64url(sig). */
static int sign_rs256(EVP_PKEY *key, const char *input, size_t len, acr_buf *out)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  int rc = -1;
  if (!md)
    return -1;
  if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
      EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, len) != 1)
    goto done;
  sig = OPENSSL_malloc(siglen);
  if (!sig || EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, len) != 1)
    goto done;
  rc = acr_base64url(out, sig, siglen);
done:
  OPENSSL_free(sig);
  EVP_MD_CTX_free(md);
  return rc;
}

int acr_jwt_assertion(const acr_cert *c, const char *client_id, const char *aud, time_t now,
                      int with_x5c, acr_buf *out, char *err, size_t errlen)
{
  acr_buf header = ACR_BUF_INIT, claims = ACR_BUF_INIT;
  size_t start = out->len;
  char jti[37];
  int rc = -1;

  if (err && errlen)
    err[0] = '\0';
  ERR_clear_error();
  if (!c || !c->key || !c->leaf) {
    set_err(err, errlen, "client assertion: no certificate");
    return -1;
  }
  if (now < 0 || (long long)now > 0x7fffffffffffLL) {
    set_err(err, errlen, "client assertion: the time is out of range");
    return -1;
  }
  if (!client_id || !*client_id || !aud || !*aud) {
    set_err(err, errlen, "client assertion: client id and audience are required");
    return -1;
  }
  if (EVP_PKEY_get_base_id(c->key) != EVP_PKEY_RSA) {
    set_err(err, errlen, "client assertion: RS256 needs an RSA key");
    return -1;
  }
  if (uuid4(jti) != 0) {
    set_err(err, errlen, "client assertion: no random bytes for jti");
    return -1;
  }
  if (build_header(c, with_x5c, &header) != 0 ||
      build_claims(client_id, aud, now, jti, &claims) != 0) {
    set_err(err, errlen, "client assertion: cannot build the JWT (out of memory?)");
    goto done;
  }
  if (acr_base64url(out, (const unsigned char *)header.data, header.len) != 0 ||
      acr_buf_add(out, ".", 1) != 0 ||
      acr_base64url(out, (const unsigned char *)claims.data, claims.len) != 0) {
    set_err(err, errlen, "client assertion: out of memory");
    goto done;
  }
  /* Sign from a copy: out->data may move while the signature is appended. */
  {
    acr_buf input = ACR_BUF_INIT;
    if (acr_buf_add(&input, out->data + start, out->len - start) != 0 ||
        acr_buf_add(out, ".", 1) != 0 || sign_rs256(c->key, input.data, input.len, out) != 0) {
      acr_buf_free(&input);
      set_err(err, errlen, "client assertion: signing failed");
      goto done;
    }
    acr_buf_free(&input);
  }
  rc = 0;
done:
  if (rc != 0 && out->data) {
    out->len = start;
    out->data[start] = '\0';
  }
  acr_buf_free(&header);
  acr_buf_free(&claims);
  ERR_clear_error();
  return rc;
}
