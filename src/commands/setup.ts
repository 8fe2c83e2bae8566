import type { CommandModule } from 'yargs';
import { selectPairs } from '../config/select.js';
import type { CheckResult } from '../app/setup.js';
import { ActionError } from '../errors.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest?: string };

/** `status` is app/setup's checkStatus(r) (that module loads only when setup runs) */
export function formatCheck(r: CheckResult, status: string, verbose = false): string[] {
  const lines = [`${status.padEnd(8)}${r.subject}: ${r.check}${r.detail ? ` (${r.detail})` : ''}`];
  if (!r.ok && r.hint) lines.push(`${''.padEnd(8)}hint: ${r.hint}`);
  for (const t of r.todo ?? []) lines.push(`${''.padEnd(8)}${t}`);
  if (verbose) for (const m of r.more ?? []) lines.push(`${''.padEnd(8)}${m}`);
  return lines;
}

export function setupCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return {
    command: 'setup [dest]',
    describe: 'create the state, lock and log directories and check every pair (ssh, zfs, datasets, mbuffer, send_nsca); changes no ZFS data',
    builder: (y) => y.positional('dest', { type: 'string', describe: 'check only this pair' }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      const pairs = selectPairs(ctx.pairs, args.dest);
      const { checkStatus, runSetup } = await import('../app/setup.js');
      let failed = 0;
      let skipped = 0;
      const ok = await runSetup({
        settings: ctx.settings,
        pairs,
        debug: Boolean(args.debug),
        nagios: args.nagios !== undefined || ctx.settings.nagios.server !== undefined,
        nagiosServer: args.nagios || undefined,
        report: (r) => {
          if (r.skipped) skipped++;
          else if (!r.ok) failed++;
          formatCheck(r, checkStatus(r), Boolean(args.verbose)).forEach((l) => io.out(l));
        },
      });
      if (!ok) {
        const what = `${failed} ${failed === 1 ? 'check' : 'checks'} failed${skipped ? `, ${skipped} skipped` : ''}`;
        throw new ActionError(what, 'fix the FAILED lines above and run setup again');
      }
    },
  };
}
