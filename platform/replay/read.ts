/**
 * Streaming I/O of the replay adapter: reads recorded files in order and yields ConnectionEvents
 * with the records' own timestamps. Memory is bounded whatever the file size: a file is read in
 * 64 KiB chunks with backpressure (the next chunk is read when the consumer asks for more), and the
 * scanners keep at most one record of at most maxRecordChars characters.
 * Nothing here is fatal: an unreadable file or a malformed record is counted, listed with file and
 * line in the warnings, and the next one is read.
 */
import fs from 'node:fs';
import { safeText } from '../../src/core/text';
import type { ConnectionEvent } from '../../src/core/types';
import { WarningCollector } from '../../src/core/warnings';
import type { Parsed } from './fields';
import { type DocumentHost, documentHost } from './own';
import { type Container, type FormatOption, parseJsonRecord, parseXmlRecord, type ReplayFormat, sniffContainer } from './parse';
import { JsonDocumentScanner, type JsonItem } from './scan-json';
import { LineScanner, XmlEventScanner } from './scan-text';

export interface ReplayOptions {
  format?: FormatOption;
  /** A record longer than this (UTF-16 code units) is dropped and counted malformed. Default 1 MiB. */
  maxRecordChars?: number;
  /** Malformed records listed one by one per file; the rest are folded into one warning. Default 20. */
  maxWarningsPerFile?: number;
  /** Read size; default 64 KiB. */
  chunkBytes?: number;
  signal?: AbortSignal;
}

export interface ReplayRecord {
  event: ConnectionEvent;
  file: string;
  /** Line the record starts on (1-based). */
  line: number;
  format: ReplayFormat;
}

export interface ReplayStats {
  files: number;
  /** Records read (well-formed or not), skipped ones included. */
  records: number;
  /** ConnectionEvents produced. */
  events: number;
  byFormat: Record<ReplayFormat, number>;
  inbound: number;
  malformed: number;
  /** Sysmon records of other event ids than 3. */
  skippedNotEid3: number;
  /** Records of other providers than Sysmon, events that are no connection (correlations), BEACONING findings, records of another format than --format asked. */
  skippedOther: number;
  unreadableFiles: number;
  /** Events whose time is earlier than an event before them in the same file (Sysmon batches its events). */
  outOfOrder: number;
}

export function newReplayStats(): ReplayStats {
  return { files: 0, records: 0, events: 0, byFormat: { sysmon: 0, udm: 0, jsonl: 0 }, inbound: 0, malformed: 0, skippedNotEid3: 0, skippedOther: 0, unreadableFiles: 0, outOfOrder: 0 };
}

export interface ReplayReport {
  stats: ReplayStats;
  warnings: WarningCollector;
}

const DEFAULT_MAX_RECORD = 1024 * 1024;

function scannerFor(container: Container, max: number, line: number): { push(t: string): JsonItem[]; end(): JsonItem[] } {
  if (container === 'xml') return new XmlEventScanner(max, line);
  if (container === 'json-lines') return new LineScanner(max, line);
  return new JsonDocumentScanner(max, line);
}

class FileState {
  listed = 0;
  records = 0;
  lastTime = -Infinity;
  doc: DocumentHost | undefined;
  constructor(readonly file: string, readonly container: Container) {}
}

function malformedRecord(report: ReplayReport, opts: ReplayOptions, f: FileState, line: number, reason: string): void {
  report.stats.malformed += 1;
  f.listed += 1;
  const max = opts.maxWarningsPerFile ?? 20;
  // A reason may quote the record (JSON.parse does): the record is hostile text, so make it safe.
  if (f.listed <= max) report.warnings.add('replay-malformed-record', `${safeText(f.file, 1024)}:${line}: ${safeText(reason, 200)}`);
  else report.warnings.add('replay-malformed-record', `${safeText(f.file, 1024)}: more malformed records after the first ${max} (each is counted in stats.malformed)`);
}

function account(report: ReplayReport, parsed: Parsed, format: ReplayFormat | null): void {
  if (parsed.kind === 'skip') {
    if (parsed.reason === 'not-eid3') report.stats.skippedNotEid3 += 1;
    else report.stats.skippedOther += 1;
  } else if (parsed.kind === 'event' && format) {
    report.stats.events += 1;
    report.stats.byFormat[format] += 1;
    if (parsed.event.direction === 'inbound') report.stats.inbound += 1;
  }
}

