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

import fsp from 'node:fs/promises';
import path from 'node:path';
import { lockFile } from '../../core/file-lock';
import { ensureFolder, FLAGS, openSafe } from '../../core/safe-fs';
import type { SpoolItem } from '../delivery';
import { after, type Lane, LANES, type Position, readAt, readState, segmentName } from './files';
import { entrySize, parseEntries, scanSegment } from './format';
import { isNoSpace } from './disk-full';
import { chooseStart, readSegmentFile, scanSpoolFolder } from './recovery';
import { SpoolRoom } from './room';
import { type LaneState, OPEN_IN_THIS_PROCESS, type Segment, type SpoolBatch, type SpoolOptions, type SpoolRange } from './store';

export { type SpoolConfig, spoolSchema } from '../../config/spool';
export { listSegments, type Lane, type Position } from './files';
export { SpooledSink, type SpooledSinkDeps, type SpooledSinkStats } from './spooled-sink';
export type { FsyncPolicy, SpoolBatch, SpoolCounters, SpoolOptions, SpoolRange } from './store';

export class Spool extends SpoolRoom {
  private constructor(o: SpoolOptions) {
    super(o);
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

  protected async recover(): Promise<void> {
    const warn = (m: string) => this.o.log.warn(m);
    const state = await readState(this.o.path, warn);
    const { found, maxSeq } = await scanSpoolFolder(this.o.path, warn);
    this.nextSeq = Math.max(maxSeq, state.finding?.seq ?? 0, state.telemetry?.seq ?? 0) + 1;
    for (const name of LANES) await this.recoverLane(this.lanes[name], found[name], state[name]);
    const pending = this.pending();
    if (pending > 0) this.o.log.info(`spool ${this.o.path}: ${pending} records (${this.pending('finding')} findings) left by a previous run will be delivered`);
  }

  protected async recoverLane(lane: LaneState, seqs: number[], saved: Position | undefined): Promise<void> {
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
    const delivered = last !== undefined && last.size > 0 && lane.committed.seq === last.seq && lane.committed.offset >= last.size;
    if (!last || last.size >= this.o.segmentBytes || delivered) await this.rotate(lane); // a delivered segment goes now, not when the next one fills
    else lane.fh = await openSafe(this.file(lane.name, last.seq), FLAGS.append, 0o600, 'a spool segment');
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

  /** The first unread position at or after `from`, or null when the lane is read to its end. */
  protected unreadFrom(lane: LaneState, from: Position): Position | null {
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
      // not only when its segment fills up: at most half a segment of delivered records stays per lane
      // (not less: each reclaim is a new file, and the spool must keep up with tens of thousands of events/s).
      const active = lane.segments.at(-1) as Segment;
      if (this.diskFull.active || active.size >= this.o.segmentBytes / 2) await this.reclaimDelivered();
      if (this.diskFull.active) await this.diskFull.checkRoom(true);
      this.schedulePersist();
    });
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
    this.diskFull.closing();
    this.lock?.release();
    this.lock = null;
    OPEN_IN_THIS_PROCESS.delete(path.resolve(this.o.path));
  }
}
