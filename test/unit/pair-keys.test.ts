// The keys of issue 14 (props, recv_exclude, recv_set, exclude, pre, post,
// hook_timeout) as the pairs file reads them: what each takes, and the
// message for what it does not.
import { expect } from 'chai';
import { parseCommand } from '../../src/config/keys.js';
import { formatProblem, parsePairs } from '../../src/config/pairs.js';
import { hookEnv } from '../../src/app/hooks.js';

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
  for (const [text, want] of bad) {
    it(`refuses ${text}, naming the file and line`, () => {
      const p = problem(text);
      expect(p).to.match(/^\/etc\/zettabee\/zettabee\.cfg:1/);
      expect(p).to.match(want);
    });
  }

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
