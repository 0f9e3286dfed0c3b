import { adapterNames } from '../../platform';
import type { Resolver } from '../analyzer/addresses';
import type { HostFacts } from '../core/types';
import { scanHost } from '../engine/scan';
import { reportJson } from '../format/report';
import { reportTable } from '../format/table';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT, writeFileAtomic } from './common';

export const SCAN_HELP = `Usage: brokerwatch scan [options]

Looks once at every socket on this host, finds the outbound connections to publish/subscribe
brokers (MQTT, XMPP, AMQP, STOMP by port), names the process that owns each one, and judges it
with the DET0002 rules (or the YARA-L rule with mode: yaral-parity in the config).

Options:
  --json                 print one JSON document (connections, findings, correlations, warnings)
  --output FILE          write the report to FILE instead of stdout (same format as stdout)
  --config FILE          merge a YAML file over the embedded defaults (repeatable; later wins)
  --include-loopback     judge loopback destinations too (lab use: the Atomic Red Team tests
                         for T1071.005 connect to 127.0.0.1)
  --adapter NAME         force a socket adapter: auto (default), ${adapterNames().filter((a) => a !== 'ebpf').join(', ')}
                         (ebpf streams connects for \`brokerwatch run\`; it cannot scan)
  -h, --help             show this help

Exit codes: 0 no findings, 1 findings, 2 error (bad config, unreadable /proc, bad option).

Examples:
  sudo brokerwatch scan                       # human table
  sudo brokerwatch scan --json | jq '.findings[] | {severity, protocol, process: .process.exe}'
  brokerwatch scan --config /etc/brokerwatch/config.yaml --output /tmp/scan.json --json

Run as root: other users' sockets cannot be attributed otherwise (a warning says so).
`;

export interface ScanDeps {
  io: CliIO;
  resolver?: Resolver;
  host?: () => Promise<HostFacts>;
}

export async function scanCommand(argv: string[], deps: ScanDeps): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    output: { type: 'string' },
    config: { type: 'string', multiple: true },
    'include-loopback': { type: 'boolean' },
    adapter: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    deps.io.stdout(SCAN_HELP);
    return EXIT.ok;
  }
  const report = await scanHost({
    configFiles: values.config ?? [],
    ...(values['include-loopback'] ? { includeLoopback: true } : {}),
    ...(values.adapter ? { adapter: values.adapter } : {}),
    ...(deps.resolver ? { resolver: deps.resolver } : {}),
    ...(deps.host ? { host: deps.host } : {}),
  });
  const text = values.json ? reportJson(report) : reportTable(report);
  if (values.output) writeFileAtomic(values.output, text);
  else deps.io.stdout(text);
  return report.findings.length > 0 ? EXIT.findings : EXIT.ok;
}
