/**
 * The composition root of the agent (`brokerwatch run`): the config, the logger, the sinks, the
 * daemon and its capture, the control channel and the watchdog, wired together with their life
 * cycle (start-up backoff, SIGHUP reload, SIGTERM/SIGINT stop, watchdog exit).
 */
import { ConfigError } from '../config/errors';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import type { SinkState } from '../control/status';
import { version } from '../config/embedded';
import type { SpoolStatus } from '../control/status';
import { hostFacts } from '../core/host';
import type { Logger } from '../core/logger';
import { createOcsfFormatter } from '../format/ocsf';
import { createSysmonFormatter } from '../format/sysmon';
import { createUdmFormatter } from '../format/udm';
import { createOutput, createOutputs, type Output } from '../sinks';
import { type ServiceLife, startServiceLife } from '../service/lifecycle';
import { createLogger } from '../service/log';
import { planLogging } from '../service/log-plan';
import { type ScmService, startScmDispatcher } from '../service/win32-scm';
import { startupBackoff } from '../service/restart-backoff';
import { Capture } from './capture';
import { Daemon } from './daemon';

const EXIT = { ok: 0, error: 2 } as const;

export interface RunHandle {
  daemon: Daemon;
  /** The outputs written to now (a reload may replace them). */
  outputs(): readonly Output[];
  /** The capture in use (set once the daemon started it). */
  capture(): Capture | null;
  stop(): Promise<void>;
}

/** Starts the daemon for a loaded config; returns once capture runs. Used by `run` and tests. */
export async function startDaemon(config: Config, log: Logger, given?: Output[]): Promise<RunHandle> {
  const host = await hostFacts();
  const outputs = given ?? (await createOutputs(config.sinks, { log, stateDir: config.stateDir, hostname: host.hostname }));
  const daemon = new Daemon({
    host,
    log,
    formatters: { udm: createUdmFormatter(host, { version: version() }), ocsf: createOcsfFormatter(host, { version: version() }), sysmon: createSysmonFormatter(host) },
    outputs,
    // Outputs given by a caller are its own: a reload leaves them (the reply says sinks need a restart).
    ...(given ? {} : { openOutput: (spec, index, stateDir) => createOutput(spec, index, { log, stateDir, hostname: host.hostname }) }),
    createSource: async (cfg, rules) => new Capture(cfg, rules, log),
  });
  await daemon.start(config);
  const capture = () => (daemon.currentSource instanceof Capture ? daemon.currentSource : null);
  return { daemon, outputs: () => daemon.currentOutputs, capture, stop: () => daemon.stop() };
}

/** Records waiting in spools, for `status` (null without a spooled sink). */
function spooledCount(outputs: readonly Output[]): number | null {
  const spools = outputs.flatMap((o) => (o.spool ? [o.spool] : []));
  return spools.length === 0 ? null : spools.reduce((n, s) => n + s.stats().pending, 0);
}

/** The spools' pending records and losses, summed, for `status` (null without a spooled sink). */
function spoolStatus(outputs: readonly Output[]): SpoolStatus | null {
  const stats = outputs.flatMap((o) => (o.spool ? [o.spool.stats()] : []));
  if (stats.length === 0) return null;
  const sum = (f: (x: (typeof stats)[number]) => number) => stats.reduce((n, x) => n + f(x), 0);
  return {
    pending: sum((x) => x.pending), pendingFindings: sum((x) => x.pendingFindings), droppedTelemetry: sum((x) => x.dropped),
    droppedFindings: sum((x) => x.droppedFindings), diskFullEpisodes: sum((x) => x.diskFullEpisodes),
  };
}

/** Each spooled sink's delivery state, for `status`: an unreachable collector must show there. */
export function sinkStates(outputs: readonly Output[]): SinkState[] {
  return outputs.flatMap((o) => {
    if (!o.spool) return [];
    const s = o.spool.stats();
    return [{
      name: o.spool.name, delivered: s.delivered, lastDeliveryAt: s.lastDeliveryAt, pending: s.pending, pendingFindings: s.pendingFindings,
      deliveryFailures: s.deliveryFailures, lastError: s.lastError, dropped: s.dropped, droppedFindings: s.droppedFindings, diskFullEpisodes: s.diskFullEpisodes,
    }];
  });
}

/**
 * Runs the agent in the foreground until it is stopped; returns the process exit code.
 * `service`: started by the Windows Service Control Manager (run --service): the dispatcher starts
 * first, so the SCM hears from us within its start timeout; RUNNING, STOP and STOPPED follow.
 */
export async function runAgent(files: string[], options: { service?: boolean } = {}): Promise<number> {
  let stopRequested: string | null = null;
  let requestStop = (why: string) => { stopRequested = why; };
  const scm = options.service ? startScmDispatcher({ stop: (why) => requestStop(why), ended: (error) => { if (error) requestStop(error); } }) : null;
  try {
    return await agentLife(files, scm, (f) => { requestStop = f; }, () => stopRequested);
  } catch (err) {
    scm?.stopped(EXIT.error); // the SCM hears that the start failed; the dispatcher returns
    throw err;
  }
}

