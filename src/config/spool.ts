/**
 * The `spool` config block (see spool.ts for what the spool does with it, and the fsync trade-off).
 * Defaults are in the schema because the block may sit under any network sink; each says why.
 */
import { z } from 'zod';
import { backoffSchema, byteSize, durationMs } from './parts';

export const spoolSchema = z.strictObject({
  /** The spool folder (created 0700 if missing). One agent per folder: it holds an flock on <folder>/lock. */
  path: z.string().min(1),
  /**
   * Disk budget. Over it, the oldest telemetry is dropped (counted, logged); findings never are.
   * 256 MiB holds about 220,000 UDM events of 1.2 KB: hours of a busy host's outage.
   */
  maxBytes: byteSize.default(256 * 1024 * 1024).refine((n) => n >= 64 * 1024, { message: 'spool.maxBytes must be at least 64KiB' }),
  /**
   * Findings' own budget within maxBytes; null: all of maxBytes. Over it the oldest findings are
   * dropped (counted, logged as an error), so a flood of findings cannot grow the spool without end.
   */
  maxFindingBytes: byteSize.nullable().default(null),
  /** Segment file size: the unit in which old telemetry is dropped (1/32 of the default budget). Capped at maxBytes / 8. */
  segmentBytes: byteSize.default(8 * 1024 * 1024),
  /** interval: an agent crash or kill -9 loses nothing, a power loss at most fsyncInterval of the newest records. */
  fsync: z.enum(['always', 'interval', 'never']).default('interval'),
  fsyncInterval: durationMs.default(1000),
  /** Records per delivery batch, and its byte budget (1000 UDM events are about 1.2 MB: under the Chronicle API's 4 MB request cap). */
  batchSize: z.number().int().min(1).max(100_000).default(1000),
  batchBytes: byteSize.default(1024 * 1024),
  /**
   * Batches sent but not yet confirmed. Confirmation takes the sink's delay (the forwarder's
   * ackGrace, an HTTP round trip), so throughput is at most maxInFlight x batchSize per delay:
   * 32 x 1000 per 250 ms is 128,000 events/s. Only positions are kept for batches on the way.
   */
  maxInFlight: z.number().int().min(1).max(256).default(32),
  /** Wait between delivery attempts after a failure: the longer of this backoff and the sink's own retry hint. */
  retry: backoffSchema.prefault({}),
  /** How long flush() (at shutdown) waits for the spool to drain; the rest is sent after the next start. */
  drainTimeout: durationMs.default(5000),
});

export type SpoolConfig = z.output<typeof spoolSchema>;
