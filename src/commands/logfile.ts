import type { CommandModule } from 'yargs';
import { selectPair } from '../config/select.js';
import { logFile } from '../state/paths.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest: string };

export function logfileCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'logfile <dest>',
    describe: "print the path of a pair's log file (tail -f $(zettabee logfile DEST))",
    builder: (y) => y.positional('dest', { type: 'string', demandOption: true, describe: 'the pair' }) as never,
    handler: (args) => {
      const ctx = loadContext(args, io);
      io.out(logFile(ctx.settings, selectPair(ctx.pairs, args.dest).fingerprint));
    },
  };
}
