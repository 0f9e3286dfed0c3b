import fs from 'node:fs';
import { FORMAT_OPTIONS, type FormatOption } from '../../platform/replay/parse';
import { type ReplayReport, replayFiles } from '../engine/replay';
import { renderTable } from '../format/table';
import { safeText } from '../core/text';
import { parseCommandArgs, UsageError } from './args';
import { type CliIO, EXIT, writeFileAtomic } from './common';

export const REPLAY_HELP = `Usage: brokerwatch replay FILE... [options]

Runs recorded connection events through the same analysis as \`scan\` and \`run\`: the DET0002
rules (or the YARA-L rule with mode: yaral-parity), the per-host time windows (#net > 1 over
timeWindow) and beaconing, with the records' own timestamps as the clock. Each record is judged by
the analytic of the OS it was recorded on (a Windows Sysmon record by AN0002 and
unusualProcessList.windows, matched case-insensitively), whatever OS replay runs on. Inbound
connections (Sysmon Initiated=false) are counted, not judged. Files are streamed: a file of any
size needs little memory.

Inputs (--format auto, the default, tells them apart per file):
  sysmon   Sysmon Event ID 3: Windows rendered event XML (one <Event> or many), Sysmon for Linux
           syslog lines carrying the event XML, the flat JSON NXLog and Winlogbeat write, and the
           Azure Log Analytics shape whose EventData is a string
  udm      UDM JSON lines: a Google SecOps export, or brokerwatch's own file sink (format: udm)
  jsonl    brokerwatch's own JSON: \`scan --json\` documents, file-sink JSON lines (udm or ocsf)

Options:
  --format F             auto (default), sysmon, udm or jsonl
  --json                 print one JSON document (like scan --json: connections, findings, groups,
                         correlations with host and window, hosts, warnings, stats)
  --output FILE          write the report to FILE instead of stdout
  --config FILE          merge a YAML file over the embedded defaults (repeatable; later wins)
  --include-loopback     judge loopback destinations too (lab recordings of the Atomic tests)
  -h, --help             show this help

Malformed records are counted and listed with file and line number under warnings; they never stop
the replay. Exit codes: 0 no findings, 1 findings or correlations, 2 error (no such file, bad
config, bad option).

Examples:
  brokerwatch replay sysmon-export.xml
  brokerwatch replay --format sysmon winlogbeat-*.json --json | jq '.correlations'
  brokerwatch replay /var/log/brokerwatch/events.jsonl --config /etc/brokerwatch/config.yaml
`;

function replayTable(r: ReplayReport): string {
  const s = r.summary;
  const hosts = r.hosts.map((h) => `${safeText(h.host)} (${h.os}): ${h.findings} finding${h.findings === 1 ? '' : 's'}, ${h.correlations} correlation${h.correlations === 1 ? '' : 's'}`);
  return renderTable({
    headline: [
      `brokerwatch replay: ${r.inputs.length} file${r.inputs.length === 1 ? '' : 's'}, ${r.stats.events ?? 0} connection events of ${r.stats.records ?? 0} records, mode ${r.mode}`,
      `${s.findings} finding${s.findings === 1 ? '' : 's'}; ${s.judged} outbound pub/sub connections judged (${s.allowed} allowed); not judged: ${s.ignoredInternal} internal, ${s.ignoredLoopback} loopback, ${s.inbound} inbound`,
      ...(hosts.length > 0 ? ['hosts: ' + hosts.join('; ')] : []),
    ],
    findings: r.findings,
    connections: r.connections,
    correlations: r.correlations,
    warnings: r.warnings,
  });
}

export async function replayCommand(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    format: { type: 'string' },
    json: { type: 'boolean' },
    output: { type: 'string' },
    config: { type: 'string', multiple: true },
    'include-loopback': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help) {
    io.stdout(REPLAY_HELP);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('replay needs at least one FILE of recorded events');
  const format = values.format ?? 'auto';
  if (!(FORMAT_OPTIONS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${FORMAT_OPTIONS.join(', ')}, not ${JSON.stringify(format)}`);
  for (const file of positionals) {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!st.isFile() && !st.isFIFO()) throw new UsageError(`${file} is not a file`);
  }
  const report = await replayFiles({
    configFiles: values.config ?? [],
    inputs: positionals,
    format: format as FormatOption,
    ...(values['include-loopback'] ? { includeLoopback: true } : {}),
  });
  const text = values.json ? `${JSON.stringify(report, null, 2)}\n` : replayTable(report);
  if (values.output) writeFileAtomic(values.output, text);
  else io.stdout(text);
  return report.findings.length > 0 || report.correlations.length > 0 ? EXIT.findings : EXIT.ok;
}
