/* Name rules of the OpenAPI document, as predicates: the one copy of each rule, used by
 * the raising checks of callers' arguments (client.c, request.c) and for names and ids
 * that come from the server's answers, which are checked before they become part of a
 * URL (resource.c). */
#ifndef ACR_NAMES_H
#define ACR_NAMES_H

#include <stddef.h>

#include "compat.h"

#define ACR_ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* registryName ^[a-zA-Z0-9]*$, 5 to 50 characters. */
int acr_registry_name_valid(const char *name, size_t len);

/* resourceGroupName ^[-\w\._\(\)]+$, 1 to 90 characters, not ending in '.' (so never "."
 * or ".."); \w is taken as ASCII, as the name is put into the URL path as it is. */
int acr_resource_group_valid(const char *name, size_t len);

/* scopeMapName ^[a-zA-Z0-9-_]*$, tokenName ^[a-zA-Z0-9-]*$, both 5 to 50 characters. */
int acr_name_valid(const char *name, size_t len, int is_token);

/* A resource id "<registry_path>/<collection>/<valid name>" (compared case-insensitively,
 * as ARM ids are), collection "scopeMaps" or "tokens". Returns the name's offset in id,
 * or 0 when id is not one. */
size_t acr_name_id_of_registry(const char *id, size_t len, const char *registry_path,
                               int is_token);

/* An api-version: letters, digits, '.' and '-' (2019-05-01-preview), not empty. */
int acr_api_version_valid(const char *s);

/* A scope map action as ACR accepts it: repositories/<repository>/content/read|write|delete
 * or metadata/read|write, where <repository> is "*", or lower-case path components joined by
 * '/', optionally ending in a "*" component; or gateway/<connected registry>/config|message/read|write,
 * the connected registry 5 to 50 letters and digits. A typo in an action would otherwise be
 * sent and answered 400 by ARM (or, worse, accepted by a lenient server and match nothing). */
int acr_action_valid(const char *s, size_t len);

#endif
