/**
 * Renders wire.bt: the port filter, the caps, and the uprobe blocks for each libssl and for libc.
 * Pure. Library paths go into the program text, so only plain absolute paths are accepted (no
 * quote, space, brace or colon could turn a path into bpftrace code).
 */
export const WIRE_FORMAT_VERSION = 1;

export interface WireProgramOptions {
  /** Watched destination ports; null = every port. */
  ports: readonly number[] | null;
  captureWrites: number;
  captureBytes: number;
  /** libssl paths to probe (empty: no TLS plaintext). */
  libssl: readonly string[];
  /** libc path for getaddrinfo (null: no host names). */
  libc: string | null;
}

export interface WireTemplates {
  program: string;
  ssl: string;
  gai: string;
}

const SAFE_PATH = /^\/[A-Za-z0-9._+\-/]{1,255}$/;

export function safeLibraryPath(p: string): boolean {
  return SAFE_PATH.test(p) && !p.split('/').includes('..');
}

function checkInt(name: string, n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`wire program: ${name} must be an integer ${min}-${max}, got ${String(n)}`);
  return n;
}

export function wirePortFilter(ports: readonly number[] | null): string {
  if (ports === null) return '1';
  const valid = [...new Set(ports.map((p) => checkInt('port', p, 1, 65535)))].sort((a, b) => a - b);
  if (valid.length === 0) return '0';
  return `(${valid.map((p) => `$port == ${p}`).join(' || ')})`;
}

export function renderWireProgram(t: WireTemplates, o: WireProgramOptions): string {
  for (const p of [...o.libssl, ...(o.libc ? [o.libc] : [])]) {
    if (!safeLibraryPath(p)) throw new Error(`wire program: refusing library path ${JSON.stringify(p)} (only plain absolute paths)`);
  }
  const ssl = o.libssl.map((lib) => t.ssl.replaceAll('__LIB__', lib)).join('\n');
  const gai = o.libc ? t.gai.replaceAll('__LIB__', o.libc) : '';
  return t.program
    .replace('__PORT_FILTER__', wirePortFilter(o.ports))
    .replaceAll('__WRITES__', String(checkInt('captureWrites', o.captureWrites, 1, 256)))
    .replaceAll('__BYTES__', String(checkInt('captureBytes', o.captureBytes, 16, 200)))
    .replace('__SSL_PROBES__', ssl)
    .replace('__GAI_PROBES__', gai);
}
