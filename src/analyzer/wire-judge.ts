/**
 * What the wire adds to a DET0002 judgement (wire inspection, src/analyzer/wire/):
 * - AN0005 PUBSUB-UNUSUAL-PORT: a pub/sub protocol identified from the first bytes on a port that is
 *   not in protocolPortList. The connection is judged like one on a pub/sub port (allow lists,
 *   approved apps, internal networks), one severity step higher.
 * - On a pub/sub port, first bytes of another protocol (HTTP, TLS where the port is not a TLS port,
 *   another pub/sub protocol) lower confidence: one step down, and the reason says why.
 * - HIGH-FREQUENCY-PUBLISH: publications per second over the captured writes at or above
 *   wireInspection.highFrequency (AN0003/AN0005 "high-frequency topic publications").
 * - The wire summary goes into the finding's details; payload bytes never do (there are none).
 */
import type { ConnectionEvent, Severity, WireInfo } from '../core/types';
import { raiseSeverity, type PortInfo, type Rules } from './rules';
import { SEVERITY_ORDER } from '../core/types';

export const RULE_UNUSUAL_PORT = 'PUBSUB-UNUSUAL-PORT';
export const RULE_HIGH_FREQUENCY = 'HIGH-FREQUENCY-PUBLISH';

export function lowerSeverity(s: Severity): Severity {
  return SEVERITY_ORDER[Math.max(0, SEVERITY_ORDER.indexOf(s) - 1)] as Severity;
}

export interface WirePort extends PortInfo {
  /** True when the port is not a pub/sub port and only the wire says it carries pub/sub (AN0005). */
  unusual: boolean;
}

/**
 * The protocol to judge a connection as: the port's, or, on any other port, the pub/sub protocol
 * its first bytes showed. Null when neither says pub/sub.
 */
export function portOrWireProtocol(conn: ConnectionEvent, rules: Rules): WirePort | null {
  const byPort = rules.ports.get(conn.destination.port);
  const wire = conn.wire;
  if (byPort) {
    // The wire names the protocol when it identified a pub/sub one; TLS stays the port's word.
    return wire?.pubsub ? { protocol: wire.protocol, tls: byPort.tls || conn.inspection === 'tls-plaintext', unusual: false } : { ...byPort, unusual: false };
  }
  if (!wire?.pubsub) return null;
  return { protocol: wire.protocol, tls: conn.inspection === 'tls-plaintext', unusual: true };
}

function describeWire(w: WireInfo): string {
  const how = w.carrier === 'websocket' ? `${w.protocol} over WebSocket` : w.protocol;
  return w.version ? `${how} ${w.version}` : how;
}

/** The wire's part of a finding: rules, reasons, severity change, details. Returns the new severity. */
export function applyWire(conn: ConnectionEvent, rules: Rules, port: WirePort, severity: Severity, ruleIds: string[], reasons: string[], details: Record<string, unknown>): Severity {
  if (conn.inspection) details.inspection = conn.inspection;
  if (conn.destination.hostname) details.hostname = conn.destination.hostname;
  const w = conn.wire;
  if (conn.inspection?.startsWith('none, ') && conn.inspection !== 'none, no bytes') {
    reasons.push(`the connection's contents could not be inspected (${conn.inspection})`);
  }
  if (!w) return severity;
  details.wire = w;
  const portProtocol = rules.ports.get(conn.destination.port);
  const seen = conn.inspection === 'tls-plaintext' ? ' (TLS plaintext, through libssl)' : '';
  if (port.unusual) {
    ruleIds.push(RULE_UNUSUAL_PORT);
    severity = raiseSeverity(severity);
    reasons.push(`pub/sub over an unusual port (AN0005): the first bytes on port ${conn.destination.port} are ${describeWire(w)}${seen}, and the port is not in protocolPortList`);
  } else if (portProtocol && w.pubsub && w.protocol !== portProtocol.protocol) {
    severity = lowerSeverity(severity);
    reasons.push(`the first bytes are ${describeWire(w)}, not ${portProtocol.protocol} as port ${conn.destination.port} suggests: judged as ${w.protocol}, at lower confidence`);
  } else if (portProtocol && !w.pubsub) {
    const expectedTls = w.protocol === 'TLS' && portProtocol.tls;
    if (w.protocol === 'UNKNOWN') reasons.push(`the first bytes on ${portProtocol.protocol} port ${conn.destination.port} are not a protocol brokerwatch recognises`);
    else if (!expectedTls) {
      severity = lowerSeverity(severity);
      reasons.push(`lower confidence: the first bytes are ${w.protocol}, not ${portProtocol.protocol}, although port ${conn.destination.port} is a ${portProtocol.protocol} port`);
    }
  } else if (w.pubsub) {
    reasons.push(`the first bytes confirm ${describeWire(w)}${seen}`);
  }
  const hf = rules.highFrequency;
  if (w.publishRate !== null && w.publishCount >= hf.minPublishes && w.publishRate >= hf.publishesPerSecond) {
    ruleIds.push(RULE_HIGH_FREQUENCY);
    severity = raiseSeverity(severity);
    reasons.push(`high-frequency publication: ${w.publishCount} publications at ${w.publishRate}/s (threshold ${hf.publishesPerSecond}/s over at least ${hf.minPublishes})`);
  }
  return severity;
}
