/* clusterctl internals shared by its command groups. */
#ifndef KVMC_CTL_H
#define KVMC_CTL_H

/* Exit codes, documented in clusterctl(8). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,    /* the operation failed */
    CTL_EXIT_USAGE = 2,   /* bad command line */
    CTL_EXIT_DAMAGE = 3,  /* check found damage */
    CTL_EXIT_REFUSED = 4, /* refused: would destroy data or a live volume */
};

/* Prints "clusterctl: MESSAGE\n" to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `clusterctl volume ARGS`: argv[0] is "volume". */
int ctl_volume_main(int argc, char **argv);
void ctl_volume_usage(void);

#endif
