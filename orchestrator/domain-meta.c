/* domain-meta.c — reads hostd's <hostd:workspace> metadata back from a
 * domain's XML, so that the store can be rebuilt from libvirt alone.
 *
 * The document is parsed without network access and without entity
 * substitution or DTD loading; fields are found by XPath with hostd's
 * namespace registered, so the prefix a writer chose does not matter. */
#include "orchestrator/orchestrator.h"
#include "orchestrator/domain.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

HD_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
HD_DEFINE_CLEANUP(xmlXPathContextPtr, xmlXPathFreeContext)
HD_DEFINE_CLEANUP(xmlXPathObjectPtr, xmlXPathFreeObject)

#define META_XML_MAX (16u << 20)

void orch_domain_meta_clear(orch_domain_meta *m)
{
        if (!m)
                return;
        free(m->id);
        free(m->display_name);
        free(m->owner);
        free(m->template_name);
        free(m->instance);
        free(m->image);
        memset(m, 0, sizeof(*m));
}

/* The one node expr selects, NULL when none; more than one is malformed. */
static int select_one(xmlXPathContextPtr ctx, const char *expr, xmlNodePtr *out, hd_error *err)
{
        _cleanup_(xmlXPathFreeObjectp) xmlXPathObjectPtr o = NULL;
        int n;

        o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        if (!o || o->type != XPATH_NODESET)
                return hd_error_set(err, HD_E_INTERNAL, "XPath %s failed", expr);
        n = o->nodesetval ? o->nodesetval->nodeNr : 0;
        if (n > 1)
                return hd_error_set(err, HD_E_INVALID,
                                    "hostd metadata is malformed: %d elements match %s", n, expr);
        *out = n ? o->nodesetval->nodeTab[0] : NULL;
        return 0;
}

/* The text of hostd:<name> under the workspace element (ctx->node). */
static int field(xmlXPathContextPtr ctx, const char *name, bool required, size_t max,
                 char **out, hd_error *err)
{
        _cleanup_free_ char *expr = hd_asprintf("h:%s", name);
        _cleanup_free_ char *where = hd_asprintf("hostd metadata field %s", name);
        xmlNodePtr node = NULL;
        xmlChar *content;

        *out = NULL;
        if (select_one(ctx, expr, &node, err) < 0)
                return -1;
        if (!node) {
                if (required)
                        return hd_error_set(err, HD_E_INVALID, "%s is missing", where);
                return 0;
        }
        content = xmlNodeGetContent(node);
        if (content && *content)
                *out = hd_strdup((const char *)content);
        xmlFree(content);
        return orch_text_check(where, *out, max, required, err);
}

static int parse_time(const char *s, int64_t *out, hd_error *err)
{
        struct tm tm = {0};
        const char *end = s ? strptime(s, ORCH_TIME_FMT, &tm) : NULL;
        time_t t;

        if (!end || *end)
                return hd_error_set(err, HD_E_INVALID,
                                    "hostd metadata field created '%.40s' is not a UTC time "
                                    "like 2026-01-31T12:00:00Z", s ? s : "");
        t = timegm(&tm);
        if (t <= 0)
                return hd_error_set(err, HD_E_INVALID,
                                    "hostd metadata field created '%.40s' is before 1970", s);
        *out = (int64_t)t;
        return 0;
}

int orch_domain_meta_parse(const char *xml, orch_domain_meta *out, hd_error *err)
{
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = NULL;
        _cleanup_free_ char *created = NULL;
        orch_domain_meta m = {0};
        xmlNodePtr ws = NULL;
        size_t len = xml ? strlen(xml) : 0;

        if (len == 0 || len > META_XML_MAX || len > INT_MAX)
                return hd_error_set(err, HD_E_INVALID, "domain XML is empty or too large");
        doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return hd_error_set(err, HD_E_INVALID, "domain XML is not well-formed");
        ctx = xmlXPathNewContext(doc);
        if (!ctx || xmlXPathRegisterNs(ctx, BAD_CAST "h", BAD_CAST ORCH_XMLNS) != 0)
                return hd_error_set(err, HD_E_INTERNAL, "cannot set up XPath");
        if (select_one(ctx, "/domain/metadata/h:workspace", &ws, err) < 0)
                return -1;
        if (!ws)
                return hd_error_set(err, HD_E_NOT_FOUND, "the domain carries no hostd metadata");
        ctx->node = ws;
        if (field(ctx, "id", true, ORCH_ID_MAX, &m.id, err) < 0 ||
            orch_domain_id_check(m.id, err) < 0 ||
            field(ctx, "name", true, ORCH_META_MAX, &m.display_name, err) < 0 ||
            field(ctx, "owner", true, ORCH_META_MAX, &m.owner, err) < 0 ||
            field(ctx, "template", false, ORCH_META_MAX, &m.template_name, err) < 0 ||
            field(ctx, "image", false, ORCH_META_MAX, &m.image, err) < 0 ||
            field(ctx, "instance", false, ORCH_META_MAX, &m.instance, err) < 0 ||
            field(ctx, "created", true, 40, &created, err) < 0 ||
            parse_time(created, &m.created, err) < 0) {
                orch_domain_meta_clear(&m);
                return -1;
        }
        *out = m;
        return 0;
}
