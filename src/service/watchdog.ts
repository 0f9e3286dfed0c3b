/**
 * The watchdog: the daemon measures its own CPU time and resident memory every `interval`. CPU
 * averaged over `cpuWindow` above `maxCpuPercent`, or RSS above `maxRssMb`, means something is
 * wrong (a runaway loop, a leak): it logs one line with the numbers, records the exit for the
 * restart backoff, and exits with WATCHDOG_EXIT_CODE so the service manager starts a fresh one.
 * CPU percent is of one core (100 = one core busy), as osquery's watchdog counts it. It measures
 * this process only: a bpftrace child is not counted.
 */
import type { WatchdogSettings } from '../config/service';
import type { Logger } from '../core/logger';
import { recordWatchdogExit } from './restart-backoff';

export { stateDirSchema, watchdogSchema, type WatchdogSettings } from '../config/service';

/** The exit code of a watchdog exit: non-zero so systemd (Restart=on-failure) and launchd restart the agent. */
export const WATCHDOG_EXIT_CODE = 3;

export interface ResourceSample {
  /** Milliseconds (Date.now() clock). */
  at: number;
  /** User + system CPU time of this process so far, microseconds. */
  cpuMicros: number;
  rssBytes: number;
}

export interface WatchdogTrip {
  kind: 'cpu' | 'rss';
  message: string;
}

const MB = 1024 * 1024;
const fixed1 = (n: number) => n.toFixed(1);

/** The pure part: feed samples in time order; returns a trip when a limit is exceeded. */
export class WatchdogMonitor {
  private samples: ResourceSample[] = [];

  constructor(private readonly settings: Pick<WatchdogSettings, 'maxCpuPercent' | 'cpuWindow' | 'maxRssMb'>) {}

  add(sample: ResourceSample): WatchdogTrip | null {
    const { maxRssMb, maxCpuPercent, cpuWindow } = this.settings;
    if (sample.rssBytes > maxRssMb * MB) {
      return { kind: 'rss', message: `resident memory ${fixed1(sample.rssBytes / MB)} MB is over watchdog.maxRssMb ${maxRssMb} MB` };
    }
    this.samples.push(sample);
    // Keep the newest sample that is at least cpuWindow old as the baseline; drop older ones.
    while (this.samples.length > 2 && (this.samples[1] as ResourceSample).at <= sample.at - cpuWindow) this.samples.shift();
    const base = this.samples[0] as ResourceSample;
    const span = sample.at - base.at;
    if (span < cpuWindow || span <= 0) return null; // not yet a whole window: no verdict on a start-up burst
    const percent = ((sample.cpuMicros - base.cpuMicros) / 1000 / span) * 100;
    if (percent > maxCpuPercent) {
      return { kind: 'cpu', message: `CPU ${fixed1(percent)}% of one core averaged over the last ${Math.round(span / 1000)} s is over watchdog.maxCpuPercent ${maxCpuPercent}%` };
    }
    return null;
  }
}

export interface WatchdogDeps {
  log: Pick<Logger, 'error' | 'info'>;
  /** Ends the daemon with this code (run.ts: stop what can be stopped quickly, then process.exit). */
  exit(code: number, trip: WatchdogTrip): void;
  /** Where exits are recorded for the restart backoff (config stateDir); omitted: not recorded. */
  stateDir?: string;
  now?: () => number;
  /** Reads this process's CPU time and RSS; default process.cpuUsage() and process.memoryUsage.rss(). */
  sample?: () => { cpuMicros: number; rssBytes: number };
}

function processSample(): { cpuMicros: number; rssBytes: number } {
  const cpu = process.cpuUsage();
  return { cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss() };
}

/**
 * Starts sampling every settings.interval (the first sample at once). Returns a function that
 * stops it. Does nothing when settings.enabled is false. The timer does not keep the process alive.
 */
export function startWatchdog(settings: WatchdogSettings, deps: WatchdogDeps): () => void {
  if (!settings.enabled) return () => undefined;
  const now = deps.now ?? Date.now;
  const read = deps.sample ?? processSample;
  const monitor = new WatchdogMonitor(settings);
  let tripped = false;
  const check = () => {
    if (tripped) return;
    const trip = monitor.add({ at: now(), ...read() });
    if (!trip) return;
    tripped = true;
    clearInterval(timer);
    deps.log.error(`watchdog: ${trip.message}; exiting with code ${WATCHDOG_EXIT_CODE} so the service manager restarts brokerwatch`);
    if (deps.stateDir) {
      const problem = recordWatchdogExit(deps.stateDir, now(), trip.kind);
      if (problem) deps.log.error(`watchdog: ${problem} (the restart backoff will not know about this exit)`);
    }
    deps.exit(WATCHDOG_EXIT_CODE, trip);
  };
  const timer = setInterval(check, settings.interval);
  timer.unref();
  deps.log.info(`watchdog: limits ${settings.maxCpuPercent}% CPU over ${Math.round(settings.cpuWindow / 1000)} s, ${settings.maxRssMb} MB RSS; checked every ${Math.round(settings.interval / 100) / 10} s`);
  check();
  return () => {
    tripped = true;
    clearInterval(timer);
  };
}
