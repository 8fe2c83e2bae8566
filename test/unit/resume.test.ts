// The resume decision, on recorded OpenZFS 2.1 output (zfs-fuse has no resumable receive).
import { expect } from 'chai';
import { resumeDecision } from '../../src/app/resume.js';
import { record } from '../fixtures/zfs/replay.js';

describe('resume decision (recorded OpenZFS 2.1 output, reconstructed; zfs-fuse lacks receive -s)', () => {
  const stdout = record('openzfs-2.1', 'resume-token').stdout;
  const token = stdout.trim();

  it('no token: nothing to resume', () => {
    expect(resumeDecision('-').kind).to.equal('none');
    expect(resumeDecision(undefined).kind).to.equal('none');
    expect(resumeDecision(record('openzfs-2.1', 'resume-token-none').stdout).kind).to.equal('none');
  });

  it('a token that the source accepts is resumed', () => {
    const d = resumeDecision(stdout, { stdout: 'resume token contents...\nsize\t123\n', stderr: '', exitCode: 0 });
    expect(d).to.deep.equal({ kind: 'resume', token });
  });

  it('a token whose snapshot is gone on the source is aborted (zfs receive -A), with the reason', () => {
    const stale = record('openzfs-2.1', 'send-resume-stale');
    const d = resumeDecision(stdout, { stdout: stale.stdout, stderr: stale.stderr, exitCode: stale.exitCode });
    expect(d.kind).to.equal('abort');
    if (d.kind === 'abort') expect(d.reason).to.contain('no longer exists');
  });

  it('an ssh failure while checking keeps the partial state', () => {
    const d = resumeDecision(stdout, { stdout: '', stderr: 'ssh: connect to host x port 22: Connection refused\n', exitCode: 255 });
    expect(d.kind).to.equal('resume');
  });
});
