import winston from 'winston';
import type { Logger } from '../core/logger';
import { safeText } from '../core/text';
import { RotatingLogFile } from './log-file';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LogSettings {
  level: LogLevel;
  /** A file to append the agent's own log to, besides stderr (rotation: see maxSize/maxFiles), opened safely (log-file.ts). */
  file?: string | undefined;
  maxSize?: number | undefined;
  maxFiles?: number | undefined;
  /** Also write to stderr (default true; false under launchd, whose stderr file nobody rotates). */
  console?: boolean | undefined;
}

/**
 * The agent's own logs (never events: those go to sinks). Console goes to stderr so stdout stays
 * clean for the stdout sink. Messages can carry process names, so control characters are escaped:
 * one log entry is one line.
 */
export function createLogger(settings: LogSettings): Logger & { close(): void } {
  const line = winston.format.printf((info) => {
    const { timestamp, level, message, ...rest } = info as Record<string, unknown>;
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    return `${String(timestamp)} ${String(level)} ${safeText(String(message))}${extra}`;
  });
  const transports: winston.transport[] = [];
  if (settings.console !== false || !settings.file) {
    transports.push(new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }));
  }
  if (settings.file) {
    // Not winston's File transport: it opens the path as given, following a planted link.
    const stream = new RotatingLogFile(settings.file, settings.maxSize ?? 10 * 1024 * 1024, settings.maxFiles ?? 5);
    transports.push(new winston.transports.Stream({ stream }));
  }
  return winston.createLogger({ level: settings.level, format: winston.format.combine(winston.format.timestamp(), line), transports });
}

export { type Logger, memoryLogger } from '../core/logger';
