import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonDocumentScanner, type JsonItem } from '../../../platform/replay/scan-json';
import { LineScanner, XmlEventScanner } from '../../../platform/replay/scan-text';

type Scanner = { push(t: string): JsonItem[]; end(): JsonItem[] };

/** Feeds text in pieces of `size` characters: records split anywhere must come out the same. */
function scan(s: Scanner, text: string, size: number): JsonItem[] {
  const out: JsonItem[] = [];
  for (let i = 0; i < text.length; i += size) out.push(...s.push(text.slice(i, i + size)));
  out.push(...s.end());
  return out;
}

const SIZES = [1, 2, 3, 7, 64, 100000];

describe('LineScanner', () => {
  it('yields non-blank lines with their numbers, CRLF or LF, whatever the chunking', () => {
    for (const size of SIZES) {
      const items = scan(new LineScanner(100), 'a\r\n\n  \nbb\nccc', size);
      assert.deepEqual(items, [
        { kind: 'record', text: 'a', line: 1 },
        { kind: 'record', text: 'bb', line: 4 },
        { kind: 'record', text: 'ccc', line: 5 },
      ], `chunk size ${size}`);
    }
  });

  it('drops a line longer than the bound as it streams and keeps counting lines', () => {
    const long = 'x'.repeat(50);
    for (const size of SIZES) {
      const items = scan(new LineScanner(10), `ok\n${long}\nafter\n`, size);
      assert.deepEqual(items, [
        { kind: 'record', text: 'ok', line: 1 },
        { kind: 'malformed', line: 2, reason: 'line longer than 10 characters' },
        { kind: 'record', text: 'after', line: 3 },
      ], `chunk size ${size}`);
    }
  });
});

describe('XmlEventScanner', () => {
  const a = '<Event xmlns="x"><System><EventID>3</EventID></System><EventData/></Event>';
  const b = '<Event><EventData><Data Name="A">1</Data></EventData></Event>';

  it('cuts <Event> records out of a wrapper, syslog lines and pretty-printed XML, with start lines', () => {
    const text = `<?xml version="1.0"?>\n<Events>\n${a}\nNov 24 host sysmon: ${b}\nNov 24 host other: <Eventual>\n<Event>\n  <EventData/>\n</Event>\n</Events>\n`;
    for (const size of SIZES) {
      const items = scan(new XmlEventScanner(1000), text, size);
      assert.deepEqual(items, [
        { kind: 'record', text: a, line: 3 },
        { kind: 'record', text: b, line: 4 },
        { kind: 'record', text: '<Event>\n  <EventData/>\n</Event>', line: 6 },
      ], `chunk size ${size}`);
    }
  });

  it('reports a record cut short at the next <Event> and still yields that next record', () => {
    const text = `l1 sysmon: <Event><System><EventID>3</Even\nl2 sysmon: ${b}\n`;
    for (const size of SIZES) {
      const items = scan(new XmlEventScanner(1000), text, size);
      assert.deepEqual(items, [
        { kind: 'malformed', line: 1, reason: 'truncated <Event> record (no </Event> before the next <Event>)' },
        { kind: 'record', text: b, line: 2 },
      ], `chunk size ${size}`);
    }
  });

  it('drops an oversized record once, then finds the records after it; a record cut at the end of file is reported', () => {
    const big = `<Event>${'<Data>x</Data>\n'.repeat(100)}</Event>`;
    for (const size of [1, 7, 64, 100000]) {
      const items = scan(new XmlEventScanner(200), `${big}\n${b}\n<Event><System>`, size);
      assert.deepEqual(items, [
        { kind: 'malformed', line: 1, reason: '<Event> record longer than 200 characters' },
        { kind: 'record', text: b, line: 102 },
        { kind: 'malformed', line: 103, reason: 'truncated <Event> record at end of file' },
      ], `chunk size ${size}`);
    }
  });
});

describe('JsonDocumentScanner', () => {
  it('yields the objects of a top-level array and reports non-object elements', () => {
    const text = '[\n {"a": "x}]\\"{"},\n 42,\n {"b": [1, {"c": 2}]}\n]\n';
    for (const size of SIZES) {
      const items = scan(new JsonDocumentScanner(1000), text, size);
      assert.deepEqual(items, [
        { kind: 'record', text: '{"a": "x}]\\"{"}', line: 2 },
        { kind: 'malformed', line: 3, reason: 'array element is not an object' },
        { kind: 'record', text: '{"b": [1, {"c": 2}]}', line: 4 },
      ], `chunk size ${size}`);
    }
  });

  it('streams the connections of a scan --json document, after its host, and marks them', () => {
    const doc = JSON.stringify({ tool: { name: 'brokerwatch', version: '0' }, host: { hostname: 'h1', platform: 'linux' }, findings: [{ x: 1 }], connections: [{ n: 1 }, { n: 2 }], correlations: [] }, null, 2);
    for (const size of SIZES) {
      const items = scan(new JsonDocumentScanner(1000), doc, size);
      assert.deepEqual(items.map((i) => (i.kind === 'record' ? [JSON.parse(i.text), i.document] : i.kind === 'header' ? i.host : i)), [
        undefined, // a new document: the previous one's host no longer applies
        { hostname: 'h1', platform: 'linux' },
        [{ n: 1 }, true],
        [{ n: 2 }, true],
      ], `chunk size ${size}`);
    }
  });

  it('yields pretty-printed objects one after another; stray text and a cut document are malformed', () => {
    const text = '{\n  "a": 1\n}\n{\n  "b": {"c": "}"}\n}\nhello\n{"d": ';
    for (const size of SIZES) {
      const items = scan(new JsonDocumentScanner(1000), text, size);
      assert.deepEqual(items, [
        { kind: 'record', text: '{\n  "a": 1\n}', line: 1 },
        { kind: 'record', text: '{\n  "b": {"c": "}"}\n}', line: 4 },
        { kind: 'malformed', line: 7, reason: 'not JSON' },
        { kind: 'malformed', line: 8, reason: 'JSON cut short at end of file' },
      ], `chunk size ${size}`);
    }
  });

  it('drops an oversized element and keeps reading the array', () => {
    const text = `[{"big": "${'x'.repeat(500)}"}, {"ok": 1}]`;
    for (const size of [1, 64, 100000]) {
      const items = scan(new JsonDocumentScanner(100), text, size);
      assert.deepEqual(items, [
        { kind: 'malformed', line: 1, reason: 'JSON record longer than 100 characters' },
        { kind: 'record', text: '{"ok": 1}', line: 1 },
      ], `chunk size ${size}`);
    }
  });
});
