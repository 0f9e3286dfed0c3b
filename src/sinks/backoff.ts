/**
 * Exponential backoff with "full jitter": the n-th delay is uniform in [0, min(max, initial * 2^n)].
 * Full jitter spreads a fleet of agents that lost the same collector, so they do not reconnect in
 * lockstep when it comes back (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A source of [0, 1) numbers; Math.random unless a test pins it. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next attempt; each call raises the ceiling until maxMs. */
  next(): number {
    const ceiling = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.attempt);
    if (ceiling < this.options.maxMs) this.attempt++;
    return Math.floor((this.options.random ?? Math.random)() * ceiling);
  }

  /** After a success: the next failure starts again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after ms, or at once when the signal aborts (shutdown must not wait out a backoff). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
