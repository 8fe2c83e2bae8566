// The replication matrix's OpenZFS 2.1 rows: remote to remote over ssh, and across versions both ways
// (2.3 to 2.1 runs here for balance: the 2.3 process has zettabee inside the guest and zfs-fuse to 2.3).
// After them, exclude= on the 2.1 row, the longest fault test: here for the
// balance of the processes (test/run.ts), and last, once the suite's busy
// start (every process setting up at once) is over.
import { defineHardening } from './hardening.js';
import { defineMatrix } from './matrix.js';

defineMatrix(['OpenZFS 2.1', 'OpenZFS 2.1 to 2.3', 'OpenZFS 2.3 to 2.1']);
defineHardening('OpenZFS 2.1', ['exclude']);
