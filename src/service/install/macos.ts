/**
 * macOS: a launchd daemon plist in /Library/LaunchDaemons, the package in /usr/local/lib/brokerwatch,
 * config in /etc/brokerwatch (kept on upgrade), state in /var/lib/brokerwatch, logs in
 * /Library/Logs/brokerwatch (where Console.app looks).
 */
import fs from 'node:fs';
import { starterConfig } from './linux';
import { commonPaths, type Layout, type Plan, type PlanContext, installSteps, underRoot, WRAPPER_MARKER, wrapperScript } from './plan';
import { fillTemplate, shWord, xmlText } from './render';
import { packageFileText } from '../../config/embedded';

export const LAUNCHD_LABEL = 'com.brokerwatch.agent';
const LAUNCHCTL = '/bin/launchctl';

export const MACOS_LAYOUT: Layout = {
  installDir: '/usr/local/lib/brokerwatch',
  serviceFile: `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`,
  configDir: '/etc/brokerwatch',
  configFile: '/etc/brokerwatch/config.yaml',
  stateDir: '/var/lib/brokerwatch',
  logDir: '/Library/Logs/brokerwatch',
  wrapper: '/usr/local/bin/brokerwatch',
};

/** The ProgramArguments words before the command: one XML-escaped <string> each. */
export function plistProgram(command: string[]): string {
  return command.map((w) => `<string>${xmlText(w)}</string>`).join('\n    ');
}

export function renderPlist(layout: Layout, ctx: PlanContext): string {
  const program = plistProgram(commonPaths(layout, ctx).command);
  const text = packageFileText('installers/macos/com.brokerwatch.agent.plist');
  return fillTemplate(text, { PROGRAM: program, CONFIG_FILE: xmlText(layout.configFile), LOG_DIR: xmlText(layout.logDir) });
}

export function planMacosInstall(ctx: PlanContext): Plan {
  const layout = MACOS_LAYOUT;
  const paths = commonPaths(layout, ctx);
  const upgrade = fs.existsSync(underRoot(ctx.root, layout.serviceFile));
  return {
    action: 'install',
    layout,
    // launchd keeps running the old job definition until it is booted out.
    before: upgrade ? [{ file: LAUNCHCTL, args: ['bootout', `system/${LAUNCHD_LABEL}`], why: 'stop the installed version' }] : [],
    steps: installSteps(layout, ctx, { config: starterConfig(layout, ctx), service: renderPlist(layout, ctx), wrapper: wrapperScript(paths.command, shWord) }),
    after: [
      { file: LAUNCHCTL, args: ['enable', `system/${LAUNCHD_LABEL}`], why: 'allow the job to run (it may have been disabled)' },
      { file: LAUNCHCTL, args: ['bootstrap', 'system', layout.serviceFile], why: 'load and start brokerwatch now and at every boot' },
    ],
    notes: [
      `edit ${layout.configFile}, then: sudo brokerwatch reload`,
      `see how it runs: sudo brokerwatch status   |   ${layout.logDir}/brokerwatch.log`,
    ],
  };
}

export function planMacosUninstall(ctx: PlanContext): Plan {
  const layout = MACOS_LAYOUT;
  const purge = ctx.purge ?? false;
  return {
    action: 'uninstall',
    layout,
    before: [{ file: LAUNCHCTL, args: ['bootout', `system/${LAUNCHD_LABEL}`], why: 'stop brokerwatch and unload it' }],
    steps: [
      { op: 'remove', path: layout.serviceFile, recursive: false },
      { op: 'remove', path: layout.installDir, recursive: true },
      { op: 'remove', path: layout.wrapper, recursive: false, onlyIfContains: WRAPPER_MARKER },
      ...(purge ? [layout.configDir, layout.stateDir, layout.logDir].map((p) => ({ op: 'remove' as const, path: p, recursive: true })) : []),
    ],
    after: [],
    notes: purge ? [] : [`kept: ${layout.configDir} (config), ${layout.stateDir} (state, spool), ${layout.logDir} (logs); uninstall --purge removes them`],
  };
}
