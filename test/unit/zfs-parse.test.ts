import { expect } from 'chai';
import {
  FEATURE_FLAGS_VERSION,
  ParseError,
  parseHoldCounts,
  parseHolds,
  parseNames,
  parsePoolFeatures,
  parsePoolProps,
  parsePoolVersion,
  parseProps,
  parseResumeTarget,
  parseResumeToken,
  parseSendEstimate,
  parseSnapshotList,
  parseSnapshotListParsable,
  parseZfsUsage,
  propsOf,
  usageHasFlag,
} from '../../src/zfs/parse.js';
import { listSnapshots } from '../../src/zfs/ops.js';
import { OPENZFS_SETS, record, recordedNames, ReplayHost } from '../fixtures/zfs/replay.js';

const fuse = (id: string) => record('zfs-fuse-0.7', id);
const TOKEN = record('openzfs-2.1', 'resume-token').stdout.trim();
/** the value of `<name>\t<prop>\t<value>` in a recorded `zfs get -H` listing */
const got = (stdout: string, name: string, prop: string) => new RegExp(`^${name.replace(/[@#/]/g, '\\$&')}\t${prop}\t(\\S+)$`, 'm').exec(stdout)?.[1];

function expectParseError(f: () => unknown, lineNumber: number, re: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ParseError);
    const pe = e as ParseError;
    expect(pe.lineNumber, pe.message).to.equal(lineNumber);
    expect(pe.message).to.match(re);
    expect(pe.message).to.contain(`line ${lineNumber}`);
    return;
  }
  expect.fail('no ParseError thrown');
}

