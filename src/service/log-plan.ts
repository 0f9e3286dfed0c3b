/**
 * Where the agent's own log goes, decided at run time from how it was started:
 *   - under systemd: stderr only - journald stores, rotates and rate-limits it (journalctl -u brokerwatch);
 *   - under launchd: a rotated file in /Library/Logs/brokerwatch (launchd's StandardErrorPath is a
 *     plain file nobody rotates, so only crash output should land there);
 *   - in a terminal or anything else: stderr.
 * logging.file in the config always adds (or, under launchd, names) the rotated file.
 */
import type { LogLevel, LogSettings } from './log';

export type ServiceManager = 'systemd' | 'launchd' | 'scm' | null;

export interface LogPlan extends LogSettings {
  /** Write to stderr (createLogger's Console transport). */
  console: boolean;
  /** One line for the start-up log: why this destination. */
  why: string;
}

const DEFAULT_LOG_FILE: Partial<Record<NodeJS.Platform, string>> = {
  linux: '/var/log/brokerwatch/brokerwatch.log',
  darwin: '/Library/Logs/brokerwatch/brokerwatch.log',
  win32: 'C:\\ProgramData\\brokerwatch\\logs\\brokerwatch.log',
};

/** Rotation for the agent's own log file: 10 MiB per file, 5 files. */
export const LOG_ROTATION = { maxSize: 10 * 1024 * 1024, maxFiles: 5 };

/**
 * Which service manager started us. The installed unit and plist set BROKERWATCH_SERVICE; systemd
 * also sets INVOCATION_ID and, when stderr is the journal, JOURNAL_STREAM.
 */
export function detectServiceManager(env: NodeJS.ProcessEnv = process.env): ServiceManager {
  const declared = env.BROKERWATCH_SERVICE;
  if (declared === 'systemd' || declared === 'launchd' || declared === 'scm') return declared;
  if (env.JOURNAL_STREAM || env.INVOCATION_ID) return 'systemd';
  return null;
}

export function planLogging(
  logging: { level: LogLevel; file: string | null },
  ctx: { env?: NodeJS.ProcessEnv; platform?: NodeJS.Platform } = {},
): LogPlan {
  const manager = detectServiceManager(ctx.env ?? process.env);
  const platform = ctx.platform ?? process.platform;
  const base = { level: logging.level, ...LOG_ROTATION };
  if (manager === 'launchd') {
    const file = logging.file ?? DEFAULT_LOG_FILE[platform] ?? DEFAULT_LOG_FILE.darwin;
    return { ...base, console: false, file, why: `launchd service: logging to ${file} (rotated at 10 MiB, 5 files kept)` };
  }
  if (manager === 'scm') {
    // A Windows service has no console: stderr goes nowhere, so the rotated file is the log.
    const file = logging.file ?? DEFAULT_LOG_FILE.win32 as string;
    return { ...base, console: false, file, why: `Windows service: logging to ${file} (rotated at 10 MiB, 5 files kept)` };
  }
  if (manager === 'systemd') {
    return { ...base, console: true, file: logging.file ?? undefined, why: `systemd service: logging to stderr (the journal: journalctl -u brokerwatch)${logging.file ? ` and ${logging.file}` : ''}` };
  }
  return { ...base, console: true, file: logging.file ?? undefined, why: `logging to stderr${logging.file ? ` and ${logging.file}` : ''}` };
}
