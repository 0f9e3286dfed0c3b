/**
 * Restart backoff after watchdog exits. The service manager restarts the agent at once (systemd
 * RestartSec, launchd ThrottleInterval); if it keeps tripping the watchdog, each start waits longer:
 * 5 s after one watchdog exit in the last hour, doubling per exit up to 5 minutes. The exits are
 * kept in a small JSON file in stateDir; entries older than an hour are forgotten.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../core/safe-fs';
import type { Logger } from '../core/logger';

export const WATCHDOG_STATE_FILE = 'watchdog-exits.json';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Exits older than this do not count. */
  windowMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5000, maxMs: 5 * 60_000, windowMs: 60 * 60_000 };
/** At most this many exits are kept (a bound on the file whatever happens). */
const MAX_KEPT = 64;

/** The delay before starting, given the times (ms) of earlier watchdog exits. */
export function backoffDelayMs(exits: readonly number[], now: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const recent = exits.filter((t) => t <= now && now - t < policy.windowMs).length;
  if (recent === 0) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(recent - 1, 30));
}

/** The recorded exit times; a missing, unreadable or malformed file counts as none. */
export function readWatchdogExits(stateDir: string): number[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(stateDir, WATCHDOG_STATE_FILE), 'utf8');
  } catch {
    return [];
  }
  try {
    const value = JSON.parse(text) as { exits?: unknown };
    if (!Array.isArray(value?.exits)) return [];
    return value.exits.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)).slice(-MAX_KEPT);
  } catch {
    return [];
  }
}

/** Creates stateDir (0700) if missing; its parent must exist (no recursive mkdir: it can spin on odd file systems). */
function makeStateDir(stateDir: string): void {
  try {
    fs.mkdirSync(stateDir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Adds one exit (time `at`) to the state file, dropping entries outside the window. Creates
 * stateDir (0700) when missing. Returns null on success or one line saying what failed: the
 * watchdog exits anyway.
 */
export function recordWatchdogExit(stateDir: string, at: number, reason: string, policy: BackoffPolicy = DEFAULT_BACKOFF): string | null {
  const exits = [...readWatchdogExits(stateDir).filter((t) => at - t < policy.windowMs && t <= at), at].slice(-MAX_KEPT);
  const file = path.join(stateDir, WATCHDOG_STATE_FILE);
  try {
    makeStateDir(stateDir);
    writeFileAtomicSync(file, `${JSON.stringify({ exits, last: { at: new Date(at).toISOString(), reason } })}\n`, 0o600, 'the watchdog state');
    return null;
  } catch (err) {
    return `cannot record the exit in ${file}: ${err instanceof Error && err.name === 'UnsafePathError' ? err.message : (err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

export interface StartupBackoffOptions {
  now?: () => number;
  /** Ends the wait early (run.ts: on SIGTERM during the wait). */
  signal?: AbortSignal;
  policy?: BackoffPolicy;
}

/**
 * Call first thing in `run`: waits as long as the recent watchdog exits say, logging why.
 * Resolves with the delay it waited (0 for a normal start).
 */
export async function startupBackoff(stateDir: string, log: Pick<Logger, 'warn'>, options: StartupBackoffOptions = {}): Promise<number> {
  const now = (options.now ?? Date.now)();
  const policy = options.policy ?? DEFAULT_BACKOFF;
  const exits = readWatchdogExits(stateDir);
  const delay = backoffDelayMs(exits, now, policy);
  if (delay === 0) return 0;
  const recent = exits.filter((t) => t <= now && now - t < policy.windowMs).length;
  log.warn(`watchdog: ${recent} watchdog exit${recent > 1 ? 's' : ''} in the last ${Math.round(policy.windowMs / 60_000)} min (${path.join(stateDir, WATCHDOG_STATE_FILE)}); waiting ${Math.round(delay / 1000)} s before starting (restart backoff)`);
  await new Promise<void>((resolve) => {
    if (options.signal?.aborted) return resolve();
    const timer = setTimeout(resolve, delay);
    options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
  return delay;
}
