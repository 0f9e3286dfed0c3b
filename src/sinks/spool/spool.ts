/**
 * The spool: a durable on-disk queue between the analyzer and a network sink (see SpooledSink).
 *
 * Layout of `spool.path` (created 0700; records can hold command lines):
 *   finding-<seq>.seg, telemetry-<seq>.seg   append-only segments, one entry per line (spool-format.ts)
 *   state.json                               the committed position of each lane, replaced atomically
 *                                            (write state.json.tmp, then rename over state.json)
 *   lock                                     held with flock(2) by the agent using the spool (the kernel
 *                                            drops it when the process ends: no stale lock after a crash)
 *
 * Two lanes, findings and telemetry, so that a full spool can drop the oldest telemetry - a whole
 * segment at a time - without touching a finding, and so findings are delivered first after an
 * outage. A record leaves the spool only when commit() is called for it, after the network sink
 * confirmed it; everything after the committed position is sent again after a restart, so delivery
 * is at-least-once and duplicates carry the same product_log_id.
 *
 * Crash safety: state.json is never partly written (rename is atomic); a segment's torn tail (a
 * write cut by kill -9, a power loss) fails its checksum and is cut off at start-up. Start-up never
 * deletes a segment because state.json says it was delivered: a segment older than the saved position
 * (a crash between saving and unlinking, or a wrong state.json) is delivered again - duplicates, never
 * a loss - and the log says so. Odd files under segment names are skipped (recovery.ts).
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
import { type HeldLock, lockFile } from '../../core/file-lock';
import { ensureFolder, FLAGS, openSafe } from '../../core/safe-fs';
import type { Logger } from '../../core/logger';
import type { SpoolConfig } from '../../config/spool';
import type { SpooledLine, SpoolItem } from '../delivery';
import {
  after, type Lane, LANES, type Position, readAt, readState, segmentName, syncFolder, TailCache, writeAll, writeState,
} from './files';
import { encodeEntryInto, entrySize, parseEntries, scanSegment } from './format';
import { DiskFullEpisode, isNoSpace } from './disk-full';
import { chooseStart, readSegmentFile, scanSpoolFolder } from './recovery';

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
  /** Findings' own budget (at most maxBytes): over it the oldest findings go. Default maxBytes. */
  maxFindingBytes?: number | undefined;
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
  /** Telemetry dropped because the spool or the disk was full, since it was opened. */
  droppedTelemetry: number;
  /** Findings dropped: over maxFindingBytes (the oldest), or no room left on the disk (new ones). */
  droppedFindings: number;
  /** Times the disk was full (ENOSPC/EDQUOT episodes). */
  diskFullEpisodes: number;
  /** Records found at start-up behind a saved position that could not be trusted, delivered again. */
  redelivered: number;
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
/** Delivered records kept on disk per lane before their segment is rotated away (see commit()). */
const RECLAIM_BYTES = 64 * 1024;

export class Spool {
  readonly counters: SpoolCounters = { spooled: 0, committed: 0, appendedBytes: 0, droppedTelemetry: 0, droppedFindings: 0, diskFullEpisodes: 0, redelivered: 0, corruptLines: 0, tornBytes: 0 };
  private readonly lanes: Record<Lane, LaneState>;
  private totalBytes = 0;
  private nextSeq = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private persisting: Promise<void> | null = null;
  private persistAgain = false;
  private persistTimer: NodeJS.Timeout | null = null;
  private fsyncTimer: NodeJS.Timeout | null = null;
  private dropLog = { pending: 0, at: 0 };
  private findingCapLog = { pending: 0, at: 0 };
  private readonly diskFull: DiskFullEpisode;
  private closed = false;
  private closing = false;
  private lock: HeldLock | null = null;

