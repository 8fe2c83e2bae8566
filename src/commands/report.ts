// How a failure is shown: `zettabee: error: <action> <dest>: <message>`,
// detail lines, a hint, and with --debug the cause. Shared by the CLI's
// single error path and by actions that report many pairs.
import { ConfigError, EXIT_FAILED, EXIT_USAGE, ExitError, ZettabeeError } from '../errors.js';
import { CommandError } from '../exec/host.js';

function describeUnexpected(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

export function formatError(where: string, e: unknown, debug: boolean): { lines: string[]; code: number } {
  const prefix = `zettabee: error: ${where ? `${where}: ` : ''}`;
  const lines: string[] = [];
  if (e instanceof ExitError) return { lines, code: e.exitCode };
  if (e instanceof ConfigError) {
    for (const d of e.details) lines.push(`zettabee: error: ${d}`);
    lines.push(`${prefix}${e.message}`);
    if (e.hint) lines.push(`zettabee: hint: ${e.hint}`);
    return { lines, code: e.exitCode };
  }
  if (e instanceof ZettabeeError) {
    lines.push(`${prefix}${e.message}`);
    for (const d of e.details) lines.push(`  ${d}`);
    if (e.hint) lines.push(`zettabee: hint: ${e.hint}`);
    if (debug) for (const d of e.debugDetails) lines.push(`zettabee: debug: ${d}`);
    if (debug && e.cause) lines.push(describeUnexpected(e.cause));
    return { lines, code: e.exitCode };
  }
  if (e instanceof CommandError) {
    lines.push(`${prefix}${e.message}`);
    if (debug) lines.push(`  argv: ${JSON.stringify(e.argv)}`);
    return { lines, code: EXIT_FAILED };
  }
  if (e instanceof Error && e.name === 'YError') {
    lines.push(`${prefix}${e.message}`);
    return { lines, code: EXIT_USAGE };
  }
  lines.push(`${prefix}internal error: ${e instanceof Error ? e.message : String(e)}`);
  lines.push(describeUnexpected(e));
  lines.push('zettabee: this is a bug; please report it with the lines above');
  return { lines, code: EXIT_FAILED };
}
