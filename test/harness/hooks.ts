/**
 * Mocha root hook plugin (loaded with --require / .mocharc.json "require"):
 * tears the shared e2e test bed down after the whole run, and also on
 * SIGINT/SIGTERM so an interrupted run leaves no pools or daemons behind.
 */
import { teardownBed } from './bed.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await teardownBed();
  },
};

let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  const code = signal === 'SIGINT' ? 130 : 143;
  if (signalled) {
    // second signal: give up on a clean teardown
    process.exit(code);
  }
  signalled = true;
  process.stderr.write(`\n[zettabee test bed] ${signal}: tearing down the test bed...\n`);
  const force = setTimeout(() => process.exit(code), 60_000);
  force.unref();
  teardownBed().finally(() => process.exit(code));
}

// install once even if this module is required twice
const marker = Symbol.for('zettabee.testbed.signalHandlers');
const g = globalThis as Record<symbol, unknown>;
if (!g[marker]) {
  g[marker] = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
