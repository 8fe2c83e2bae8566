// zettabee daemon: one long-running process that updates every pair of the
// pairs file every `interval`, `jobs` pairs at a time, replicationd-style.
//
// It runs the very engine a cron `update` runs (updatePair: the pair lock,
// the status record, the log, the Prometheus textfile), so a cron run and
// the daemon never work on a pair at once: a pair whose lock is held is busy
// and tried again an interval later. What it saves over cron is the fixed
// cost of every run: node and its modules load once, ssh master connections
// stay open across cycles (and are reopened when they die), capability
// probes are cached (redone after a failed run and every few hours).
//
// Stopping: SIGTERM, SIGINT, the kill file (<pairs file>.kill) or `zettabee
// stop` end the loop: no new run starts, the running ones get `grace` to
// finish, then they are aborted (each removes its unsent snapshot and
// releases its lock, as a cron run does on SIGTERM); a second signal aborts
// at once. SIGHUP reads the pairs and settings files again; when either is
// broken, the mistakes are logged and the old configuration stays. SIGUSR1
// makes every pair due at once.
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Context, GlobalArgs, Io } from '../commands/context.js';
import { reporterFor } from '../commands/context.js';
import { formatError } from '../commands/report.js';
import { DEFAULT_INTERVAL } from '../config/keys.js';
import { DEFAULT_REPORT_INTERVAL } from '../config/settings.js';
import type { Pair } from '../config/pairs.js';
import { ActionError, BusyError, ConfigError } from '../errors.js';
import { Hosts } from '../exec/hosts.js';
import type { SdNotify } from '../exec/sdnotify.js';
import { Spares, useSpares } from '../exec/spawn.js';
import type { Reporter } from '../monitor/report.js';
import { liveDaemon, removeDaemonFiles, writePidFile, writeSchedule } from '../state/daemon.js';
import { PairLogs } from '../state/log.js';
import { formatDuration } from '../config/duration.js';
import type { EngineDeps } from './pair-run.js';
import type { WarmSlot, WarmState } from './replicate.js';
import { afterRun, duePairs, firstTimes, untilNext, type PairTimes, type RunResult } from './schedule.js';

/** how long a capability probe is trusted in the daemon */
export const PROBE_MAX_AGE_MS = 4 * 3600 * 1000;
/** the longest the loop sleeps: how soon it sees the kill file */
const TICK_MS = 1000;
/** how long aborted runs get to clean up before the daemon gives up on them */
const ABORT_WAIT_MS = 60_000;
/** spare processes per job: an update's first local processes (its snapshot, the listing beside it, the send and its next stage) start from them */
const SPARES_PER_JOB = 4;
/** at most this many spares wait (each holds three pipes of the daemon's) */
const SPARES_MAX = 16;
/** a launch's schedule record waits this long: the run's start has no fsync in its way */
const SCHEDULE_DEFER_MS = 200;

export interface DaemonOptions {
  args: GlobalArgs;
  io: Io;
  pairsFile: string;
  /** reads both files; throws ConfigError on a mistake */
  load: () => Context;
  jobs: number;
  /** how long running transfers may go on after a stop was asked for */
  graceMs: number;
  notify: SdNotify;
  /** a test's shortcut: every pair's interval in ms, below the 15 s a pairs file allows */
  intervalOverrideMs?: number;
}

/** the configuration one set of runs works with; replaced by SIGHUP */
interface Generation {
  ctx: Context;
  hosts: Hosts;
  reporter: Reporter | null;
  /** runs of this generation still going */
  active: number;
  retired: boolean;
  /** what each pair's last clean update left for the next one (replicate.ts, WarmState); a reload starts afresh */
  warm: Map<string, WarmState>;
}

/** ssh masters stay up this long when idle: past the longest interval, so they last across cycles */
function persistFor(pairs: readonly Pair[], overrideMs?: number): number {
  const longest = Math.max(...pairs.map((p) => p.options.interval ?? DEFAULT_INTERVAL), overrideMs !== undefined ? overrideMs / 1000 : 0, 1);
  return Math.min(3600, Math.max(60, Math.ceil(2 * longest + 30)));
}

function sameSsh(a: Context, b: Context): boolean {
  return JSON.stringify(a.settings.ssh) === JSON.stringify(b.settings.ssh) && persistFor(a.pairs) === persistFor(b.pairs);
}

