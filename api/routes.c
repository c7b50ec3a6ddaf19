/* routes.c — match a method and path against the route table (api/handlers.c). */
#include "api/internal.h"

#include <string.h>

/* Compare one pattern with a path, segment by segment; {x} matches any one
 * non-empty segment, copied into storage and pointed to by params. */
static bool match(const char *pattern, const char *path, const char *params[API_MAX_PARAMS],
                  char storage[], size_t storage_len)
{
        size_t used = 0;
        int np = 0;

        while (*pattern && *path) {
                if (*pattern != '/' || *path != '/')
                        return false;
                pattern++;
                path++;
                size_t plen = strcspn(pattern, "/"), slen = strcspn(path, "/");
                if (pattern[0] == '{') {
                        if (slen == 0 || np >= API_MAX_PARAMS || used + slen + 1 > storage_len)
                                return false;
                        memcpy(storage + used, path, slen);
                        storage[used + slen] = '\0';
                        params[np++] = storage + used;
                        used += slen + 1;
                } else if (plen != slen || strncmp(pattern, path, plen) != 0) {
                        return false;
                }
                pattern += plen;
                path += slen;
        }
        return *pattern == '\0' && *path == '\0';
}

int api_route_match(const char *method, const char *path, const api_route **route,
                    const char *params[API_MAX_PARAMS], char storage[], size_t storage_len)
{
        bool path_known = false;

        for (size_t i = 0; i < api_routes_count; i++) {
                if (!match(api_routes[i].pattern, path, params, storage, storage_len))
                        continue;
                path_known = true;
                if (strcmp(api_routes[i].method, method) == 0) {
                        *route = &api_routes[i];
                        return 0;
                }
        }
        return path_known ? 405 : 404;
}
