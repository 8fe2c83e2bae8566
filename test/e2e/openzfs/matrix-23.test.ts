// The replication matrix's OpenZFS 2.3 rows: remote to remote over ssh, zettabee inside the guest
// (transport=local on OpenZFS), and zfs-fuse to OpenZFS.
import { defineMatrix } from './matrix.js';

defineMatrix(['OpenZFS 2.3', 'OpenZFS 2.3, zettabee in the guest', 'zfs-fuse to OpenZFS 2.3']);
