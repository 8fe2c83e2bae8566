import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { tempName, tempNameOwner, writeFileAtomic, writeJsonAtomic } from '../../src/state/atomic.js';

describe('state/atomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-atomic-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the given mode whatever the umask, replaces the old file and leaves no temp file', () => {
    const path = join(dir, 'zettabee.prom');
    const old = process.umask(0o077);
    try {
      writeFileAtomic(path, 'one\n', { durable: true, mode: 0o644 });
      writeFileAtomic(path, Buffer.from('two\n'), { durable: false, mode: 0o644 });
    } finally {
      process.umask(old);
    }
    expect(readFileSync(path, 'utf8')).to.equal('two\n');
    expect(statSync(path).mode & 0o777).to.equal(0o644);
    expect(readdirSync(dir)).to.deep.equal(['zettabee.prom']);
  });

  it('without dirMode a missing directory is ENOENT, and nothing is created', () => {
    const path = join(dir, 'missing', 'zettabee.prom');
    expect(() => writeFileAtomic(path, 'x\n', { durable: true, mode: 0o644 })).to.throw(/ENOENT/);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('with dirMode a missing directory is created with that mode', () => {
    const path = join(dir, 'a', 'b', 'r.status');
    writeJsonAtomic(path, { n: 1 }, true);
    expect(readFileSync(path, 'utf8')).to.equal('{\n  "n": 1\n}\n');
    expect(statSync(dirname(path)).mode & 0o777).to.equal(0o750 & ~process.umask());
    expect(statSync(path).mode & 0o777).to.equal(0o640);
  });

  it('a failed rename leaves the target as it was and no temp file', () => {
    const path = join(dir, 'zettabee.prom');
    mkdirSync(join(path, 'x'), { recursive: true }); // a non-empty directory: rename fails
    expect(() => writeFileAtomic(path, 'x\n', { durable: true, mode: 0o644 })).to.throw();
    expect(readdirSync(dir)).to.deep.equal(['zettabee.prom']);
    expect(readdirSync(path)).to.deep.equal(['x']);
  });

  it('temp names: same directory, hidden, unique per call, carrying the pid, never ending in .prom', () => {
    const path = join(dir, 'zettabee.prom');
    const names = new Set(Array.from({ length: 200 }, () => tempName(path)));
    expect(names.size).to.equal(200);
    for (const n of names) {
      expect(dirname(n)).to.equal(dir);
      expect(basename(n)).to.match(new RegExp(`^\\.zettabee\\.prom\\.${process.pid}\\.[0-9a-f]{12}$`));
      expect(n.endsWith('.prom')).to.equal(false);
      expect(tempNameOwner(path, basename(n))).to.equal(process.pid);
    }
  });

  const owners: Array<[string, number | null]> = [
    ['.zettabee.prom.4711.0123456789ab', 4711],
    ['.zettabee.prom.4711.0123456789AB', null], // not what tempName writes
    ['.zettabee.prom.4711.0123456789a', null],
    ['.zettabee.prom.x.0123456789ab', null],
    ['.zettabee.prom', null],
    ['zettabee.prom.4711.0123456789ab', null],
    ['.other.prom.4711.0123456789ab', null],
  ];
  for (const [name, pid] of owners) {
    it(`tempNameOwner of ${name}: ${pid}`, () => expect(tempNameOwner('/d/zettabee.prom', name)).to.equal(pid));
  }
});
