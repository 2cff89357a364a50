/* Credentials and their token cache. A credential hands the operation a bearer token;
 * one that must fetch a token does so through a request the operation sends, so every
 * driver (libcurl, or cosockets in nginx) performs it the same way. Only the Azure CLI
 * credential gets its token without a request: it runs `az`, blocking. */
#ifndef ACR_AUTH_H
#define ACR_AUTH_H

#include "compat.h"
#include "buf.h"

#define ACR_CREDENTIAL_MT "acr.Credential"

typedef enum acr_credential_kind {
  ACR_CRED_STATIC = 0,
  ACR_CRED_CLIENT_SECRET,
  ACR_CRED_CLIENT_CERTIFICATE,
  ACR_CRED_WORKLOAD_IDENTITY,
  ACR_CRED_MANAGED_IDENTITY,
  ACR_CRED_AZURE_CLI,
  ACR_CRED_CHAIN
} acr_credential_kind;

struct acr_cert;

typedef struct acr_credential {
  acr_credential_kind kind;
  int closed;
  /* the cache: one token, for one scope */
  acr_buf token;            /* wiped when replaced or collected */
  unsigned long generation; /* tokens cached so far: which one an answer was for */
  double expires_on;        /* epoch seconds; 0 = unknown (static) */
  double refresh_on;        /* when to fetch a new one (before expires_on) */
  double refresh_failed_at; /* a refresh failed then: the cached token serves a while */
  char *scope;              /* what the cached token is for */
  /* identity */
  char *tenant_id, *client_id, *authority_host;
  acr_buf secret;           /* client secret; wiped */
  struct acr_cert *cert;    /* client certificate and key */
  int send_chain;
  char *token_file;         /* workload identity */
  acr_buf assertion;        /* its content, wiped */
  double assertion_read_at;
  /* managed identity: which identity, and where to ask */
  char *mi_id_param, *mi_id_value;   /* e.g. "client_id", "…" */
  char *identity_endpoint;           /* App Service (IDENTITY_ENDPOINT) */
  acr_buf identity_header;           /* IDENTITY_HEADER; wiped */
  char *imds_endpoint;
  int attempt;                       /* IMDS retries of the current fetch */
  int unavailable;                   /* the last fetch failed as "not configured here" */
  char token_host[272];              /* host:port the last token request went to */
  /* Azure CLI */
  char *az_path;
  double cli_timeout;
  /* chain: members live in the uservalue; which one is being tried, which worked */
  int chain_pos, chain_chosen, chain_len;
} acr_credential;

int acr_auth_open(lua_State *L);  /* sets module.credential */
acr_credential *acr_check_credential(lua_State *L, int idx);

/* The cached token when usable for scope now (not within 5 minutes of expiry, unless it
 * cannot be refreshed), else NULL. For a chain, the chosen member's. */
const char *acr_credential_token(lua_State *L, int idx, const char *scope);
/* A token still valid (even inside the refresh window): used when a refresh fails. */
const char *acr_credential_valid_token(lua_State *L, int idx, const char *scope);
/* Whether dropping the token and asking again can give a different one (not static). */
int acr_credential_can_refresh(lua_State *L, int idx);
void acr_credential_invalidate(lua_State *L, int idx);
/* A refresh failed while the cached token is still valid: for a while, that token is
 * handed out as usable, so the operations waiting for the refresh do not each try. */
void acr_credential_refresh_failed(lua_State *L, int idx);
/* Changes whenever a new token is cached (for a chain, the chosen member's). A 401 for
 * a request sent with an older token must not drop the newer one. */
unsigned long acr_credential_generation(lua_State *L, int idx);
/* Caches tok[0..len) for scope until expires_on (epoch seconds), wiping the token it
 * replaces. 0, or -1 out of memory, -3 when it has already expired. */
int acr_credential_cache(acr_credential *c, const char *scope, const char *tok, size_t len,
                         double expires_on);

/* What the token fetch needs from the client. */
typedef struct acr_token_target {
  const char *scope;        /* "{audience}/.default" */
  const char *resource;     /* "{audience}" for IMDS / App Service / az */
  const char *authority;    /* the client's authority host, when the credential has none */
} acr_token_target;

typedef enum acr_auth_step {
  ACR_AUTH_REQUEST = 1,     /* *req was filled in: send it, feed the answer */
  ACR_AUTH_READY = 0,       /* a token is now cached */
  ACR_AUTH_FAILED = -1      /* an acr.Error was pushed */
} acr_auth_step;

/* A token request, kept in C memory for the C driver: the form holds the client secret
 * or an assertion, and a header value may be App Service's secret. Nothing of it becomes
 * a Lua string unless another driver asks for it (acr_auth_request_push). */
typedef struct acr_auth_request {
  const char *method;          /* "POST" or "GET" */
  acr_buf url;
  acr_buf body;                /* the form; empty for a GET */
  const char *headers[5];      /* name, value, …, NULL; a value may point into the
                                  credential, so use them before it can change */
  double timeout;              /* seconds; 0: the operation's */
} acr_auth_request;

void acr_auth_request_init(acr_auth_request *r);
void acr_auth_request_free(acr_auth_request *r);   /* wipes the URL and the form */
/* Pushes what op:next_request() gives other drivers:
 * {method=, url=, headers=, body=?, timeout=?, auth=true}. */
void acr_auth_request_push(lua_State *L, const acr_auth_request *r);

/* Starts or continues a token fetch: fills in *req (initialised by the caller, who frees
 * it), or fetches synchronously (Azure CLI), or fails. */
acr_auth_step acr_credential_request(lua_State *L, int idx, const acr_token_target *t,
                                     acr_auth_request *req);

typedef enum acr_auth_outcome {
  ACR_AUTH_OK = 0,          /* token cached */
  ACR_AUTH_AGAIN,           /* ask acr_credential_request again (retry or next in chain);
                               *delay says when */
  ACR_AUTH_ERROR            /* an acr.Error was pushed */
} acr_auth_outcome;

/* The answer to a token request. The body is bytes, a Lua string's or the C driver's
 * buffer: a token in it is read in C (jsonscan.h), so it is only ever copied into the
 * credential's cache. */
typedef struct acr_auth_answer {
  long status;
  int hdr;                     /* stack index of the headers table (lower-case), or 0 */
  const char *body;            /* NULL: none */
  size_t body_len;
  const char *terr, *tmsg;     /* a transport error name and message, instead */
} acr_auth_answer;

/* Consumes the answer to the last request. */
acr_auth_outcome acr_credential_feed(lua_State *L, int idx, const acr_token_target *t,
                                     const acr_auth_answer *a, double *delay);

#endif
