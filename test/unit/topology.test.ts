// Transports as data, and the pieces under them: the stages and command
// strings each transport builds (table tests), the remote wrapper run for
// real by sh (exit markers, dying with its stdin), what mbuffer prints and
// what the monitor makes of it, the new pair keys, and the pipeline runner's
// chains, readiness gate, monitors and stop by EOF, against real processes.
import { expect } from 'chai';
import { execa } from 'execa';
import { readFileSync, rmSync } from 'node:fs';
import { formatSize, parseOption, parseSize, optionConsistencyProblems } from '../../src/config/keys.js';
import { parsePairs, formatProblem, type Pair } from '../../src/config/pairs.js';
import { LocalHost, SshHost, type Host } from '../../src/exec/host.js';
import { quoteArgv } from '../../src/exec/quote.js';
import { compressArgv, decompressArgv, toolProbeArgv } from '../../src/transport/compress.js';
import { bufferArgv, connectArgv, listenArgv, MbufferMonitor, statusBytes, summaryBytes } from '../../src/transport/mbuffer.js';
import { DIE_WITH_US } from '../../src/transport/meter.js';
import { PipelineError, runPipeline, type Stage, type StageMonitor } from '../../src/transport/pipeline.js';
import { ExitMarkers, remotePipelineArgv, WRAPPER, WRAPPER_ALONE } from '../../src/transport/remote.js';
import { bufferSettings, mbufferAddresses, streamPipeline, LISTEN_TIMEOUT_MS } from '../../src/transport/topology.js';

const local = new LocalHost();
const remote = (name: string) => new SshHost({ host: name }, { connectTimeout: 10, options: [] });
const SEND = ['zfs', 'send', '-i', 'tank/a@1', 'tank/a@2'];
const RECV = ['zfs', 'receive', 'backup/a'];

function pair(line: string, defaults = {}): Pair {
  const r = parsePairs(line, 'test.cfg', defaults);
  expect(r.problems.map(formatProblem)).to.deep.equal([]);
  return r.pairs[0]!;
}

function hostsOf(p: Pair): [Host, Host] {
  return [p.source.local ? local : remote(p.source.host), p.destination.local ? local : remote(p.destination.host)];
}

/** the words a remote side's `sh -c` string runs, one argv per process, without the wrapper */
function remoteParts(argv: readonly string[]): string[][] {
  expect(argv.slice(0, 2)).to.deep.equal(['sh', '-c']);
  // one process that does not watch: the session's sh runs the wrapper itself (index 0, no watch)
  if (argv[2] === WRAPPER_ALONE) {
    expect(argv[3]).to.equal('zettabee');
    return [['0', '0', ...argv.slice(4)]];
  }
  const joined = argv[2]!;
  const parts: string[][] = [];
  // every part is quoteArgv(['sh', '-c', WRAPPER, 'zettabee', i, watch, ...argv])
  const prefix = `${quoteArgv(['sh', '-c', WRAPPER, 'zettabee'])} `;
  for (const piece of joined.split(` | ${prefix}`)) {
    const rest = piece.startsWith(prefix) ? piece.slice(prefix.length) : piece;
    parts.push(rest.split(' '));
  }
  return parts;
}

