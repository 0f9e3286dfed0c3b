/**
 * Windows: a Service Control Manager service "brokerwatch" (automatic start, LocalSystem, restart on
 * failure) registered with sc.exe, running `run --service` (win32-scm.ts speaks the SCM protocol);
 * config, state and logs under %ProgramData%\brokerwatch. The package runs where it is installed:
 * put it where only administrators can write (%ProgramFiles%, as the MSI does), since the service
 * runs it as SYSTEM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SERVICE_NAME } from '../win32-scm';
import type { Command, Layout, Plan, PlanContext, Step } from './plan';
import { commentText, fillTemplate, yamlScalar } from './render';

const win = path.win32;

function programData(env: NodeJS.ProcessEnv = process.env): string {
  return env.ProgramData && win.isAbsolute(env.ProgramData) ? env.ProgramData : 'C:\\ProgramData';
}

/** %SystemRoot%\System32\sc.exe: by absolute path, never a PATH lookup. */
export function scPath(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.SystemRoot && win.isAbsolute(env.SystemRoot) ? env.SystemRoot : 'C:\\Windows';
  return win.join(root, 'System32', 'sc.exe');
}

export function windowsLayout(ctx: PlanContext): Layout {
  const data = win.join(programData(), 'brokerwatch');
  return {
    installDir: ctx.packageDir,
    serviceFile: `HKLM\\SYSTEM\\CurrentControlSet\\Services\\${SERVICE_NAME}`,
    configDir: data,
    configFile: win.join(data, 'config.yaml'),
    stateDir: win.join(data, 'state'),
    logDir: win.join(data, 'logs'),
    wrapper: '',
  };
}

/** A path as one quoted word of the service's command line; a quote inside cannot be expressed. */
function quoted(p: string): string {
  if (p.includes('"')) throw new Error(`cannot register a service for a path with a double quote in it: ${p}`);
  return `"${p}"`;
}

/** The command line the SCM starts: node, the CLI, `run --service --config FILE`. */
export function serviceCommandLine(layout: Layout, ctx: PlanContext): string {
  const main = win.join(ctx.packageDir, 'bin', 'brokerwatch.js');
  return `${quoted(ctx.nodePath)} ${quoted(main)} run --service --config ${quoted(layout.configFile)}`;
}

/** The starter config (or the --config text) plus the Windows locations of state and the agent's log. */
export function windowsConfig(layout: Layout, ctx: PlanContext): string {
  if (ctx.configText !== undefined) return ctx.configText;
  const common = fillTemplate(fs.readFileSync(path.join(ctx.packageDir, 'installers', 'common', 'config.yaml'), 'utf8'), {
    EVENTS_FILE: yamlScalar(win.join(layout.logDir, 'events.jsonl')),
    DEFAULT_CONFIG: commentText(win.join(layout.installDir, 'config', 'default.yaml')),
    CONFIG_FILE: commentText(layout.configFile),
  });
  return `${common}\n# Windows: spools and watchdog state, and the agent's own log, under %ProgramData%\\brokerwatch.\nstateDir: ${yamlScalar(layout.stateDir)}\nlogging:\n  level: info\n  file: ${yamlScalar(win.join(layout.logDir, 'brokerwatch.log'))}\n`;
}

export function planWindowsInstall(ctx: PlanContext): Plan {
  const layout = windowsLayout(ctx);
  const sc = scPath();
  const steps: Step[] = [
    { op: 'mkdir', path: layout.configDir, mode: 0o750 },
    { op: 'write', path: layout.configFile, content: windowsConfig(layout, ctx), mode: 0o640, keep: 'existing', why: ctx.configText !== undefined ? 'from --config' : 'starter config' },
    { op: 'mkdir', path: layout.stateDir, mode: 0o700 },
    { op: 'mkdir', path: layout.logDir, mode: 0o750 },
  ];
  const after: Command[] = [
    { file: sc, args: ['create', SERVICE_NAME, 'binPath=', serviceCommandLine(layout, ctx), 'start=', 'auto', 'obj=', 'LocalSystem', 'DisplayName=', 'brokerwatch pub/sub broker watch'], why: 'register the service: automatic start, LocalSystem' },
    { file: sc, args: ['description', SERVICE_NAME, 'Tells which process talks to which MQTT, XMPP, AMQP or STOMP broker (MITRE ATT&CK T1071.005)'], why: 'describe it in services.msc', optional: true },
    { file: sc, args: ['failure', SERVICE_NAME, 'reset=', '86400', 'actions=', 'restart/5000/restart/30000/restart/60000'], why: 'restart on failure (5 s, 30 s, then every 60 s)', optional: true },
    { file: sc, args: ['start', SERVICE_NAME], why: 'start brokerwatch now' },
  ];
  return {
    action: 'install',
    layout,
    before: [],
    steps,
    after,
    notes: [
      `edit ${layout.configFile}, then: brokerwatch reload (as an administrator)`,
      `see how it runs: brokerwatch status   |   ${win.join(layout.logDir, 'brokerwatch.log')}`,
      `the service runs this copy of brokerwatch (${ctx.packageDir}) as SYSTEM: keep it where only administrators can write`,
    ],
  };
}

export function planWindowsUninstall(ctx: PlanContext): Plan {
  const layout = windowsLayout(ctx);
  const sc = scPath();
  const purge = ctx.purge ?? false;
  return {
    action: 'uninstall',
    layout,
    before: [{ file: sc, args: ['stop', SERVICE_NAME], why: 'stop brokerwatch (it flushes its sinks)', optional: true }],
    steps: purge ? [layout.configDir].map((p) => ({ op: 'remove' as const, path: p, recursive: true })) : [],
    after: [{ file: sc, args: ['delete', SERVICE_NAME], why: 'remove the service (gone once it has stopped)' }],
    notes: purge ? [] : [`kept: ${layout.configDir} (config, state and spool, logs); uninstall --purge removes it`],
  };
}
