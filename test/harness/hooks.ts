/**
 * Mocha root hook plugin (loaded with --require / .mocharc.json "require"):
 * starts the OpenZFS guests early when the run includes OpenZFS tests (an
 * image build takes minutes and overlaps the zfs-fuse tests), and tears the
 * shared test beds down after the whole run, also on SIGINT/SIGTERM so an
 * interrupted run leaves no pools, daemons or guests behind.
 */
import { teardownBed } from './bed.js';
import { teardownGuests, warmGuests } from './openzfs/bed.js';

function files(suite: Mocha.Suite | undefined): string[] {
  if (!suite) return [];
  return [...(suite.file ? [suite.file] : []), ...suite.suites.flatMap((s) => files(s))];
}

export const mochaHooks = {
  beforeAll(this: Mocha.Context): void {
    // the *-fuse files of openzfs/ run their rows on zfs-fuse alone: no guests for them
    if (files(this.test?.parent).some((f) => f.includes('/openzfs/') && !/-fuse\.test\.[jt]s$/.test(f))) warmGuests();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await Promise.all([teardownBed(), teardownGuests()]);
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
  Promise.all([teardownBed(), teardownGuests()]).finally(() => process.exit(code));
}

// install once even if this module is required twice
const marker = Symbol.for('zettabee.testbed.signalHandlers');
const g = globalThis as Record<symbol, unknown>;
if (!g[marker]) {
  g[marker] = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
