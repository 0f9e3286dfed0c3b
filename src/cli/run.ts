import { runAgent } from '../engine/agent';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT } from './common';

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

export async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(RUN_HELP);
    return EXIT.ok;
  }
  return runAgent(values.config ?? []);
}
