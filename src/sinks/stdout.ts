import type { OutRecord, Sink } from '../core/sink';
import { toJsonLine } from '../format/jsonline';

export interface StreamSinkOptions {
  name?: string;
  /** End the stream on close(). Off by default: process.stdout is never ended. */
  end?: boolean;
}

/**
 * JSON lines to a writable stream (process.stdout by default). One write() is one chunk; chunks go
 * out one at a time and write() settles when the stream has taken its chunk (the write callback),
 * so a slow reader slows the agent down instead of growing memory: that is the backpressure.
 * A stream error (EPIPE when the reader went away) rejects the write and every later one; it is
 * caught here so it cannot crash the process as an unhandled 'error' event.
 */
export class StdoutSink implements Sink {
  readonly name: string;
  private readonly stream: NodeJS.WritableStream;
  private readonly endOnClose: boolean;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  private readonly onError = (err: Error) => {
    this.failure ??= err;
  };

  constructor(stream: NodeJS.WritableStream = process.stdout, options: StreamSinkOptions = {}) {
    this.stream = stream;
    this.name = options.name ?? 'stdout';
    this.endOnClose = options.end ?? false;
    stream.on('error', this.onError);
  }

  write(records: OutRecord[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error(`sink ${this.name}: write after close`));
    let chunk: string;
    try {
      chunk = records.map((r) => `${toJsonLine(r)}\n`).join('');
    } catch (err) {
      return Promise.reject(new Error(`sink ${this.name}: record is not JSON: ${(err as Error).message}`));
    }
    const done = this.tail.then(() => this.writeChunk(chunk));
    this.tail = done.then(() => undefined, () => undefined);
    return done;
  }

  /** Settles when every chunk written before it has been taken by the stream. */
  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.wrap(this.failure);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.tail;
      if (this.endOnClose && !this.failure) {
        await new Promise<void>((resolve) => this.stream.end(() => resolve()));
      }
      this.stream.removeListener('error', this.onError);
    })();
    return this.closing;
  }

  private writeChunk(chunk: string): Promise<void> {
    if (this.failure) return Promise.reject(this.wrap(this.failure));
    if (chunk === '') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onClose = () => finish(new Error('the stream closed before the data was written'));
      const finish = (err?: Error | null) => {
        this.stream.removeListener('close', onClose);
        if (err) {
          this.failure ??= err;
          reject(this.wrap(err));
        } else resolve();
      };
      this.stream.once('close', onClose);
      this.stream.write(chunk, (err?: Error | null) => finish(err));
    });
  }

  private wrap(err: Error): Error {
    const out = new Error(`sink ${this.name}: ${err.message}`, { cause: err });
    (out as NodeJS.ErrnoException).code = (err as NodeJS.ErrnoException).code;
    return out;
  }
}
