/* Client assertions for certificate credentials: an RS256 JWT signed with OpenSSL, as
 * Entra ID expects (x5t = base64url(SHA-1 of the DER certificate); claims aud, iss, sub,
 * jti, nbf, exp; x5c on request). */
#ifndef ACR_JWT_H
#define ACR_JWT_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "cert.h"

/* Appends to out the assertion JWT: header {"alg":"RS256","typ":"JWT","x5t":…[,"x5c":[…]]},
 * claims {"aud":aud,"iss":client_id,"sub":client_id,"jti":<uuid>,"nbf":now,"iat":now,"exp":now+600}.
 * 0 ok, -1 error (message in err). */
int acr_jwt_assertion(const acr_cert *c, const char *client_id, const char *aud, time_t now,
                      int with_x5c, acr_buf *out, char *err, size_t errlen);

/* Appends base64url (no padding) of data. 0 ok, -1 out of memory. */
int acr_base64url(acr_buf *out, const unsigned char *data, size_t len);

#endif
