// The check plugin on real pairs (real zfs-fuse pools, the real launcher):
// OK after initialize, WARNING/CRITICAL as lag crosses wlag/clag, a failed
// run, a pair never initialized, an unreadable status file, a run stuck
// mid-transfer crossing wrun/crun while it holds the lock, all pairs at once;
// and the generated Nagios definitions accepted by a real `nagios4 -v`.
import { expect } from 'chai';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatLag } from '../../src/config/duration.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { shortHostname } from '../../src/monitor/names.js';
import { ensurePackages, getBed, type Bed } from '../harness/bed.js';
import { ensureIcinga } from '../harness/icinga.js';
import { freezeSend, sleep, thaw, waitFor, type Proc } from './procs.js';
import { makeSite, mountpointOf, renameUnmounted, writeRandom, type Result, type Site } from './support.js';

const MiB = 1024 * 1024;

function must(r: Result, code: number): void {
  expect(r.code, `exit code; stdout: ${r.stdout}; stderr: ${r.stderr}`).to.equal(code);
}

describe('e2e: check (Nagios/Icinga plugin) on real pairs', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;
  const a = () => `${src}/a`;
  const b = () => `${src}/b`;
  const fpA = () => fingerprint(undefined, a(), undefined, `${dst}/a`);
  const fpB = () => fingerprint(undefined, b(), undefined, `${dst}/b`);
  /** the pairs file: pair a with these keys, pair b never initialized */
  const pairs = (aKeys: string) => site.writePairs([`${a()}  ${dst}/a  ${aKeys}`, `${b()}  ${dst}/b`]);
  const statusOf = (fp: string) => JSON.parse(readFileSync(join(site.paths.state, `${fp}.status`), 'utf8')) as { run: { started: string; result: string } };

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('chksrc', 512);
    dst = await bed.createPool('chkdst', 512);
    await bed.run(['zfs', 'create', a()]);
    await bed.run(['zfs', 'create', b()]);
    writeFileSync(`${await mountpointOf(bed, a())}/hello.txt`, 'hello\n');
    site = makeSite(bed);
    pairs('wlag=1h,clag=2h');
    const r = await site.run(['initialize', 'a']);
    must(r, 0);
  });

  it('after initialize: OK, exit 0, lag and last snapshot, perfdata with the thresholds', async () => {
    const r = await site.run(['check', 'a']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    const [first, ...long] = r.stdout.split('\n');
    expect(first).to.match(/^ZETTABEE OK - lag 0:00:[0-5]\d; last snapshot \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \| lag=\d+s;3600;7200;0 runtime=\d+s;;;0 bytes=\d+B;;;0 rate=\d+B;;;0$/);
    expect(long[0]).to.equal(`pair: ${a()} -> ${dst}/a (fingerprint ${fpA()})`);
    expect(long[1]).to.match(new RegExp(`^last good snapshot: zettabee\\.${fpA()}\\.\\d{14}UTC, taken .* UTC \\(0:00:[0-5]\\d ago\\)$`));
  });

  it('lag crosses wlag, then clag: WARNING (exit 1), then CRITICAL (exit 2)', async () => {
    pairs('wlag=1s,clag=1h');
    await sleep(1100);
    const w = await site.run(['check', 'a']);
    must(w, 1);
    expect(w.stdout).to.match(/^ZETTABEE WARNING - lag 0:00:[0-5]\d >= wlag 0:00:01; last snapshot .* \| lag=\d+s;1;3600;0 /);
    pairs('wlag=1s,clag=2s');
    await sleep(1000);
    const c = await site.run(['check', 'a']);
    must(c, 2);
    expect(c.stdout).to.match(/^ZETTABEE CRITICAL - lag 0:00:[0-5]\d >= clag 0:00:02; last snapshot .* \| lag=\d+s;1;2;0 /);
  });

  it('the last run failed (source gone), lag fine: WARNING with the error text', async () => {
    pairs('wlag=1h,clag=2h');
    await bed.run(['zfs', 'unmount', a()]);
    await renameUnmounted(bed, a(), `${a()}-away`);
    try {
      const u = await site.run(['update', 'a']);
      must(u, 1);
      const message = /^zettabee: error: update a: (.*)$/m.exec(u.stderr)?.[1];
      expect(message, u.stderr).to.be.a('string');
      const r = await site.run(['check', 'a']);
      must(r, 1);
      expect(r.stdout.split('\n')[0]).to.match(/^ZETTABEE WARNING - last update failed: /);
      expect(r.stdout).to.contain(message!.replace(/\|/g, '/'));
      expect(r.stdout).to.match(/\nlast run: update failed at .* UTC after \d+:\d\d:\d\d: /);
    } finally {
      await renameUnmounted(bed, `${a()}-away`, a());
      await bed.run(['zfs', 'mount', a()]);
    }
    must(await site.run(['update', 'a']), 0);
    must(await site.run(['check', 'a']), 0);
  });

  it('a pair never initialized (no status file): WARNING, says to initialize', async () => {
    expect(existsSync(join(site.paths.state, `${fpB()}.status`))).to.equal(false);
    const r = await site.run(['check', 'b']);
    must(r, 1);
    expect(r.stdout.split('\n')[0]).to.equal(`ZETTABEE WARNING - never initialized; run zettabee initialize ${dst}/b`);
  });

  it('an unreadable status file: UNKNOWN, exit 3, says why', async () => {
    writeFileSync(join(site.paths.state, `${fpB()}.status`), '{ this is not json');
    const r = await site.run(['check', 'b']);
    must(r, 3);
    expect(r.stdout.split('\n')[0]).to.match(new RegExp(`^ZETTABEE UNKNOWN - status file unreadable: ${site.paths.state}/${fpB()}\\.status: not JSON: `));
  });

  it('no DEST: a summary line, one line per pair, the exit code of the worst', async () => {
    const r = await site.run(['check']);
    must(r, 3);
    const lines = r.stdout.split('\n');
    expect(lines).to.have.length(3);
    expect(lines[0]).to.match(new RegExp(`^ZETTABEE UNKNOWN - 2 pairs: 1 unknown, 1 ok \\| '${dst}/a lag'=\\d+s;3600;7200;0 '${dst}/a runtime'=`));
    expect(lines[1]).to.match(new RegExp(`^${dst}/a: OK - lag `));
    expect(lines[2]).to.match(new RegExp(`^${dst}/b: UNKNOWN - status file unreadable: `));

    rmSync(join(site.paths.state, `${fpB()}.status`));
    const w = await site.run(['check']);
    must(w, 1);
    expect(w.stdout.split('\n')[0]).to.match(/^ZETTABEE WARNING - 2 pairs: 1 warning, 1 ok \| /);
  });

  it('a configuration error is UNKNOWN (exit 3), not CRITICAL', async () => {
    const r = await site.run(['check', 'nosuchpair']);
    must(r, 3);
    expect(r.stdout.split('\n')[0]).to.equal("ZETTABEE UNKNOWN - no pair matches 'nosuchpair'");
  });

  it('an update stuck mid-transfer: WARNING past wrun, CRITICAL past crun, while it holds the lock; OK when it ends', async () => {
    pairs('wlag=1h,clag=2h');
    writeRandom(`${await mountpointOf(bed, a())}/big.bin`, 150 * MiB);
    const child = site.spawn(['update', 'a']);
    let exited = false;
    void child.finally(() => (exited = true)).catch(() => undefined);
    const frozen: Proc[] = [];
    try {
      // freeze the real zfs send, and the update itself: zfs-fuse's daemon
      // writes the stream, and it passes through zettabee, so with zettabee
      // stopped no byte moves while it keeps its lock
      frozen.push(...(await freezeSend(a(), child, () => exited)));
      const rec = await waitFor('the status file to say running', 30_000, () => {
        const s = statusOf(fpA());
        return s.run.result === 'running' ? s : null;
      });
      process.kill(child.pid!, 'SIGSTOP');
      frozen.push({ pid: child.pid!, argv: [] });
      const started = Date.parse(rec.run.started);
      const until = async (s: number) => sleep(Math.max(0, started + s * 1000 - Date.now()));
      // thresholds just ahead of the runtime so far, however slow this machine was to get here
      const wrun = Math.ceil((Date.now() - started) / 1000) + 2;
      const crun = wrun + 3;
      pairs(`wlag=1h,clag=2h,wrun=${wrun}s,crun=${crun}s`);

      await until(wrun + 0.3);
      const w = await site.run(['check', 'a']);
      must(w, 1);
      expect(w.stdout.split('\n')[0]).to.match(new RegExp(`^ZETTABEE WARNING - update running for \\S+ >= wrun ${formatLag(wrun)}; lag .* \\| lag=\\d+s;3600;7200;0 runtime=\\d+s;${wrun};${crun};0`));
      expect(w.stdout).to.contain(`running: update by pid ${child.pid} on `);
      expect(existsSync(join(site.paths.lock, `${fpA()}.lock`))).to.equal(true);

      await until(crun + 0.3);
      const c = await site.run(['check', 'a']);
      must(c, 2);
      expect(c.stdout.split('\n')[0]).to.match(new RegExp(`^ZETTABEE CRITICAL - update running for \\S+ >= crun ${formatLag(crun)}; `));
      expect(c.stdout).to.contain(`zettabee runstatus ${dst}/a`);
      // the status view agrees: the lock is held by the live (stopped) run
      const s = await site.run(['status', 'a', '--json']);
      must(s, 0);
      expect((JSON.parse(s.stdout) as Array<{ lock: { state: string } }>)[0]!.lock.state).to.equal('held');
    } finally {
      thaw(frozen);
    }
    const u = await child;
    expect(u.exitCode, String(u.stderr)).to.equal(0);
    // a finished run's runtime is history, not a stuck run
    const r = await site.run(['check', 'a']);
    must(r, 0);
    expect(r.stdout).to.match(/^ZETTABEE OK - lag /);
  });
});

