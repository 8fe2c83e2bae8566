// The fault tests on the zfs-fuse row.
import { defineHardening } from './hardening.js';

defineHardening('zfs-fuse');