export class Daemon {
  private gen!: Generation;
  private readonly times = new Map<string, PairTimes>();
  private readonly lastStart = new Map<string, number>();
  private readonly running = new Map<string, AbortController>();
  private readonly pending = new Map<string, Pair>();
  private pendingSince = 0;
  private readonly lastReported = new Map<string, number>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly logs = new PairLogs();
  private logsFor = '';
  private stopReason: string | null = null;
  private abortNow = false;
  private reloadWanted = false;
  private flushing = false;
  private dirty = true;
  private lastWatchdog = 0;
  private lastTextfile = Date.now();
  private wakeUp: (() => void) | null = null;
  private scheduleTimer: NodeJS.Timeout | undefined;
  private spares: Spares | undefined;
  private readonly started = new Date();
  private cycles = 0;

  private readonly killFile: string;

  constructor(private readonly o: DaemonOptions) {
    this.killFile = `${resolve(o.pairsFile)}.kill`;
  }

  private say(line: string): void {
    this.o.io.err(`zettabee: daemon: ${line}`);
  }

  private intervalMs(p: Pair): number {
    return this.o.intervalOverrideMs ?? (p.options.interval ?? DEFAULT_INTERVAL) * 1000;
  }

  private wake(): void {
    this.wakeUp?.();
  }

  /** SIGTERM, SIGINT, the kill file, zettabee stop: the first asks for a stop, the second aborts at once */
  requestStop(why: string): void {
    if (this.stopReason === null) {
      this.stopReason = why;
    } else if (!this.abortNow) {
      this.abortNow = true;
      this.say(`${why} again: aborting the running transfers now`);
      for (const c of this.running.values()) c.abort(`the daemon was stopped (${why})`);
    }
    this.wake();
  }

  requestReload(): void {
    this.reloadWanted = true;
    this.wake();
  }

  /** SIGUSR1: every pair that is not running is due now (the backoff of a failing pair too) */
  requestRunNow(): void {
    const now = Date.now();
    for (const t of this.times.values()) t.next = Math.min(t.next, now);
    this.dirty = true;
    this.wake();
  }

  /** the loop; resolves when the daemon stopped cleanly */
  async run(): Promise<void> {
    const ctx = this.o.load();
    const other = liveDaemon(ctx.settings);
    if (other && other.pid !== process.pid) {
      throw new BusyError(`a daemon already runs with the lock directory ${ctx.settings.paths.lock} (pid ${other.pid})`, 'zettabee stop stops it');
    }
    const reporter = await reporterFor(this.o.args, this.o.io, ctx.settings, 'daemon');
    this.gen = { ctx, hosts: new Hosts(ctx.settings, persistFor(ctx.pairs, this.o.intervalOverrideMs)), reporter, active: 0, retired: false, warm: new Map() };
    writePidFile(ctx.settings);
    try {
      if (existsSync(this.killFile)) {
        rmSync(this.killFile, { force: true });
        this.say(`removed the kill file ${this.killFile} left from before this daemon started`);
      }
      this.openLogs();
      const now = Date.now();
      for (const p of ctx.pairs) {
        this.times.set(p.fingerprint, firstTimes(now));
        this.lastReported.set(p.fingerprint, now);
      }
      this.writeSchedule();
      this.spares = new Spares(Math.min(SPARES_MAX, SPARES_PER_JOB * this.o.jobs));
      useSpares(this.spares);
      this.spares.fill();
      this.say(`started (pid ${process.pid}): ${ctx.pairs.length} pairs of ${this.o.pairsFile}, ${this.o.jobs} at a time`);
      await this.o.notify.send('READY=1', `STATUS=${this.statusLine()}`);
      this.lastWatchdog = Date.now();
      while (this.stopReason === null) {
        await this.tick();
        if (this.stopReason !== null) break;
        await this.sleep();
      }
      await this.stop();
    } finally {
      await Promise.allSettled([...this.background]);
      clearTimeout(this.scheduleTimer);
      this.scheduleTimer = undefined;
      useSpares(undefined);
      await this.spares?.close();
      await this.gen.hosts.close();
      await this.logs.close();
      removeDaemonFiles(this.gen.ctx.settings);
    }
  }

  private statusLine(): string {
    const gen = this.gen;
    const wait = untilNext(this.times, new Set(this.running.keys()), Date.now());
    const next = wait === null ? '' : `, next in ${formatDuration(Math.ceil(wait / 1000))}`;
    return `${gen.ctx.pairs.length} pairs, ${this.running.size} running, ${this.cycles} updates done${next}`;
  }

