/**
 * The spool: a durable on-disk queue between the analyzer and a network sink (see SpooledSink).
 *
 * Layout of `spool.path` (created 0700; records can hold command lines):
 *   finding-<seq>.seg, telemetry-<seq>.seg   append-only segments, one entry per line (spool-format.ts)
 *   state.json                               the committed position of each lane, replaced atomically
 *                                            (write state.json.tmp, then rename over state.json)
 *   lock                                     the pid of the agent using the spool
 *
 * Two lanes, findings and telemetry, so that a full spool can drop the oldest telemetry - a whole
 * segment at a time - without touching a finding, and so findings are delivered first after an
 * outage. A record leaves the spool only when commit() is called for it, after the network sink
 * confirmed it; everything after the committed position is sent again after a restart, so delivery
 * is at-least-once and duplicates carry the same product_log_id.
 *
 * Crash safety: state.json is never partly written (rename is atomic); a segment's torn tail (a
 * write cut by kill -9, a power loss) fails its checksum and is cut off at start-up. Segments before
 * the committed one are deleted at start-up too (a crash between commit and unlink).
 *
 * fsync (the price of durability against power loss, not against kill -9: written bytes are in the
 * kernel's page cache and survive the process):
 *   always    segment data is fsynced before write() resolves, state.json and the folder on every
 *             commit. Nothing acknowledged is lost on power loss; one fsync per batch written and
 *             per batch delivered (milliseconds on SSD, tens of ms on disks).
 *   interval  segments are fsynced every fsyncInterval (default 1 s): a power loss can lose up to
 *             that much of the newest records; state.json is saved at most every 100 ms and renamed
 *             without fsync, so after a crash or power loss it may be old or empty - that only sends
 *             records again (duplicates), never loses one.
 *   never     the kernel writes back when it likes (about 30 s on Linux): fastest, and the same
 *             guarantee as the others against agent crashes and kill -9.
 * Measured (bench/forwarder.ts, 2-vCPU VM): always and interval are within noise of each other at
 * about 30-40k events/s; the cost of always grows with the disk's fsync latency.
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../core/logger';
import type { SpoolConfig } from '../../config/spool';
import type { SpooledLine, SpoolItem } from '../delivery';
import {
  after, type Lane, LANES, type Position, readAt, readState, releaseLock, SEGMENT_RE, segmentName, syncFolder, TailCache, takeLock, writeAll, writeState,
} from './files';
import { encodeEntryInto, entrySize, parseEntries, scanSegment } from './format';

export { type SpoolConfig, spoolSchema } from '../../config/spool';
export { listSegments, type Lane, type Position } from './files';
export { SpooledSink, type SpooledSinkDeps, type SpooledSinkStats } from './spooled-sink';

export type FsyncPolicy = SpoolConfig['fsync'];
export interface SpoolBatch { lane: Lane; start: Position; end: Position; items: SpooledLine[] }
/** What commit() needs of a batch: where it was and how many records it held (not the records). */
export interface SpoolRange { lane: Lane; start: Position; end: Position; count: number }

export interface SpoolOptions {
  path: string;
  maxBytes: number;
  segmentBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  log: Logger;
}

export interface SpoolCounters {
  /** Records written to the spool since it was opened. */
  spooled: number;
  /** Records committed (confirmed by the sink) since it was opened. */
  committed: number;
  /** Bytes appended to segment files since it was opened (record JSON plus 10 bytes of framing each). */
  appendedBytes: number;
  /** Telemetry dropped because the spool was full, since it was opened. */
  droppedTelemetry: number;
  /** Lines that failed their checksum (skipped) and torn-tail bytes cut at start-up. */
  corruptLines: number;
  tornBytes: number;
}

interface Segment { seq: number; size: number; entries: number }

