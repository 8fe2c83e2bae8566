// runstatus ends with the run it followed: its exit code is that run's
// outcome, read from the status file the run left (pure).
import { expect } from 'chai';
import { followedEnd, runText } from '../../src/commands/runstatus.js';
import { ActionError, BusyError } from '../../src/errors.js';
import type { RunRecord } from '../../src/state/status.js';

const run = (over: Partial<RunRecord> = {}): RunRecord => ({
  action: 'update',
  pid: 42,
  host: 'backup1',
  started: '2026-11-21T10:00:00Z',
  ended: '2026-11-21T10:00:02Z',
  result: 'ok',
  seconds: 1.615,
  bytes: 624,
  ...over,
});
const followed = { pid: 42, action: 'update' };

describe('runstatus: how the followed run ended', () => {
  it('ok: its words, no error (exit 0)', () => {
    expect(followedEnd('data', run(), followed)).to.deep.equal({ text: 'update ok at 2026-11-21T10:00:02Z, 624 B in 1.6 s (386 B/s)' });
  });

  it('failed: its error and hint become runstatus\'s error (exit 1)', () => {
    const end = followedEnd('data', run({ result: 'failed', bytes: undefined, error: 'cannot receive: out of space', hint: 'free space' }), followed);
    expect(end.text).to.equal('update failed at 2026-11-21T10:00:02Z: cannot receive: out of space');
    expect(end.error).to.be.instanceOf(ActionError);
    expect(end.error!.exitCode).to.equal(1);
    expect(end.error!.message).to.equal('the update failed: cannot receive: out of space');
    expect(end.error!.hint).to.equal('free space');
  });

  it('busy: exit 75', () => {
    const end = followedEnd('data', run({ result: 'busy' }), followed);
    expect(end.error).to.be.instanceOf(BusyError);
    expect(end.error!.exitCode).to.equal(75);
  });

  const unrecorded: Array<[string, RunRecord | undefined]> = [
    ['the record still says running (the run was killed)', run({ result: 'running', ended: undefined })],
    ['the record is of another run (another pid)', run({ pid: 41 })],
    ['no status file at all', undefined],
  ];
  for (const [name, r] of unrecorded) {
    it(`${name}: failed as far as anyone can tell (exit 1), never ok`, () => {
      const end = followedEnd('data', r, followed);
      expect(end.text).to.equal('the update (pid 42) recorded no result (was it killed?)');
      expect(end.error).to.be.instanceOf(ActionError);
      expect(end.error!.exitCode).to.equal(1);
      expect(end.error!.hint).to.equal('zettabee logfile data shows how it ended');
    });
  }

  it('runText: the run as one line; without bytes no transfer part', () => {
    expect(runText(run({ bytes: undefined, result: 'failed', error: 'boom' }))).to.equal('update failed at 2026-11-21T10:00:02Z: boom');
  });
});