describe('zfs parse: snapshot listing (zfs get -Hp -d 1 guid,createtxg,creation)', () => {
  it('reads real zfs-fuse output: snapshots by createtxg, exact guids, the dataset, its child', () => {
    const l = parseSnapshotList(fuse('snapshots').stdout, 'zbrecA/src');
    expect(l.snapshots.map((s) => s.snapshot)).to.deep.equal(['s1', 's2', 'zettabee_20240102T030405Z']);
    expect(l.snapshots.map((s) => s.createtxg)).to.deep.equal([14n, 19n, 29n]);
    const s1 = l.snapshots[0]!;
    expect(s1).to.deep.include({ name: 'zbrecA/src@s1', dataset: 'zbrecA/src', snapshot: 's1', guid: '16277047386705116592' });
    expect(typeof s1.creation).to.equal('number');
    expect(s1.creation).to.be.greaterThan(1_600_000_000);
    // above 2^53: a JS number would have rounded it
    expect(BigInt(s1.guid) > BigInt(Number.MAX_SAFE_INTEGER)).to.equal(true);
    expect(String(Number(s1.guid))).to.not.equal(s1.guid);
    expect(l.dataset).to.deep.include({ name: 'zbrecA/src', createtxg: 7n });
    expect(l.children).to.deep.equal(['zbrecA/src/child']);
    expect(l.bookmarks).to.deep.equal([]);
  });

  it('sees the same guids on the receiving side (real zfs-fuse send | recv)', () => {
    const src = parseSnapshotList(fuse('snapshots').stdout, 'zbrecA/src');
    const dst = parseSnapshotList(fuse('dst-snapshots').stdout, 'zbrecB/dst');
    expect(dst.snapshots.map((s) => s.guid)).to.deep.equal(src.snapshots.slice(0, 2).map((s) => s.guid));
    // createtxg is per pool: equal guids, different txgs
    expect(dst.snapshots.map((s) => s.createtxg)).to.not.deep.equal(src.snapshots.slice(0, 2).map((s) => s.createtxg));
  });

  it('reads a real zfs-fuse dataset without snapshots', () => {
    const l = parseSnapshotList(fuse('snapshots-none').stdout, 'zbrecA/empty');
    expect(l.snapshots).to.deep.equal([]);
    expect(l.dataset?.guid).to.equal('7147739435558313013');
  });

  for (const set of OPENZFS_SETS) {
    const { src, dst } = recordedNames(set);
    const out = record(set, 'snapshots').stdout;

    it(`reads real ${set} output: exact guids, a bookmark, a child, order by createtxg`, () => {
      const l = parseSnapshotList(out, src);
      expect(l.snapshots.map((s) => s.snapshot)).to.deep.equal(['s1', 's2', 'zettabee_20240102T030405Z']);
      for (const s of l.snapshots) {
        expect(s.guid, s.name).to.equal(got(out, s.name, 'guid'));
        expect(s.createtxg, s.name).to.equal(BigInt(got(out, s.name, 'createtxg')!));
        expect(s.creation, s.name).to.equal(Number(got(out, s.name, 'creation')));
        expect(s.dataset).to.equal(src);
      }
      const txgs = l.snapshots.map((s) => s.createtxg);
      expect(txgs).to.deep.equal([...txgs].sort((a, b) => (a < b ? -1 : 1)));
      // random 64-bit guids: above 2^53, where a JS number would round
      expect(l.snapshots.some((s) => BigInt(s.guid) > BigInt(Number.MAX_SAFE_INTEGER))).to.equal(true);
      // `zfs get -d 1` lists the bookmark, with the guid and txg of its snapshot
      expect(l.bookmarks.map((b) => [b.name, b.bookmark, b.dataset])).to.deep.equal([[`${src}#s1`, 's1', src]]);
      expect(l.bookmarks[0]).to.deep.include({ guid: l.snapshots[0]!.guid, createtxg: l.snapshots[0]!.createtxg });
      expect(l.children).to.deep.equal([`${src}/child`]);
      expect(l.dataset).to.deep.include({ name: src, guid: got(out, src, 'guid') });
    });

    it(`reads real ${set} \`zfs list -p\` output as the same listing`, () => {
      const r = record(set, 'list-p-snapshots');
      expect(r.stdout.trim().split('\n')).to.have.length(6);
      expect(parseSnapshotListParsable(r.stdout, src)).to.deep.equal(parseSnapshotList(out, src));
    });

    it(`lists through the engine's argv either way (${set} replayed)`, async () => {
      const host = ReplayHost.of(set, ['snapshots', 'list-p-snapshots']);
      const viaGet = await listSnapshots(host, src);
      const viaList = await listSnapshots(host, src, { parsable: true });
      expect(viaGet).to.deep.equal(viaList);
      expect(viaGet!.snapshots).to.have.length(3);
      expect(host.calls.map((a) => a[1])).to.deep.equal(['get', 'list']);
    });

    it(`sees the same guids on the receiving side (real ${set} send | recv)`, () => {
      const a = parseSnapshotList(out, src).snapshots;
      const b = parseSnapshotList(record(set, 'dst-snapshots').stdout, dst).snapshots;
      expect(b.map((s) => [s.snapshot, s.guid])).to.deep.equal(a.map((s) => [s.snapshot, s.guid]));
      expect(b.map((s) => s.createtxg)).to.not.deep.equal(a.map((s) => s.createtxg));
    });
  }

  it('sorts by createtxg even when zfs prints another order', () => {
    const out = [
      'p/d@b\tguid\t2', 'p/d@b\tcreatetxg\t20', 'p/d@b\tcreation\t2',
      'p/d@a\tguid\t1', 'p/d@a\tcreatetxg\t9', 'p/d@a\tcreation\t1',
    ].join('\n');
    expect(parseSnapshotList(out, 'p/d').snapshots.map((s) => s.snapshot)).to.deep.equal(['a', 'b']);
  });

  it('returns nothing for empty output', () => {
    expect(parseSnapshotList('', 'p/d')).to.deep.equal({ dataset: null, snapshots: [], bookmarks: [], children: [] });
  });

  const bad: Array<[string, string, number, RegExp]> = [
    ['two fields', 'p/d@a\tguid\t1\np/d@a\tcreatetxg\n', 2, /expected 3 tab-separated fields, got 2/],
    ['four fields', 'p/d@a\tguid\t1\t-\n', 1, /got 4/],
    ['a rounded guid (zfs list without -p)', 'p/d@a\tguid\t14.1E\np/d@a\tcreatetxg\t1\np/d@a\tcreation\t1\n', 1, /guid is not a decimal/],
    ['a guid beyond 64 bits', 'p/d@a\tguid\t18446744073709551616\np/d@a\tcreatetxg\t1\np/d@a\tcreation\t1\n', 1, /exceeds 64 bits/],
    ['a negative txg', 'p/d@a\tguid\t1\np/d@a\tcreatetxg\t-1\np/d@a\tcreation\t1\n', 2, /createtxg is not a decimal/],
    ['a missing property', 'p/d@a\tguid\t1\np/d@a\tcreation\t1\n', 1, /no createtxg for p\/d@a/],
    ['a repeated property', 'p/d@a\tguid\t1\np/d@a\tguid\t1\n', 2, /guid of p\/d@a repeated/],
    ['an unexpected property', 'p/d@a\tused\t1\n', 1, /unexpected property used/],
    ['another dataset', 'p/other@a\tguid\t1\n', 1, /not p\/d or below it/],
    ['a prefix that is not a child', 'p/dx@a\tguid\t1\n', 1, /not p\/d or below it/],
    ['an empty snapshot name', 'p/d@\tguid\t1\np/d@\tcreatetxg\t1\np/d@\tcreation\t1\n', 1, /bad snapshot name/],
  ];
  for (const [what, text, line, re] of bad) {
    it(`throws a ParseError with the line for ${what}`, () => {
      expectParseError(() => parseSnapshotList(text, 'p/d'), line, re);
    });
  }
});

