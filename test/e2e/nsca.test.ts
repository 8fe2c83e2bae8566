// --nagios end to end: the real launcher, real zfs-fuse pools, the real
// send_nsca and the test bed's real nsca daemon, whose command file must hold
// exactly the PROCESS_SERVICE_CHECK_RESULT lines expected.
import { expect } from 'chai';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { shortHostname } from '../../src/monitor/names.js';
import { getBed, type Bed } from '../harness/bed.js';
import { freePort } from '../harness/bed.js';
import { freezeSend, sleep, thaw } from './procs.js';
import { makeSite, mountpointOf, renameUnmounted, snapshotsOf, writeRandom, type Result, type Site } from './support.js';

const MiB = 1024 * 1024;

interface Command {
  epoch: number;
  host: string;
  service: string;
  rc: number;
  output: string;
}

/** `[epoch] PROCESS_SERVICE_CHECK_RESULT;host;service;rc;output` (nsca writes newlines as \n) */
function parse(line: string): Command {
  const m = /^\[(\d+)\] PROCESS_SERVICE_CHECK_RESULT;([^;]*);([^;]*);(\d);(.*)$/.exec(line);
  if (!m) throw new Error(`not a service check result: ${line}`);
  return { epoch: Number(m[1]), host: m[2]!, service: m[3]!, rc: Number(m[4]), output: m[5]! };
}

function must(r: Result, code: number): void {
  expect(r.code, `exit code; stderr: ${r.stderr}; stdout: ${r.stdout}`).to.equal(code);
}

