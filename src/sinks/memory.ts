import type { OutRecord, Sink } from '../core/sink';

/**
 * Keeps every record in memory, in write order: for tests, and for replay runs that want the
 * records back. Nothing is serialised; records are kept as given (the caller must not mutate them).
 */
export class MemorySink implements Sink {
  readonly name: string;
  readonly records: OutRecord[] = [];
  private closed = false;

  constructor(name = 'memory') {
    this.name = name;
  }

  async write(records: OutRecord[]): Promise<void> {
    if (this.closed) throw new Error(`sink ${this.name}: write after close`);
    this.records.push(...records);
  }

  async flush(): Promise<void> {
    /* nothing is buffered */
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Forgets the records kept so far (between test cases or replay rounds). */
  clear(): void {
    this.records.length = 0;
  }
}
