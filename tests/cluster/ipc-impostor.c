/* A stand-in for a daemon's IPC server, run by tests/cluster/
 * test-ipc-auth.sh as an unprivileged user while the daemon is down: it
 * binds the daemon's libqb IPC name, lets every uid connect, and prints
 * one line per request it receives. The clients must refuse it before
 * they send anything, so the test expects no "request" line.
 *
 *   kvmc-ipc-impostor NAME    (runs until killed; prints "serving NAME") */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmn-err.h"
#include "common/cmn-ipc.h"

static int on_access(void *data, const struct cmn_ipc_peer *peer)
{
    (void)data;
    printf("connection uid %u\n", (unsigned)peer->uid);
    fflush(stdout);
    return 0;
}

static int on_request(void *data, struct cmn_ipc_conn *conn,
                      const char *request, char **ret_reply)
{
    (void)data;
    (void)conn;
    printf("request %.200s\n", request);
    fflush(stdout);
    *ret_reply = strdup("<ok/>");
    return *ret_reply ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
    struct cmn_ipc_server *server = NULL;
    qb_loop_t *loop;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: kvmc-ipc-impostor NAME\n");
        return 2;
    }
    loop = qb_loop_create();
    rc = loop ? cmn_ipc_server_new(loop, argv[1], on_request, NULL, NULL,
                                   &server)
              : -ENOMEM;
    if (rc < 0) {
        fprintf(stderr, "kvmc-ipc-impostor: cannot serve '%s': %s\n", argv[1],
                cmn_strerror(rc));
        return 1;
    }
    cmn_ipc_server_set_access(server, on_access);
    printf("serving %s\n", argv[1]);
    fflush(stdout);
    qb_loop_run(loop);
    return 0;
}
