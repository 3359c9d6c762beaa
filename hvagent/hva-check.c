/* What a VM definition sent to hvagent may ask for.
 *
 * hvagent turns a definition into a QEMU command line and a sanlock
 * resource, both with root's access to files. A definition is outside
 * input: it is held to the rules clusterd applies to its own (the same
 * resources/ code: name and cpu model charset, uuid, memory and vcpu
 * bounds, kernel/initrd/cmdline lengths), and every file it names must lie
 * in a directory the node's administrator allowed:
 *   - kernel and initrd: one of kernel-dirs;
 *   - disks, lease and saved state: a LUN file of lunbridge (a name
 *     directly under lun-dir) or a file under one of storage-dirs.
 * Paths are compared in canonical form (realpath: no '..', no symbolic
 * link leading out), and the definition keeps the canonical path, so what
 * QEMU opens is what was checked. The LUN directory is lunbridge's FUSE
 * mount, which holds plain files only: its paths are checked by their
 * text, so a stalled lunbridge never blocks the agent's loop in a stat.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cmn-auto.h"
#include "common/cmn-err.h"
#include "hvagent/hva-int.h"
#include "hvagent/hva-proto.h"
#include "resources/res-vm.h"

/* sanlock's SANLK_NAME_LEN: lockspace and resource names, NUL included. */
#define HVA_SANLOCK_NAME_MAX 48

void hva_dirs_clear(struct hva_dirs *d)
{
    free(d->lun_dir);
    for (size_t i = 0; i < d->n_storage; i++)
        free(d->storage[i]);
    free(d->storage);
    for (size_t i = 0; i < d->n_kernel; i++)
        free(d->kernel[i]);
    free(d->kernel);
    memset(d, 0, sizeof(*d));
}

/* Absolute, bounded, printable, without '.' or '..' components. */
static bool plain_path(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || p[0] != '/' || n >= RES_PATH_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    for (const char *c = p; c; c = strchr(c + 1, '/')) {
        size_t len = strcspn(c + 1, "/");
        if ((len == 1 && c[1] == '.') ||
            (len == 2 && c[1] == '.' && c[2] == '.'))
            return false;
    }
    return true;
}

/* A directory setting: `p` as given, trailing slashes dropped; its
 * canonical form when it exists now (at startup). */
