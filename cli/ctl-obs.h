/* clusterctl metrics | history (cli/ctl-obs.c). */
#ifndef KVMC_CTL_OBS_H
#define KVMC_CTL_OBS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* True when `cmd` (argv[1] of clusterctl) is one of these commands. */
bool ctl_obs_handles(const char *cmd);
/* argv[0] is the command. */
int ctl_obs_main(int argc, char **argv);
void ctl_obs_usage(void);

/* --since TIME into unix seconds: seconds since 1970 (digits only), an
 * age (N followed by s, m, h or d: that long before `now`), or a local
 * date "YYYY-MM-DD[( |T)HH:MM[:SS]]". 0, or -EINVAL. */
int ctl_obs_parse_since(const char *s, time_t now, uint64_t *ret);

#endif