function* handle(items: JsonItem[], f: FileState, opts: ReplayOptions, report: ReplayReport): Generator<ReplayRecord> {
  const format = opts.format ?? 'auto';
  for (const item of items) {
    if (item.kind === 'header') {
      f.doc = documentHost(item.host);
      continue;
    }
    report.stats.records += 1;
    f.records += 1;
    if (item.kind === 'malformed') {
      malformedRecord(report, opts, f, item.line, item.reason);
      continue;
    }
    const r = f.container === 'xml' ? parseXmlRecord(item.text, format) : parseJsonRecord(item.text, format, item.document ? (f.doc ?? {}) : undefined);
    account(report, r.parsed, r.format);
    if (r.parsed.kind === 'malformed') malformedRecord(report, opts, f, item.line, r.parsed.reason);
    if (r.parsed.kind !== 'event' || r.format === null) continue;
    const ms = Date.parse(r.parsed.event.time);
    if (ms < f.lastTime) report.stats.outOfOrder += 1;
    else f.lastTime = ms;
    yield { event: r.parsed.event, file: f.file, line: item.line, format: r.format };
  }
}

async function* readFile(file: string, opts: ReplayOptions, report: ReplayReport): AsyncGenerator<ReplayRecord> {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer. It changes nothing for regular files.
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    // A FIFO or a device would never end (or block): replay reads regular files only.
    if (!(await fh.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    // Windows PowerShell 5 writes `> file` as UTF-16LE with a BOM (FF FE): read such exports as UTF-16.
    const bom = Buffer.alloc(2);
    const { bytesRead } = await fh.read(bom, 0, 2, 0);
    const encoding = bytesRead === 2 && bom[0] === 0xff && bom[1] === 0xfe ? 'utf16le' : 'utf8';
    const stream = fh.createReadStream({ encoding, start: 0, highWaterMark: opts.chunkBytes ?? 64 * 1024, autoClose: false });
    const max = opts.maxRecordChars ?? DEFAULT_MAX_RECORD;
    let scanner: { push(t: string): JsonItem[]; end(): JsonItem[] } | undefined;
    let state: FileState | undefined;
    let line = 1;
    let first = true;
    for await (const raw of stream as AsyncIterable<string>) {
      if (opts.signal?.aborted) return;
      let chunk = first && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      first = false;
      if (!scanner) {
        const container = sniffContainer(chunk);
        if (container === null) {
          line += chunk.split('\n').length - 1;
          continue;
        }
        const start = chunk.search(/\S/);
        line += chunk.slice(0, start).split('\n').length - 1;
        chunk = chunk.slice(start);
        scanner = scannerFor(container, max, line);
        state = new FileState(file, container);
      }
      yield* handle(scanner.push(chunk), state as FileState, opts, report);
    }
    if (scanner && state) yield* handle(scanner.end(), state, opts, report);
    // An empty result must mean "nothing there", not "a file this reader does not understand".
    if (!opts.signal?.aborted && (state?.records ?? 0) === 0) {
      const what = state?.container === 'xml' ? 'no <Event> record (is it Sysmon XML or syslog?)' : state ? 'no JSON record' : 'the file is empty';
      report.warnings.add('replay-no-records', `${safeText(file, 1024)}: ${what}`);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Every ConnectionEvent in the files, in file order and, within a file, in record order (not sorted:
 * sorting would need the whole file in memory; stats.outOfOrder says how often time went back).
 * Stats and warnings accumulate in `report` as the records stream past.
 */
export async function* readRecords(files: readonly string[], opts: ReplayOptions = {}, report: ReplayReport = { stats: newReplayStats(), warnings: new WarningCollector() }): AsyncGenerator<ReplayRecord> {
  for (const file of files) {
    if (opts.signal?.aborted) return;
    report.stats.files += 1;
    try {
      yield* readFile(file, opts, report);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      report.stats.unreadableFiles += 1;
      report.warnings.add('replay-file-unreadable', `${safeText(file, 1024)}: ${e.code ?? 'error'}: ${safeText(e.message, 300)}`);
    }
  }
}
