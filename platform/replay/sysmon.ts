/**
 * Sysmon Event ID 3 (network connection) records, Windows and Linux, to ConnectionEvent (pure).
 * Here: event XML (wevtutil / Get-WinEvent ToXml, Sysmon for Linux's syslog payload) and the
 * mapping of a SysmonRecord, whatever its shape, to a ConnectionEvent; the JSON shapes are read in
 * sysmon-json.ts. Field names and meaning:
 * the Sysmon manifest's NetworkConnect template (UtcTime, ProcessGuid, ProcessId, Image, User,
 * Protocol, Initiated, SourceIp, SourcePort, DestinationIp, DestinationPort).
 */
import { canonicalIp } from '../../src/core/ip';
import type { ConnectionEvent, EventOs, ProcessInfo } from '../../src/core/types';
import { baseName, bool, eventTime, int, malformed, osFromPath, type Parsed } from './fields';

export interface SysmonRecord {
  eventId: number | undefined;
  /** Provider or channel name: "Linux-Sysmon" / "Microsoft-Windows-Sysmon" say the OS. */
  provider: string;
  computer: string;
  /** TimeCreated SystemTime or the shipper's event time: used when UtcTime is missing. */
  systemTime: string;
  data: Record<string, string>;
}

const ENTITY_RE = /&(?:(lt|gt|amp|quot|apos)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function xmlUnescape(s: string): string {
  return s.replace(ENTITY_RE, (whole, name: string | undefined, dec: string | undefined, hex: string | undefined) => {
    if (name) return NAMED[name] as string;
    const cp = dec !== undefined ? Number(dec) : Number.parseInt(hex as string, 16);
    return cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\uFFFD';
  });
}

const DATA_RE = /<Data\s+Name\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:\/>|>([\s\S]*?)<\/Data\s*>)/g;

/** <Data Name="X">v</Data> and <Data Name="X"/> pairs of an <EventData> block, values unescaped and trimmed. */
export function xmlData(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of xml.matchAll(DATA_RE)) {
    const name = xmlUnescape(m[1] ?? m[2] ?? '');
    if (name !== '' && !(name in out)) out[name] = xmlUnescape(m[3] ?? '').trim();
  }
  return out;
}

function tag(xml: string, name: string): string {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
  return m ? xmlUnescape(m[1] as string).trim() : '';
}

function attr(xml: string, element: string, name: string): string {
  const m = new RegExp(`<${element}\\s[^>]*?\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(xml);
  return m ? xmlUnescape(m[1] ?? m[2] ?? '') : '';
}

/** One <Event>...</Event> record; a reason string when it is no event XML at all. */
export function sysmonFromXml(xml: string): SysmonRecord | string {
  if (!/<System[\s>]/.test(xml) && !/<EventData[\s>]/.test(xml)) return 'an <Event> without <System> or <EventData>';
  const id = tag(xml, 'EventID');
  return {
    eventId: int(id),
    provider: attr(xml, 'Provider', 'Name') || tag(xml, 'Channel'),
    computer: tag(xml, 'Computer'),
    systemTime: attr(xml, 'TimeCreated', 'SystemTime'),
    data: xmlData(xml),
  };
}

function recordOs(r: SysmonRecord, image: string): EventOs | undefined {
  if (/linux/i.test(r.provider)) return 'linux';
  // A POSIX image path is no Windows process, whatever the provider says: brokerwatch's own sysmon
  // output names the Windows provider (the WINDOWS_SYSMON path expects it) on every OS.
  if (image.startsWith('/')) return 'linux';
  if (/microsoft-windows/i.test(r.provider)) return 'windows';
  return osFromPath(image);
}

function processOf(d: Record<string, string>): ProcessInfo | undefined {
  const pid = int(d.ProcessId, 0xffffffff);
  if (pid === undefined) return undefined;
  const image = d.Image ?? '';
  const known = image !== '' && image !== '-' && image !== '<unknown process>';
  const p: ProcessInfo = { pid };
  if (known && /[\\/]/.test(image)) p.exe = image;
  if (known) p.name = baseName(image);
  if (d.User && d.User !== '-') p.user = d.User;
  if (d.ProcessGuid && d.ProcessGuid !== '-') p.guid = d.ProcessGuid;
  return p;
}

/** Event ID 3 to a ConnectionEvent; other ids are skipped (counted), broken fields are malformed. */
export function sysmonToEvent(r: SysmonRecord): Parsed {
  // A Windows log export mixes providers: another provider's event 3 is no Sysmon network event.
  if (r.provider !== '' && !/sysmon/i.test(r.provider)) return { kind: 'skip', reason: 'not-sysmon' };
  if (r.eventId === undefined) return malformed('EventID is not a number');
  if (r.eventId !== 3) return { kind: 'skip', reason: 'not-eid3' };
  const d = r.data;
  const time = eventTime(d.UtcTime, true) ?? eventTime(r.systemTime);
  if (time === undefined) return malformed('no UtcTime or event time with a time zone');
  const transport = (d.Protocol ?? '').toLowerCase();
  if (transport !== 'tcp' && transport !== 'udp') return malformed(`Protocol ${JSON.stringify((d.Protocol ?? '').slice(0, 16))} is not tcp or udp`);
  const src = canonicalIp(d.SourceIp ?? '');
  const dst = canonicalIp(d.DestinationIp ?? '');
  if (src === null) return malformed('SourceIp is not an IP address');
  if (dst === null) return malformed('DestinationIp is not an IP address');
  const sport = int(d.SourcePort, 65535);
  const dport = int(d.DestinationPort, 65535);
  if (sport === undefined || dport === undefined) return malformed('SourcePort or DestinationPort is not a port number');
  const event: ConnectionEvent = {
    time,
    adapter: 'sysmon',
    transport,
    family: dst.includes(':') ? 6 : 4,
    // Sysmon logs a connection when it is made (TCP connect/accept, first UDP datagram).
    state: 'ESTABLISHED',
    source: { ip: src, port: sport },
    destination: { ip: dst, port: dport },
    direction: bool(d.Initiated) === false ? 'inbound' : 'outbound',
  };
  const process = processOf(d);
  if (process) event.process = process;
  if (r.computer !== '') event.host = r.computer;
  const os = recordOs(r, d.Image ?? '');
  if (os) event.os = os;
  return { kind: 'event', event };
}
