/* Certificate credentials: a private key and its certificate (+ chain), loaded from a
 * PEM or PKCS#12 file and checked, for the client assertions of jwt.h. */
#ifndef ACR_CERT_H
#define ACR_CERT_H

#include <stddef.h>

typedef struct acr_cert acr_cert;  /* opaque: private key + certificate (+ chain) */

/* Loads a PEM file holding the certificate and its private key (any order, key possibly
 * encrypted with password), or a PKCS#12 file (detected by content, not by name).
 * Checks that the key matches the certificate, and that the certificate is valid now.
 * On failure returns NULL and writes a message (never containing the password) to err.
 * The password is not kept. */
acr_cert *acr_cert_load(const char *path, const char *password, char *err, size_t errlen);
void acr_cert_free(acr_cert *c);   /* frees the key (OpenSSL wipes it) */

#endif
