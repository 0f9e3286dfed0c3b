import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The longest delay a Node.js timer holds: setTimeout/setInterval store it as a signed 32-bit
 * number of milliseconds (about 24.8 days). A longer one is replaced by 1 ms and warned about once
 * (TimeoutOverflowWarning), so "30d" would run as a 1 ms timer: every duration is capped here.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parses "250ms", "30s", "5m", "1h", "1d" (or a bare number of seconds) into milliseconds.
 * Returns null for anything else, including zero or negative values.
 */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value * 1000 : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!m) return null;
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms > 0 ? ms : null;
}

/**
 * Config value: "5m", "1h", "30s", "250ms", "1d" or a number of seconds; yields milliseconds.
 * Values a timer cannot hold (24.8 days or more) are errors; the loader adds the key path and file.
 */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 5m or 1h, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is too long: the longest duration is 24d (${MAX_DURATION_MS} ms, what a timer can hold; a longer one would fire every millisecond)`,
    });
    return z.NEVER;
  }
  return ms;
});
