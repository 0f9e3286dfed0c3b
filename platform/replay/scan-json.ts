/**
 * Incremental scanner for JSON that is not one record per line (pure: no I/O): a JSON array of
 * records (Azure Log Analytics / Sentinel exports), pretty-printed records one after another, and
 * brokerwatch's own `scan --json` document, whose `connections` array is streamed element by element
 * and whose `host` object is handed out first (it precedes `connections` in the document).
 * Memory stays bounded: only the record being read is kept, at most maxChars of it.
 */
import type { TextItem } from './scan-text';

export type JsonItem = TextItem | { kind: 'header'; host: unknown; line: number };

type Mode = 'top' | 'array' | 'undecided' | 'record' | 'doc';
const STRING_STOP = /["\\]/g;
const MAX_KEY = 64;

export class JsonDocumentScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private garbage = false;
  private garbageText = '';
  private garbageLine = 0;
  private mode: Mode = 'top';
  private expectKey = false;
  private inKey = false;
  private key = '';
  private valueKey: string | null = null;
  private inConnections = false;
  private scalarElement = false;
  private capturing = false;
  private capKind: 'record' | 'host' = 'record';
  private capDepth = 0;
  private capFrom = 0;
  private capLine = 0;
  private cap = '';
  private capOversized = false;
  private out: JsonItem[] = [];

  constructor(private readonly maxChars: number, private line = 1) {}

  push(chunk: string): JsonItem[] {
    this.out = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      if (this.inString) {
        i = this.stringChar(chunk, i, c);
        continue;
      }
      if (c === '\n') {
        this.line += 1;
        if (this.garbage) this.garbageDone();
        continue;
      }
      if (this.garbage) {
        if (this.garbageText.length < 32) this.garbageText += c;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r') continue;
      if (c === '"') {
        this.inString = true;
        if (this.depth === 1 && this.expectKey && this.mode !== 'array') {
          this.inKey = true;
          this.key = '';
          this.expectKey = false;
        } else this.valueStart(c, i);
      } else if (c === '{' || c === '[') {
        this.valueStart(c, i);
        this.depth += 1;
        if (this.depth === 1 && c === '{') this.expectKey = true;
        if (this.mode === 'doc' && this.depth === 2 && c === '[' && this.valueKey === 'connections') this.inConnections = true;
      } else if (c === '}' || c === ']') {
        this.depth -= 1;
        if (this.capturing && this.depth === this.capDepth) this.finishCapture(chunk, i);
        if (this.depth === 1 && this.inConnections) this.inConnections = false;
        if (this.depth <= 0) {
          this.depth = 0;
          this.mode = 'top';
        }
      } else if (c === ',') {
        if (this.depth === 1 && this.mode !== 'array') {
          this.expectKey = true;
          this.valueKey = null;
        }
        this.scalarElement = false;
      } else if (c === ':') {
        if (this.depth === 1) this.valueKey = this.key;
      } else this.valueStart(c, i);
    }
    if (this.capturing && !this.capOversized) {
      this.cap += chunk.slice(this.capFrom);
      this.capFrom = 0;
      if (this.cap.length > this.maxChars) {
        this.out.push({ kind: 'malformed', line: this.capLine, reason: `JSON record longer than ${this.maxChars} characters` });
        this.capOversized = true;
        this.cap = '';
      }
    }
    return this.out;
  }

  end(): JsonItem[] {
    this.out = [];
    if (this.garbage) this.garbageDone();
    if (this.depth > 0 || this.inString) {
      this.out.push({ kind: 'malformed', line: this.capturing ? this.capLine : this.line, reason: 'JSON cut short at end of file' });
    }
    this.capturing = false;
    this.cap = '';
    return this.out;
  }

  /** Text outside any JSON value: evtx_dump's "Record N" headers between records are expected, the rest is not. */
  private garbageDone(): void {
    this.garbage = false;
    if (!/^Record \d+\s*$/.test(this.garbageText)) this.out.push({ kind: 'malformed', line: this.garbageLine, reason: 'not JSON' });
    this.garbageText = '';
  }

  private stringChar(chunk: string, i: number, c: string): number {
    if (this.escaped) this.escaped = false;
    else if (c === '\\') this.escaped = true;
    else if (c === '"') {
      this.inString = false;
      if (this.inKey) this.keyDone();
      return i;
    } else {
      STRING_STOP.lastIndex = i;
      const stop = STRING_STOP.exec(chunk);
      const j = stop ? stop.index : chunk.length;
      if (this.inKey && this.key.length < MAX_KEY) this.key += chunk.slice(i, Math.min(j, i + MAX_KEY));
      return j - 1;
    }
    if (this.inKey && this.key.length < MAX_KEY) this.key += c;
    return i;
  }

  private keyDone(): void {
    this.inKey = false;
    if (this.mode === 'undecided') {
      // brokerwatch's scan --json document starts with "tool"; anything else is one record.
      if (this.key === 'tool') {
        this.mode = 'doc';
        this.capturing = false;
        this.cap = '';
        // A new document: forget the host of the one before until this one's host is read.
        this.out.push({ kind: 'header', host: undefined, line: this.line });
      } else this.mode = 'record';
    }
  }

  /** The first character of a value (or of stray text) at the current depth, before it is entered. */
  private valueStart(c: string, i: number): void {
    if (this.depth === 0) {
      if (c === '{') {
        this.mode = 'undecided';
        this.startCapture('record', i);
      } else if (c === '[') this.mode = 'array';
      else {
        this.garbage = true;
        this.garbageText = c;
        this.garbageLine = this.line;
      }
      return;
    }
    const recordLevel = (this.mode === 'array' && this.depth === 1) || (this.mode === 'doc' && this.depth === 2 && this.inConnections);
    if (recordLevel) {
      if (c === '{') this.startCapture('record', i);
      else if (!this.scalarElement) {
        this.out.push({ kind: 'malformed', line: this.line, reason: 'array element is not an object' });
        this.scalarElement = true;
      }
    } else if (this.mode === 'doc' && this.depth === 1 && this.valueKey === 'host' && c === '{') this.startCapture('host', i);
  }

  private startCapture(kind: 'record' | 'host', i: number): void {
    this.capturing = true;
    this.capKind = kind;
    this.capDepth = this.depth;
    this.capFrom = i;
    this.capLine = this.line;
    this.cap = '';
    this.capOversized = false;
  }

  private finishCapture(chunk: string, i: number): void {
    this.capturing = false;
    if (this.capOversized) return;
    const text = this.cap + chunk.slice(this.capFrom, i + 1);
    this.cap = '';
    if (text.length > this.maxChars) {
      this.out.push({ kind: 'malformed', line: this.capLine, reason: `JSON record longer than ${this.maxChars} characters` });
      return;
    }
    if (this.capKind === 'record') {
      this.out.push(this.mode === 'doc' ? { kind: 'record', text, line: this.capLine, document: true } : { kind: 'record', text, line: this.capLine });
      return;
    }
    try {
      this.out.push({ kind: 'header', host: JSON.parse(text) as unknown, line: this.capLine });
    } catch {
      this.out.push({ kind: 'malformed', line: this.capLine, reason: 'scan document: host is not valid JSON' });
    }
  }
}
