/**
 * The composition root of the agent (`brokerwatch run`): the config, the logger, the sinks, the
 * daemon and its capture, the control channel and the watchdog, wired together with their life
 * cycle (start-up backoff, SIGHUP reload, SIGTERM/SIGINT stop, watchdog exit).
 */
import { ConfigError } from '../config/errors';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { version } from '../config/embedded';
import { hostFacts } from '../core/host';
import type { Logger } from '../core/logger';
import { createOcsfFormatter } from '../format/ocsf';
import { createSysmonFormatter } from '../format/sysmon';
import { createUdmFormatter } from '../format/udm';
import { createOutput, createOutputs, type Output } from '../sinks';
import { type ServiceLife, startServiceLife } from '../service/lifecycle';
import { createLogger } from '../service/log';
import { planLogging } from '../service/log-plan';
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

/** Runs the agent in the foreground until it is stopped; returns the process exit code. */
export async function runAgent(files: string[]): Promise<number> {
  const { config, notices } = loadConfig(files);
  const plan = planLogging(config.logging);
  const log = createLogger(plan);
  log.info(`brokerwatch ${version()} starting (pid ${process.pid}, mode ${config.mode}, config ${files.length ? files.join(' + ') : 'embedded default'}); ${plan.why}`);
  for (const n of notices) log.warn(n);

  // A watchdog restart loop backs off before capture starts; a stop signal ends the wait.
  const early = new AbortController();
  const abortEarly = () => early.abort();
  process.once('SIGTERM', abortEarly);
  process.once('SIGINT', abortEarly);
  await startupBackoff(config.stateDir, log, { signal: early.signal });
  process.off('SIGTERM', abortEarly);
  process.off('SIGINT', abortEarly);
  if (early.signal.aborted) return EXIT.ok;

  const handle = await startDaemon(config, log);
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

  const code = await finished;
  if (hardExit) clearTimeout(hardExit);
  process.off('SIGHUP', onHup);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  await life.close();
  // Let winston finish writing before the process exits.
  await new Promise((r) => setTimeout(r, 50));
  return watchdogCode ?? code;
}
