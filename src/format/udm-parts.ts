/** Building blocks shared by the UDM formatters (udm.ts, udm-correlation.ts). */
import crypto from 'node:crypto';
import { truncateUtf8, wellFormed } from './jsonline';
import { FIELD_LIMITS } from './udm-enums';

export interface UdmMeta {
  /** brokerwatch's version: metadata.product_version. */
  version: string;
  /** The pub/sub protocol the connection's port maps to (from the verdict). */
  protocol?: { name: string; tls: boolean };
  /** Event time for records that carry none (a "snapshot" correlation of a one-shot scan). */
  time?: string;
}

export type UdmEvent = Record<string, unknown>;
export type Label = { key: string; value: string };

export const PRODUCT = 'brokerwatch';

/** Collects capped text and remembers which fields were cut (UDM additional / OCSF unmapped .truncated_fields). */
export class TextFields {
  readonly truncated: string[] = [];

  text(value: string | undefined, limit: number, path: string): string | undefined {
    if (value === undefined || value === '') return undefined;
    const whole = wellFormed(value);
    const kept = truncateUtf8(whole, limit);
    if (kept.length < whole.length) this.truncated.push(`${path}: ${Buffer.byteLength(whole, 'utf8')} bytes, kept ${Buffer.byteLength(kept, 'utf8')}`);
    return kept === '' ? undefined : kept;
  }

  /** Notes a command line that was already cut when it was captured (the kernel kept only its beginning). */
  cutAtCapture(p: { argvTruncated?: boolean } | null | undefined, path: string): void {
    if (p?.argvTruncated) this.truncated.push(`${path}: cut when captured (only its beginning was readable)`);
  }

  /**
   * Extra facts plus the truncation note, or undefined when empty: UDM's `additional` (a
   * google.protobuf.Struct) and OCSF's `unmapped` have this same shape.
   */
  additional(extra: Record<string, unknown>): Record<string, unknown> | undefined {
    const out: Record<string, unknown> = { ...extra };
    if (this.truncated.length > 0) out.truncated_fields = this.truncated;
    return compact(out) as Record<string, unknown> | undefined;
  }
}

/** Drops undefined, "", empty arrays and empty objects, recursively: UDM leaves absent fields out. */
export function compact(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(compact).filter((v) => v !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const c = compact(v);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return value === '' ? undefined : value;
}

export function logId(parts: readonly unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

export function validPort(port: number): number | undefined {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

export function metadata(meta: UdmMeta, eventType: string, time: string, productEventType: string, productLogId: string): UdmEvent {
  return {
    event_timestamp: time,
    event_type: eventType,
    vendor_name: PRODUCT,
    product_name: PRODUCT,
    product_version: meta.version,
    product_event_type: productEventType,
    product_log_id: productLogId,
  };
}

export function labels(pairs: readonly Label[], f: TextFields): Label[] {
  return pairs.map((l) => ({ key: l.key, value: f.text(l.value, FIELD_LIMITS.label, `security_result.detection_fields.${l.key}`) ?? '' }))
    .filter((l) => l.value !== '');
}
