/**
 * Packs serialized events into events:import request bodies of at most maxBytes each:
 * {"inlineSource":{"events":[e1,e2,...]}}. Order is kept. An event that cannot fit even alone is
 * reported (its size) instead of being sent: the API would refuse the whole request.
 */
export const REQUEST_PREFIX = '{"inlineSource":{"events":[';
export const REQUEST_SUFFIX = ']}}';
const OVERHEAD = Buffer.byteLength(REQUEST_PREFIX) + Buffer.byteLength(REQUEST_SUFFIX);

export interface PackedRequest {
  events: string[];
  bytes: number;
}

export function packRequests(events: readonly string[], maxBytes: number): { requests: PackedRequest[]; oversize: number[] } {
  const requests: PackedRequest[] = [];
  const oversize: number[] = [];
  let current: PackedRequest | null = null;
  for (const e of events) {
    const size = Buffer.byteLength(e, 'utf8');
    if (OVERHEAD + size > maxBytes) {
      oversize.push(size);
      continue;
    }
    // A comma separates this event from the previous one in the same request.
    if (current && current.bytes + 1 + size <= maxBytes) {
      current.events.push(e);
      current.bytes += 1 + size;
    } else {
      current = { events: [e], bytes: OVERHEAD + size };
      requests.push(current);
    }
  }
  return { requests, oversize };
}