interface LaneState {
  name: Lane;
  segments: Segment[]; // ascending; the last one is the active (append) segment
  committed: Position; // always inside segments[0]
  committedEntries: number; // entries of segments[0] before committed.offset
  cursor: Position; // next unread position (committed <= cursor)
  epoch: number; // bumped when the cursor is moved by rewind or eviction
  fh: FileHandle | null;
  dirty: boolean;
  pending: { json: string; bytes: number }[]; // accepted, not yet written
  pendingBytes: number; // entry bytes of pending
  tail: TailCache; // the newest written chunks, so delivery reads them without touching the disk
}

const DROP_LOG_MS = 60_000;
/** Recently written bytes kept in memory per lane. */
const TAIL_CACHE_BYTES = 8 * 1024 * 1024;
const OPEN_IN_THIS_PROCESS = new Set<string>();
const PERSIST_EVERY_MS = 100;

export class Spool {
  readonly counters: SpoolCounters = { spooled: 0, committed: 0, appendedBytes: 0, droppedTelemetry: 0, corruptLines: 0, tornBytes: 0 };
  private readonly lanes: Record<Lane, LaneState>;
  private totalBytes = 0;
  private nextSeq = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private persisting: Promise<void> | null = null;
  private persistAgain = false;
  private persistTimer: NodeJS.Timeout | null = null;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private dropLog = { pending: 0, at: 0 };
  private overLimitLoggedAt = 0;
  private closed = false;
  private closing = false;

  private constructor(private readonly o: SpoolOptions) {
    const empty = (name: Lane): LaneState => ({
      name, segments: [], committed: { seq: 0, offset: 0 }, committedEntries: 0, cursor: { seq: 0, offset: 0 }, epoch: 0, fh: null, dirty: false, pending: [], pendingBytes: 0, tail: new TailCache(TAIL_CACHE_BYTES),
    });
    this.lanes = { finding: empty('finding'), telemetry: empty('telemetry') };
  }

  /** Opens (or creates) the spool at o.path, recovering what a previous run left there. */
  static async open(o: SpoolOptions): Promise<Spool> {
    const spool = new Spool({ ...o, segmentBytes: Math.max(4096, Math.min(o.segmentBytes, Math.floor(o.maxBytes / 8))) });
    const key = path.resolve(o.path);
    if (OPEN_IN_THIS_PROCESS.has(key)) throw new Error(`spool ${o.path} is already open in this process`);
    await fsp.mkdir(o.path, { recursive: true, mode: 0o700 });
    OPEN_IN_THIS_PROCESS.add(key);
    try {
      await takeLock(o.path);
      await spool.recover();
    } catch (err) {
      OPEN_IN_THIS_PROCESS.delete(key);
      throw err;
    }
    if (o.fsync === 'interval') {
      // Not under exclusive(): appends go on during the fsync (a FileHandle closes only after its pending fsync).
      spool.fsyncTimer = setInterval(() => void spool.syncDirty().catch((err: Error) => o.log.warn(`spool: fsync failed: ${err.message}`)), o.fsyncIntervalMs);
      spool.fsyncTimer.unref();
    }
    return spool;
  }

  private file(lane: Lane, seq: number): string {
    return path.join(this.o.path, segmentName(lane, seq));
  }

