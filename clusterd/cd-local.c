/* Node-local volumes, the daemon side (cd-local.h): `volume add --local`,
 * a local VM's start on its node (disk files, the runtime <vm>'s <local>),
 * the refusals of what local VMs cannot do yet. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd/cd-daemon.h"
#include "clusterd/cd-hva.h"
#include "clusterd/cd-int.h"
#include "clusterd/cd-local.h"
#include "clusterd/cd-replica.h"
#include "common/cmn-ipc.h"
#include "common/cmn-log.h"
#include "common/cmn-xml.h"
#include "hvagent/hva-proto.h"

/* This node's name in the CDB ("" before it is there). */
static const char *self_name(struct cd_daemon *d)
{
    const struct cd_node *n = cd_cdb_node_by_id(cd_daemon_cdb(d), d->nodeid);

    return n ? n->name : "";
}

/* What the marker of `dir` says: 1 it names `volume` and `node`, 0 it is
 * absent, -1 it says something else (in `other`). */
static int marker_read(const char *dir, const char *volume, const char *node,
                       char *other, size_t len)
{
    char path[PATH_MAX], want[HVA_LOCAL_MARKER_MAX + 1];
    char line[HVA_LOCAL_MARKER_MAX + 1];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, HVA_LOCAL_MARKER);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    n = read(fd, line, HVA_LOCAL_MARKER_MAX);
    close(fd);
    line[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof(want), HVA_LOCAL_MARKER_FMT, volume, node);
    if (!strcmp(line, want))
        return 1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(other, len, "%s", line[0] ? line : "(unreadable)");
    return -1;
}

static int marker_write(const char *dir, const char *volume, const char *node)
{
    char path[PATH_MAX], text[HVA_LOCAL_MARKER_MAX + 1];
    int fd, rc = 0;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, HVA_LOCAL_MARKER);
    n = (size_t)snprintf(text, sizeof(text), HVA_LOCAL_MARKER_FMT, volume,
                         node);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, text, n) != (ssize_t)n || fsync(fd) < 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc < 0)
        unlink(path);
    return rc;
}

struct add_job {
    char name[CD_NAME_MAX];
    char path[CD_VALUE_MAX];
    bool wrote_marker;
};

static void volume_added(struct cd_daemon *d, struct cmn_ipc_conn *conn, int rc,
                         char *reply, void *arg)
{
    struct add_job *a = arg;
    char path[PATH_MAX];

    (void)d;
    if (rc < 0 && rc != -CD_E_NO_CLUSTER && a->wrote_marker) {
        /* Refused by the CDB: the directory is nobody's again. (Lost
         * with corosync, it may be in the others' CDB: kept.) */
        snprintf(path, sizeof(path), "%s/%s", a->path, HVA_LOCAL_MARKER);
        unlink(path);
    }
    if (rc == 0)
        cmn_info(CMN_LOG_CD, "local volume '%s' (%s on this node) added",
                 a->name, a->path);
    if (conn) {
        cmn_ipc_reply(conn, reply ? reply
                                  : "<error code=\"12\">out of memory</error>");
        cmn_ipc_conn_unref(conn);
    }
    free(reply);
    free(a);
}

int cd_local_volume_add(struct cd_daemon *d, struct cmn_ipc_conn *conn,
                        struct _xmlNode *req, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    char name[CD_VALUE_MAX], node[CD_VALUE_MAX], path[CD_VALUE_MAX];
    char real[PATH_MAX], other[HVA_LOCAL_MARKER_MAX + 1];
    struct cd_op op = {.type = CD_OP_ADD_LOCAL_VOLUME};
    struct add_job *a;
    struct stat st;
    int rc;

    if (!cmn_xml_attr_copy(req, "name", name, sizeof(name)) ||
        !cmn_xml_attr_copy(req, "node", node, sizeof(node)) ||
        !cmn_xml_attr_copy(req, "path", path, sizeof(path)))
        return cd_error_reply(ret, -EINVAL,
                              "volume-add-local needs name, node and path");
    if (strlen(name) >= CD_NAME_MAX || !cmn_name_valid(name))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "volume name '%.64s' is invalid (letters, "
                              "digits, '.', '_', '-')",
                              name);
    for (size_t i = 0; i < cd_cdb_volume_count(cdb); i++)
        if (!strcmp(cd_cdb_volume(cdb, i)->name, name))
            return cd_error_reply(ret, -CD_E_EXISTS,
                                  "volume '%s' already exists (see "
                                  "'clusterctl volume list')",
                                  name);
    if (strlen(node) >= CD_NAME_MAX || !cd_cdb_node_by_name(cdb, node))
        return cd_error_reply(ret, -CD_E_NOT_FOUND,
                              "node '%.64s' does not exist (see 'clusterctl "
                              "node list')",
                              node);
    if (!cd_local_path_valid(path))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "path '%s' is not an absolute directory path "
                              "(no '.', '..', '//' or trailing '/')",
                              path);
    rc = cd_version_gate(d, CD_REPLICA_V_LOCAL, "local volumes", ret);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (strcmp(node, self_name(d)) != 0)
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "volume '%s' is a directory of node '%s': run "
                              "this command on node '%s' (only its clusterd "
                              "can check and mark the directory)",
                              name, node, node);
    /* On this node, in the loop: a stat and a one-line file in a local
     * directory. */
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "path '%s' is not a directory on node '%s' (%s)",
                              path, node,
                              errno && !S_ISLNK(st.st_mode)
                                  ? strerror(errno)
                                  : "not a directory, or a symbolic link");
    if (!realpath(path, real) || strcmp(real, path) != 0)
        return cd_error_reply(ret, -CD_E_BAD_VALUE,
                              "path '%s' on node '%s' is not canonical (it "
                              "is '%s'): give that path",
                              path, node, real);
    rc = marker_read(path, name, node, other, sizeof(other));
    if (rc < 0)
        return cd_error_reply(ret, -CD_E_IN_USE,
                              "'%s' on node '%s' is already marked as a "
                              "local volume ('%s/%s' says '%s'): a directory "
                              "is one node's one volume",
                              path, node, path, HVA_LOCAL_MARKER, other);
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->path, sizeof(a->path), "%s", path);
    if (rc == 0) {
        rc = marker_write(path, name, node);
        if (rc < 0) {
            free(a);
            return cd_error_reply(ret, rc,
                                  "cannot write '%s/%s' on node '%s': %s", path,
                                  HVA_LOCAL_MARKER, node, strerror(-rc));
        }
        a->wrote_marker = true;
    }
    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", node);
    snprintf(op.arg2, sizeof(op.arg2), "%s", path);
    rc = cd_ipc_submit_cb(d, conn, &op, volume_added, a, ret);
    if (rc != CMN_IPC_DEFERRED) {
        if (a->wrote_marker) {
            char m[PATH_MAX];
            snprintf(m, sizeof(m), "%s/%s", path, HVA_LOCAL_MARKER);
            unlink(m);
        }
        free(a);
    }
    return rc;
}

