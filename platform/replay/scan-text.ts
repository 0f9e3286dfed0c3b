/**
 * Incremental scanners that cut a stream of text into records with bounded memory (pure: no I/O).
 * Each push() takes the next decoded chunk and returns the records it completed; end() flushes.
 * A record longer than the bound is dropped as it streams past (never buffered whole) and reported
 * as 'oversized' with the line it started on, so a 1 GB line cannot take 1 GB of memory.
 */

export type TextItem =
  /** document: the record is an element of a `scan --json` document's connections. */
  | { kind: 'record'; text: string; line: number; document?: boolean }
  | { kind: 'malformed'; line: number; reason: string };

function newlines(text: string, from = 0, to = text.length): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) n += 1;
  return n;
}

/**
 * Lines (JSON Lines, syslog). node's readline is not used because it has no bound on a line's
 * length; this keeps at most maxChars of one line. CR before LF is dropped; blank lines are skipped.
 */
export class LineScanner {
  private part = '';
  private dropping = false;

  /** line: the number of the first line pushed (leading blank text may have been read already). */
  constructor(private readonly maxChars: number, private line = 1) {}

  push(chunk: string): TextItem[] {
    const out: TextItem[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      this.finish(chunk.slice(start, nl), out);
      start = nl + 1;
    }
    this.add(chunk.slice(start), out);
    return out;
  }

  end(): TextItem[] {
    const out: TextItem[] = [];
    if (this.part !== '' || this.dropping) this.finish('', out);
    return out;
  }

  private add(text: string, out: TextItem[]): void {
    if (this.dropping) return;
    if (this.part.length + text.length > this.maxChars) {
      out.push({ kind: 'malformed', line: this.line, reason: `line longer than ${this.maxChars} characters` });
      this.dropping = true;
      this.part = '';
      return;
    }
    this.part += text;
  }

  private finish(tail: string, out: TextItem[]): void {
    this.add(tail, out);
    const text = this.part.endsWith('\r') ? this.part.slice(0, -1) : this.part;
    if (!this.dropping && text.trim() !== '') out.push({ kind: 'record', text, line: this.line });
    this.part = '';
    this.dropping = false;
    this.line += 1;
  }
}

const START_RE = /<Event[\s>]/g;
const END = '</Event>';
const KEEP = 7; // "<Event" + one character: a start split across two chunks is still found

/**
 * Windows event XML: one <Event>...</Event> per record, alone, many in a file, inside an <Events>
 * wrapper, or carried in syslog lines (Sysmon for Linux: "... sysmon: <Event>...</Event>"). Text
 * between records (XML declaration, wrapper, other programs' syslog lines) is not a record.
 * A record that meets the next <Event before its </Event> was cut short (a syslog size limit) and is
 * reported as truncated, so it cannot swallow the good record after it.
 */
export class XmlEventScanner {
  private buf = '';
  private inRecord = false;
  private oversized = false;
  private recordLine = 0;
  private searchFrom = 0;

  constructor(private readonly maxChars: number, private line = 1) {}

  push(chunk: string): TextItem[] {
    const out: TextItem[] = [];
    this.buf += chunk;
    for (;;) {
      if (!this.inRecord) {
        START_RE.lastIndex = 0;
        const m = START_RE.exec(this.buf);
        const cut = m ? m.index : Math.max(0, this.buf.length - KEEP);
        this.line += newlines(this.buf, 0, cut);
        this.buf = this.buf.slice(cut);
        if (!m) return out;
        this.inRecord = true;
        this.oversized = false;
        this.recordLine = this.line;
        this.searchFrom = 1;
        continue;
      }
      const end = this.buf.indexOf(END, this.searchFrom);
      START_RE.lastIndex = Math.max(1, this.searchFrom);
      const next = START_RE.exec(this.buf);
      if (next && (end === -1 || next.index < end)) {
        if (!this.oversized) out.push({ kind: 'malformed', line: this.recordLine, reason: 'truncated <Event> record (no </Event> before the next <Event>)' });
        this.line += newlines(this.buf, 0, next.index);
        this.buf = this.buf.slice(next.index);
        this.recordLine = this.line;
        this.oversized = false;
        this.searchFrom = 1;
        continue;
      }
      if (end !== -1) {
        const stop = end + END.length;
        if (!this.oversized && stop > this.maxChars) out.push({ kind: 'malformed', line: this.recordLine, reason: `<Event> record longer than ${this.maxChars} characters` });
        else if (!this.oversized) out.push({ kind: 'record', text: this.buf.slice(0, stop), line: this.recordLine });
        this.line += newlines(this.buf, 0, stop);
        this.buf = this.buf.slice(stop);
        this.inRecord = false;
        continue;
      }
      if (!this.oversized && this.buf.length > this.maxChars) {
        out.push({ kind: 'malformed', line: this.recordLine, reason: `<Event> record longer than ${this.maxChars} characters` });
        this.oversized = true;
      }
      if (this.oversized) {
        // Keep only what could still hold the start of "</Event>" or "<Event".
        const cut = Math.max(0, this.buf.length - (END.length - 1));
        this.line += newlines(this.buf, 0, cut);
        this.buf = this.buf.slice(cut);
        this.searchFrom = 0;
      } else {
        this.searchFrom = Math.max(1, this.buf.length - (END.length - 1));
      }
      return out;
    }
  }

  end(): TextItem[] {
    const out = this.push('');
    if (this.inRecord && !this.oversized) out.push({ kind: 'malformed', line: this.recordLine, reason: 'truncated <Event> record at end of file' });
    this.buf = '';
    this.inRecord = false;
    return out;
  }
}