describe('zfs parse: zfs get -H -p -o name,property,value,source', () => {
  it('reads real zfs-fuse output: user property with blanks, inherited sources, "-"', () => {
    const all = parseProps(fuse('get-props').stdout);
    const p = propsOf(all, 'zbrecA/src');
    expect(p.get('zettabee:pair')).to.deep.equal({ value: 'nightly to zbrecB', source: 'local' });
    expect(p.get('readonly')).to.deep.equal({ value: 'off', source: 'default' });
    expect(p.get('mountpoint')?.inheritedFrom).to.equal('zbrecA');
    expect(p.get('userrefs')).to.deep.equal({ value: '-', source: '-' });
    const child = propsOf(parseProps(fuse('get-props-child').stdout), 'zbrecA/src/child');
    expect(child.get('zettabee:pair')).to.deep.equal({ value: 'nightly to zbrecB', source: 'inherited from zbrecA/src', inheritedFrom: 'zbrecA/src' });
    expect(propsOf(all, 'zbrecA/other').size).to.equal(0);
  });

  for (const set of OPENZFS_SETS) {
    it(`reads real ${set} output: a receive_resume_token, inherited sources`, () => {
      const { poolB, dst } = recordedNames(set);
      const all = parseProps(record(set, 'get-props').stdout);
      expect([...all.keys()]).to.deep.equal([dst]);
      const p = propsOf(all, dst);
      expect(p.get('readonly')).to.deep.equal({ value: 'on', source: 'local' });
      expect(p.get('receive_resume_token')?.source).to.equal('-');
      expect(parseResumeToken(p.get('receive_resume_token')!.value)).to.equal(record(set, 'resume-token').stdout.trim());
      expect(p.get('zettabee:pair')).to.deep.equal({ value: 'nightly', source: `inherited from ${poolB}`, inheritedFrom: poolB });
      expect(p.get('mountpoint')).to.deep.equal({ value: `/pools/${dst}`, source: `inherited from ${poolB}`, inheritedFrom: poolB });
    });
  }

  it('keeps a tab inside a user property value', () => {
    const p = parseProps('p/d\tx:y\ta\tb\tlocal\n');
    expect(p.get('p/d')?.get('x:y')).to.deep.equal({ value: 'a\tb', source: 'local' });
  });

  it('throws a ParseError for a line with too few fields', () => {
    expectParseError(() => parseProps('p/d\treadonly\toff\tdefault\np/d\tatime\ton\n'), 2, /expected 4 tab-separated fields, got 3/);
  });

  it('throws a ParseError for a repeated property', () => {
    expectParseError(() => parseProps('p/d\ta\t1\tlocal\np/d\ta\t2\tlocal\n'), 2, /repeated/);
  });
});

