/* Node-local volumes in the CDB (CD_OP_ADD_LOCAL_VOLUME, the canonical
 * form, the schema, removal) and the pure decisions of cd-local.h: the
 * local volume a definition is on, and the node placement ties it to. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd/cd-local.h"
#include "clusterd/cd.h"
#include "resources/res-vm.h"

static const char *schema_path(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("KVMC_SRCDIR");

    snprintf(path, sizeof(path), "%s/schemas/cdb.rng", src ? src : ".");
    return path;
}

static int apply(struct cd_cdb *cdb, enum cd_op_type t, const char *name,
                 const char *arg, const char *arg2, const char *text, char *err,
                 size_t errlen)
{
    struct cd_op op = {.type = t, .nodeid = 0};

    snprintf(op.name, sizeof(op.name), "%s", name);
    snprintf(op.arg, sizeof(op.arg), "%s", arg ? arg : "");
    snprintf(op.arg2, sizeof(op.arg2), "%s", arg2 ? arg2 : "");
    op.text = (char *)text;
    return cd_cdb_apply(cdb, &op, err, errlen);
}

static struct cd_cdb *two_nodes(void)
{
    struct cd_cdb *cdb = NULL;
    struct cd_op op = {.type = CD_OP_ADD_NODE, .nodeid = 1, .number = 2048};
    char err[256];

    assert_int_equal(cd_cdb_new(&cdb), 0);
    snprintf(op.name, sizeof(op.name), "node1");
    snprintf(op.arg, sizeof(op.arg), "198.18.0.11");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    op.nodeid = 2;
    snprintf(op.name, sizeof(op.name), "node2");
    snprintf(op.arg, sizeof(op.arg), "198.18.0.12");
    assert_int_equal(cd_cdb_apply(cdb, &op, err, sizeof(err)), 0);
    return cdb;
}

static void test_path_rule(void **state)
{
    (void)state;
    assert_true(cd_local_path_valid("/var/lib/vms"));
    assert_true(cd_local_path_valid("/a"));
    assert_true(cd_local_path_valid("/srv/my vms/x.y"));
    assert_true(cd_local_path_valid("/srv/..x/.y"));
    assert_false(cd_local_path_valid("/"));
    assert_false(cd_local_path_valid(""));
    assert_false(cd_local_path_valid("var/lib"));
    assert_false(cd_local_path_valid("/var/lib/"));
    assert_false(cd_local_path_valid("/var//lib"));
    assert_false(cd_local_path_valid("/var/./lib"));
    assert_false(cd_local_path_valid("/var/lib/.."));
    assert_false(cd_local_path_valid("/var/../etc"));
    assert_false(cd_local_path_valid("/var/l\nib"));
}

static void test_volume_op(void **state)
{
    CMN_AUTO(cd_cdb) *a = two_nodes();
    CMN_AUTO(cd_cdb) *b = NULL;
    const struct cd_volume *v;
    char err[512], *ta = NULL, *tb = NULL;
    size_t la, lb;

    (void)state;
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node9",
                           "/srv/vms", NULL, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_string_equal(err, "volume 'loc1': node 'node9' does not exist "
                             "(see 'clusterctl node list')");
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node1",
                           "/srv/../etc", NULL, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "path '/srv/../etc' is not an absolute"));
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "lo c1", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node2",
                           "/srv/vms", NULL, err, sizeof(err)),
                     -CD_E_EXISTS);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc9", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     -CD_E_EXISTS);
    assert_string_equal(err, "volume 'loc9': '/srv/vms' of node 'node1' is "
                             "volume 'loc1' already");
    /* the same directory name on another node is another volume */
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc2", "node2",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_VOLUME, "csv1", "kvmc-csv1", NULL,
                           "naa.1\n", err, sizeof(err)),
                     0);
    v = cd_local_volume(a, "loc1");
    assert_non_null(v);
    assert_string_equal(v->node, "node1");
    assert_string_equal(v->path, "/srv/vms");
    assert_null(cd_local_volume(a, "csv1"));
    assert_null(cd_local_volume(a, "nope"));

    /* A VM on it: tied to node1 in placement, whatever its definition. */
    assert_int_equal(apply(a, CD_OP_ADD_VM, "lv", "high", "local:loc1",
                           "<vm><name>lv</name></vm>", err, sizeof(err)),
                     0);
    assert_string_equal(cd_vm_local_volume(cd_cdb_vm_by_name(a, "lv")), "loc1");
    assert_string_equal(cd_cdb_vm_by_name(a, "lv")->place.local_volume, "loc1");
    assert_string_equal(cd_cdb_vm_by_name(a, "lv")->place.local_node, "node1");

    /* canonical form, schema, parse, digest */
    assert_int_equal(cd_cdb_serialize(a, &ta, &la), 0);
    assert_non_null(strstr(ta, "<volume name=\"loc1\" kind=\"local\" "
                               "node=\"node1\" path=\"/srv/vms\"/>"));
    assert_int_equal(
        cd_cdb_parse(ta, la, "a", schema_path(), &b, err, sizeof(err)), 0);
    assert_int_equal(cd_cdb_serialize(b, &tb, &lb), 0);
    assert_string_equal(ta, tb);
    assert_string_equal(cd_cdb_vm_by_name(b, "lv")->place.local_node, "node1");
    assert_non_null(cd_local_volume(b, "loc2"));

    /* the volume goes after its VMs */
    assert_int_equal(apply(a, CD_OP_REMOVE_VOLUME, "loc1", NULL, NULL, NULL,
                           err, sizeof(err)),
                     -CD_E_IN_USE);
    assert_string_equal(err, "volume 'loc1' holds VM 'lv': remove the VM "
                             "first");
    assert_int_equal(
        apply(a, CD_OP_REMOVE_VM, "lv", NULL, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(apply(a, CD_OP_REMOVE_VOLUME, "loc1", NULL, NULL, NULL,
                           err, sizeof(err)),
                     0);
    free(ta);
    free(tb);
}

static struct res_vm *vm_def(const char *disks, const char *policy)
{
    char xml[2048], err[512];
    struct res_vm *def = NULL;

    snprintf(xml, sizeof(xml),
             "<vm><name>lv</name>"
             "<uuid>6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab</uuid>"
             "<memory unit=\"MiB\">64</memory><vcpus>1</vcpus>%s"
             "<boot dev=\"kernel\"><kernel>/k</kernel></boot>%s</vm>",
             disks, policy);
    if (res_vm_parse(xml, strlen(xml), "lv.xml", &def, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return def;
}

static void test_vm_volume(void **state)
{
    CMN_AUTO(cd_cdb) *a = two_nodes();
    struct res_vm *def;
    char vol[CD_NAME_MAX], err[512];

    (void)state;
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_VOLUME, "csv1", "kvmc-csv1", NULL,
                           "naa.1\n", err, sizeof(err)),
                     0);
    /* on the CSV, or no disks: not local */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"csv1\" size=\"8\"/>"
                 "</disk>",
                 "");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)), 0);
    res_vm_free(def);
    def = vm_def("", "");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)), 0);
    res_vm_free(def);
    /* every disk on loc1 */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc1\" size=\"8\"/>"
                 "</disk><disk target=\"vdb\"><allocate volume=\"loc1\" "
                 "size=\"1\" unit=\"GiB\"/></disk>",
                 "<policy><possible-owners><node>node1</node><node>node2"
                 "</node></possible-owners></policy>");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)), 1);
    assert_string_equal(vol, "loc1");
    res_vm_free(def);
    /* mixed: refused, naming both disks */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc1\" size=\"8\"/>"
                 "</disk><disk target=\"vdb\"><allocate size=\"8\"/></disk>",
                 "");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv': disk vda is on node-local volume "
                             "'loc1' but disk vdb on any volume: all disks "
                             "of a VM on a local volume are on that volume");
    res_vm_free(def);
    def = vm_def("<disk target=\"vda\"><allocate volume=\"csv1\" size=\"8\"/>"
                 "</disk><disk target=\"vdb\"><allocate volume=\"loc1\" "
                 "size=\"8\"/></disk>",
                 "");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "but disk vda on volume 'csv1'"));
    res_vm_free(def);
    /* an extent id on a local volume means nothing */
    def = vm_def("<disk target=\"vda\"><extent volume=\"loc1\" id=\"3\"/>"
                 "</disk>",
                 "");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "disk vda names an extent"));
    res_vm_free(def);
    /* possible owners without the volume's node: could never run */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc1\" size=\"8\"/>"
                 "</disk>",
                 "<policy><possible-owners><node>node2</node>"
                 "</possible-owners></policy>");
    assert_int_equal(cd_local_vm_volume(a, def, vol, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv': its disks are on node-local volume "
                             "'loc1' of node 'node1', which is not among its "
                             "possible owners: it could never run");
    res_vm_free(def);
}

