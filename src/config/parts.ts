/**
 * Zod pieces shared by the network sinks' config blocks. Defined here, not imported from
 * src/config/schema.ts, because that file imports the sink schemas (an import cycle otherwise).
 * Durations and sizes use the same words as the rest of the config ("30s", "256KiB").
 */
import { z } from 'zod';
import { duration } from '../core/duration';

/** "250ms", "30s", "5m" or a number of seconds; yields milliseconds (the config's one duration type). */
export const durationMs = duration;

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Parses 262144, "256KiB", "8MiB", "1GiB", "500KB" into bytes; null for anything else. */
export function parseByteSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(value);
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? 'b').toLowerCase()] as number));
  return bytes > 0 ? bytes : null;
}

/** A size in bytes: a number or text with a unit (B, KB, MB, GB, KiB, MiB, GiB). */
export const byteSize = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseByteSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 262144, 256KiB or 8MiB, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return bytes;
});

/** Reconnect / retry timing: exponential backoff with full jitter between 0 and the current ceiling. */
export const backoffSchema = z.strictObject({
  /** First ceiling; doubles after every failure. */
  initialDelay: durationMs.default(500),
  /** The ceiling stops growing here. */
  maxDelay: durationMs.default(30_000),
});
