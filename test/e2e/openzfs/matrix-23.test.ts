// The replication matrix's OpenZFS 2.3 rows: remote to remote over ssh, zettabee inside the guest, 2.3 to 2.1, and zfs-fuse to 2.3.
import { defineMatrix } from './matrix.js';

defineMatrix(['OpenZFS 2.3', 'OpenZFS 2.3, zettabee in the guest', 'OpenZFS 2.3 to 2.1', 'zfs-fuse to OpenZFS 2.3']);
