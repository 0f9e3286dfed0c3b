/**
 * The control socket server (node:net, a Unix domain socket). Only administrators can reach it:
 * the socket sits in a directory owned by us that nobody else can write (created 0700), and is
 * itself mode 0600. Every connection is hostile input: frames are capped, idle connections closed,
 * malformed requests answered with an error; nothing a peer sends can crash the daemon.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../core/logger';
import { prepareSocketDirectory, removeStaleSocket } from './socket-dir';
import {
  type ControlReply, type ControlRequest, encodeFrame, FrameTooLongError, LineDecoder, MAX_REQUEST_BYTES, parseRequest,
} from './protocol';

/** What the daemon does for each command; injected by `run`. */
export interface ControlHandlers {
  /** A JSON-serialisable snapshot: pid, uptime, version, capture, counters, last error. */
  status(): object;
  /** Re-reads the configuration; ok false (with why) when the new one is refused and the old one kept. */
  reload(): Promise<{ ok: boolean; message: string }>;
  /** Stops capture and flushes the sinks; resolves when that is done (the reply is sent after it). */
  stop(): Promise<void>;
}

export interface ControlServerOptions {
  socketPath: string;
  handlers: ControlHandlers;
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Largest request line; default 64 KiB. */
  maxFrameBytes?: number;
  /** A connection that sends nothing for this long is closed; default 30 s. */
  idleTimeoutMs?: number;
  /** Connections served at once; more are refused by the kernel backlog and then closed. Default 16. */
  maxConnections?: number;
}

export interface ControlServer {
  readonly path: string;
  /** Stops accepting, lets replies in progress go out (up to 5 s), closes connections, removes the socket. */
  close(): Promise<void>;
}

/** A control socket that cannot be set up: the message says what to do. */
export class ControlSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlSocketError';
  }
}

/** Longest Unix socket path the kernel takes (sun_path: 108 bytes on Linux, 104 on macOS/BSD). */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;
/** Requests queued on one connection before it is closed as abusive. */
const MAX_QUEUED = 32;

interface Conn {
  socket: net.Socket;
  busy: Promise<void>;
  inFlight: number;
}

/** Binds the control socket and serves it until close(). */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const socketPath = path.resolve(options.socketPath);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new ControlSocketError(`control socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket allows; choose a shorter control.socket`);
  }
  prepareSocketDirectory(path.dirname(socketPath));
  await removeStaleSocket(socketPath, options.log);

  const conns = new Set<Conn>();
  // allowHalfOpen: a client may send its request and shut its side (echo ... | socat - UNIX-CONNECT:...);
  // the reply still goes out before we close ours.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => serveConnection(socket, conns, options));
  server.maxConnections = options.maxConnections ?? 16;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(socketPath, err)));
    server.listen(socketPath, () => resolve());
  });
  server.on('error', (err) => options.log?.warn(`control socket ${socketPath}: ${err.message}`));
  // The directory already keeps others out; 0600 is the second lock.
  fs.chmodSync(socketPath, 0o600);
  const ino = fs.statSync(socketPath).ino;
  options.log?.info(`control socket listening on ${socketPath}`);

  let closing: Promise<void> | null = null;
  return {
    path: socketPath,
    close() {
      closing ??= closeServer(server, conns, socketPath, ino);
      return closing;
    },
  };
}

