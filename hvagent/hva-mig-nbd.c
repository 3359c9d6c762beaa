/* Live migration with storage copy: names, port, QMP arguments and the
 * READY line (pure; the sequence and its safety are in hva-mig-nbd.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvagent/hva-int.h"
#include "hvagent/hva-mig-nbd.h"

int hva_nbd_port(unsigned control_port, unsigned *ret_port)
{
    if (control_port == 0 || control_port > 65535 - HVA_NBD_PORT_OFFSET)
        return -EINVAL;
    *ret_port = control_port + HVA_NBD_PORT_OFFSET;
    return 0;
}

void hva_nbd_export_name(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "kvmc-disk%zu", i);
}

void hva_nbd_export_id(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "kvmc-nx%zu", i);
}

void hva_nbd_fd_name(size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "kvmc-nbd%zu", i);
}

void hva_nbd_client_node(unsigned gen, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "nb%ud%zu", gen, i);
}

static void add_str(json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val));
}

json_object *hva_nbd_server_args(const char *host, unsigned port,
                                 size_t max_conn)
{
    json_object *a = json_object_new_object();
    json_object *addr = json_object_new_object();
    json_object *data = json_object_new_object();
    char p[8];

    /* SocketAddressLegacy: the port is a string. */
    snprintf(p, sizeof(p), "%u", port);
    add_str(data, "host", host);
    add_str(data, "port", p);
    add_str(addr, "type", "inet");
    json_object_object_add(addr, "data", data);
    json_object_object_add(a, "addr", addr);
    add_str(a, "tls-creds", HVA_MIG_TLS_OBJ);
    json_object_object_add(a, "max-connections",
                           json_object_new_int64((int64_t)max_conn));
    return a;
}

json_object *hva_nbd_export_args(const char *node, size_t i)
{
    json_object *a = json_object_new_object();
    char name[32], id[32];

    hva_nbd_export_name(i, name, sizeof(name));
    hva_nbd_export_id(i, id, sizeof(id));
    add_str(a, "type", "nbd");
    add_str(a, "id", id);
    add_str(a, "node-name", node);
    add_str(a, "name", name);
    json_object_object_add(a, "writable", json_object_new_boolean(true));
    return a;
}

json_object *hva_nbd_export_del_args(size_t i)
{
    json_object *a = json_object_new_object();
    char id[32];

    hva_nbd_export_id(i, id, sizeof(id));
    add_str(a, "id", id);
    return a;
}

json_object *hva_nbd_client_args(const char *node, size_t i)
{
    json_object *a = json_object_new_object();
    json_object *server = json_object_new_object();
    char name[32], fd[32];

    hva_nbd_export_name(i, name, sizeof(name));
    hva_nbd_fd_name(i, fd, sizeof(fd));
    add_str(a, "driver", "nbd");
    add_str(a, "node-name", node);
    add_str(server, "type", "fd");
    add_str(server, "str", fd);
    json_object_object_add(a, "server", server);
    add_str(a, "export", name);
    add_str(a, "tls-creds", HVA_MIG_TLS_OBJ);
    return a;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

int hva_mig_ready_parse(const char *arg, size_t token_len,
                        struct hva_mig_ready *ret)
{
    struct hva_mig_ready r = {.tls = false, .nbd_port = 0};
    const char *p = arg, *end;

    if (!arg || token_len >= sizeof(r.token))
        return -EPROTO;
    end = strchr(p, ' ');
    if ((end ? (size_t)(end - p) : strlen(p)) != token_len ||
        !all_hex(p, token_len))
        return -EPROTO;
    memcpy(r.token, p, token_len);
    r.token[token_len] = '\0';
    while (end) {
        size_t n;

        p = end + 1;
        end = strchr(p, ' ');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 3 && !strncmp(p, "tls", 3) && !r.tls) {
            r.tls = true;
        } else if (n > 4 && n <= 9 && !strncmp(p, "nbd=", 4) && !r.nbd_port) {
            unsigned long v = 0;
            for (size_t k = 4; k < n; k++) {
                if (!isdigit((unsigned char)p[k]))
                    return -EPROTO;
                v = v * 10 + (unsigned long)(p[k] - '0');
            }
            if (v == 0 || v > 65535)
                return -EPROTO;
            r.nbd_port = (unsigned)v;
        } else {
            return -EPROTO;
        }
    }
    *ret = r;
    return 0;
}