describe('e2e: nagios-config accepted by nagios4 -v', function () {
  let bed: Bed;
  let site: Site;
  let dir: string;

  before(async function () {
    this.timeout(20 * 60_000); // apt-get on a cold cache
    bed = await getBed();
    await ensurePackages(['nagios4-core']);
    site = makeSite(bed);
    // the pairs need not exist in ZFS: nagios-config reads the pairs file only
    site.writePairs([
      'tank/home  backup/home  clag=4h',
      'db1.example.org:tank/mysql0  backup/db/mysql0  wlag=1h,clag=2h',
      'tank/scratch  offsite.example.org:vault/scratch',
    ]);
    dir = site.dir;
  });

  /** a main config around the generated file: what nagios4 -v needs and nothing more */
  function mainConfig(generated: string, extraObjects: string): string {
    writeFileSync(join(dir, 'zettabee-nagios.cfg'), generated);
    writeFileSync(
      join(dir, 'site-objects.cfg'),
      [
        'define timeperiod {\n    timeperiod_name  24x7\n    alias            always\n    sunday           00:00-24:00\n    monday           00:00-24:00\n    tuesday          00:00-24:00\n    wednesday        00:00-24:00\n    thursday         00:00-24:00\n    friday           00:00-24:00\n    saturday         00:00-24:00\n}',
        'define command {\n    command_name  notify-nobody\n    command_line  /bin/true\n}',
        'define contact {\n    contact_name                   oncall\n    host_notifications_enabled     1\n    service_notifications_enabled  1\n    host_notification_period       24x7\n    service_notification_period    24x7\n    host_notification_options      d,u,r\n    service_notification_options   w,u,c,r\n    host_notification_commands     notify-nobody\n    service_notification_commands  notify-nobody\n}',
        'define service {\n    name                   generic-service\n    register               0\n    check_period           24x7\n    notification_period    24x7\n    notification_interval  60\n    contacts               oncall\n    max_check_attempts     3\n    check_interval         5\n    retry_interval         1\n}',
        extraObjects,
      ].join('\n\n') + '\n',
    );
    writeFileSync(join(dir, 'resource.cfg'), '$USER1$=/usr/lib/nagios/plugins\n');
    const main = join(dir, 'nagios.cfg');
    writeFileSync(
      main,
      [
        `cfg_file=${dir}/site-objects.cfg`,
        `cfg_file=${dir}/zettabee-nagios.cfg`,
        `resource_file=${dir}/resource.cfg`,
        'nagios_user=root',
        'nagios_group=root',
        `log_file=${dir}/nagios.log`,
        `status_file=${dir}/status.dat`,
        `lock_file=${dir}/nagios.lock`,
        `temp_file=${dir}/nagios.tmp`,
        `temp_path=${dir}`,
        `check_result_path=${dir}`,
        `object_cache_file=${dir}/objects.cache`,
        `precached_object_file=${dir}/objects.precache`,
        `state_retention_file=${dir}/retention.dat`,
        `command_file=${dir}/nagios.cmd`,
        'check_service_freshness=1',
        'illegal_object_name_chars=`~!$%^&*|\'"<>?,()=',
        'illegal_macro_output_chars=`~$&|\'"<>',
        '',
      ].join('\n'),
    );
    return main;
  }

  async function verify(main: string): Promise<string> {
    const r = await execa('nagios4', ['-v', main], { reject: false, stdin: 'ignore', timeout: 60_000 });
    const out = String(r.stdout);
    expect(r.exitCode, out).to.equal(0);
    expect(out, out).to.match(/Total Errors:\s+0\b/);
    return out;
  }

  it('hosts defined by the site (the default): no errors, no warnings, one service per pair', async () => {
    const g = await site.run(['nagios-config']);
    must(g, 0);
    expect(g.stderr).to.equal('');
    const me = shortHostname();
    // report_interval 5m (the default) + 5m: a lost channel shows within minutes, whatever clag says
    expect(g.stdout).to.contain(`    host_name               ${me}\n    service_description     zettabee backup/home\n    freshness_threshold     600\n`);
    const hosts = [me, 'offsite.example.org'].map((h) => `define host {\n    host_name           ${h}\n    max_check_attempts  1\n    contacts            oncall\n    notification_period 24x7\n    check_period        24x7\n}`);
    const out = await verify(mainConfig(g.stdout, hosts.join('\n\n')));
    expect(out).to.match(/Total Warnings:\s+0\b/);
    expect(out).to.match(/Checked 3 services\./);
    expect(out).to.match(/Checked 2 hosts\./);
  });

  it('--hosts: the generated host definitions pass too', async () => {
    const g = await site.run(['nagios-config', '--hosts']);
    must(g, 0);
    expect((g.stdout.match(/define host \{/g) ?? []).length).to.equal(2);
    const genericHost = 'define host {\n    name                  generic-host\n    register              0\n    check_period          24x7\n    notification_period   24x7\n    contacts              oncall\n}';
    const out = await verify(mainConfig(g.stdout, genericHost));
    expect(out).to.match(/Checked 3 services\./);
    expect(out).to.match(/Checked 2 hosts\./);
  });

  it('icinga-config: accepted by icinga2 daemon -C', async function () {
    await ensureIcinga(); // installed with apt when missing: never skipped
    const g = await site.run(['icinga-config', '--hosts']);
    must(g, 0);
    // icinga2 reads its configuration as its own user: a world-readable place
    const idir = mkdtempSync('/tmp/zb-icinga2-');
    chmodSync(idir, 0o755);
    const conf = join(idir, 'icinga2.conf');
    writeFileSync(
      conf,
      [
        'include <itl>',
        'template Service "generic-service" { max_check_attempts = 3; check_interval = 1m; retry_interval = 30s }',
        'template Host "generic-host" { max_check_attempts = 3; check_interval = 1m; retry_interval = 30s }',
        g.stdout,
      ].join('\n'),
    );
    chmodSync(conf, 0o644);
    try {
      const r = await execa('icinga2', ['daemon', '-C', '-c', conf], { reject: false, stdin: 'ignore', timeout: 60_000 });
      expect(r.exitCode, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(String(r.stdout)).to.match(/Finished validating the configuration/);
    } finally {
      rmSync(idir, { recursive: true, force: true });
    }
  });
});
