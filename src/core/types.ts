/**
 * The records that flow through brokerwatch: Source -> ConnectionEvent -> Analyzer -> Finding -> Sink.
 * Every string that came from a process (name, exe, cmdline, user) is hostile data: it is only ever
 * carried as a JSON string value, never interpolated into a shell or a log format.
 */

import type { Inspection, WireInfo } from './wire';

export type { Inspection, WireInfo } from './wire';
export type Transport = 'tcp' | 'udp';
export type Severity = 'INFORMATIONAL' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export const SEVERITY_ORDER: readonly Severity[] = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

export interface Endpoint {
  /** Canonical text form: dotted IPv4, RFC 5952 short IPv6; IPv4-mapped (::ffff:a.b.c.d) written as the IPv4 it carries. */
  ip: string;
  port: number;
  /**
   * Destination only: the host name the process resolved before it connected (getaddrinfo, seen by
   * the wire probes) - UDM target.hostname, Sysmon DestinationHostname. Hostile text, like a
   * process name: the process chose it. The agent never resolves names itself for this.
   */
  hostname?: string;
}

export interface ProcessInfo {
  pid: number;
  ppid?: number;
  /** Kernel short name (comm, 15 chars on Linux) - the process can set it to anything. */
  name?: string;
  /** Resolved executable path; " (deleted)" is stripped and reported in exeDeleted. */
  exe?: string;
  exeDeleted?: boolean;
  /** exe was rebuilt from kernel path names but no file with that device and inode was found there: never approved. */
  exeUnverified?: boolean;
  /** Arguments joined with single spaces; argv keeps them apart. */
  cmdline?: string;
  argv?: string[];
  /** argv (and cmdline) were cut: only their beginning is known. */
  argvTruncated?: boolean;
  uid?: number;
  user?: string;
  /** ISO 8601 start time of the process. */
  startTime?: string;
  parentExe?: string;
  parentName?: string;
  /** Process identity from the recording tool when it has one (Sysmon's ProcessGuid); replayed records only. */
  guid?: string;
}

/** The OS a connection was recorded on: decides which OS analytic (AN0002/AN0003/AN0004) judges it. */
export type EventOs = 'windows' | 'linux' | 'darwin';

export interface ConnectionEvent {
  /** When the adapter observed the socket (ISO 8601). */
  time: string;
  adapter: string;
  transport: Transport;
  family: 4 | 6;
  /** TCP state name (ESTABLISHED, SYN_SENT, ...) or for UDP ESTABLISHED (connected) / UNCONN. */
  state: string;
  source: Endpoint;
  destination: Endpoint;
  /** Socket inode (Linux) when known; 0 means the kernel no longer ties the socket to a file. */
  inode?: number;
  /** Socket owner uid from the kernel table, when known. */
  uid?: number;
  /** Network namespace identifier (e.g. "net:[4026531840]") when known. */
  netns?: string;
  /** Owning process; absent when no process holds the socket (TIME_WAIT) or it could not be read. */
  process?: ProcessInfo;
  /** What the first bytes on the connection say (wire inspection), when they were captured. */
  wire?: WireInfo;
  /** Whether, and how, the connection's bytes could be inspected ("none, static TLS" ...). */
  inspection?: Inspection;
  /**
   * Every process holding the socket, when more than one does (an fd inherited across fork, or
   * passed): `process` is one of them. The socket is approved only if every holder is.
   */
  holders?: ProcessInfo[];
  /** Host that recorded the event (Sysmon Computer, UDM principal.hostname); absent = this host (live adapters). */
  host?: string;
  /** OS of the recording host; absent = this host's OS. A Windows Sysmon record is judged as Windows wherever replay runs. */
  os?: EventOs;
  /**
   * Who opened the connection. Absent = outbound (live adapters report the local side's connections).
   * 'inbound' (Sysmon Initiated=false, UDM network.direction INBOUND) is never judged as outbound.
   */
  direction?: 'inbound' | 'outbound';
}

export type OsName = EventOs;

export interface Warning {
  /** Stable machine-readable code, e.g. "proc-vanished", "proc-eacces", "parse-malformed-line". */
  code: string;
  message: string;
  /** How many times this warning happened (warnings are aggregated by code+message). */
  count: number;
}

export type DestinationClass = 'external' | 'internal' | 'loopback';

export interface Verdict {
  protocol: string;
  /** True for the TLS port of the protocol (8883, 5223, 5671, 61614). */
  tls: boolean;
  destinationClass: DestinationClass;
  /** 'finding' when a rule fired, 'allowed' when allowlists/approved apps cleared it, 'ignored' for internal destinations. */
  outcome: 'finding' | 'allowed' | 'ignored';
  reasons: string[];
}

export interface JudgedConnection extends ConnectionEvent {
  direction: 'outbound';
  verdict: Verdict;
}

export interface Finding {
  /** Stable id of this finding (hash of rule ids, host, process and destination). */
  id: string;
  rules: string[];
  technique: 'T1071.005';
  severity: Severity;
  protocol: string;
  tls: boolean;
  time: string;
  transport: Transport;
  state: string;
  process: ProcessInfo | null;
  destination: Endpoint;
  source: Endpoint;
  /** The host the connection happened on, when the event named one (replayed records). */
  host?: string;
  reasons: string[];
  /** Extra rule-specific facts (matched topic, anomaly score, ...). */
  details?: Record<string, unknown>;
}

export interface HostFacts {
  hostname: string;
  platform: NodeJS.Platform;
  os?: string;
  release?: string;
  arch?: string;
  ips?: string[];
  assetId?: string;
}

/** What a one-shot scan of a Source returns: the connections plus anything that went partially wrong. */
export interface Snapshot {
  connections: ConnectionEvent[];
  warnings: Warning[];
  /** Adapter-specific counters (sockets read, fd walks done, ...), shown in --json output. */
  stats: Record<string, number>;
}
