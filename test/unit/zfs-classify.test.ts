import { expect } from 'chai';
import { CommandError } from '../../src/exec/host.js';
import {
  busy,
  classifyCommandError,
  classifyZfsError,
  datasetExists,
  datasetMissing,
  destinationModified,
  encryptionTrouble,
  holdsUnsupported,
  noMatchingIncremental,
  resumableState,
  sshFailure,
  sshHint,
  zfsUnavailable,
  type ZfsErrorKind,
} from '../../src/zfs/classify.js';
import { OPENZFS_SETS, record, recordedNames } from '../fixtures/zfs/replay.js';

describe('zfs classify: real zfs-fuse 0.7 failures', () => {
  const cases: Array<[string, ZfsErrorKind, string | undefined]> = [
    ['list-missing', 'datasetMissing', 'zbrecA/nope'],
    ['snapshots-missing', 'datasetMissing', 'zbrecA/nope'],
    ['get-props-missing', 'datasetMissing', 'zbrecA/nope'],
    ['destroy-missing-snapshot', 'datasetMissing', 'zbrecA/src@nope'],
    ['send-missing', 'datasetMissing', 'zbrecA/src@nope'],
    ['send-from-missing', 'datasetMissing', 'zbrecA/src@s2'],
    ['recv-incr-missing-dest', 'datasetMissing', 'zbrecB/nodst'],
    ['hold-probe', 'datasetMissing', 'zbrecA@zettabee-probe-0000'],
    ['zpool-get-missing-pool', 'poolMissing', 'zbrecNOPE'],
    ['recv-full-exists', 'datasetExists', 'zbrecB/dst'],
    ['create-exists', 'datasetExists', 'zbrecA/src'],
    ['recv-incr-modified', 'destinationModified', 'zbrecB/dst'],
    ['recv-incr-mismatch', 'noMatchingIncremental', 'zbrecB/dst'],
    ['send-not-earlier', 'noMatchingIncremental', 'zbrecA/src@s1'],
    ['destroy-held', 'busy', 'zbrecA/src@s1'],
    ['hold-tag-exists', 'tagExists', 'zbrecA/src@s1'],
    ['release-no-tag', 'noSuchTag', 'zbrecA/src@s1'],
    ['rollback-more-recent', 'moreRecentSnapshots', 'zbrecA/src@s1'],
    ['holds-probe', 'holdsUnsupported', undefined],
    ['holds-list', 'holdsUnsupported', undefined],
    ['recv-u-probe', 'streamFailed', undefined],
    ['list-p-probe', 'unsupportedOption', undefined],
    ['recv-s-unsupported', 'unsupportedOption', undefined],
    ['recv-A-unsupported', 'unsupportedOption', undefined],
    ['send-c-unsupported', 'unsupportedOption', undefined],
    ['send-nvP-unsupported', 'unsupportedOption', undefined],
    ['bookmark-unsupported', 'unsupportedOption', undefined],
    ['zpool-get-H-unsupported', 'unsupportedOption', undefined],
    ['get-resume-token-unsupported', 'invalidProperty', undefined],
    ['permission-denied', 'permissionDenied', undefined],
    ['not-found-bash', 'commandNotFound', undefined],
    ['not-found-dash', 'commandNotFound', undefined],
  ];
  for (const [id, kind, dataset] of cases) {
    it(`classifies ${id} as ${kind}`, () => {
      const r = record('zfs-fuse-0.7', id);
      expect(r.exitCode).to.not.equal(0);
      const c = classifyZfsError(r.stderr, r.exitCode, r.stdout);
      expect(c.kind, c.detail).to.equal(kind);
      expect(c.dataset).to.equal(dataset);
      expect(c.message).to.be.a('string').and.not.equal('');
      expect(c.hint).to.be.a('string').and.not.equal('');
      expect(c.exitCode).to.equal(r.exitCode);
    });
  }

  it('names the missing option or command', () => {
    const opt = (id: string) => {
      const r = record('zfs-fuse-0.7', id);
      const c = classifyZfsError(r.stderr, r.exitCode);
      return c.kind === 'unsupportedOption' ? c.option : null;
    };
    expect(opt('send-c-unsupported')).to.equal('c');
    expect(opt('recv-s-unsupported')).to.equal('s');
    expect(opt('bookmark-unsupported')).to.equal('bookmark');
    expect(opt('zpool-get-H-unsupported')).to.equal('-H');
    const r = record('zfs-fuse-0.7', 'get-resume-token-unsupported');
    const c = classifyZfsError(r.stderr, r.exitCode);
    expect(c.kind === 'invalidProperty' && c.property).to.equal('receive_resume_token');
  });

  it('finds the pyzfs failure that zfs-fuse prints on stdout', () => {
    const r = record('zfs-fuse-0.7', 'holds-list');
    expect(r.stderr).to.equal('');
    expect(holdsUnsupported(r.stdout)).to.equal(true);
    expect(classifyZfsError(r.stderr, r.exitCode).kind).to.equal('unknown');
  });
});

