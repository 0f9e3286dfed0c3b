import { ConfigError } from '../config/errors';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { hostFacts } from '../core/host';
import { createOcsfFormatter } from '../format/ocsf';
import { createOutputs, type Output } from '../sinks';
import { Capture } from '../service/capture';
import { Daemon } from '../service/daemon';
import { createLogger, type Logger } from '../service/log';
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
  -h, --help        show this help

The agent's own log goes to stderr (and logging.file). Run as root: eBPF and attributing other
users' sockets need it. Example:
  sudo brokerwatch run --config /etc/brokerwatch/config.yaml
`;

/** Where spools live by default (the service's StateDirectory). */
const STATE_DIR = '/var/lib/brokerwatch';

export interface RunHandle {
  daemon: Daemon;
  stop(): Promise<void>;
}

/** Starts the daemon for a loaded config; returns once capture runs. Used by `run` and tests. */
export async function startDaemon(config: Config, log: Logger, outputs?: Output[]): Promise<RunHandle> {
  const host = await hostFacts();
  const daemon = new Daemon({
    host,
    log,
    formatters: { udm: createUdmFormatter(host, { version: version() }), ocsf: createOcsfFormatter(host, { version: version() }) },
    outputs: outputs ?? (await createOutputs(config.sinks, { log, stateDir: STATE_DIR, hostname: host.hostname })),
    createSource: async (cfg, rules) => new Capture(cfg, rules, log),
  });
  await daemon.start(config);
  return { daemon, stop: () => daemon.stop() };
}

export async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(RUN_HELP);
    return EXIT.ok;
  }
  const files = values.config ?? [];
  const { config } = loadConfig(files);
  const log = createLogger({ level: config.logging.level, file: config.logging.file ?? undefined });
  log.info(`brokerwatch ${version()} starting (pid ${process.pid}, mode ${config.mode}, config ${files.length ? files.join(' + ') : 'embedded default'})`);
  const handle = await startDaemon(config, log);

  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(async () => {
      try {
        const next = loadConfig(files).config;
        await handle.daemon.reload(next);
        log.info('configuration reloaded');
      } catch (err) {
        const why = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
        log.error(`reload refused, the previous configuration stays in force: ${why}`);
      }
    });
  };
  process.on('SIGHUP', onHup);

  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping - flushing sinks`);
      reloading
        .then(() => handle.stop())
        .then(() => {
          const c = handle.daemon.counters;
          log.info(`stopped: ${c.eventsSeen} events seen, ${c.findings} findings, ${c.recordsSent} records sent, ${c.eventsDropped} dropped`);
          resolve(EXIT.ok);
        })
        .catch((err: Error) => {
          log.error(`stop failed: ${err.message}`);
          resolve(EXIT.error);
        });
    };
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
  });
  process.off('SIGHUP', onHup);
  // Let winston finish writing before the process exits.
  await new Promise((r) => setTimeout(r, 50));
  return code;
}
