import { ConfigError } from '../config/errors';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { hostFacts } from '../core/host';
import { createOcsfFormatter } from '../format/ocsf';
import { createOutputs, type Output } from '../sinks';
import { Capture } from '../service/capture';
import { type ScmService, startScmDispatcher } from '../service/win32-scm';
import { Daemon } from '../service/daemon';
import { type ServiceLife, startServiceLife } from '../service/lifecycle';
import { createLogger, type Logger } from '../service/log';
import { planLogging } from '../service/log-plan';
import { startupBackoff } from '../service/restart-backoff';
import { createUdmFormatter } from '../format/udm';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT, version } from './common';

export const RUN_HELP = `Usage: brokerwatch run [--config FILE]...

Runs the agent in the foreground until SIGTERM or SIGINT (then it flushes its sinks and exits 0).
It captures every outbound connection to a publish/subscribe broker port - with eBPF where it can,
else by polling /proc - judges each one with the same rules as \`scan\`, correlates them over
timeWindow (the YARA-L per-host aggregate) and finds beaconing, and sends every observed
connection and every finding to the configured sinks (default: UDM JSON lines on stdout).

Signals:
  SIGHUP            reload the configuration; a bad new config is refused and the old one stays
  SIGTERM, SIGINT   stop: analyze what is queued, flush and close the sinks, exit 0

Options:
  --config FILE     merge a YAML file over the embedded defaults (repeatable; later wins)
  --service         Windows: run as the brokerwatch service (speaks to the Service Control
                    Manager; \`brokerwatch install\` registers it with this flag)
  -h, --help        show this help

The agent's own log goes to stderr (and logging.file). Run as root: eBPF and attributing other
users' sockets need it. Example:
  sudo brokerwatch run --config /etc/brokerwatch/config.yaml
`;

export interface RunHandle {
  daemon: Daemon;
  outputs: Output[];
  /** The capture in use (set once the daemon started it). */
  capture(): Capture | null;
  stop(): Promise<void>;
}

/** Starts the daemon for a loaded config; returns once capture runs. Used by `run` and tests. */
export async function startDaemon(config: Config, log: Logger, given?: Output[]): Promise<RunHandle> {
  const host = await hostFacts();
  const outputs = given ?? (await createOutputs(config.sinks, { log, stateDir: config.stateDir, hostname: host.hostname }));
  let capture: Capture | null = null;
  const daemon = new Daemon({
    host,
    log,
    formatters: { udm: createUdmFormatter(host, { version: version() }), ocsf: createOcsfFormatter(host, { version: version() }) },
    outputs,
    createSource: async (cfg, rules) => {
      capture = new Capture(cfg, rules, log);
      return capture;
    },
  });
  await daemon.start(config);
  return { daemon, outputs, capture: () => capture, stop: () => daemon.stop() };
}

/** Records waiting in spools, for `status` (null without a spooled sink). */
function spooledCount(outputs: readonly Output[]): number | null {
  const spools = outputs.flatMap((o) => (o.spool ? [o.spool] : []));
  return spools.length === 0 ? null : spools.reduce((n, s) => n + s.stats().pending, 0);
}

export async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string', multiple: true },
    service: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(RUN_HELP);
    return EXIT.ok;
  }
  // Windows service: the dispatcher starts first, so the SCM hears from us within its start timeout.
  let stopRequested: string | null = null;
  let requestStop = (why: string) => { stopRequested = why; };
  const scm = values.service ? startScmDispatcher({ stop: (why) => requestStop(why), ended: (error) => { if (error) requestStop(error); } }) : null;
  try {
    return await runAgent(values, io, scm, (f) => { requestStop = f; }, () => stopRequested);
  } catch (err) {
    scm?.stopped(EXIT.error); // the SCM hears that the start failed; the dispatcher returns
    throw err;
  }
}

async function runAgent(values: { config?: string[] | undefined; service?: boolean | undefined }, io: CliIO, scm: ScmService | null, onStopRequest: (f: (why: string) => void) => void, earlyStop: () => string | null): Promise<number> {
  const files = values.config ?? [];
  const { config } = loadConfig(files);
  const plan = planLogging(config.logging, values.service ? { env: { ...process.env, BROKERWATCH_SERVICE: 'scm' } } : {});
  const log = createLogger(plan);
  log.info(`brokerwatch ${version()} starting (pid ${process.pid}, mode ${config.mode}, config ${files.length ? files.join(' + ') : 'embedded default'}); ${plan.why}`);

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
        const next = loadConfig(files).config;
        await handle.daemon.reload(next);
        life?.reconfigure(next);
        const message = `configuration reloaded from ${files.length ? files.join(' + ') : 'the embedded default'}`;
        log.info(message);
        return { ok: true, message };
      } catch (err) {
        const why = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
        log.error(`reload refused, the previous configuration stays in force: ${why}`);
        return { ok: false, message: `reload refused, the previous configuration stays in force: ${why}` };
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
      spooled: () => spooledCount(handle.outputs),
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