  /** Serialises everything that changes the segment lists (append, commit, eviction, fsync, close). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async recover(): Promise<void> {
    const state = await readState(this.o.path, (m) => this.o.log.warn(m));
    const names = await fsp.readdir(this.o.path);
    const found: Record<Lane, number[]> = { finding: [], telemetry: [] };
    for (const n of names) {
      const m = SEGMENT_RE.exec(n);
      if (m) found[m[1] as Lane].push(Number(m[2]));
    }
    const allSeqs = [...found.finding, ...found.telemetry, state.finding?.seq ?? 0, state.telemetry?.seq ?? 0];
    this.nextSeq = Math.max(0, ...allSeqs) + 1;
    for (const name of LANES) await this.recoverLane(this.lanes[name], found[name].sort((a, b) => a - b), state[name]);
    const pending = this.pending();
    if (pending > 0) this.o.log.info(`spool ${this.o.path}: ${pending} records (${this.pending('finding')} findings) left by a previous run will be delivered`);
  }

  private async recoverLane(lane: LaneState, seqs: number[], saved: Position | undefined): Promise<void> {
    const committed = saved ?? { seq: seqs[0] ?? 0, offset: 0 };
    for (const seq of seqs) {
      const file = this.file(lane.name, seq);
      if (seq < committed.seq) {
        await fsp.rm(file, { force: true }); // fully delivered before a crash cut the cleanup short
        continue;
      }
      const buf = await fsp.readFile(file);
      const scan = scanSegment(buf, seq === committed.seq ? committed.offset : 0);
      if (scan.validEnd < buf.length) {
        await fsp.truncate(file, scan.validEnd);
        this.counters.tornBytes += buf.length - scan.validEnd;
        this.o.log.warn(`spool: ${segmentName(lane.name, seq)}: cut ${buf.length - scan.validEnd} bytes of an incomplete record at its end (a write interrupted by a crash)`);
      }
      if (scan.corrupt > 0) this.o.log.warn(`spool: ${segmentName(lane.name, seq)}: ${scan.corrupt} damaged records will be skipped`);
      this.counters.corruptLines += scan.corrupt;
      lane.segments.push({ seq, size: scan.validEnd, entries: scan.entries });
      this.totalBytes += scan.validEnd;
      if (seq === committed.seq) lane.committedEntries = scan.entriesBefore;
    }
    const first = lane.segments[0];
    if (first && first.seq === committed.seq) lane.committed = { seq: committed.seq, offset: Math.min(committed.offset, first.size) };
    else {
      lane.committed = { seq: first?.seq ?? 0, offset: 0 };
      lane.committedEntries = 0;
    }
    lane.cursor = { ...lane.committed };
    const last = lane.segments.at(-1);
    if (!last || last.size >= this.o.segmentBytes) await this.rotate(lane);
    else lane.fh = await fsp.open(this.file(lane.name, last.seq), 'a', 0o600);
  }

  /** Records not yet committed, in one lane or both. */
  pending(lane?: Lane): number {
    const count = (l: LaneState) => l.segments.reduce((n, s) => n + s.entries, 0) - l.committedEntries;
    return lane ? count(this.lanes[lane]) : count(this.lanes.finding) + count(this.lanes.telemetry);
  }

  /** Bytes on disk in segment files. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Appends records (findings and telemetry to their lanes), making room first when over maxBytes. */
  append(items: SpoolItem[]): Promise<{ accepted: number; dropped: number }> {
    return this.exclusive(async () => {
      if (this.closed) throw new Error(`spool ${this.o.path}: append after close`);
      let accepted = 0;
      let dropped = 0;
      for (const item of items) {
        const lane = this.lanes[item.finding ? 'finding' : 'telemetry'];
        const bytes = Buffer.byteLength(item.json, 'utf8');
        const size = entrySize(bytes);
        const full = this.totalBytes + this.lanes.finding.pendingBytes + this.lanes.telemetry.pendingBytes + size > this.o.maxBytes;
        if (full && !(await this.makeRoom(size, item.finding))) {
          dropped++;
          continue;
        }
        const active = lane.segments.at(-1) as Segment;
        if (active.size + lane.pendingBytes > 0 && active.size + lane.pendingBytes + size > this.o.segmentBytes) await this.rotate(lane);
        lane.pending.push({ json: item.json, bytes });
        lane.pendingBytes += size;
        accepted++;
      }
      for (const name of LANES) {
        const lane = this.lanes[name];
        const wrote = await this.writePending(lane);
        if (wrote && this.o.fsync === 'always') await lane.fh?.datasync();
      }
      this.counters.spooled += accepted;
      this.counters.droppedTelemetry += dropped;
      if (dropped > 0) this.noteDropped(dropped);
      return { accepted, dropped };
    });
  }

