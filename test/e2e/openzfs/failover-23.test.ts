// failover, takeover and failback on the OpenZFS 2.3 row; here also the
// takeover of a partial receive (resumable receives are OpenZFS's; one row
// is enough, to keep the suite's time).
import { defineFailover } from './failover.js';

// takeover, split brain, failback and a partial receive here; the planned switch on the 2.1 row
defineFailover('OpenZFS 2.3', { partial: true, only: ['takeover'] });
