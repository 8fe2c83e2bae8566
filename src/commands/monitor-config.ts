// nagios-config / icinga-config [DEST]: print ready-to-include passive service
// definitions for every pair (or one), named as the emitters report them.
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { selectPairs } from '../config/select.js';
import { ConfigError } from '../errors.js';
import type { GenOptions } from '../monitor/config-gen.js';
import { shortHostname } from '../monitor/names.js';
import { loadContext, type GlobalArgs, type Io } from './context.js';

type Args = GlobalArgs & { dest?: string; use?: string; hosts?: boolean; 'host-use'?: string };

function configCommand(
  io: Io,
  name: 'nagios-config' | 'icinga-config',
  what: string,
  generator: 'nagiosConfig' | 'icingaConfig',
): CommandModule<GlobalArgs, Args> {
  return {
    command: `${name} [dest]`,
    describe: `print ${what} passive service definitions for every pair (freshness from report_interval), named as --${name.split('-')[0]} reports them`,
    builder: (y) =>
      y
        .positional('dest', { type: 'string', describe: 'only this pair' })
        .option('use', { type: 'string', default: 'generic-service', describe: "service template the services inherit (contacts, periods); '' for none" })
        .option('hosts', { type: 'boolean', describe: 'also define the hosts the services belong to (only if nothing else defines them)' })
        .option('host-use', { type: 'string', default: 'generic-host', describe: "host template for --hosts; '' for none" }) as never,
    handler: async (args) => {
      const ctx = loadContext(args, io);
      const pairs = selectPairs(ctx.pairs, args.dest);
      const generate = (await import('../monitor/config-gen.js'))[generator];
      const opts: GenOptions = { shortHostname: shortHostname(), pairsFile: resolve(ctx.pairsFile), use: args.use ?? 'generic-service' };
      if (args.hosts) opts.hosts = args['host-use'] ?? 'generic-host';
      const g = generate(pairs, ctx.settings, opts);
      // two pairs under one name would overwrite each other's results: print nothing usable
      if (g.problems.length) throw new ConfigError(`the [${name.split('-')[0]}] host/service templates give several pairs the same name`, g.problems);
      io.out(g.text.replace(/\n$/, ''));
      for (const w of g.warnings) io.err(`zettabee: warning: ${name}: ${w}`);
    },
  };
}

export function nagiosConfigCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return configCommand(io, 'nagios-config', 'Nagios', 'nagiosConfig');
}

export function icingaConfigCommand(io: Io): CommandModule<GlobalArgs, Args> {
  return configCommand(io, 'icinga-config', 'Icinga 2', 'icingaConfig');
}
