import path from 'node:path';
import { packageRoot } from '../config/embedded';
import { applyPlan, type Command, installerFor } from '../service/install';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT } from './common';
import { isRootUser, reportFailedCommands } from './install';

export const UNINSTALL_HELP = `Usage: brokerwatch uninstall [--purge] [--root DIR] [--dry-run]

Stops the brokerwatch service and removes what \`brokerwatch install\` wrote: the service file
(systemd unit or launchd plist), the installed package (/opt/brokerwatch on Linux,
/usr/local/lib/brokerwatch on macOS) and the /usr/local/bin/brokerwatch wrapper.

Your configuration (/etc/brokerwatch), the agent's state and spool (/var/lib/brokerwatch) and its
logs and event files are kept, so a later install carries on where this one stopped - unless you
give --purge.

Options:
  --purge         also remove the configuration, the state and spool, and the logs
  --root DIR      remove from the tree staged under DIR instead of /; runs no command
  --dry-run       print what would be removed and run; change nothing
  -h, --help      show this help

Exit codes: 0 removed, 2 error (not root, or the service manager failed: the message says what to run).

Examples:
  sudo brokerwatch uninstall
  sudo brokerwatch uninstall --purge --dry-run
`;

export interface UninstallDeps {
  io: CliIO;
  platform?: NodeJS.Platform;
  run?: (cmd: Command) => Promise<string | null>;
}

export async function uninstallCommand(argv: string[], deps: UninstallDeps): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    purge: { type: 'boolean' },
    root: { type: 'string' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const { io } = deps;
  if (values.help) {
    io.stdout(UNINSTALL_HELP);
    return EXIT.ok;
  }
  const platform = deps.platform ?? process.platform;
  const installer = installerFor(platform, 'uninstall');
  const root = values.root ? path.resolve(values.root) : '/';
  const dryRun = values['dry-run'] ?? false;
  if (root === '/' && !dryRun && !isRootUser()) {
    throw new Error('uninstall removes system files and stops a service: run it as root (sudo brokerwatch uninstall), or use --root DIR');
  }
  const plan = installer.planUninstall({ platform, root, packageDir: packageRoot(), nodePath: process.execPath, purge: values.purge ?? false });
  io.stdout(dryRun
    ? `brokerwatch uninstall (dry run: nothing is removed and no command is run)${root === '/' ? '' : `, under ${root}`}\n`
    : `uninstalling the brokerwatch ${installer.manager} service${root === '/' ? '' : ` under ${root}`}\n`);
  const { failed } = await applyPlan(plan, { root, dryRun, out: (t) => io.stdout(t), ...(deps.run ? { run: deps.run } : {}) });
  const code = reportFailedCommands(io, 'the files are removed', failed);
  if (!dryRun) for (const n of plan.notes) io.stdout(`${n}\n`);
  return code;
}