describe('zfs classify: real OpenZFS 2.1 and 2.3 failures', () => {
  type Names = ReturnType<typeof recordedNames>;
  const cases: Array<[string, ZfsErrorKind, (n: Names) => string | undefined]> = [
    ['zpool-get-missing-pool', 'poolMissing', (n) => `${n.prefix}NOPE`],
    ['hold-probe', 'datasetMissing', (n) => `${n.poolA}@zettabee-probe-0000`],
    ['holds-probe', 'datasetMissing', (n) => `${n.poolA}@zettabee-probe-0000`],
    ['recv-u-probe', 'streamFailed', () => undefined],
    ['get-missing', 'datasetMissing', (n) => `${n.poolA}/nope`],
    ['send-not-earlier', 'noMatchingIncremental', (n) => `${n.src}@s1`],
    ['send-unknown-long-option', 'unsupportedOption', () => undefined],
    ['hold-tag-exists', 'tagExists', (n) => `${n.src}@s2`],
    ['release-no-tag', 'noSuchTag', (n) => `${n.src}@s2`],
    // a user hold: 2.1 says "dataset is busy", 2.3 "it's being held"
    ['destroy-held', 'busy', (n) => `${n.src}@s1`],
    ['recv-full-exists', 'datasetExists', (n) => n.dst],
    ['recv-full-has-snapshots', 'datasetExists', () => undefined],
    ['recv-incr-missing-dest', 'datasetMissing', (n) => `${n.poolB}/nodst`],
    ['recv-incr-mismatch', 'noMatchingIncremental', (n) => n.dst],
    // OpenZFS counts a later snapshot on the target as a change since the base
    ['recv-incr-not-newest', 'destinationModified', (n) => n.dst],
    ['recv-incr-modified', 'destinationModified', (n) => n.dst],
    ['recv-failed-read', 'streamFailed', () => undefined],
    ['recv-interrupted', 'resumableState', () => undefined],
    ['recv-partial-state', 'resumableState', (n) => n.dst],
    ['send-resume-stale', 'resumeTokenInvalid', (n) => `${n.src}@big`],
    ['recv-raw-onto-plain', 'encryption', () => undefined],
    ['recv-plain-onto-raw', 'encryption', () => undefined],
    ['recv-quota-exceeded', 'noSpace', (n) => `${n.poolB}/q/dst`],
    ['snapshot-denied', 'permissionDenied', () => undefined],
    // busy file systems: zfs names the mountpoint it could not unmount
    ['destroy-busy', 'busy', (n) => `/pools/${n.poolA}/busy`],
    ['pool-busy', 'busy', (n) => `/pools/${n.poolA}/busy`],
    ['no-module', 'zfsUnavailable', () => undefined],
    ['no-device', 'zfsUnavailable', () => undefined],
  ];
  for (const set of OPENZFS_SETS) {
    const names = recordedNames(set);
    for (const [id, kind, dataset] of cases) {
      it(`${set}: classifies ${id} as ${kind}`, () => {
        const r = record(set, id);
        expect(r.exitCode).to.not.equal(0);
        const c = classifyZfsError(r.stderr, r.exitCode, r.stdout);
        expect(c.kind, c.detail).to.equal(kind);
        expect(c.dataset).to.equal(dataset(names));
        expect(c.message).to.be.a('string').and.not.equal('');
        expect(c.hint).to.be.a('string').and.not.equal('');
        expect(c.exitCode).to.equal(r.exitCode);
      });
    }

    it(`${set}: extracts the resume token from an interrupted \`receive -s\``, () => {
      const c = classifyZfsError(record(set, 'recv-interrupted').stderr, 1);
      expect(c.kind === 'resumableState' && c.resumeToken).to.equal(record(set, 'resume-token').stdout.trim());
    });

    it(`${set}: names the unknown long option`, () => {
      const r = record(set, 'send-unknown-long-option');
      const c = classifyZfsError(r.stderr, r.exitCode);
      expect(c.kind === 'unsupportedOption' && c.option).to.equal('--zettabee-no-such-option');
    });

    it(`${set}: says which way raw and decrypted streams were mixed`, () => {
      const onto = (id: string) => classifyZfsError(record(set, id).stderr, 1).message;
      expect(onto('recv-raw-onto-plain')).to.contain('raw receive on top of existing unencrypted dataset');
      expect(onto('recv-plain-onto-raw')).to.contain('key must be loaded');
    });
  }

  it('openzfs-2.1: a stream of OpenZFS 2.3 with feature@longname is an unsupportedStream', () => {
    const r = record('openzfs-2.1', 'recv-unsupported-feature');
    const c = classifyZfsError(r.stderr, r.exitCode);
    expect(r.stderr).to.match(/stream has unsupported feature/);
    expect(c.kind).to.equal('unsupportedStream');
    expect(c.hint).to.contain('feature@');
  });

  it('busy(), encryptionTrouble() and zfsUnavailable() answer for the texts both versions print', () => {
    for (const set of OPENZFS_SETS) {
      expect(busy(record(set, 'destroy-held').stderr), set).to.equal(true);
      expect(encryptionTrouble(record(set, 'recv-raw-onto-plain').stderr), set).to.equal(true);
      expect(encryptionTrouble(record(set, 'recv-plain-onto-raw').stderr), set).to.equal(true);
      expect(zfsUnavailable(record(set, 'no-module').stderr), set).to.equal(true);
    }
    // the words differ: only the held-snapshot case of 2.3 says "held", only its missing module "cannot be auto-loaded"
    expect(record('openzfs-2.1', 'destroy-held').stderr).to.contain('dataset is busy');
    expect(record('openzfs-2.3', 'destroy-held').stderr).to.contain("it's being held");
    expect(record('openzfs-2.1', 'no-module').stderr).to.contain('ZFS modules are not loaded');
    expect(record('openzfs-2.3', 'no-module').stderr).to.contain('ZFS modules cannot be auto-loaded');
  });
});

