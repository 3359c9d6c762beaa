/* resources/: the VM definition model and the placement policy.
 *
 * Pure logic: nothing here does I/O beyond parsing a buffer or a file the
 * caller names, nothing logs above debug, nothing keeps global state apart
 * from the registration of the error texts below. clusterd is the only
 * program that uses it (res-vm.h and res-place.h, through
 * clusterd/libclusterd.la); the unit tests include this header.
 */
#ifndef KVMC_RES_H
#define KVMC_RES_H

#include "resources/res-err.h"
#include "resources/res-vm.h"
#include "resources/res-place.h"

#endif
