/* Local IPC over libqb: request/reply, deferred replies, events, timeouts,
 * oversized and malformed messages, who may connect (peer credentials,
 * per-uid cap) and the client's check of the server's uid, against a real
 * server in a child process. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <qb/qbipcc.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cmn-err.h"
#include "common/cmn-ipc.h"
#include <qb/qbutil.h>

#define TEST_CONN_LIMIT 4

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
        snprintf(buf, sizeof(buf),
                 "<creds pid=\"%d\" uid=\"%u\" ngroups=\"%zu\" "
                 "access=\"%d\"/>",
                 (int)pid, (unsigned)uid, cmn_ipc_conn_peer(conn)->ngroups,
                 cmn_ipc_conn_access(conn));
        *ret_reply = strdup(buf);
        return 0;
    }
    snprintf(buf, sizeof(buf), "<echo>%.100s</echo>", req);
    *ret_reply = strdup(buf);
    return 0;
}

/* The test's own uid gets access level 7; everyone else is refused. */
static int on_access(void *data, const struct cmn_ipc_peer *peer)
{
    (void)data;
    return peer->uid == getuid() ? 7 : -EACCES;
}

static void run_server(void)
{
    struct server_state st = {0};

    st.loop = qb_loop_create();
    if (cmn_ipc_server_new(st.loop, service, on_request, NULL, &st,
                           &st.server) < 0)
        _exit(2);
    cmn_ipc_server_set_access(st.server, on_access);
    cmn_ipc_server_set_conn_limit(st.server, TEST_CONN_LIMIT);
    qb_loop_run(st.loop);
    _exit(0);
}

static struct cmn_ipc_client *connect_client(void)
{
    struct cmn_ipc_client *c = NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};

    /* The child needs a moment to listen: poll with a 5 s deadline. */
    for (int i = 0; i < 500; i++) {
        if (cmn_ipc_client_connect_uid(service, getuid(), &c) == 0)
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
    /* Supplementary groups come from the socket (SO_PEERGROUPS). */
    snprintf(want, sizeof(want), "ngroups=\"%d\"", getgroups(0, NULL));
    assert_non_null(strstr(reply, want));
    assert_non_null(strstr(reply, "access=\"7\""));
    free(reply);

    big = malloc(CMN_IPC_MAX_MSG + 1);
    memset(big, 'x', CMN_IPC_MAX_MSG);
    big[CMN_IPC_MAX_MSG] = '\0';
    assert_int_equal(cmn_ipc_call(c, big, 2000, &reply), -CMN_E_TOO_BIG);
    free(big);
}

/* A request with a wrong header id, or without its terminating NUL, gets
 * an error reply; the connection stays usable. */
static void test_malformed(void **state)
{
    CMN_AUTO(cmn_ipc_client) *own = connect_client(); /* server is up */
    qb_ipcc_connection_t *qb = qb_ipcc_connect(service, CMN_IPC_MAX_MSG);
    struct {
        struct qb_ipc_request_header hdr;
        char text[8];
    } req;
    static char buf[4096];
    ssize_t n;

    (void)own;
    assert_non_null(qb);
    memset(&req, 0, sizeof(req));
    req.hdr.id = 9;
    req.hdr.size = sizeof(req);
    memcpy(req.text, "<x/>", 5);
    n = qb_ipcc_send(qb, &req, sizeof(req));
    assert_true(n > 0);
    n = qb_ipcc_recv(qb, buf, sizeof(buf) - 1, 2000);
    assert_true(n > (ssize_t)sizeof(struct qb_ipc_response_header));
    assert_non_null(strstr(buf + sizeof(struct qb_ipc_response_header),
                           "malformed request"));

    req.hdr.id = 1;
    memset(req.text, 'x', sizeof(req.text)); /* no NUL */
    assert_true(qb_ipcc_send(qb, &req, sizeof(req)) > 0);
    n = qb_ipcc_recv(qb, buf, sizeof(buf) - 1, 2000);
    assert_true(n > (ssize_t)sizeof(struct qb_ipc_response_header));
    assert_non_null(strstr(buf + sizeof(struct qb_ipc_response_header),
                           "request is not text"));
    qb_ipcc_disconnect(qb);
}

/* A client expecting another uid than the server's refuses the server
 * before sending anything (the impostor check; root expects uid 0). */
static void test_server_uid_checked(void **state)
{
    CMN_AUTO(cmn_ipc_client) *own = connect_client();
    struct cmn_ipc_client *c = NULL;

    (void)own;
    assert_int_equal(cmn_ipc_client_connect_uid(service, getuid() + 1, &c),
                     -CMN_E_IPC_SERVER);
    assert_null(c);
    if (getuid() != 0)
        assert_int_equal(cmn_ipc_client_connect(service, &c),
                         -CMN_E_IPC_SERVER);
}

/* The server refuses another uid at accept (as root: a child that drops
 * to nobody tries). */
static void test_other_uid_refused(void **state)
{
    CMN_AUTO(cmn_ipc_client) *own = connect_client();
    pid_t pid;
    int st;

    (void)own;
    if (getuid() != 0) {
        printf("# skipped: needs root to connect as another uid\n");
        return;
    }
    pid = fork();
    if (pid == 0) {
        struct cmn_ipc_client *c = NULL;
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(3);
        _exit(cmn_ipc_client_connect_uid(service, 0, &c) == -EACCES ? 0 : 1);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* One uid holds at most TEST_CONN_LIMIT connections; closing one makes
 * room again. */
static void test_conn_limit(void **state)
{
    struct cmn_ipc_client *c[TEST_CONN_LIMIT] = {0}, *extra = NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};
    int rc = -1;

    /* Earlier tests' connections may still be closing on the server. */
    for (int i = 0; i < TEST_CONN_LIMIT; i++)
        c[i] = connect_client();
    assert_int_equal(cmn_ipc_client_connect_uid(service, getuid(), &extra),
                     -EUSERS);
    assert_null(extra);
    cmn_ipc_client_free(c[0]);
    for (int i = 0; i < 500 && rc != 0; i++) {
        rc = cmn_ipc_client_connect_uid(service, getuid(), &extra);
        if (rc != 0)
            nanosleep(&ts, NULL);
    }
    assert_int_equal(rc, 0);
    cmn_ipc_client_free(extra);
    for (int i = 1; i < TEST_CONN_LIMIT; i++)
        cmn_ipc_client_free(c[i]);
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
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_server_uid_checked),
        cmocka_unit_test(test_other_uid_refused),
        cmocka_unit_test(test_conn_limit),
        cmocka_unit_test(test_no_server),
    };
    return cmocka_run_group_tests_name("ipc", tests, setup, teardown);
}
