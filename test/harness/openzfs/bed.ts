/**
 * The OpenZFS half of the test bed: one guest with OpenZFS 2.1 (Debian
 * bookworm) and one with 2.3 (bookworm-backports), shared by every OpenZFS
 * test of a run, like the zfs-fuse bed (../bed.ts). getGuests() brings them up
 * once (building the images on a bare machine); teardownGuests() stops them.
 * A failure rejects naming the broken step: the tests fail, never skip.
 *
 * test/run.ts starts the guests once for several test processes: it writes
 * what they need to know into a file named by ZETTABEE_TEST_GUESTS (or the
 * error that kept them from starting), and getGuests() attaches to them
 * instead of starting its own; only the runner stops them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Guest, startGuests, type Guests, type GuestSpec } from './guest.js';
import type { Image } from './image.js';
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
  /** a per-process prefix for pool names in the guests */
  prefix: string;
}

/** what a test process needs to attach to guests that test/run.ts started */
export interface SharedGuests {
  error?: string;
  sshPort?: number;
  controlDir?: string;
  guests?: Array<{ spec: GuestSpec; image: Image; dir: string; zfsVersion: string }>;
}

export const SHARED_ENV = 'ZETTABEE_TEST_GUESTS';

let pending: Promise<GuestBed> | undefined;
let running: Guests | undefined;
let runRoot: string | undefined;

function bedOf(guests: Guest[], sshPort: number): GuestBed {
  const [a, b] = guests as [Guest, Guest];
  return { '2.1': a, '2.3': b, all: guests, sshPort, knownHosts: guests.map((g) => g.knownHostsLine).join('\n') + '\n', prefix: `zb${randomBytes(3).toString('hex')}` };
}

/** the description test/run.ts hands to its test processes */
export function shareGuests(g: Guests): SharedGuests {
  return { sshPort: g.sshPort, controlDir: path.join(g.runRoot, 'cm'), guests: g.guests.map((x) => ({ spec: x.spec, image: x.image, dir: x.dir, zfsVersion: x.zfsVersion })) };
}

function attach(file: string): GuestBed {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as SharedGuests;
  if (s.error) throw new Error(s.error);
  const guests = s.guests!.map((x) => Guest.attach(x.spec, x.image, x.dir, s.sshPort!, s.controlDir!, x.zfsVersion));
  return bedOf(guests, s.sshPort!);
}

/** the guests, started (or attached to) on first call; later and concurrent callers share them */
export function getGuests(): Promise<GuestBed> {
  if (!pending) {
    const shared = process.env[SHARED_ENV];
    if (shared) {
      pending = Promise.resolve().then(() => attach(shared));
    } else {
      const t0 = Date.now();
      // short: ssh control sockets live under it (107-byte limit)
      runRoot = fs.mkdtempSync('/tmp/zbvm-');
      pending = startGuests(TEST_GUESTS, runRoot).then((g) => {
        running = g;
        log(`OpenZFS guests ready in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${g.guests.map((x) => `${x.name} ${x.zfsVersion}`).join(', ')}`);
        return bedOf(g.guests, g.sshPort);
      });
    }
    pending.catch(() => undefined);
  }
  return pending;
}

/** start bringing the guests up now (image builds take minutes), without waiting */
export function warmGuests(): void {
  void getGuests().catch(() => undefined);
}

/** stop the guests this process started (attached ones belong to the runner) */
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
