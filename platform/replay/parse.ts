/**
 * Pure entry points of the replay adapter: which container a file is (sniffed from its first bytes)
 * and what one record is (per record: a file may mix Sysmon shapes, and a `--format` narrows it).
 */
import { isObject, malformed, type Parsed } from './fields';
import { looksLikeOcsf, ocsfToEvent } from './ocsf';
import { type DocumentHost, looksLikeOwn, ownToEvent } from './own';
import { sysmonFromXml, sysmonToEvent } from './sysmon';
import { sysmonFromJson } from './sysmon-json';
import { looksLikeUdm, udmToEvent } from './udm';

export type { Parsed } from './fields';
export type ReplayFormat = 'sysmon' | 'udm' | 'jsonl';
export type FormatOption = 'auto' | ReplayFormat;
export const FORMAT_OPTIONS: readonly FormatOption[] = ['auto', 'sysmon', 'udm', 'jsonl'];

/**
 * 'xml': <Event> records (alone, in <Events>, or in syslog lines); 'json-lines': one JSON value per
 * line; 'json-document': a JSON array, pretty-printed records, or a `scan --json` document.
 */
export type Container = 'xml' | 'json-lines' | 'json-document';

/** From the first bytes of a file (a BOM already removed); null when they are blank. */
export function sniffContainer(head: string): Container | null {
  const start = head.search(/\S/);
  if (start === -1) return null;
  const first = head[start];
  if (first === '[') return 'json-document';
  // evtx_dump -o json: "Record 1" before each pretty-printed record.
  if (/^Record \d+\s*\r?\n\s*\{/.test(head.slice(start, start + 64))) return 'json-document';
  if (first !== '{') return 'xml';
  // scan --json documents, even compacted to one line each (jq -c): their connections are streamed.
  if (/^\{\s*"tool"\s*:/.test(head.slice(start, start + 32))) return 'json-document';
  const nl = head.indexOf('\n', start);
  // A first line that is a whole object is JSON Lines; "{" alone on a line is pretty-printed JSON.
  if (nl === -1) return 'json-lines';
  return head.slice(start, nl).trimEnd().endsWith('}') ? 'json-lines' : 'json-document';
}

/** One <Event> record: only Sysmon reads XML. */
export function parseXmlRecord(xml: string, format: FormatOption): { format: ReplayFormat; parsed: Parsed } {
  if (format === 'udm' || format === 'jsonl') return { format, parsed: malformed(`an XML record, not ${format} JSON`) };
  const r = sysmonFromXml(xml);
  return { format: 'sysmon', parsed: typeof r === 'string' ? malformed(r) : sysmonToEvent(r) };
}

/** Which reader a JSON object belongs to, or null when none recognises it. */
export function classifyJson(obj: Record<string, unknown>): ReplayFormat | null {
  if (looksLikeUdm(obj)) return 'udm';
  if (looksLikeOwn(obj) || looksLikeOcsf(obj)) return 'jsonl';
  if (sysmonFromJson(obj) !== null) return 'sysmon';
  return null;
}

/** One JSON record. `doc` is the enclosing scan document's host, when the record came from one. */
export function parseJsonRecord(text: string, format: FormatOption, doc?: DocumentHost): { format: ReplayFormat | null; parsed: Parsed } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { format: null, parsed: malformed(`not valid JSON (${(err as Error).message.slice(0, 80)})`) };
  }
  if (!isObject(value)) return { format: null, parsed: malformed('a JSON value that is not an object') };
  // journalctl -o json: Sysmon for Linux's syslog message is the event XML, in MESSAGE.
  if (!doc && typeof value.MESSAGE === 'string' && value.MESSAGE.trimStart().startsWith('<Event')) return parseXmlRecord(value.MESSAGE, format);
  const kind = doc ? 'jsonl' : classifyJson(value);
  if (kind === null) return { format: null, parsed: malformed('neither a Sysmon, a UDM nor a brokerwatch record') };
  if (format !== 'auto' && kind !== format) return { format: kind, parsed: { kind: 'skip', reason: 'other-format' } };
  if (kind === 'udm') return { format: kind, parsed: udmToEvent(value) };
  if (kind === 'jsonl') return { format: kind, parsed: !doc && looksLikeOcsf(value) ? ocsfToEvent(value) : ownToEvent(value, doc) };
  const r = sysmonFromJson(value);
  return { format: kind, parsed: r ? sysmonToEvent(r) : malformed('no EventID') };
}