/* vm edit of a local VM: its disks stay on its volume, its owners keep
 * the volume's node; a CSV VM is not this check's business. */
static void test_edit_check(void **state)
{
    CMN_AUTO(cd_cdb) *a = two_nodes();
    struct res_vm *def;
    char err[512];

    (void)state;
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc2", "node2",
                           "/srv/vms2", NULL, err, sizeof(err)),
                     0);
    /* bigger disk, one more disk: fine */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc1\" "
                 "size=\"16\"/></disk><disk target=\"vdb\"><allocate "
                 "volume=\"loc1\" size=\"8\"/></disk>",
                 "");
    assert_int_equal(
        cd_local_edit_check(a, "local:loc1", def, err, sizeof(err)), 0);
    /* a CSV VM: not checked here */
    assert_int_equal(
        cd_local_edit_check(a, "csv:csv1:3:4", def, err, sizeof(err)), 0);
    res_vm_free(def);
    /* to another node's volume */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc2\" "
                 "size=\"8\"/></disk>",
                 "");
    assert_int_equal(
        cd_local_edit_check(a, "local:loc1", def, err, sizeof(err)),
        -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv' is on node-local volume 'loc1': the new "
                             "definition puts its disks on volume 'loc2'; an "
                             "edit moves no disk (keep <allocate "
                             "volume=\"loc1\" .../> on every disk; "
                             "'clusterctl move-vm' moves them with the VM)");
    res_vm_free(def);
    /* off any local volume */
    def = vm_def("<disk target=\"vda\"><allocate size=\"8\"/></disk>", "");
    assert_int_equal(
        cd_local_edit_check(a, "local:loc1", def, err, sizeof(err)),
        -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "puts its disks elsewhere; an edit moves"));
    res_vm_free(def);
    /* owners without node1: could never run */
    def = vm_def("<disk target=\"vda\"><allocate volume=\"loc1\" "
                 "size=\"8\"/></disk>",
                 "<policy><possible-owners><node>node2</node>"
                 "</possible-owners></policy>");
    assert_int_equal(
        cd_local_edit_check(a, "local:loc1", def, err, sizeof(err)),
        -CD_E_BAD_VALUE);
    assert_non_null(strstr(err, "which is not among its possible owners"));
    res_vm_free(def);
}

