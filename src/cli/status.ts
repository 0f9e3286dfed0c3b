import { sendControlRequest } from '../control/client';
import { formatStatus } from '../control/status';
import { safeText } from '../core/text';
import { parseCommandArgs, UsageError } from './args';
import { type CliIO, EXIT } from './common';
import { controlSocketFor, reportClientError, SOCKET_HELP } from './control-common';

export const STATUS_HELP = `Usage: brokerwatch status [--json] [--socket PATH]

Asks the running daemon (brokerwatch run, or the installed service) how it is doing, over its
control socket: pid, uptime, version, which capture source runs and why any preferred one does not
(fallbacks), what went partly wrong in capture since start (failed polls with the last error, events
lost by eBPF, warnings such as EACCES or processes that vanished mid-poll, counted by code), how
many connection events it has seen, judged and dropped, how many records it sent to its sinks or
spooled, its findings, its last error, and the outcome of the last reload.

Options:
  --json          print the daemon's status as one JSON object (pid, uptimeSeconds, version,
                  capture {source, fallbacks, pollErrors, eventsLost, lastError, warnings},
                  counters, lastError, lastReload, ...); on failure {"ok": false, "error": ...}
${SOCKET_HELP}
  --timeout SECS  give up waiting for a reply after this long (default 10)
  -h, --help      show this help

Exit codes: 0 the daemon answered, 2 no daemon listening, permission denied, or no reply.

The socket is root-only (mode 0600 in a 0700 directory), so run this as root:
  sudo brokerwatch status
  sudo brokerwatch status --json | jq .counters
  sudo brokerwatch status --json | jq '.capture.warnings'
`;

export function timeoutMs(value: string | undefined, fallbackSeconds: number): number {
  if (value === undefined) return fallbackSeconds * 1000;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout wants a number of seconds, got ${JSON.stringify(value)}`);
  return n * 1000;
}

export async function statusCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    socket: { type: 'string' },
    config: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(STATUS_HELP);
    return EXIT.ok;
  }
  const socketPath = controlSocketFor(values);
  let reply;
  try {
    reply = await sendControlRequest(socketPath, 'status', { timeoutMs: timeoutMs(values.timeout, 10) });
  } catch (err) {
    return reportClientError(err, io, values.json ?? false);
  }
  if (!reply.ok) {
    if (values.json) io.stdout(`${JSON.stringify({ ok: false, error: reply.error })}\n`);
    io.stderr(`brokerwatch: the daemon could not report its status: ${safeText(reply.error, 500)}\n`);
    return EXIT.error;
  }
  io.stdout(values.json ? `${JSON.stringify(reply.result)}\n` : formatStatus(reply.result));
  return EXIT.ok;
}
