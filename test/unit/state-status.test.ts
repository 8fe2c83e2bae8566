import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { readStatus, writeStatus, removeStatus, StatusFileError, type StatusRecord } from '../../src/state/status.js';

const FP = 'a1b2c3d4e5f6';

function record(n = 0): StatusRecord {
  return {
    version: 1,
    fingerprint: FP,
    source: 'src.example:tank/data',
    destination: 'dst.example:backup/data',
    state: 'Synchronized',
    lastSnapshot: { name: `zettabee-${n}`, guid: '1234567890', creation: 1700000000 + n },
    run: { action: 'update', pid: process.pid, host: 'h', started: '2026-01-01T00:00:00Z', result: 'ok' },
  };
}

describe('state/status', () => {
  let dir: string;
  let settings: Settings;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-status-'));
    settings = builtinSettings();
    // a state directory that does not exist yet: writeStatus must create it
    settings.paths = { state: join(dir, 'state', 'sub'), lock: join(dir, 'lock'), log: join(dir, 'log') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const statusPath = () => join(settings.paths.state, `${FP}.status`);

  it('returns null when the file is missing', () => {
    expect(readStatus(settings, FP)).to.equal(null);
  });

  it('round-trips a record, creating the directory 0750 and the file 0640 with pretty JSON', () => {
    const r = record(7);
    r.inconsistency = { kind: 'diverged', message: 'm', details: ['a', 'b'] };
    r.cache = { src: { at: 1, caps: ['x'] } };
    writeStatus(settings, FP, r);
    expect(readStatus(settings, FP)).to.deep.equal(r);
    expect(statSync(settings.paths.state).mode & 0o777).to.equal(0o750 & ~process.umask());
    expect(statSync(statusPath()).mode & 0o777).to.equal(0o640);
    const text = readFileSync(statusPath(), 'utf8');
    expect(text.endsWith('}\n')).to.equal(true);
    expect(text).to.contain('\n  "version": 1,');
  });

  it('is mode 0640 whatever the umask, and leaves no temp file', () => {
    const old = process.umask(0o077);
    try {
      writeStatus(settings, FP, record(1));
      writeStatus(settings, FP, record(2));
    } finally {
      process.umask(old);
    }
    expect(statSync(statusPath()).mode & 0o777).to.equal(0o640);
    expect(readdirSync(settings.paths.state)).to.deep.equal([`${FP}.status`]);
    expect(readStatus(settings, FP)!.lastSnapshot!.name).to.equal('zettabee-2');
  });

  it('leaves no temp file when the write fails', () => {
    // the target is a non-empty directory: the final rename fails
    mkdirSync(join(statusPath(), 'x'), { recursive: true });
    expect(() => writeStatus(settings, FP, record())).to.throw();
    expect(readdirSync(settings.paths.state)).to.deep.equal([`${FP}.status`]);
  });

  it('throws StatusFileError naming the path for a corrupt file', () => {
    mkdirSync(settings.paths.state, { recursive: true });
    writeFileSync(statusPath(), '{"version": 1, "fingerp');
    let err: unknown;
    try { readStatus(settings, FP); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(StatusFileError);
    expect((err as StatusFileError).path).to.equal(statusPath());
    expect((err as Error).message).to.contain(statusPath()).and.to.contain('not JSON');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['an array', [], /not a JSON object/],
    ['null', null, /not a JSON object/],
    ['version 2', { ...record(), version: 2 }, /version is 2, expected 1/],
    ['no fingerprint', { ...record(), fingerprint: 5 }, /fingerprint is missing/],
    ['an unknown state', { ...record(), state: 'Fine' }, /state is "Fine", expected one of/],
  ];
  for (const [name, value, re] of bad) {
    it(`rejects ${name} as not a status record`, () => {
      mkdirSync(settings.paths.state, { recursive: true });
      writeFileSync(statusPath(), JSON.stringify(value));
      expect(() => readStatus(settings, FP)).to.throw(StatusFileError, re);
    });
  }

  it('throws StatusFileError when the file is unreadable (a directory)', () => {
    mkdirSync(statusPath(), { recursive: true });
    expect(() => readStatus(settings, FP)).to.throw(StatusFileError, /cannot read/);
  });

  it('removeStatus removes the status and progress files and ignores missing ones', () => {
    writeStatus(settings, FP, record());
    writeFileSync(join(settings.paths.state, `${FP}.progress`), '{}');
    removeStatus(settings, FP);
    expect(readdirSync(settings.paths.state)).to.deep.equal([]);
    removeStatus(settings, FP);
    settings.paths.state = join(dir, 'does-not-exist');
    removeStatus(settings, FP);
  });

  it('a reader never sees a partial file while another process rewrites it', async function () {
    this.timeout(60000);
    // a writer in another process rewrites a ~400 KB record many times
    const done = join(dir, 'done');
    const script = `
      const { writeStatus } = await import(${JSON.stringify(new URL('../../src/state/status.js', import.meta.url).href)});
      const settings = JSON.parse(process.env.ZB_SETTINGS);
      const big = 'x'.repeat(400000);
      for (let n = 1; n <= 300; n++) {
        writeStatus(settings, ${JSON.stringify(FP)}, { version: 1, fingerprint: ${JSON.stringify(FP)}, source: 's', destination: 'd',
          state: 'Synchronized', lastSnapshot: { name: 'zettabee-' + n, guid: '1', creation: n }, cache: { big } });
      }
      (await import('node:fs')).writeFileSync(${JSON.stringify(done)}, '');
    `;
    writeStatus(settings, FP, record(0));
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ZB_SETTINGS: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const seen = new Set<string>();
    let reads = 0;
    const errors: string[] = [];
    const until = Date.now() + 45000;
    while (!existsSync(done) && Date.now() < until) {
      try {
        const r = readStatus(settings, FP);
        seen.add(r!.lastSnapshot!.name);
        reads++;
      } catch (e) {
        errors.push((e as Error).message.slice(0, 200));
      }
    }
    expect(await exited).to.equal(0);
    expect(errors.length, `${errors.length} bad reads, e.g. ${errors.slice(0, 3).join(' | ')}`).to.equal(0);
    expect(reads).to.be.greaterThan(10);
    expect(seen.size).to.be.greaterThan(2); // the reads really overlapped the writes
    expect(readdirSync(settings.paths.state)).to.deep.equal([`${FP}.status`]);
  });
});
