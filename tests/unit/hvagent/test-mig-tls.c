/* Encryption of the migration stream (migration-tls = psk): the
 * per-migration key, the credentials directory handed to QEMU and the
 * object-add arguments. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
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

static const char tok_a[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char tok_b[] =
    "10112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* Same secret and token: same key on both agents; any difference in
 * either gives another key (what a target with the wrong secret has). */
static void test_key(void **state)
{
    uint8_t base[32], base2[32], k1[32], k2[32], k3[32], k4[32];

    (void)state;
    memset(base, 0x5a, sizeof(base));
    memcpy(base2, base, sizeof(base));
    base2[31] ^= 1;
    assert_int_equal(hva_mig_tls_key(base, tok_a, k1), 0);
    assert_int_equal(hva_mig_tls_key(base, tok_a, k2), 0);
    assert_memory_equal(k1, k2, 32);
    assert_int_equal(hva_mig_tls_key(base, tok_b, k3), 0);
    assert_memory_not_equal(k1, k3, 32);
    assert_int_equal(hva_mig_tls_key(base2, tok_a, k4), 0);
    assert_memory_not_equal(k1, k4, 32);
    /* never the secret itself */
    assert_memory_not_equal(k1, base, 32);
    assert_int_equal(hva_mig_tls_key(base, "", k1), -EINVAL);
}

static char *read_all(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The directory QEMU reads: private modes, QEMU's key line format, DH
 * parameters present (or QEMU would generate some at object-add), and
 * nothing left after removal. */
static void test_write_remove(void **state)
{
    char tmp[] = "/tmp/kvmc-mig-tls-XXXXXX", dir[256], path[300], err[512];
    char want[128];
    uint8_t key[32];
    struct stat st;
    char *t;

    (void)state;
    for (size_t i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof(dir), "%s/vm.in", tmp);
    assert_int_equal(hva_mig_tls_write(dir, getgid(), key, err, sizeof(err)),
                     0);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    snprintf(path, sizeof(path), "%s/keys.psk", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, getgid());
    t = read_all(path);
    assert_non_null(t);
    snprintf(want, sizeof(want), "%s:", HVA_MIG_TLS_USER);
    for (size_t i = 0; i < 32; i++)
        snprintf(want + strlen(want), 3, "%02x", (unsigned)i);
    strcat(want, "\n");
    assert_string_equal(t, want);
    snprintf(path, sizeof(path), "%s/dh-params.pem", dir);
    t = read_all(path);
    assert_non_null(t);
    assert_non_null(strstr(t, "-----BEGIN DH PARAMETERS-----"));

    /* written again (a crashed agent's leftover): replaced, not refused */
    key[0] = 0xff;
    assert_int_equal(hva_mig_tls_write(dir, getgid(), key, err, sizeof(err)),
                     0);
    snprintf(path, sizeof(path), "%s/keys.psk", dir);
    assert_non_null(strstr(read_all(path), ":ff01"));

    hva_mig_tls_remove(dir);
    assert_int_equal(stat(dir, &st), -1);
    /* the agent's start sweeps what a crash left */
    assert_int_equal(hva_mig_tls_write(dir, getgid(), key, err, sizeof(err)),
                     0);
    hva_mig_tls_sweep(tmp);
    assert_int_equal(stat(dir, &st), -1);

    /* a parent that does not exist: an error naming the directory */
    snprintf(dir, sizeof(dir), "%s/none/vm.in", tmp);
    assert_true(hva_mig_tls_write(dir, getgid(), key, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, dir));
    assert_int_equal(rmdir(tmp), 0);
}

static void test_object(void **state)
{
    json_object *c = hva_mig_tls_object(false, "/run/x/mig-tls/u.out");
    json_object *s = hva_mig_tls_object(true, "/run/x/mig-tls/u.in");

    (void)state;
    assert_string_equal(
        json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"qom-type\":\"tls-creds-psk\",\"id\":\"kvmc-mig-tls\","
        "\"endpoint\":\"client\",\"dir\":\"/run/x/mig-tls/u.out\","
        "\"username\":\"kvmcluster\"}");
    assert_string_equal(
        json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"qom-type\":\"tls-creds-psk\",\"id\":\"kvmc-mig-tls\","
        "\"endpoint\":\"server\",\"dir\":\"/run/x/mig-tls/u.in\"}");
    json_object_put(c);
    json_object_put(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_write_remove),
        cmocka_unit_test(test_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
