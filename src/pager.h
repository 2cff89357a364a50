/* nextLink paging: an acr.Pager holds one page at a time. */
#ifndef ACR_PAGER_H
#define ACR_PAGER_H

#include "compat.h"
#include "operation.h"

#define ACR_PAGER_MT "acr.Pager"

int acr_pager_open(lua_State *L);

/* Pushes a pager over url (absolute, trusted) for the client at cidx.
 * items_key/next_key: the page's fields; api_version: set on every nextLink (NULL: keep). */
void acr_pager_push(lua_State *L, int cidx, const char *url, acr_shape item_shape,
                    const char *items_key, const char *next_key, const char *api_version);

#endif