static int dir_setting(const char *key, const char *p, char **ret, char *err,
                       size_t errlen)
{
    char canon[PATH_MAX];
    char *s;

    if (!plain_path(p)) {
        snprintf(err, errlen,
                 "[hvagent] %s: '%s' is not an absolute directory path "
                 "(no '.' or '..')",
                 key, p);
        return -CMN_E_BAD_VALUE;
    }
    s = realpath(p, canon) ? strdup(canon) : strdup(p);
    if (!s)
        return -ENOMEM;
    for (size_t n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
        s[n - 1] = '\0';
    *ret = s;
    return 0;
}

static int dir_list(const char *key, const char *text, char ***ret_v,
                    size_t *ret_n, char *err, size_t errlen)
{
    char *copy cmn_autofree = strdup(text ? text : "");
    char *save = NULL;
    char **v = NULL;
    size_t n = 0;
    int rc = 0;

    if (!copy)
        return -ENOMEM;
    for (char *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        t += strspn(t, " \t");
        for (size_t l = strlen(t); l && (t[l - 1] == ' ' || t[l - 1] == '\t');
             l--)
            t[l - 1] = '\0';
        if (!*t)
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv) {
            rc = -ENOMEM;
            break;
        }
        v = nv;
        rc = dir_setting(key, t, &v[n], err, errlen);
        if (rc < 0)
            break;
        n++;
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *ret_v = v;
    *ret_n = n;
    return 0;
}

int hva_dirs_set(struct hva_dirs *d, const char *lun_dir, const char *storage,
                 const char *kernel, char *err, size_t errlen)
{
    struct hva_dirs nd = {0};
    int rc = 0;

    if (lun_dir && *lun_dir)
        rc = dir_setting("lun-dir", lun_dir, &nd.lun_dir, err, errlen);
    if (rc == 0)
        rc = dir_list("storage-dirs", storage, &nd.storage, &nd.n_storage, err,
                      errlen);
    if (rc == 0)
        rc = dir_list("kernel-dirs", kernel, &nd.kernel, &nd.n_kernel, err,
                      errlen);
    if (rc < 0) {
        hva_dirs_clear(&nd);
        return rc;
    }
    hva_dirs_clear(d);
    *d = nd;
    return 0;
}

/* `canon` lies strictly below directory `dir` (both canonical). */
static bool below(const char *canon, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return canon[0] == '/' && canon[1] != '\0';
    return strncmp(canon, dir, n) == 0 && canon[n] == '/' && canon[n + 1];
}

/* `p` is a LUN file of lunbridge: one name directly under its mount. */
static bool lun_file(const char *p, const char *lun_dir)
{
    size_t n = lun_dir ? strlen(lun_dir) : 0;
    const char *leaf = p + n + 1;

    if (!n || strncmp(p, lun_dir, n) != 0 || p[n] != '/' || !*leaf ||
        strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0)
        return false;
    return strspn(leaf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._%:-") == strlen(leaf);
}

/* realpath(p), or, when only its last component is missing (a saved
 * state not written yet), the canonical directory plus that name. */
static int canonical(const char *p, bool may_be_missing, char **ret)
{
    char canon[PATH_MAX];
    int rc;

    if (realpath(p, canon)) {
        *ret = strdup(canon);
        return *ret ? 0 : -ENOMEM;
    }
    rc = -errno;
    if (rc != -ENOENT || !may_be_missing)
        return rc;
    const char *slash = strrchr(p, '/');
    char *parent cmn_autofree = strndup(p, (size_t)(slash - p));
    if (!parent)
        return -ENOMEM;
    if (!realpath(*parent ? parent : "/", canon))
        return -errno;
    if (asprintf(ret, "%s/%s", strcmp(canon, "/") ? canon : "", slash + 1) < 0)
        return -ENOMEM;
    return 0;
}

/* "/a, /b" for messages, or "none". */
static void list_text(char *const *v, size_t n, const char *extra, char *out,
                      size_t outlen)
{
    size_t len = 0;

    out[0] = '\0';
    if (extra)
        len = (size_t)snprintf(out, outlen, "%s", extra);
    for (size_t i = 0; i < n && len < outlen; i++)
        len += (size_t)snprintf(out + len, outlen - len, "%s%s",
                                len ? ", " : "", v[i]);
    if (!out[0])
        snprintf(out, outlen, "none");
}

/* Checks one path and replaces it by its canonical form. `what` names it
 * in messages ("disk vda path"); storage (true) or kernel directories. */
static int check_path(const struct hva_vm_def *def, const struct hva_dirs *d,
                      const char *what, char **path, bool storage, char *err,
                      size_t errlen)
{
    char *const *dirs = storage ? d->storage : d->kernel;
    size_t n = storage ? d->n_storage : d->n_kernel;
    char *canon = NULL;
    char allowed[1024];
    struct stat st;
    int rc;

    if (strlen(*path) >= RES_PATH_MAX) {
        snprintf(err, errlen,
                 "VM '%s': %s '%.64s...' is longer than %d "
                 "characters",
                 def->name, what, *path, RES_PATH_MAX - 1);
        return -CMN_E_BAD_VALUE;
    }
    if (!plain_path(*path)) {
        snprintf(err, errlen,
                 "VM '%s': %s '%s' is not a plain absolute path (no '.' or "
                 "'..' components, no control characters)",
                 def->name, what, *path);
        return -CMN_E_BAD_VALUE;
    }
    /* QEMU splits -initrd at commas (multiboot modules): one path only. */
    if (!storage && strchr(*path, ',')) {
        snprintf(err, errlen, "VM '%s': %s '%s' contains ','", def->name, what,
                 *path);
        return -CMN_E_BAD_VALUE;
    }
    if (storage && lun_file(*path, d->lun_dir))
        return 0;
    rc = canonical(*path, storage, &canon);
    if (rc < 0) {
        snprintf(err, errlen, "VM '%s': %s '%s': %s", def->name, what, *path,
                 strerror(-rc));
        return -CMN_E_BAD_VALUE;
    }
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        if (realpath(dirs[i], dir) && below(canon, dir)) {
            /* A kernel is a file QEMU reads, not a device or a directory. */
            if (!storage && (stat(canon, &st) < 0 || !S_ISREG(st.st_mode))) {
                snprintf(err, errlen, "VM '%s': %s '%s' is not a regular file",
                         def->name, what, *path);
                free(canon);
                return -CMN_E_BAD_VALUE;
            }
            free(*path);
            *path = canon;
            return 0;
        }
    }
    list_text(dirs, n, storage ? d->lun_dir : NULL, allowed, sizeof(allowed));
    snprintf(err, errlen,
             "VM '%s': %s '%s' is outside the allowed directories (%s; see "
             "%s in [hvagent])",
             def->name, what, *path, allowed,
             storage ? "lun-dir and storage-dirs" : "kernel-dirs");
    free(canon);
    return -CMN_E_BAD_VALUE;
}

static int check_lease_name(const struct hva_vm_def *def, const char *what,
                            const char *s, char *err, size_t errlen)
{
    if (cmn_name_valid(s) && strlen(s) < HVA_SANLOCK_NAME_MAX)
        return 0;
    snprintf(err, errlen,
             "VM '%s': lease %s '%.64s' is not a valid sanlock name (1 to %d "
             "of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
             def->name, what, s, HVA_SANLOCK_NAME_MAX - 1);
    return -CMN_E_BAD_VALUE;
}

/* The runtime form's own fields: disks, lease, state. */
static int check_files(struct hva_vm_def *def, const struct hva_dirs *d,
                       char *err, size_t errlen)
{
    char what[64];
    int rc = 0;

    if (def->n_disks > RES_VM_MAX_DISKS) {
        snprintf(err, errlen, "VM '%s': %zu disks (at most %d)", def->name,
                 def->n_disks, RES_VM_MAX_DISKS);
        return -CMN_E_BAD_VALUE;
    }
    if (def->kernel)
        rc = check_path(def, d, "kernel", &def->kernel, false, err, errlen);
    if (rc == 0 && def->initrd)
        rc = check_path(def, d, "initrd", &def->initrd, false, err, errlen);
    for (size_t i = 0; rc == 0 && i < def->n_disks; i++) {
        /* Named as the guest sees them: vda, vdb, ... in order. */
        unsigned slot = def->disks[i].slot;

        snprintf(what, sizeof(what), "disk vd%c path", (char)('a' + i));
        rc = check_path(def, d, what, &def->disks[i].path, true, err, errlen);
        if (rc < 0 || !slot)
            continue;
        if (slot < HVA_DISK_SLOT_MIN || slot > HVA_DISK_SLOT_MAX) {
            snprintf(err, errlen,
                     "VM '%s': disk vd%c: slot %u is not a hot-plug slot "
                     "(%u to %u)",
                     def->name, (char)('a' + i), slot, HVA_DISK_SLOT_MIN,
                     HVA_DISK_SLOT_MAX);
            rc = -CMN_E_BAD_VALUE;
        }
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (def->disks[j].slot == slot) {
                snprintf(err, errlen, "VM '%s': two disks in slot %u",
                         def->name, slot);
                rc = -CMN_E_DUPLICATE;
            }
    }
    if (rc == 0 && def->lease.lockspace) {
        rc = check_lease_name(def, "lockspace", def->lease.lockspace, err,
                              errlen);
        if (rc == 0)
            rc = check_lease_name(def, "resource", def->lease.resource, err,
                                  errlen);
        if (rc == 0)
            rc = check_path(def, d, "lease path", &def->lease.path, true, err,
                            errlen);
    }
    if (rc == 0 && def->state.path)
        rc = check_path(def, d, "state path", &def->state.path, true, err,
                        errlen);
    return rc;
}

/* clusterd picks the slots by resources/' rules, hvagent holds them to its
 * own: one range. */
_Static_assert(HVA_DISK_SLOT_MIN == RES_DISK_SLOT_MIN &&
                   HVA_DISK_SLOT_MAX == RES_DISK_SLOT_MAX,
               "hot-plug slot range");

int hva_disk_add_check(const struct hva_vm_def *def, struct hva_disk *d,
                       const struct hva_dirs *dirs, char *err, size_t errlen)
{
    char what[64];

    if (d->slot < HVA_DISK_SLOT_MIN || d->slot > HVA_DISK_SLOT_MAX) {
        snprintf(err, errlen,
                 "VM '%s': disk slot %u is not a hot-plug slot (%u to %u)",
                 def->name, d->slot, HVA_DISK_SLOT_MIN, HVA_DISK_SLOT_MAX);
        return -CMN_E_BAD_VALUE;
    }
    for (size_t i = 0; i < def->n_disks; i++)
        if (def->disks[i].slot == d->slot) {
            snprintf(err, errlen, "VM '%s': slot %u already has a disk",
                     def->name, d->slot);
            return -CMN_E_DUPLICATE;
        }
    if (def->n_disks >= RES_VM_MAX_DISKS) {
        snprintf(err, errlen, "VM '%s': already %zu disks (at most %d)",
                 def->name, def->n_disks, RES_VM_MAX_DISKS);
        return -CMN_E_BAD_VALUE;
    }
    snprintf(what, sizeof(what), "disk in slot %u path", d->slot);
    return check_path(def, dirs, what, &d->path, true, err, errlen);
}

int hva_storage_path_check(const struct hva_vm_def *def,
                           const struct hva_dirs *dirs, const char *what,
                           char **path, char *err, size_t errlen)
{
    return check_path(def, dirs, what, path, true, err, errlen);
}

int hva_disk_find_slot(const struct hva_vm_def *def, unsigned slot, char *err,
                       size_t errlen)
{
    char have[128] = "";
    size_t len = 0;

    for (size_t i = 0; i < def->n_disks; i++) {
        if (!def->disks[i].slot)
            continue;
        if (def->disks[i].slot == slot)
            return (int)i;
        if (len < sizeof(have))
            len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%u",
                                    len ? " " : "", def->disks[i].slot);
    }
    snprintf(err, errlen,
             "VM '%s' has no hot-plugged disk in slot %u (its hot-plugged "
             "disks: %s; a disk of the definition without a slot, such as "
             "the boot disk, is never removed live)",
             def->name, slot, len ? have : "none");
    return -ENOENT;
}

