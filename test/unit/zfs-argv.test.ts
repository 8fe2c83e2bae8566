import { expect } from 'chai';
import * as z from '../../src/zfs/argv.js';

describe('zfs argv builders', () => {
  const cases: Array<[string, string[], string[]]> = [
    ['usage', z.usage(), ['zfs', '-?']],
    ['listSnapshots', z.listSnapshots('tank/data'),
      ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', 'guid,createtxg,creation', 'tank/data']],
    ['holdCounts', z.holdCounts('tank/data'),
      ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', 'userrefs', 'tank/data']],
    ['getProps', z.getProps('tank/data', ['readonly', 'zettabee:pair']),
      ['zfs', 'get', '-H', '-p', '-o', 'name,property,value,source', 'readonly,zettabee:pair', 'tank/data']],
    ['resumeToken', z.resumeToken('tank/b'), ['zfs', 'get', '-H', '-p', '-o', 'value', 'receive_resume_token', 'tank/b']],
    ['snapshot', z.snapshot(['tank/a@s1']), ['zfs', 'snapshot', 'tank/a@s1']],
    ['snapshot -r, several', z.snapshot(['tank/a@s1', 'tank/b@s1'], { recursive: true }),
      ['zfs', 'snapshot', '-r', 'tank/a@s1', 'tank/b@s1']],
    ['destroy', z.destroy('tank/a@s1'), ['zfs', 'destroy', 'tank/a@s1']],
    ['destroy -r', z.destroy('tank/a@s1', { recursive: true }), ['zfs', 'destroy', '-r', 'tank/a@s1']],
    ['setProp', z.setProp('tank/a', 'zettabee:pair', 'nightly to b'), ['zfs', 'set', 'zettabee:pair=nightly to b', 'tank/a']],
    ['setPropsAtOnce', z.setPropsAtOnce('tank/a', { readonly: 'on', 'x:y': '1' }), ['zfs', 'set', 'readonly=on', 'x:y=1', 'tank/a']],
    ['inheritProp', z.inheritProp('zettabee:pair', 'tank/a'), ['zfs', 'inherit', 'zettabee:pair', 'tank/a']],
    ['inheritProp -S', z.inheritProp('readonly', 'tank/a', { received: true }), ['zfs', 'inherit', '-S', 'readonly', 'tank/a']],
    ['send full', z.send({ snapshot: 'tank/a@s2' }), ['zfs', 'send', 'tank/a@s2']],
    ['send -i', z.send({ snapshot: 'tank/a@s2', from: 'tank/a@s1' }), ['zfs', 'send', '-i', 'tank/a@s1', 'tank/a@s2']],
    ['send -I short base', z.send({ snapshot: 'tank/a@s3', from: '@s1', incremental: 'I' }), ['zfs', 'send', '-I', '@s1', 'tank/a@s3']],
    ['send every flag', z.send({
      snapshot: 'tank/a@s2', from: 'tank/a#s1', replicate: true, props: true, compressed: true,
      largeBlocks: true, embedded: true, raw: true,
    }), ['zfs', 'send', '-R', '-p', '-c', '-L', '-e', '-w', '-i', 'tank/a#s1', 'tank/a@s2']],
    ['send dry run', z.send({ snapshot: 'tank/a@s2', from: 'tank/a@s1', dryRun: true }),
      ['zfs', 'send', '-n', '-v', '-P', '-i', 'tank/a@s1', 'tank/a@s2']],
    ['send -t', z.send({ resumeToken: '1-abc-10-789c' }), ['zfs', 'send', '-t', '1-abc-10-789c']],
    ['send -t dry run with -c', z.send({ resumeToken: '1-abc-10-789c', dryRun: true, compressed: true }),
      ['zfs', 'send', '-n', '-v', '-P', '-c', '-t', '1-abc-10-789c']],
    ['recv', z.recv({ target: 'back/a' }), ['zfs', 'receive', 'back/a']],
    ['recv every flag', z.recv({
      target: 'back/a', verbose: true, force: true, noMount: true, resumable: true,
      options: { readonly: 'on', mountpoint: 'none' }, exclude: ['zettabee:pair'], origin: 'back/base@s1',
    }), ['zfs', 'receive', '-v', '-F', '-u', '-s', '-o', 'readonly=on', '-o', 'mountpoint=none',
      '-x', 'zettabee:pair', '-o', 'origin=back/base@s1', 'back/a']],
    ['recvAbort', z.recvAbort('back/a'), ['zfs', 'receive', '-A', 'back/a']],
    ['hold', z.hold('zettabee-x', ['tank/a@s1', 'tank/b@s1']), ['zfs', 'hold', 'zettabee-x', 'tank/a@s1', 'tank/b@s1']],
    ['hold -r', z.hold('zettabee-x', ['tank@s1'], { recursive: true }), ['zfs', 'hold', '-r', 'zettabee-x', 'tank@s1']],
    ['release', z.release('zettabee-x', ['tank/a@s1']), ['zfs', 'release', 'zettabee-x', 'tank/a@s1']],
    ['holds', z.holds(['tank/a@s1', 'tank/a@s2']), ['zfs', 'holds', '-H', 'tank/a@s1', 'tank/a@s2']],
    ['holds -r', z.holds(['tank@s1'], { recursive: true }), ['zfs', 'holds', '-H', '-r', 'tank@s1']],
    ['bookmark', z.bookmark('tank/a@s1', 'tank/a#s1'), ['zfs', 'bookmark', 'tank/a@s1', 'tank/a#s1']],
    ['rollback', z.rollback('back/a@s1'), ['zfs', 'rollback', 'back/a@s1']],
    ['rollback -r', z.rollback('back/a@s1', { destroyNewer: true }), ['zfs', 'rollback', '-r', 'back/a@s1']],
    ['exists', z.exists('tank/a'), ['zfs', 'list', '-H', '-o', 'name', 'tank/a']],
    ['listParsableProbe', z.listParsableProbe('tank'), ['zfs', 'list', '-H', '-p', '-o', 'name', '-d', '0', 'tank']],
    ['poolProps', z.poolProps('tank'), ['zpool', 'get', 'all', 'tank']],
    ['poolVersion', z.poolVersion('tank'), ['zpool', 'get', '-H', '-o', 'value', 'version', 'tank']],
    ['poolFeatures', z.poolFeatures('tank'), ['zpool', 'get', '-H', '-o', 'property,value', 'all', 'tank']],
  ];
  for (const [name, actual, expected] of cases) {
    it(`builds ${name}: ${expected.join(' ')}`, () => {
      expect(actual).to.deep.equal(expected);
    });
  }

  it('returns one `zfs set` per property (zfs-fuse takes one property=value)', () => {
    expect(z.setProps('tank/a', { readonly: 'on', 'x:y': 'a b' })).to.deep.equal([
      ['zfs', 'set', 'readonly=on', 'tank/a'],
      ['zfs', 'set', 'x:y=a b', 'tank/a'],
    ]);
  });

  it('returns a fresh array on every call', () => {
    const a = z.usage();
    a.push('x');
    expect(z.usage()).to.deep.equal(['zfs', '-?']);
  });

  const refused: Array<[string, () => unknown, RegExp]> = [
    ['an empty dataset', () => z.listSnapshots(''), /empty dataset/],
    ['a dataset that reads as an option', () => z.exists('-r'), /starts with '-'/],
    ['an empty snapshot list', () => z.snapshot([]), /no snapshot name/],
    ['an empty name in a list', () => z.hold('t', ['tank@a', '']), /empty snapshot/],
    ['an empty hold tag', () => z.release('', ['tank@a']), /empty hold tag/],
    ['no properties to get', () => z.getProps('tank', []), /no property/],
    ['no properties to set', () => z.setProps('tank', {}), /no property/],
    ['a property name with =', () => z.getProps('tank', ['a=b']), /contains/],
    ['destroying a file system', () => z.destroy('tank/a'), /snapshots only/],
    ['destroying "tank@"', () => z.destroy('tank@'), /snapshots only/],
    ['send without snapshot or token', () => z.send({}), /snapshot or a resume token/],
    ['send -t with a snapshot', () => z.send({ resumeToken: '1-a-b-c', snapshot: 'tank@a' }), /send -t takes no/],
    ['send -t with -R', () => z.send({ resumeToken: '1-a-b-c', replicate: true }), /send -t takes no/],
    ['an empty receive target', () => z.recv({ target: '' }), /empty target/],
    ['an empty origin', () => z.recv({ target: 'b/a', origin: '' }), /empty origin/],
    ['an empty pool', () => z.poolProps(''), /empty pool/],
  ];
  for (const [what, f, re] of refused) {
    it(`refuses ${what}`, () => {
      expect(f).to.throw(TypeError, re);
    });
  }
});
