import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureFolder, FLAGS, openSafe } from '../core/safe-fs';
import type { OutRecord, Sink } from '../core/sink';
import { toJsonLine } from '../format/jsonline';

export interface FileSinkOptions {
  path: string;
  /** flush() and close() also fsync, so flushed data survives a power cut (slower). */
  fsync?: boolean;
  /** Told about repairs, e.g. a file left ending mid-line by a crash. */
  onWarning?: (message: string) => void;
}

/** An error from the file sink: the message names the path; code is the system error code (EACCES, EISDIR...). */
/** How long a torn last line must stay unchanged before it counts as a crash's leftover. */
const TORN_RECHECK_MS = 100;

export class FileSinkError extends Error {
  readonly code: string | undefined;
  readonly path: string;

  constructor(file: string, what: string, cause?: unknown) {
    super(`file sink ${file}: ${what}${cause instanceof Error ? `: ${cause.message}` : ''}`, cause === undefined ? undefined : { cause });
    this.name = 'FileSinkError';
    this.path = file;
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

/**
 * JSON lines appended to a file. The folder is created with mode 0750 and the file with 0640 when
 * missing (the umask can only narrow them); an existing file keeps its mode and its content. The
 * agent runs as root: the folder chain is checked and no link is followed (src/core/safe-fs.ts).
 * Each write() is one append of whole lines (O_APPEND, one write call), so lines from concurrent
 * writers - this sink, another sink or another process on the same file - never interleave.
 * Operations run one after another in call order; a failed write rejects, the next one tries again
 * (reopening the file if it never opened).
 */
export class FileSink implements Sink {
  readonly name: string;
  readonly path: string;
  private readonly fsync: boolean;
  private readonly onWarning: (message: string) => void;
  private handle: fs.FileHandle | null = null;
  private tail: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(options: FileSinkOptions) {
    this.path = options.path;
    this.name = `file:${options.path}`;
    this.fsync = options.fsync ?? false;
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  /** Opens (creating folder and file) now rather than at the first write, to report EACCES at start-up. */
  open(): Promise<void> {
    return this.enqueue(async () => {
      await this.ensureOpen();
    });
  }

  write(records: OutRecord[]): Promise<void> {
    if (this.closing) return Promise.reject(new FileSinkError(this.path, 'write after close'));
    let data: Buffer;
    try {
      data = Buffer.from(records.map((r) => `${toJsonLine(r)}\n`).join(''), 'utf8');
    } catch (err) {
      return Promise.reject(new FileSinkError(this.path, 'record is not JSON', err));
    }
    if (data.length === 0) return this.enqueue(async () => undefined);
    return this.enqueue(async () => {
      const fh = await this.ensureOpen();
      await this.writeAll(fh, data);
    });
  }

  /** Settles when everything written before it is in the file (and on disk, with fsync). */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      if (this.fsync && this.handle) await this.sync(this.handle);
    });
  }

  /** Closes the file; the next write opens the path again (after log rotation moved the old file). */
  reopen(): Promise<void> {
    return this.enqueue(async () => {
      await this.closeHandle();
    });
  }

  close(): Promise<void> {
    this.closing ??= this.enqueue(async () => {
      await this.closeHandle();
    });
    return this.closing;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const done = this.tail.then(task);
    this.tail = done.then(() => undefined, () => undefined);
    return done;
  }

  private async ensureOpen(): Promise<fs.FileHandle> {
    if (this.handle) return this.handle;
    try {
      ensureFolder(path.dirname(path.resolve(this.path)), 0o750, 'the file sink');
    } catch (err) {
      throw new FileSinkError(this.path, 'unsafe or unusable folder', err);
    }
    let fh: fs.FileHandle;
    try {
      // Read and append (reading the last byte needs read access; every write still appends), no
      // link followed, and only a regular file of root's or ours (safe-fs.ts).
      fh = await openSafe(this.path, FLAGS.appendRead, 0o640, 'the file sink');
    } catch (err) {
      throw new FileSinkError(this.path, 'cannot open', err);
    }
    try {
      await this.endOnNewline(fh);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw new FileSinkError(this.path, 'cannot check the end of the file', err);
    }
    this.handle = fh;
    return fh;
  }

  /**
   * A crash can leave half a line at the end; start on a fresh line so the next record parses.
   * Another writer in the middle of a line looks the same for a moment, so the end is looked at
   * twice: a crash's half line stays as it is, a live writer's line is finished meanwhile.
   */
  private async endOnNewline(fh: fs.FileHandle): Promise<void> {
    const lastByte = async (): Promise<{ size: number; newline: boolean } | null> => {
      const stat = await fh.stat();
      if (!stat.isFile() || stat.size === 0) return null;
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, stat.size - 1);
      return { size: stat.size, newline: last[0] === 0x0a };
    };
    const first = await lastByte();
    if (!first || first.newline) return;
    await new Promise((r) => setTimeout(r, TORN_RECHECK_MS));
    const again = await lastByte();
    if (!again || again.newline || again.size !== first.size) return;
    await this.writeAll(fh, Buffer.from('\n'));
    this.onWarning(`file sink ${this.path}: the file did not end with a newline (a partial line from an earlier run); started a new line`);
  }

  private async writeAll(fh: fs.FileHandle, data: Buffer): Promise<void> {
    try {
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await fh.write(data, offset, data.length - offset, null);
        offset += bytesWritten;
      }
    } catch (err) {
      throw new FileSinkError(this.path, 'write failed', err);
    }
  }

  private async sync(fh: fs.FileHandle): Promise<void> {
    try {
      await fh.sync();
    } catch (err) {
      throw new FileSinkError(this.path, 'fsync failed', err);
    }
  }

  private async closeHandle(): Promise<void> {
    const fh = this.handle;
    if (!fh) return;
    this.handle = null;
    try {
      if (this.fsync) await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw new FileSinkError(this.path, 'fsync failed', err);
    }
    try {
      await fh.close();
    } catch (err) {
      throw new FileSinkError(this.path, 'close failed', err);
    }
  }
}