  private sleep(): Promise<void> {
    // no job free, or the logs wait for the runs to end: nothing can start
    // before a run ends, and that wakes the loop anyway
    const canStart = this.running.size < this.o.jobs && this.logsFor === this.logsKey();
    const wait = canStart ? untilNext(this.times, new Set(this.running.keys()), Date.now()) : null;
    return this.nap(Math.min(TICK_MS, wait ?? TICK_MS));
  }

  /** wait `ms`, or less when something happens (a run ended, a signal came) */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(1, ms));
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    });
  }

  private async tick(): Promise<void> {
    if (existsSync(this.killFile)) {
      rmSync(this.killFile, { force: true });
      this.requestStop(`the kill file ${this.killFile} appeared (removed)`);
      return;
    }
    if (this.reloadWanted) await this.reload();
    const now = Date.now();
    // the log files are configured anew only between runs
    if (this.logsFor !== this.logsKey() && this.running.size === 0) this.openLogs();
    if (this.logsFor === this.logsKey()) {
      const due = duePairs(this.times, new Set(this.running.keys()), now, this.o.jobs - this.running.size);
      for (const fp of due) this.launch(fp);
      // the schedule (for status) is written a moment after a launch, not on the way to the run's snapshot
      if (due.length && this.dirty && this.scheduleTimer === undefined) {
        this.scheduleTimer = setTimeout(() => {
          this.scheduleTimer = undefined;
          if (this.dirty && this.stopReason === null) this.writeSchedule();
        }, SCHEDULE_DEFER_MS);
      }
    }
    this.queueStaleReports(now);
    this.refreshTextfile(now);
    if (this.pending.size && !this.flushing && (this.running.size === 0 || now - this.pendingSince >= this.shortestIntervalMs())) this.flush();
    if (this.dirty && this.scheduleTimer === undefined) this.writeSchedule();
    const every = this.o.notify.watchdogIntervalMs();
    if (every !== null && now - this.lastWatchdog >= every) {
      this.lastWatchdog = now;
      void this.o.notify.send('WATCHDOG=1', `STATUS=${this.statusLine()}`);
    }
  }

  private shortestIntervalMs(): number {
    return Math.min(...this.gen.ctx.pairs.map((p) => this.intervalMs(p)), DEFAULT_INTERVAL * 1000);
  }

  private logsKey(): string {
    return `${this.gen.ctx.settings.paths.log}\0${this.gen.ctx.pairs.map((p) => p.fingerprint).join(',')}`;
  }

  private openLogs(): void {
    this.logs.open(this.gen.ctx.settings, this.gen.ctx.pairs.map((p) => p.fingerprint), Boolean(this.o.args.debug));
    this.logsFor = this.logsKey();
  }

  private deps(gen: Generation, signal: AbortSignal): EngineDeps {
    const { io, args } = this.o;
    return {
      settings: gen.ctx.settings,
      allPairs: gen.ctx.pairs,
      hosts: gen.hosts,
      logs: this.logs,
      signal,
      probe: { maxAgeMs: PROBE_MAX_AGE_MS, afterFailure: true },
      note: (p, line) => {
        if (args.verbose) io.out(`update ${p.label}: ${line}`);
      },
      warn: (p, line) => io.err(`zettabee: warning: update ${p.label}: ${line}`),
    };
  }

  private launch(fp: string): void {
    const gen = this.gen;
    const pair = gen.ctx.pairs.find((p) => p.fingerprint === fp);
    if (!pair) return;
    const controller = new AbortController();
    this.running.set(fp, controller);
    gen.active++;
    const started = Date.now();
    this.lastStart.set(fp, started);
    this.dirty = true;
    const job = (async () => {
      let result: RunResult = 'ok';
      try {
        const { updatePair } = await import('./replicate.js');
        let replicated: number | undefined;
        const warm: WarmSlot = { state: gen.warm.get(fp), keep: (w) => (w ? gen.warm.set(fp, w) : gen.warm.delete(fp)) };
        const o = await updatePair(pair, { ...this.deps(gen, controller.signal), onReplicated: () => (replicated = Date.now()), warm });
        if (this.o.args.verbose) {
          const on = replicated !== undefined ? `; on the destination after ${((replicated - started) / 1000).toFixed(3)} s` : '';
          this.o.io.out(`update ${pair.label}: ok, @${o.snapshot} (${((Date.now() - started) / 1000).toFixed(3)} s${on})`);
        }
      } catch (e) {
        result = e instanceof BusyError ? 'busy' : 'failed';
        // a busy pair (a cron run or initialize holds its lock) is no error: it is tried again next interval
        if (result === 'failed') formatError(`update ${pair.label}`, e, Boolean(this.o.args.debug)).lines.forEach((l) => this.o.io.err(l));
        else if (this.o.args.verbose) this.o.io.out(`update ${pair.label}: skipped, ${(e as Error).message}`);
      }
      const ended = Date.now();
      // the spares this run used are replaced now, off the next run's path
      if (this.stopReason === null) this.spares?.refill();
      this.running.delete(fp);
      gen.active--;
      this.cycles++;
      const prev = this.times.get(fp);
      // a pair removed by a reload meanwhile is not planned again
      if (prev && this.gen.ctx.pairs.some((p) => p.fingerprint === fp)) {
        const next = afterRun(prev, result, started, ended, this.intervalMs(pair) / 1000);
        this.times.set(fp, next);
        if (result === 'failed' && next.failures > 1) this.say(`update ${pair.label} failed ${next.failures} times in a row; next attempt in ${formatDuration(Math.ceil((next.next - ended) / 1000))}`);
      }
      if (this.pending.size === 0) this.pendingSince = ended;
      this.pending.set(fp, pair);
      this.dirty = true;
      this.wake();
      // a failed run may have lost its ssh master: reopen it now, off the
      // path of the next run (a master that died between successful runs
      // is replaced by the next command, ControlMaster=auto)
      if (result === 'failed' && !controller.signal.aborted) {
        const reopened = await gen.hosts.revive(pair);
        for (const h of reopened) this.say(`the ssh connection to ${h} had closed; opened it again`);
      }
      if (gen.retired && gen.active === 0 && gen.hosts !== this.gen.hosts) await gen.hosts.close();
    })();
    this.track(job);
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((e: unknown) => this.say(`internal error: ${(e as Error).stack ?? String(e)}`)).finally(() => this.background.delete(t));
    this.background.add(t);
  }

  /** pairs whose last result went out longer ago than the monitor's report_interval: the daemon stands in for the status cron line */
  private queueStaleReports(now: number): void {
    const gen = this.gen;
    if (!gen.reporter) return;
    const s = gen.ctx.settings;
    const every = Math.min(this.o.args.nagios !== undefined ? s.nagios.report_interval : Infinity, this.o.args.icinga ? s.icinga.report_interval : Infinity) * 1000;
    for (const p of gen.ctx.pairs) {
      if (this.running.has(p.fingerprint) || this.pending.has(p.fingerprint)) continue;
      if (now - (this.lastReported.get(p.fingerprint) ?? 0) < every) continue;
      if (this.pending.size === 0) this.pendingSince = now;
      this.pending.set(p.fingerprint, p);
    }
  }

  /**
   * the Prometheus textfile every report_interval (5m by default) even when
   * no update runs (a long interval): its timestamp and the lags stay fresh,
   * as the status cron line keeps them for cron runs
   */
  private refreshTextfile(now: number): void {
    const s = this.gen.ctx.settings;
    if (!s.prometheus.textfile || now - this.lastTextfile < DEFAULT_REPORT_INTERVAL * 1000) return;
    this.lastTextfile = now;
    const pairs = this.gen.ctx.pairs;
    this.track(
      import('../monitor/prometheus.js').then(({ refreshTextfile }) => refreshTextfile(s, pairs, (line) => this.say(`warning: ${line}`))),
    );
  }

  /** the results of the runs that ended since the last flush, in one send_nsca run (and one Icinga request each) */
  private flush(): void {
    const reporter = this.gen.reporter;
    const pairs = [...this.pending.values()];
    this.pending.clear();
    if (!reporter || pairs.length === 0) return;
    this.flushing = true;
    const now = Date.now();
    for (const p of pairs) this.lastReported.set(p.fingerprint, now);
    this.track(
      reporter.report(pairs, this.logs).finally(() => {
        this.flushing = false;
        this.wake();
      }),
    );
  }

  private writeSchedule(): void {
    this.dirty = false;
    const pairs: Record<string, { next: string; running: boolean; failures: number }> = {};
    for (const p of this.gen.ctx.pairs) {
      const t = this.times.get(p.fingerprint);
      if (!t) continue;
      const running = this.running.has(p.fingerprint);
      pairs[p.fingerprint] = { next: new Date(running ? (this.lastStart.get(p.fingerprint) ?? t.next) : t.next).toISOString(), running, failures: t.failures };
    }
    try {
      writeSchedule(this.gen.ctx.settings, { started: this.started.toISOString(), pairsFile: resolve(this.o.pairsFile), pairs });
    } catch (e) {
      this.say(`cannot write the schedule for status: ${(e as Error).message}`);
    }
  }

  private async reload(): Promise<void> {
    this.reloadWanted = false;
    await this.o.notify.send('RELOADING=1');
    const keep = (e: unknown) => {
      // the files' mistakes, as a run prints them; but the daemon goes on running
      const shown = e instanceof ConfigError ? new ConfigError(e.message.replace(/; nothing was run$/, ''), e.details, e.hint) : e;
      formatError('daemon: reload', shown, Boolean(this.o.args.debug)).lines.forEach((l) => this.o.io.err(l));
      this.say('the configuration stays as it was; fix the files and send SIGHUP again');
    };
    try {
      const ctx = this.o.load();
      const old = this.gen;
      // an emptied pairs file is more likely a mistake (a truncated write) than a wish to stop replicating everything
      if (ctx.pairs.length === 0) throw new ConfigError(`${this.o.pairsFile} has no pairs`, [], 'to stop every update, stop the daemon (zettabee stop)');
      if (JSON.stringify(ctx.settings.paths) !== JSON.stringify(old.ctx.settings.paths)) {
        throw new ConfigError('[paths] changed; a running daemon keeps its paths (the locks, the pid file, the logs)', [], 'restart the daemon to use the new paths (systemctl restart zettabee)');
      }
      const reporter = await reporterFor(this.o.args, this.o.io, ctx.settings, 'daemon');
      const hosts = sameSsh(ctx, old.ctx) ? old.hosts : new Hosts(ctx.settings, persistFor(ctx.pairs, this.o.intervalOverrideMs));
      this.gen = { ctx, hosts, reporter, active: 0, retired: false, warm: new Map() };
      old.retired = true;
      if (old.active === 0 && old.hosts !== hosts) this.track(old.hosts.close());
      const now = Date.now();
      const wanted = new Set(ctx.pairs.map((p) => p.fingerprint));
      for (const fp of [...this.times.keys()]) if (!wanted.has(fp)) this.times.delete(fp);
      for (const p of ctx.pairs) {
        const t = this.times.get(p.fingerprint);
        if (!t) {
          this.times.set(p.fingerprint, firstTimes(now));
          this.lastReported.set(p.fingerprint, now);
          continue;
        }
        // a shorter interval takes effect from the last start
        const last = this.lastStart.get(p.fingerprint);
        if (last !== undefined && t.failures === 0) t.next = Math.min(t.next, last + this.intervalMs(p));
      }
      this.dirty = true;
      this.say(`reloaded ${this.o.pairsFile} and the settings: ${ctx.pairs.length} pairs`);
    } catch (e) {
      keep(e);
    }
    await this.o.notify.send('READY=1', `STATUS=${this.statusLine()}`);
  }

  private async stop(): Promise<void> {
    this.say(`stopping: ${this.stopReason}${this.running.size ? `; ${this.running.size} running updates get ${formatDuration(Math.round(this.o.graceMs / 1000))} to finish` : ''}`);
    await this.o.notify.send('STOPPING=1', `STATUS=stopping: ${this.stopReason}`);
    const deadline = Date.now() + this.o.graceMs;
    while (this.running.size && !this.abortNow && Date.now() < deadline) await this.waitRuns(deadline);
    if (this.running.size) {
      if (!this.abortNow) this.say(`aborting ${this.running.size} updates that did not finish within the grace period (each removes its unsent snapshot and releases its lock)`);
      for (const c of this.running.values()) c.abort(`the daemon was stopped (${this.stopReason})`);
      const giveUp = Date.now() + ABORT_WAIT_MS;
      while (this.running.size && Date.now() < giveUp) await this.waitRuns(giveUp);
      if (this.running.size) throw new ActionError(`${this.running.size} aborted updates did not end within ${ABORT_WAIT_MS / 1000} s; the daemon exits without them`, 'their locks may be left: zettabee status shows them, zettabee unlock removes them');
    }
    // the last results, then the daemon's files go
    if (this.pending.size) this.flush();
    await Promise.allSettled([...this.background]);
    this.say('stopped');
  }

  private waitRuns(deadline: number): Promise<void> {
    return this.nap(Math.min(TICK_MS, deadline - Date.now()));
  }
}
