/* messages.c — protocol version 1 messages: the ones the agent sends (hello,
 * ready, heartbeat, startup) and reading the ones hostd sends (welcome, error).
 * docs/agent-protocol.md is the reference for every field. */
#include "agent/agent.h"

#include <stdio.h>
#include <string.h>

static ssize_t finish(ag_jw *w)
{
        ssize_t len = ag_jw_finish(w);

        return len > AG_LINE_MAX ? -1 : len;
}

ssize_t ag_msg_hello(char *buf, size_t cap, const char *workspace_id, const char *token)
{
        ag_jw w;

        ag_jw_init(&w, buf, cap);
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "type");
        ag_jw_str(&w, "hello");
        ag_jw_key(&w, "proto");
        ag_jw_int(&w, AG_PROTO);
        ag_jw_key(&w, "agent_version");
        ag_jw_str(&w, AG_VERSION);
        ag_jw_key(&w, "workspace_id");
        ag_jw_str(&w, workspace_id);
        ag_jw_key(&w, "token");
        ag_jw_str(&w, token);
        ag_jw_obj_end(&w);
        return finish(&w);
}

ssize_t ag_msg_ready(char *buf, size_t cap, const ag_cloudinit *ci)
{
        ag_jw w;

        ag_jw_init(&w, buf, cap);
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "type");
        ag_jw_str(&w, "ready");
        ag_jw_key(&w, "cloud_init");
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "status");
        ag_jw_str(&w, ag_ci_status_name(ci->status));
        ag_jw_key(&w, "errors");
        ag_jw_arr_begin(&w);
        for (int i = 0; i < ci->nerrors; i++)
                ag_jw_str(&w, ci->errors[i]);
        ag_jw_arr_end(&w);
        ag_jw_obj_end(&w);
        ag_jw_obj_end(&w);
        return finish(&w);
}

static void key_int_or_null(ag_jw *w, const char *key, long long v)
{
        ag_jw_key(w, key);
        if (v < 0)
                ag_jw_null(w);
        else
                ag_jw_int(w, v);
}

ssize_t ag_msg_heartbeat(char *buf, size_t cap, unsigned long long seq, const ag_sample *s)
{
        static const char *const load_keys[3] = {"load1", "load5", "load15"};
        ag_jw w;

        ag_jw_init(&w, buf, cap);
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "type");
        ag_jw_str(&w, "heartbeat");
        ag_jw_key(&w, "seq");
        ag_jw_int(&w, (long long)seq);
        key_int_or_null(&w, "uptime_s", s->uptime_s);
        for (int i = 0; i < 3; i++) {
                ag_jw_key(&w, load_keys[i]);
                if (s->have_load)
                        ag_jw_fixed2(&w, s->load[i]);
                else
                        ag_jw_null(&w);
        }
        key_int_or_null(&w, "mem_total_kib", s->mem_total_kib);
        key_int_or_null(&w, "mem_available_kib", s->mem_available_kib);
        key_int_or_null(&w, "ssh_sessions", s->ssh_sessions);
        key_int_or_null(&w, "users", s->users);
        key_int_or_null(&w, "last_input_age_s", s->last_input_age_s);
        key_int_or_null(&w, "gpu_util_pct", s->gpu.util_pct);
        key_int_or_null(&w, "gpus", s->gpu.gpus);
        ag_jw_key(&w, "addresses");
        ag_jw_arr_begin(&w);
        for (int i = 0; i < s->naddrs; i++) {
                const ag_addr *a = &s->addrs[i];

                ag_jw_obj_begin(&w);
                ag_jw_key(&w, "iface");
                ag_jw_str(&w, a->iface);
                ag_jw_key(&w, "family");
                ag_jw_str(&w, a->inet6 ? "inet6" : "inet");
                ag_jw_key(&w, "address");
                ag_jw_str(&w, a->address);
                ag_jw_key(&w, "prefix");
                ag_jw_int(&w, a->prefix);
                ag_jw_obj_end(&w);
        }
        ag_jw_arr_end(&w);
        ag_jw_obj_end(&w);
        return finish(&w);
}

static void key_time(ag_jw *w, const char *key, long long t)
{
        key_int_or_null(w, key, t > 0 ? t : -1);
}

ssize_t ag_msg_startup(char *buf, size_t cap, const ag_startup_record *r, const char *output, size_t len,
                       bool truncated)
{
        ag_jw w;

        ag_jw_init(&w, buf, cap);
        ag_jw_obj_begin(&w);
        ag_jw_key(&w, "type");
        ag_jw_str(&w, "startup");
        ag_jw_key(&w, "status");
        ag_jw_str(&w, ag_startup_status_name(r->status));
        key_time(&w, "started_at", r->started_at);
        key_time(&w, "finished_at", r->finished_at);
        key_int_or_null(&w, "exit_status", r->exit_status);
        key_int_or_null(&w, "signal", r->signal > 0 ? r->signal : -1);
        ag_jw_key(&w, "timeout_s");
        ag_jw_int(&w, r->timeout_s);
        ag_jw_key(&w, "note");
        ag_jw_str(&w, r->note[0] ? r->note : NULL);
        if (output) {
                ag_jw_key(&w, "output");
                ag_jw_str_len(&w, output, len);
                ag_jw_key(&w, "output_bytes");
                ag_jw_int(&w, r->output_bytes);
                ag_jw_key(&w, "output_truncated");
                ag_jw_bool(&w, truncated);
        }
        ag_jw_obj_end(&w);
        return finish(&w);
}

void ag_host_parse(const char *line, size_t len, ag_host_msg *m)
{
        ag_jval root, v;

        memset(m, 0, sizeof(*m));
        m->kind = AG_HOST_INVALID;
        m->proto = -1;
        if (ag_json_parse(line, len, &root) < 0 || root.type != AG_J_OBJ)
                return;
        if (ag_json_get(&root, "type", &v) < 0 || v.type != AG_J_STR)
                return;
        ag_json_str(&v, m->type, sizeof(m->type));
        if (strcmp(m->type, "welcome") == 0) {
                m->kind = AG_HOST_WELCOME;
                if (ag_json_get(&root, "proto", &v) < 0 || ag_json_int(&v, &m->proto) < 0)
                        m->proto = -1;
        } else if (strcmp(m->type, "error") == 0) {
                m->kind = AG_HOST_ERROR;
                if (ag_json_get(&root, "message", &v) == 0)
                        ag_json_str(&v, m->text, sizeof(m->text));
        } else {
                m->kind = AG_HOST_UNKNOWN;
        }
}
