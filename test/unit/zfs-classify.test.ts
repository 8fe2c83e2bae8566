import { expect } from 'chai';
import { CommandError } from '../../src/exec/host.js';
import {
  busy,
  classifyCommandError,
  classifyZfsError,
  datasetExists,
  datasetMissing,
  destinationModified,
  holdsUnsupported,
  noMatchingIncremental,
  resumableState,
  zfsUnavailable,
  type ZfsErrorKind,
} from '../../src/zfs/classify.js';
import { record, recordedNames, type FixtureSet } from '../fixtures/zfs/replay.js';

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

describe('zfs classify: recorded OpenZFS 2.x failures (reconstructed from OpenZFS 2.1 source)', () => {
  const cases: Array<[string, ZfsErrorKind, string | undefined]> = [
    ['recv-full-exists', 'datasetExists', 'tank/backup/data'],
    ['recv-full-has-snapshots', 'datasetExists', undefined],
    ['recv-incr-modified', 'destinationModified', 'tank/backup/data'],
    ['recv-incr-mismatch', 'noMatchingIncremental', 'tank/backup/data'],
    ['recv-incr-missing-dest', 'datasetMissing', 'tank/backup/nodst'],
    ['recv-partial-state', 'resumableState', 'tank/backup/data'],
    ['recv-interrupted', 'resumableState', undefined],
    ['send-resume-stale', 'resumeTokenInvalid', 'tank/data@zettabee_20240102T000000Z'],
    ['recv-failed-read', 'streamFailed', undefined],
    ['destroy-busy', 'busy', 'tank/data@zettabee_20240101T000000Z'],
    ['pool-busy', 'busy', 'tank'],
    ['snapshot-denied', 'permissionDenied', 'tank/data@x'],
    ['get-missing', 'datasetMissing', 'tank/nope'],
    ['hold-probe', 'datasetMissing', 'tank@zettabee-probe-0000'],
    ['holds-probe', 'datasetMissing', 'tank@zettabee-probe-0000'],
    ['zpool-get-missing-pool', 'poolMissing', 'nopool'],
    ['send-not-earlier', 'noMatchingIncremental', 'tank/data@zettabee_20240101T000000Z'],
    ['hold-tag-exists', 'tagExists', 'tank/data@zettabee_20240102T000000Z'],
    ['release-no-tag', 'noSuchTag', 'tank/data@zettabee_20240102T000000Z'],
    ['send-unknown-long-option', 'unsupportedOption', undefined],
    ['no-module', 'zfsUnavailable', undefined],
  ];
  for (const [id, kind, dataset] of cases) {
    it(`classifies ${id} as ${kind}`, () => {
      const r = record('openzfs-2.1' satisfies FixtureSet, id);
      const c = classifyZfsError(r.stderr, r.exitCode, r.stdout);
      expect(c.kind, c.detail).to.equal(kind);
      expect(c.dataset).to.equal(dataset);
    });
  }

  it('extracts the resume token from an interrupted `receive -s`', () => {
    const r = record('openzfs-2.1', 'recv-interrupted');
    const c = classifyZfsError(r.stderr, r.exitCode);
    const token = record('openzfs-2.1', 'resume-token').stdout.trim();
    expect(c.kind === 'resumableState' && c.resumeToken).to.equal(token);
  });
});

describe('zfs classify: the words real OpenZFS 2.3 prints', () => {
  const { prefix, poolB } = recordedNames('openzfs-2.3');
  const cases: Array<[string, ZfsErrorKind, string | undefined]> = [
    // "The ZFS modules cannot be auto-loaded." (2.1: "The ZFS modules are not loaded.")
    ['no-module', 'zfsUnavailable', undefined],
    // "Cannot get properties of <pool>: no such pool available." (2.1: "cannot open '<pool>': no such pool")
    ['zpool-get-missing-pool', 'poolMissing', `${prefix}NOPE`],
    // "destination <ds> space quota exceeded."
    ['recv-quota-exceeded', 'noSpace', `${poolB}/q/dst`],
  ];
  for (const [id, kind, dataset] of cases) {
    it(`classifies ${id} as ${kind}`, () => {
      const r = record('openzfs-2.3', id);
      const c = classifyZfsError(r.stderr, r.exitCode, r.stdout);
      expect(c.kind, c.detail).to.equal(kind);
      expect(c.dataset).to.equal(dataset);
    });
  }

  it('zfsUnavailable() answers for the missing module in 2.3 words', () => {
    expect(zfsUnavailable(record('openzfs-2.3', 'no-module').stderr)).to.equal(true);
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
