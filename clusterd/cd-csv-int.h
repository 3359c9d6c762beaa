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
/* Opens the volume at `path` for a change under its metadata lease
 * (j->msg says why not, naming the holder of a busy lease). */
int cd_csv_open_locked(const char *path, struct cd_csv_job *j,
                       struct csv_volume **ret);
/* Frees what slot `slot` owns, then the slot (under the lease). */
int cd_csv_free_slot(struct csv_volume *vol, uint32_t slot);
/* move-storage (cd-csv-move.c): the data copy of MOVE_COPY, run before
 * the change lock; then the MOVE_* jobs under it (copy_rc: the copy's
 * result). */
int cd_csv_move_copy(struct cd_csv_job *j);
/* The same step for a running VM: QEMU's mirror through hvagent, up to
 * the point where source and target are in step. */
int cd_csv_move_mirror(struct cd_csv_job *j);
int cd_csv_move_job(struct cd_csv *c, struct cd_csv_job *j, int copy_rc);
void cd_csv_move_free(struct cd_move *m);
/* The DISK_* jobs, in the worker, under cd_csv's lock. */
int cd_csv_disk_job(struct cd_csv *c, struct cd_csv_job *j);

#endif
