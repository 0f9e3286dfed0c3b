/**
 * What the control commands (status, reload, stop) share: finding the socket and turning a
 * client failure into one line on stderr with exit 2.
 */
import { ControlClientError } from '../control/client';
import { resolveControlPath } from '../control/paths';
import { loadConfig } from '../config/load';
import { type CliIO, EXIT } from './common';

export const SOCKET_HELP = `  --socket PATH   the daemon's control socket (default: control.socket from --config, else
                  /run/brokerwatch/brokerwatch.sock on Linux, /var/run/brokerwatch/... on macOS)
  --config FILE   read control.socket from this config (the one the daemon runs with; repeatable)`;

/** The socket to talk to: --socket, else control.socket of the --config files, else the platform default. */
export function controlSocketFor(values: { socket?: string | undefined; config?: string[] | undefined }): string {
  if (values.socket) return resolveControlPath(values.socket);
  if (values.config && values.config.length > 0) return resolveControlPath(loadConfig(values.config).config.control.socket);
  return resolveControlPath(null);
}

/** Prints a client failure as one line; exit 2. Other errors go on to main's handler. */
export function reportClientError(err: unknown, io: CliIO, json = false): number {
  if (!(err instanceof ControlClientError)) throw err;
  if (json) io.stdout(`${JSON.stringify({ ok: false, error: err.message, reason: err.kind })}\n`);
  io.stderr(`brokerwatch: ${err.message}\n`);
  return EXIT.error;
}
