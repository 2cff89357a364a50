/* The loaded credential, shared by its loader (cert.c) and the assertion signed with it
 * (jwt.c). Nothing else includes this. */
#ifndef ACR_CERT_PRIVATE_H
#define ACR_CERT_PRIVATE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cert.h"

struct acr_cert {
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;   /* the other certificates, in file order (for x5c) */
};

#endif
