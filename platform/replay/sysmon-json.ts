/**
 * Sysmon records in JSON (pure): NXLog's flat JSON (im_msvistalog + to_json: EventData fields at the
 * top, Hostname, SourceName, every value possibly a string), Winlogbeat (winlog.event_data,
 * winlog.computer_name, winlog.provider_name), the Azure Log Analytics / Sentinel export (Computer,
 * EventID, EventData as an XML or JSON string), and the event XML as JSON ({"Event": {"System",
 * "EventData"}}) that evtx_dump (omerbenamram/evtx) and xmltodict write from .evtx files.
 */
import { int, isObject, pick, text } from './fields';
import { type SysmonRecord, xmlData } from './sysmon';

function scalars(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    const t = text(v);
    if (t !== '') out[k] = t;
  }
  return out;
}

/** EventData given as an object, an XML string, or a JSON string (exports differ). */
function eventData(v: unknown): Record<string, string> {
  if (isObject(v)) return scalars(v);
  const t = text(v);
  if (t.startsWith('<')) return xmlData(t);
  if (t.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(t);
      return isObject(parsed) ? scalars(parsed) : {};
    } catch {
      return {};
    }
  }
  return {};
}

/** An attribute in the two JSON renderings of XML: evtx_dump {"#attributes": {"Name": v}}, xmltodict {"@Name": v}. */
function jsonAttr(v: unknown, name: string): unknown {
  return isObject(v) ? (isObject(v['#attributes']) ? v['#attributes'][name] : v[`@${name}`]) : undefined;
}

/** A value that may be wrapped as {"#text": v} (an element with attributes). */
function jsonText(v: unknown): unknown {
  return isObject(v) ? v['#text'] : v;
}

/** EventData of the XML-as-JSON shapes: fields by name (evtx_dump) or a Data list of {"@Name", "#text"} (xmltodict). */
function xmlJsonData(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const list = Array.isArray(v.Data) ? v.Data : isObject(v.Data) ? [v.Data] : null;
  if (!list) return scalars(v);
  const out: Record<string, string> = {};
  for (const item of list) {
    const name = text(jsonAttr(item, 'Name'));
    if (name !== '') out[name] = text(jsonText(item));
  }
  return out;
}

/** {"Event": {"System": ..., "EventData": ...}}: evtx_dump (omerbenamram/evtx) JSON and xmltodict output. */
function sysmonFromEventJson(event: Record<string, unknown>): SysmonRecord {
  const system = isObject(event.System) ? event.System : {};
  return {
    eventId: int(jsonText(system.EventID)),
    provider: text(jsonAttr(system.Provider, 'Name')) || text(system.Channel),
    computer: text(system.Computer),
    systemTime: text(jsonAttr(system.TimeCreated, 'SystemTime')),
    data: xmlJsonData(event.EventData),
  };
}

/** A JSON Sysmon record in any of the shapes above, or null when the object carries no event id. */
export function sysmonFromJson(obj: Record<string, unknown>): SysmonRecord | null {
  if (isObject(obj.Event) && isObject(obj.Event.System)) return sysmonFromEventJson(obj.Event);
  const id = pick(obj, 'EventID', 'EventId', 'event_id', 'winlog.event_id', 'event.code');
  if (id === undefined) return null;
  const nested = pick(obj, 'winlog.event_data', 'event_data', 'EventData');
  return {
    eventId: int(id),
    provider: text(pick(obj, 'winlog.provider_name', 'SourceName', 'ProviderName', 'Provider', 'EventSourceName', 'Source', 'Channel', 'winlog.channel', 'EventLog')),
    computer: text(pick(obj, 'winlog.computer_name', 'Computer', 'Hostname', 'host.name', 'computer_name')),
    systemTime: text(pick(obj, 'TimeCreated', 'TimeGenerated', '@timestamp', 'EventTime')),
    data: { ...scalars(obj), ...eventData(nested) },
  };
}
