/**
 * A full disk under the spool, as one episode: it starts at the first ENOSPC (or EDQUOT), is
 * logged once with what the spool does about it, counts what it cost, and ends - logged once with
 * the counts - when the file system has room again (statfs). Writes in between are not logged one
 * by one: a full disk must not also flood the agent's log.
 */
import fsp from 'node:fs/promises';
import type { Logger } from '../../core/logger';

/** The errors that mean "no room": a full file system or a user's quota. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Room again: at least this share of the file system, or 1 MiB, free. */
/** Without delivery, an episode ends only after this long without a new ENOSPC: room the spool made by dropping its own telemetry is not "room again". */
const QUIET_MS = 60_000;
const ROOM_SHARE = 0.25;
const ROOM_BYTES = 1024 * 1024;

export class DiskFullEpisode {
  private since: number | null = null;
  private lastHit = 0;
  private droppedFindings = 0;
  private droppedTelemetry = 0;
  private evictedTelemetry = 0;
  /** Episodes since the spool was opened. */
  episodes = 0;

  constructor(private readonly folder: string, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  get active(): boolean {
    return this.since !== null;
  }

  /** A write failed for lack of room: starts the episode (logged once). */
  hit(err: unknown, what: string): void {
    this.lastHit = this.now();
    if (this.since !== null) return;
    this.since = this.now();
    this.episodes++;
    this.log.warn(`spool ${this.folder}: the disk is full (${(err as NodeJS.ErrnoException).code ?? 'ENOSPC'} writing ${what}): dropping the oldest telemetry first, then new telemetry; findings are kept while they fit. One line when it has room again`);
  }

  dropped(finding: boolean, n: number): void {
    if (finding) this.droppedFindings += n;
    else this.droppedTelemetry += n;
  }

  evicted(n: number): void {
    this.evictedTelemetry += n;
  }

  /**
   * Ends the episode when the file system has room again; false while it is still full. `delivered`:
   * called after a delivery freed space; otherwise only after QUIET_MS without a new ENOSPC.
   */
  async checkRoom(delivered: boolean): Promise<boolean> {
    if (this.since === null) return true;
    if (!delivered && this.now() - this.lastHit < QUIET_MS) return false;
    try {
      const s = await fsp.statfs(this.folder);
      const free = s.bavail * s.bsize;
      if (free < Math.min(ROOM_BYTES, s.blocks * s.bsize * ROOM_SHARE)) return false;
    } catch {
      return false;
    }
    const seconds = Math.round((this.now() - this.since) / 1000);
    this.log.info(`spool ${this.folder}: the disk has room again after ${seconds} s; dropped ${this.droppedFindings} findings and ${this.droppedTelemetry + this.evictedTelemetry} telemetry records while it was full (${this.evictedTelemetry} of them already spooled)`);
    this.since = null;
    this.droppedFindings = 0;
    this.droppedTelemetry = 0;
    this.evictedTelemetry = 0;
    return true;
  }
}
