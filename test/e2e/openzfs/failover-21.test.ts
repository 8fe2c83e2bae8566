// failover, takeover and failback on the OpenZFS 2.1 row.
import { defineFailover } from './failover.js';

defineFailover('OpenZFS 2.1');
