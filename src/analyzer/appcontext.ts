import type { AppContextEntry } from '../config/schema';
import type { ProcessInfo } from '../core/types';
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

  /** The label of the approving entry, or null. An unknown executable path is never approved. */
  approve(proc: ProcessInfo | undefined, protocol: string, ip: string, port: number, hostname?: string): string | null {
    if (!proc || proc.exe === undefined) return null;
    for (const app of this.apps) {
      if (!app.process.test(proc.exe)) continue;
      if (app.cmdline && !app.cmdline.test(proc.cmdline ?? '')) continue;
      if (app.protocols && !app.protocols.has(protocol.toUpperCase())) continue;
      if (app.brokers && app.brokers.match(ip, port, protocol, hostname) === null) continue;
      return app.label;
    }
    return null;
  }
}
