/* acr.credential.*: the token cache seam. static(token) holds a token the caller got
 * elsewhere; it never refreshes. */
#include <string.h>
#include <time.h>

#include "auth.h"

/* Refresh this long before expiry, as azure-identity does. */
#define ACR_REFRESH_WINDOW 300.0

acr_credential *acr_check_credential(lua_State *L, int idx)
{
  return (acr_credential *)luaL_checkudata(L, idx, ACR_CREDENTIAL_MT);
}

const char *acr_credential_token(acr_credential *c)
{
  if (c->closed || !c->token.len)
    return NULL;
  if (c->expires_on > 0 && (double)time(NULL) > c->expires_on - ACR_REFRESH_WINDOW &&
      acr_credential_can_refresh(c))
    return NULL;
  return c->token.data;
}

int acr_credential_can_refresh(const acr_credential *c)
{
  return c->kind != ACR_CRED_STATIC;
}

void acr_credential_invalidate(acr_credential *c)
{
  if (acr_credential_can_refresh(c))
    acr_buf_wipe(&c->token);
}

static int credential_close(lua_State *L)
{
  acr_credential *c = acr_check_credential(L, 1);
  acr_buf_wipe(&c->token);
  c->closed = 1;
  return 0;
}

static int credential_tostring(lua_State *L)
{
  acr_credential *c = acr_check_credential(L, 1);
  lua_pushfstring(L, "acr.Credential(static%s)", c->closed ? ", closed" : "");
  return 1;
}

/* syntax: cred = acr.credential.static(token) */
static int credential_static(lua_State *L)
{
  size_t len;
  const char *tok = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len > 0, 1, "token must not be empty");
  luaL_argcheck(L, strcspn(tok, "\r\n") == len, 1, "token must be one line");
  acr_credential *c = (acr_credential *)acr_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1;  /* closed until it holds its token, so __gc is safe if we fail */
  luaL_setmetatable(L, ACR_CREDENTIAL_MT);
  if (acr_buf_add(&c->token, tok, len) != 0)
    return luaL_error(L, "acr.credential.static: out of memory");
  c->kind = ACR_CRED_STATIC;
  c->closed = 0;
  return 1;
}

int acr_auth_open(lua_State *L)
{
  static const luaL_Reg meta[] = {
    {"__gc", credential_close},
    {"__tostring", credential_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg fns[] = {
    {"static", credential_static},
    {NULL, NULL}
  };
  acr_newmetatable(L, ACR_CREDENTIAL_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  acr_newlib(L, fns);
  lua_setfield(L, -2, "credential");
  return 0;
}
