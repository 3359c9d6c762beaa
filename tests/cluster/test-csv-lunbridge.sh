#!/usr/bin/env bash
# The CSV allocation scenario of test-csv-alloc.sh on an iSCSI LUN reached
# through each node's lunbridge FUSE file: both sanlocks join the lockspace
# on the bridged file, 200 + 200 concurrent allocations, no overlap, none
# lost; format refused while hosts are live.
# kvmc-timeout: 400
# kvmc-light: no guest, a few daemons; runs beside the alone tests
KVMC_CSV_ON=lunbridge exec "$(dirname "$0")/test-csv-alloc.sh"
