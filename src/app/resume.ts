// Resuming an interrupted receive (OpenZFS `receive -s` / `send -t`). zfs-fuse
// has neither, so the decision is pure and tested on recorded OpenZFS output;
// the engine only runs the commands it names.
import type { RunResult } from '../exec/host.js';
import { classifyZfsError } from '../zfs/classify.js';
import { parseResumeToken } from '../zfs/parse.js';

export type ResumeDecision =
  | { kind: 'none' }
  | { kind: 'resume'; token: string }
  | { kind: 'abort'; token: string; reason: string };

/**
 * tokenValue: the destination's receive_resume_token ('-' when none);
 * dryRun: the result of `zfs send -n -v -P -t <token>` on the source, which
 * checks that the token still fits without sending anything.
 */
export function resumeDecision(tokenValue: string | undefined, dryRun?: RunResult): ResumeDecision {
  const token = tokenValue === undefined ? null : parseResumeToken(tokenValue);
  if (token === null) return { kind: 'none' };
  if (!dryRun) return { kind: 'resume', token };
  if (dryRun.exitCode === 0) return { kind: 'resume', token };
  const c = classifyZfsError(dryRun.stderr, dryRun.exitCode, dryRun.stdout);
  if (c.kind === 'resumeTokenInvalid' || c.kind === 'datasetMissing') {
    return { kind: 'abort', token, reason: c.detail || c.message };
  }
  // anything else (ssh trouble, permissions) is not a reason to throw away the partial state
  return { kind: 'resume', token };
}