function listenError(socketPath: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') return new ControlSocketError(`another brokerwatch is running: the control socket ${socketPath} is in use`);
  if (err.code === 'EACCES' || err.code === 'EPERM') return new ControlSocketError(`cannot create the control socket ${socketPath}: permission denied (run as root)`);
  return new ControlSocketError(`cannot listen on the control socket ${socketPath}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '));
}

async function closeServer(server: net.Server, conns: Set<Conn>, socketPath: string, ino: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Remove the socket only if it is still ours (a newer daemon may have replaced a path we lost).
  try {
    if (fs.lstatSync(socketPath).ino === ino) fs.unlinkSync(socketPath);
  } catch { /* already gone */ }
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
  await Promise.race([Promise.all([...conns].map((c) => c.busy)), deadline]);
  for (const c of conns) c.socket.end();
  const forced = setTimeout(() => { for (const c of conns) c.socket.destroy(); }, 1000);
  forced.unref();
  await closed;
  clearTimeout(forced);
}

function serveConnection(socket: net.Socket, conns: Set<Conn>, options: ControlServerOptions): void {
  const conn: Conn = { socket, busy: Promise.resolve(), inFlight: 0 };
  conns.add(conn);
  const decoder = new LineDecoder(options.maxFrameBytes ?? MAX_REQUEST_BYTES);
  let refusing = false;
  socket.setTimeout(options.idleTimeoutMs ?? 30_000);
  socket.on('timeout', () => {
    // A request being answered (a stop that flushes, a slow reload) is not idleness.
    if (conn.inFlight > 0) socket.setTimeout(options.idleTimeoutMs ?? 30_000);
    else socket.destroy();
  });
  socket.on('error', () => socket.destroy()); // a peer that resets is not our error
  socket.on('close', () => conns.delete(conn));

  const refuse = (error: string) => {
    refusing = true;
    // Reply, then drop the connection once the reply is out; what the peer still sends is discarded.
    socket.end(encodeFrame({ ok: false, error }), () => socket.destroy());
  };

  socket.on('data', (chunk: Buffer) => {
    if (refusing) return;
    let lines: (string | null)[];
    try {
      lines = decoder.push(chunk);
    } catch (err) {
      const limit = err instanceof FrameTooLongError ? err.limit : MAX_REQUEST_BYTES;
      return refuse(`request too long: over ${limit} bytes without a newline; closing the connection`);
    }
    for (const line of lines) {
      if (line !== null && line.trim() === '') continue;
      if (conn.inFlight >= MAX_QUEUED) return refuse(`too many requests queued on one connection (${MAX_QUEUED}); closing the connection`);
      conn.inFlight++;
      conn.busy = conn.busy.then(() => answer(line, options.handlers)).then((reply) => {
        conn.inFlight--;
        if (!socket.destroyed && socket.writable) socket.write(frameOf(reply));
      });
    }
  });
  // The peer finished sending: answer what it asked, then close. Half a line left over is dropped.
  socket.on('end', () => {
    void conn.busy.then(() => socket.end());
  });
}

/** The reply as a frame; a result that cannot be serialised (a cycle, a BigInt) becomes an error reply. */
function frameOf(reply: ControlReply): string {
  try {
    return encodeFrame(reply);
  } catch (err) {
    return encodeFrame({ ok: false, ...(reply.id === undefined ? {} : { id: reply.id }), error: `the reply could not be encoded: ${(err as Error).message}` });
  }
}

/** Runs one request; every failure becomes an error reply, never an exception. */
async function answer(line: string | null, handlers: ControlHandlers): Promise<ControlReply> {
  const parsed = parseRequest(line);
  if (!parsed.ok) return parsed.id === undefined ? { ok: false, error: parsed.error } : { ok: false, id: parsed.id, error: parsed.error };
  const { request } = parsed;
  const withId = <T extends object>(r: T): T => (request.id === undefined ? r : { ...r, id: request.id });
  try {
    return withId(await run(request, handlers));
  } catch (err) {
    return withId({ ok: false as const, error: `${request.command} failed: ${(err as Error)?.message ?? String(err)}` });
  }
}

async function run(request: ControlRequest, handlers: ControlHandlers): Promise<ControlReply> {
  switch (request.command) {
    case 'status':
      return { ok: true, result: handlers.status() };
    case 'reload': {
      const r = await handlers.reload();
      return r.ok ? { ok: true, result: { message: r.message } } : { ok: false, error: r.message };
    }
    case 'stop':
      await handlers.stop();
      return { ok: true, result: { message: 'stopped: capture ended and sinks flushed', pid: process.pid } };
  }
}
