/* A VM undefined right after its QEMU was killed: the reap check the kill
 * armed (every 20 ms while the process lingers) must not outlive the VM.
 * hvagent/hva-vm.c runs here on a real qb loop with a real child process
 * standing in for QEMU; the migration hooks it calls are stubs. Under ASan
 * a timer left armed is a heap-use-after-free when the loop runs it. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvagent/hva-int.h"

/* hva-mig.c, not linked: a VM without a migration needs none of it. */
void hva_mig_qmp_event(struct hva_vm *vm, const char *event, json_object *data)
{
    (void)vm;
    (void)event;
    (void)data;
}

void hva_disk_qmp_event(struct hva_vm *vm, const char *event, json_object *data)
{
    (void)vm;
    (void)event;
    (void)data;
}

void hva_disk_qemu_gone(struct hva_vm *vm)
{
    (void)vm;
}

void hva_mig_qemu_gone(struct hva_vm *vm)
{
    (void)vm;
}

/* hva-mirror.c, not linked: no mirror here either. */
void hva_mirror_qmp_event(struct hva_vm *vm, const char *event,
                          json_object *data)
{
    (void)vm;
    (void)event;
    (void)data;
}

void hva_mirror_qemu_gone(struct hva_vm *vm)
{
    (void)vm;
}

void hva_mirror_free(struct hva_vm *vm)
{
    (void)vm;
}

void hva_mirror_reattach(struct hva_vm *vm)
{
    (void)vm;
}

void hva_mig_recover(struct hva_vm *vm)
{
    (void)vm;
}

static void stop_loop(void *data)
{
    qb_loop_stop(data);
}

static void run_loop_ms(qb_loop_t *loop, unsigned ms)
{
    qb_loop_timer_handle t;

    qb_loop_timer_add(loop, QB_LOOP_LOW, (uint64_t)ms * 1000000ULL, loop,
                      stop_loop, &t);
    qb_loop_run(loop);
}

static void test_kill_then_undefine(void **state)
{
    char dir[] = "/tmp/hva-undef.XXXXXX", err[256], path[512];
    static const char xml[] =
        "<vm name=\"g1\" uuid=\"0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c\"/>";
    struct hva_agent ag = {.node_name = "n1", .mig_fd = -1};
    struct hva_vm_def *def = NULL;
    struct hva_vm *vm = NULL;
    pid_t child;

    (void)state;
    hva_err_register();
    assert_non_null(mkdtemp(dir));
    ag.run_dir = dir;
    snprintf(path, sizeof(path), "%s/vm", dir);
    mkdir(path, 0700);
    ag.loop = qb_loop_create();
    assert_non_null(ag.loop);
    assert_int_equal(hva_vm_def_from_xml(xml, &def, err, sizeof(err)), 0);
    assert_int_equal(hva_vm_define(&ag, def, &vm), 0);

    for (int round = 0; round < 3; round++) {
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            pause();
            _exit(0);
        }
        vm->pid = child;
        vm->our_child = true;
        /* the kill arms the reap check; the child then dies and SIGCHLD's
         * handler finds it gone while the check is still armed */
        assert_int_equal(hva_vm_kill(vm), 0);
        assert_true(vm->reap_timer != 0);
        while (vm->pid) {
            hva_vm_check_children(&ag);
            usleep(1000);
        }
        assert_true(vm->reap_timer == 0);
        if (round < 2) {
            run_loop_ms(ag.loop, 30);
            continue;
        }
        /* undefine at once, then let every timer that was due run */
        assert_int_equal(hva_vm_undefine(vm), 0);
        assert_null(ag.vms);
        run_loop_ms(ag.loop, 60);
    }
    snprintf(path, sizeof(path),
             "%s/vm/0c4e2b5a-6f1d-4e53-9a6b-1d2f3e4a5b6c/def.xml", dir);
    assert_int_equal(access(path, F_OK), -1);
    qb_loop_destroy(ag.loop);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* An undefine is refused while QEMU runs: nothing is freed under it. */
static void test_undefine_refused_while_running(void **state)
{
    struct hva_vm_def def = {0};
    struct hva_vm vm = {.def = &def, .pid = 1};

    (void)state;
    assert_int_equal(hva_vm_undefine(&vm), -HVA_E_STATE);
    vm.pid = 0;
    vm.jobs = 1;
    assert_int_equal(hva_vm_undefine(&vm), -HVA_E_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_then_undefine),
        cmocka_unit_test(test_undefine_refused_while_running),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
