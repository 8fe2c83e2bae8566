/**
 * The OpenZFS half of the test bed: one guest with OpenZFS 2.1 (Debian
 * bookworm) and one with 2.3 (bookworm-backports), shared by every OpenZFS
 * test of a run, like the zfs-fuse bed (../bed.ts). getGuests() brings them up
 * once (building the images on a bare machine); teardownGuests() stops them.
 * A failure rejects naming the broken step: the tests fail, never skip.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startGuests, type Guest, type Guests, type GuestSpec } from './guest.js';
import { log } from './util.js';

export const TEST_GUESTS: readonly GuestSpec[] = [
  { name: 'oz21', flavour: '2.1', address: '127.0.0.2' },
  { name: 'oz23', flavour: '2.3', address: '127.0.0.3' },
];

export interface GuestBed {
  '2.1': Guest;
  '2.3': Guest;
  all: Guest[];
  sshPort: number;
  /** every guest's known_hosts line */
  knownHosts: string;
  /** a per-run prefix for pool names in the guests */
  prefix: string;
}

let pending: Promise<GuestBed> | undefined;
let running: Guests | undefined;
let runRoot: string | undefined;

/** the guests, started on first call; later and concurrent callers share them */
export function getGuests(): Promise<GuestBed> {
  if (!pending) {
    const t0 = Date.now();
    // short: ssh control sockets live under it (107-byte limit)
    runRoot = fs.mkdtempSync('/tmp/zbvm-');
    pending = startGuests(TEST_GUESTS, runRoot).then((g) => {
      running = g;
      log(`OpenZFS guests ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${g.guests.map((x) => `${x.name} ${x.zfsVersion}`).join(', ')}`);
      const [a, b] = g.guests as [Guest, Guest];
      return { '2.1': a, '2.3': b, all: g.guests, sshPort: g.sshPort, knownHosts: g.knownHosts, prefix: `zb${randomBytes(3).toString('hex')}` };
    });
    pending.catch(() => undefined);
  }
  return pending;
}

/** start bringing the guests up now (image builds take minutes), without waiting */
export function warmGuests(): void {
  void getGuests().catch(() => undefined);
}

export async function teardownGuests(): Promise<void> {
  const p = pending;
  if (!p) return;
  await p.catch(() => undefined);
  await running?.down();
  running = undefined;
  pending = undefined;
  if (runRoot) fs.rmSync(path.resolve(runRoot), { recursive: true, force: true });
  runRoot = undefined;
}
