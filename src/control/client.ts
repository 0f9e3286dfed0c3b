/**
 * The control client: connect, send one request, read one reply, close. Failures are one clear
 * line each ("no daemon listening on ...", "permission denied on ... (run as root)", a timeout).
 */
import net from 'node:net';
import {
  type ControlCommand, type ControlReply, encodeFrame, FrameTooLongError, LineDecoder, MAX_REPLY_BYTES, parseReply,
} from './protocol';

export type ControlClientErrorKind = 'not-running' | 'permission' | 'timeout' | 'protocol' | 'io';

/** Why a request did not get a reply. `kind` lets callers (stop's wait) tell "gone" from "failed". */
export class ControlClientError extends Error {
  constructor(readonly kind: ControlClientErrorKind, message: string) {
    super(message);
    this.name = 'ControlClientError';
  }
}

export interface RequestOptions {
  /** Whole exchange, connect to reply; default 10 s (a stop that flushes a slow sink may need more). */
  timeoutMs?: number;
  id?: string | number;
}

function connectError(socketPath: string, err: NodeJS.ErrnoException): ControlClientError {
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new ControlClientError('not-running', `no daemon listening on ${socketPath}`);
    case 'EACCES':
    case 'EPERM':
      return new ControlClientError('permission', `permission denied on ${socketPath} (run as root)`);
    case 'ENOTSOCK':
      return new ControlClientError('not-running', `${socketPath} is not a socket: no daemon listening there`);
    default:
      return new ControlClientError('io', `cannot talk to the daemon on ${socketPath}: ${err.code ?? err.message}`);
  }
}

/** Sends one command and resolves with the daemon's reply (ok true or false); rejects with ControlClientError. */
export function sendControlRequest(socketPath: string, command: ControlCommand, options: RequestOptions = {}): Promise<ControlReply> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const decoder = new LineDecoder(MAX_REPLY_BYTES);
    let settled = false;
    let connected = false;
    const finish = (err: ControlClientError | null, reply?: ControlReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply as ControlReply);
    };
    const timer = setTimeout(() => {
      finish(new ControlClientError('timeout', `no reply from the daemon on ${socketPath} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(encodeFrame(options.id === undefined ? { command } : { command, id: options.id }));
    });
    socket.on('data', (chunk: Buffer) => {
      let lines: (string | null)[];
      try {
        lines = decoder.push(chunk);
      } catch (err) {
        const limit = err instanceof FrameTooLongError ? err.limit : MAX_REPLY_BYTES;
        return finish(new ControlClientError('protocol', `the reply on ${socketPath} is longer than ${limit} bytes`));
      }
      if (lines.length === 0) return;
      const reply = parseReply(lines[0] as string | null);
      if (reply) finish(null, reply);
      else finish(new ControlClientError('protocol', `the reply on ${socketPath} is not a brokerwatch control reply`));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish(connected ? new ControlClientError('io', `connection to ${socketPath} failed: ${err.code ?? err.message}`) : connectError(socketPath, err));
    });
    socket.on('close', () => finish(new ControlClientError('protocol', `the daemon on ${socketPath} closed the connection without a reply`)));
  });
}

/**
 * Waits until nothing listens on the socket any more (the daemon exited or closed its control
 * socket). Resolves true when gone, false when still there after timeoutMs.
 */
export async function waitUntilGone(socketPath: string, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await new Promise<'gone' | 'there'>((resolve) => {
      const s = net.createConnection(socketPath);
      s.once('connect', () => { s.destroy(); resolve('there'); });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'gone' : 'there'));
    });
    if (state === 'gone') return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
