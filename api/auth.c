/* auth.c — who is asking: the peer's credentials on the unix socket, or the
 * bearer token of the Authorization header (an hostd API token or an OIDC
 * JWT, handled by auth-token.c and auth-oidc.c). */
#include "api/internal.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <grp.h>
#include <microhttpd.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const char *api_header(const api_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The unix user's groups, by name (the primary group first), into
 * groups[*n..API_MAX_GROUPS). */
static void unix_groups(char groups[][API_NAME_MAX], size_t *n_out, const char *user, gid_t primary)
{
        gid_t gids[API_MAX_GROUPS];
        int n = API_MAX_GROUPS;
        char buf[4096];

        if (getgrouplist(user, primary, gids, &n) < 0)
                n = API_MAX_GROUPS;
        for (int i = 0; i < n && *n_out < API_MAX_GROUPS; i++) {
                struct group gr, *res = NULL;
                if (getgrgid_r(gids[i], &gr, buf, sizeof(buf), &res) == 0 && res)
                        snprintf(groups[(*n_out)++], API_NAME_MAX, "%s", res->gr_name);
        }
}

/* On the unix socket the kernel vouches for the peer: root is an admin (the
 * host's operator), any other user a member named after its account, unless
 * a user record of that name says otherwise (auth-token.c). */
static int auth_peer(api_request *req, hd_error *err)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        api_caller *c = &req->caller;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct passwd pw, *res = NULL;
        char pwbuf[4096];

        if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "cannot read the peer's credentials on the unix socket");
        req->peer_uid = cred.uid;
        snprintf(req->source, sizeof(req->source), "unix:uid=%u", (unsigned)cred.uid);
        if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "uid %u has no user account on this host",
                                    (unsigned)cred.uid);
        snprintf(c->user, sizeof(c->user), "%s", res->pw_name);
        unix_groups(c->groups, &c->n_groups, res->pw_name, res->pw_gid);
        c->roles = cred.uid == 0 ? API_ROLE_ADMIN : API_ROLE_MEMBER;
        c->method = "unix";
        snprintf(c->credential, sizeof(c->credential), "uid %u", (unsigned)cred.uid);
        if (api_apply_user_record(req, cred.uid == 0, err) < 0)
                return -1;
        c->authenticated = true;
        return 0;
}

static int auth_bearer(api_request *req, const char *authz, hd_error *err)
{
        const char *token;

        if (strncasecmp(authz, "Bearer ", 7) != 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the Authorization header must be 'Bearer TOKEN'");
        token = authz + 7;
        while (*token == ' ')
                token++;
        if (!*token)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the Authorization header carries no token");
        /* A JWT has three base64url parts; hostd's own tokens have none. */
        if (strchr(token, '.'))
                return api_auth_oidc(req, token, err);
        return api_auth_token(req, token, err);
}

/* The groups of the user an admin acts for: its user record's, else its
 * unix account's, else none. */
static void behalf_groups(api_caller *c, orch_store *st, const char *who)
{
        _cleanup_(orch_user_freep) orch_user *u = orch_store_user_get(st, who, NULL);
        struct passwd pw, *res = NULL;
        char pwbuf[4096];

        c->n_behalf_groups = 0;
        if (u) {
                for (size_t i = 0; i < u->n_groups && i < API_MAX_GROUPS; i++)
                        snprintf(c->behalf_groups[c->n_behalf_groups++], API_NAME_MAX, "%s", u->groups[i]);
        } else if (getpwnam_r(who, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res) {
                unix_groups(c->behalf_groups, &c->n_behalf_groups, res->pw_name, res->pw_gid);
        }
}

/* An admin acting for a user says so with X-On-Behalf-Of. */
static int on_behalf(api_request *req, hd_error *err)
{
        const char *who = api_header(req, "X-On-Behalf-Of");

        if (!who)
                return 0;
        if (!(req->caller.roles & API_ROLE_ADMIN))
                return hd_error_set(err, HD_E_FORBIDDEN, "only an admin may act on behalf of another user");
        if (!*who || strlen(who) >= API_NAME_MAX || strspn(who, "abcdefghijklmnopqrstuvwxyz0123456789._-@") != strlen(who))
                return hd_error_set(err, HD_E_INVALID, "X-On-Behalf-Of must be a user name (a-z, 0-9, . _ - @)");
        snprintf(req->caller.on_behalf_of, sizeof(req->caller.on_behalf_of), "%s", who);
        behalf_groups(&req->caller, api_store(req), who);
        return 0;
}

int api_authenticate(api_request *req, hd_error *err)
{
        const char *authz = api_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
        int r;

        memset(&req->caller, 0, sizeof(req->caller));
        if (authz)
                r = auth_bearer(req, authz, err);
        else if (req->on_unix_socket)
                r = auth_peer(req, err);
        else
                r = hd_error_set(err, HD_E_UNAUTHENTICATED,
                                 "no credentials: send 'Authorization: Bearer TOKEN' (wsctl login)");
        if (r < 0) {
                memset(&req->caller, 0, sizeof(req->caller));
                return -1;
        }
        return on_behalf(req, err);
}
