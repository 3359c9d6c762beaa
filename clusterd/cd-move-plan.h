/* move-storage's plan: which of a VM's extents move, what the target
 * must hold, and the definition and reference they end up with. Pure (no
 * I/O, no daemon): clusterd's worker (cd-csv-move.c) and the unit tests
 * use it. */
#ifndef KVMC_CD_MOVE_PLAN_H
#define KVMC_CD_MOVE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resources/res-vm.h"

/* Every disk of a definition plus the state extent. */
#define CD_MOVE_MAX   (RES_VM_MAX_DISKS + 1)
#define CD_MOVE_STATE ((size_t)-1) /* copy.disk of the state extent */

struct cd_move_copy {
    size_t disk; /* index into the definition's disks, or CD_MOVE_STATE */
    uint64_t src_id, src_offset;
    uint64_t dst_id, dst_offset;
    uint64_t length; /* the source extent's, bytes */
};

/* The disks of `def` that live on volume `from` as extents (their
 * indices into ret_idx, at least RES_VM_MAX_DISKS long). A disk given as an
 * extent of another volume is refused (CD_E_BAD_VALUE, err names it):
 * the VM's extents all live beside its slot. A disk that is not an
 * extent yet (<allocate>) has nothing to move. */
int cd_move_disks(const struct res_vm *def, const char *from, size_t *ret_idx,
                  size_t *ret_n, char *err, size_t errlen);

/* --disk's list, "vdb,vdc": each name copied into ret_names (at most
 * RES_VM_MAX_DISKS, each shorter than RES_TARGET_MAX and made of
 * letters and digits). A bad list is refused (CD_E_BAD_VALUE, err
 * names it). */
int cd_move_disk_list(const char *list, char ret_names[][RES_TARGET_MAX],
                      size_t *ret_n, char *err, size_t errlen);

/* The disks `names` of `def`, whose slot is on volume `home`, that move
 * to volume `to`. Refused, err naming the input: a name that is no disk
 * of the VM (CD_E_NOT_FOUND), a disk named twice, a disk already on `to`,
 * a disk that is not an extent yet, disks of two volumes (CD_E_BAD_VALUE).
 * On success their indices in the order named (ret_idx), the volume they
 * leave (ret_from, RES_NAME_MAX long), and *ret_whole when they are every
 * disk of the VM and all lie beside its slot: then the slot (definition,
 * state extent, lease) moves too, as without --disk. Otherwise the slot
 * stays, and the disks' extents on `to` belong to the VM's disk slot
 * there (a slot with the VM's name that owns only disk extents). */
int cd_move_select(const struct res_vm *def, const char *home, const char *to,
                   char names[][RES_TARGET_MAX], size_t n_names,
                   size_t *ret_idx, size_t *ret_n, char *ret_from,
                   bool *ret_whole, char *err, size_t errlen);

/* The volumes other than `home` that disks of `def` live on (their disk
 * slots), each once: how many, at most `max` in ret. */
size_t cd_move_disk_volumes(const struct res_vm *def, const char *home,
                            char ret[][RES_NAME_MAX], size_t max);

/* The volume disk `d` of a VM whose slot is on `home` lives on. */
const char *cd_move_disk_volume(const struct res_disk *d, const char *home);

/* Bytes the target must have free for `n` extents of `lengths`, each
 * rounded up to the target's allocation unit `unit` (0: none). */
uint64_t cd_move_need(const uint64_t *lengths, size_t n, uint64_t unit);

/* The refusal of a target with too little room, naming what was asked
 * and what is free (MiB, rounded up and down: never "0 MiB asked"). */
void cd_move_no_space(char *err, size_t errlen, const char *vm,
                      const char *volume, uint64_t need, uint64_t free_bytes,
                      uint64_t largest_free);

/* The copies' disks put on volume `to` under their new extent ids. */
void cd_move_rewrite(struct res_vm *def, const char *to,
                     const struct cd_move_copy *copies, size_t n);

/* "csv:VOLUME:SLOT:STATE" (cd_csv_ref_parse's form): 0, or -ENAMETOOLONG. */
int cd_move_ref(char *buf, size_t len, const char *volume, uint32_t slot,
                uint64_t state);

/* The next chunk of a copy of `length` bytes of which `done` are copied:
 * at most `chunk` bytes (a multiple of the sector size). */
uint64_t cd_move_chunk(uint64_t done, uint64_t length, uint64_t chunk);

#endif
