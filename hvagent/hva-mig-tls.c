/* Encryption of the live migration's memory stream with QEMU's own TLS
 * (migration-tls = psk): the per-migration key, the credentials directory
 * QEMU's tls-creds-psk object reads, and the QMP arguments of that object.
 *
 * QEMU takes a PSK only from a file, "<dir>/keys.psk". The directory is
 * root's, group the QEMU user's, 0750 (file 0640): nobody else can read
 * it, and it lives only as long as QEMU needs it (the client reads it at
 * object-add, the server at the handshake). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn-auto.h"
#include "hvagent/hva-int.h"

int hva_mig_tls_key(const uint8_t base[32], const char *token, uint8_t key[32])
{
    static const char label[] = "kvmcluster migration stream v1 ";
    char info[sizeof(label) + 128];
    size_t n = strlen(token);
    int rc;

    if (n == 0 || n > 128)
        return -EINVAL;
    memcpy(info, label, sizeof(label) - 1);
    memcpy(info + sizeof(label) - 1, token, n);
    gnutls_datum_t prk = {.data = (unsigned char *)base, .size = 32};
    gnutls_datum_t i = {.data = (unsigned char *)info,
                        .size = (unsigned)(sizeof(label) - 1 + n)};
    rc = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &prk, &i, key, 32);
    explicit_bzero(info, sizeof(info));
    return rc == 0 ? 0 : -EIO;
}

/* `text` into dir/name, created 0640 root:gid (never over an old file). */
static int write_private(int dfd, const char *name, gid_t gid, const void *text,
                         size_t len)
{
    int fd cmn_autoclose =
        openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

    if (fd < 0)
        return -errno;
    if (fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, 0640) < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len)
        return -EIO;
    return 0;
}

/* QEMU's server side would otherwise generate 2048-bit DH parameters at
 * object-add (seconds of CPU, inside the switchover's critical path): the
 * RFC 7919 group instead. ECDHE-PSK is what the handshake picks anyway. */
static int dh_params_pem(gnutls_datum_t *ret)
{
    gnutls_dh_params_t p;
    int rc = gnutls_dh_params_init(&p);

    if (rc < 0)
        return -ENOMEM;
    rc = gnutls_dh_params_import_raw(p, &gnutls_ffdhe_2048_group_prime,
                                     &gnutls_ffdhe_2048_group_generator);
    if (rc == 0)
        rc = gnutls_dh_params_export2_pkcs3(p, GNUTLS_X509_FMT_PEM, ret);
    gnutls_dh_params_deinit(p);
    return rc == 0 ? 0 : -EIO;
}

int hva_mig_tls_write(const char *dir, gid_t gid, const uint8_t key[32],
                      char *err, size_t errlen)
{
    char line[sizeof(HVA_MIG_TLS_USER) + 2 * 32 + 2];
    gnutls_datum_t dh = {NULL, 0};
    int dfd cmn_autoclose = -1;
    int n, rc;

    hva_mig_tls_remove(dir); /* a leftover of a crashed agent */
    if (mkdir(dir, 0700) < 0) {
        rc = -errno;
        snprintf(err, errlen, "migration-tls: mkdir '%s': %s", dir,
                 strerror(-rc));
        return rc;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fchown(dfd, (uid_t)-1, gid) < 0 || fchmod(dfd, 0750) < 0) {
        rc = -errno;
        snprintf(err, errlen, "migration-tls: '%s': %s", dir, strerror(-rc));
        goto out;
    }
    n = snprintf(line, sizeof(line), "%s:", HVA_MIG_TLS_USER);
    for (size_t i = 0; i < 32; i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", key[i]);
    line[n++] = '\n';
    rc = write_private(dfd, "keys.psk", gid, line, (size_t)n);
    if (rc == 0)
        rc = dh_params_pem(&dh);
    if (rc == 0)
        rc = write_private(dfd, "dh-params.pem", gid, dh.data, dh.size);
    if (rc < 0)
        snprintf(err, errlen, "migration-tls: writing the key into '%s': %s",
                 dir, strerror(-rc));
out:
    gnutls_free(dh.data);
    explicit_bzero(line, sizeof(line));
    if (rc < 0)
        hva_mig_tls_remove(dir);
    return rc;
}

void hva_mig_tls_remove(const char *dir)
{
    int dfd cmn_autoclose = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0)
        return;
    unlinkat(dfd, "keys.psk", 0);
    unlinkat(dfd, "dh-params.pem", 0);
    rmdir(dir);
}

void hva_mig_tls_sweep(const char *parent)
{
    DIR *d = opendir(parent);
    struct dirent *e;
    char path[4096];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
        hva_mig_tls_remove(path);
    }
    closedir(d);
}

json_object *hva_mig_tls_object(bool server, const char *dir)
{
    json_object *a = json_object_new_object();

    json_object_object_add(a, "qom-type",
                           json_object_new_string("tls-creds-psk"));
    json_object_object_add(a, "id", json_object_new_string(HVA_MIG_TLS_OBJ));
    json_object_object_add(
        a, "endpoint", json_object_new_string(server ? "server" : "client"));
    json_object_object_add(a, "dir", json_object_new_string(dir));
    if (!server)
        json_object_object_add(a, "username",
                               json_object_new_string(HVA_MIG_TLS_USER));
    return a;
}
