/**
 * The spool's budgets and a full disk: findings within maxFindingBytes (the oldest go), the whole
 * spool within maxBytes (the oldest telemetry goes first), and on ENOSPC: delivered records still
 * on disk, then the oldest telemetry, then new telemetry; findings are dropped only when nothing
 * else is left. Every drop is counted and logged once per minute or once per full-disk episode.
 */
import { after, LANES } from './files';
import { isNoSpace } from './disk-full';
import { DROP_LOG_MS, type LaneState, type Segment, SpoolStore } from './store';

export abstract class SpoolRoom extends SpoolStore {
  /** Records accepted by the current append() that a full disk then cost (they are counted as dropped). */
  protected lostToDisk = 0;

  /**
   * Writes a lane's pending records. On a full disk: makes room (freeSpace) and tries again; when
   * nothing more can go, the pending records are dropped and counted - findings only when no
   * telemetry is left. Returns records written.
   */
  protected async flushLane(lane: LaneState): Promise<number> {
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

  protected dropPending(lane: LaneState): void {
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
   * Frees disk space for `forLane`: delivered records still on disk go first, then the oldest
   * telemetry segment, then new telemetry waiting to be written (when findings need the room), then
   * the telemetry of the active segment. False when nothing more can be freed.
   */
  protected async freeSpace(forLane: LaneState): Promise<boolean> {
    const tel = this.lanes.telemetry;
    if (await this.reclaimDelivered()) return true;
    if (tel.segments.length > 1) {
      await this.evict(tel, tel.segments[0] as Segment);
      return true;
    }
    if (forLane.name === 'finding' && tel.pending.length > 0) this.dropPending(tel);
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
  protected async reclaimDelivered(): Promise<boolean> {
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
  protected async tryRotate(lane: LaneState): Promise<boolean> {
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

  /**
   * Room for `bytes` more within the budgets. Findings first make room among themselves under
   * maxFindingBytes (the oldest findings go: a flood of findings cannot take the whole disk);
   * then the oldest telemetry goes while over maxBytes. False when the record is telemetry and
   * only findings are left (the new telemetry record is dropped).
   */
  protected async makeRoom(bytes: number, finding: boolean): Promise<boolean> {
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
  protected async evict(lane: LaneState, seg: Segment): Promise<void> {
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

  protected noteFindingsDropped(n: number): void {
    this.findingCapLog.pending += n;
    const now = Date.now();
    if (now - this.findingCapLog.at < DROP_LOG_MS) return;
    this.o.log.error(`spool ${this.o.path}: findings over their budget (maxFindingBytes ${this.findingCap}): dropped ${this.findingCapLog.pending} of the oldest findings (${this.counters.droppedFindings} since start); the collector has been unreachable too long, or something floods findings`);
    this.findingCapLog = { pending: 0, at: now };
  }

  protected noteDropped(n: number): void {
    this.dropLog.pending += n;
    const now = Date.now();
    if (now - this.dropLog.at < DROP_LOG_MS) return;
    this.o.log.warn(`spool ${this.o.path} full (maxBytes ${this.o.maxBytes}): dropped ${this.dropLog.pending} of the oldest telemetry records (${this.counters.droppedTelemetry} since start); findings go only over their own budget (maxFindingBytes)`);
    this.dropLog = { pending: 0, at: now };
  }
}