describe('zfs classify: edge cases', () => {
  const cases: Array<[string, string, number | undefined, ZfsErrorKind]> = [
    ['exit 127 with no text', '', 127, 'commandNotFound'],
    ['older bash', 'bash: zfs: command not found\n', 127, 'commandNotFound'],
    ['a local binary that never started', 'spawn zfs ENOENT', undefined, 'commandNotFound'],
    ['ssh refusing the key', 'root@host: Permission denied (publickey).\n', 255, 'permissionDenied'],
    ['ZoL without root', 'Permission denied the ZFS utilities must be run as root.\n', 1, 'permissionDenied'],
    ['zfs-fuse daemon not running', 'connect: No such file or directory\ninternal error: failed to initialize ZFS library\n', 1, 'zfsUnavailable'],
    ['BSD getopt', 'zfs: illegal option -- c\n', 2, 'unsupportedOption'],
    ['out of space', "cannot receive new filesystem stream: out of space\n", 1, 'noSpace'],
    ['"pool or dataset is busy"', "cannot destroy 'p/d': pool or dataset is busy\n", 1, 'busy'],
    ['"no such pool or dataset"', "cannot open 'p/d': no such pool or dataset\n", 1, 'datasetMissing'],
    ['incremental source does not match', "cannot send 'p/d@b': incremental source (p/d@a) does not match\n", 1, 'noMatchingIncremental'],
    ['a corrupt token', 'cannot resume send: resume token is corrupt (invalid format)\n', 1, 'resumeTokenInvalid'],
    ['a broken pipe', 'warning: cannot send \'p/d@a\': Broken pipe\n', 1, 'streamFailed'],
    ['something new', 'cannot frobnicate: the moon is wrong\n', 1, 'unknown'],
  ];
  for (const [what, stderr, code, kind] of cases) {
    it(`classifies ${what} as ${kind}`, () => {
      expect(classifyZfsError(stderr, code).kind).to.equal(kind);
    });
  }

  it('keeps the unknown message readable', () => {
    const c = classifyZfsError('cannot frobnicate: the moon is wrong\nsecond line\n', 1);
    expect(c.message).to.equal('cannot frobnicate: the moon is wrong / second line');
    expect(c.detail).to.equal(c.message);
  });

  it('classifies a CommandError from a binary that never started', () => {
    const e = new CommandError('localhost', ['zfs', '-?'], undefined, '', 'spawn zfs ENOENT');
    expect(classifyCommandError(e).kind).to.equal('commandNotFound');
    const e2 = new CommandError('h', ['zfs', 'destroy', 'p/d@a'], 1, "cannot destroy 'p/d@a': dataset is busy\n", 'exit code 1');
    expect(classifyCommandError(e2)).to.deep.include({ kind: 'busy', dataset: 'p/d@a', exitCode: 1 });
  });

  const predicates: Array<[string, (t: string) => boolean, string]> = [
    ['datasetMissing', datasetMissing, "cannot open 'p/x': dataset does not exist"],
    ['datasetExists', datasetExists, "cannot create 'p/x': dataset already exists"],
    ['busy', busy, "cannot destroy 'p/x@a': dataset is busy"],
    ['destinationModified', destinationModified, 'destination p/x has been modified\nsince most recent snapshot'],
    ['noMatchingIncremental', noMatchingIncremental, 'most recent snapshot of p/x does not\nmatch incremental source'],
    ['resumableState', resumableState, 'destination p/x contains partially-complete state from "zfs receive -s".'],
  ];
  for (const [name, f, text] of predicates) {
    it(`${name}() is a named predicate`, () => {
      expect(f(text)).to.equal(true);
      expect(f('all good')).to.equal(false);
    });
  }
});

