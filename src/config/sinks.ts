/**
 * The config blocks of the sinks (the `sinks:` list, the forwarder, the Chronicle API, the spool
 * in front of them). They live in src/config so the schema can be composed without src/config
 * importing the sinks; the sinks import their config types from here.
 */
import { z } from 'zod';
import { backoffSchema, byteSize, durationMs } from './parts';
import { spoolSchema } from './spool';

export const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10,
  ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type FacilityName = keyof typeof FACILITIES;
export const FACILITY_NAMES = Object.keys(FACILITIES) as [FacilityName, ...FacilityName[]];

const MAX_LINE = 1_000_000; // the forwarder's limit is 1 MB per log line

const tlsFields = {
  /** PEM CA bundle that signed the collector's certificate; null: Node's bundled Mozilla roots. */
  caFile: z.string().min(1).nullable(),
  /** Client certificate and key (PEM), for collectors that require mutual TLS. Both or neither. */
  certFile: z.string().min(1).nullable(),
  keyFile: z.string().min(1).nullable(),
  /** The name to verify in the collector's certificate (and send as SNI); null: `host`. */
  servername: z.string().min(1).nullable(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']),
  /** Turns certificate verification off. Only ever explicit; a warning is logged at every connect. */
  insecureSkipVerify: z.boolean(),
};
const TLS_SETTINGS = Object.keys(tlsFields);

/**
 * `enabled` has no silent default once any other TLS setting is given: a block with caFile but
 * without `enabled: true` is an error, not plaintext. (Not "enables TLS": whether the collector
 * port speaks TLS is the operator's fact to state; guessing either way sends or fails by surprise.)
 * `enabled: false` stays valid: that is said, not implied.
 */
export const forwarderTlsSchema = z.strictObject({
  enabled: z.boolean().optional(),
  ...Object.fromEntries(Object.entries(tlsFields).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof tlsFields]: z.ZodOptional<(typeof tlsFields)[K]> },
}).superRefine((t, ctx) => {
  const given = TLS_SETTINGS.filter((k) => t[k as keyof typeof t] !== undefined);
  if (t.enabled === undefined && given.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `tls sets ${given.join(', ')} but not "enabled": events would go out as plaintext. Add "enabled: true" for TLS, or "enabled: false" to send plaintext on purpose`,
    });
  }
  if ((t.certFile === undefined || t.certFile === null) !== (t.keyFile === undefined || t.keyFile === null)) {
    ctx.addIssue({ code: 'custom', message: 'tls.certFile and tls.keyFile go together: set both or neither' });
  }
}).transform((t) => ({
  enabled: t.enabled ?? false,
  caFile: t.caFile ?? null,
  certFile: t.certFile ?? null,
  keyFile: t.keyFile ?? null,
  servername: t.servername ?? null,
  minVersion: t.minVersion ?? 'TLSv1.2',
  insecureSkipVerify: t.insecureSkipVerify ?? false,
}));

export const forwarderSinkSchema = z.strictObject({
  type: z.literal('forwarder'),
  host: z.string().min(1),
  /** 10514: the port in Google's forwarder syslog collector examples. */
  port: z.number().int().min(1).max(65535).default(10514),
  /**
   * Payload: sysmon (Sysmon Event ID 3 in NXLog's JSON shape) for the prebuilt WINDOWS_SYSMON parser
   * behind a forwarder or Bindplane; ocsf or udm only for a parser you own (or another SIEM).
   */
  format: z.enum(['udm', 'ocsf', 'sysmon']).default('sysmon'),
  framing: z.enum(['json', 'syslog']).default('json'),
  syslog: z.strictObject({
    facility: z.enum(FACILITY_NAMES).default('local0'),
    /** RFC 5424 HOSTNAME; null: this machine's host name. */
    hostname: z.string().min(1).nullable().default(null),
  }).prefault({}),
  tls: forwarderTlsSchema.prefault({}),
  /** Per-event cap (the forwarder takes up to 1 MB a line); longer strings are cut and the event says so. */
  maxEventBytes: byteSize.default(256 * 1024).refine((n) => n >= 4096 && n < MAX_LINE, { message: `maxEventBytes must be at least 4096 and below ${MAX_LINE}` }),
  /** Lines are joined into socket writes of about this size (one syscall, one TLS record run per chunk). */
  batchBytes: byteSize.default(256 * 1024),
  connectTimeout: durationMs.default(10_000),
  /** How long a connection must stay healthy after a write before its lines count as delivered. */
  ackGrace: durationMs.default(250),
  /** TCP keepalive idle time: probes find a vanished collector and keep NAT/firewall state. */
  keepAlive: durationMs.default(30_000),
  /** Close our side after this long without writes: before the forwarder's own 60 s idle cut. */
  idleClose: durationMs.default(50_000),
  reconnect: backoffSchema.prefault({}),
});

