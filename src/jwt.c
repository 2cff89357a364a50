/* RS256 client assertions signed with a loaded certificate credential (cert.c): the JWT
 * header and claims, their encodings, and the signature. Every OpenSSL call that can
 * fail starts with an empty error queue and leaves it empty (sslerr.c drains it into the
 * message), so no stale error leaks into a later call. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "cert_private.h"
#include "jwt.h"
#include "sslerr.h"

#define ASSERTION_LIFETIME 600

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
    acr_ssl_error(err, errlen, "client assertion: no certificate");
    return -1;
  }
  if (now < 0 || (long long)now > 0x7fffffffffffLL) {
    acr_ssl_error(err, errlen, "client assertion: the time is out of range");
    return -1;
  }
  if (!client_id || !*client_id || !aud || !*aud) {
    acr_ssl_error(err, errlen, "client assertion: client id and audience are required");
    return -1;
  }
  if (EVP_PKEY_get_base_id(c->key) != EVP_PKEY_RSA) {
    acr_ssl_error(err, errlen, "client assertion: RS256 needs an RSA key");
    return -1;
  }
  if (uuid4(jti) != 0) {
    acr_ssl_error(err, errlen, "client assertion: no random bytes for jti");
    return -1;
  }
  if (build_header(c, with_x5c, &header) != 0 ||
      build_claims(client_id, aud, now, jti, &claims) != 0) {
    acr_ssl_error(err, errlen, "client assertion: cannot build the JWT (out of memory?)");
    goto done;
  }
  if (acr_base64url(out, (const unsigned char *)header.data, header.len) != 0 ||
      acr_buf_add(out, ".", 1) != 0 ||
      acr_base64url(out, (const unsigned char *)claims.data, claims.len) != 0) {
    acr_ssl_error(err, errlen, "client assertion: out of memory");
    goto done;
  }
  /* Sign from a copy: out->data may move while the signature is appended. */
  {
    acr_buf input = ACR_BUF_INIT;
    if (acr_buf_add(&input, out->data + start, out->len - start) != 0 ||
        acr_buf_add(out, ".", 1) != 0 || sign_rs256(c->key, input.data, input.len, out) != 0) {
      acr_buf_free(&input);
      acr_ssl_error(err, errlen, "client assertion: signing failed");
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
