/* acr._sys (see sys.h): subprocess.c's run with stdin bytes, and privfile.c's files
 * and locks.
 * Failures the caller can meet at run time (a program that fails, a directory it may
 * not write) are returned as nil, message; misuse raises, in luax.h's one shape. No
 * message holds what went to stdin or into a file: that is where the secrets are. */
#include <errno.h>
#include <string.h>

#include "luax.h"
#include "privfile.h"
#include "subprocess.h"
#include "sys.h"

#define OUTPUT_MT "acr.sys.Output"
#define LOCK_MT "acr.sys.Lock"
#define DEFAULT_TIMEOUT 30.0
#define MAX_ARGS 4096

/* A run's captured output, in a userdata so that a Lua error (out of memory while the
 * results are pushed) can neither leak it nor leave it unwiped: a program may echo
 * what it was given. */
typedef struct output {
  acr_buf out, err;
} output;

static int output_gc(lua_State *L)
{
  output *o = luaL_checkudata(L, 1, OUTPUT_MT);
  acr_buf_wipe(&o->out);
  acr_buf_wipe(&o->err);
  return 0;
}

static output *new_output(lua_State *L)
{
  output *o = acr_newuserdata(L, sizeof *o);
  memset(o, 0, sizeof *o);
  luaL_setmetatable(L, OUTPUT_MT);
  return o;
}

/* The argv of the list at arg, in a userdata pushed on the stack; its strings stay
 * the list's (which the caller holds for the whole call). */
static const char **check_argv(lua_State *L, int arg)
{
  const char **argv;
  size_t n, i;
  acr_check_table(L, arg);
  n = lua_rawlen(L, arg);
  if (n == 0 || n > MAX_ARGS)
    acr_argerror(L, arg, "a list of 1 to %d strings expected", MAX_ARGS);
  argv = acr_newuserdata(L, (n + 1) * sizeof *argv);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, arg, (int)i + 1);
    if (lua_type(L, -1) != LUA_TSTRING || !acr_is_cstring(L, -1))
      acr_argerror(L, arg, "item %d must be a string without NUL bytes, got %s", (int)i + 1,
                   luaL_typename(L, -1));
    argv[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  if (!argv[0][0])
    acr_argerror(L, arg, "item 1 (the program) must not be empty");
  argv[n] = NULL;
  return argv;
}

/* Option stdin of the options table t (0: none): its bytes, or NULL. */
static const char *opt_stdin(lua_State *L, int t, size_t *len)
{
  *len = 0;
  if (!t)
    return NULL;
  lua_pushliteral(L, "stdin");
  lua_rawget(L, t);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    acr_opterror(L, 2, "stdin", "must be a string, got %s", luaL_typename(L, -1));
  return lua_tolstring(L, -1, len);   /* left on the stack: held for the run */
}

static const char *status_kind(acr_run_status st)
{
  return st == ACR_RUN_TIMEOUT ? "timeout" : st == ACR_RUN_NOT_FOUND ? "not_found" : "error";
}

/* syntax: ok, code_or_err, out, errout, kind = acr._sys.run(argv, {stdin=?, timeout=?,
 *   discard_stdout=?})
 * context: blocking (up to timeout seconds, default 30)
 * Runs argv[1] (searched on PATH unless it holds a '/') with argv, no shell. When it
 * exited: true, its exit status, its stdout, its stderr (each up to 1 MiB). Otherwise
 * nil, a message, what it wrote until then, and kind: "timeout" (it was killed),
 * "not_found" (no such program, or not executable) or "error" (killed by a signal,
 * could not start). discard_stdout: stdout is read (the program never blocks on it)
 * and wiped, never kept; out is "". */
static int sys_run(lua_State *L)
{
  static const char *const allowed[] = {"stdin", "timeout", "discard_stdout", NULL};
  const char **argv;
  int t;
  lua_settop(L, 2);   /* what is pushed from here on stays above the arguments */
  argv = check_argv(L, 1);
  t = acr_check_options(L, 2, 1, allowed);
  double timeout = acr_opt_seconds(L, t, 2, "timeout", DEFAULT_TIMEOUT, 0, 1);
  int discard = acr_opt_bool(L, t, 2, "discard_stdout", 0);
  acr_run_io io = {NULL, 0, NULL, NULL};
  output *o;
  char msg[512];
  int code = -1;
  acr_run_status st;

  io.in = opt_stdin(L, t, &io.inlen);
  o = new_output(L);
  io.out = discard ? NULL : &o->out;   /* NULL: runio reads it into a wiped chunk only */
  io.err = &o->err;
  /* at least 1 ms: a tiny positive timeout is still one */
  st = acr_run_with(argv, &io, (long)(timeout * 1000 + 0.999), &code, msg, sizeof msg);
  if (!lua_checkstack(L, 5)) {
    acr_buf_wipe(&o->out);
    acr_buf_wipe(&o->err);
    return luaL_error(L, "stack overflow");
  }
  if (st == ACR_RUN_OK) {
    lua_pushboolean(L, 1);
    lua_pushinteger(L, code);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, msg);
  }
  lua_pushlstring(L, o->out.data ? o->out.data : "", o->out.len);
  lua_pushlstring(L, o->err.data ? o->err.data : "", o->err.len);
  acr_buf_wipe(&o->out);
  acr_buf_wipe(&o->err);
  if (st == ACR_RUN_OK)
    return 4;
  lua_pushstring(L, status_kind(st));
  return 5;
}