describe('zfs parse: holds', () => {
  it('reads real zfs-fuse userrefs (what works there instead of `zfs holds`)', () => {
    expect([...parseHoldCounts(fuse('userrefs').stdout)]).to.deep.equal([
      ['zbrecA/src@s1', 1],
      ['zbrecA/src@s2', 0],
      ['zbrecA/src@zettabee_20240102T030405Z', 0],
    ]);
  });

  for (const set of OPENZFS_SETS) {
    const { src } = recordedNames(set);

    it(`reads real ${set} userrefs, skipping the file system, the bookmark and the child`, () => {
      expect([...parseHoldCounts(record(set, 'userrefs').stdout)]).to.deep.equal([
        [`${src}@s1`, 1],
        [`${src}@s2`, 2],
        [`${src}@zettabee_20240102T030405Z`, 0],
      ]);
    });

    it(`reads real ${set} \`zfs holds -H\` output`, () => {
      const h = parseHolds(record(set, 'holds').stdout);
      // the order of two tags on one snapshot differs between 2.1 and 2.3
      expect(h.map((x) => `${x.snapshot} ${x.tag}`).sort()).to.deep.equal([`${src}@s1 zettabee-test`, `${src}@s2 keep`, `${src}@s2 zettabee-test`]);
      for (const x of h) expect(x.timestamp).to.match(/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9] 20[0-9]{2}$/);
    });
  }

  const bad: Array<[string, string, number, RegExp]> = [
    ['two fields', 'p/d@a\ttag\tMon Jan  1 00:00 2024\np/d@a\ttag\n', 2, /expected 3/],
    ['a file system', 'p/d\ttag\tMon Jan  1 00:00 2024\n', 1, /not a snapshot/],
    ['the pyzfs failure text', 'internal error: /usr/lib/zfs/pyzfs.py not found\n', 1, /expected 3/],
  ];
  for (const [what, text, line, re] of bad) {
    it(`throws a ParseError for ${what}`, () => {
      expectParseError(() => parseHolds(text), line, re);
    });
  }

  it('throws a ParseError for a non-numeric userrefs', () => {
    expectParseError(() => parseHoldCounts('p/d@a\tuserrefs\tx\n'), 1, /userrefs is not a decimal/);
  });
});

describe('zfs parse: zpool get', () => {
  it('reads the real zfs-fuse `zpool get all` table: version 23, no features', () => {
    const p = parsePoolProps(fuse('zpool-get-all').stdout);
    expect(p.pool).to.equal('zbrecA');
    expect(p.version).to.equal(23);
    expect(p.features.size).to.equal(0);
    expect(p.props.get('health')).to.equal('ONLINE');
    expect(p.props.get('guid')).to.match(/^[0-9]{15,20}$/);
  });

  it('reads the real zfs-fuse `zpool get version` table', () => {
    expect(parsePoolProps(fuse('zpool-get-version').stdout).version).to.equal(23);
  });

  // a new pool enables every feature its zfs knows: 2.3 adds ten to 2.1's
  const pools: Array<[(typeof OPENZFS_SETS)[number], number, string[], string[]]> = [
    ['openzfs-2.1', 34, ['draid', 'zstd_compress', 'encryption'], ['longname', 'block_cloning', 'raidz_expansion']],
    ['openzfs-2.3', 44, ['draid', 'zstd_compress', 'encryption', 'longname', 'block_cloning', 'raidz_expansion', 'fast_dedup'], []],
  ];
  for (const [set, count, has, lacks] of pools) {
    const { poolA } = recordedNames(set);

    it(`reads the real ${set} \`zpool get all\` table: version "-", ${count} features`, () => {
      const r = record(set, 'zpool-get-all');
      const p = parsePoolProps(r.stdout);
      expect(p.pool).to.equal(poolA);
      expect(p.version).to.equal(FEATURE_FLAGS_VERSION);
      expect(p.features.size).to.equal(count);
      expect(p.features.size).to.equal(r.stdout.split('\n').filter((l) => l.includes(' feature@')).length);
      for (const f of has) expect(p.features.get(f), f).to.be.oneOf(['enabled', 'active']);
      for (const f of lacks) expect(p.features.has(f), f).to.equal(false);
      expect(p.features.get('extensible_dataset')).to.equal('active');
      expect(p.props.get('health')).to.equal('ONLINE');
      expect(p.props.get('guid')).to.match(/^[0-9]{1,20}$/);
      expect(p.props.size).to.be.greaterThan(count + 20);
    });

    it(`reads the real ${set} \`zpool get -H -o value version\` and \`-o property,value all\``, () => {
      expect(parsePoolVersion(record(set, 'zpool-get-version').stdout)).to.equal(FEATURE_FLAGS_VERSION);
      const f = parsePoolFeatures(record(set, 'zpool-get-features').stdout);
      expect(f).to.deep.equal(parsePoolProps(record(set, 'zpool-get-all').stdout).features);
      expect(f.has('version')).to.equal(false);
    });
  }

  const versions: Array<[string, number]> = [['23\n', 23], ['28', 28], ['-\n', 5000], ['5000\n', 5000]];
  for (const [text, v] of versions) {
    it(`reads pool version ${JSON.stringify(text)} as ${v}`, () => {
      expect(parsePoolVersion(text)).to.equal(v);
    });
  }

  it('throws a ParseError for a bad version, two lines, or a table without header', () => {
    expectParseError(() => parsePoolVersion('x\n'), 1, /neither a number nor "-"/);
    expectParseError(() => parsePoolVersion('23\n24\n'), 2, /expected one line/);
    expectParseError(() => parsePoolProps('zbrecA  version  23  default\n'), 1, /header/);
    expectParseError(() => parsePoolProps('NAME PROPERTY VALUE SOURCE\nzbrecA version\n'), 2, /at least 4 columns/);
    expectParseError(() => parsePoolFeatures('feature@a\tenabled\tlocal\n'), 1, /expected 2/);
  });
});

