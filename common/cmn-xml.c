#include "config.h"

#include "common/cmn-xml.h"
#include "common/cmn-err.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/SAX2.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct cmn_xml_schema {
    xmlRelaxNGPtr rng;
};

/* Collects the first structured error of a libxml2 operation. */
struct first_error {
    char msg[512];
    int line;
    char file[256];
    int seen;
};

static void first_error_cb(void *data, xmlErrorPtr e)
{
    struct first_error *fe = data;
    size_t l;

    if (fe->seen++)
        return;
    /* Name the element: libxml2's RelaxNG texts can be as vague as
     * "Error validating value". */
    if (e->node != NULL && ((xmlNodePtr)e->node)->type == XML_ELEMENT_NODE &&
        (e->domain == XML_FROM_RELAXNGV))
        snprintf(fe->msg, sizeof(fe->msg), "<%s>: %s",
                 (const char *)((xmlNodePtr)e->node)->name,
                 e->message ? e->message : "?");
    else
        snprintf(fe->msg, sizeof(fe->msg), "%s", e->message ? e->message : "?");
    l = strlen(fe->msg);
    while (l > 0 && (fe->msg[l - 1] == '\n' || fe->msg[l - 1] == ' '))
        fe->msg[--l] = '\0';
    fe->line = e->line;
    snprintf(fe->file, sizeof(fe->file), "%s", e->file ? e->file : "");
    /* Validation errors carry the node; its line is the precise one. */
    if (fe->line == 0 && e->node != NULL)
        fe->line = (int)xmlGetLineNo((xmlNodePtr)e->node);
}

/* SAX hook at <!DOCTYPE: stop before any entity or external subset is
 * even read. */
static void refuse_internal_subset(void *ctx, const xmlChar *name,
                                   const xmlChar *external_id,
                                   const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    int *dtd_line = ctxt->_private;

    *dtd_line = xmlSAX2GetLineNumber(ctx);
    if (*dtd_line <= 0)
        *dtd_line = 1;
    xmlStopParser(ctxt);
}

/* Options for every parse: no network, no entity substitution, no DTD
 * loading, keep line numbers (libxml2 caps them at 65535 otherwise). */
#define CMN_XML_OPTS                                                           \
    (XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR |               \
     XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA)

int cmn_xml_parse_mem(const char *buf, size_t len, const char *name, size_t max,
                      xmlDoc **ret_doc, char *err, size_t errlen)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    struct first_error fe = {0};
    int dtd_line = 0;
    int rc = 0;

    if (err && errlen)
        err[0] = '\0';
    if (max == 0)
        max = CMN_XML_MAX_DEFAULT;
    if (len > max || len > INT_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "%s: document is %zu bytes, limit is %zu",
                     name, len, max);
        return -CMN_E_TOO_BIG;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return -ENOMEM;
    /* libxml2 2.9 has no per-context structured handler; this one is
     * thread-local, so restoring it right after is enough. */
    ctxt->_private = &dtd_line;
    ctxt->sax->internalSubset = refuse_internal_subset;
    xmlSetStructuredErrorFunc(&fe, first_error_cb);
    doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL, CMN_XML_OPTS);
    xmlSetStructuredErrorFunc(NULL, NULL);
    if (dtd_line > 0) {
        if (err && errlen)
            snprintf(err, errlen,
                     "%s:%d: document type declarations (<!DOCTYPE>) are not "
                     "allowed",
                     name, dtd_line);
        rc = -CMN_E_DTD;
        goto out;
    }
    if (doc == NULL || !ctxt->wellFormed) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%d: %s", name, fe.line,
                     fe.seen ? fe.msg : "not well-formed XML");
        rc = -CMN_E_PARSE;
        goto out;
    }
    /* Belt and braces: a DTD is the door to entity expansion and external
     * fetches, and no kvmcluster document needs one. */
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        if (err && errlen)
            snprintf(err, errlen,
                     "%s:1: document type declarations (<!DOCTYPE>) are not "
                     "allowed",
                     name);
        rc = -CMN_E_DTD;
        goto out;
    }
    if (xmlDocGetRootElement(doc) == NULL) {
        if (err && errlen)
            snprintf(err, errlen, "%s:1: document has no root element", name);
        rc = -CMN_E_PARSE;
        goto out;
    }
    *ret_doc = doc;
    doc = NULL;
out:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

int cmn_xml_parse_file(const char *path, size_t max, xmlDoc **ret_doc,
                       char *err, size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len;
    int rc;

    if (max == 0)
        max = CMN_XML_MAX_DEFAULT;
    f = fopen(path, "re");
    if (f == NULL) {
        rc = -errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, cmn_strerror(rc));
        return rc;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    len = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        rc = -EIO;
        if (err && errlen)
            snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    /* Reading one byte past the limit tells "too big" without stat. */
    rc = cmn_xml_parse_mem(buf, len, path, max, ret_doc, err, errlen);
out:
    free(buf);
    fclose(f);
    return rc;
}

int cmn_xml_schema_load(const char *path, struct cmn_xml_schema **ret_schema,
                        char *err, size_t errlen)
{
    xmlRelaxNGParserCtxtPtr pctxt;
    struct first_error fe = {0};
    struct cmn_xml_schema *s;

    pctxt = xmlRelaxNGNewParserCtxt(path);
    if (pctxt == NULL)
        return -ENOMEM;
    xmlRelaxNGSetParserStructuredErrors(pctxt, first_error_cb, &fe);
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        xmlRelaxNGFreeParserCtxt(pctxt);
        return -ENOMEM;
    }
    s->rng = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    if (s->rng == NULL) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%d: cannot load schema: %s", path,
                     fe.line, fe.seen ? fe.msg : "unknown error");
        free(s);
        return -CMN_E_SCHEMA;
    }
    *ret_schema = s;
    return 0;
}

void cmn_xml_schema_free(struct cmn_xml_schema *schema)
{
    if (schema == NULL)
        return;
    xmlRelaxNGFree(schema->rng);
    free(schema);
}

int cmn_xml_validate(struct cmn_xml_schema *schema, xmlDoc *doc, char *err,
                     size_t errlen)
{
    xmlRelaxNGValidCtxtPtr vctxt;
    struct first_error fe = {0};
    const char *name;
    int rc;

    vctxt = xmlRelaxNGNewValidCtxt(schema->rng);
    if (vctxt == NULL)
        return -ENOMEM;
    xmlRelaxNGSetValidStructuredErrors(vctxt, first_error_cb, &fe);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    if (rc == 0)
        return 0;
    name = doc->URL ? (const char *)doc->URL : "<document>";
    if (err && errlen)
        snprintf(err, errlen, "%s:%d: %s", name, fe.line,
                 fe.seen ? fe.msg : "does not match its schema");
    return rc < 0 ? -ENOMEM : -CMN_E_SCHEMA;
}

const char *cmn_xml_schema_path(const char *file)
{
    static __thread char path[PATH_MAX];
    const char *dir = getenv("KVMC_SCHEMADIR");

    if (dir == NULL || *dir == '\0')
        dir = KVMC_SCHEMADIR;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return path;
}

const char *cmn_xml_entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\r':
        return "&#13;";
    case '\t':
        return "&#9;";
    case '\n':
        return "&#10;";
    default:
        return NULL;
    }
}