static int failed(lua_State *L, const char *path, const char *what)
{
  int e = errno;
  lua_pushnil(L);
  lua_pushfstring(L, "%s: cannot %s: %s", path, what, strerror(e));
  return 2;
}

/* syntax: ok, err = acr._sys.write_private(path, data)   context: blocking
 * path replaced, atomically and durably, by a file of mode 0600 holding data. */
static int sys_write_private(lua_State *L)
{
  const char *path = acr_check_cstring(L, 1), *what = "";
  size_t len;
  const char *data;
  if (lua_type(L, 2) != LUA_TSTRING)
    acr_typeerror(L, 2, "string");
  data = lua_tolstring(L, 2, &len);
  if (acr_write_private(path, data, len, &what) != 0)
    return failed(L, path, what);
  lua_pushboolean(L, 1);
  return 1;
}

/* syntax: ok, err = acr._sys.append_private(path, data)   context: blocking
 * data appended to path (made 0600), fsync'd: a journal record */
static int sys_append_private(lua_State *L)
{
  const char *path = acr_check_cstring(L, 1), *what = "";
  size_t len;
  if (lua_type(L, 2) != LUA_TSTRING)
    acr_typeerror(L, 2, "string");
  const char *data = lua_tolstring(L, 2, &len);
  if (acr_append_private(path, data, len, &what) != 0)
    return failed(L, path, what);
  lua_pushboolean(L, 1);
  return 1;
}

/* syntax: ok, err = acr._sys.remove(path)   context: blocking
 * The file removed and its directory synced; one that is not there is not an error. */
static int sys_remove(lua_State *L)
{
  const char *path = acr_check_cstring(L, 1), *what = "";
  if (acr_remove_synced(path, NULL, &what) != 0)
    return failed(L, path, what);
  lua_pushboolean(L, 1);
  return 1;
}

/* syntax: ok, err = acr._sys.mkdir_private(path)   context: blocking
 * mkdir -p, each directory it makes of mode 0700. */
static int sys_mkdir_private(lua_State *L)
{
  const char *path = acr_check_cstring(L, 1), *what = "";
  if (acr_mkdir_private(path, &what) != 0)
    return failed(L, path, what);
  lua_pushboolean(L, 1);
  return 1;
}

/* syntax: n, err = acr._sys.sweep_tmp(dir)   context: blocking
 * Removes write_private's temporary files (".acr-tmp-" and 16 hex digits) left in dir
 * by a run killed half-way through a write; n of them. Only for a directory no other
 * process writes to now (its writer holds a lock). A dir that is not there has none. */
static int sys_sweep_tmp(lua_State *L)
{
  const char *dir = acr_check_cstring(L, 1), *what = "";
  int n = 0;
  if (acr_sweep_temp(dir, &n, &what) != 0)
    return failed(L, dir, what);
  lua_pushinteger(L, n);
  return 1;
}

/* A lock acr._sys.lock took: fd -1 once released. Made released, with its metatable,
 * before the lock is taken, so that __gc can always release it. */
typedef struct lock_handle {
  int fd;
} lock_handle;

/* syntax: h:unlock()  -- idempotent; also __gc and, on 5.4, __close */
static int lock_unlock(lua_State *L)
{
  lock_handle *h = acr_check_udata(L, 1, LOCK_MT, LOCK_MT);
  acr_unlock_file(&h->fd);
  return 0;
}

static int lock_held(lua_State *L)
{
  lock_handle *h = acr_check_udata(L, 1, LOCK_MT, LOCK_MT);
  lua_pushboolean(L, h->fd >= 0);
  return 1;
}

/* syntax: h, err, kind = acr._sys.lock(path)   context: blocking (never waits)
 * An exclusive flock(2) on path (made, mode 0600, when it is not there), held until
 * h:unlock() or h is collected. When another open of it holds the lock (another
 * process, or another lock of this one): nil, a message, "busy"; another failure:
 * nil, a message, "error". h:held() says whether h still holds it. */
static int sys_lock(lua_State *L)
{
  const char *path = acr_check_cstring(L, 1), *what = "";
  lock_handle *h = acr_newuserdata(L, sizeof *h);
  int e;
  h->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  if (acr_lock_file(path, &h->fd, &what) == 0)
    return 1;
  e = errno;
  failed(L, path, what);
  lua_pushstring(L, e == EAGAIN ? "busy" : "error");
  return 3;
}

int acr_sys_open(lua_State *L)
{
  static const luaL_Reg fns[] = {
    {"run", sys_run}, {"write_private", sys_write_private}, {"append_private", sys_append_private},
    {"remove", sys_remove},
    {"mkdir_private", sys_mkdir_private}, {"sweep_tmp", sys_sweep_tmp}, {"lock", sys_lock},
    {NULL, NULL}
  };
  static const luaL_Reg lock_methods[] = {
    {"unlock", lock_unlock}, {"held", lock_held}, {NULL, NULL}
  };
  acr_newmetatable(L, OUTPUT_MT);
  lua_pushcfunction(L, output_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  acr_newmetatable(L, LOCK_MT);
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "__close");
  lua_newtable(L);
  acr_setfuncs(L, lock_methods, "");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  acr_setfuncs(L, fns, "acr._sys.");
  lua_setfield(L, -2, "_sys");
  return 0;
}
