/* sse.c — reading a text/event-stream body as it arrives, in pieces of any
 * size: lines end with CR LF, LF or CR; "field: value" lines build a
 * message, a blank line ends it; comments (":") and unknown fields are
 * skipped. The id of the last message is kept for a reconnect. */
#include "tools/wsctl/wsctl.h"

#include <string.h>

void wsctl_sse_restart(wsctl_sse *p)
{
        hd_buf_reset(&p->line);
        hd_buf_reset(&p->data);
        p->has_data = false;
        p->after_cr = false;
        p->event[0] = p->id[0] = '\0';
}

void wsctl_sse_clear(wsctl_sse *p)
{
        hd_buf_free(&p->line);
        hd_buf_free(&p->data);
}

static int end_message(wsctl_sse *p, wsctl_sse_fn fn, void *opaque)
{
        int r = 0;

        if (p->has_data) {
                if (p->id[0])
                        snprintf(p->last_id, sizeof(p->last_id), "%s", p->id);
                r = fn(opaque, p->event[0] ? p->event : "message", p->id, p->data.data ? p->data.data : "");
        }
        hd_buf_reset(&p->data);
        p->has_data = false;
        p->event[0] = p->id[0] = '\0';
        return r;
}

static int line_done(wsctl_sse *p, wsctl_sse_fn fn, void *opaque)
{
        const char *line = p->line.data ? p->line.data : "";
        const char *colon = strchr(line, ':');
        size_t flen = colon ? (size_t)(colon - line) : strlen(line);
        const char *value = colon ? colon + 1 + (colon[1] == ' ') : "";
        int r = 0;

        if (!*line)
                r = end_message(p, fn, opaque);
        else if (flen == 4 && strncmp(line, "data", 4) == 0) {
                if (p->has_data)
                        hd_buf_append(&p->data, "\n");
                hd_buf_append(&p->data, value);
                p->has_data = true;
        } else if (flen == 5 && strncmp(line, "event", 5) == 0)
                snprintf(p->event, sizeof(p->event), "%s", value);
        else if (flen == 2 && strncmp(line, "id", 2) == 0)
                snprintf(p->id, sizeof(p->id), "%s", value);
        /* comments, retry and unknown fields: nothing to do */
        hd_buf_reset(&p->line);
        return r;
}

int wsctl_sse_feed(wsctl_sse *p, const char *buf, size_t len, wsctl_sse_fn fn, void *opaque)
{
        for (size_t i = 0; i < len; i++) {
                char c = buf[i];
                int r;

                if (c == '\n' && p->after_cr) {
                        p->after_cr = false;
                        continue;
                }
                p->after_cr = c == '\r';
                if (c != '\n' && c != '\r') {
                        if (c != '\0')
                                hd_buf_append_len(&p->line, &c, 1);
                        continue;
                }
                r = line_done(p, fn, opaque);
                if (r)
                        return r;
        }
        return 0;
}
