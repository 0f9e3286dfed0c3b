import type { Warning } from './types';

/**
 * Collects partial-failure notes (a process vanished mid-walk, EACCES, a malformed line) so they are
 * counted and shown instead of swallowed. Identical code+message pairs are folded into one count.
 */
export class WarningCollector {
  private readonly byKey = new Map<string, Warning>();

  add(code: string, message: string): void {
    const key = `${code}\u0000${message}`;
    const existing = this.byKey.get(key);
    if (existing) existing.count += 1;
    else this.byKey.set(key, { code, message, count: 1 });
  }

  addAll(warnings: readonly Warning[]): void {
    for (const w of warnings) {
      for (let i = 0; i < w.count; i++) this.add(w.code, w.message);
    }
  }

  list(): Warning[] {
    return [...this.byKey.values()].map((w) => ({ ...w }));
  }

  get size(): number {
    return this.byKey.size;
  }
}