describe('zfs parse: receive_resume_token', () => {
  const cases: Array<[string, string | null]> = [
    ['-\n', null],
    ['-', null],
    ['', null],
    [`${TOKEN}\n`, TOKEN],
  ];
  for (const [text, want] of cases) {
    it(`reads ${JSON.stringify(text.slice(0, 20))} as ${want === null ? 'no token' : 'the token'}`, () => {
      expect(parseResumeToken(text)).to.equal(want);
    });
  }

  for (const set of OPENZFS_SETS) {
    it(`reads real ${set} \`zfs get -o value receive_resume_token\`: the token the interrupted receive printed, and none`, () => {
      const token = parseResumeToken(record(set, 'resume-token').stdout);
      expect(token).to.be.a('string');
      expect(record(set, 'recv-interrupted').stderr).to.contain(`zfs send -t ${token}\n`);
      expect(parseResumeToken(record(set, 'resume-token-none').stdout)).to.equal(null);
    });
  }

  it('throws a ParseError for something that is not a token', () => {
    expectParseError(() => parseResumeToken('receive_resume_token\n'), 1, /not a resume token/);
    expectParseError(() => parseResumeToken('-\n-\n'), 2, /one value/);
  });
});

describe('zfs parse: usage text (zfs -?)', () => {
  it('reads the real zfs-fuse usage: old send/receive flags, hold and holds, no bookmark', () => {
    const u = parseZfsUsage(fuse('usage').stdout);
    expect([...u.commands.get('send')!.flags].sort()).to.deep.equal(['D', 'I', 'R', 'i', 'p']);
    expect([...u.commands.get('receive')!.flags].sort()).to.deep.equal(['F', 'd', 'n', 'v']);
    expect(u.commands.has('hold')).to.equal(true);
    expect(u.commands.has('holds')).to.equal(true);
    expect(u.commands.has('bookmark')).to.equal(false);
    expect(usageHasFlag(u, 'list', 'p')).to.equal(false);
    expect(usageHasFlag(u, 'list', 'H')).to.equal(true);
    expect(usageHasFlag(u, 'get', 'p')).to.equal(true);
    expect(u.commands.get('list')!.lines[0]).to.contain('[-S property] ... [filesystem|volume|snapshot] ...');
  });

  it('reads the usage zfs-fuse prints on stderr after an unknown command', () => {
    const u = parseZfsUsage(fuse('zfs-version').stderr);
    expect(u.commands.has('send')).to.equal(true);
  });

  // send -X (exclude from -R) and -s (skip missing) came with 2.2
  const usages: Array<[(typeof OPENZFS_SETS)[number], string[], string[]]> = [
    ['openzfs-2.1', [], ['X', 's']],
    ['openzfs-2.3', ['X', 's'], []],
  ];
  for (const [set, newer, older] of usages) {
    it(`reads the real ${set} usage: every send and receive option zettabee uses`, () => {
      const u = parseZfsUsage(record(set, 'usage').stdout);
      for (const f of ['c', 'L', 'e', 'w', 't', 'n', 'P', 'v', 'R', 'i', 'I', 'p', ...newer]) expect(usageHasFlag(u, 'send', f), `send -${f}`).to.equal(true);
      for (const f of older) expect(usageHasFlag(u, 'send', f), `send -${f}`).to.equal(false);
      for (const f of ['s', 'u', 'o', 'x', 'A', 'F', 'd', 'e']) expect(usageHasFlag(u, 'receive', f), `receive -${f}`).to.equal(true);
      expect([...u.commands.get('send')!.longFlags].sort()).to.deep.equal(['redact', 'saved']);
      for (const c of ['bookmark', 'hold', 'holds', 'release', 'diff', 'load-key', 'redact', 'wait']) expect(u.commands.has(c), c).to.equal(true);
      expect(usageHasFlag(u, 'list', 'p')).to.equal(true);
      expect(usageHasFlag(u, 'holds', 'H')).to.equal(true);
      // the usage of one command after an unknown option (on stderr) reads too
      expect(parseZfsUsage(record(set, 'send-unknown-long-option').stderr).commands.get('send')!.flags).to.deep.equal(u.commands.get('send')!.flags);
    });
  }

  it('throws a ParseError when there is no usage at all', () => {
    expectParseError(() => parseZfsUsage('bash: line 1: zfs: command not found\n'), 1, /no command lines/);
  });
});

