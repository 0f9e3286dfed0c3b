/**
 * Linux: a systemd unit in /etc/systemd/system, the package in /opt/brokerwatch, config in
 * /etc/brokerwatch (kept on upgrade), state in /var/lib/brokerwatch, logs in /var/log/brokerwatch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Command, commonPaths, type Layout, type Plan, type PlanContext, installSteps, underRoot, WRAPPER_MARKER, wrapperScript } from './plan';
import { commentText, fillTemplate, shWord, systemdArg, systemdExecutable, systemdFileUri, yamlScalar } from './render';
import { packageFileText } from '../../config/embedded';

export const UNIT_NAME = 'brokerwatch.service';

export const LINUX_LAYOUT: Layout = {
  installDir: '/opt/brokerwatch',
  serviceFile: `/etc/systemd/system/${UNIT_NAME}`,
  configDir: '/etc/brokerwatch',
  configFile: '/etc/brokerwatch/config.yaml',
  stateDir: '/var/lib/brokerwatch',
  logDir: '/var/log/brokerwatch',
  wrapper: '/usr/local/bin/brokerwatch',
};

/** systemctl by absolute path where it usually is (no PATH lookup for a root tool). */
export function systemctlPath(exists: (p: string) => boolean = fs.existsSync): string {
  return ['/usr/bin/systemctl', '/bin/systemctl'].find((p) => exists(p)) ?? '/usr/bin/systemctl';
}

/** The installed copy of config/default.yaml (in a release, beside the binary, as documentation: the binary embeds it). */
export function defaultConfigDoc(layout: Layout, ctx: PlanContext): string {
  return ctx.release ? path.posix.join(layout.installDir, 'default.yaml') : path.posix.join(layout.installDir, 'config', 'default.yaml');
}

/** The starter config (or the --config text): a file sink in the log folder. Shared with macOS. */
export function starterConfig(layout: Layout, ctx: PlanContext): string {
  if (ctx.configText !== undefined) return ctx.configText;
  return fillTemplate(packageFileText('installers/common/config.yaml'), {
    EVENTS_FILE: yamlScalar(path.posix.join(layout.logDir, 'events.jsonl')),
    DEFAULT_CONFIG: commentText(defaultConfigDoc(layout, ctx)),
    CONFIG_FILE: commentText(layout.configFile),
  });
}

export function renderUnit(layout: Layout, ctx: PlanContext): string {
  const [exe, ...args] = commonPaths(layout, ctx).command as [string, ...string[]];
  return fillTemplate(packageFileText('installers/linux/brokerwatch.service'), {
    COMMAND: [systemdExecutable(exe), ...args.map(systemdArg)].join(' '),
    CONFIG_FILE: systemdArg(layout.configFile),
    DOC_URI: systemdFileUri(defaultConfigDoc(layout, ctx)),
  });
}

export function planLinuxInstall(ctx: PlanContext): Plan {
  const layout = LINUX_LAYOUT;
  const paths = commonPaths(layout, ctx);
  const upgrade = fs.existsSync(underRoot(ctx.root, layout.serviceFile)) || fs.existsSync(underRoot(ctx.root, layout.installDir));
  const systemctl = systemctlPath();
  const after: Command[] = [
    { file: systemctl, args: ['daemon-reload'], why: 'make systemd read the new unit' },
    { file: systemctl, args: ['enable', '--now', UNIT_NAME], why: 'start brokerwatch now and at every boot' },
  ];
  if (upgrade) after.push({ file: systemctl, args: ['restart', UNIT_NAME], why: 'run the upgraded version' });
  return {
    action: 'install',
    layout,
    before: [],
    steps: installSteps(layout, ctx, { config: starterConfig(layout, ctx), service: renderUnit(layout, ctx), wrapper: wrapperScript(paths.command, shWord) }),
    after,
    notes: [
      `edit ${layout.configFile}, then: sudo brokerwatch reload`,
      'see how it runs: sudo brokerwatch status   |   journalctl -u brokerwatch',
    ],
  };
}

export function planLinuxUninstall(ctx: PlanContext): Plan {
  const layout = LINUX_LAYOUT;
  const systemctl = systemctlPath();
  const purge = ctx.purge ?? false;
  return {
    action: 'uninstall',
    layout,
    before: [{ file: systemctl, args: ['disable', '--now', UNIT_NAME], why: 'stop brokerwatch and remove it from boot' }],
    steps: [
      { op: 'remove', path: layout.serviceFile, recursive: false },
      { op: 'remove', path: layout.installDir, recursive: true },
      { op: 'remove', path: layout.wrapper, recursive: false, onlyIfContains: WRAPPER_MARKER },
      ...(purge
        ? [layout.configDir, layout.stateDir, layout.logDir].map((p) => ({ op: 'remove' as const, path: p, recursive: true }))
        : []),
    ],
    after: [{ file: systemctl, args: ['daemon-reload'], why: 'make systemd forget the unit' }],
    notes: purge ? [] : [`kept: ${layout.configDir} (config), ${layout.stateDir} (state, spool), ${layout.logDir} (logs); uninstall --purge removes them`],
  };
}