  private async writePending(lane: LaneState): Promise<boolean> {
    if (lane.pending.length === 0) return false;
    // One buffer and one write for the whole batch: no per-record allocation or copy.
    const buf = Buffer.allocUnsafe(lane.pendingBytes);
    let offset = 0;
    for (const p of lane.pending) offset = encodeEntryInto(buf, offset, p.json, p.bytes);
    const entries = lane.pending.length;
    lane.pending = [];
    lane.pendingBytes = 0;
    const active = lane.segments.at(-1) as Segment;
    try {
      await writeAll(lane.fh as FileHandle, buf);
    } catch (err) {
      // Disk full or I/O error: cut what part of the batch got written, so offsets stay true.
      await lane.fh?.truncate(active.size).catch(() => undefined);
      throw err;
    }
    lane.tail.add(active.seq, active.size, buf);
    active.size += buf.length;
    active.entries += entries;
    this.totalBytes += buf.length;
    this.counters.appendedBytes += buf.length;
    lane.dirty = true;
    return true;
  }

  private async deleteSegment(lane: LaneState, seq: number): Promise<void> {
    lane.tail.dropBefore(seq + 1);
    await fsp.rm(this.file(lane.name, seq), { force: true });
  }

  /** Starts a new active segment in the lane. */
  private async rotate(lane: LaneState): Promise<void> {
    await this.writePending(lane);
    if (lane.fh) {
      if (lane.dirty && this.o.fsync !== 'never') await lane.fh.datasync();
      await lane.fh.close();
    }
    const seq = this.nextSeq++;
    lane.fh = await fsp.open(this.file(lane.name, seq), 'a', 0o600);
    lane.dirty = false;
    lane.segments.push({ seq, size: 0, entries: 0 });
    if (lane.segments.length === 1) {
      lane.committed = { seq, offset: 0 };
      lane.cursor = { seq, offset: 0 };
      lane.committedEntries = 0;
    }
    if (this.o.fsync === 'always') await syncFolder(this.o.path);
    await this.dropConsumed(lane);
  }

  /**
   * Room for `bytes` more: drops the oldest telemetry segments while over maxBytes. False when the
   * record is telemetry and only findings are left (the new telemetry record is dropped); a finding
   * is always accepted, even over the limit.
   */
  private async makeRoom(bytes: number, finding: boolean): Promise<boolean> {
    const tel = this.lanes.telemetry;
    const fin = this.lanes.finding;
    const used = () => this.totalBytes + fin.pendingBytes + tel.pendingBytes;
    while (used() + bytes > this.o.maxBytes) {
      if (tel.segments.length > 1) {
        await this.evict(tel.segments[0] as Segment);
        continue;
      }
      if ((tel.segments[0] as Segment).size + tel.pendingBytes > 0) {
        await this.rotate(tel); // the old segment goes at once if it was delivered, else it is evicted
        if (tel.segments.length > 1) await this.evict(tel.segments[0] as Segment);
        continue;
      }
      const f = fin.segments[0] as Segment;
      if (fin.segments.length === 1 && f.size > 0 && fin.committed.offset >= f.size && fin.pendingBytes === 0) {
        await this.rotate(fin); // delivered findings still on disk: free them
        continue;
      }
      if (!finding) return false;
      if (Date.now() - this.overLimitLoggedAt >= DROP_LOG_MS) {
        this.overLimitLoggedAt = Date.now();
        this.o.log.error(`spool ${this.o.path}: over maxBytes (${this.o.maxBytes}) with findings only: findings are kept anyway, new telemetry is dropped until delivery resumes`);
      }
      return true;
    }
    return true;
  }

