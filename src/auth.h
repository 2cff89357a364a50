/* Credentials and their token cache. A credential hands the operation a bearer token;
 * one that must fetch a token does so through a request the operation sends, so every
 * driver (libcurl, or cosockets in nginx) performs it the same way. */
#ifndef ACR_AUTH_H
#define ACR_AUTH_H

#include "compat.h"
#include "buf.h"

#define ACR_CREDENTIAL_MT "acr.Credential"

typedef enum acr_credential_kind {
  ACR_CRED_STATIC = 0
} acr_credential_kind;

typedef struct acr_credential {
  acr_credential_kind kind;
  acr_buf token;          /* the cached bearer token; wiped when replaced or collected */
  double expires_on;      /* epoch seconds; 0 = unknown (static) */
  int closed;
} acr_credential;

int acr_auth_open(lua_State *L);  /* sets module.credential */
acr_credential *acr_check_credential(lua_State *L, int idx);

/* The cached token when it is usable now, else NULL. */
const char *acr_credential_token(acr_credential *c);
/* Whether dropping the token and asking again can give a different one (not static). */
int acr_credential_can_refresh(const acr_credential *c);
void acr_credential_invalidate(acr_credential *c);

#endif
