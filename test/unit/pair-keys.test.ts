// The keys of issue 14 (props, recv_exclude, recv_set, exclude, pre, post,
// hook_timeout) as the pairs file reads them: what each takes, and the
// message for what it does not.
import { expect } from 'chai';
import { parseCommand } from '../../src/config/keys.js';
import { formatProblem, parsePairs } from '../../src/config/pairs.js';
import { hookEnv } from '../../src/app/hooks.js';
import { parseSettings } from '../../src/config/settings.js';

const F = '/etc/zettabee/zettabee.cfg';

function options(opts: string): Record<string, unknown> {
  const r = parsePairs(`tank/a backup/a ${opts}`, F);
  expect(r.problems.map(formatProblem)).to.deep.equal([]);
  return r.pairs[0]!.options as Record<string, unknown>;
}

function problem(opts: string): string {
  const r = parsePairs(`tank/a backup/a ${opts}`, F);
  expect(r.problems, `${opts} should be refused`).to.have.length(1);
  return formatProblem(r.problems[0]!);
}

/** one test per option text: refused with a message naming the file and line, and matching */
function refusesEach(bad: ReadonlyArray<[string, RegExp]>): void {
  for (const [text, want] of bad) {
    it(`refuses ${text}, naming the file and line`, () => {
      const p = problem(text);
      expect(p).to.match(/^\/etc\/zettabee\/zettabee\.cfg:1/);
      expect(p).to.match(want);
    });
  }
}

