import type { OsName } from '../config/schema';
import type { ProcessInfo } from '../core/types';

/** The file name of a path, for both / and \ separators. */
export function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? path : path.slice(i + 1);
}

/** A pattern source that names a path separator ("/" or an escaped "\\") is matched against the full path. */
function isPathPattern(source: string): boolean {
  return source.includes('/') || source.includes('\\\\');
}

export interface ProcessPatternMatch {
  pattern: string;
  /** What matched: the executable path, its file name, or the process name. */
  on: 'exe' | 'file name' | 'process name';
  value: string;
}

/**
 * UnusualProcessList / brokerSoftware matching. A pattern without a path separator is tested
 * against the executable's file name and the process name (comm); one with a separator against
 * the full executable path. Windows and macOS file systems are case-insensitive, so are their lists.
 */
export class ProcessPatterns {
  private readonly patterns: { source: string; re: RegExp; path: boolean }[];

  constructor(sources: readonly string[], caseInsensitive: boolean) {
    this.patterns = sources.map((source) => ({ source, re: new RegExp(source, caseInsensitive ? 'i' : ''), path: isPathPattern(source) }));
  }

  match(proc: ProcessInfo | undefined): ProcessPatternMatch | null {
    if (!proc) return null;
    for (const p of this.patterns) {
      if (p.path) {
        if (proc.exe !== undefined && p.re.test(proc.exe)) return { pattern: p.source, on: 'exe', value: proc.exe };
        continue;
      }
      if (proc.exe !== undefined) {
        const file = baseName(proc.exe);
        if (p.re.test(file)) return { pattern: p.source, on: 'file name', value: file };
      }
      if (proc.name !== undefined && p.re.test(proc.name)) return { pattern: p.source, on: 'process name', value: proc.name };
    }
    return null;
  }
}

/** Regexes over the full executable path only (brokerSoftware): a process name proves nothing. */
export class ExePatterns {
  private readonly patterns: { source: string; re: RegExp }[];

  constructor(sources: readonly string[], caseInsensitive: boolean) {
    this.patterns = sources.map((source) => ({ source, re: new RegExp(source, caseInsensitive ? 'i' : '') }));
  }

  match(exe: string | undefined): string | null {
    if (exe === undefined) return null;
    return this.patterns.find((p) => p.re.test(exe))?.source ?? null;
  }
}

/** Which unusualProcessList applies to events from a host of this platform. */
export function osNameOf(platform: NodeJS.Platform): OsName {
  if (platform === 'win32') return 'windows';
  if (platform === 'darwin') return 'darwin';
  return 'linux';
}

/** DET0002 analytic id for the OS: AN0002 Windows, AN0003 Linux, AN0004 macOS. */
export const ANALYTIC_BY_OS: Readonly<Record<OsName, string>> = { windows: 'AN0002', linux: 'AN0003', darwin: 'AN0004' };
