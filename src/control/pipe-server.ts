/**
 * The control channel on Windows: a named pipe (\\.\pipe\brokerwatch) whose security descriptor
 * admits only SYSTEM and Administrators (CONTROL_PIPE_SDDL). The descriptor the OS actually holds
 * is read back after creation; a pipe that would admit anyone else is closed and the start fails.
 * Same protocol and handlers as the Unix socket (one JSON line in, one out). Clients are served
 * one at a time; an idle one is disconnected after idleTimeoutMs so it cannot hold the pipe.
 */
import { answer, type ControlServer, ControlSocketError, type ControlServerOptions, frameOf } from './server';
import { FrameTooLongError, LineDecoder, MAX_REQUEST_BYTES } from './protocol';
import { admitsOnlySystemAndAdmins, type PipeApi, win32Pipe } from './win32-pipe';

const ERROR_ACCESS_DENIED = 5;
const ERROR_PIPE_BUSY = 231;

export interface PipeControlServer extends ControlServer {
  /** The pipe's DACL as the OS reports it (SDDL). */
  readonly descriptor: string;
}

export async function startPipeControlServer(options: ControlServerOptions, pipe: PipeApi = win32Pipe()): Promise<PipeControlServer> {
  const name = options.socketPath;
  if (!/^\\\\\.\\pipe\\[^\\]+$/i.test(name)) throw new ControlSocketError(`control.socket on Windows must be a pipe name like \\\\.\\pipe\\brokerwatch, not ${name}`);
  let first: unknown;
  try {
    first = pipe.create(name, true);
  } catch (err) {
    const code = (err as { win32?: number }).win32;
    if (code === ERROR_ACCESS_DENIED || code === ERROR_PIPE_BUSY) throw new ControlSocketError(`another brokerwatch (or another program) already owns the control pipe ${name}`);
    throw new ControlSocketError(`cannot create the control pipe ${name}: ${(err as Error).message}`);
  }
  const descriptor = pipe.descriptor(first);
  if (!admitsOnlySystemAndAdmins(descriptor)) {
    pipe.close(first);
    throw new ControlSocketError(`the control pipe ${name} got the security descriptor ${descriptor}, which admits more than SYSTEM and Administrators; refusing to serve it`);
  }
  options.log?.info(`control pipe listening on ${name} (DACL ${descriptor})`);

  let closing = false;
  let current: unknown = first;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const maxFrame = options.maxFrameBytes ?? MAX_REQUEST_BYTES;

  async function serveOne(h: unknown): Promise<void> {
    const decoder = new LineDecoder(maxFrame);
    const idle = setTimeout(() => pipe.disconnect(h), idleMs);
    try {
      for (;;) {
        const chunk = await pipe.read(h, 4096);
        if (chunk === null) return;
        let lines: (string | null)[];
        try {
          lines = decoder.push(chunk);
        } catch (err) {
          const limit = err instanceof FrameTooLongError ? err.limit : maxFrame;
          await pipe.write(h, Buffer.from(frameOf({ ok: false, error: `request too long: over ${limit} bytes without a newline; closing the connection` })));
          return;
        }
        const line = lines.find((l) => l === null || l.trim() !== '');
        if (line === undefined) continue;
        clearTimeout(idle);
        await pipe.write(h, Buffer.from(frameOf(await answer(line, options.handlers))));
        return; // one request per connection, as the client sends
      }
    } finally {
      clearTimeout(idle);
    }
  }

  const loop = (async () => {
    while (!closing) {
      const h = current;
      const connected = await pipe.connect(h);
      if (!closing && connected) {
        try {
          await serveOne(h);
        } catch (err) {
          options.log?.warn(`control pipe ${name}: ${(err as Error).message}`);
        }
      }
      pipe.disconnect(h);
      pipe.close(h);
      if (closing) break;
      try {
        current = pipe.create(name, false);
      } catch (err) {
        options.log?.warn(`control pipe ${name} stopped: ${(err as Error).message}`);
        break;
      }
    }
  })();

  let closed: Promise<void> | null = null;
  return {
    path: name,
    descriptor,
    close() {
      closed ??= (async () => {
        closing = true;
        pipe.poke(name); // ends the pending ConnectNamedPipe wait
        await loop;
      })();
      return closed;
    },
  };
}
