/**
 * File-level helpers of the spool: segment names, positional reads, the state file
 * (replaced atomically), folder fsync. I/O only; the queue logic is in spool.ts.
 */
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FLAGS, openSafe, writeFileAtomic } from '../../core/safe-fs';

export type Lane = 'finding' | 'telemetry';
export interface Position { seq: number; offset: number }

export const LANES: readonly Lane[] = ['finding', 'telemetry'];
export const SEGMENT_RE = /^(finding|telemetry)-(\d{12})\.seg$/;

export function segmentName(lane: Lane, seq: number): string {
  return `${lane}-${String(seq).padStart(12, '0')}.seg`;
}

/** Is a strictly after b? */
export function after(a: Position, b: Position): boolean {
  return a.seq > b.seq || (a.seq === b.seq && a.offset > b.offset);
}

/** Up to `length` bytes of `file` from `offset` (fewer at its end). */
export async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await openSafe(file, FLAGS.readExisting, 0o600, 'a spool segment');
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** Writes all of buf at the end of an append-mode handle. */
export async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let written = 0;
  while (written < buf.length) written += (await fh.write(buf, written, buf.length - written)).bytesWritten;
}

/** fsync of the folder makes new and renamed names durable (Linux, macOS; a no-op where unsupported). */
export async function syncFolder(folder: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(folder, 'r');
    await fh.sync();
  } catch {
    /* Windows cannot open or fsync a folder */
  } finally {
    await fh?.close();
  }
}

/** A file of ours read whole: no link followed, a FIFO cannot block (safe-fs.ts). */
async function readSmallFile(file: string): Promise<string> {
  const fh = await openSafe(file, FLAGS.readExisting, 0o600, 'the spool state');
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** The committed positions saved by the last run; {} with a warning when the file is damaged. */
export async function readState(folder: string, warn: (m: string) => void): Promise<Partial<Record<Lane, Position>>> {
  const file = path.join(folder, 'state.json');
  try {
    const state = JSON.parse(await readSmallFile(file)) as { lanes?: Record<string, { seq?: unknown; offset?: unknown }> };
    const out: Partial<Record<Lane, Position>> = {};
    for (const lane of LANES) {
      const p = state.lanes?.[lane];
      if (p && Number.isSafeInteger(p.seq) && Number.isSafeInteger(p.offset)) out[lane] = { seq: p.seq as number, offset: p.offset as number };
    }
    return out;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`spool: ${file} unreadable (${(err as Error).message}): every spooled record is sent again (duplicates, no loss)`);
    return {};
  }
}

/** Replaces state.json atomically: a random temp name beside it (no-follow, exclusive), then rename (fsync both when durable). */
export async function writeState(folder: string, lanes: Record<Lane, Position>, durable: boolean): Promise<void> {
  await writeFileAtomic(path.join(folder, 'state.json'), `${JSON.stringify({ version: 1, lanes })}\n`, 0o600, 'the spool state', durable);
  if (durable) await syncFolder(folder);
}

/**
 * The newest bytes written to a lane's segments, kept in memory (up to a budget) so that delivery,
 * which usually reads right behind the writer, needs no file read. Chunks hold whole entries.
 */
export class TailCache {
  private chunks: { seq: number; offset: number; buf: Buffer }[] = [];
  private bytes = 0;

  constructor(private readonly budget: number) {}

  add(seq: number, offset: number, buf: Buffer): void {
    this.chunks.push({ seq, offset, buf });
    this.bytes += buf.length;
    while (this.bytes > this.budget && this.chunks.length > 1) this.bytes -= (this.chunks.shift() as { buf: Buffer }).buf.length;
  }

  /** Forgets chunks of segments before `seq` (deleted ones). */
  dropBefore(seq: number): void {
    while (this.chunks.length > 0 && (this.chunks[0] as { seq: number }).seq < seq) this.bytes -= (this.chunks.shift() as { buf: Buffer }).buf.length;
  }

  /** Bytes at `pos` (about maxBytes, across contiguous chunks of the segment), or null when not cached. */
  read(pos: Position, maxBytes: number): Buffer | null {
    const i = this.chunks.findIndex((c) => c.seq === pos.seq && pos.offset >= c.offset && pos.offset < c.offset + c.buf.length);
    if (i < 0) return null;
    const parts: Buffer[] = [];
    let size = 0;
    let next = pos.offset;
    for (let k = i; k < this.chunks.length && size < maxBytes; k++) {
      const c = this.chunks[k] as { seq: number; offset: number; buf: Buffer };
      if (c.seq !== pos.seq || next < c.offset || next >= c.offset + c.buf.length) break;
      const part = c.buf.subarray(next - c.offset);
      parts.push(part);
      size += part.length;
      next += part.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
  }
}

/** For tests and tools: the segment files of a spool folder, oldest first. */
export function listSegments(folder: string): { lane: Lane; seq: number; file: string }[] {
  return fs.readdirSync(folder)
    .map((n) => ({ n, m: SEGMENT_RE.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .map(({ n, m }) => ({ lane: m[1] as Lane, seq: Number(m[2]), file: path.join(folder, n) }))
    .sort((a, b) => a.seq - b.seq);
}
