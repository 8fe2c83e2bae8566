// One log file per pair, <log>/<fingerprint>.log, a line per event with
// time, fingerprint, level and pid, so `tail -f $(zettabee logfile DEST)`
// tells the story. log4js is configured once per run for the pairs it
// touches; close() flushes before the process exits.
//
// log4js is loaded when a log is opened, not with this module: status,
// check and --version never write a pair log and save its ~13 ms of module
// loading. It is CommonJS, so require() loads it synchronously right there.
// In the bundle that bin/zettabee runs, `require` is the bundle's own (its
// banner defines it), and esbuild packs log4js in behind it, still loaded
// only on first use; the plain tsc output has no `require` and asks Node's.
import { createRequire } from 'node:module';
import type log4jsModule from 'log4js';
import type { Settings } from '../config/settings.js';
import { logFile } from './paths.js';

export interface PairLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export const LOG_LAYOUT = '%d{yyyy-MM-ddThh:mm:ss.SSSO} %c %p [%z] %m';

type Log4js = typeof log4jsModule;

let loaded: Log4js | undefined;
function log4js(): Log4js {
  return (loaded ??= (typeof require === 'function' ? require('log4js') : createRequire(import.meta.url)('log4js')) as Log4js);
}

export class PairLogs {
  private configured = false;

  /** configure file appenders for these fingerprints; call once per run */
  open(settings: Settings, fingerprints: readonly string[], debug = false): void {
    const appenders: Record<string, log4jsModule.Appender> = {};
    const categories: Record<string, { appenders: string[]; level: string }> = {
      default: { appenders: ['none'], level: 'off' },
    };
    appenders.none = { type: 'stdout', layout: { type: 'messagePassThrough' } };
    for (const fp of new Set(fingerprints)) {
      appenders[fp] = { type: 'file', filename: logFile(settings, fp), layout: { type: 'pattern', pattern: LOG_LAYOUT } };
      categories[fp] = { appenders: [fp], level: debug ? 'debug' : 'info' };
    }
    log4js().configure({ appenders, categories });
    this.configured = true;
  }

  for(fp: string): PairLog {
    if (!this.configured) throw new Error('PairLogs.for before open');
    return log4js().getLogger(fp);
  }

  /** flush and close the files */
  close(): Promise<void> {
    if (!this.configured) return Promise.resolve();
    this.configured = false;
    return new Promise((resolve) => log4js().shutdown(() => resolve()));
  }
}