int hva_vm_def_check(struct hva_vm_def *def, const struct hva_dirs *dirs,
                     char *err, size_t errlen)
{
    struct res_vm_core c = {
        .name = def->name,
        .memory_mib = def->memory_mib,
        .vcpus = def->vcpus,
        .cpu_model = def->cpu_model,
        .kernel = def->kernel,
        .initrd = def->initrd,
        .cmdline = def->cmdline,
    };
    char src[RES_NAME_MAX + 8] = "VM definition";
    int rc;

    if (cmn_name_valid(def->name))
        snprintf(src, sizeof(src), "VM '%s'", def->name);
    if (res_uuid_parse(def->uuid, c.uuid) < 0) {
        snprintf(err, errlen,
                 "%s: <uuid>: '%.40s' is not a UUID (expected "
                 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                 src, def->uuid);
        return -CMN_E_BAD_VALUE;
    }
    rc = res_vm_core_validate(&c, src, err, errlen);
    if (rc < 0)
        return rc;
    return check_files(def, dirs, err, errlen);
}

/* The safety rule of a VM without a lease: see hva_local_check in
 * hva-int.h. The node name alone would trust whoever wrote the request;
 * the marker is what the directory itself says, so a directory that two
 * nodes see (one volume added twice, an NFS mount) never runs the VM on
 * the node it was not added on. */
