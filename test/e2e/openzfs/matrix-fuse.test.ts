// The replication matrix's zfs-fuse row (runs with the zfs-fuse tests; no guest needed).
import { defineMatrix } from './matrix.js';

defineMatrix(['zfs-fuse']);
