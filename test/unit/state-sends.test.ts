// The notes of zfs sends whose temporary holds may outlive them (zfs-fuse):
// noted before a byte moves, forgotten one by one when a send ends well,
// all at once when the next run has released them.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinSettings, type Settings } from '../../src/config/settings.js';
import { forgetSend, forgetSends, notedSends, noteSend } from '../../src/state/sends.js';

const FP = 'a1b2c3d4e5f6';

describe('state/sends', () => {
  let dir: string;
  let settings: Settings;
  const file = () => join(dir, `${FP}.sends`);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zb-sends-'));
    settings = builtinSettings();
    settings.paths.state = dir;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('notes sends, with the child a send sent on its own', () => {
    noteSend(settings, FP, { host: 'localhost', pid: 100 });
    noteSend(settings, FP, { host: 'src.example', pid: 200, dataset: 'tank/data/k' });
    expect(notedSends(settings, FP)).to.deep.equal([
      { host: 'localhost', pid: 100 },
      { host: 'src.example', pid: 200, dataset: 'tank/data/k' },
    ]);
  });

  it('forgetSend drops one send and keeps the others; the last one takes the file along', () => {
    noteSend(settings, FP, { host: 'localhost', pid: 100 });
    noteSend(settings, FP, { host: 'localhost', pid: 200, dataset: 'tank/data/k' });
    forgetSend(settings, FP, 100);
    expect(notedSends(settings, FP)).to.deep.equal([{ host: 'localhost', pid: 200, dataset: 'tank/data/k' }]);
    forgetSend(settings, FP, 200);
    expect(existsSync(file())).to.equal(false);
    expect(notedSends(settings, FP)).to.deep.equal([]);
  });

  it('a torn or foreign line is skipped, never fatal', () => {
    writeFileSync(file(), '{"host":"localhost","pid":100}\n{"host":"x","pid":1}\n{"host":"y","pid":7,"dataset":3}\n{"host":"z","pi');
    expect(notedSends(settings, FP)).to.deep.equal([{ host: 'localhost', pid: 100 }]);
    forgetSends(settings, FP);
    expect(existsSync(file())).to.equal(false);
  });
});
