import { loadConfig } from '../config/load';
import { memoryLogger } from '../core/logger';
import { safeText } from '../core/text';
import { Selftest, type SelftestReport } from '../engine/selftest';
import { parseCommandArgs, UsageError } from './args';
import { type CliIO, EXIT } from './common';

export const SELFTEST_HELP = `Usage: brokerwatch selftest [--json] [--keep-going] [--config FILE]... [--mqtt-port N] [--xmpp-port N]

Proves on this host that the sensor sees what it claims: runs the three tests for T1071.005 that
the Chronicle rule's documentation lists, against listeners it starts on loopback, through the
daemon's own capture path (eBPF where it runs here, else procfs polling), with the lab profile
(loopback destinations judged, DET0002 rules):

  1. MQTT C2 publish:      mosquitto_pub to 127.0.0.1:1883, topic c2/beacon, system data as message
  2. XMPP C2 connection:   nc to 127.0.0.1:5222 with an XMPP stream stanza piped in
  3. MQTT C2 subscribe:    mosquitto_sub on c2/commands/#, long-lived (up to 10 s)

Listeners: a real mosquitto when it is installed, brokerwatch's own otherwise (always its own for
XMPP). For each test it prints the expected signal, whether it was seen, and the finding (rules,
severity, process, pid). A test whose client is not installed is skipped with the package to
install (mosquitto-clients, netcat-openbsd). Every process and listener it started is stopped at
the end, also on Ctrl-C. Run as root (capture needs it).

Options:
  --json            one JSON document instead of the text
  --keep-going      run every test even after one was missed (default: stop at the first miss)
  --config FILE     merge a YAML file over the embedded defaults (capture settings are taken from
                    it; mode, includeLoopback and sinks are set by the lab profile)
  --mqtt-port N     the MQTT listener's port (default 1883, as in the tests)
  --xmpp-port N     the XMPP listener's port (default 5222)
  --own-listeners   use brokerwatch's own MQTT listener even when mosquitto is installed
  --timeout S       seconds each test waits for its finding (default 10)
  -h, --help        show this help

Exit codes: 0 every test that ran was detected, 1 one was missed, 2 error (a port in use, no
capture, interrupted).

Examples:
  sudo brokerwatch selftest
  sudo brokerwatch selftest --json --keep-going --mqtt-port 11883 --xmpp-port 15222
`;

function port(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${name} must be a port number (1-65535), got ${JSON.stringify(value)}`);
  return n;
}

function formatReport(r: SelftestReport): string {
  const lines = [`capture: ${r.capture.source}${r.capture.fallbacks.length ? ` (${r.capture.fallbacks.map((f) => safeText(f, 200)).join('; ')})` : ''}`, `listeners: ${r.listeners.join(', ') || 'none'}`, ''];
  r.tests.forEach((t, i) => {
    lines.push(`${i + 1}. ${t.name}: ${t.status.toUpperCase()}`);
    lines.push(`   expected: ${t.expected}`);
    if (t.client) lines.push(`   client:   ${safeText(t.client.command, 200)} (pid ${t.client.pid})`);
    if (t.finding) lines.push(`   finding:  ${t.finding.severity} ${t.finding.rules.join(', ')} - ${safeText(t.finding.process, 200)} (pid ${t.finding.pid})`);
    if (t.note) lines.push(`   note:     ${t.note}`);
  });
  const ran = r.tests.filter((t) => t.status !== 'skipped');
  lines.push('', `${ran.filter((t) => t.status === 'detected').length} of ${ran.length} tests that ran were detected${r.tests.length > ran.length ? ` (${r.tests.length - ran.length} skipped)` : ''}`);
  return `${lines.join('\n')}\n`;
}

export async function selftestCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    'keep-going': { type: 'boolean' },
    config: { type: 'string', multiple: true },
    'mqtt-port': { type: 'string' },
    'xmpp-port': { type: 'string' },
    'own-listeners': { type: 'boolean' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(SELFTEST_HELP);
    return EXIT.ok;
  }
  const mqttPort = port(values['mqtt-port'], 'mqtt-port', 1883);
  const xmppPort = port(values['xmpp-port'], 'xmpp-port', 5222);
  if (mqttPort === xmppPort) throw new UsageError('--mqtt-port and --xmpp-port must differ');
  const timeout = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 600) throw new UsageError(`--timeout must be seconds between 0 and 600, got ${JSON.stringify(values.timeout)}`);
  const { config } = loadConfig(values.config ?? []);
  const logEntries: { level: string; message: string }[] = [];
  const st = new Selftest(config, {
    mqttPort, xmppPort, keepGoing: values['keep-going'] ?? false, ownListeners: values['own-listeners'] ?? false, timeoutMs: timeout * 1000,
    log: memoryLogger(logEntries),
    ...(values.json ? {} : { progress: (line: string) => io.stderr(`selftest: ${line}\n`) }),
  });
  let interrupted: NodeJS.Signals | null = null;
  let onSignal: (s: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    onSignal = (s) => {
      interrupted = s;
      reject(new Error(`interrupted by ${s}: stopped every process and listener it started`));
    };
  });
  stopped.catch(() => undefined);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await Promise.race([st.run(), stopped]);
    io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.exitCode;
  } catch (err) {
    const errors = logEntries.filter((e) => e.level === 'error').map((e) => e.message);
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `a listener port is in use (${e.message}); choose others with --mqtt-port/--xmpp-port` : e.message;
    if (values.json) io.stdout(`${JSON.stringify({ error: why, interrupted, log: errors })}\n`);
    io.stderr(`brokerwatch selftest: ${why}\n`);
    return EXIT.error;
  } finally {
    await st.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
