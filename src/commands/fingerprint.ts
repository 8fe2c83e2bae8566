import type { CommandModule } from 'yargs';
import { selectPairs } from '../config/select.js';
import { endpointText } from '../config/pairs.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest?: string };

export function fingerprintCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'fingerprint [dest]',
    describe: "print a pair's fingerprint, or all pairs' with their source and destination",
    builder: (y) => y.positional('dest', { type: 'string', describe: 'the pair (dhost:dpool/fs, dpool/fs, leaf or fingerprint)' }) as never,
    handler: (args) => {
      const ctx = loadContext(args, io);
      const pairs = selectPairs(ctx.pairs, args.dest);
      if (args.dest !== undefined) {
        io.out(pairs[0]!.fingerprint);
        return;
      }
      for (const p of pairs) io.out(`${p.fingerprint}  ${endpointText(p.source)}  ${p.label}`);
    },
  };
}
