/* acr.Client: configuration, endpoints, URL building and name validation. */
#ifndef ACR_CLIENT_H
#define ACR_CLIENT_H

#include "compat.h"
#include "buf.h"
#include "http.h"
#include "pacer.h"
#include "retry.h"
#include "url.h"

#define ACR_CLIENT_MT "acr.Client"

struct acr_pool;
struct acr_xfer;

typedef struct acr_client {
  struct acr_pool *pool;   /* the multi handle and its transfers (pool.c) */
  struct acr_xfer *xfers;  /* requests out (driver.c) */
  int token_fetches;       /* token requests out: at most one (single flight) */
  double token_hold_until; /* monotonic: no token request before then (a back-off) */
  unsigned long ended;     /* operations ended by the driver, for client:drive() */
  /* The soonest time a started operation without a request out is due (driver.c),
   * so a wake walks the started ones only when one may be due: due_dirty says the
   * estimate is unknown (operations held for the token request were released). */
  double due_at;
  double due_walked;       /* the last walk: one a second at least, whatever is known */
  int due_dirty;
  /* Of each kind (ACR_KIND_*), how many operations the pacer holds back (as the last
   * walk counted them, at least 1 once one is held since), and when the last of them
   * went (driver.c). */
  int held[ACR_KINDS];
  double held_let[ACR_KINDS];
  acr_pacer pacer;         /* ARM's rate limits, for all of the client's requests */
  long max_connections;
  char *endpoint;          /* "https://management.azure.com": no trailing slash */
  acr_origin origin;       /* the only origin that ever sees the bearer token */
  char *registry_path;     /* "/subscriptions/…/registries/{name}" */
  char *api_version;
  char *user_agent;
  char *scope;             /* "{audience}/.default": what credentials ask tokens for */
  char *resource;          /* "{audience}": the same for IMDS, App Service and az */
  char *authority;         /* the cloud's Entra ID host, unless the credential has one */
  double timeout;          /* per request, seconds */
  double poll_interval;    /* when the service gives no Retry-After */
  double lro_timeout;      /* whole operation; 0 = none */
  acr_retry_policy retry;
  unsigned seed;           /* jitter PRNG */
  int closed;
} acr_client;

int acr_client_open(lua_State *L);
acr_client *acr_check_client(lua_State *L, int idx);   /* raises when closed */

/* Pushes the absolute URL of a registry child: "{registry}/{collection}[/{name}]"
 * with the client's api-version. name may be NULL. */
void acr_client_push_url(lua_State *L, acr_client *c, const char *collection, const char *name);

/* Pushes the credential / logger kept in the client's uservalue (or nil). */
void acr_client_push_field(lua_State *L, int cidx, const char *field);

/* Calls the client's logger, if any, with (level, message). Errors in it are ignored. */
void acr_client_log(lua_State *L, int cidx, const char *level, const char *msg);

/* Name rules of the OpenAPI document: raise a Lua error naming argument arg. */
void acr_check_scope_map_name(lua_State *L, int arg, const char *name);
void acr_check_token_name(lua_State *L, int arg, const char *name);

#endif
