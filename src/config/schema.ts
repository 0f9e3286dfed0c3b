import { z } from 'zod';
import { controlSchema } from './control';
import { stateDirSchema, watchdogSchema } from './service';
import { sinkListSchema } from './sinks';
import { duration } from '../core/duration';
import { addressKind, isCidr } from './address-kind';

/**
 * The configuration schema. config/default.yaml documents every key; this file enforces it.
 * Objects are strict: an unknown key is an error that names its path.
 */

const SEVERITIES = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

const port = z.number().int().min(1).max(65535);
const protocolName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a protocol name (letters, digits, _ or -)');

const cidr = z.string().refine(isCidr, {
  error: (iss) => `not a CIDR block (address/prefix such as 10.0.0.0/8 or fc00::/7): ${JSON.stringify(iss.input)}`,
});

const address = z.string().refine((v) => addressKind(v) !== null, {
  error: (iss) => `not an IP address, CIDR block or host name: ${JSON.stringify(iss.input)}`,
});

/** A regular expression given as text; compiled here so a bad one is reported at load. */
const regex = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression ${JSON.stringify(v)}: ${(err as Error).message}` });
  }
});

const brokerEntry = z.union([
  address,
  z.strictObject({
    broker: address,
    ports: z.array(port).optional(),
    protocols: z.array(protocolName).optional(),
    comment: z.string().optional(),
  }),
]);

const appContextEntry = z.strictObject({
  /** Regex over the full executable path. */
  process: regex,
  /** Optional regex over the command line (for interpreters: which script). */
  cmdline: regex.optional(),
  protocols: z.array(protocolName).optional(),
  brokers: z.array(address).optional(),
  comment: z.string().optional(),
});

/**
 * A BrokerReputationList feed: a local file (absolute path) or an HTTPS URL of known-bad brokers,
 * loaded at start and again every `refresh` (see src/engine/reputation-feeds.ts).
 */
const reputationFeed = z.strictObject({
  source: z.string().min(1).refine((s) => s.startsWith('https://') || s.startsWith('/') || /^[A-Za-z]:\\/.test(s), {
    error: (iss) => `a feed is an absolute file path or an https:// URL (threat intelligence must not travel unauthenticated): ${JSON.stringify(iss.input)}`,
  }).refine((s) => !s.startsWith('https://') || URL.canParse(s), { error: (iss) => `not a valid URL: ${JSON.stringify(iss.input)}` }),
  format: z.enum(['auto', 'lines', 'csv', 'stix']).default('auto'),
  refresh: duration.prefault('1h'),
  /** PEM CA bundle for an HTTPS feed signed by a private CA; null: Node's bundled Mozilla roots. */
  caFile: z.string().min(1).nullable().default(null),
  comment: z.string().optional(),
});

const osLists = z.strictObject({
  linux: z.array(regex),
  windows: z.array(regex),
  darwin: z.array(regex),
});

export const configSchema = z.strictObject({
  mode: z.enum(['det0002', 'yaral-parity']),
  protocolPortList: z.record(protocolName, z.array(port).min(1)),
  tlsPorts: z.array(port),
  severityByProtocol: z.record(protocolName, z.enum(SEVERITIES)),
  defaultSeverity: z.enum(SEVERITIES),
  internalNetworks: z.array(cidr),
  includeLoopback: z.boolean(),
  brokerAllowList: z.array(brokerEntry),
  brokerAllowListRefresh: duration,
  brokerReputationList: z.array(brokerEntry),
  brokerReputationFeeds: z.array(reputationFeed),
  brokerSoftware: z.array(regex),
  unusualProcessList: osLists,
  appContextFilter: z.array(appContextEntry),
  timeWindow: duration,
  topicAnomalyScore: z.strictObject({
    enabled: z.boolean(),
    topicPatterns: z.array(regex),
    entropyThreshold: z.number().min(0).max(8),
    minEntropyLength: z.number().int().min(1),
    threshold: z.number().min(0),
  }),
  payloadLengthThreshold: z.number().int().min(0),
  uriPathRegex: z.array(regex),
  webBrokerPorts: z.array(port),
  wireInspection: z.strictObject({
    enabled: z.boolean(),
    plaintext: z.boolean(),
    tls: z.boolean(),
    hostnames: z.boolean(),
    allPorts: z.boolean(),
    extraPorts: z.array(port),
    captureBytes: z.number().int().min(16).max(200),
    captureWrites: z.number().int().min(1).max(256),
    highFrequency: z.strictObject({
      publishesPerSecond: z.number().positive(),
      minPublishes: z.number().int().min(2),
    }),
  }),
  procRoot: z.string().min(1),
  /** Deprecated alias of `adapter` (resolved and removed by loadConfig; see resolveCaptureAlias). */
  capture: z.enum(['auto', 'ebpf', 'procfs']).optional(),
  bpftracePath: z.string().min(1).nullable(),
  ebpfPerfBufferPages: z.number().int().min(1).max(4096).refine((n) => (n & (n - 1)) === 0, { error: 'must be a power of two (bpftrace rounds nothing: the kernel needs a power of two)' }),
  pollInterval: duration,
  beaconing: z.strictObject({
    enabled: z.boolean(),
    minConnections: z.number().int().min(3),
    maxJitter: z.number().min(0).max(1),
    minPeriod: duration,
    maxTracked: z.number().int().min(1),
  }),
  queueSize: z.number().int().min(1),
  sinks: sinkListSchema,
  logging: z.strictObject({
    level: z.enum(['error', 'warn', 'info', 'debug']),
    file: z.string().min(1).nullable(),
  }),
  control: controlSchema,
  watchdog: watchdogSchema,
  stateDir: stateDirSchema,
  adapter: z.enum(['auto', 'procfs', 'ebpf', 'lsof', 'iphlpapi', 'etw', 'netstat']),
});

/** A loaded configuration: the deprecated `capture` key is already folded into `adapter`. */
export type Config = Omit<z.output<typeof configSchema>, 'capture'>;
export type BrokerEntry = z.output<typeof brokerEntry>;
export type AppContextEntry = z.output<typeof appContextEntry>;
export type OsName = keyof Config['unusualProcessList'];
export type ReputationFeedSpec = z.output<typeof reputationFeed>;
