/**
 * What `run` adds around the Daemon to live as a service: the control socket (status, reload,
 * stop) and the watchdog. run.ts starts it once the daemon runs, calls reconfigure() after a
 * successful reload, and close() on the way out (after the daemon stopped).
 */
import type { Config } from '../config/schema';
import { resolveControlPath } from '../control/paths';
import { type ControlServer, startControlServer } from '../control/server';
import { collectStatus, type StatusDaemon, type StatusInfo } from '../control/status';
import type { Logger } from '../core/logger';
import { startWatchdog } from './watchdog';

export interface ServiceLifeOptions {
  config: Config;
  /** The --config files the daemon runs with (shown by status). */
  configFiles: string[];
  log: Logger;
  daemon: StatusDaemon;
  version: string;
  capture?: StatusInfo['capture'];
  spooled?: StatusInfo['spooled'];
  /** The same reload as SIGHUP: load the files, apply; { ok: false, message: why } when refused. */
  reload(): Promise<{ ok: boolean; message: string }>;
  /** The same stop as SIGTERM; resolves once the sinks are flushed. Called once per stop request. */
  stop(): Promise<void>;
  /** A watchdog trip: end the process with this code (after a bounded flush, if you like). */
  exit(code: number): void;
}

export interface ServiceLife {
  control: ControlServer;
  /** After a reload: restarts the watchdog with the new limits (the socket path needs a restart). */
  reconfigure(config: Config): void;
  /** Stops the watchdog and closes the control socket (a stop reply in flight is sent first). */
  close(): Promise<void>;
}

export async function startServiceLife(o: ServiceLifeOptions): Promise<ServiceLife> {
  let config = o.config;
  const socketPath = resolveControlPath(config.control.socket);
  const info: StatusInfo = { version: o.version, configFiles: o.configFiles, controlSocket: socketPath, ...(o.capture ? { capture: o.capture } : {}), ...(o.spooled ? { spooled: o.spooled } : {}) };
  const watch = (c: Config) => startWatchdog(c.watchdog, { log: o.log, exit: (code) => o.exit(code), stateDir: c.stateDir });
  const control = await startControlServer({
    socketPath,
    log: o.log,
    handlers: {
      status: () => collectStatus(o.daemon, info),
      reload: () => o.reload(),
      stop: () => o.stop(),
    },
  });
  let stopWatchdog = watch(config);
  return {
    control,
    reconfigure(next: Config) {
      if (resolveControlPath(next.control.socket) !== socketPath) {
        o.log.warn(`control.socket changed to ${resolveControlPath(next.control.socket)}: it takes effect at the next start; still listening on ${socketPath}`);
      }
      if (JSON.stringify(next.watchdog) !== JSON.stringify(config.watchdog) || next.stateDir !== config.stateDir) {
        stopWatchdog();
        stopWatchdog = watch(next);
      }
      config = next;
    },
    async close() {
      stopWatchdog();
      await control.close();
    },
  };
}
