/**
 * The ONE place that switches on process.platform: which adapters exist here and which is the
 * default. An adapter that cannot run on this host says so in one line (AdapterUnavailableError).
 */
import fs from 'node:fs';
import type { Config } from '../src/config/schema';
import { AdapterUnavailableError, type Source } from '../src/core/source';
import { ProcfsSource } from './linux/procfs/source';

export interface AdapterContext {
  config: Config;
  /** The analyzer's pre-filter: which remote endpoints are worth attributing to a process. */
  isCandidate(ip: string, port: number): boolean;
  platform?: NodeJS.Platform;
}

interface AdapterSpec {
  description: string;
  platforms: NodeJS.Platform[];
  create(ctx: AdapterContext): Source;
}

export const ADAPTERS: Readonly<Record<string, AdapterSpec>> = {
  procfs: {
    description: 'Linux /proc/net tables + /proc/<pid>/fd attribution (procRoot in config)',
    platforms: ['linux'],
    create(ctx) {
      const root = ctx.config.procRoot;
      if (!fs.existsSync(`${root}/net/tcp`) && !fs.existsSync(`${root}/self/net/tcp`) && !fs.existsSync(`${root}/1/net/tcp`)) {
        throw new AdapterUnavailableError('procfs', `no procfs at ${root} (set procRoot in the config)`);
      }
      return new ProcfsSource({ procRoot: root, isCandidate: ctx.isCandidate });
    },
  },
};

const DEFAULT_ADAPTER: Partial<Record<NodeJS.Platform, string>> = { linux: 'procfs' };

export function adapterNames(): string[] {
  return Object.keys(ADAPTERS);
}

/** Picks and builds the adapter: `auto` means this platform's default. */
export function createSource(name: string, ctx: AdapterContext): Source {
  const platform = ctx.platform ?? process.platform;
  const chosen = name === 'auto' ? DEFAULT_ADAPTER[platform] : name;
  if (chosen === undefined) {
    throw new AdapterUnavailableError('auto', `no socket adapter for ${platform} yet (supported today: Linux procfs; see the README's platform matrix)`);
  }
  const spec = ADAPTERS[chosen];
  if (!spec) throw new AdapterUnavailableError(chosen, `unknown adapter; choose one of: auto, ${adapterNames().join(', ')}`);
  if (!spec.platforms.includes(platform)) throw new AdapterUnavailableError(chosen, `runs on ${spec.platforms.join(', ')}, not on ${platform}`);
  return spec.create(ctx);
}