describe('ssh failures: their own words get their own hint, never "see the zfs message"', () => {
  const rows: Array<[string, string, boolean, RegExp]> = [
    ['connection refused', 'ssh: connect to host 10.0.0.9 port 22: Connection refused', true, /check that ssh to that host works: zettabee setup/],
    ['banner exchange', 'kex_exchange_identification: read: Connection reset by peer', true, /check that ssh to that host works/],
    ['timeout', 'ssh: connect to host db1 port 22: Connection timed out', true, /check that ssh to that host works/],
    ['host key', 'Host key verification failed.', true, /host's key is unknown or changed/],
    ['changed host key', '@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @', true, /host's key is unknown or changed/],
    ['login', 'root@db1: Permission denied (publickey).', true, /refused the login: check sshuser and sshkey/],
    ['key file mode', "Bad owner or permissions on /root/.ssh/config", true, /refused the login/],
    ['name', 'ssh: Could not resolve hostname db9: Name or service not known', true, /does not resolve/],
    ['zfs exiting 255 with its own words is not ssh', 'cannot resume send: resume token is corrupt (invalid format)', false, /./],
  ];
  for (const [name, text, ssh, hint] of rows) {
    it(name, () => {
      expect(sshFailure(text, 255)).to.equal(ssh);
      if (ssh) expect(sshHint(text)).to.match(hint);
    });
  }
  it('only exit 255 is ssh', () => expect(sshFailure('ssh: connect to host x port 22: Connection refused', 1)).to.equal(false));
});