describe('e2e: --nagios through send_nsca to a real nsca daemon', function () {
  let bed: Bed;
  let site: Site;
  let src: string;
  let dst: string;
  let settingsText: string;
  const host = shortHostname();
  const a = () => `${dst}/a`;
  const b = () => `${dst}/b`;
  const fpA = () => fingerprint('localhost', `${src}/a`, 'localhost', a());

  /** the command file's lines once `n` have arrived (nsca writes them after send_nsca has exited) */
  async function commands(n: number): Promise<Command[]> {
    const deadline = Date.now() + 10_000;
    while (bed.nsca.readCommands().length < n && Date.now() < deadline) await sleep(50);
    await sleep(300); // anything more than expected would show up by now
    return bed.nsca.readCommands().map(parse);
  }

  function pairs(opts: { a?: string; b?: string } = {}): void {
    site.writePairs([`${src}/a  ${a()}  ${opts.a ?? 'wlag=1h,clag=2h'}`, `${src}/b  ${b()}  ${opts.b ?? 'wlag=1h,clag=2h'}`]);
  }

  /** the site's settings with some [nagios] lines replaced */
  function nagios(over: Record<string, string | null>): void {
    let text = settingsText;
    for (const [k, v] of Object.entries(over)) text = text.replace(new RegExp(`^${k} = .*$`, 'm'), v === null ? '' : `${k} = ${v}`);
    writeFileSync(site.settingsFile, text);
  }

  before(async function () {
    bed = await getBed();
    src = await bed.createPool('nscasrc', 256);
    dst = await bed.createPool('nscadst', 256);
    await bed.run(['zfs', 'create', `${src}/a`]);
    await bed.run(['zfs', 'create', `${src}/b`]);
    site = makeSite(
      bed,
      `\n[nagios]\nsend_nsca = /usr/sbin/send_nsca\nconfig = ${bed.nsca.sendConfig}\nserver = ${bed.nsca.host}\nport = ${bed.nsca.port}\n`,
    );
    settingsText = readFileSync(site.settingsFile, 'utf8');
    pairs();
    for (const p of ['a', 'b']) must(await site.run(['initialize', `${dst}/${p}`]), 0);
  });

  beforeEach(() => {
    bed.nsca.clear();
    writeFileSync(site.settingsFile, settingsText);
    pairs();
  });

  it('update --nagios of an initialized pair: exactly one line, OK, host and service from the templates, lag perfdata', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await site.run(['--nagios', 'update', a()]);
    expect(r).to.deep.include({ code: 0, stdout: '', stderr: '' });
    const lines = await commands(1);
    expect(lines).to.have.length(1);
    const c = lines[0]!;
    expect(c).to.deep.include({ host, service: `zettabee ${a()}`, rc: 0 });
    expect(c.output).to.match(/^ZETTABEE OK - .* \| lag=\d+s;3600;7200;0( |\\n|$)/);
    expect(c.epoch).to.be.within(before - 5, Math.ceil(Date.now() / 1000) + 5);
    // send_nsca cannot know whether nsca took the result: the log claims no more than the hand-over
    expect(readFileSync(join(site.paths.log, `${fpA()}.log`), 'utf8')).to.match(
      new RegExp(`INFO \\[\\d+\\] update: handed OK to send_nsca for ${bed.nsca.host} \\(\\S+;zettabee \\S+/a\\); NSCA does not confirm delivery`),
    );
  });

  it('a wrong NSCA password: send_nsca exits 0 and nsca drops the result; the log says "handed to send_nsca", never "sent"', async () => {
    const wrong = join(site.dir, 'send_nsca-wrong.cfg');
    writeFileSync(wrong, `password=not-${bed.nsca.password}\nencryption_method=1\n`, { mode: 0o600 });
    nagios({ config: wrong });
    const logFile = join(site.paths.log, `${fpA()}.log`);
    const before = readFileSync(logFile, 'utf8').length;
    const r = await site.run(['--nagios', 'update', a()]);
    // nothing told zettabee the result was lost: no warning is possible, and none is invented
    expect(r).to.deep.include({ code: 0, stdout: '', stderr: '' });
    // nsca got the connection and dropped the packet: nothing reached the command file
    await sleep(1500);
    expect(bed.nsca.readCommands()).to.deep.equal([]);
    const monitorLines = readFileSync(logFile, 'utf8').slice(before).split('\n').filter((l) => /Nagios|send_nsca|NSCA/.test(l));
    expect(monitorLines, monitorLines.join('\n')).to.have.length(1);
    expect(monitorLines[0]).to.match(/ INFO \[\d+\] update: handed OK to send_nsca for \S+ \(\S+;zettabee \S+\/a\); NSCA does not confirm delivery/);
    expect(monitorLines[0]).not.to.match(/\bsent\b/);
  });

  /** the host;service pairs `zettabee nagios-config` defines for the site */
  async function definedServices(): Promise<string[]> {
    const g = await site.run(['nagios-config']);
    must(g, 0);
    return [...g.stdout.matchAll(/^ {4}host_name {15}(.*)\n {4}service_description {5}(.*)$/gm)].map((m) => `${m[1]};${m[2]}`);
  }

  it('setup --nagios: each pair\'s real result, marked with a token, reaches the services nagios-config defines; CONFIRM says what to look for', async () => {
    const r = await site.run(['--nagios', 'setup']);
    must(r, 0);
    const out = r.stdout.split('\n');
    const head = out.findIndex((l) => l.startsWith('CONFIRM nagios: a test result through send_nsca to '));
    expect(head, r.stdout).to.be.greaterThan(-1);
    expect(out[head]).to.equal(`CONFIRM nagios: a test result through send_nsca to ${bed.nsca.host}:${bed.nsca.port} (handed to send_nsca; NSCA does not confirm delivery)`);
    const mark = /ending in "(zettabee setup test [0-9a-f]{8})"/.exec(out[head + 1]!)?.[1];
    expect(mark, out[head + 1]).to.be.a('string');
    const services = await definedServices();
    expect(services).to.deep.equal([`${host};zettabee ${a()}`, `${host};zettabee ${b()}`]);
    expect(out.slice(head + 2, head + 4)).to.deep.equal(services.map((x) => `          ${x}`));
    expect(out[head + 4]).to.equal(`        for example: grep -F '${mark}' /var/log/nagios4/nagios.log (Nagios logs passive results with log_passive_checks=1, the default)`);
    expect(out[head + 5]).to.contain(`the password or encryption_method in ${bed.nsca.sendConfig} differs from nsca.cfg`);
    // what arrived: both services, their real state (as check says it), the token at the end of the first line
    const lines = await commands(2);
    expect(lines.map((c) => `${c.host};${c.service}`)).to.deep.equal(services);
    for (const [c, dest] of [[lines[0]!, a()], [lines[1]!, b()]] as const) {
      const check = await site.run(['check', dest]);
      expect(c.rc).to.equal(check.code);
      expect(c.output).to.match(new RegExp(`^ZETTABEE OK - [^|\\\\]*; ${mark} \\| lag=`));
    }
  });

  it('setup --nagios with a wrong NSCA password: the same CONFIRM and instructions, exit 0 (nothing can tell), and nothing arrives', async () => {
    const wrong = join(site.dir, 'send_nsca-wrong.cfg');
    writeFileSync(wrong, `password=not-${bed.nsca.password}\nencryption_method=1\n`, { mode: 0o600 });
    nagios({ config: wrong });
    const r = await site.run(['--nagios', 'setup', a()]);
    must(r, 0);
    expect(r.stdout).to.match(/^CONFIRM nagios: a test result through send_nsca to \S+ \(handed to send_nsca; NSCA does not confirm delivery\)$/m);
    expect(r.stdout).to.match(new RegExp(`^ {8}confirm it arrived: within a minute, this service shows its real state ending in "zettabee setup test [0-9a-f]{8}" on the Nagios server:\n {10}${host};zettabee ${a()}$`, 'm'));
    expect(r.stdout).to.contain(`if it never arrives: the password or encryption_method in ${wrong} differs from nsca.cfg`);
    await sleep(1500);
    expect(bed.nsca.readCommands()).to.deep.equal([]);
  });

  it('setup --nagios when nsca cannot be reached: FAILED with send_nsca\'s words and a hint, exit 1', async () => {
    const closed = await freePort();
    nagios({ port: String(closed) });
    const r = await site.run(['--nagios', 'setup', a()]);
    must(r, 1);
    expect(r.stdout).to.match(new RegExp(`^FAILED  nagios: a test result through send_nsca to 127\\.0\\.0\\.1:${closed} \\(.*Could not connect to host 127\\.0\\.0\\.1 on port ${closed}.*\\)$`, 'm'));
    expect(r.stdout).to.contain(`hint: is nsca running on 127.0.0.1 and reachable on port ${closed}?`);
    expect(r.stdout).not.to.match(/^CONFIRM/m);
  });

  it('status --nagios over 2 pairs: two lines from one send_nsca run; the status output is unchanged', async () => {
    // a wrapper that counts its runs, then is the real send_nsca
    const wrapper = join(site.dir, 'send_nsca');
    writeFileSync(wrapper, `#!/bin/sh\necho run >> ${join(site.dir, 'runs')}\nexec /usr/sbin/send_nsca "$@"\n`);
    chmodSync(wrapper, 0o755);
    nagios({ send_nsca: wrapper });
    const plain = await site.run(['status']);
    const r = await site.run(['--nagios', 'status']);
    must(r, 0);
    expect(r.stderr).to.equal('');
    // the lag may have ticked between the two runs: compare source, destination and state
    const cols = (out: string) => out.trim().split('\n').map((l) => l.split(/\s{2,}/).slice(0, 3));
    expect(cols(r.stdout)).to.deep.equal(cols(plain.stdout));
    const lines = await commands(2);
    expect(lines.map((c) => [c.host, c.service, c.rc])).to.deep.equal([
      [host, `zettabee ${a()}`, 0],
      [host, `zettabee ${b()}`, 0],
    ]);
    expect(readFileSync(join(site.dir, 'runs'), 'utf8').trim().split('\n')).to.have.length(1);
  });

  it('status --nagios: OK -> WARNING -> CRITICAL as the lag crosses wlag and clag', async () => {
    // the newest snapshot of a is seconds old by now; make sure of it
    await sleep(1100);
    const states: Array<[number, string]> = [];
    for (const thresholds of ['wlag=1h,clag=2h', 'wlag=1s,clag=1h', 'wlag=1s,clag=1s']) {
      bed.nsca.clear();
      pairs({ a: thresholds });
      must(await site.run(['--nagios', 'status', a()]), 0);
      const lines = await commands(1);
      expect(lines, thresholds).to.have.length(1);
      states.push([lines[0]!.rc, lines[0]!.output.replace(/ - .*/, '')]);
      expect(lines[0]!.output).to.match(/\| lag=\d+s;\d+;\d+;0/);
    }
    expect(states).to.deep.equal([
      [0, 'ZETTABEE OK'],
      [1, 'ZETTABEE WARNING'],
      [2, 'ZETTABEE CRITICAL'],
    ]);
  });

  it('a failed update --nagios sends at least WARNING with the error, and exits 1', async () => {
    // the source goes missing (zfs-fuse renames only an unmounted file system)
    await bed.run(['zfs', 'umount', `${src}/b`]);
    await renameUnmounted(bed, `${src}/b`, `${src}/b-away`);
    let r: Result;
    try {
      r = await site.run(['--nagios', 'update', b()]);
    } finally {
      await renameUnmounted(bed, `${src}/b-away`, `${src}/b`);
      await bed.run(['zfs', 'mount', `${src}/b`]).catch(() => undefined);
    }
    must(r, 1);
    const lines = await commands(1);
    expect(lines).to.have.length(1);
    expect(lines[0]!.service).to.equal(`zettabee ${b()}`);
    expect(lines[0]!.rc).to.be.oneOf([1, 2]);
    // the error zettabee printed is what the monitor shows
    const error = /^zettabee: error: update \S+: (.*)$/m.exec(r.stderr)![1]!;
    expect(lines[0]!.output).to.contain(error.slice(0, 40));
    // and the next good update clears it
    bed.nsca.clear();
    must(await site.run(['--nagios', 'update', b()]), 0);
    expect((await commands(1)).map((c) => c.rc)).to.deep.equal([0]);
  });

  it('a busy update --nagios (another run holds the lock) sends the running state and still exits 75', async () => {
    writeRandom(`${await mountpointOf(bed, `${src}/a`)}/big.bin`, 40 * MiB);
    const first = site.spawn(['update', a()]);
    let exited = false;
    void first.finally(() => (exited = true)).catch(() => undefined);
    const frozen = await freezeSend(`${src}/a`, first, () => exited);
    try {
      const r = await site.run(['--nagios', 'update', a()]);
      must(r, 75);
      expect(r.stderr).to.equal('');
      const lines = await commands(1);
      expect(lines).to.have.length(1);
      expect(lines[0]!.service).to.equal(`zettabee ${a()}`);
      expect(lines[0]!.output).to.match(/running/i);
      expect(lines[0]!.output).to.match(/runtime=\d+s/);
    } finally {
      thaw(frozen);
    }
    const done = await first;
    expect({ code: done.exitCode, stderr: String(done.stderr) }).to.deep.equal({ code: 0, stderr: '' });
  });

  it('send_nsca cannot connect (a closed port): update still exits 0, one warning line on stderr, the pair log has it', async () => {
    const closed = await freePort();
    nagios({ port: String(closed) });
    const r = await site.run(['--nagios', 'update', a()]);
    must(r, 0);
    expect(r.stdout).to.equal('');
    const err = r.stderr.trim().split('\n');
    expect(err).to.have.length(1);
    expect(err[0]).to.match(new RegExp(`^zettabee: warning: update: could not send results to Nagios: .*Could not connect to host 127\\.0\\.0\\.1 on port ${closed}.*\\(exit 2\\)$`));
    expect(readFileSync(join(site.paths.log, `${fpA()}.log`), 'utf8')).to.match(
      new RegExp(`WARN \\[\\d+\\] update: could not send the result to Nagios \\(\\S+;zettabee \\S+/a\\): .*port ${closed}`),
    );
    expect(bed.nsca.readCommands()).to.deep.equal([]);
  });

  it('no server anywhere: --nagios is a configuration error and nothing runs; --nagios HOST supplies the server', async () => {
    nagios({ server: null });
    const snaps = await snapshotsOf(bed, `${src}/a`);
    const r = await site.run(['--nagios', 'update', a()]);
    must(r, 2);
    expect(r.stderr).to.match(/^zettabee: error: update \S+: --nagios: no Nagios server to send to$/m);
    expect(r.stderr).to.match(/^zettabee: hint: give one with --nagios HOST, or set server in \[nagios\] of /m);
    expect(await snapshotsOf(bed, `${src}/a`)).to.deep.equal(snaps);
    const ok = await site.run(['--nagios', bed.nsca.host, 'update', a()]);
    expect(ok).to.deep.include({ code: 0, stderr: '' });
    expect((await commands(1)).map((c) => [c.service, c.rc])).to.deep.equal([[`zettabee ${a()}`, 0]]);
  });

  it('unlock --nagios and purge --nagios send the pair\'s result when they end', async () => {
    const u = await site.run(['--nagios', 'unlock', a()]);
    expect(u).to.deep.include({ code: 0, stderr: '' });
    expect((await commands(1)).map((c) => [c.service, c.rc])).to.deep.equal([[`zettabee ${a()}`, 0]]);
    bed.nsca.clear();
    const p = await site.run(['--nagios', 'purge', '--yes', b()]);
    expect(p).to.deep.include({ code: 0, stderr: '' });
    // retired: no status file any more, which reads as never initialized
    const lines = await commands(1);
    expect(lines.map((c) => [c.service, c.rc])).to.deep.equal([[`zettabee ${b()}`, 1]]);
  });
});