/* ------------------------------------------------ a local VM's start */

/* In the worker: the VM's directory and disk files (created sparse when
 * missing, grown to the definition's size when smaller; never shrunk),
 * then the <disk>s and <local> into the runtime <vm>. */
static int local_prepare(struct cd_hva_job *j)
{
    char dir[PATH_MAX], file[PATH_MAX], other[HVA_LOCAL_MARKER_MAX + 1];
    struct cd_local_made made;
    struct cd_buf b;
    char *tail = NULL, *xml = NULL;
    const char *end;
    int rc;

    rc = marker_read(j->local_path, j->local_volume, j->local_node, other,
                     sizeof(other));
    if (rc != 1) {
        cd_errf(j->msg, sizeof(j->msg),
                "VM '%s': '%s' is not local volume '%s' of node '%s' (%s/%s "
                "%s)",
                j->vm, j->local_path, j->local_volume, j->local_node,
                j->local_path, HVA_LOCAL_MARKER,
                rc == 0 ? "is missing" : "names another");
        return -CD_E_BAD_VALUE;
    }
    if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", j->local_path, j->vm) >=
        sizeof(dir) - 16)
        return -ENAMETOOLONG;
    rc = cd_local_files_make(
        dir, j->vm, (const char(*)[RES_TARGET_MAX])j->local_targets,
        j->local_sizes, j->csv_ndisks, &made, j->msg, sizeof(j->msg));
    if (rc < 0)
        return rc;
    /* A start keeps what it made (`made` matters to a move's target, which
     * deletes it on failure): these files are the VM's disks from now. */
    cd_buf_init(&b);
    for (size_t i = 0; i < j->csv_ndisks; i++) {
        /* cd_local_files_make checked that every path fits. */
        if ((size_t)snprintf(file, sizeof(file), "%s/%s.img", dir,
                             j->local_targets[i]) >= sizeof(file)) {
            cd_buf_free(&b);
            return -ENAMETOOLONG;
        }
        cd_buf_puts(&b, "<disk path=\"");
        cd_buf_xml_escape(&b, file);
        cd_buf_xmlf(&b, "\" offset=\"0\" size=\"%" PRIu64 "\"",
                    j->local_sizes[i]);
        if (j->csv_slots[i])
            cd_buf_xmlf(&b, " slot=\"%u\"", j->csv_slots[i]);
        if (j->csv_scsi[i])
            cd_buf_puts(&b, " bus=\"virtio-scsi\"");
        cd_buf_puts(&b, "/>");
    }
    cd_buf_xmlf(&b, "<local volume=\"%s\" node=\"%s\" path=\"%s\"/>",
                j->local_volume, j->local_node, j->local_path);
    rc = cd_buf_steal(&b, &tail, NULL);
    if (rc < 0)
        return rc;
    end = j->vm_xml ? strstr(j->vm_xml, "</vm>") : NULL;
    if (!end) {
        free(tail);
        return -EINVAL;
    }
    if (asprintf(&xml, "%.*s%s</vm>", (int)(end - j->vm_xml), j->vm_xml, tail) <
        0) {
        free(tail);
        return -ENOMEM;
    }
    free(tail);
    free(j->vm_xml);
    j->vm_xml = xml;
    return 0;
}

