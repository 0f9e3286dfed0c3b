/**
 * Small builders for analyzer tests. Rules always start from the shipped config/default.yaml
 * (loadConfig) so the tests exercise the defaults; overrides are merged the way a --config file is.
 */
import type { Resolver } from '../../src/analyzer/addresses';
import { type CompileOptions, compileRules, type Rules } from '../../src/analyzer/rules';
import { loadConfig, mergeConfig } from '../../src/config/load';
import type { Config } from '../../src/config/schema';
import type { ConnectionEvent, ProcessInfo } from '../../src/core/types';

const shipped = loadConfig().config;

/** Rules from the shipped defaults, with a partial override merged over them (lists replace, maps merge). */
export function rulesWith(override: Record<string, unknown> = {}, options: CompileOptions = {}): Rules {
  return compileRules(mergeConfig(shipped, override) as Config, { platform: 'linux', ...options });
}

export interface EventSpec {
  ip: string;
  port: number;
  exe?: string;
  name?: string;
  argv?: string[];
  exeDeleted?: boolean;
  /** false: no process at all (TIME_WAIT). */
  process?: false;
  pid?: number;
  state?: string;
  transport?: 'tcp' | 'udp';
}

let nextPid = 4000;

export function event(spec: EventSpec): ConnectionEvent {
  const family = spec.ip.includes(':') && !spec.ip.startsWith('::ffff:') ? 6 : 4;
  const e: ConnectionEvent = {
    time: '2026-11-22T05:43:12.000Z',
    adapter: 'test',
    transport: spec.transport ?? 'tcp',
    family,
    state: spec.state ?? 'ESTABLISHED',
    source: { ip: family === 6 ? '2001:db8::1' : '198.51.100.1', port: 45678 },
    destination: { ip: spec.ip, port: spec.port },
  };
  if (spec.process !== false) {
    const p: ProcessInfo = { pid: spec.pid ?? nextPid++ };
    if (spec.exe !== undefined) p.exe = spec.exe;
    const name = spec.name ?? (spec.exe !== undefined ? spec.exe.split(/[/\\]/).pop() : undefined);
    if (name !== undefined) p.name = name.slice(0, 15);
    if (spec.argv) {
      p.argv = spec.argv;
      p.cmdline = spec.argv.join(' ');
    }
    if (spec.exeDeleted) p.exeDeleted = true;
    e.process = p;
  }
  return e;
}

/** A resolver with a fixed table: the designed injection point for host-name entries. */
export function fixedResolver(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (name: string) => {
    calls.push(name);
    const hit = table[name];
    if (!hit) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return hit;
  };
  return Object.assign(fn, { calls });
}
