/* respond.c — JSON and error responses, times, query parameters. */
#include "api/internal.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void api_reply_json(api_request *req, unsigned status, json_t *body)
{
        if (req->response)
                json_decref(req->response);
        req->status = status;
        req->response = body;
}

void api_reply_error(api_request *req, const hd_error *err)
{
        api_reply_json(req, api_status_for(err->code),
                       json_pack("{s:{s:s,s:s}}", "error", "code", hd_errcode_name(err->code), "message",
                                 err->message));
}

void api_reply_errorf(api_request *req, hd_errcode code, const char *fmt, ...)
{
        hd_error err = {.code = code};
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
        api_reply_error(req, &err);
}

json_t *api_json_time(long long t)
{
        char buf[32];
        time_t tt = (time_t)t;
        struct tm tm;

        if (t <= 0)
                return json_null();
        gmtime_r(&tt, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
}

const char *api_query(const api_request *req, const char *key)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}