describe('zfs parse: other', () => {
  it('reads real zfs-fuse `zfs list -H -o name`', () => {
    expect(parseNames(fuse('list-exists').stdout)).to.deep.equal(['zbrecA/src']);
    expect(() => parseNames('a\tb\n')).to.throw(ParseError, /expected 1/);
  });

  for (const set of OPENZFS_SETS) {
    const { src } = recordedNames(set);

    it(`reads a real ${set} \`zfs send -nvP\` estimate: the size line, which the stream line agrees with`, () => {
      const out = record(set, 'send-estimate').stdout;
      const [stream, size] = out.trim().split('\n');
      expect(stream!.split('\t').slice(0, 3)).to.deep.equal(['incremental', `${src}@s1`, `${src}@s2`]);
      const bytes = parseSendEstimate(out);
      expect(bytes).to.equal(BigInt(size!.split('\t')[1]!));
      expect(bytes).to.equal(BigInt(stream!.split('\t')[3]!));
      expect(bytes! > 0n).to.equal(true);
      // without its size line the stream lines are summed
      expect(parseSendEstimate(stream!)).to.equal(bytes);
    });

    it(`reads the snapshot a resume token leads to from a real ${set} \`zfs send -nvP -t\``, () => {
      const dry = record(set, 'send-resume-dry-run');
      expect(dry.stdout).to.match(/^resume token contents:\nnvlist version: 0\n/);
      expect(parseResumeTarget(dry.stdout)).to.equal(`${src}@big`);
      // what the engine reads: stdout and stderr together
      expect(parseResumeTarget(dry.stdout + dry.stderr)).to.equal(`${src}@big`);
      const left = parseSendEstimate(dry.stdout);
      expect(left! > 0n).to.equal(true);
      // a stale token still names its snapshot before zfs refuses it
      expect(parseResumeTarget(record(set, 'send-resume-stale').stdout)).to.equal(`${src}@big`);
      expect(parseResumeTarget(record(set, 'resume-token').stdout)).to.equal(null);
    });
  }

  it('sums the stream lines of a `zfs send -nvP` without a size line, or finds no estimate (literals)', () => {
    expect(parseSendEstimate('full\tp/d@a\t100\nincremental\ta\tp/d@b\t23\n')).to.equal(123n);
    expect(parseSendEstimate('nothing here\n')).to.equal(null);
  });
});
