/* Certificate credentials: load a key and certificate (PEM or PKCS#12) and check them,
 * for the RS256 client assertions of jwt.c. Every OpenSSL call that can fail starts with
 * an empty error queue and drains it into the message afterwards (sslerr.c), so messages
 * are specific and no stale error leaks into a later call. Passwords never reach a
 * message or a log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "cert_private.h"
#include "sslerr.h"

/* A certificate file is a few KiB; anything this large is not one. */
#define MAX_CERT_FILE ((long)16 * 1024 * 1024)

/* ---- messages ---- */

/* "certificate file <path>: <what>", then the OpenSSL errors. */
static void set_file_err(char *err, size_t errlen, const char *path, const char *what)
{
  char msg[1024];
  snprintf(msg, sizeof msg, "certificate file %s: %s", path, what);
  acr_ssl_error(err, errlen, msg);
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
    acr_ssl_error(err, errlen, "certificate file: no path given");
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
