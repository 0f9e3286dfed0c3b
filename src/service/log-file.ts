/**
 * The agent's own log file, opened the safe way (src/core/safe-fs.ts) instead of by winston's File
 * transport, which follows whatever link sits at the path. Rotation as before ("tailable"): the
 * live file keeps its name, older ones are FILE.1 ... FILE.(maxFiles-1), oldest dropped.
 * Writes are synchronous appends of whole lines: a log line is small, and a line written before a
 * crash is on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ensureFolder, FLAGS, openSafeSync } from '../core/safe-fs';

const PURPOSE = 'the agent log file';

export class RotatingLogFile extends Writable {
  private fd: number;
  private size: number;

  constructor(private readonly file: string, private readonly maxSize: number, private readonly maxFiles: number) {
    super({ decodeStrings: true });
    ensureFolder(path.dirname(path.resolve(file)), 0o750, PURPOSE);
    this.fd = openSafeSync(file, FLAGS.append, 0o640, PURPOSE);
    this.size = fs.fstatSync(this.fd).size;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    try {
      if (this.size > 0 && this.size + chunk.length > this.maxSize) this.rotate();
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
      this.size += chunk.length;
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      fs.closeSync(this.fd);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Renames never follow a link at the new name (they replace it); the new live file is opened safely. */
  private rotate(): void {
    fs.closeSync(this.fd);
    for (let i = this.maxFiles - 1; i >= 1; i--) {
      const from = i === 1 ? this.file : `${this.file}.${i - 1}`;
      try {
        fs.renameSync(from, `${this.file}.${i}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (this.maxFiles <= 1) fs.rmSync(this.file, { force: true });
    this.fd = openSafeSync(this.file, FLAGS.append, 0o640, PURPOSE);
    this.size = fs.fstatSync(this.fd).size;
  }
}
