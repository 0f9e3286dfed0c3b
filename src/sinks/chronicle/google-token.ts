/**
 * OAuth 2.0 access tokens for a Google service account: the JWT bearer grant (RFC 7523) that
 * google-auth-library's JWT client performs, done with node:crypto and node:https. Why not the
 * library: its current major (11.x) needs Node >= 22 while brokerwatch supports Node 20; the
 * older line pulls gaxios, node-fetch and gcp-metadata into an agent that runs as root; and the
 * token request must go through the same TLS agent (custom CA, private endpoints, the tests'
 * local server) as the API call. The grant itself is small and fixed:
 *   header {"alg":"RS256","typ":"JWT","kid":private_key_id}
 *   claims {"iss":client_email,"scope":scope,"aud":token_url,"iat":now,"exp":now+3600}
 *   POST token_url  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>
 * (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type https from 'node:https';
import { safeText } from '../../core/text';
import { httpsPost } from './https-post';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const ASSERTION_LIFETIME_S = 3600;
/** A token is renewed this long before Google says it expires (clock skew, slow requests). */
const RENEW_EARLY_MS = 5 * 60_000;

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
}

/** An error getting a token. retriable: a 5xx or network trouble at the token endpoint. */
export class TokenError extends Error {
  constructor(message: string, readonly retriable: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TokenError';
  }
}

/** Reads the fields the grant needs from a service-account JSON key; the message names the file, never the key. */
export function parseServiceAccount(text: string, file: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TokenError(`credentials file ${file} is not JSON`, false);
  }
  const o = (json ?? {}) as Record<string, unknown>;
  if (o.type !== undefined && o.type !== 'service_account') throw new TokenError(`credentials file ${file}: type is ${JSON.stringify(o.type)}, expected "service_account"`, false);
  if (typeof o.client_email !== 'string' || o.client_email === '') throw new TokenError(`credentials file ${file}: client_email is missing`, false);
  if (typeof o.private_key !== 'string' || !o.private_key.includes('PRIVATE KEY')) throw new TokenError(`credentials file ${file}: private_key is missing or not PEM`, false);
  return { client_email: o.client_email, private_key: o.private_key, ...(typeof o.private_key_id === 'string' ? { private_key_id: o.private_key_id } : {}) };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The signed JWT assertion for the grant. */
export function signAssertion(key: ServiceAccountKey, tokenUrl: string, scope: string, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) };
  const claims = { iss: key.client_email, scope, aud: tokenUrl, iat, exp: iat + ASSERTION_LIFETIME_S };
  const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = crypto.sign('RSA-SHA256', Buffer.from(unsigned), key.private_key);
  return `${unsigned}.${base64url(signature)}`;
}

export interface TokenSourceOptions {
  credentialsFile: string;
  tokenUrl: string;
  scope: string;
  agent: https.Agent;
  timeoutMs: number;
  now: () => number;
}

/** Fetches and caches an access token; concurrent callers share one request. */
export class ServiceAccountTokenSource {
  private cached: { token: string; renewAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(private readonly options: TokenSourceOptions) {}

  token(): Promise<string> {
    if (this.cached && this.options.now() < this.cached.renewAt) return Promise.resolve(this.cached.token);
    this.pending ??= this.fetch().finally(() => { this.pending = null; });
    return this.pending;
  }

  /** Forget the cached token (the API said 401): the next call asks for a new one. */
  invalidate(): void {
    this.cached = null;
  }

  private async fetch(): Promise<string> {
    const { credentialsFile, tokenUrl, scope } = this.options;
    let text: string;
    try {
      text = await fs.readFile(credentialsFile, 'utf8');
    } catch (err) {
      throw new TokenError(`cannot read credentials file ${credentialsFile}: ${(err as Error).message}`, false, err);
    }
    const key = parseServiceAccount(text, credentialsFile);
    let assertion: string;
    try {
      assertion = signAssertion(key, tokenUrl, scope, this.options.now());
    } catch (err) {
      throw new TokenError(`credentials file ${credentialsFile}: cannot sign with private_key: ${(err as Error).message}`, false, err);
    }
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
    let res;
    try {
      res = await httpsPost(new URL(tokenUrl), form, { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, this.options.agent, this.options.timeoutMs);
    } catch (err) {
      throw new TokenError(`token request failed: ${(err as Error).message}`, true, err);
    }
    const body = parseJson(res.body);
    if (res.status < 200 || res.status >= 300) {
      // OAuth errors: {"error":"invalid_grant","error_description":"..."}.
      const what = [body?.error, body?.error_description].filter((s) => typeof s === 'string').join(': ') || res.body.slice(0, 200);
      throw new TokenError(`token request to ${tokenUrl} for ${key.client_email}: HTTP ${res.status}: ${safeText(String(what), 500)}`, res.status >= 500 || res.status === 429);
    }
    const token = body?.access_token;
    if (typeof token !== 'string' || token === '') throw new TokenError(`token response from ${tokenUrl} has no access_token`, false);
    const expiresIn = typeof body?.expires_in === 'number' ? body.expires_in : ASSERTION_LIFETIME_S;
    this.cached = { token, renewAt: this.options.now() + Math.max(0, expiresIn * 1000 - RENEW_EARLY_MS) };
    return token;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
