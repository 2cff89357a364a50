/* A Lua 5.4 interpreter linked with AddressSanitizer and UndefinedBehaviorSanitizer, for
 * the sanitizer flavour of the specs: lua5.4-asan [-e STAT]... [SCRIPT [ARGS...]].
 *
 * Why a program of our own rather than Debian's lua5.4 with the runtime preloaded: a
 * program linked with -fsanitize=address starts the runtime from .preinit_array, before
 * any library's constructor, and it is linked with the module's libraries (libcurl,
 * OpenSSL), so every thread-local block in the process is static TLS. Loaded later by
 * dlopen, libcurl's dependencies (gnutls, p11-kit, libstdc++) get dynamic TLS blocks,
 * which glibc 2.36 takes from ASan's malloc; GCC 12's libsanitizer sizes such a block
 * with a glibc 2.19 heuristic (a block that starts 16 bytes into a page is read as
 * preceded by a {size, start} header), so one that lands there is taken from ASan's
 * chunk header as a bogus range of gigabytes, and LeakSanitizer's tracer faults
 * scanning it at exit ("Tracer caught signal 11"). Preloading those libraries instead
 * runs their constructors before the runtime's, which deadlocked p11-kit's destructor
 * on the locale lock. Fixed upstream in LLVM 17; Debian 12 ships GCC 12 and clang 16.
 *
 * arg is built as lua.c builds it (arg[0] the script, arg[-1] this program), the chunk
 * gets the arguments as ..., and an error ends the process with status 1 and a
 * traceback on stderr. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL && luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
    return 1;   /* an error object that says what it is (an acr.Error): as it says */
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int report(lua_State *L, int status, const char *progname) {
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

static int docall(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, 0, base);
  lua_remove(L, base);
  return status;
}

/* arg = { [-n] = progname and options, [0] = script, [1..] = its arguments } */
static void make_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int run(lua_State *L, int argc, char **argv) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "-e") == 0; i += 2) {
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: '-e' needs an argument\n", argv[0]);
      return LUA_ERRRUN;
    }
    int st = luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)");
    if (st == LUA_OK) st = docall(L, 0);
    if (report(L, st, argv[0]) != LUA_OK) return st;
  }
  if (i >= argc) return LUA_OK;
  make_arg(L, argv, argc, i);
  int st = luaL_loadfile(L, argv[i]);
  if (st == LUA_OK) {
    luaL_checkstack(L, argc - i + 3, "too many arguments to script");
    for (int k = i + 1; k < argc; k++) lua_pushstring(L, argv[k]);
    st = docall(L, argc - i - 1);
  }
  return report(L, st, argv[0]);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  luaL_openlibs(L);
  lua_pushboolean(L, run(L, argc, argv) == LUA_OK);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", argv[0]);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int ok = status == LUA_OK && lua_toboolean(L, -1);
  if (status != LUA_OK) report(L, status, argv[0]);
  lua_close(L);
  return ok ? 0 : 1;
}
