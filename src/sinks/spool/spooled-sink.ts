/**
 * SpooledSink: puts the spool in front of any network sink. write() returns once the records are
 * in the spool (on disk, fsynced per spool.fsync); a background loop reads batches - findings
 * first - sends them through the inner sink, and commits a batch only when the inner sink's write
 * resolved (for the forwarder: written to the socket, then the connection stayed healthy for
 * ackGrace). Up to maxInFlight batches are on the way at once; they are committed in order. When
 * one fails, the loop lets the others settle, rewinds to the committed position and tries again
 * after a backoff, so a batch that did arrive may arrive twice: delivery is at-least-once, and
 * each record's stable id (UDM metadata.product_log_id) lets the SIEM side drop the duplicates.
 */
import type { OutRecord, Sink } from '../../core/sink';
import { toJsonLine } from '../../format/jsonline';
import type { Logger } from '../../core/logger';
import { Backoff, sleepUnlessAborted } from '../backoff';
import { contentRejected, defaultIdOf, defaultIsFinding, fastJsonLine, hasRetryHint, isJsonLineSink, type SpooledLine, type SpoolItem } from '../delivery';
import { Spool, type SpoolBatch, type SpoolConfig, type SpoolRange } from './spool';

export interface SpooledSinkDeps {
  log: Logger;
  /** Findings are never dropped when the spool is full. Default: defaultIsFinding (security_result, OCSF 2004). */
  isFinding?: (record: OutRecord) => boolean;
  /** The record's stable id, to count records that lack one. Default: defaultIdOf (metadata.product_log_id, ...). */
  idOf?: (record: OutRecord) => string | undefined;
  serialize?: (record: OutRecord) => string;
  random?: () => number;
}

export interface SpooledSinkStats {
  /** Records written into the spool since start. */
  spooled: number;
  /** Records confirmed by the inner sink and removed from the spool since start. */
  delivered: number;
  /** Telemetry dropped because the spool or the disk was full. */
  dropped: number;
  /** Findings dropped: the oldest over spool.maxFindingBytes, or new ones with no room left on the disk. */
  droppedFindings: number;
  /** Times the spool's disk was full (ENOSPC episodes) since start. */
  diskFullEpisodes: number;
  /** Bytes of the spool on disk now. */
  bytes: number;
  /** Records waiting in the spool now, and how many of them are findings. */
  pending: number;
  pendingFindings: number;
  /** Failed delivery attempts since start; the last error. */
  deliveryFailures: number;
  lastError: string | null;
  lastDeliveryAt: string | null;
  /** Records that had no stable id (duplicates of those cannot be removed downstream). */
  withoutId: number;
  /** Records the sink refused for their content (HTTP 400/413/422), dropped after isolating them. */
  rejected: number;
  /** Damaged spool lines skipped. */
  corrupt: number;
}

interface InFlight {
  range: SpoolRange; // the records themselves are not kept: after a failure they are read again
  done: Promise<Error | null>;
}

type DeliveryOptions = Pick<SpoolConfig, 'batchSize' | 'batchBytes' | 'maxInFlight' | 'retry' | 'drainTimeout'>;

export class SpooledSink implements Sink {
  readonly name: string;
  private readonly abort = new AbortController();
  private readonly backoff: Backoff;
  private loop: Promise<void> = Promise.resolve();
  private waiter: { promise: Promise<void>; resolve: () => void } | null = null;
  private woken = false;
  private failures = 0;
  private lastError: string | null = null;
  private lastDeliveryAt: string | null = null;
  private withoutId = 0;
  private rejected = 0;
  private failing = false;

  constructor(readonly spool: Spool, readonly inner: Sink, readonly options: DeliveryOptions, private readonly deps: SpooledSinkDeps) {
    this.name = `spool(${inner.name})`;
    this.backoff = new Backoff({ initialMs: options.retry.initialDelay, maxMs: options.retry.maxDelay, ...(deps.random ? { random: deps.random } : {}) });
  }

