/* test-api-routes.c — docs/openapi.yaml and the server's route table agree:
 * every path+method documented is served, every route served is documented;
 * and route matching answers 404/405 as the API promises. */
#include "api/internal.h"
#include "tests/fixture.h"

#include <ctype.h>

#define MAX_DOC_ROUTES 64

typedef struct doc_route {
        char method[8];
        char path[128];
} doc_route;

/* The paths: section, read by indentation: "  /v1/x:" then "    get:". */
static size_t read_openapi(doc_route *out, size_t max)
{
        _cleanup_free_ char *path = tl_src_path("docs/openapi.yaml");
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[512], current[128] = "";
        bool in_paths = false;
        size_t n = 0;

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f) && n < max) {
                line[strcspn(line, "\n")] = '\0';
                if (strcmp(line, "paths:") == 0) {
                        in_paths = true;
                        continue;
                }
                if (in_paths && line[0] && line[0] != ' ')
                        break;
                if (in_paths && strncmp(line, "  /", 3) == 0 && line[strlen(line) - 1] == ':') {
                        snprintf(current, sizeof(current), "%.*s", (int)strlen(line) - 3, line + 2);
                        continue;
                }
                if (in_paths && *current && strncmp(line, "    ", 4) == 0 && isalpha((unsigned char)line[4])) {
                        static const char *const methods[] = {"get", "post", "put", "delete", "patch"};
                        for (size_t i = 0; i < HD_ARRAY_SIZE(methods); i++) {
                                size_t len = strlen(methods[i]);
                                if (strncmp(line + 4, methods[i], len) == 0 && line[4 + len] == ':') {
                                        for (size_t k = 0; k < len; k++)
                                                out[n].method[k] = (char)toupper((unsigned char)methods[i][k]);
                                        out[n].method[len] = '\0';
                                        snprintf(out[n].path, sizeof(out[n].path), "%s", current);
                                        n++;
                                }
                        }
                }
        }
        return n;
}

int main(void)
{
        doc_route doc[MAX_DOC_ROUTES];
        size_t n = read_openapi(doc, MAX_DOC_ROUTES);
        const char *params[API_MAX_PARAMS];
        const api_route *route;
        char storage[256];

        CHECK(n >= 10, "docs/openapi.yaml documents the routes");
        for (size_t i = 0; i < n; i++) {
                bool served = false;
                for (size_t k = 0; k < api_routes_count; k++)
                        served |= strcmp(api_routes[k].method, doc[i].method) == 0 &&
                                  strcmp(api_routes[k].pattern, doc[i].path) == 0;
                char *what = hd_asprintf("documented %s %s is served", doc[i].method, doc[i].path);
                CHECK(served, what);
                free(what);
        }
        for (size_t k = 0; k < api_routes_count; k++) {
                bool documented = false;
                for (size_t i = 0; i < n; i++)
                        documented |= strcmp(api_routes[k].method, doc[i].method) == 0 &&
                                      strcmp(api_routes[k].pattern, doc[i].path) == 0;
                char *what = hd_asprintf("served %s %s is documented", api_routes[k].method, api_routes[k].pattern);
                CHECK(documented, what);
                free(what);
                what = hd_asprintf("%s %s names the permission it needs (default deny)", api_routes[k].method,
                                   api_routes[k].pattern);
                CHECK(api_routes[k].perm != API_PERM_NONE && api_routes[k].perm < API_PERM__COUNT, what);
                free(what);
        }
        CHECK(api_route_match("POST", "/v1/workspaces/box/stop", &route, params, storage, sizeof(storage)) == 0 &&
                      strcmp(params[0], "box") == 0,
              "a {ref} segment is captured");
        CHECK(api_route_match("GET", "/v1/workspaces/box/stop", &route, params, storage, sizeof(storage)) == 405,
              "a known path with the wrong method is 405");
        CHECK(api_route_match("GET", "/v1/workspaces//stop", &route, params, storage, sizeof(storage)) == 404,
              "an empty segment matches nothing");
        CHECK(api_route_match("GET", "/v1/workspaces/a/b/c", &route, params, storage, sizeof(storage)) == 404,
              "extra segments match nothing");
        CHECK(api_status_for(HD_E_UNUSABLE_IMAGE) == 422 && api_status_for(HD_E_NO_RESOURCES) == 503 &&
                      api_status_for(HD_E_CONFLICT) == 409 && api_status_for(HD_E_TOO_LARGE) == 413 &&
                      api_status_for(HD_E_LIBVIRT) == 500 && api_status_for(HD_E_UNAUTHENTICATED) == 401 &&
                      api_status_for(HD_E_FORBIDDEN) == 403,
              "error codes map to the documented statuses");
        return tl_done();
}
