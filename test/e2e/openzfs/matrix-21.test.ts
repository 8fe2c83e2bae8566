// The replication matrix's OpenZFS 2.1 rows: remote to remote over ssh, zettabee inside the guest, 2.1 to 2.3, and zfs-fuse to 2.1.
import { defineMatrix } from './matrix.js';

defineMatrix(['OpenZFS 2.1', 'OpenZFS 2.1, zettabee in the guest', 'OpenZFS 2.1 to 2.3', 'zfs-fuse to OpenZFS 2.1']);
