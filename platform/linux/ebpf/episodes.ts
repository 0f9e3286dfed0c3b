/**
 * "Log once per episode": an episode of a kind starts when it happens after quietMs without it.
 * Pure: time comes in as a number.
 */
export class Episodes {
  private readonly lastSeen = new Map<string, number>();
  private readonly started = new Map<string, number>();

  constructor(private readonly quietMs: number) {}

  /** Notes an occurrence; true when it starts a new episode. */
  starts(kind: string, now: number): boolean {
    const prev = this.lastSeen.get(kind);
    this.lastSeen.set(kind, now);
    if (prev !== undefined && now - prev < this.quietMs) return false;
    this.started.set(kind, now);
    return true;
  }

  /** When the current episode of this kind started. */
  last(kind: string): number | undefined {
    return this.started.get(kind);
  }
}
