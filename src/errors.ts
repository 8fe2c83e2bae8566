// The typed errors that decide how a failure is shown and which exit code it
// gets. Only src/cli.ts turns them into output and process.exit.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_BUSY = 75;

export class ZettabeeError extends Error {
  /** lines only --debug shows (the argv and exit status of each process of a failed transfer) */
  debugDetails: string[] = [];

  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
    /** extra lines shown after the message (e.g. one per configuration mistake) */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown action, unknown or ambiguous DEST, bad option. */
export class UsageError extends ZettabeeError {
  constructor(message: string, hint?: string, details: readonly string[] = []) {
    super(message, EXIT_USAGE, hint, details);
  }
}

/** Bad pairs or settings file; nothing runs. */
export class ConfigError extends ZettabeeError {
  constructor(message: string, details: readonly string[] = [], hint?: string) {
    super(message, EXIT_USAGE, hint, details);
  }
}

/** The action ran and failed. */
export class ActionError extends ZettabeeError {
  constructor(message: string, hint?: string, details: readonly string[] = []) {
    super(message, EXIT_FAILED, hint, details);
  }
}

/** A live run holds the pair's lock. Not a failure for cron. */
export class BusyError extends ZettabeeError {
  constructor(message: string, hint?: string) {
    super(message, EXIT_BUSY, hint);
  }
}

/** The failures were already reported (one line per pair); only the exit code is left. */
export class ExitError extends ZettabeeError {
  constructor(exitCode: number) {
    super('', exitCode);
  }
}