char *cmn_xml_escape(const char *s)
{
    size_t n = 0;
    char *out, *p;

    for (const char *q = s; *q; q++) {
        const char *e = cmn_xml_entity(*q);
        n += e ? strlen(e) : 1;
    }
    out = p = malloc(n + 1);
    if (!out)
        return NULL;
    for (; *s; s++) {
        const char *e = cmn_xml_entity(*s);
        if (e)
            p = stpcpy(p, e);
        else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

/* The formats below are built from the caller's checked format string,
 * one conversion at a time. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* One conversion of cmn_xml_vformat: `spec` ("%-12.3lu"), its conversion
 * character and length modifier already parsed, the argument read by
 * type. */
static int xml_format_one(FILE *f, const char *spec, char conv, const char *len,
                          va_list *ap)
{
    switch (conv) {
    case 'd':
    case 'i':
        if (!strcmp(len, "hh") || !strcmp(len, "h") || !*len)
            return fprintf(f, spec, va_arg(*ap, int));
        if (!strcmp(len, "l"))
            return fprintf(f, spec, va_arg(*ap, long));
        if (!strcmp(len, "ll"))
            return fprintf(f, spec, va_arg(*ap, long long));
        if (!strcmp(len, "z"))
            return fprintf(f, spec, va_arg(*ap, ssize_t));
        if (!strcmp(len, "j"))
            return fprintf(f, spec, va_arg(*ap, intmax_t));
        if (!strcmp(len, "t"))
            return fprintf(f, spec, va_arg(*ap, ptrdiff_t));
        return -1;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        if (!strcmp(len, "hh") || !strcmp(len, "h") || !*len)
            return fprintf(f, spec, va_arg(*ap, unsigned));
        if (!strcmp(len, "l"))
            return fprintf(f, spec, va_arg(*ap, unsigned long));
        if (!strcmp(len, "ll"))
            return fprintf(f, spec, va_arg(*ap, unsigned long long));
        if (!strcmp(len, "z"))
            return fprintf(f, spec, va_arg(*ap, size_t));
        if (!strcmp(len, "j"))
            return fprintf(f, spec, va_arg(*ap, uintmax_t));
        if (!strcmp(len, "t"))
            return fprintf(f, spec, va_arg(*ap, ptrdiff_t));
        return -1;
    case 'c':
        return *len ? -1 : fprintf(f, spec, va_arg(*ap, int));
    case 'p':
        return *len ? -1 : fprintf(f, spec, va_arg(*ap, void *));
    case 'f':
    case 'e':
    case 'g':
        if (!strcmp(len, "L"))
            return fprintf(f, spec, va_arg(*ap, long double));
        return *len && strcmp(len, "l") ? -1
                                        : fprintf(f, spec, va_arg(*ap, double));
    default:
        return -1;
    }
}

char *cmn_xml_vformat(const char *fmt, va_list ap_in)
{
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    va_list ap;
    bool ok = f != NULL;

    if (!f)
        return NULL;
    va_copy(ap, ap_in);
    for (const char *p = fmt; ok && *p;) {
        if (*p != '%') {
            size_t n = strcspn(p, "%");
            ok = fwrite(p, 1, n, f) == n;
            p += n;
            continue;
        }
        if (p[1] == '%') {
            ok = fputc('%', f) != EOF;
            p += 2;
            continue;
        }
        /* %[flags][width][.precision][length]conv, `*` resolved now */
        char spec[64], len[3] = "";
        size_t sn = 0;
        int prec = -1;
        spec[sn++] = *p++;
        while (*p && strchr("-+ #0", *p) && sn < 8)
            spec[sn++] = *p++;
        if (*p == '*') {
            sn += (size_t)snprintf(spec + sn, sizeof(spec) - sn, "%d",
                                   va_arg(ap, int));
            p++;
        } else {
            while (*p >= '0' && *p <= '9' && sn < 20)
                spec[sn++] = *p++;
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            } else {
                prec = 0;
                while (*p >= '0' && *p <= '9')
                    prec = prec * 10 + (*p++ - '0');
            }
        }
        for (size_t ln = 0; ln < 2 && *p && strchr("hlzjtL", *p); ln++)
            len[ln] = *p++;
        char conv = *p ? *p++ : '\0';
        if (conv == 's') {
            const char *v = va_arg(ap, const char *);
            char *cut = NULL, *esc;
            if (!v)
                v = "(null)";
            if (prec >= 0)
                v = cut = strndup(v, (size_t)prec);
            esc = v ? cmn_xml_escape(v) : NULL;
            free(cut);
            spec[sn++] = 's';
            spec[sn] = '\0';
            ok = esc && !*len && fprintf(f, spec, esc) >= 0;
            free(esc);
            continue;
        }
        if (prec >= 0)
            sn += (size_t)snprintf(spec + sn, sizeof(spec) - sn, ".%d", prec);
        sn += (size_t)snprintf(spec + sn, sizeof(spec) - sn, "%s%c", len, conv);
        ok = sn < sizeof(spec) && xml_format_one(f, spec, conv, len, &ap) >= 0;
    }
    va_end(ap);
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

#pragma GCC diagnostic pop

char *cmn_xml_format(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = cmn_xml_vformat(fmt, ap);
    va_end(ap);
    return s;
}

const char *cmn_xml_attr_copy(xmlNode *n, const char *name, char *buf,
                              size_t len)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

    if (!v)
        return NULL;
    snprintf(buf, len, "%s", (const char *)v);
    xmlFree(v);
    return buf;
}
