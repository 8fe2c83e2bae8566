// failover, takeover and failback on the OpenZFS 2.1 row.
import { defineFailover } from './failover.js';

// the planned switch here; takeover, split brain and failback on the 2.3 row (zfs-fuse runs all)
defineFailover('OpenZFS 2.1', { only: ['switch'] });