  /** Opens the spool at config.path (recovering a previous run's records) and starts delivering. */
  static async open(config: SpoolConfig, inner: Sink, deps: SpooledSinkDeps): Promise<SpooledSink> {
    const spool = await Spool.open({
      path: config.path, maxBytes: config.maxBytes, maxFindingBytes: config.maxFindingBytes ?? undefined, segmentBytes: config.segmentBytes, fsync: config.fsync, fsyncIntervalMs: config.fsyncInterval, log: deps.log,
    });
    const sink = new SpooledSink(spool, inner, config, deps);
    sink.start();
    return sink;
  }

  start(): void {
    this.loop = this.run().catch((err: Error) => {
      this.lastError = `delivery loop stopped: ${err.message}`;
      this.deps.log.error(`${this.name}: ${this.lastError}`);
    });
  }

  async write(records: OutRecord[]): Promise<void> {
    const isFinding = this.deps.isFinding ?? defaultIsFinding;
    const idOf = this.deps.idOf ?? defaultIdOf;
    const serialize = this.deps.serialize ?? ((r: OutRecord) => fastJsonLine(r, toJsonLine));
    const items: SpoolItem[] = records.map((r) => {
      if (idOf(r) === undefined && this.withoutId++ === 0) this.deps.log.warn(`${this.name}: a record has no stable id: duplicates after a retry cannot be removed downstream`);
      return { json: serialize(r), finding: isFinding(r) };
    });
    await this.spool.append(items);
    this.wake();
  }

  /** Waits until the spool is empty, at most drainTimeout; what is left is delivered after the next start. */
  async flush(): Promise<void> {
    const deadline = Date.now() + this.options.drainTimeout;
    while (this.spool.pending() > 0 && Date.now() < deadline && !this.abort.signal.aborted) {
      await sleepUnlessAborted(20, this.abort.signal);
    }
    // pending() drops as a commit counts its records; its delivered segments are deleted a moment later.
    await this.spool.settled();
    await this.inner.flush();
  }

  async close(): Promise<void> {
    if (!this.abort.signal.aborted) this.abort.abort();
    this.wake();
    await this.loop;
    const left = this.spool.pending();
    if (left > 0) this.deps.log.info(`${this.name}: ${left} records stay in the spool and are sent after the next start`);
    await this.spool.close();
    await this.inner.close();
  }

  stats(): SpooledSinkStats {
    const c = this.spool.counters;
    return {
      spooled: c.spooled, delivered: c.committed - this.rejected, dropped: c.droppedTelemetry, droppedFindings: c.droppedFindings, diskFullEpisodes: c.diskFullEpisodes, bytes: this.spool.bytes, pending: this.spool.pending(),
      pendingFindings: this.spool.pending('finding'), deliveryFailures: this.failures, lastError: this.lastError, lastDeliveryAt: this.lastDeliveryAt,
      withoutId: this.withoutId, rejected: this.rejected, corrupt: c.corruptLines,
    };
  }

  /** New records, or shutdown: the loop looks for work again. */
  private wake(): void {
    this.woken = true;
    const w = this.waiter;
    this.waiter = null;
    w?.resolve();
  }

  /** Resolves at the next wake() (at once if one came since the last read). Shared by every waiter. */
  private woken$(): Promise<void> {
    if (this.woken || this.abort.signal.aborted) return Promise.resolve();
    if (!this.waiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.waiter = { promise, resolve };
    }
    return this.waiter.promise;
  }

  private async deliver(batch: SpoolBatch): Promise<Error | null> {
    if (batch.items.length === 0) return null; // only damaged lines: nothing to send, still committed
    return this.deliverItems(batch.items);
  }

