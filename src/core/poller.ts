/**
 * The timer loop of a polling Source: runs `poll` once at start(), then every intervalMs after the
 * previous poll finished (never two at once). A failed poll is skipped, not fatal: the next one
 * tries again. After close() resolves no poll runs and none is in flight.
 */
export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly poll: () => Promise<void>, private readonly intervalMs: number) {}

  get closed(): boolean {
    return this.stopped;
  }

  /** Runs the first poll (its error propagates: a source that cannot read at all should say so). */
  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll().catch(() => undefined).finally(() => {
        this.running = null;
        this.schedule();
      });
    }, this.intervalMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
