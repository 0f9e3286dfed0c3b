import type { WireChunk } from './types';

/**
 * A byte stream with holes: the concatenation of captured writes where only the head of each write
 * may be known. Parsers ask for known bytes at an offset; a read that touches a hole returns null,
 * so a parser can still skip a message whose length it read but whose tail was not captured.
 */
export class SparseStream {
  private readonly parts: { start: number; data: Buffer; timeMs: number }[] = [];
  readonly length: number;
  readonly hasHoles: boolean;

  constructor(chunks: readonly WireChunk[]) {
    let pos = 0;
    let holes = false;
    for (const c of chunks) {
      const data = Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
      const full = Math.max(data.length, c.length ?? data.length);
      if (full > data.length) holes = true;
      this.parts.push({ start: pos, data, timeMs: c.timeMs });
      pos += full;
    }
    this.length = pos;
    this.hasHoles = holes;
  }

  private partAt(pos: number): { start: number; data: Buffer; timeMs: number } | undefined {
    // Few parts (capped captures): a linear scan from the end is fine and simple.
    for (let i = this.parts.length - 1; i >= 0; i--) {
      const p = this.parts[i]!;
      if (p.start <= pos) return p;
    }
    return undefined;
  }

  /** `len` known bytes at `pos`, or null when any of them is a hole or past the end. */
  read(pos: number, len: number): Buffer | null {
    if (pos < 0 || len < 0 || pos + len > this.length) return null;
    if (len === 0) return Buffer.alloc(0);
    const out: Buffer[] = [];
    let at = pos;
    let left = len;
    while (left > 0) {
      const p = this.partAt(at);
      if (!p) return null;
      const off = at - p.start;
      if (off >= p.data.length) return null; // inside a hole
      const take = Math.min(left, p.data.length - off);
      out.push(p.data.subarray(off, off + take));
      at += take;
      left -= take;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Known bytes from `pos` up to `len`, stopping at the first hole (for entropy over a payload's captured part). */
  readKnown(pos: number, len: number): Buffer {
    const out: Buffer[] = [];
    let at = pos;
    const end = Math.min(this.length, pos + len);
    while (at < end) {
      const p = this.partAt(at);
      if (!p) break;
      const off = at - p.start;
      if (off >= p.data.length) break;
      const take = Math.min(end - at, p.data.length - off);
      out.push(p.data.subarray(off, off + take));
      at += take;
    }
    return Buffer.concat(out);
  }

  byte(pos: number): number | null {
    const b = this.read(pos, 1);
    return b ? b[0]! : null;
  }

  /** When the write holding `pos` was captured. */
  timeAt(pos: number): number {
    return this.partAt(pos)?.timeMs ?? 0;
  }

  /** The first known bytes (up to max), for identification. */
  head(max: number): Buffer {
    return this.readKnown(0, max);
  }
}
