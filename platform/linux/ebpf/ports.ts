/**
 * Joins a C line (SYN_SENT, source port usually still 0) to the S line of the same socket, which
 * carries the source port the kernel picked. bpftrace drains per-CPU buffers, so an S line can
 * arrive before its C line; and the kernel reuses socket addresses, so waiters are FIFO per
 * socket and matched on the destination port too. Nobody waits longer than waitMs.
 */

interface Waiter {
  dport: number;
  fallback: number;
  resolve(port: number): void;
  timer: NodeJS.Timeout;
}

const EARLY_KEEP_MS = 2000;
const EARLY_MAX = 4096;

export class SourcePortJoin {
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly early = new Map<string, { sport: number; dport: number; at: number }>();
  joined = 0;
  timedOut = 0;

  constructor(private readonly waitMs: number, private readonly now: () => number = Date.now) {}

  /** The source port of this connect: `known` when already set, else the S line's, else `known` after waitMs. */
  wait(sk: string, dport: number, known: number): Promise<number> {
    if (known !== 0) return Promise.resolve(known);
    const early = this.early.get(sk);
    if (early) this.early.delete(sk);
    if (early && early.dport === dport && this.now() - early.at <= EARLY_KEEP_MS) {
      this.joined += 1;
      return Promise.resolve(early.sport);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        dport, fallback: known, resolve,
        timer: setTimeout(() => {
          this.remove(sk, waiter);
          this.timedOut += 1;
          resolve(known);
        }, this.waitMs),
      };
      const list = this.waiting.get(sk);
      if (list) list.push(waiter); else this.waiting.set(sk, [waiter]);
    });
  }

  /** An S line: the socket left SYN_SENT with this source port. */
  left(sk: string, sport: number, dport: number): void {
    const list = this.waiting.get(sk);
    const waiter = list?.find((w) => w.dport === dport);
    if (waiter) {
      this.remove(sk, waiter);
      clearTimeout(waiter.timer);
      this.joined += 1;
      waiter.resolve(sport);
      return;
    }
    const now = this.now();
    if (this.early.size >= EARLY_MAX) {
      for (const [key, e] of this.early) if (now - e.at > EARLY_KEEP_MS || this.early.size >= EARLY_MAX) this.early.delete(key);
    }
    this.early.set(sk, { sport, dport, at: now });
  }

  private remove(sk: string, waiter: Waiter): void {
    const list = this.waiting.get(sk);
    if (!list) return;
    const rest = list.filter((w) => w !== waiter);
    if (rest.length > 0) this.waiting.set(sk, rest); else this.waiting.delete(sk);
  }

  /** Resolves every waiter now with what is known (used by close()). */
  flush(): void {
    for (const list of this.waiting.values()) {
      for (const w of list) {
        clearTimeout(w.timer);
        w.resolve(w.fallback);
      }
    }
    this.waiting.clear();
    this.early.clear();
  }
}
