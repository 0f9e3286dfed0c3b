/**
 * Pure: a completed wire connection -> a ConnectionEvent with what its bytes say. The TLS
 * plaintext (libssl probes) is inspected when there is some; otherwise the socket writes. A TLS
 * ClientHello with no plaintext is 'none, static TLS' when the process has no libssl (or GnuTLS)
 * mapped - Go and statically linked Rust carry their own TLS, out of reach of library probes.
 */
import { inspectWire } from '../../../src/analyzer/wire/inspect';
import type { ConnectionEvent, Inspection, ProcessInfo } from '../../../src/core/types';
import { DEFAULT_WIRE_CAPS, type WireCaps } from '../../../src/core/wire';
import type { WireConnection } from './tracker';

export interface WireEventContext {
  time: string;
  process?: ProcessInfo;
  /** Does the process map a TLS library (libssl, libgnutls)? undefined: could not tell (it exited). */
  tlsLibraryMapped?: boolean;
  /** False when the TLS probes are switched off. */
  tlsProbes: boolean;
  caps?: WireCaps;
}

export const TLS_LIBRARY_RE = /\/lib(ssl|gnutls)\.so[.\d]*$/;

/** Does a /proc/<pid>/maps text map a TLS library? */
export function mapsTlsLibrary(maps: string): boolean {
  return maps.split('\n').some((line) => TLS_LIBRARY_RE.test(line.trim()));
}

/** libssl paths mapped in a /proc/<pid>/maps text (the files the TLS probes should attach to). */
export function libsslPathsIn(maps: string): string[] {
  const out = new Set<string>();
  for (const line of maps.split('\n')) {
    const m = /\s(\/\S*\/libssl\.so[.\d]*)$/.exec(line);
    if (m) out.add(m[1] as string);
  }
  return [...out];
}

export function wireEvent(conn: WireConnection, ctx: WireEventContext): ConnectionEvent {
  const caps = ctx.caps ?? DEFAULT_WIRE_CAPS;
  const e: ConnectionEvent = {
    time: ctx.time,
    adapter: 'wire',
    transport: 'tcp',
    family: conn.family,
    state: conn.completed === 'closed' && conn.plain.length + conn.tls.length === 0 ? 'CLOSE' : 'ESTABLISHED',
    source: conn.source ?? { ip: conn.family === 6 ? '::' : '0.0.0.0', port: 0 },
    destination: conn.hostname ? { ip: conn.ip, port: conn.port, hostname: conn.hostname } : { ip: conn.ip, port: conn.port },
    uid: conn.uid,
  };
  e.process = ctx.process ?? { pid: conn.pid, name: conn.comm, uid: conn.uid };
  let inspection: Inspection;
  if (conn.tls.length > 0) {
    e.wire = inspectWire(conn.tls, caps);
    inspection = 'tls-plaintext';
  } else if (conn.plain.length > 0) {
    e.wire = inspectWire(conn.plain, caps);
    inspection = 'plaintext';
    if (e.wire.protocol === 'TLS') {
      inspection = !ctx.tlsProbes ? 'none, off' : ctx.tlsLibraryMapped === false ? 'none, static TLS' : 'none, TLS plaintext not seen';
    }
  } else {
    inspection = 'none, no bytes';
  }
  e.inspection = inspection;
  return e;
}
