import { safeText } from '../../core/text';
import type { PayloadStats, WireCaps, WireInfo } from './types';

/** Shannon entropy in bits per byte (0..8). */
export function byteEntropy(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]!++;
  let h = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / bytes.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A name from the wire (topic, destination, client id) as safe text: invalid UTF-8 becomes U+FFFD,
 * control characters become visible \xNN escapes (a newline in a topic cannot start a new log
 * line), and the result is capped. Returns the text and whether it was cut.
 */
export function wireName(raw: Uint8Array | string, caps: WireCaps): { text: string; cut: boolean } {
  const decoded = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  const text = safeText(decoded);
  if (text.length <= caps.maxNameLength) return { text, cut: false };
  return { text: `${text.slice(0, caps.maxNameLength)}…`, cut: true };
}

/** Collects what a parser finds, applying the caps once, in one place. */
export class WireCollector {
  readonly cut = new Set<string>();
  private readonly lists = new Map<'topics' | 'subscriptions' | 'exchanges', string[]>();
  private sizes: number[] = [];
  private entropies: number[] = [];
  private publishTimes: number[] = [];
  publishCount = 0;
  messages = 0;

  constructor(readonly caps: WireCaps) {}

  name(raw: Uint8Array | string): string {
    const n = wireName(raw, this.caps);
    if (n.cut) this.cut.add('name');
    return n.text;
  }

  add(list: 'topics' | 'subscriptions' | 'exchanges', raw: Uint8Array | string): void {
    const text = this.name(raw);
    const l = this.lists.get(list) ?? [];
    this.lists.set(list, l);
    if (l.includes(text)) return;
    if (l.length >= this.caps.maxNames) { this.cut.add(list); return; }
    l.push(text);
  }

  /** One publication: its time, full payload size when known, and the captured part of the payload. */
  publish(timeMs: number, size: number | null, captured: Uint8Array | null): void {
    this.publishCount++;
    this.publishTimes.push(timeMs);
    if (size !== null) this.sizes.push(size);
    if (captured && captured.length > 0) this.entropies.push(byteEntropy(captured));
  }

  /** Counts one parsed message; false once the message cap is reached (the parser stops). */
  nextMessage(): boolean {
    if (this.messages >= this.caps.maxMessages) { this.cut.add('messages'); return false; }
    this.messages++;
    return true;
  }

  fill(info: WireInfo): WireInfo {
    for (const [k, v] of this.lists) if (v.length > 0) info[k] = v;
    info.publishCount = this.publishCount;
    info.publishRate = publishRate(this.publishTimes);
    if (this.sizes.length > 0 || this.entropies.length > 0) info.payload = payloadStats(this.sizes, this.entropies);
    const cut = new Set([...(info.cut ?? []), ...this.cut]);
    if (cut.size > 0) info.cut = [...cut].sort();
    return info;
  }
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function publishRate(times: readonly number[]): number | null {
  if (times.length < 2) return null;
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return span > 0 ? round((times.length - 1) / span) : null;
}

function payloadStats(sizes: readonly number[], entropies: readonly number[]): PayloadStats {
  const sum = sizes.reduce((a, b) => a + b, 0);
  return {
    count: sizes.length,
    minBytes: sizes.length ? Math.min(...sizes) : 0,
    maxBytes: sizes.length ? Math.max(...sizes) : 0,
    meanBytes: sizes.length ? round(sum / sizes.length, 1) : 0,
    meanEntropy: entropies.length ? round(entropies.reduce((a, b) => a + b, 0) / entropies.length) : null,
    maxEntropy: entropies.length ? round(Math.max(...entropies)) : null,
  };
}