export type ForwarderSinkConfig = z.output<typeof forwarderSinkSchema>;

/** The request size cap ("4 MB"), in bytes: 4,000,000 is below both 4 MB and 4 MiB. */
export const MAX_REQUEST_BYTES = 4_000_000;

const httpsUrl = z.string().refine((v) => { try { const u = new URL(v); return u.protocol === 'https:' && u.search === '' && u.hash === ''; } catch { return false; } },
  { error: 'an https:// URL (the token is never sent over plain HTTP)' });
const pathSafe = (what: string) => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, `${what}: letters, digits, ".", "_", ":" or "-"`);

/** The config block of one `sinks:` entry with `type: chronicle-api`. */
export const chronicleApiSinkSchema = z.strictObject({
  type: z.literal('chronicle-api'),
  /** The SecOps instance's region: us, europe, europe-west2, asia-southeast1, ... */
  region: z.string().regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, 'a region such as us, europe or europe-west2'),
  /** Google Cloud project (id or number) the SecOps instance is bound to. */
  project: pathSafe('project'),
  /** The SecOps instance: the customer id (a UUID). */
  instance: pathSafe('instance'),
  /** Service-account JSON key with chronicle.events.import on the instance. */
  credentialsFile: z.string().min(1),
  apiVersion: z.enum(['v1alpha', 'v1beta', 'v1']).optional(),
  /** Base URL instead of https://{region}-chronicle.googleapis.com (regional .rep endpoints, Private Service Connect). */
  endpoint: httpsUrl.optional(),
  /** OAuth token endpoint instead of https://oauth2.googleapis.com/token. */
  tokenUrl: httpsUrl.optional(),
  /** A PEM CA to trust besides the public roots (private endpoints, TLS-inspecting proxies). */
  caFile: z.string().min(1).optional(),
  /** Upper bound of one request body, at most 4,000,000 bytes. */
  maxRequestBytes: z.number().int().min(64 * 1024).max(MAX_REQUEST_BYTES).optional(),
  /** Tries per request before write() rejects (the spool, if any, retries later). */
  maxAttempts: z.number().int().min(1).max(100).optional(),
  /** Per-request timeout. */
  requestTimeout: durationMs.optional(),
});

export type ChronicleApiSinkConfig = z.output<typeof chronicleApiSinkSchema>;

/**
 * Which record format a sink receives. The Chronicle API takes UDM only. sysmon: Sysmon Event ID 3
 * records in NXLog's JSON shape, for the WINDOWS_SYSMON parser (src/format/sysmon.ts).
 */
const format = z.enum(['udm', 'ocsf', 'sysmon']);

/**
 * The spool in front of a network sink. `path` defaults to <stateDir>/spool/<type>-<n>; `false`
 * turns the spool off (then records written while the collector is unreachable are lost).
 */
export const spoolBlock = z.union([z.literal(false), spoolSchema.extend({ path: z.string().min(1).optional() })]);

/**
 * One entry of the `sinks` list in the config. Strict like the rest of the schema: an unknown key
 * is an error that names its path. `path` is used as given (a relative path is relative to the
 * agent's working directory, which for a service is usually /).
 */
export const sinkSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('stdout'), format: format.default('udm') }),
  z.strictObject({
    type: z.literal('file'),
    path: z.string().min(1).refine((p) => !p.includes('\u0000'), { error: 'a file path cannot contain a NUL character' }),
    fsync: z.boolean().optional(),
    format: format.default('udm'),
  }),
  forwarderSinkSchema.extend({ spool: spoolBlock.optional() }),
  chronicleApiSinkSchema.extend({ spool: spoolBlock.optional() }),
]);

/** The whole `sinks` list. */
export const sinkListSchema = z.array(sinkSpecSchema);

export type SinkSpec = z.output<typeof sinkSpecSchema>;
export type RecordFormat = z.output<typeof format>;
