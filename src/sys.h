/* acr._sys: the system calls the module's Lua parts (the desired-state sinks and
 * ledger) need and Lua's io lacks. Internal: not part of the documented API. */
#ifndef ACR_SYS_H
#define ACR_SYS_H

#include "compat.h"

/* Sets the table acr._sys on the module table at the top of the stack. */
int acr_sys_open(lua_State *L);

#endif
