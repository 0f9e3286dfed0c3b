import type { Correlation } from '../analyzer/analyze';
import type { HostFacts } from '../core/types';
import { assetId, ATTACK_DETAILS, CATEGORY_SUSPICIOUS, FIELD_LIMITS, platform, rfc3339, ruleName, udmIp } from './udm-enums';
import { compact, type Label, labels, logId, metadata, TextFields, type UdmEvent, type UdmMeta } from './udm-parts';

/**
 * The YARA-L rule's per-host aggregate as a GENERIC_EVENT. Deliberately not NETWORK_CONNECTION:
 * the rule's event filter selects NETWORK_CONNECTION, so an aggregate of that type would be counted
 * again as one more connection. The outcome variables are detection_fields under their rule names.
 */
export function correlationToUdm(c: Correlation, host: HostFacts, meta: UdmMeta): UdmEvent {
  const f = new TextFields();
  const windowed = c.window !== 'snapshot';
  const when = c.window === 'snapshot' ? meta.time : c.window.end;
  if (when === undefined) throw new RangeError('correlationToUdm: a snapshot correlation needs meta.time');
  const time = rfc3339(when, 'correlation time');
  const windowText = c.window === 'snapshot' ? 'snapshot' : `${c.window.start}/${c.window.end}`;
  const over = c.window === 'snapshot' ? 'one scan (snapshot)' : windowText;
  const id = logId(['brokerwatch/correlation/v1', host.hostname, host.assetId ?? '', c.rule, time, windowText, c.event_count, c.protocols_seen, c.initiating_process, c.target_ips]);
  const fields: Label[] = [
    { key: 'rule_id', value: c.rule },
    { key: 'technique', value: c.technique },
    { key: 'event_count', value: String(c.event_count) },
    { key: 'connection_count', value: String(c.connection_count) },
    ...c.protocols_seen.map((p) => ({ key: 'protocols_seen', value: p })),
    ...c.initiating_process.map((p) => ({ key: 'initiating_process', value: p })),
    ...c.target_ips.map((ip) => ({ key: 'target_ips', value: ip })),
    ...(c.window !== 'snapshot' ? [{ key: 'window_start', value: c.window.start }, { key: 'window_end', value: c.window.end }] : []),
  ];
  const ips = (host.ips ?? []).map(udmIp).filter((ip): ip is string => ip !== undefined);
  const out = {
    metadata: metadata(meta, 'GENERIC_EVENT', time, 'pubsub_correlation', id),
    principal: {
      hostname: f.text(c.host, FIELD_LIMITS.hostname, 'principal.hostname'),
      asset_id: assetId(host.assetId),
      // Not one connection: the usage guide allows all of the device's addresses here.
      ip: ips,
      platform: platform(host.platform),
      platform_version: f.text(host.os, FIELD_LIMITS.platformVersion, 'principal.platform_version'),
    },
    about: [
      ...c.target_ips.map((ip) => ({ ip: [udmIp(ip)] })),
      ...c.initiating_process.map((p) => ({ process: { file: { full_path: f.text(p, FIELD_LIMITS.path, 'about.process.file.full_path') } } })),
    ],
    security_result: [{
      rule_name: ruleName(c.rule),
      rule_id: c.rule,
      category: [CATEGORY_SUSPICIOUS],
      severity: c.severity,
      summary: f.text(`${c.event_count} outbound pub/sub connection events (${c.protocols_seen.join(', ')}) to ${c.connection_count} external address(es) from ${c.host}${windowed ? ' within the time window' : ''}`,
        FIELD_LIMITS.summary, 'security_result.summary'),
      description: `YARA-L ${c.rule}: more than one matching NETWORK_CONNECTION event from one host (#net > 1) over ${over}`,
      detection_fields: labels(fields, f),
      attack_details: ATTACK_DETAILS,
    }],
  };
  return compact({ ...out, additional: f.additional({}) }) as UdmEvent;
}
