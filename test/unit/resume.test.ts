// The resume decision, on real OpenZFS 2.1 and 2.3 output (zfs-fuse has no resumable receive).
import { expect } from 'chai';
import { resumeDecision } from '../../src/app/resume.js';
import { OPENZFS_SETS, record } from '../fixtures/zfs/replay.js';

const result = (set: (typeof OPENZFS_SETS)[number], id: string) => {
  const r = record(set, id);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
};

for (const set of OPENZFS_SETS) {
  describe(`resume decision (real ${set} output; zfs-fuse lacks receive -s)`, () => {
    const stdout = record(set, 'resume-token').stdout;
    const token = stdout.trim();

    it('no token: nothing to resume', () => {
      expect(resumeDecision('-').kind).to.equal('none');
      expect(resumeDecision(undefined).kind).to.equal('none');
      expect(resumeDecision(record(set, 'resume-token-none').stdout).kind).to.equal('none');
    });

    it('a token that the source accepts (`zfs send -nvP -t` exits 0) is resumed', () => {
      const dry = record(set, 'send-resume-dry-run');
      expect(dry.argv).to.deep.equal(['zfs', 'send', '-n', '-v', '-P', '-t', token]);
      expect(resumeDecision(stdout, result(set, 'send-resume-dry-run'))).to.deep.equal({ kind: 'resume', token });
      expect(resumeDecision(stdout)).to.deep.equal({ kind: 'resume', token });
    });

    it('a token whose snapshot is gone on the source is aborted (zfs receive -A), with the reason', () => {
      const stale = result(set, 'send-resume-stale');
      expect(stale.exitCode).to.equal(255);
      const d = resumeDecision(stdout, stale);
      expect(d.kind).to.equal('abort');
      if (d.kind === 'abort') {
        expect(d.token).to.equal(token);
        expect(d.reason).to.contain('no longer exists');
        expect(d.reason).to.contain('@big');
      }
    });

    it('an ssh failure while checking keeps the partial state (literal ssh text)', () => {
      const d = resumeDecision(stdout, { stdout: '', stderr: 'ssh: connect to host x port 22: Connection refused\n', exitCode: 255 });
      expect(d.kind).to.equal('resume');
    });
  });
}