async function agentLife(files: string[], scm: ScmService | null, onStopRequest: (f: (why: string) => void) => void, earlyStop: () => string | null): Promise<number> {
  const { config, notices } = loadConfig(files);
  const plan = planLogging(config.logging, scm ? { env: { ...process.env, BROKERWATCH_SERVICE: 'scm' } } : {});
  const log = createLogger(plan);
  // Signals that arrive while the agent starts are held, not fatal: a SIGHUP (a log rotation, a
  // config push) reloads once capture runs, and a stop signal ends the start-up backoff at once or
  // stops the agent as soon as it has started. Installed before the first log line says "starting".
  const early = new AbortController();
  let hupDuringStart = false;
  const abortEarly = () => early.abort();
  const hupEarly = () => { hupDuringStart = true; };
  const dropEarly = () => {
    process.off('SIGTERM', abortEarly);
    process.off('SIGINT', abortEarly);
    process.off('SIGHUP', hupEarly);
  };
  process.on('SIGTERM', abortEarly);
  process.on('SIGINT', abortEarly);
  process.on('SIGHUP', hupEarly);
  log.info(`brokerwatch ${version()} starting (pid ${process.pid}, mode ${config.mode}, config ${files.length ? files.join(' + ') : 'embedded default'}); ${plan.why}`);
  for (const n of notices) log.warn(n);

  // A watchdog restart loop backs off before capture starts; a stop signal ends the wait.
  let handle: RunHandle;
  try {
    await startupBackoff(config.stateDir, log, { signal: early.signal });
    if (early.signal.aborted) {
      dropEarly();
      return EXIT.ok;
    }
    handle = await startDaemon(config, log);
  } catch (err) {
    dropEarly();
    throw err;
  }
  let life: ServiceLife | null = null;

  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<{ ok: boolean; message: string }> => {
    const result = reloading.then(async () => {
      try {
        const { config: next, notices: deprecated } = loadConfig(files);
        for (const n of deprecated) log.warn(n);
        const { notes } = await handle.daemon.reload(next);
        life?.reconfigure(next);
        const message = `configuration reloaded from ${files.length ? files.join(' + ') : 'the embedded default'}${notes.length ? `; ${notes.join('; ')}` : ''}`;
        log.info(message);
        handle.daemon.recordReload(true, message);
        return { ok: true, message };
      } catch (err) {
        const why = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
        const message = `reload refused, the previous configuration stays in force: ${why}`;
        log.error(message);
        handle.daemon.recordReload(false, message);
        return { ok: false, message };
      }
    });
    reloading = result;
    return result;
  };
  const onHup = () => { void reload(); };
  process.on('SIGHUP', onHup);
  process.off('SIGHUP', hupEarly);
  if (hupDuringStart) {
    log.info('SIGHUP arrived during start-up: reloading now that capture runs');
    void reload();
  }

  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => { finish = resolve; });
  let stopping: Promise<void> | null = null;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info(`${why}: stopping - flushing sinks`);
      try {
        await reloading;
        await handle.stop();
        const c = handle.daemon.counters;
        log.info(`stopped: ${c.eventsSeen} events seen, ${c.findings} findings, ${c.recordsSent} records sent, ${c.eventsDropped} dropped`);
        finish(EXIT.ok);
      } catch (err) {
        log.error(`stop failed: ${(err as Error).message}`);
        finish(EXIT.error);
      }
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => { void stop(signal); };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  dropEarly();
  if (early.signal.aborted) void stop('stop signal during start-up');

  let watchdogCode: number | null = null;
  let hardExit: NodeJS.Timeout | null = null;
  try {
    life = await startServiceLife({
      config,
      configFiles: files,
      log,
      daemon: handle.daemon,
      version: version(),
      capture: () => handle.capture()?.status ?? { active: 'none', fallbacks: [] },
      spooled: () => spooledCount(handle.outputs()),
      spool: () => spoolStatus(handle.outputs()),
      sinks: () => sinkStates(handle.outputs()),
      reload,
      stop: () => stop('stop requested on the control socket'),
      exit: (code) => {
        watchdogCode = code;
        // A bounded flush: a daemon over its limits may not manage a clean one.
        hardExit = setTimeout(() => process.exit(code), 5000);
        void stop('watchdog').catch(() => undefined);
      },
    });
  } catch (err) {
    await stop('control socket unavailable').catch(() => undefined);
    throw err;
  }

  scm?.running();
  onStopRequest((why) => { void stop(why); });
  const pendingStop = earlyStop();
  if (pendingStop !== null) void stop(pendingStop);
  const code = await finished;
  if (hardExit) clearTimeout(hardExit);
  process.off('SIGHUP', onHup);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  await life.close();
  // Let winston finish writing before the process exits.
  await new Promise((r) => setTimeout(r, 50));
  scm?.stopped(watchdogCode ?? code);
  return watchdogCode ?? code;
}