int cd_local_runtime(struct cd_daemon *d, const struct cd_vm *v,
                     const struct res_vm *def, struct cd_hva_job *j, char *msg,
                     size_t len)
{
    const char *name = cd_vm_local_volume(v);
    const struct cd_volume *lv =
        name ? cd_local_volume(cd_daemon_cdb(d), name) : NULL;
    const char *self = self_name(d);
    size_t n = 0;

    if (!lv) {
        cd_errf(msg, len,
                "VM '%s': its local volume '%s' is not in the cluster "
                "database (see 'clusterctl volume list')",
                v->name, name ? name : "?");
        return -CD_E_NOT_FOUND;
    }
    if (strcmp(lv->node, self) != 0) {
        cd_errf(msg, len,
                "VM '%s' is on node-local volume '%s' of node '%s': it "
                "cannot start on node '%s'",
                v->name, lv->name, lv->node, self);
        return -CD_E_BAD_VALUE;
    }
    if (def->n_disks > sizeof(j->local_sizes) / sizeof(j->local_sizes[0]))
        return -E2BIG;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct res_disk *dk = &def->disks[i];
        snprintf(j->local_targets[n], sizeof(j->local_targets[n]), "%s",
                 dk->target);
        j->local_sizes[n] = dk->size;
        j->csv_slots[n] = dk->slot;
        j->csv_scsi[n] = dk->bus == RES_BUS_VIRTIO_SCSI;
        n++;
    }
    j->csv_ndisks = n;
    snprintf(j->local_path, sizeof(j->local_path), "%s", lv->path);
    snprintf(j->local_volume, sizeof(j->local_volume), "%s", lv->name);
    snprintf(j->local_node, sizeof(j->local_node), "%s", lv->node);
    j->prepare = local_prepare;
    return 0;
}

int cd_local_refuse_move_storage(struct cd_daemon *d, struct _xmlNode *req,
                                 const char *vm, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_vm *v = cd_cdb_vm_by_name(cdb, vm);
    char to[CD_VALUE_MAX] = "";
    const char *lv = v ? cd_vm_local_volume(v) : NULL;

    cmn_xml_attr_copy(req, "volume", to, sizeof(to));
    if (lv) {
        const struct cd_volume *sv = cd_local_volume(cdb, lv);
        const struct cd_volume *tv = to[0] ? cd_local_volume(cdb, to) : NULL;
        /* Another node's local volume: clusterctl's move-vm --to-volume
         * asks this first; the disks would go with the VM. */
        if (sv && tv && strcmp(sv->node, tv->node) != 0) {
            cd_error_reply(ret, -ENOTSUP,
                           "VM '%s' is on node-local volume '%s' of node "
                           "'%s': its disks go to volume '%s' of node '%s' "
                           "only with the VM, in a live migration with "
                           "storage copy, which is not available yet",
                           vm, lv, sv->node, to, tv->node);
            return 1;
        }
        cd_error_reply(ret, -ENOTSUP,
                       "VM '%s' is on node-local volume '%s': move-storage "
                       "of a VM on a local volume is not available yet",
                       vm, lv);
        return 1;
    }
    if (to[0] && cd_local_volume(cdb, to)) {
        cd_error_reply(ret, -ENOTSUP,
                       "volume '%s' is a node-local volume: move-storage to "
                       "a local volume is not available yet",
                       to);
        return 1;
    }
    return 0;
}

int cd_local_refuse_move_vm(struct cd_daemon *d, struct _xmlNode *req,
                            const char *vm, char **ret)
{
    const struct cd_cdb *cdb = cd_daemon_cdb(d);
    const struct cd_vm *v = cd_cdb_vm_by_name(cdb, vm);
    const char *lv = v ? cd_vm_local_volume(v) : NULL;
    const struct cd_volume *src = lv ? cd_local_volume(cdb, lv) : NULL;
    char to[CD_VALUE_MAX] = "", volume[CD_VALUE_MAX] = "", mode[16] = "";
    char tv[CD_NAME_MAX], tn[CD_NAME_MAX], err[512];
    int rc;

    if (!src)
        return 0;
    cmn_xml_attr_copy(req, "to", to, sizeof(to));
    cmn_xml_attr_copy(req, "volume", volume, sizeof(volume));
    cmn_xml_attr_copy(req, "mode", mode, sizeof(mode));
    /* A quick migration, or no other node nor volume named: placement's
     * refusal ("it cannot run on node ...") says it as before. */
    if (strcmp(mode, "live") != 0 ||
        (!volume[0] && (!to[0] || !strcmp(to, src->node))))
        return 0;
    rc =
        cd_local_move_target(cdb, vm, lv, to, volume, tv, tn, err, sizeof(err));
    if (rc < 0) {
        cd_error_reply(ret, rc, "%s", err);
        return 1;
    }
    cd_error_reply(ret, -ENOTSUP,
                   "VM '%s' is on node-local volume '%s' of node '%s': a live "
                   "migration with storage copy to volume '%s' of node '%s' "
                   "is not available yet",
                   vm, lv, src->node, tv, tn);
    return 1;
}
