/* Local IPC over libqb: request/reply, deferred replies, events, timeouts
 * and oversized messages, against a real server in a child process. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include <qb/qbutil.h>

static char service[64];
static pid_t server_pid;

struct server_state {
    qb_loop_t *loop;
    struct cmn_ipc_server *server;
    struct cmn_ipc_conn *deferred;
};

static int32_t answer_deferred(void *data)
{
    struct server_state *st = data;

    cmn_ipc_reply(st->deferred, "<late/>");
    cmn_ipc_conn_unref(st->deferred);
    st->deferred = NULL;
    return 0;
}

static void answer_deferred_timer(void *data)
{
    answer_deferred(data);
}

static int on_request(void *data, struct cmn_ipc_conn *conn, const char *req,
                      char **ret_reply)
{
    struct server_state *st = data;
    qb_loop_timer_handle th;
    char buf[128];

    if (strcmp(req, "<subscribe/>") == 0) {
        cmn_ipc_subscribe(conn, true);
        *ret_reply = strdup("<ok/>");
        return 0;
    }
    if (strcmp(req, "<emit/>") == 0) {
        cmn_ipc_broadcast(st->server, "<event n=\"1\"/>");
        *ret_reply = strdup("<ok/>");
        return 0;
    }
    if (strcmp(req, "<defer/>") == 0) {
        cmn_ipc_conn_ref(conn);
        st->deferred = conn;
        qb_loop_timer_add(st->loop, QB_LOOP_MED, 50 * QB_TIME_NS_IN_MSEC, st,
                          answer_deferred_timer, &th);
        return CMN_IPC_DEFERRED;
    }
    if (strcmp(req, "<silent/>") == 0) {
        /* Never answer: the client's deadline must fire. */
        cmn_ipc_conn_ref(conn);
        return CMN_IPC_DEFERRED;
    }
    if (strcmp(req, "<fail/>") == 0)
        return -ENOENT;
    if (strcmp(req, "<creds/>") == 0) {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        cmn_ipc_conn_creds(conn, &pid, &uid, &gid);
        snprintf(buf, sizeof(buf), "<creds pid=\"%d\" uid=\"%u\"/>", (int)pid,
                 (unsigned)uid);
        *ret_reply = strdup(buf);
        return 0;
    }
    snprintf(buf, sizeof(buf), "<echo>%.100s</echo>", req);
    *ret_reply = strdup(buf);
    return 0;
}

static void run_server(void)
{
    struct server_state st = {0};

    st.loop = qb_loop_create();
    if (cmn_ipc_server_new(st.loop, service, on_request, NULL, &st,
                           &st.server) < 0)
        _exit(2);
    qb_loop_run(st.loop);
    _exit(0);
}

static struct cmn_ipc_client *connect_client(void)
{
    struct cmn_ipc_client *c = NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};

    /* The child needs a moment to listen: poll with a 5 s deadline. */
    for (int i = 0; i < 500; i++) {
        if (cmn_ipc_client_connect(service, &c) == 0)
            return c;
        nanosleep(&ts, NULL);
    }
    fail_msg("cannot connect to %s", service);
    return NULL;
}

static int setup(void **state)
{
    snprintf(service, sizeof(service), "kvmc-test-ipc-%d", (int)getpid());
    server_pid = fork();
    if (server_pid == 0)
        run_server();
    return server_pid > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    return 0;
}

static void test_echo(void **state)
{
    CMN_AUTO(cmn_ipc_client) *c = connect_client();
    char *reply = NULL;

    assert_int_equal(cmn_ipc_call(c, "<hello/>", 2000, &reply), 0);
    assert_string_equal(reply, "<echo><hello/></echo>");
    free(reply);
}

static void test_error_reply(void **state)
{
    CMN_AUTO(cmn_ipc_client) *c = connect_client();
    char *reply = NULL;

    assert_int_equal(cmn_ipc_call(c, "<fail/>", 2000, &reply), 0);
    assert_non_null(strstr(reply, "No such file or directory"));
    free(reply);
}

static void test_deferred(void **state)
{
    CMN_AUTO(cmn_ipc_client) *c = connect_client();
    char *reply = NULL;

    assert_int_equal(cmn_ipc_call(c, "<defer/>", 2000, &reply), 0);
    assert_string_equal(reply, "<late/>");
    free(reply);
}

static void test_timeout(void **state)
{
    CMN_AUTO(cmn_ipc_client) *c = connect_client();
    char *reply = NULL;

    assert_int_equal(cmn_ipc_call(c, "<silent/>", 200, &reply), -ETIMEDOUT);
    assert_null(reply);
}

static void test_events(void **state)
{
    CMN_AUTO(cmn_ipc_client) *sub = connect_client();
    CMN_AUTO(cmn_ipc_client) *other = connect_client();
    char *reply = NULL, *ev = NULL;

    assert_true(cmn_ipc_client_event_fd(sub) >= 0);
    assert_int_equal(cmn_ipc_call(sub, "<subscribe/>", 2000, &reply), 0);
    free(reply);
    assert_int_equal(cmn_ipc_call(other, "<emit/>", 2000, &reply), 0);
    free(reply);
    assert_int_equal(cmn_ipc_next_event(sub, 2000, &ev), 0);
    assert_string_equal(ev, "<event n=\"1\"/>");
    free(ev);
    /* Not subscribed: nothing arrives. */
    assert_int_equal(cmn_ipc_next_event(other, 100, &ev), -ETIMEDOUT);
}

static void test_creds_and_limits(void **state)
{
    CMN_AUTO(cmn_ipc_client) *c = connect_client();
    char *reply = NULL, *big;
    char want[64];

    assert_int_equal(cmn_ipc_call(c, "<creds/>", 2000, &reply), 0);
    snprintf(want, sizeof(want), "pid=\"%d\"", (int)getpid());
    assert_non_null(strstr(reply, want));
    free(reply);

    big = malloc(CMN_IPC_MAX_MSG + 1);
    memset(big, 'x', CMN_IPC_MAX_MSG);
    big[CMN_IPC_MAX_MSG] = '\0';
    assert_int_equal(cmn_ipc_call(c, big, 2000, &reply), -CMN_E_TOO_BIG);
    free(big);
}

static void test_no_server(void **state)
{
    struct cmn_ipc_client *c = NULL;

    assert_true(cmn_ipc_client_connect("kvmc-test-nobody-here", &c) < 0);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_creds_and_limits),
        cmocka_unit_test(test_no_server),
    };
    return cmocka_run_group_tests_name("ipc", tests, setup, teardown);
}
