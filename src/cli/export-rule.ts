import { loadConfig } from '../config/load';
import { generateSigma } from '../format/sigma';
import { generateYaral } from '../format/yaral';
import { parseCommandArgs, UsageError } from './args';
import { type CliIO, EXIT, writeFileAtomic } from './common';

export const EXPORT_RULE_HELP = `Usage: brokerwatch export-rule --format yaral|sigma [--config FILE]... [--mode MODE] [--output FILE]

Writes the SIEM rule that matches what this agent judges, generated from the effective
configuration (the embedded default with each --config merged over it), so the Google SecOps rule
and the endpoint never drift apart. Regenerate it whenever the configuration changes.

Formats:
  yaral   a Google SecOps (Chronicle) YARA-L 2.0 rule over UDM NETWORK_CONNECTION events
  sigma   Sigma rules in the network_connection category, with Sysmon Event ID 3 field names
          (Image, Initiated, DestinationIp, DestinationHostname, DestinationPort)

Modes (default: the config's \`mode\`):
  det0002        the agent's DET0002 rules: protocolPortList ports, internalNetworks (IPv4 and
                 IPv6) excluded, brokerAllowList and appContextFilter (approved apps by path)
                 excluded, brokerReputationList always a hit, unusualProcessList flagged, the
                 timeWindow as the match window
  yaral-parity   the published rule t1071_005_pubsub_protocol_external_c2; with the default
                 config the YARA-L output is that rule exactly

Options:
  --format F      yaral or sigma (required)
  --config FILE   merge a YAML file over the embedded defaults (repeatable; later wins)
  --mode M        det0002 or yaral-parity, instead of the config's mode
  --output FILE   write the rule to FILE (whole or not at all) instead of standard output
  -h, --help      show this help

What a SIEM rule cannot express the way the agent does (a regex RE2 cannot run, a command-line
condition Sysmon Event ID 3 lacks) is printed as a warning on stderr; the rule is still written.

Examples:
  brokerwatch export-rule --format yaral --config /etc/brokerwatch/config.yaml --output pubsub.yaral
  brokerwatch export-rule --format yaral --mode yaral-parity
  brokerwatch export-rule --format sigma --output pubsub-sigma.yml

Exit codes: 0 written, 2 error (bad option or configuration).
`;

const MODES = ['det0002', 'yaral-parity'] as const;

export async function exportRuleCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    format: { type: 'string' },
    config: { type: 'string', multiple: true },
    mode: { type: 'string' },
    output: { type: 'string', short: 'o' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(EXPORT_RULE_HELP);
    return EXIT.ok;
  }
  if (values.format !== 'yaral' && values.format !== 'sigma') {
    throw new UsageError(values.format === undefined ? '--format is required: yaral or sigma' : `unknown --format ${JSON.stringify(values.format)}: yaral or sigma`);
  }
  const mode = values.mode;
  if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`unknown --mode ${JSON.stringify(mode)}: ${MODES.join(' or ')}`);
  }
  const { config } = loadConfig(values.config ?? []);
  const chosen = (mode ?? config.mode) as (typeof MODES)[number];
  const rule = values.format === 'yaral' ? generateYaral(config, chosen) : generateSigma(config, chosen);
  for (const w of rule.warnings) io.stderr(`brokerwatch: warning: ${w}\n`);
  if (values.output) {
    writeFileAtomic(values.output, rule.text);
    io.stderr(`${values.format} rule (${chosen}) written to ${values.output}\n`);
  } else {
    io.stdout(rule.text);
  }
  return EXIT.ok;
}
