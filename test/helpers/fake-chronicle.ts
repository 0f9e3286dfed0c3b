/**
 * A local stand-in for the two Google endpoints the chronicle-api sink talks to (the live API is
 * not reachable from CI): an HTTPS server on 127.0.0.1 with a certificate made by openssl, serving
 *   POST /token                       OAuth JWT-bearer grant; checks the assertion's RS256 signature
 *                                     against the service account's public key and its claims
 *   POST /{version}/projects/.../events:import   records each request; answers from a script
 * The service-account key is generated here; nothing leaves the machine.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileP, findExecutable } from './lab-process';

export interface ImportRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  body: unknown;
}

export interface ScriptedResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export const SERVICE_ACCOUNT_EMAIL = 'brokerwatch-test@bw-test-project.iam.gserviceaccount.com';
export const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export class FakeChronicle {
  readonly imports: ImportRequest[] = [];
  readonly tokenRequests: { claims: Record<string, unknown>; kid: unknown }[] = [];
  /** Answers for the next events:import requests, in order; 200 with an empty body once empty. */
  readonly script: ScriptedResponse[] = [];
  /** Answers for the next token requests (default: a fresh token). */
  readonly tokenScript: ScriptedResponse[] = [];
  private tokenCount = 0;

  private constructor(
    readonly dir: string,
    readonly caFile: string,
    readonly credentialsFile: string,
    private readonly publicKey: crypto.KeyObject,
    private readonly server: https.Server,
  ) {}

  get origin(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get tokenUrl(): string {
    return `${this.origin}/token`;
  }

  /** Makes the certificate with openssl and starts listening. openssl: an absolute path. */
  static async start(openssl: string): Promise<FakeChronicle> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-fake-chronicle-'));
    const keyFile = path.join(dir, 'server.key');
    const certFile = path.join(dir, 'server.pem');
    await execFileP(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const credentialsFile = path.join(dir, 'service-account.json');
    fs.writeFileSync(credentialsFile, JSON.stringify({
      type: 'service_account', project_id: 'bw-test-project', private_key_id: 'test-key-1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: SERVICE_ACCOUNT_EMAIL,
      token_uri: 'https://oauth2.googleapis.com/token',
    }), { mode: 0o600 });
    let fake: FakeChronicle | undefined;
    const server = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => (fake as FakeChronicle).handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeChronicle(dir, certFile, credentialsFile, publicKey, server);
    return fake;
  }

  /** openssl's absolute path, or null. */
  static openssl(): string | null {
    return findExecutable('openssl');
  }

  reset(): void {
    this.imports.length = 0;
    this.tokenRequests.length = 0;
    this.script.length = 0;
    this.tokenScript.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const reply = (r: ScriptedResponse) => {
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(r.body ?? '');
    };
    if (req.method === 'POST' && req.url === '/token') return reply(this.token(body));
    if (req.method === 'POST' && req.url?.endsWith('/events:import')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      this.imports.push({ method: req.method, path: req.url, headers: req.headers, bytes: body.length, body: parsed });
      return reply(this.script.shift() ?? { status: 200 });
    }
    reply({ status: 404, body: JSON.stringify({ error: { code: 404, message: `no route ${req.method} ${req.url}`, status: 'NOT_FOUND' } }) });
  }

  /** Checks the JWT-bearer grant the way Google's token endpoint would (signature, iss, aud, scope, exp). */
  private token(body: Buffer): ScriptedResponse {
    const form = new URLSearchParams(body.toString('utf8'));
    const bad = (why: string): ScriptedResponse => ({ status: 400, body: JSON.stringify({ error: 'invalid_grant', error_description: why }) });
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return bad('grant_type');
    const [h, c, s] = (form.get('assertion') ?? '').split('.');
    if (h === undefined || c === undefined || s === undefined) return bad('assertion is not a JWT');
    if (!crypto.verify('RSA-SHA256', Buffer.from(`${h}.${c}`), this.publicKey, Buffer.from(s, 'base64url'))) return bad('Invalid JWT Signature.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (header.alg !== 'RS256') return bad('alg');
    if (claims.iss !== SERVICE_ACCOUNT_EMAIL || claims.scope !== SCOPE || claims.aud !== this.tokenUrl) return bad('claims');
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp - claims.iat > 3600) return bad('exp');
    this.tokenRequests.push({ claims, kid: header.kid });
    const scripted = this.tokenScript.shift();
    if (scripted) return scripted;
    this.tokenCount++;
    return { status: 200, body: JSON.stringify({ access_token: `test-token-${this.tokenCount}`, expires_in: 3599, token_type: 'Bearer' }) };
  }
}
