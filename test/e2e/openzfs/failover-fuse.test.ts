// failover, takeover and failback on the zfs-fuse row.
import { defineFailover } from './failover.js';

defineFailover('zfs-fuse');
