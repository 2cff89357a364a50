/* Name and id rules for what the server sends back: see names.h. */
#include <string.h>
#include <strings.h>

#include "names.h"

int acr_name_valid(const char *name, size_t len, int is_token)
{
  if (!name || len < 5 || len > 50 || strlen(name) != len)  /* no embedded NUL */
    return 0;
  return strspn(name, is_token ? ACR_ALNUM "-" : ACR_ALNUM "-_") == len;
}

int acr_registry_name_valid(const char *name, size_t len)
{
  return name && len >= 5 && len <= 50 && strlen(name) == len && strspn(name, ACR_ALNUM) == len;
}

int acr_resource_group_valid(const char *name, size_t len)
{
  return name && len >= 1 && len <= 90 && strlen(name) == len &&
         strspn(name, ACR_ALNUM "-_.()") == len && name[len - 1] != '.';
}

size_t acr_name_id_of_registry(const char *id, size_t len, const char *registry_path,
                               int is_token)
{
  const char *coll = is_token ? "/tokens/" : "/scopeMaps/";
  size_t rl = strlen(registry_path), cl = strlen(coll);
  if (!id || strlen(id) != len || len <= rl + cl)
    return 0;
  if (strncasecmp(id, registry_path, rl) || strncasecmp(id + rl, coll, cl))
    return 0;
  return acr_name_valid(id + rl + cl, len - rl - cl, is_token) ? rl + cl : 0;
}

int acr_api_version_valid(const char *s)
{
  size_t n = strlen(s);
  return n > 0 && strspn(s, ACR_ALNUM ".-") == n;
}

/* ---- scope map actions (the emulator's lua/acr/emulator/actions.lua is the same rule) ---- */

#define ACR_LOWER_DIGIT "abcdefghijklmnopqrstuvwxyz0123456789"

static int lower_alnum(char ch)
{
  return ch && strchr(ACR_LOWER_DIGIT, ch) != NULL;
}

/* One path component of a repository: lower-case letters and digits, with '.', '_' and
 * '-' allowed inside but not first or last (Docker's grammar, more or less). */
static int component_valid(const char *s, size_t len)
{
  if (len == 0 || !lower_alnum(s[0]) || !lower_alnum(s[len - 1]))
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!lower_alnum(s[i]) && !strchr("._-", s[i]))
      return 0;
  return 1;
}

/* "*", or components joined by '/', optionally ending in a "*" component (a prefix
 * wildcard: "team" followed by "/" and "*" is every repository under team/). */
static int repository_valid(const char *s, size_t len)
{
  if (len == 1 && s[0] == '*')
    return 1;
  if (len == 0 || len > 256)
    return 0;
  if (len > 2 && s[len - 2] == '/' && s[len - 1] == '*')
    len -= 2;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '/') {
      if (!component_valid(s + start, i - start))
        return 0;
      start = i + 1;
    }
  }
  return 1;
}

/* Whether s ends in one of the verbs; sets *verb_at to where it starts, after a '/'. */
static int ends_in_verb(const char *s, size_t len, const char *const *verbs, size_t *verb_at)
{
  for (int i = 0; verbs[i]; i++) {
    size_t vl = strlen(verbs[i]);
    if (len > vl && s[len - vl - 1] == '/' && !memcmp(s + len - vl, verbs[i], vl)) {
      *verb_at = len - vl;
      return 1;
    }
  }
  return 0;
}

int acr_action_valid(const char *s, size_t len)
{
  static const char *const repo_verbs[] = {"content/read", "content/write", "content/delete",
                                           "metadata/read", "metadata/write", NULL};
  static const char *const gw_verbs[] = {"config/read", "config/write", "message/read",
                                         "message/write", NULL};
  static const char repo[] = "repositories/", gw[] = "gateway/";
  size_t at;
  if (!s || strlen(s) != len)
    return 0;
  if (len > sizeof repo - 1 && !memcmp(s, repo, sizeof repo - 1)) {
    s += sizeof repo - 1, len -= sizeof repo - 1;
    return ends_in_verb(s, len, repo_verbs, &at) && repository_valid(s, at - 1);
  }
  if (len > sizeof gw - 1 && !memcmp(s, gw, sizeof gw - 1)) {
    s += sizeof gw - 1, len -= sizeof gw - 1;
    if (!ends_in_verb(s, len, gw_verbs, &at))
      return 0;
    return at - 1 >= 5 && at - 1 <= 50 && strspn(s, ACR_ALNUM) == at - 1;
  }
  return 0;
}