describe('pair keys: props, recv_exclude, recv_set, exclude, pre, post, hook_timeout', () => {
  const good: Array<[string, Record<string, unknown>]> = [
    ['props=yes', { props: true }],
    ['props=no', { props: false }],
    ['recv_exclude=mountpoint', { recv_exclude: ['mountpoint'] }],
    ['recv_exclude="mountpoint,canmount"', { recv_exclude: ['mountpoint', 'canmount'] }],
    ['recv_exclude="mountpoint canmount mountpoint"', { recv_exclude: ['mountpoint', 'canmount'] }],
    ['recv_exclude=com.example:tag', { recv_exclude: ['com.example:tag'] }],
    ['recv_set="canmount=noauto,compression=zstd"', { recv_set: { canmount: 'noauto', compression: 'zstd' } }],
    ['recv_set=canmount=noauto', { recv_set: { canmount: 'noauto' } }],
    ['recv_set="com.example:owner=ops"', { recv_set: { 'com.example:owner': 'ops' } }],
    ['recursive=yes,exclude="tmp,vm/*/swap,**/cache"', { recursive: true, exclude: ['tmp', 'vm/*/swap', '**/cache'] }],
    ['pre=/usr/local/bin/flush', { pre: ['/usr/local/bin/flush'] }],
    ["pre=\"/bin/sh -c 'mysql -e flush; sync' zb\"", { pre: ['/bin/sh', '-c', 'mysql -e flush; sync', 'zb'] }],
    ['post="/usr/bin/logger -t zettabee snapshot taken",hook_timeout=30s', { post: ['/usr/bin/logger', '-t', 'zettabee', 'snapshot', 'taken'], hook_timeout: 30 }],
    ['hook_timeout=5m', { hook_timeout: 300 }],
  ];
  for (const [text, want] of good) {
    it(`takes ${text}`, () => expect(options(text)).to.deep.include(want));
  }

  const bad: Array<[string, RegExp]> = [
    ['props=maybe', /props must be yes or no/],
    ['recv_exclude="Mount point"', /'Mount' is not a zfs property name/],
    ['recv_exclude=readonly', /readonly is zettabee's own/],
    ['recv_exclude=zettabee:fingerprint', /zettabee:fingerprint is zettabee's own/],
    ['recv_set=canmount', /'canmount' is not property=value/],
    ['recv_set="readonly=off"', /readonly is zettabee's own/],
    ['recv_set="canmount=on,canmount=off"', /canmount is set twice/],
    ['recv_set="origin=tank/a@x"', /origin cannot be set/],
    ['recv_exclude=canmount,recv_set=canmount=noauto', /a comma is probably missing|canmount is in both/],
    ['recv_exclude=canmount,recv_set="canmount=noauto"', /canmount is in both recv_exclude and recv_set/],
    ['exclude=tmp', /exclude= applies to recursive pairs only/],
    ['recursive=yes,exclude=/tank/a/tmp', /not a child below the source/],
    ['recursive=yes,exclude="tmp@snap"', /not a child below the source/],
    ['recursive=yes,exclude="a b$"', /a character dataset names cannot hold/],
    ['pre=flush', /must be an absolute path/],
    ["pre=\"/bin/sh -c 'unclosed\"", /single quote at character 12 has no closing quote/],
    ['post=""', /post has no value/],
    ['hook_timeout=0', /hook_timeout must be more than 0 s/],
  ];
  refusesEach(bad);

  it('a hook command: blanks split words, single quotes group them, nothing else is special', () => {
    expect(parseCommand("/bin/echo a  'b c' d'e f'g $HOME \"x\"")).to.deep.equal(['/bin/echo', 'a', 'b c', 'de fg', '$HOME', '"x"']);
    expect(parseCommand("/bin/echo ''")).to.deep.equal(['/bin/echo', '']);
    expect(parseCommand('   ')).to.deep.equal({ error: 'the command is empty' });
  });

  it('a hook sees the pair and the snapshot in its environment', () => {
    const [pair] = parsePairs('src:tank/a backup/a pre=/bin/true', F).pairs;
    const env = hookEnv('post', { pair: pair!, action: 'update', snapshot: 'zettabee.x.20261201000000UTC', taken: false });
    expect(env).to.deep.include({
      ZETTABEE_HOOK: 'post',
      ZETTABEE_ACTION: 'update',
      ZETTABEE_PAIR: 'backup/a',
      ZETTABEE_FINGERPRINT: pair!.fingerprint,
      ZETTABEE_SOURCE: 'src:tank/a',
      ZETTABEE_SOURCE_HOST: 'src',
      ZETTABEE_SOURCE_DATASET: 'tank/a',
      ZETTABEE_DESTINATION_DATASET: 'backup/a',
      ZETTABEE_SNAPSHOT: 'tank/a@zettabee.x.20261201000000UTC',
      ZETTABEE_SNAPSHOT_NAME: 'zettabee.x.20261201000000UTC',
      ZETTABEE_SNAPSHOT_TAKEN: 'no',
    });
  });
});

describe('pair key interval (zettabee daemon)', () => {
  const good: Array<[string, number]> = [
    ['interval=15s', 15],
    ['interval=15', 15],
    ['interval=1m', 60],
    ['interval=1h30m', 5400],
    ['interval=1d', 86400],
    ['interval=24h', 86400],
  ];
  for (const [text, want] of good) {
    it(`takes ${text}`, () => expect(options(text)).to.deep.include({ interval: want }));
  }

  const bad: Array<[string, RegExp]> = [
    ['interval=14s', /interval: 14s is out of range \(15s to 1d\)/],
    ['interval=0', /interval: 0s is out of range \(15s to 1d\)/],
    ['interval=1d1s', /interval: 1d1s is out of range \(15s to 1d\)/],
    ['interval=2w', /interval: 2w is out of range/],
    ['interval=often', /interval: 'often' is not a duration/],
    ['interval=', /interval has no value \(write interval=<how often the daemon updates the pair/],
  ];
  refusesEach(bad);

  it('[defaults] interval applies to every pair that sets none', () => {
    const s = parseSettings('[defaults]\ninterval = 5m\n', '/etc/zettabee/zettabee.ini');
    expect(s.problems).to.deep.equal([]);
    const r = parsePairs('tank/a backup/a\ntank/b backup/b interval=30s', F, s.settings.defaults);
    expect(r.pairs.map((p) => p.options.interval)).to.deep.equal([300, 30]);
  });

  it('[defaults] interval out of range is an error of the settings file and line', () => {
    const s = parseSettings('[defaults]\n\ninterval = 10s\n', '/etc/zettabee/zettabee.ini');
    expect(s.problems.map(formatProblem)).to.deep.equal(['/etc/zettabee/zettabee.ini:3: [defaults]: interval: 10s is out of range (15s to 1d)']);
  });
});
