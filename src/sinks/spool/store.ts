/**
 * The spool's state and its file-level operations: the two lanes and their segments, appending a
 * lane's waiting records, switching to a new segment, deleting delivered ones, saving the committed
 * positions. The budget and full-disk policy is in room.ts, start-up, reading and committing in
 * spool.ts (the classes build on each other: SpoolStore <- SpoolRoom <- Spool).
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { HeldLock } from '../../core/file-lock';
import { FLAGS, openSafe } from '../../core/safe-fs';
import type { Logger } from '../../core/logger';
import type { SpoolConfig } from '../../config/spool';
import type { SpooledLine } from '../delivery';
import { after, type Lane, LANES, type Position, segmentName, syncFolder, TailCache, writeAll, writeState } from './files';
import { encodeEntryInto } from './format';
import { DiskFullEpisode, isNoSpace } from './disk-full';

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

export interface Segment { seq: number; size: number; entries: number }

export interface LaneState {
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

export const DROP_LOG_MS = 60_000;
/** Recently written bytes kept in memory per lane. */
const TAIL_CACHE_BYTES = 8 * 1024 * 1024;
export const OPEN_IN_THIS_PROCESS = new Set<string>();
const PERSIST_EVERY_MS = 100;

export abstract class SpoolStore {
  readonly counters: SpoolCounters = { spooled: 0, committed: 0, appendedBytes: 0, droppedTelemetry: 0, droppedFindings: 0, diskFullEpisodes: 0, redelivered: 0, corruptLines: 0, tornBytes: 0 };
  protected readonly lanes: Record<Lane, LaneState>;
  protected totalBytes = 0;
  protected nextSeq = 1;
  protected chain: Promise<unknown> = Promise.resolve();
  protected persisting: Promise<void> | null = null;
  protected persistAgain = false;
  protected persistTimer: NodeJS.Timeout | null = null;
  protected fsyncTimer: NodeJS.Timeout | null = null;
  protected dropLog = { pending: 0, at: 0 };
  protected findingCapLog = { pending: 0, at: 0 };
  protected readonly diskFull: DiskFullEpisode;
  protected closed = false;
  protected closing = false;
  protected lock: HeldLock | null = null;

  constructor(protected readonly o: SpoolOptions) {
    const empty = (name: Lane): LaneState => ({
      name, segments: [], committed: { seq: 0, offset: 0 }, committedEntries: 0, cursor: { seq: 0, offset: 0 }, epoch: 0, fh: null, dirty: false, pending: [], pendingBytes: 0, tail: new TailCache(TAIL_CACHE_BYTES),
    });
    this.lanes = { finding: empty('finding'), telemetry: empty('telemetry') };
    this.diskFull = new DiskFullEpisode(o.path, o.log);
  }

  protected get findingCap(): number {
    return Math.min(this.o.maxFindingBytes ?? this.o.maxBytes, this.o.maxBytes);
  }

  protected file(lane: Lane, seq: number): string {
    return path.join(this.o.path, segmentName(lane, seq));
  }

  /** Serialises everything that changes the segment lists (append, commit, eviction, fsync, close). */
  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every change queued so far (a commit's segment deletions included) has finished. */
  settled(): Promise<void> {
    return this.exclusive(async () => undefined);
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

  protected async writePending(lane: LaneState): Promise<boolean> {
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

  protected async deleteSegment(lane: LaneState, seq: number): Promise<void> {
    lane.tail.dropBefore(seq + 1);
    await fsp.rm(this.file(lane.name, seq), { force: true });
  }

  /** Starts a new active segment in the lane. */
  protected async rotate(lane: LaneState): Promise<void> {
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

  /** Deletes segments that are fully committed and no longer active. */
  protected async dropConsumed(lane: LaneState): Promise<void> {
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

  /**
   * Saves the committed positions soon. With fsync always at once (each commit durable); otherwise at
   * most every PERSIST_EVERY_MS: a position saved late only means records sent twice after a crash.
   */
  protected schedulePersist(): void {
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

  protected persistNow(): void {
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

  protected async writeState(): Promise<void> {
    await writeState(this.o.path, { finding: this.lanes.finding.committed, telemetry: this.lanes.telemetry.committed }, this.o.fsync === 'always');
  }

  protected async syncDirty(): Promise<void> {
    for (const name of LANES) {
      const lane = this.lanes[name];
      if (!lane.dirty || !lane.fh) continue;
      lane.dirty = false;
      await lane.fh.datasync();
    }
  }

  /** Writes a lane's waiting records, handling a full disk (room.ts). */
  protected abstract flushLane(lane: LaneState): Promise<number>;
}