  /**
   * Sends items; when the sink refuses their content (contentRejected), halves the batch until the
   * refused records are found alone, drops those (logged, counted) and delivers the rest, so one
   * bad record cannot block the spool forever. Any other error fails the whole batch (retried).
   */
  private async deliverItems(items: SpooledLine[]): Promise<Error | null> {
    try {
      if (isJsonLineSink(this.inner)) await this.inner.writeJsonLines(items);
      else await this.inner.write(items.map((i) => JSON.parse(i.line.toString('utf8')) as OutRecord));
      return null;
    } catch (caught) {
      const err = caught instanceof Error ? caught : new Error(String(caught));
      if (!contentRejected(err)) return err;
      if (items.length === 1) {
        this.rejected++;
        this.deps.log.error(`${this.name}: a record was refused and is dropped (sending it again cannot succeed): ${err.message}`);
        return null;
      }
      const half = Math.ceil(items.length / 2);
      return (await this.deliverItems(items.slice(0, half))) ?? this.deliverItems(items.slice(half));
    }
  }

  /** The next batch, findings first. */
  private async nextBatch(): Promise<SpoolBatch | null> {
    this.woken = false;
    for (const lane of ['finding', 'telemetry'] as const) {
      if (!this.spool.hasUnread(lane)) continue;
      const batch = await this.spool.read(lane, this.options.batchSize, this.options.batchBytes);
      if (batch) return batch;
    }
    return null;
  }

  private async run(): Promise<void> {
    const inFlight: InFlight[] = [];
    while (!this.abort.signal.aborted) {
      let err: Error | null;
      try {
        while (inFlight.length < this.options.maxInFlight && !this.abort.signal.aborted) {
          const batch = await this.nextBatch();
          if (!batch) break;
          inFlight.push({ range: { lane: batch.lane, start: batch.start, end: batch.end, count: batch.items.length }, done: this.deliver(batch) });
        }
        const head = inFlight[0];
        if (!head) {
          await this.woken$();
          continue;
        }
        // While the oldest batch waits for its confirmation, new records are sent as they come.
        if (inFlight.length < this.options.maxInFlight) {
          const settled = await Promise.race([head.done.then(() => true), this.woken$().then(() => false)]);
          if (!settled) continue;
        }
        inFlight.shift();
        err = await head.done;
        if (!err) {
          await this.delivered(head.range);
          continue;
        }
      } catch (spoolError) {
        err = new Error(`spool: ${(spoolError as Error).message}`); // a read or commit failed: same recovery
      }
      // Later batches cannot be committed before this one: let them settle, then read again.
      await Promise.all(inFlight.map((f) => f.done));
      inFlight.length = 0;
      this.spool.rewind();
      await sleepUnlessAborted(this.failed(err), this.abort.signal);
    }
    // Shutting down: commit what the sink confirmed, in order, up to the first failure.
    for (const f of inFlight) {
      if ((await f.done) !== null) break;
      await this.delivered(f.range);
    }
  }

  private async delivered(range: SpoolRange): Promise<void> {
    await this.spool.commit(range);
    this.backoff.reset();
    this.lastDeliveryAt = new Date().toISOString();
    if (this.failing) {
      this.failing = false;
      this.deps.log.info(`${this.name}: delivery resumed; ${this.spool.pending()} records still wait in the spool`);
    }
  }

  /** Counts and logs a failed attempt; returns how long to wait before the next one. */
  private failed(err: Error): number {
    this.failures++;
    this.lastError = err.message;
    const hint = hasRetryHint(this.inner) ? this.inner.retryDelayMs() : 0;
    const delay = Math.max(hint, this.backoff.next());
    if (!this.failing) {
      this.failing = true;
      this.deps.log.warn(`${this.name}: delivery failed: ${err.message}; ${this.spool.pending()} records are kept in the spool and retried`);
    } else {
      this.deps.log.debug(`${this.name}: delivery failed again: ${err.message}; retry in ${delay} ms`);
    }
    return delay;
  }
}