int hva_local_check(const struct hva_vm_def *def, const char *node_name,
                    char *err, size_t errlen)
{
    char dir[PATH_MAX], marker[PATH_MAX + sizeof(HVA_LOCAL_MARKER) + 1];
    char line[HVA_LOCAL_MARKER_MAX + 1], want[HVA_LOCAL_MARKER_MAX + 1];
    FILE *f;
    size_t n;

    if (!def->local.node)
        return 0;
    if (strcmp(def->local.node, node_name) != 0) {
        snprintf(err, errlen,
                 "VM '%s' is on node-local volume '%.64s' of node '%.64s': "
                 "it cannot run on node '%s'",
                 def->name, def->local.volume, def->local.node, node_name);
        return -CMN_E_BAD_VALUE;
    }
    if (!realpath(def->local.path, dir)) {
        snprintf(err, errlen,
                 "VM '%s': local volume '%.64s' directory '%.256s' on node "
                 "'%s': %s",
                 def->name, def->local.volume, def->local.path, node_name,
                 strerror(errno));
        return -CMN_E_BAD_VALUE;
    }
    snprintf(marker, sizeof(marker), "%s/%s", dir, HVA_LOCAL_MARKER);
    snprintf(want, sizeof(want), HVA_LOCAL_MARKER_FMT, def->local.volume,
             node_name);
    f = fopen(marker, "re");
    n = f ? fread(line, 1, HVA_LOCAL_MARKER_MAX, f) : 0;
    if (f)
        fclose(f);
    line[n] = '\0';
    if (strcmp(line, want) != 0) {
        snprintf(err, errlen,
                 "VM '%s': '%.256s' is not local volume '%.64s' of node "
                 "'%s' (its %s %s): refused, a VM without a lease runs only "
                 "on its volume's node",
                 def->name, dir, def->local.volume, node_name, HVA_LOCAL_MARKER,
                 f ? "names another" : "is missing");
        return -CMN_E_BAD_VALUE;
    }
    for (size_t i = 0; i < def->n_disks; i++)
        if (!below(def->disks[i].path, dir)) {
            snprintf(err, errlen,
                     "VM '%s': disk %zu '%.256s' is outside its local "
                     "volume '%.64s' (%.256s)",
                     def->name, i, def->disks[i].path, def->local.volume, dir);
            return -CMN_E_BAD_VALUE;
        }
    return 0;
}