  /** Deletes the oldest telemetry segment (never the active one) and counts its undelivered records. */
  private async evict(seg: Segment): Promise<void> {
    const tel = this.lanes.telemetry;
    const lost = seg.entries - (seg.seq === tel.committed.seq ? tel.committedEntries : 0);
    // The in-memory state changes in one step, before any await: pending() is never seen half-updated.
    tel.segments.shift();
    this.totalBytes -= seg.size;
    const next = tel.segments[0] as Segment;
    tel.committed = { seq: next.seq, offset: 0 };
    tel.committedEntries = 0;
    if (!after(tel.cursor, tel.committed)) tel.cursor = { ...tel.committed };
    tel.epoch++;
    this.counters.droppedTelemetry += lost;
    this.noteDropped(lost);
    this.schedulePersist();
    await this.deleteSegment(tel, seg.seq);
  }

  private noteDropped(n: number): void {
    this.dropLog.pending += n;
    const now = Date.now();
    if (now - this.dropLog.at < DROP_LOG_MS) return;
    this.o.log.warn(`spool ${this.o.path} full (maxBytes ${this.o.maxBytes}): dropped ${this.dropLog.pending} of the oldest telemetry records (${this.counters.droppedTelemetry} since start); findings are never dropped`);
    this.dropLog = { pending: 0, at: now };
  }

  /** Deletes segments that are fully committed and no longer active. */
  private async dropConsumed(lane: LaneState): Promise<void> {
    for (;;) {
      const first = lane.segments[0];
      if (!first || lane.segments.length < 2 || lane.committed.seq !== first.seq || lane.committed.offset < first.size) return;
      lane.segments.shift();
      this.totalBytes -= first.size;
      lane.committed = { seq: (lane.segments[0] as Segment).seq, offset: 0 };
      lane.committedEntries = 0;
      if (!after(lane.cursor, lane.committed)) lane.cursor = { ...lane.committed };
      this.schedulePersist();
      await this.deleteSegment(lane, first.seq);
    }
  }

  /** The first unread position at or after `from`, or null when the lane is read to its end. */
  private unreadFrom(lane: LaneState, from: Position): Position | null {
    let i = lane.segments.findIndex((s) => s.seq >= from.seq);
    if (i < 0) return null;
    let pos = (lane.segments[i] as Segment).seq === from.seq ? from : { seq: (lane.segments[i] as Segment).seq, offset: 0 };
    for (;;) {
      const seg = lane.segments[i] as Segment;
      if (pos.offset < seg.size) return pos;
      if (++i >= lane.segments.length) return null;
      pos = { seq: (lane.segments[i] as Segment).seq, offset: 0 };
    }
  }

  hasUnread(lane: Lane): boolean {
    return this.unreadFrom(this.lanes[lane], this.lanes[lane].cursor) !== null;
  }

