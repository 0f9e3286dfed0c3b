import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

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

/** Config value: "5m", "1h", "30s", "250ms", "1d" or a number of seconds; yields milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 5m or 1h, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});
