import { sendControlRequest } from '../control/client';
import { safeText } from '../core/text';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT } from './common';
import { controlSocketFor, reportClientError, SOCKET_HELP } from './control-common';
import { timeoutMs } from './status';

export const RELOAD_HELP = `Usage: brokerwatch reload [--socket PATH]

Tells the running daemon to read its configuration files again (the same --config files it was
started with) and apply them: allowlists and rules at once; a changed capture (adapter, procRoot,
pollInterval, ...) is started before the old one stops. The new configuration is checked first; if
it is invalid, or its capture or a new sink cannot start, the daemon refuses it, keeps running with
the old one, and this command prints why and exits 2. Changed sinks are opened before the old ones
are flushed and closed; a change a reload cannot make (a new spool in a folder a running sink holds,
or logging) is named in the reply: it takes effect when the agent restarts. Same as sending the
daemon SIGHUP, but you learn the outcome.

Options:
${SOCKET_HELP}
  --timeout SECS  give up waiting for a reply after this long (default 30: names in allowlists
                  are resolved again during a reload)
  -h, --help      show this help

Exit codes: 0 reloaded, 2 refused (bad config: the old one stays) or no daemon reachable.

Check a config before you reload it:
  brokerwatch validate-config --config /etc/brokerwatch/config.yaml && sudo brokerwatch reload
`;

export async function reloadCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    socket: { type: 'string' },
    config: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(RELOAD_HELP);
    return EXIT.ok;
  }
  const socketPath = controlSocketFor(values);
  let reply;
  try {
    reply = await sendControlRequest(socketPath, 'reload', { timeoutMs: timeoutMs(values.timeout, 30) });
  } catch (err) {
    return reportClientError(err, io);
  }
  if (!reply.ok) {
    io.stderr(`brokerwatch: reload refused, the daemon keeps its previous configuration:\n  ${safeText(reply.error, 4000)}\n`);
    return EXIT.error;
  }
  const message = (reply.result as { message?: unknown } | null)?.message;
  io.stdout(`reloaded${typeof message === 'string' && message ? `: ${safeText(message, 500)}` : ''}\n`);
  return EXIT.ok;
}
