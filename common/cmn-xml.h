/* libxml2 helpers: safe parsing and RelaxNG validation.
 *
 * Every document kvmcluster reads comes from an administrator or from a
 * peer, so parsing never touches the network, never expands entities and
 * refuses any DTD; input is capped in size. */
#ifndef KVMC_CMN_XML_H
#define KVMC_CMN_XML_H

#include <libxml/tree.h>
#include <stdarg.h>
#include <stddef.h>

#define CMN_XML_MAX_DEFAULT (4u << 20) /* 4 MiB */

/* Parses `len` bytes; `name` stands for the source in messages. Errors go
 * to `err` as "name:line: message". */
int cmn_xml_parse_mem(const char *buf, size_t len, const char *name, size_t max,
                      xmlDoc **ret_doc, char *err, size_t errlen);
int cmn_xml_parse_file(const char *path, size_t max, xmlDoc **ret_doc,
                       char *err, size_t errlen);

struct cmn_xml_schema;

/* Loads a RelaxNG schema file. */
int cmn_xml_schema_load(const char *path, struct cmn_xml_schema **ret_schema,
                        char *err, size_t errlen);
void cmn_xml_schema_free(struct cmn_xml_schema *schema);

/* 0 if `doc` is valid; else CMN_E_SCHEMA with the first error as
 * "name:line: message" in `err` (name from the document's URL). */
int cmn_xml_validate(struct cmn_xml_schema *schema, xmlDoc *doc, char *err,
                     size_t errlen);

/* Path of a schema shipped with kvmcluster: $KVMC_SCHEMADIR/<file> when
 * that environment variable is set (tests, sandbox), else the installed
 * schema directory. Returns a static buffer. */
const char *cmn_xml_schema_path(const char *file);

/* The one escaping rule for text that goes into an XML attribute value
 * or text node built by string formatting: the entity standing for `c`,
 * or NULL when c stands for itself. Markup characters (& < > ") and the
 * ones a parser would normalise away (CR, and TAB/LF inside attributes)
 * are escaped, so a value survives a round trip byte for byte. */
const char *cmn_xml_entity(char c);
/* `s` escaped by that rule (malloc'd); NULL when out of memory. */
char *cmn_xml_escape(const char *s);
/* asprintf for XML built by string formatting: every %s argument is a
 * value and goes in escaped by the rule above (its precision, if any,
 * cuts the value before escaping); other conversions as printf (d i u x
 * X o c p f e g, with flags, width, precision and length modifiers;
 * `*` taken from the arguments). Markup built elsewhere does not go
 * through a %s here: append it separately. Returns the malloc'd text, or
 * NULL when out of memory or on a conversion it does not know. */
__attribute__((format(printf, 1, 2))) char *cmn_xml_format(const char *fmt,
                                                           ...);
__attribute__((format(printf, 1, 0))) char *cmn_xml_vformat(const char *fmt,
                                                            va_list ap);
/* Attribute `name` of `n` copied into buf (truncated to len - 1 bytes):
 * buf, or NULL when `n` has no such attribute. */
const char *cmn_xml_attr_copy(xmlNode *n, const char *name, char *buf,
                              size_t len);

#include "common/cmn-auto.h"
CMN_DEFINE_AUTO(cmn_xml_schema, cmn_xml_schema_free)

#endif
