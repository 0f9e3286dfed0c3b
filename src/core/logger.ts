/**
 * The agent's own log, as the rest of the code sees it: four levels, one message string each.
 * src/service/log.ts implements it with winston; tests use memoryLogger. Messages may carry
 * process names: the implementation escapes control characters so one entry stays one line.
 */
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** A logger that keeps entries in memory, for tests of components that log. */
export function memoryLogger(entries: { level: string; message: string }[]): Logger {
  const push = (level: string) => (message: unknown): void => {
    entries.push({ level, message: String(message) });
  };
  return { error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') };
}