  private constructor(private readonly o: SpoolOptions) {
    const empty = (name: Lane): LaneState => ({
      name, segments: [], committed: { seq: 0, offset: 0 }, committedEntries: 0, cursor: { seq: 0, offset: 0 }, epoch: 0, fh: null, dirty: false, pending: [], pendingBytes: 0, tail: new TailCache(TAIL_CACHE_BYTES),
    });
    this.lanes = { finding: empty('finding'), telemetry: empty('telemetry') };
    this.diskFull = new DiskFullEpisode(o.path, o.log);
  }

  private get findingCap(): number {
    return Math.min(this.o.maxFindingBytes ?? this.o.maxBytes, this.o.maxBytes);
  }

  /** Opens (or creates) the spool at o.path, recovering what a previous run left there. */
  static async open(o: SpoolOptions): Promise<Spool> {
    const spool = new Spool({ ...o, segmentBytes: Math.max(4096, Math.min(o.segmentBytes, Math.floor(o.maxBytes / 8))) });
    const key = path.resolve(o.path);
    if (OPEN_IN_THIS_PROCESS.has(key)) throw new Error(`spool ${o.path} is already open in this process`);
    ensureFolder(o.path, 0o700, 'the spool');
    OPEN_IN_THIS_PROCESS.add(key);
    try {
      spool.lock = lockFile(path.join(o.path, 'lock'), `spool ${o.path}`);
      if (!spool.lock.held) o.log.warn(`spool ${o.path}: not locked (no flock on ${process.platform}): make sure only one agent uses this folder`);
      await spool.recover();
    } catch (err) {
      spool.lock?.release();
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
    const warn = (m: string) => this.o.log.warn(m);
    const state = await readState(this.o.path, warn);
    const { found, maxSeq } = await scanSpoolFolder(this.o.path, warn);
    this.nextSeq = Math.max(maxSeq, state.finding?.seq ?? 0, state.telemetry?.seq ?? 0) + 1;
    for (const name of LANES) await this.recoverLane(this.lanes[name], found[name], state[name]);
    const pending = this.pending();
    if (pending > 0) this.o.log.info(`spool ${this.o.path}: ${pending} records (${this.pending('finding')} findings) left by a previous run will be delivered`);
  }

  private async recoverLane(lane: LaneState, seqs: number[], saved: Position | undefined): Promise<void> {
    const warn = (m: string) => this.o.log.warn(m);
    const segments: { seq: number; buf: Buffer }[] = [];
    for (const seq of seqs) {
      const buf = await readSegmentFile(this.o.path, segmentName(lane.name, seq), warn);
      if (buf) segments.push({ seq, buf });
    }
    const { committed, distrust } = chooseStart(segments.map((x) => x.seq), saved);
    let offsetPastEnd = false;
    for (const { seq, buf } of segments) {
      const file = this.file(lane.name, seq);
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
      if (seq === committed.seq) {
        offsetPastEnd = committed.offset > scan.validEnd;
        lane.committedEntries = offsetPastEnd ? 0 : scan.entriesBefore;
      }
    }
    const first = lane.segments[0];
    lane.committed = first ? { seq: first.seq, offset: first.seq === committed.seq && !offsetPastEnd ? committed.offset : 0 } : { seq: 0, offset: 0 };
    if (!first || first.seq !== committed.seq) lane.committedEntries = 0;
    const why = distrust ?? (offsetPastEnd && first ? `state.json says delivery reached segment ${committed.seq} offset ${committed.offset}, past its end (${first.size} bytes)` : null);
    if (why) {
      this.counters.redelivered += this.pending(lane.name);
      this.o.log.warn(`spool ${this.o.path}: ${lane.name} lane: ${why}; nothing is deleted on its word: ${this.pending(lane.name)} records from segment ${first?.seq} on will be delivered again (duplicates possible, none lost)`);
    }
    lane.cursor = { ...lane.committed };
    const last = lane.segments.at(-1);
    if (!last || last.size >= this.o.segmentBytes) await this.rotate(lane);
    else lane.fh = await openSafe(this.file(lane.name, last.seq), FLAGS.append, 0o600, 'a spool segment');
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

  /**
   * Appends records (findings and telemetry to their lanes), making room first when over maxBytes
   * or the findings' own budget. A full disk is handled here, not thrown (flushLane).
   */
  append(items: SpoolItem[]): Promise<{ accepted: number; dropped: number }> {
    return this.exclusive(async () => {
      if (this.closed) throw new Error(`spool ${this.o.path}: append after close`);
      let accepted = 0;
      let dropped = 0;
      for (const item of items) {
        const lane = this.lanes[item.finding ? 'finding' : 'telemetry'];
        const bytes = Buffer.byteLength(item.json, 'utf8');
        const size = entrySize(bytes);
        if (!(await this.makeRoom(size, item.finding))) {
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
        const wrote = await this.flushLane(lane);
        if (wrote > 0 && this.o.fsync === 'always') await lane.fh?.datasync();
      }
      const lost = this.lostToDisk; // accepted, then lost to a full disk (counted in dropPending)
      this.lostToDisk = 0;
      this.counters.spooled += accepted - lost;
      this.counters.droppedTelemetry += dropped;
      if (dropped > 0) this.noteDropped(dropped);
      if (this.diskFull.active) await this.diskFull.checkRoom(false);
      return { accepted: accepted - lost, dropped: dropped + lost };
    });
  }

  /** Records accepted by the current append() that a full disk then cost (they are counted as dropped). */
  private lostToDisk = 0;

  /**
   * Writes a lane's pending records. On a full disk: makes room (telemetry first, delivered
   * segments) and tries again; when nothing more can go, the pending records are dropped and
   * counted - new telemetry first, findings only when no telemetry is left. Returns records written.
   */
  private async flushLane(lane: LaneState): Promise<number> {
    for (;;) {
      const n = lane.pending.length;
      try {
        await this.writePending(lane);
        return n;
      } catch (err) {
        if (!isNoSpace(err)) throw err;
        this.diskFull.hit(err, `${lane.name} records`);
        this.counters.diskFullEpisodes = this.diskFull.episodes;
        if (await this.freeSpace(lane)) continue;
        this.dropPending(lane);
        return 0;
      }
    }
  }

  private dropPending(lane: LaneState): void {
    const n = lane.pending.length;
    if (n === 0) return;
    lane.pending = [];
    lane.pendingBytes = 0;
    this.lostToDisk += n;
    this.diskFull.dropped(lane.name === 'finding', n);
    if (lane.name === 'finding') this.counters.droppedFindings += n;
    else this.counters.droppedTelemetry += n;
  }

  /**
   * Frees disk space for `forLane`: new telemetry waiting to be written goes first (when findings
   * need the room), then delivered segments, then the oldest telemetry segment. False when nothing
   * more can be freed.
   */
  private async freeSpace(forLane: LaneState): Promise<boolean> {
    const tel = this.lanes.telemetry;
    if (forLane.name === 'finding' && tel.pending.length > 0) this.dropPending(tel);
    if (await this.reclaimDelivered()) return true;
    if (tel.segments.length > 1) {
      await this.evict(tel, tel.segments[0] as Segment);
      return true;
    }
    const active = tel.segments[0] as Segment;
    if (active.size > 0 && tel.pending.length === 0 && forLane !== tel) {
      if (!(await this.tryRotate(tel))) return false;
      if (tel.segments.length > 1) await this.evict(tel, tel.segments[0] as Segment);
      return true;
    }
    if (forLane === tel && active.size > 0) {
      // Writing telemetry into its only segment: the older records in it make way for the new ones.
      if (!(await this.tryRotate(tel))) return false;
      if (tel.segments.length > 1) await this.evict(tel, tel.segments[0] as Segment);
      return true;
    }
    return false;
  }

  /** Deletes what was delivered but is still on disk (an active segment read and committed to its end). */
  private async reclaimDelivered(): Promise<boolean> {
    let freed = false;
    for (const name of LANES) {
      const lane = this.lanes[name];
      const active = lane.segments.at(-1) as Segment;
      if (lane.segments.length !== 1 || active.size === 0 || lane.committed.offset < active.size) continue;
      freed = (await this.tryRotate(lane)) || freed;
    }
    return freed;
  }

  /**
   * rotate() for making room: the records waiting to be written stay waiting (they go into the new
   * segment, not the old one), and a full disk (no room even for a new empty file) is false.
   */
  private async tryRotate(lane: LaneState): Promise<boolean> {
    const { pending, pendingBytes } = lane;
    lane.pending = [];
    lane.pendingBytes = 0;
    try {
      await this.rotate(lane);
      return true;
    } catch (err) {
      if (isNoSpace(err)) return false;
      throw err;
    } finally {
      lane.pending = [...pending, ...lane.pending];
      lane.pendingBytes += pendingBytes;
    }
  }

  private async writePending(lane: LaneState): Promise<boolean> {
    if (lane.pending.length === 0) return false;
    // One buffer and one write for the whole batch: no per-record allocation or copy.
    const buf = Buffer.allocUnsafe(lane.pendingBytes);
    let offset = 0;
    for (const p of lane.pending) offset = encodeEntryInto(buf, offset, p.json, p.bytes);
    const entries = lane.pending.length;
    const active = lane.segments.at(-1) as Segment;
    try {
      await writeAll(lane.fh as FileHandle, buf);
    } catch (err) {
      // Disk full or I/O error: cut what part of the batch got written, so offsets stay true. The
      // records stay pending: the caller makes room and tries again, or drops and counts them.
      await lane.fh?.truncate(active.size).catch(() => undefined);
      throw err;
    }
    lane.pending = [];
    lane.pendingBytes = 0;
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
    await this.flushLane(lane);
    // The new segment is opened first: if that fails (a full disk), the lane keeps writing to the old one.
    const seq = this.nextSeq++;
    const fh = await openSafe(this.file(lane.name, seq), FLAGS.createExclusiveAppend, 0o600, 'a spool segment');
    if (lane.fh) {
      if (lane.dirty && this.o.fsync !== 'never') await lane.fh.datasync().catch(() => undefined);
      await lane.fh.close();
    }
    lane.fh = fh;
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
   * Room for `bytes` more within the budgets. Findings first make room among themselves under
   * maxFindingBytes (the oldest findings go: a flood of findings cannot take the whole disk);
   * then the oldest telemetry goes while over maxBytes. False when the record is telemetry and
   * only findings are left (the new telemetry record is dropped).
   */
  private async makeRoom(bytes: number, finding: boolean): Promise<boolean> {
    const tel = this.lanes.telemetry;
    const fin = this.lanes.finding;
    const laneBytes = (l: LaneState) => l.segments.reduce((n, x) => n + x.size, 0) + l.pendingBytes;
    if (finding) {
      while (laneBytes(fin) + bytes > this.findingCap) {
        if (fin.segments.length === 1) {
          if ((fin.segments[0] as Segment).size === 0) break; // pending records alone: written, then judged again
          await this.rotate(fin);
          if (fin.segments.length === 1) break;
        }
        await this.evict(fin, fin.segments[0] as Segment);
      }
    }
    const used = () => this.totalBytes + fin.pendingBytes + tel.pendingBytes;
    while (used() + bytes > this.o.maxBytes) {
      if (tel.segments.length > 1) {
        await this.evict(tel, tel.segments[0] as Segment);
        continue;
      }
      if ((tel.segments[0] as Segment).size + tel.pendingBytes > 0) {
        await this.rotate(tel); // the old segment goes at once if it was delivered, else it is evicted
        if (tel.segments.length > 1) await this.evict(tel, tel.segments[0] as Segment);
        continue;
      }
      const f = fin.segments[0] as Segment;
      if (fin.segments.length === 1 && f.size > 0 && fin.committed.offset >= f.size && fin.pendingBytes === 0) {
        await this.rotate(fin); // delivered findings still on disk: free them
        continue;
      }
      return finding; // only findings left, within their own budget
    }
    return true;
  }

  /** Deletes the oldest segment of a lane (never the active one) and counts its undelivered records. */
  private async evict(lane: LaneState, seg: Segment): Promise<void> {
    const lost = seg.entries - (seg.seq === lane.committed.seq ? lane.committedEntries : 0);
    // The in-memory state changes in one step, before any await: pending() is never seen half-updated.
    lane.segments.shift();
    this.totalBytes -= seg.size;
    const next = lane.segments[0] as Segment;
    lane.committed = { seq: next.seq, offset: 0 };
    lane.committedEntries = 0;
    if (!after(lane.cursor, lane.committed)) lane.cursor = { ...lane.committed };
    lane.epoch++;
    if (lane.name === 'finding') {
      this.counters.droppedFindings += lost;
      this.noteFindingsDropped(lost);
    } else {
      this.counters.droppedTelemetry += lost;
      if (this.diskFull.active) this.diskFull.evicted(lost);
      else this.noteDropped(lost);
    }
    this.schedulePersist();
    await this.deleteSegment(lane, seg.seq);
  }

  private noteFindingsDropped(n: number): void {
    this.findingCapLog.pending += n;
    const now = Date.now();
    if (now - this.findingCapLog.at < DROP_LOG_MS) return;
    this.o.log.error(`spool ${this.o.path}: findings over their budget (maxFindingBytes ${this.findingCap}): dropped ${this.findingCapLog.pending} of the oldest findings (${this.counters.droppedFindings} since start); the collector has been unreachable too long, or something floods findings`);
    this.findingCapLog = { pending: 0, at: now };
  }

  private noteDropped(n: number): void {
    this.dropLog.pending += n;
    const now = Date.now();
    if (now - this.dropLog.at < DROP_LOG_MS) return;
    this.o.log.warn(`spool ${this.o.path} full (maxBytes ${this.o.maxBytes}): dropped ${this.dropLog.pending} of the oldest telemetry records (${this.counters.droppedTelemetry} since start); findings go only over their own budget (maxFindingBytes)`);
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
      // What was delivered leaves the disk soon (at once on a full disk: delivery is what frees it),
      // not only when its segment fills up: at most RECLAIM_BYTES of delivered records stay per lane.
      const active = lane.segments.at(-1) as Segment;
      if (this.diskFull.active || active.size >= Math.min(RECLAIM_BYTES, this.o.segmentBytes)) await this.reclaimDelivered();
      if (this.diskFull.active) await this.diskFull.checkRoom(true);
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
          if (isNoSpace(err)) this.diskFull.hit(err, 'state.json'); // one line per episode, not one per save
          else this.o.log.warn(`spool: cannot save the delivery position: ${(err as Error).message} (records may be sent twice after a restart)`);
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
        await this.flushLane(lane);
        if (lane.dirty && this.o.fsync !== 'never') await lane.fh?.datasync();
        await lane.fh?.close();
        lane.fh = null;
      }
    });
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    while (this.persisting) await this.persisting;
    try {
      await this.writeState();
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      this.o.log.warn(`spool ${this.o.path}: the disk is full: the delivery position could not be saved at close (records delivered since the last save are sent again after the next start)`);
    }
    if (this.dropLog.pending > 0) this.o.log.warn(`spool ${this.o.path}: dropped ${this.counters.droppedTelemetry} telemetry records in all because it was full`);
    this.lock?.release();
    this.lock = null;
    OPEN_IN_THIS_PROCESS.delete(path.resolve(this.o.path));
  }
}
