// The least a Node program can do for a safe incremental update, as a
// yardstick for figures 3 and 4: no dependencies, no config, no lock, no
// status file, no log. It lists both sides (in parallel) to find the newest
// common snapshot by guid, takes a snapshot, pipes `zfs send -i` into
// `zfs receive` fd to fd (no byte passes through Node), checks the guid on
// the destination and drops the old base on both sides.
//   node dist/bench/floor.js SRC_DATASET DST_DATASET [SSH_OPTION... USER@HOST]
// With ssh words the destination is remote: one master connection (a
// private ControlPath), the listing in the session that opens it, and the
// receive, the guid check and the old base's destroy in a second session.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function wait(c: ChildProcess): Promise<number> {
  return new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.on('exit', (code) => r(code ?? -1))));
}

function run(argv: string[], stdin: 'ignore' | NodeJS.ReadableStream = 'ignore'): Promise<Out> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: [stdin as 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (d: Buffer) => (stdout += d));
    c.stderr!.on('data', (d: Buffer) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

const LIST = ['zfs', 'get', '-Hp', '-d', '1', '-o', 'name,property,value', 'guid,createtxg'];

/** snapshots oldest first (by createtxg) */
function parseList(out: string): Array<{ name: string; guid: string; txg: bigint }> {
  const m = new Map<string, { name: string; guid: string; txg: bigint }>();
  for (const line of out.split('\n')) {
    const [name, prop, value] = line.split('\t');
    if (!name || !name.includes('@')) continue;
    const e = m.get(name) ?? { name: name.slice(name.indexOf('@') + 1), guid: '', txg: 0n };
    if (prop === 'guid') e.guid = value!;
    if (prop === 'createtxg') e.txg = BigInt(value!);
    m.set(name, e);
  }
  return [...m.values()].sort((a, b) => (a.txg < b.txg ? -1 : a.txg > b.txg ? 1 : 0));
}

async function main(): Promise<void> {
  const [src, dst, ...sshWords] = process.argv.slice(2);
  if (!src || !dst) throw new Error('usage: floor.js SRC DST [SSH_OPTION... USER@HOST]');
  const control = sshWords.length ? mkdtempSync(join(tmpdir(), 'floor-')) : undefined;
  const ssh = control
    ? ['ssh', '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(control, '%C')}`, '-o', 'ControlPersist=10', ...sshWords]
    : undefined;
  // dataset names here are plain words: no quoting needed for the remote shell
  const onDst = (argv: string[]): string[] => (ssh ? [...ssh, argv.join(' ')] : argv);
  try {
    const [s, d] = await Promise.all([must([...LIST, src]), must(onDst([...LIST, dst]))]).then(([a, b]) => [parseList(a), parseList(b)]);
    const dguids = new Set(d!.map((x) => x.guid));
    const base = [...s!].reverse().find((x) => dguids.has(x.guid));
    if (!base) throw new Error('no common snapshot');
    const name = `floor.${Date.now()}`;
    await must(['zfs', 'snapshot', `${src}@${name}`]);
    const guid = (await must(['zfs', 'get', '-H', '-p', '-o', 'value', 'guid', `${src}@${name}`])).trim();
    const send = spawn('zfs', ['send', '-i', `${src}@${base.name}`, `${src}@${name}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    // receive, check the guid, and only then drop the old base: one command (one session over ssh)
    const script = `zfs receive ${dst} && g=$(zfs get -H -p -o value guid ${dst}@${name}) && [ "$g" = ${guid} ] && zfs destroy ${dst}@${base.name}`;
    const recv = await run(ssh ? [...ssh, script] : ['sh', '-c', script], send.stdout!);
    const sent = await wait(send);
    if (sent !== 0 || recv.code !== 0) throw new Error(`send ${sent}, receive/verify ${recv.code}: ${recv.stderr.trim()}`);
    await must(['zfs', 'destroy', `${src}@${base.name}`]);
  } finally {
    if (ssh && control) {
      await run([...ssh.slice(0, -1), '-O', 'exit', ssh.at(-1)!]);
      rmSync(control, { recursive: true, force: true });
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`floor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