/* The target volume of a live move with storage copy: named, or the
 * target node's one local volume; every refusal names what is wrong. */
static void test_move_target(void **state)
{
    CMN_AUTO(cd_cdb) *a = two_nodes();
    struct cd_op op = {.type = CD_OP_ADD_NODE, .nodeid = 3, .number = 2048};
    char vol[CD_NAME_MAX], node[CD_NAME_MAX], err[512];

    (void)state;
    snprintf(op.name, sizeof(op.name), "node3");
    snprintf(op.arg, sizeof(op.arg), "198.18.0.13");
    assert_int_equal(cd_cdb_apply(a, &op, err, sizeof(err)), 0);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1", "node1",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc1b", "node1",
                           "/srv/vms2", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_LOCAL_VOLUME, "loc2", "node2",
                           "/srv/vms", NULL, err, sizeof(err)),
                     0);
    assert_int_equal(apply(a, CD_OP_ADD_VOLUME, "csv1", "kvmc-csv1", NULL,
                           "naa.1\n", err, sizeof(err)),
                     0);

    /* chosen: node2's one local volume; named, with or without --to */
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node2", NULL, vol,
                                          node, err, sizeof(err)),
                     0);
    assert_string_equal(vol, "loc2");
    assert_string_equal(node, "node2");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "", "loc2", vol,
                                          node, err, sizeof(err)),
                     0);
    assert_string_equal(node, "node2");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node2", "loc2", vol,
                                          node, err, sizeof(err)),
                     0);

    /* refusals */
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", NULL, NULL, vol,
                                          node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv' is on node-local volume 'loc1' of node "
                             "'node1': a live move names the target node "
                             "(--to NODE) or its local volume (--to-volume "
                             "VOLUME)");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node9", NULL, vol,
                                          node, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_string_equal(err, "VM 'lv': node 'node9' does not exist (see "
                             "'clusterctl node list')");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node2", "nope", vol,
                                          node, err, sizeof(err)),
                     -CD_E_NOT_FOUND);
    assert_string_equal(err, "VM 'lv': volume 'nope' does not exist (see "
                             "'clusterctl volume list')");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node2", "csv1", vol,
                                          node, err, sizeof(err)),
                     -ENOTSUP);
    assert_non_null(strstr(err, "cluster-shared volume 'csv1' is not "
                                "available yet"));
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node3", "loc2", vol,
                                          node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv': volume 'loc2' is node-local to node "
                             "'node2', not to the target node 'node3' (name "
                             "a volume of 'node3', or --to node2)");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node3", NULL, vol,
                                          node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv' is on node-local volume 'loc1': node "
                             "'node3' has no local volume to copy its disks "
                             "to (add one: clusterctl volume add NAME --local "
                             "--node node3 --path DIR)");
    assert_int_equal(cd_local_move_target(a, "lv", "loc2", "node1", NULL, vol,
                                          node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv' is on node-local volume 'loc2': node "
                             "'node1' has local volumes 'loc1', 'loc1b': name "
                             "one with --to-volume");
    assert_int_equal(cd_local_move_target(a, "lv", "loc1", "node1", "loc1b",
                                          vol, node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv' is on node-local volume 'loc1' of node "
                             "'node1': a live move with storage copy goes to "
                             "another node (volume 'loc1b' is on 'node1' "
                             "too)");
    assert_int_equal(cd_local_move_target(a, "lv", "csv1", "node2", NULL, vol,
                                          node, err, sizeof(err)),
                     -CD_E_BAD_VALUE);
    assert_string_equal(err, "VM 'lv': 'csv1' is not a node-local volume");
}

/* A move's target files: made sparse, an existing one kept and grown,
 * and a failure's undo removes exactly what was created. */
static void test_files_made(void **state)
{
    char tmpl[] = "/tmp/kvmc-test-local-XXXXXX", dir[64], f[128];
    const char targets[3][RES_TARGET_MAX] = {"vda", "vdb", "vdc"};
    const uint64_t sizes[3] = {1 << 20, 2 << 20, 4096};
    struct cd_local_made made = {.dir = false, .files = 0};
    struct stat st;
    char err[512];
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s/lv", tmpl);
    /* vdb was there (smaller, with data): kept, grown, not "made" */
    assert_int_equal(mkdir(dir, 0750), 0);
    snprintf(f, sizeof(f), "%s/vdb.img", dir);
    fp = fopen(f, "w");
    assert_non_null(fp);
    fputs("data", fp);
    fclose(fp);
    assert_int_equal(cd_local_files_make(dir, "lv", targets, sizes, 3, &made,
                                         err, sizeof(err)),
                     0);
    assert_false(made.dir);
    assert_int_equal(made.files, 0x5);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 2 << 20);
    snprintf(f, sizeof(f), "%s/vda.img", dir);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_true(st.st_blocks == 0); /* sparse */
    cd_local_files_undo(dir, targets, 3, &made);
    assert_int_equal(stat(f, &st), -1);
    snprintf(f, sizeof(f), "%s/vdc.img", dir);
    assert_int_equal(stat(f, &st), -1);
    snprintf(f, sizeof(f), "%s/vdb.img", dir);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(unlink(f), 0);
    assert_int_equal(rmdir(dir), 0);

    /* all new, the directory too: the undo leaves nothing */
    assert_int_equal(cd_local_files_make(dir, "lv", targets, sizes, 2, &made,
                                         err, sizeof(err)),
                     0);
    assert_true(made.dir);
    assert_int_equal(made.files, 0x3);
    cd_local_files_undo(dir, targets, 2, &made);
    assert_int_equal(stat(dir, &st), -1);

    /* a failure half-way removes what it made and names the file: vdb's
     * path is a directory */
    snprintf(f, sizeof(f), "%s/vdb.img", dir);
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(mkdir(f, 0750), 0);
    assert_true(cd_local_files_make(dir, "lv", targets, sizes, 3, &made, err,
                                    sizeof(err)) < 0);
    assert_non_null(strstr(err, "VM 'lv': disk vdb file '"));
    snprintf(f, sizeof(f), "%s/vda.img", dir);
    assert_int_equal(stat(f, &st), -1);
    snprintf(f, sizeof(f), "%s/vdb.img", dir);
    assert_int_equal(rmdir(f), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(tmpl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_rule),  cmocka_unit_test(test_volume_op),
        cmocka_unit_test(test_vm_volume),  cmocka_unit_test(test_move_target),
        cmocka_unit_test(test_files_made), cmocka_unit_test(test_edit_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
