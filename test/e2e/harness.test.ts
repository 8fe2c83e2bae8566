/**
 * Proves the e2e test bed: real zfs-fuse pools with send|recv between them,
 * real ssh to 127.0.0.1 with the bed's keys, real nsca, sshd stop/start.
 */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getBed, type Bed } from '../harness/bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('e2e test bed', function () {
  this.timeout(120_000);
  let bed: Bed;
  let src: string;
  let dst: string;

  before(async function () {
    this.timeout(20 * 60_000); // first run on a bare machine installs packages
    bed = await getBed();
    src = await bed.createPool('src');
    dst = await bed.createPool('dst');
  });

  it('shares one bed between concurrent callers', async function () {
    const [a, b] = await Promise.all([getBed(), getBed()]);
    assert.equal(a, bed);
    assert.equal(b, bed);
    assert.match(bed.prefix, /^zbt[a-z0-9]{6}$/);
    assert.match(bed.workdir, /^\/tmp\/zbtest-/);
    assert.equal(src, `${bed.prefix}src`);
    assert.equal(dst, `${bed.prefix}dst`);
    // e2e files that sort before this one (check.test.ts) share the bed and may have made pools already
    assert.deepEqual(bed.pools.slice(-2), [src, dst]);
    const pools = await bed.run(['zpool', 'list', '-H', '-o', 'name']);
    assert.ok(pools.split('\n').includes(src) && pools.split('\n').includes(dst), pools);
  });

  it('replicates a snapshot between two real pools with zfs send | zfs recv', async function () {
    await bed.run(['zfs', 'create', `${src}/data`]);
    const mnt = (await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', `${src}/data`])).trim();
    assert.equal(mnt, path.join(bed.workdir, 'mnt', src, 'data'));
    const content = `hello from zettabee ${Date.now()}\n`;
    fs.writeFileSync(path.join(mnt, 'hello.txt'), content);
    await bed.run(['zfs', 'snapshot', `${src}/data@s1`]);

    const send = execa('zfs', ['send', `${src}/data@s1`], { timeout: 60_000, buffer: false });
    const recv = execa('zfs', ['recv', `${dst}/data`], { timeout: 60_000, stdin: 'pipe' });
    send.stdout!.pipe(recv.stdin!);
    await Promise.all([send, recv]);

    const snaps = await bed.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-r', dst]);
    assert.ok(snaps.split('\n').includes(`${dst}/data@s1`), snaps);
    const dstMnt = (await bed.run(['zfs', 'get', '-H', '-o', 'value', 'mountpoint', `${dst}/data`])).trim();
    assert.equal(fs.readFileSync(path.join(dstMnt, 'hello.txt'), 'utf8'), content);
  });

  it('runs zfs list over real ssh to 127.0.0.1 with the bed keys and known_hosts', async function () {
    const out = await bed.run(['ssh', ...bed.ssh.args(), `${bed.ssh.user}@${bed.ssh.host}`, 'zfs', 'list', '-H', '-o', 'name', '-r', src]);
    assert.ok(out.split('\n').includes(src), out);
    assert.match(
      fs.readFileSync(bed.ssh.knownHosts, 'utf8'),
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${bed.ssh.port} (ssh-ed25519 \\S+)\\n\\[::1\\]:${bed.ssh.port} \\1\\n$`),
    );
  });

  it('delivers a passive check result through send_nsca to the nsca daemon', async function () {
    bed.nsca.clear();
    const out = await bed.run(
      ['send_nsca', '-H', bed.nsca.host, '-p', String(bed.nsca.port), '-to', '10', '-c', bed.nsca.sendConfig],
      { input: 'h\tsvc\t1\tWARNING - x | lag=5s;1;2\n' },
    );
    assert.match(out, /1 data packet\(s\) sent/);
    const want = 'PROCESS_SERVICE_CHECK_RESULT;h;svc;1;WARNING - x | lag=5s;1;2';
    const deadline = Date.now() + 10_000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = bed.nsca.readCommands();
      if (lines.some((l) => l.endsWith(want))) break;
      await sleep(100);
    }
    assert.match(
      lines.find((l) => l.endsWith(want)) ?? '',
      /^\[\d+\] PROCESS_SERVICE_CHECK_RESULT;h;svc;1;WARNING - x \| lag=5s;1;2$/,
      `command file lines: ${JSON.stringify(lines)}`,
    );
  });

  it('can stop sshd (ssh then fails) and start it again on the same port', async function () {
    const sshTrue = (): Promise<{ exitCode?: number | undefined; stderr: string }> =>
      execa('ssh', [...bed.ssh.args(), `${bed.ssh.user}@${bed.ssh.host}`, 'true'], {
        reject: false,
        timeout: 30_000,
        stdin: 'ignore',
      }).then((r) => ({ exitCode: r.exitCode, stderr: String(r.stderr) }));

    const port = bed.ssh.port;
    await bed.ssh.stop();
    assert.equal(bed.ssh.running, false);
    const down = await sshTrue();
    assert.equal(down.exitCode, 255, down.stderr);
    assert.match(down.stderr, /Connection refused|connect to host/i);

    await bed.ssh.start();
    assert.equal(bed.ssh.port, port);
    assert.equal(bed.ssh.running, true);
    const up = await sshTrue();
    assert.equal(up.exitCode, 0, up.stderr);
  });
});
