import type { AppContextEntry } from '../config/schema';
import type { ConnectionEvent, ProcessInfo } from '../core/types';
import { AddressList } from './addresses';

interface CompiledApp {
  process: RegExp;
  cmdline?: RegExp;
  protocols?: Set<string>;
  brokers?: AddressList;
  label: string;
}

/**
 * AppContextFilter: approved applications, by full executable path (never by process name, which
 * a process sets for itself), optionally narrowed by command line, protocols and brokers.
 */
export class AppContextFilter {
  private readonly apps: CompiledApp[];

  constructor(entries: readonly AppContextEntry[], caseInsensitive: boolean) {
    const flags = caseInsensitive ? 'i' : '';
    this.apps = entries.map((e) => {
      const app: CompiledApp = { process: new RegExp(e.process, flags), label: e.comment ? `${e.process} (${e.comment})` : e.process };
      if (e.cmdline !== undefined) app.cmdline = new RegExp(e.cmdline, flags);
      if (e.protocols) app.protocols = new Set(e.protocols.map((p) => p.toUpperCase()));
      if (e.brokers) app.brokers = new AddressList(e.brokers);
      return app;
    });
  }

  /** Address lists with host names, so the caller can resolve them with the allowlist. */
  get brokerLists(): AddressList[] {
    return this.apps.flatMap((a) => (a.brokers ? [a.brokers] : []));
  }

  /** The label of the approving entry, or null. An unknown or unconfirmed executable path is never approved. */
  approve(proc: ProcessInfo | undefined, protocol: string, ip: string, port: number, hostname?: string): string | null {
    if (!proc || proc.exe === undefined || proc.exeUnverified === true) return null;
    for (const app of this.apps) {
      if (!app.process.test(proc.exe)) continue;
      if (app.cmdline && !app.cmdline.test(proc.cmdline ?? '')) continue;
      if (app.protocols && !app.protocols.has(protocol.toUpperCase())) continue;
      if (app.brokers && app.brokers.match(ip, port, protocol, hostname) === null) continue;
      return app.label;
    }
    return null;
  }

  /**
   * A socket is approved only if every process holding it is (a shared socket is as trusted as its
   * least trusted holder). Returns the approving label of the event's process, or null with the
   * first holder that is not approved (oldest first), which is the one to blame.
   */
  approveSocket(conn: Pick<ConnectionEvent, 'process' | 'holders'>, protocol: string, ip: string, port: number, hostname?: string): { label: string } | { label: null; blamed: ProcessInfo | undefined } {
    const holders = conn.holders && conn.holders.length > 0 ? conn.holders : conn.process ? [conn.process] : [];
    if (holders.length === 0) return { label: null, blamed: undefined };
    for (const h of holders) if (this.approve(h, protocol, ip, port, hostname) === null) return { label: null, blamed: h };
    return { label: this.approve(conn.process ?? holders[0], protocol, ip, port, hostname) as string };
  }
}
