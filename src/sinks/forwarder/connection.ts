/**
 * One TCP or TLS connection of the forwarder sink, and the errors that say what went wrong in
 * words an operator can act on ("not signed by the CA in tls.caFile", not just a code).
 */
import fsp from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';

export class ForwarderError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'ForwarderError';
  }
}

export interface TlsSettings {
  caFile: string | null;
  certFile: string | null;
  keyFile: string | null;
  servername: string | null;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  insecureSkipVerify: boolean;
}

export interface OpenOptions {
  host: string;
  port: number;
  tls: TlsSettings | null;
  connectTimeoutMs: number;
  keepAliveMs: number;
  readFile?: (path: string) => Promise<Buffer>;
}

const NOT_TRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA',
]);

/** An error from connect or the handshake, rewritten to name the problem and the setting to check. */
export function explainConnectError(err: NodeJS.ErrnoException, o: OpenOptions): ForwarderError {
  const where = `collector ${o.host}:${o.port}`;
  const code = err.code ?? 'ERROR';
  const t = o.tls;
  const detail = `${err.message} [${code}]`;
  if (NOT_TRUSTED.has(code)) {
    const anchor = t?.caFile ? `the CA in tls.caFile (${t.caFile})` : 'any CA in the system trust store (tls.caFile is not set)';
    return new ForwarderError(`TLS certificate verification failed: ${where} presented a certificate not signed by ${anchor}: ${detail}`, code);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const name = t?.servername ?? o.host;
    return new ForwarderError(`TLS certificate verification failed: the certificate of ${where} is not valid for the name ${name} (set tls.servername to a name the certificate holds): ${detail}`, code);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new ForwarderError(`TLS certificate verification failed: the certificate of ${where} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet (check the clock)'}: ${detail}`, code);
  }
  if (code === 'ECONNREFUSED') return new ForwarderError(`${where} refused the connection (is the collector listening on that port?)`, code);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ForwarderError(`cannot resolve the collector's host name ${o.host}: ${detail}`, code);
  if (code === 'ETIMEDOUT' || code === 'CONNECT_TIMEOUT') return new ForwarderError(`no connection to ${where} within ${o.connectTimeoutMs} ms`, code);
  if (t && (code === 'ECONNRESET' || code.startsWith('ERR_SSL') || code === 'EPROTO')) {
    return new ForwarderError(`TLS handshake with ${where} failed (does it listen for TLS? does it require a client certificate, tls.certFile/keyFile?): ${detail}`, code);
  }
  return new ForwarderError(`connection to ${where} failed: ${detail}`, code);
}

async function readSetting(read: (p: string) => Promise<Buffer>, key: string, file: string | null): Promise<Buffer | undefined> {
  if (file === null) return undefined;
  try {
    return await read(file);
  } catch (err) {
    throw new ForwarderError(`${key}: cannot read ${file}: ${(err as Error).message}`, 'TLS_FILE');
  }
}

/** Opens the socket; resolves once TCP is up or, with TLS, once the handshake and verification passed. */
export async function openSocket(o: OpenOptions): Promise<net.Socket> {
  const t = o.tls;
  let socket: net.Socket;
  let ready: string;
  if (t) {
    // Files are read at every connect, so renewed certificates are used without a restart.
    const read = o.readFile ?? ((p: string) => fsp.readFile(p));
    const [ca, cert, key] = await Promise.all([
      readSetting(read, 'tls.caFile', t.caFile), readSetting(read, 'tls.certFile', t.certFile), readSetting(read, 'tls.keyFile', t.keyFile),
    ]);
    socket = tls.connect({
      host: o.host,
      port: o.port,
      ca,
      cert,
      key,
      // SNI must not carry an IP address (RFC 6066); certificate checks still use the host.
      servername: t.servername ?? (net.isIP(o.host) === 0 ? o.host : undefined),
      minVersion: t.minVersion,
      rejectUnauthorized: !t.insecureSkipVerify,
      ...(t.insecureSkipVerify ? { checkServerIdentity: () => undefined } : {}),
    });
    ready = 'secureConnect';
  } else {
    socket = net.connect({ host: o.host, port: o.port });
    ready = 'connect';
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })), o.connectTimeoutMs);
    const fail = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(explainConnectError(err, o));
    };
    socket.once('error', fail);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, o.keepAliveMs);
      resolve(socket);
    });
  });
}

/**
 * A live connection. It is dead from the first error, end or close on; every pending write and
 * health wait is then rejected with the reason, so the caller knows those bytes are unconfirmed.
 */
export class Connection {
  dead: Error | null = null;
  inFlight = 0;
  backoffCounted = false;
  private readonly waiters = new Set<(err: Error) => void>();

  constructor(readonly socket: net.Socket, readonly label: string) {
    socket.on('error', (err: NodeJS.ErrnoException) => this.kill(new ForwarderError(`connection to ${label} failed: ${err.message} [${err.code ?? 'ERROR'}]`, err.code ?? 'ERROR')));
    socket.on('end', () => this.kill(new ForwarderError(`collector ${label} closed the connection`, 'CLOSED_BY_PEER')));
    socket.on('close', () => this.kill(new ForwarderError(`connection to ${label} closed`, 'CLOSED')));
    // A syslog collector sends nothing; read and discard so nothing it sends can stall the socket.
    socket.on('data', () => undefined);
  }

  private kill(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const w of this.waiters) w(err);
    this.waiters.clear();
    this.socket.destroy();
  }

  /** Resolves when the socket took the chunk (handed to the kernel); rejects if the connection dies first. */
  write(chunk: Buffer): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const onDead = (err: Error) => reject(err);
      this.waiters.add(onDead);
      this.socket.write(chunk, (err) => {
        this.waiters.delete(onDead);
        if (err) reject(this.dead ?? err);
        else if (this.dead) reject(this.dead);
        else resolve();
      });
    });
  }

  /** Resolves when the connection is still healthy after ms; rejects as soon as it dies. */
  healthyFor(ms: number): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const onDead = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(onDead);
        if (this.dead) reject(this.dead);
        else resolve();
      }, ms);
      this.waiters.add(onDead);
    });
  }

  /** Closes our side gracefully (FIN after the buffered bytes); destroys after graceMs. */
  end(graceMs = 2000): Promise<void> {
    if (this.dead) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), graceMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }
}
