// check [DEST]: a Nagios/Icinga active plugin. Reads the pairs' status files
// and locks only (no zfs, no ssh, no log writes), prints plugin output and
// exits with the plugin codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
//
// Every way the check itself can fail (bad command line, bad configuration,
// unknown DEST, a bug) ends as `ZETTABEE UNKNOWN - <why>` on stdout with exit
// 3: to a monitor, exit 1 means WARNING and exit 2 CRITICAL, so the usual
// zettabee codes would be misread as the pair's state.
import type { CommandModule } from 'yargs';
import type { Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { selectPairs } from '../config/select.js';
import { ExitError, ZettabeeError } from '../errors.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest?: string };

const UNKNOWN = 3;

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** print the plugin's UNKNOWN line (and detail lines as long output), then exit 3 */
export function unknown(io: Io, why: string, details: readonly string[] = [], hint?: string): never {
  io.out(`ZETTABEE UNKNOWN - ${why.replace(/\|/g, '/').replace(/\s*\n\s*/g, ' ')}`);
  for (const d of details) io.out(d.replace(/\|/g, '/'));
  if (hint) io.out(`hint: ${hint.replace(/\|/g, '/')}`);
  throw new ExitError(UNKNOWN);
}

export function checkCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'check [dest]',
    describe: 'Nagios/Icinga plugin: the state of one pair (or the worst of all) from its status file; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'the pair (dhost:dpool/fs, dpool/fs, leaf or fingerprint); without it, all pairs' })
        // a bad command line is UNKNOWN too (this fail() applies to this command only)
        .fail((msg: string | null, err: Error | undefined) => {
          if (err) throw err;
          unknown(io, `usage: ${msg ?? 'bad command line'}`, [], 'see zettabee check --help');
        }) as never,
    handler: async (args) => {
      try {
        const [{ combinedOutput, pluginOutput }, { checkPair }] = await Promise.all([import('../monitor/check.js'), import('../monitor/current.js')]);
        let pairs: Pair[];
        let settings: Settings;
        try {
          const ctx = loadContext(args, io);
          settings = ctx.settings;
          pairs = selectPairs(ctx.pairs, args.dest);
        } catch (e) {
          if (e instanceof ZettabeeError) unknown(io, e.message, e.details, e.hint);
          throw e;
        }
        const now = Date.now();
        if (args.dest !== undefined) {
          const r = checkPair(settings, pairs[0]!, now);
          io.out(pluginOutput(r));
          if (r.state !== 0) throw new ExitError(r.state);
          return;
        }
        const c = combinedOutput(pairs.map((p) => ({ label: p.label, result: checkPair(settings, p, now) })));
        io.out(c.output);
        if (c.state !== 0) throw new ExitError(c.state);
      } catch (e) {
        if (e instanceof ExitError) throw e;
        // a bug must not read as WARNING (1) to the monitor
        unknown(io, `internal error: ${errText(e)}`, [], 'this is a bug; please report it with zettabee --debug check');
      }
    },
  };
}
