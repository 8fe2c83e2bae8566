// --icinga end to end: the real launcher and zfs-fuse pools against a real
// Icinga 2 daemon (test/harness/icinga.ts) with its own CA, ApiUsers and
// passive services; each result is read back from the Icinga API.
import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { shortHostname } from '../../src/monitor/names.js';
import { getBed, type Bed } from '../harness/bed.js';
import { makePki, startIcinga, type IcingaDaemon, type IcingaService } from '../harness/icinga.js';
import { makeSite, type Result, type Site } from './support.js';

function must(r: Result, code: number): void {
  expect(r.code, `exit code; stderr: ${r.stderr}; stdout: ${r.stdout}`).to.equal(code);
}

describe('e2e: --icinga through the API of a real Icinga 2', function () {
  let bed: Bed;
  let site: Site;
  let icinga: IcingaDaemon;
  let src: string;
  let dst: string;
  let settingsText: string;
  let passwordFile: string;
  const host = shortHostname();
  const svc = (p: string): IcingaService => ({ host, service: `zettabee ${dst}/${p}` });
  const log = (p: string) => readFileSync(join(site.paths.log, `${fingerprint('localhost', `${src}/${p}`, 'localhost', `${dst}/${p}`)}.log`), 'utf8');

  /** the site's settings with some [icinga] lines replaced */
  function icingaSettings(over: Record<string, string>): void {
    let text = settingsText;
    for (const [k, v] of Object.entries(over)) text = text.replace(new RegExp(`^${k} = .*$`, 'm'), `${k} = ${v}`);
    writeFileSync(site.settingsFile, text);
  }

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('icsrc', 128);
    dst = await bed.createPool('icdst', 128);
    for (const p of ['a', 'b', 'c']) await bed.run(['zfs', 'create', `${src}/${p}`]);
    const dir = join(bed.workdir, 'icinga');
    mkdirSync(dir);
    // c has no service in Icinga: the 404 case
    icinga = await startIcinga(dir, [svc('a'), svc('b')]);
    passwordFile = join(dir, 'zettabee.password');
    writeFileSync(passwordFile, `${icinga.password}\n`, { mode: 0o600 });
    site = makeSite(bed, `\n[icinga]\nurl = ${icinga.url}\nuser = ${icinga.user}\npassword_file = ${passwordFile}\nca = ${icinga.ca}\n`);
    settingsText = readFileSync(site.settingsFile, 'utf8');
    site.writePairs([`${src}/a  ${dst}/a  wlag=1h,clag=2h`, `${src}/b  ${dst}/b  wlag=1s,clag=1d`, `${src}/c  ${dst}/c`]);
    for (const p of ['a', 'b', 'c']) must(await site.run(['initialize', `${dst}/${p}`]), 0);
  });

  after(async () => {
    await icinga?.stop();
  });

  beforeEach(() => writeFileSync(site.settingsFile, settingsText));

  it('update --icinga: Icinga holds the result: state, output with long output, perfdata as an array, check_source, ttl from report_interval', async () => {
    const t0 = Date.now() / 1000;
    const r = await site.run(['--icinga', 'update', `${dst}/a`]);
    expect(r).to.deep.include({ code: 0, stdout: '', stderr: '' });
    const res = await icinga.lastCheckResult(svc('a'));
    expect(res, 'no check result in Icinga').to.not.equal(null);
    expect(res!.state).to.equal(0);
    expect(res!.output).to.match(/^ZETTABEE OK - [^|\n]+\n/);
    expect(res!.output).to.contain('\nlast good snapshot: ');
    expect(res!.performance_data[0]).to.match(/^lag=\d+s;3600;7200;0$/);
    expect(res!.check_source).to.equal(hostname());
    expect(res!.ttl).to.equal(300 + 300); // report_interval 5m (the default) + 5m, not clag
    expect(res!.execution_end).to.be.within(t0 - 5, Date.now() / 1000 + 5);
    // the API confirms: the log says what it answered
    expect(log('a')).to.match(/INFO \[\d+\] update: posted OK to Icinga \(\S+!zettabee \S+\/a\); the API answered 200 Successfully processed check result/);
  });

  it('status --icinga: a result for every selected pair (b is past its wlag: WARNING); output unchanged, exit 0', async () => {
    const t0 = Date.now() / 1000;
    const plain = await site.run(['status', `${dst}/b`]);
    await new Promise((r) => setTimeout(r, 1100)); // b's lag passes wlag=1s
    for (const p of ['a', 'b']) {
      const r = await site.run(['--icinga', 'status', `${dst}/${p}`]);
      expect(r).to.deep.include({ code: 0, stderr: '' });
      if (p === 'b') expect(r.stdout.split(/\s{2,}/).slice(0, 3)).to.deep.equal(plain.stdout.split(/\s{2,}/).slice(0, 3));
    }
    const a = await icinga.lastCheckResult(svc('a'));
    const b = await icinga.lastCheckResult(svc('b'));
    // Icinga keeps the sent exit_status as the result's state (its own exit_status field stays 0)
    expect([a!.state, b!.state]).to.deep.equal([0, 1]);
    expect(b!.output).to.match(/^ZETTABEE WARNING - lag \S+ >= wlag/);
    expect(b!.ttl).to.equal(600); // the same for every pair, whatever its clag
    for (const x of [a!, b!]) expect(x.execution_end).to.be.above(t0);
  });

  it('a wrong password: update still exits 0, one warning line naming 401 and the password file, the pair log has it', async () => {
    writeFileSync(passwordFile, 'not-the-password\n');
    try {
      const r = await site.run(['--icinga', 'update', `${dst}/a`]);
      must(r, 0);
      expect(r.stdout).to.equal('');
      expect(r.stderr.trim().split('\n')).to.deep.equal([
        `zettabee: warning: update: could not send results to Icinga: 401 Unauthorized: Icinga refused ApiUser '${icinga.user}' with the password in ${passwordFile} (check both against the ApiUser object)`,
      ]);
      expect(log('a')).to.match(/WARN \[\d+\] update: could not send the result to Icinga \(\S+!zettabee \S+\/a\): 401 Unauthorized/);
    } finally {
      writeFileSync(passwordFile, `${icinga.password}\n`);
    }
  });

  it('a service Icinga does not have: update still exits 0, the warning names host!service and icinga-config', async () => {
    const r = await site.run(['--icinga', 'update', `${dst}/c`]);
    must(r, 0);
    expect(r.stderr.trim().split('\n')).to.deep.equal([
      `zettabee: warning: update: could not send results to Icinga: 404: Icinga has no service '${host}!zettabee ${dst}/c': create it (see zettabee icinga-config)`,
    ]);
    expect(log('c')).to.contain(`404: Icinga has no service '${host}!zettabee ${dst}/c'`);
  });

  it('an ApiUser without actions/process-check-result: the warning names the permission', async () => {
    const weakPassword = join(site.dir, 'weak.password');
    writeFileSync(weakPassword, `${icinga.weakPassword}\n`);
    icingaSettings({ user: icinga.weakUser, password_file: weakPassword });
    const r = await site.run(['--icinga', 'status', `${dst}/a`]);
    must(r, 0);
    expect(r.stderr.trim().split('\n')).to.deep.equal([
      `zettabee: warning: status: could not send results to Icinga: 404: ApiUser '${icinga.weakUser}' lacks permission actions/process-check-result (add it to the ApiUser's permissions)`,
    ]);
  });

  it('a CA that did not sign the API certificate: a TLS warning naming the URL and the CA; nothing reaches Icinga', async () => {
    const before = await icinga.lastCheckResult(svc('a'));
    const other = await makePki(join(site.dir, 'other-ca'));
    icingaSettings({ ca: other.caCert });
    const r = await site.run(['--icinga', 'status', `${dst}/a`]);
    must(r, 0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.contain(`zettabee: warning: status: could not send results to Icinga: TLS: the certificate of ${icinga.url} does not verify against the CA in ${other.caCert}: `);
    expect((await icinga.lastCheckResult(svc('a')))!.execution_end).to.equal(before!.execution_end);
  });
});