describe('transport topology', () => {
  describe('stages of each transport (table)', () => {
    const rows: Array<{
      what: string;
      line: string;
      names: string[];
      inputs: Array<string | undefined>;
      countLink?: number;
      sink?: number;
      after?: number;
      meter?: 'pv';
    }> = [
      { what: 'local', line: 'tank/a backup/a', names: ['zfs send on localhost', 'zfs receive on localhost'], inputs: ['none', 'link'], countLink: 0 },
      {
        what: 'local with pv: the processes hand the stream on (no link through this process), pv counts it',
        line: 'tank/a backup/a',
        names: ['zfs send on localhost', 'pv on localhost', 'zfs receive on localhost'],
        inputs: ['none', 'pass', 'pass'],
        meter: 'pv',
      },
      {
        what: 'local with pv and bwlimit: pv, then mbuffer',
        line: 'tank/a backup/a bwlimit=10M',
        names: ['zfs send on localhost', 'pv on localhost', 'mbuffer on localhost', 'zfs receive on localhost'],
        inputs: ['none', 'pass', 'pass', 'pass'],
        meter: 'pv',
      },
      {
        what: 'ssh push with pv available: pv only meters local transports (the ssh cipher is the bottleneck there)',
        line: 'tank/a d1:backup/a',
        names: ['zfs send on localhost', 'zfs receive on d1'],
        inputs: ['none', 'link'],
        countLink: 0,
        meter: 'pv',
      },
      {
        what: 'local with bwlimit: one mbuffer between',
        line: 'tank/a backup/a bwlimit=10M',
        names: ['zfs send on localhost', 'mbuffer on localhost', 'zfs receive on localhost'],
        inputs: ['none', 'link', 'link'],
        countLink: 0,
      },
      { what: 'ssh pull', line: 's1:tank/a backup/a', names: ['zfs send on s1', 'zfs receive on localhost'], inputs: ['hold', 'link'], countLink: 0 },
      { what: 'ssh push', line: 'tank/a d1:backup/a', names: ['zfs send on localhost', 'zfs receive on d1'], inputs: ['none', 'link'], countLink: 0 },
      {
        what: 'ssh pull, compressed and buffered: the stream is counted into the local zfs receive',
        line: 's1:tank/a backup/a compress=zstd,buffer=16M',
        names: ['zfs send | zstd | mbuffer on s1', 'mbuffer on localhost', 'zstd -d on localhost', 'zfs receive on localhost'],
        inputs: ['hold', 'link', 'link', 'link'],
        countLink: 2,
      },
      {
        what: 'ssh push, compressed, rate-limited: counted out of the local zfs send',
        line: 'tank/a d1:backup/a compress=lz4,bwlimit=50M',
        names: ['zfs send on localhost', 'lz4 on localhost', 'mbuffer on localhost', 'lz4 -d | zfs receive on d1'],
        inputs: ['none', 'link', 'link', 'link'],
        countLink: 0,
      },
      { what: 'ssh remote to remote: counted on the wire', line: 's1:tank/a d1:backup/a compress=gzip', names: ['zfs send | gzip on s1', 'gzip -d | zfs receive on d1'], inputs: ['hold', 'link'], countLink: 0 },
      {
        what: 'mbuffer local to local: the local processes hand the stream on, the mbuffers count it',
        line: 'tank/a backup/a transport=mbuffer,port=5001',
        names: ['mbuffer on localhost', 'zfs receive on localhost', 'zfs send on localhost', 'mbuffer on localhost'],
        inputs: ['none', 'pass', 'none', 'pass'],
        sink: 1,
        after: 2,
      },
      {
        what: 'mbuffer pull',
        line: 's1:tank/a backup/a transport=mbuffer,port=5001',
        names: ['mbuffer on localhost', 'zfs receive on localhost', 'zfs send | mbuffer on s1'],
        inputs: ['none', 'pass', 'hold'],
        sink: 1,
        after: 2,
      },
      {
        what: 'mbuffer push',
        line: 'tank/a d1:backup/a transport=mbuffer,port=5001',
        names: ['mbuffer | zfs receive on d1', 'zfs send on localhost', 'mbuffer on localhost'],
        inputs: ['hold', 'none', 'pass'],
        sink: 0,
        after: 1,
      },
      {
        what: 'mbuffer remote to remote, compressed: no link, the mbuffers report the bytes',
        line: 's1:tank/a d1:backup/a transport=mbuffer,port=5001,compress=zstd',
        names: ['mbuffer | zstd -d | zfs receive on d1', 'zfs send | zstd | mbuffer on s1'],
        inputs: ['hold', 'hold'],
        sink: 0,
        after: 1,
      },
    ];
    for (const row of rows) {
      it(row.what, () => {
        const p = pair(row.line);
        const [s, d] = hostsOf(p);
        const spec = streamPipeline(p, s, d, SEND, RECV, { compress: p.options.compress && p.options.compress !== 'none' ? p.options.compress : null, thisHost: 'me', meter: row.meter ?? null });
        const pv = spec.stages.find((x) => x.name.startsWith('pv '));
        if (pv) expect(pv.argv).to.deep.equal(['sh', '-c', DIE_WITH_US, 'zettabee-meter', 'pv', '-f', '-n', '-b', '-i', '1']);
        if (pv) expect(pv.fd3).to.equal('hold');
        // a local mbuffer of the mbuffer transport dies with us too; nothing else needs to
        for (const st of spec.stages) {
          const watched = st.host.local && (st === pv || (p.transport === 'mbuffer' && st.name.startsWith('mbuffer ')));
          expect(st.fd3, st.name).to.equal(watched ? 'hold' : undefined);
        }
        if (pv) expect(pv.monitor?.meters).to.equal(true);
        expect(spec.stages.map((x) => x.name)).to.deep.equal(row.names);
        expect(spec.stages.map((x) => x.input)).to.deep.equal(row.inputs);
        expect(spec.countLink).to.equal(row.countLink);
        expect(spec.sink).to.equal(row.sink);
        const gated = spec.stages.findIndex((x) => x.after);
        expect(gated < 0 ? undefined : gated).to.equal(row.after);
        if (row.after !== undefined) {
          const { confirm, ...after } = spec.stages[row.after]!.after!;
          expect(after).to.deep.equal({ stage: 0, timeoutMs: LISTEN_TIMEOUT_MS, what: `mbuffer listening on port 5001 on ${d.name}` });
          // the sender waits for the port's LISTEN state too (mbuffer's line comes just before listen())
          expect(confirm).to.be.a('function');
        }
        // every remote stage stops by EOF and carries the exit markers
        for (const st of spec.stages) {
          if (st.host.local) expect(st.stop).to.equal(undefined);
          else {
            expect(st.stop).to.equal('eof');
            expect(st.monitor).to.not.equal(undefined);
          }
        }
      });
    }
  });

  describe('argvs and command strings (table)', () => {
    const rows: Array<[string, string, string[][]]> = [
      ['ssh pull: the sending side watches its stdin', 's1:tank/a backup/a', [['0', '1', ...SEND]]],
      ['ssh push: the receiving side reads the stream and cannot watch', 'tank/a d1:backup/a', [['0', '0', ...RECV]]],
      [
        'ssh pull with buffer and bwlimit',
        's1:tank/a backup/a buffer=32M,blocksize=256k,bwlimit=50M',
        [
          ['0', '1', ...SEND],
          ['1', '0', 'mbuffer', '-q', '-v', '3', '-s', '262144', '-m', '33554432', '-r', '52428800'],
        ],
      ],
      [
        'mbuffer pull: zfs send | mbuffer -O <this host>:<port>, rate on the sender',
        's1:tank/a backup/a transport=mbuffer,port=5001,bwlimit=1M',
        [
          ['0', '1', ...SEND],
          ['1', '0', 'mbuffer', '-v', '3', '-s', '131072', '-m', '67108864', '-r', '1048576', '-W', '360', '-O', 'me:5001'],
        ],
      ],
      [
        'mbuffer push: mbuffer -I <this host>:<port> | zfs receive, watching; mbuffer -W after stall=',
        'tank/a d1:backup/a transport=mbuffer,port=5001,buffer=8M,stall=10s',
        [
          ['0', '1', 'mbuffer', '-v', '4', '-s', '131072', '-m', '8388608', '-W', '70', '-I', 'me:5001'],
          ['1', '0', ...RECV],
        ],
      ],
      [
        'mbuffer remote to remote with explicit addresses, no watchdog with stall=0',
        's1:tank/a d1:backup/a transport=mbuffer,port=6000,accept=10.0.0.1,connect=10.0.0.2,stall=0',
        [
          ['0', '1', 'mbuffer', '-v', '4', '-s', '131072', '-m', '67108864', '-I', '10.0.0.1:6000'],
          ['1', '0', ...RECV],
        ],
      ],
    ];
    for (const [what, line, wantFirstRemote] of rows) {
      it(what, () => {
        const p = pair(line);
        const [s, d] = hostsOf(p);
        const spec = streamPipeline(p, s, d, SEND, RECV, { thisHost: 'me' });
        const st = spec.stages.find((x) => !x.host.local)!;
        expect(remoteParts(st.argv)).to.deep.equal(wantFirstRemote);
        // what ssh gets: one command string, the quoted `sh -c <parts joined by ' | '>`
        const wrapped = st.host.wrap(st.argv);
        expect(wrapped.slice(-3)).to.deep.equal([st.host.name, '--', quoteArgv(st.argv)]);
      });
    }

    it('the string is built from quoteArgv only: a hostile word stays one word', () => {
      const hostile = "a'b; rm -rf / $(x) `y` | z";
      const argv = remotePipelineArgv([{ name: 'x', argv: ['echo', hostile] }, { name: 'y', argv: ['cat'] }], { watch: false });
      expect(argv[2]).to.equal(`${quoteArgv(['sh', '-c', WRAPPER, 'zettabee', '0', '0', 'echo', hostile])} | ${quoteArgv(['sh', '-c', WRAPPER, 'zettabee', '1', '0', 'cat'])}`);
      // one process that does not watch: the session's sh runs the wrapper, the words are its arguments
      expect(remotePipelineArgv([{ name: 'x', argv: ['echo', hostile] }], { watch: false })).to.deep.equal(['sh', '-c', WRAPPER_ALONE, 'zettabee', 'echo', hostile]);
    });

    it('mbuffer argvs', () => {
      const b = { memory: 64 * 1024 * 1024, blocksize: 128 * 1024, rate: 5 * 1024 * 1024 };
      expect(bufferArgv(b)).to.deep.equal(['mbuffer', '-q', '-v', '3', '-s', '131072', '-m', '67108864', '-r', '5242880']);
      expect(listenArgv(b, 'src.example.org', 5001)).to.deep.equal(['mbuffer', '-v', '4', '-s', '131072', '-m', '67108864', '-I', 'src.example.org:5001']);
      expect(connectArgv(b, 'dst.example.org', 5001)).to.deep.equal(['mbuffer', '-v', '3', '-s', '131072', '-m', '67108864', '-r', '5242880', '-O', 'dst.example.org:5001']);
      expect(listenArgv({ ...b, watchdog: 90 }, 'src', 1).slice(-4)).to.deep.equal(['-W', '90', '-I', 'src:1']);
    });

    it('compressors and the tool probe', () => {
      expect([compressArgv('zstd'), decompressArgv('zstd')]).to.deep.equal([['zstd', '-c', '-q'], ['zstd', '-d', '-c', '-q']]);
      expect([compressArgv('lz4'), decompressArgv('lz4')]).to.deep.equal([['lz4', '-c', '-q'], ['lz4', '-d', '-c', '-q']]);
      expect([compressArgv('gzip'), decompressArgv('gzip')]).to.deep.equal([['gzip', '-c'], ['gzip', '-d', '-c']]);
      expect(toolProbeArgv('zstd')).to.deep.equal(['sh', '-c', 'command -v "$1"', 'sh', 'zstd']);
    });

    it('transport=local ignores compress; buffers per transport', () => {
      const p = pair('tank/a backup/a compress=zstd');
      expect(streamPipeline(p, local, local, SEND, RECV, { compress: 'zstd' }).stages.map((s) => s.name)).to.deep.equal(['zfs send on localhost', 'zfs receive on localhost']);
      expect(bufferSettings(pair('s1:tank/a backup/a'))).to.deep.equal({ send: null, receive: null });
      expect(bufferSettings(pair('s1:tank/a backup/a bwlimit=1M'))).to.deep.equal({ send: { memory: 64 * 1024 * 1024, blocksize: 131072, rate: 1048576 }, receive: null });
      expect(bufferSettings(pair('s1:tank/a backup/a buffer=none', { buffer: 32 * 1024 * 1024 }))).to.deep.equal({ send: null, receive: null });
      expect(bufferSettings(pair('s1:tank/a backup/a transport=mbuffer,port=1,buffer=none')).receive).to.deep.equal({ memory: 64 * 1024 * 1024, blocksize: 131072, watchdog: 360 });
    });
  });

  describe('mbuffer addresses (table)', () => {
    const rows: Array<[string, string, { accept: string; connect: string }]> = [
      ['local to local', 'tank/a backup/a transport=mbuffer,port=1', { accept: '127.0.0.1', connect: '127.0.0.1' }],
      ['pull: the source as written; this machine by name', 'src.example.org:tank/a backup/a transport=mbuffer,port=1', { accept: 'src.example.org', connect: 'me' }],
      ['push: this machine by name; the destination as written', 'tank/a dst.example.org:backup/a transport=mbuffer,port=1', { accept: 'me', connect: 'dst.example.org' }],
      ['remote to remote', 's1:tank/a d1:backup/a transport=mbuffer,port=1', { accept: 's1', connect: 'd1' }],
      ['a loopback source is this machine', '127.0.0.1:tank/a backup/a transport=mbuffer,port=1', { accept: '127.0.0.1', connect: '127.0.0.1' }],
      ['a loopback destination is this machine', 'tank/a 127.0.0.1:backup/a transport=mbuffer,port=1', { accept: '127.0.0.1', connect: '127.0.0.1' }],
      ['the keys win', 's1:tank/a backup/a transport=mbuffer,port=1,accept=10.1.1.1,connect=backup.lan', { accept: '10.1.1.1', connect: 'backup.lan' }],
    ];
    for (const [what, line, want] of rows) it(what, () => expect(mbufferAddresses(pair(line), 'me')).to.deep.equal(want));
  });

  describe('pair keys', () => {
    it('sizes: powers of 1024, shown back as written', () => {
      const rows: Array<[string, number | null]> = [
        ['64M', 64 * 1024 ** 2],
        ['128k', 131072],
        ['128K', 131072],
        ['1G', 1024 ** 3],
        ['1.5M', 1572864],
        ['65536', 65536],
        ['2MiB', 2 * 1024 ** 2],
        ['10MB', 10 * 1024 ** 2],
        ['12x', null],
        ['-1M', null],
        ['', null],
      ];
      for (const [text, want] of rows) expect(parseSize(text), text).to.equal(want);
      expect([67108864, 131072, 1000, 1024 ** 3].map(formatSize)).to.deep.equal(['64M', '128k', '1000', '1G']);
    });

    it('parses the new keys and refuses bad values', () => {
      const rows: Array<[string, string, unknown]> = [
        ['buffer', '64M', 64 * 1024 ** 2],
        ['buffer', 'none', 0],
        ['blocksize', '128k', 131072],
        ['bwlimit', '50M', 50 * 1024 ** 2],
        ['bwlimit', 'none', 0],
        ['compress', 'zstd', 'zstd'],
        ['compress', 'none', 'none'],
        ['stall', '5m', 300],
        ['stall', '0', 0],
        ['accept', '10.0.0.1', '10.0.0.1'],
        ['connect', 'backup.example.org', 'backup.example.org'],
      ];
      for (const [k, v, want] of rows) expect(parseOption(k, v), `${k}=${v}`).to.deep.equal({ key: k, value: want });
      const bad: Array<[string, string, RegExp]> = [
        ['buffer', '1k', /buffer: 1k is out of range for a buffer size \(256k to 64G\)/],
        ['buffer', 'lots', /buffer: 'lots' is not a buffer size \(a size such as 64M, 128k or 1G, or none\)/],
        ['blocksize', '1', /out of range for a block size/],
        ['bwlimit', 'fast', /not a rate in bytes per second/],
        ['compress', 'xz', /compress must be none, lz4, zstd or gzip, not 'xz'/],
        ['stall', 'soon', /not a duration/],
        ['accept', '[::1]', /accept must be a host name or IPv4 address/],
        ['connect', '-oProxy', /connect must be a host name or IPv4 address/],
      ];
      for (const [k, v, re] of bad) {
        const r = parseOption(k, v);
        expect('error' in r && r.error, `${k}=${v}`).to.match(re);
      }
      expect(optionConsistencyProblems({ buffer: 256 * 1024, blocksize: 256 * 1024 })).to.deep.equal(['buffer (256k) must hold at least two blocks of blocksize (256k)']);
      expect(optionConsistencyProblems({ buffer: 0 })).to.deep.equal([]);
    });
  });

  describe('what mbuffer prints', () => {
    it('status and summary lines: bytes', () => {
      expect(statusBytes('in @ 8219 kiB/s, out @ 8219 kiB/s, 5760 kiB total, buffer   0% full')).to.equal(5760 * 1024);
      expect(statusBytes('in @  0.0 kiB/s, out @  0.0 kiB/s, 11.4 MiB total, buffer 100% full')).to.equal(Math.round(11.4 * 1024 ** 2));
      expect(statusBytes('mbuffer: warning: x')).to.equal(undefined);
      expect(summaryBytes('summary: 28.6 MiByte in  0.0sec - average of  587 MiB/s')).to.equal(Math.round(28.6 * 1024 ** 2));
      expect(summaryBytes('summary: 2929 kiByte in  2.9sec - average of 1013 kiB/s')).to.equal(2929 * 1024);
    });

    it('the monitor: readiness, failures in words, chatter dropped', () => {
      const m = new MbufferMonitor({ role: 'listen', host: 'backup1', port: 5001, accept: 'src1' });
      expect(m.meters).to.equal(true);
      expect(m.line('mbuffer: reading config file /etc/mbuffer.rc')).to.deep.equal({ keep: false });
      expect(m.line('mbuffer: listening on socket...')).to.deep.equal({ keep: false, ready: true });
      expect(m.line('in @  0.0 kiB/s, out @  0.0 kiB/s, 1.00 MiB total, buffer   0% full')).to.deep.equal({ keep: false, bytes: 1024 ** 2 });
      expect(m.line('summary: 1.00 MiByte in  0.1sec - average of 10.0 MiB/s')).to.deep.equal({ keep: false, through: true, bytes: 1024 ** 2 });
      expect(m.line('cannot receive: failed to read from stream')).to.equal(undefined);
      expect(m.line('mbuffer: error: outputThread: error writing to <stdout> at offset 0x1000: Broken pipe')).to.equal(undefined);
      const inUse = m.line('mbuffer: warning: could not bind to socket for tcp/0.0.0.0:5001: Address already in use');
      expect(inUse?.diagnosis?.message).to.equal('TCP port 5001 is already in use on backup1; mbuffer cannot listen on it');
      expect(inUse?.fatal).to.equal(undefined);
      const rejected = m.line('mbuffer: warning: rejected connection from 10.9.9.9');
      expect(rejected?.fatal).to.equal(true);
      expect(rejected?.diagnosis?.message).to.equal('the receiving mbuffer rejected a connection from 10.9.9.9 on port 5001: it accepts only src1');
      expect(rejected?.diagnosis?.hint).to.match(/set accept=10\.9\.9\.9/);
      const dial = new MbufferMonitor({ role: 'connect', host: 'src1', port: 5001 });
      expect(dial.line('mbuffer: error: unable to connect to backup1:5001')?.diagnosis?.message).to.equal('mbuffer cannot connect to backup1:5001');
      expect(new MbufferMonitor({ role: 'buffer', host: 'x' }).meters).to.equal(false);
    });

    it('exit markers: dropped from stderr; the process that failed first on its own is blamed', () => {
      const parts = [
        { name: 'zfs send', argv: ['zfs'] },
        { name: 'mbuffer', argv: ['mbuffer'] },
      ];
      const rows: Array<[string, number[][], Record<string, unknown>]> = [
        ['all fine', [[0, 0], [1, 0]], { name: 'x on h', exitCode: 0 }],
        ['the sender failed', [[0, 1], [1, 0]], { name: 'zfs send on h', exitCode: 1 }],
        ['killed -9, its writer then got SIGPIPE', [[1, 137], [0, 141]], { name: 'mbuffer on h', signal: 'SIGKILL', own: true }],
        ['only SIGPIPE', [[0, 141]], { name: 'zfs send on h', signal: 'SIGPIPE', own: false }],
        ['SIGPIPE first, then a real failure', [[0, 141], [1, 2]], { name: 'mbuffer on h', exitCode: 2 }],
        ['not installed', [[1, 127], [0, 141]], { name: 'mbuffer on h', exitCode: 127, diagnosis: 'mbuffer was not found on h' }],
      ];
      for (const [what, marks, want] of rows) {
        const m = new ExitMarkers(parts, 'h');
        for (const [i, st] of marks) expect(m.line(`@@zettabee-exit:${i}:${st}`), what).to.deep.equal({ keep: false });
        expect(m.line('')).to.deep.equal({ keep: false });
        expect(m.line('cannot send: Broken pipe')).to.equal(undefined);
        const o = { name: 'x on h', stderr: '', killedByUs: false, exitCode: 0 } as Record<string, unknown>;
        m.settle(o as never);
        expect(o, what).to.deep.include(want);
      }
    });
  });

  describe('the remote wrapper, run by sh', () => {
    const sh = async (argv: string[], input?: string) => {
      const r = await execa(argv[0]!, argv.slice(1), { reject: false, input: input ?? '' });
      return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
    };

    it('runs the parts as a pipeline and reports every status, though sh returns only the last', async () => {
      const argv = remotePipelineArgv(
        [
          { name: 'a', argv: ['sh', '-c', 'printf "hello\\n"; exit 3'] },
          { name: 'b', argv: ['tr', 'a-z', 'A-Z'] },
        ],
        { watch: false },
      );
      const r = await sh(argv);
      expect(r.stdout).to.equal('HELLO');
      expect(r.code).to.equal(0);
      expect(r.stderr.trim().split('\n').filter(Boolean).sort()).to.deep.equal(['@@zettabee-exit:0:3', '@@zettabee-exit:1:0']);
    });

    it('passes its stdin to the first part when not watching (the receiving side of ssh)', async () => {
      const r = await sh(remotePipelineArgv([{ name: 'wc', argv: ['wc', '-c'] }], { watch: false }), 'x'.repeat(1000));
      expect(r.stdout.trim()).to.equal('1000');
    });

    it('watching: the parts read nothing, and EOF on stdin kills the whole process group, stopped processes too', async () => {
      const argv = remotePipelineArgv(
        [
          { name: 'sleeper', argv: ['sh', '-c', 'cat >/dev/null; echo "$$" >&2; kill -STOP $$; sleep 30'] },
          { name: 'sleeper2', argv: ['sleep', '30'] },
        ],
        { watch: true },
      );
      // its own process group, as sshd gives each session: `kill 0` must not reach mocha
      const child = execa(argv[0]!, argv.slice(1), { detached: true, stdin: 'pipe', reject: false, buffer: true });
      // on a failed assertion the group would wait for EOF for ever, and keep mocha (and the suite) from ending
      try {
        let err = '';
        child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
        // the first part got /dev/null (its cat ended at once) and stopped itself: waited for, not a fixed time (a loaded machine is slow to start it)
        const isStopped = (pid: number) => {
          try {
            return /\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
          } catch {
            return false;
          }
        };
        let stopped = NaN;
        for (let i = 0; i < 200 && !(stopped > 1 && isStopped(stopped)); i++) {
          await new Promise((r) => setTimeout(r, 50));
          stopped = Number(/^(\d+)$/m.exec(err)?.[1]);
        }
        expect(stopped, `stderr: ${err}`).to.be.above(1);
        expect(readFileSync(`/proc/${stopped}/stat`, 'utf8')).to.match(/\) T /);
        const t0 = performance.now();
        child.stdin!.end();
        const r = await child;
        expect(performance.now() - t0).to.be.below(2000);
        expect(r.signal ?? r.exitCode).to.not.equal(0);
        // nothing of the group is left (the watcher itself ends after its grace period)
        const group = child.pid!;
        // zombies are dead already (reaped by whoever is pid 1 here, in its own time); a
        // killed process may show a moment longer as [name] on a loaded machine: polled, up to 3 s
        const leftOver = async () => {
          const left = (await execa('ps', ['-o', 'pid=,stat=,args=', '-g', String(group)], { reject: false })).stdout.trim();
          const running = left.split('\n').filter((l) => l && !/^\s*\d+\s+Z/.test(l));
          return running.filter((l) => !l.includes('zettabee-watch') && !/\bsleep 3\b/.test(l));
        };
        let running = await leftOver();
        for (let i = 0; i < 30 && running.length; i++) {
          await new Promise((res) => setTimeout(res, 100));
          running = await leftOver();
        }
        expect(running).to.deep.equal([]);
      } finally {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* ended */
        }
      }
    });
  });

  describe('the runner: chains, readiness, monitors, stopping by EOF', () => {
    const stage = (name: string, script: string, extra: Partial<Stage> = {}): Stage => ({ name, host: local, argv: ['sh', '-c', script], ...extra });
    const readyOn = (word: string, meters = false): StageMonitor => ({
      meters,
      line: (t) => (t === word ? { keep: false, ready: true } : /^total (\d+)$/.test(t) ? { keep: false, bytes: Number(t.slice(6)) } : t === 'done' ? { keep: false, through: true } : undefined),
    });

    it('starts a chain only once an earlier stage is ready, counts the chosen link', async () => {
      const dir = `/tmp/zb-topo-${process.pid}`;
      const t0 = performance.now();
      const r = await runPipeline({
        stages: [
          stage('listener', `mkdir -p ${dir}; sleep 0.3; echo READY >&2; n=0; while [ ! -e ${dir}/go ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done; head -c 1000 /dev/zero`, { monitor: readyOn('READY') }),
          stage('sink', 'cat >/dev/null'),
          stage('dialer', `touch ${dir}/go; head -c 500 /dev/zero`, { input: 'none', after: { stage: 0, timeoutMs: 5000, what: 'the listener' } }),
          stage('dialer sink', 'cat >/dev/null'),
        ],
        countLink: 2,
      }).finally(() => rmSync(dir, { recursive: true, force: true }));
      expect(r.bytes).to.equal(500);
      expect(r.stages.map((s) => s.exitCode)).to.deep.equal([0, 0, 0, 0]);
      expect(performance.now() - t0).to.be.below(2000);
    });

    it('a listener that never gets ready: a clear failure, the waiting chain never starts', async () => {
      const t0 = performance.now();
      const e = await runPipeline({
        stages: [stage('listener', 'sleep 30', { monitor: readyOn('READY') }), stage('dialer', 'true', { input: 'none', after: { stage: 0, timeoutMs: 400, what: 'the listener on port 9' } })],
      }).catch((x: unknown) => x as PipelineError);
      expect(e).to.be.instanceOf(PipelineError);
      expect((e as PipelineError).message).to.equal('listener: no sign of the listener on port 9 after 0.4 s');
      expect((e as PipelineError).result.stages[1]).to.deep.include({ notStarted: true });
      expect(performance.now() - t0).to.be.below(3000);
    });

    it('a listener that fails: the failure with its diagnosis, the dialer never starts', async () => {
      const monitor: StageMonitor = { line: (t) => (t === 'in use' ? { diagnosis: { message: 'port 9 is in use', hint: 'pick another' } } : undefined) };
      const e = (await runPipeline({
        stages: [stage('listener', 'echo "in use" >&2; exit 1', { monitor }), stage('dialer', 'true', { input: 'none', after: { stage: 0, timeoutMs: 5000, what: 'x' } })],
      }).catch((x: unknown) => x)) as PipelineError;
      expect(e.message).to.equal('listener: port 9 is in use');
      expect(e.culprit).to.deep.include({ diagnosis: 'port 9 is in use', hint: 'pick another', exitCode: 1 });
      expect(e.result.stages[1]!.notStarted).to.equal(true);
    });

    it('a fatal line stops everything at once', async () => {
      const monitor: StageMonitor = { line: (t) => (t === 'intruder' ? { fatal: true, diagnosis: { message: 'a stranger connected' } } : undefined) };
      const t0 = performance.now();
      const e = (await runPipeline({ stages: [stage('listener', 'echo intruder >&2; exec sleep 30', { monitor }), stage('other', 'sleep 30', { input: 'none' })] }).catch((x: unknown) => x)) as PipelineError;
      expect(e.message).to.equal('listener: a stranger connected');
      expect(performance.now() - t0).to.be.below(2000);
      expect(e.result.stages.every((s) => s.killedByUs)).to.equal(true);
    });

    it('without links the bytes come from the meters; a metered chain that is through does not stall', async () => {
      const r = await runPipeline(
        {
          stages: [stage('a', 'echo "total 100" >&2; sleep 0.2; echo "total 4000" >&2; echo done >&2; sleep 0.6', { monitor: readyOn('x', true) })],
        },
        { stallMs: 400 },
      );
      expect(r.bytes).to.equal(4000);
    });

    it('a metered stage that stops reporting is a stall', async () => {
      const e = (await runPipeline(
        { stages: [stage('a', 'echo "total 100" >&2; exec sleep 30', { monitor: readyOn('x', true) })] },
        { stallMs: 500 },
      ).catch((x: unknown) => x)) as PipelineError;
      expect(e.reason).to.equal('stalled');
      expect(e.result.bytes).to.equal(100);
    });

    it('a stage still there after the sink is done is a stall, though every link is drained', async () => {
      const e = (await runPipeline(
        { stages: [stage('sender', 'printf x; exec 1>&-; exec sleep 30'), stage('receiver', 'cat >/dev/null')] },
        { stallMs: 500 },
      ).catch((x: unknown) => x)) as PipelineError;
      expect(e.reason).to.equal('stalled');
      expect(e.result.stages[1]!.exitCode).to.equal(0);
    });

    it("'hold' keeps stdin open; stop 'eof' ends such a stage by closing it, before any signal", async () => {
      const t0 = performance.now();
      const e = (await runPipeline(
        {
          stages: [
            // ends by itself once its stdin closes, with a status of its own
            stage('held', 'cat >/dev/null; echo "stdin closed" >&2; exit 7', { input: 'hold', stop: 'eof' }),
            stage('failing', 'sleep 0.3; exit 5', { input: 'none' }),
          ],
        },
        { killGraceMs: 5000 },
      ).catch((x: unknown) => x)) as PipelineError;
      expect(e.culprit?.name).to.equal('failing');
      expect(e.result.stages[0]).to.deep.include({ exitCode: 7, killedByUs: true, stderr: 'stdin closed\n' });
      expect(performance.now() - t0).to.be.below(2500);
    });

    it('a stopped stage is killed all the same (SIGTERM with SIGCONT)', async () => {
      const t0 = performance.now();
      const e = (await runPipeline(
        { stages: [stage('frozen', 'kill -STOP $$; sleep 30'), stage('consumer', 'sleep 0.3; exit 4')] },
        { killGraceMs: 5000 },
      ).catch((x: unknown) => x)) as PipelineError;
      expect(e.culprit?.name).to.equal('consumer');
      expect(e.result.stages[0]!.signal).to.equal('SIGTERM');
      expect(performance.now() - t0).to.be.below(2500);
    });
  });
});