  /**
   * The next batch of unread records of a lane (at most maxEntries, about maxBytes), moving the read
   * cursor past it; null when there is none. A batch never spans two segments. Damaged lines are
   * skipped and counted; a batch of only damaged lines has no items but must still be committed.
   */
  async read(name: Lane, maxEntries: number, maxBytes: number): Promise<SpoolBatch | null> {
    const lane = this.lanes[name];
    for (let attempt = 0; attempt < 100; attempt++) {
      const epoch = lane.epoch;
      const start = this.unreadFrom(lane, lane.cursor);
      if (!start) return null;
      const seg = lane.segments.find((s) => s.seq === start.seq) as Segment;
      const available = seg.size - start.offset;
      let length = Math.min(available, maxBytes);
      let parsed: ReturnType<typeof parseEntries>;
      try {
        for (;;) {
          const buf = lane.tail.read(start, length) ?? await readAt(this.file(name, seg.seq), start.offset, length);
          parsed = parseEntries(buf, maxEntries);
          if (parsed.consumed > 0 || length >= available) break;
          length = Math.min(available, length * 2); // one record longer than maxBytes
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // evicted while we read
        throw err;
      }
      if (lane.epoch !== epoch) continue; // the cursor was moved under us: read again from there
      const consumed = parsed.consumed > 0 ? parsed.consumed : available; // bytes without any "\n": damaged, skip
      // Damage found at start-up is counted there; this is only for the log (a rewind reads it again).
      if (parsed.corrupt > 0 || parsed.consumed === 0) this.o.log.debug(`spool: ${segmentName(name, seg.seq)}: skipped ${Math.max(1, parsed.corrupt)} damaged records`);
      const end = { seq: seg.seq, offset: start.offset + consumed };
      lane.cursor = end;
      return { lane: name, start, end, items: parsed.entries.map((e) => ({ line: e.line, finding: name === 'finding' })) };
    }
    return null;
  }

  /** Everything read but not committed is unread again (after a failed delivery). */
  rewind(): void {
    for (const name of LANES) {
      const lane = this.lanes[name];
      lane.cursor = { ...lane.committed };
      lane.epoch++;
    }
  }

  /** The batch was delivered: its records leave the spool. Batches of a lane must be committed in read order. */
  commit(batch: SpoolRange): Promise<void> {
    return this.exclusive(async () => {
      const lane = this.lanes[batch.lane];
      if (!after(batch.end, lane.committed)) return; // its segment was dropped meanwhile
      if (batch.start.seq !== lane.committed.seq || batch.start.offset !== lane.committed.offset) {
        // Only after an eviction moved the committed position: recount from the segment's start.
        const buf = await readAt(this.file(lane.name, batch.end.seq), 0, batch.end.offset);
        const gone: Segment[] = [];
        while ((lane.segments[0]?.seq ?? Infinity) < batch.start.seq && lane.segments.length > 1) gone.push(lane.segments.shift() as Segment);
        for (const g of gone) this.totalBytes -= g.size;
        lane.committedEntries = parseEntries(buf).entries.length;
        lane.committed = { ...batch.end };
        for (const g of gone) await this.deleteSegment(lane, g.seq);
      } else {
        lane.committedEntries += batch.count;
      }
      lane.committed = { ...batch.end };
      this.counters.committed += batch.count;
      await this.dropConsumed(lane);
      this.schedulePersist();
    });
  }

  /**
   * Saves the committed positions soon. With fsync always at once (each commit durable); otherwise at
   * most every PERSIST_EVERY_MS: a position saved late only means records sent twice after a crash.
   */
  private schedulePersist(): void {
    if (this.o.fsync === 'always' || this.closing) {
      this.persistNow();
      return;
    }
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      this.persistNow();
    }, PERSIST_EVERY_MS);
    this.persistTimer.unref();
  }

  private persistNow(): void {
    if (this.persisting) {
      this.persistAgain = true;
      return;
    }
    this.persisting = (async () => {
      do {
        this.persistAgain = false;
        try {
          await this.writeState();
        } catch (err) {
          this.o.log.warn(`spool: cannot save the delivery position: ${(err as Error).message} (records may be sent twice after a restart)`);
        }
      } while (this.persistAgain);
    })().finally(() => {
      this.persisting = null;
    });
  }

  private async writeState(): Promise<void> {
    await writeState(this.o.path, { finding: this.lanes.finding.committed, telemetry: this.lanes.telemetry.committed }, this.o.fsync === 'always');
  }

  private async syncDirty(): Promise<void> {
    for (const name of LANES) {
      const lane = this.lanes[name];
      if (!lane.dirty || !lane.fh) continue;
      lane.dirty = false;
      await lane.fh.datasync();
    }
  }

  /** Writes the final state and releases the folder. The records still pending stay for the next start. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    await this.exclusive(async () => {
      this.closed = true;
      for (const name of LANES) {
        const lane = this.lanes[name];
        await this.writePending(lane);
        if (lane.dirty && this.o.fsync !== 'never') await lane.fh?.datasync();
        await lane.fh?.close();
        lane.fh = null;
      }
    });
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    while (this.persisting) await this.persisting;
    await this.writeState();
    if (this.dropLog.pending > 0) this.o.log.warn(`spool ${this.o.path}: dropped ${this.counters.droppedTelemetry} telemetry records in all because it was full`);
    await releaseLock(this.o.path);
    OPEN_IN_THIS_PROCESS.delete(path.resolve(this.o.path));
  }
}
