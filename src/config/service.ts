/** The `watchdog` and `stateDir` config keys (the watchdog itself is src/service/watchdog.ts). */
import { z } from 'zod';
import { duration } from '../core/duration';

const durationMs = duration;

export const watchdogSchema = z.strictObject({
  enabled: z.boolean(),
  interval: durationMs,
  maxCpuPercent: z.number().positive(),
  cpuWindow: durationMs,
  maxRssMb: z.number().positive(),
}).refine((w) => w.cpuWindow >= w.interval, { error: 'watchdog.cpuWindow must be at least watchdog.interval', path: ['cpuWindow'] });

/** Where the agent keeps state between runs (watchdog exits for the backoff; the spool may live here too). */
export const stateDirSchema = z.string().min(1).refine((p) => !p.includes('\u0000'), { error: 'a path cannot contain a NUL character' });

export type WatchdogSettings = z.output<typeof watchdogSchema>;
