// Which processes move a stream for a pair, as data: the same description
// for pull (source remote), push (destination remote), remote-to-remote and
// local pairs; only the hosts differ. runPipeline carries it out.
import type { Pair } from '../config/pairs.js';
import { ActionError } from '../errors.js';
import type { Host } from '../exec/host.js';
import type { PipelineSpec } from './pipeline.js';

export function streamPipeline(pair: Pair, source: Host, destination: Host, send: string[], receive: string[]): PipelineSpec {
  switch (pair.transport) {
    case 'local':
    case 'ssh':
      // each end runs on its own host (ssh-wrapped when remote); the bytes
      // travel ssh -> this machine -> ssh, so neither remote needs to reach the other
      return {
        stages: [
          { name: `zfs send on ${source.name}`, host: source, argv: send },
          { name: `zfs receive on ${destination.name}`, host: destination, argv: receive },
        ],
      };
    case 'mbuffer':
      throw new ActionError('transport=mbuffer is not available in this release yet', 'use transport=ssh (or local) for this pair for now');
  }
}
