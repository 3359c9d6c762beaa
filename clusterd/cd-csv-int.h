/* Shared by cd-csv.c and cd-csv-disk.c only. */
#ifndef KVMC_CD_CSV_INT_H
#define KVMC_CD_CSV_INT_H

#include <stdint.h>

#include "clusterd/cd-csv.h"

struct csv_volume;

/* Opens the volume under its metadata lease and checks that slot j->ref
 * is still VM j->vm's (j->msg says why not); on success the caller
 * unlocks and closes. */
int cd_csv_own_slot(struct cd_csv *c, struct cd_csv_job *j,
                    struct csv_volume **ret_vol, uint32_t *ret_slot);
/* j->msg for a full volume: `what` of `size` bytes asked, and the free
 * space. */
void cd_csv_no_space(struct csv_volume *vol, struct cd_csv_job *j,
                     const char *what, uint64_t size);
/* Allocates the extent of `disk`, the VM's disk number `index` (to be
 * allocated), owned by `slot`, and makes `disk` name it (j->msg says why
 * not: a volume other than this one, a full volume). */
int cd_csv_disk_alloc(struct csv_volume *vol, struct cd_csv_job *j,
                      struct res_disk *disk, uint16_t index, uint32_t slot,
                      struct csv_extent *ret_e);
/* The DISK_* jobs, in the worker, under cd_csv's lock. */
int cd_csv_disk_job(struct cd_csv *c, struct cd_csv_job *j);

#endif
