import { sendControlRequest, waitUntilGone } from '../control/client';
import { safeText } from '../core/text';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT } from './common';
import { controlSocketFor, reportClientError, SOCKET_HELP } from './control-common';
import { timeoutMs } from './status';

export const STOP_HELP = `Usage: brokerwatch stop [--socket PATH]

Stops the running daemon cleanly: capture ends, queued events are analyzed, the sinks are flushed
and closed, and the daemon exits 0. This command waits until the daemon has closed its control
socket, so when it returns 0 the last records are written.

A service manager that restarts the agent on failure does not restart it after this (exit 0); to
stop the installed service for good use the service manager instead:
  sudo systemctl stop brokerwatch                           (Linux)
  sudo launchctl bootout system/com.brokerwatch.agent       (macOS)

Options:
${SOCKET_HELP}
  --timeout SECS  how long to wait for the flush and exit (default 60)
  -h, --help      show this help

Exit codes: 0 stopped, 2 no daemon reachable, or it did not stop within the timeout.
`;

export async function stopCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    socket: { type: 'string' },
    config: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(STOP_HELP);
    return EXIT.ok;
  }
  const socketPath = controlSocketFor(values);
  const limit = timeoutMs(values.timeout, 60);
  const started = Date.now();
  let reply;
  try {
    reply = await sendControlRequest(socketPath, 'stop', { timeoutMs: limit });
  } catch (err) {
    return reportClientError(err, io);
  }
  if (!reply.ok) {
    io.stderr(`brokerwatch: the daemon could not stop cleanly: ${safeText(reply.error, 500)}\n`);
    return EXIT.error;
  }
  const pid = (reply.result as { pid?: unknown } | null)?.pid;
  const who = typeof pid === 'number' ? ` (pid ${pid})` : '';
  if (!(await waitUntilGone(socketPath, Math.max(1000, limit - (Date.now() - started))))) {
    io.stderr(`brokerwatch: the daemon${who} flushed but still listens on ${socketPath}\n`);
    return EXIT.error;
  }
  io.stdout(`stopped brokerwatch${who}: sinks flushed\n`);
  return EXIT.ok;
}
