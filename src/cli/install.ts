import fs from 'node:fs';
import path from 'node:path';
import { isReleaseBinary, packageRoot } from '../config/embedded';
import { loadConfig } from '../config/load';
import { applyPlan, type Command, cmdText, installerFor } from '../service/install';
import { underRoot } from '../service/install/plan';
import { parseCommandArgs } from './args';
import { type CliIO, EXIT, version } from './common';

export const INSTALL_HELP = `Usage: brokerwatch install [--config FILE] [--root DIR] [--dry-run]

Installs brokerwatch as a system service and starts it. Run it as root from the package you want
installed (a clone after \`npm ci\`, or an unpacked release). Installing again upgrades in place.

On Linux (systemd):
  /opt/brokerwatch                          the runtime package: package.json, bin, dist, config,
                                            installers and only the production node_modules (plus a
                                            copy of node when yours lives under /root or /home,
                                            which the service's sandbox hides); from a release
                                            binary: the binary, koffi.node and default.yaml
  /etc/systemd/system/brokerwatch.service   a hardened unit: only the capabilities eBPF capture and
                                            /proc attribution need, read-only system, no homes
  /etc/brokerwatch/config.yaml              --config FILE, or a commented starter config writing
                                            events to /var/log/brokerwatch/events.jsonl; written
                                            only when missing, so upgrades keep your config
  /var/lib/brokerwatch (0700)               state; /var/log/brokerwatch (0750) logs and events
  /usr/local/bin/brokerwatch                a wrapper, so \`sudo brokerwatch status\` works
then runs systemctl daemon-reload and systemctl enable --now brokerwatch.service.
On macOS (launchd): /usr/local/lib/brokerwatch, /Library/LaunchDaemons/com.brokerwatch.agent.plist,
logs in /Library/Logs/brokerwatch, then launchctl bootstrap. Windows: not yet supported.

Options:
  --config FILE   the config to install (checked first; ignored if a config is already installed)
  --root DIR      write every file under DIR instead of / (packaging, tests); runs no command
  --dry-run       print every file (path, mode and content) and command; change nothing
  -h, --help      show this help

Exit codes: 0 installed and started, 2 error (not root, bad --config, or the service manager
failed: then the message says what was installed and what to run yourself).

Examples:
  sudo brokerwatch install --dry-run
  sudo brokerwatch install --config ./fleet.yaml
  brokerwatch install --root ./pkgroot      # stage for a .deb/.rpm/.pkg build
`;

export interface InstallDeps {
  io: CliIO;
  platform?: NodeJS.Platform;
  packageDir?: string;
  nodePath?: string;
  /** Install packageDir as a release binary of this name (default: when this process is one). null: never. */
  release?: { binary: string } | null;
  /** Service commands (systemctl, launchctl); default execFile. */
  run?: (cmd: Command) => Promise<string | null>;
}

export function isRootUser(): boolean {
  return typeof process.getuid !== 'function' || process.getuid() === 0;
}

/** Says what is in place and what the user must run when the service manager did not do it. */
export function reportFailedCommands(io: CliIO, what: string, failed: { cmd: Command; why: string }[]): number {
  if (failed.length === 0) return EXIT.ok;
  io.stderr(`brokerwatch: ${what}, but the service manager step failed:\n`);
  for (const f of failed) io.stderr(`  ${cmdText(f.cmd)}: ${f.why}\n`);
  io.stderr('Run these yourself, as root:\n');
  for (const f of failed) io.stderr(`  ${cmdText(f.cmd)}\n`);
  return EXIT.error;
}

export async function installCommand(argv: string[], deps: InstallDeps): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    config: { type: 'string' },
    root: { type: 'string' },
    'dry-run': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const { io } = deps;
  if (values.help) {
    io.stdout(INSTALL_HELP);
    return EXIT.ok;
  }
  const platform = deps.platform ?? process.platform;
  const installer = installerFor(platform, 'install');
  const root = values.root ? path.resolve(values.root) : '/';
  const dryRun = values['dry-run'] ?? false;
  if (root === '/' && !dryRun && !isRootUser()) {
    throw new Error('install writes system folders and starts a service: run it as root (sudo brokerwatch install), or stage the files with --root DIR');
  }
  let configText: string | undefined;
  if (values.config) {
    loadConfig([values.config]); // a bad config is refused before anything is written (exit 2)
    configText = fs.readFileSync(values.config, 'utf8');
  }
  // A release binary installs itself (and the native module beside it); a checkout installs its runtime package.
  const release = deps.release !== undefined ? deps.release : isReleaseBinary() ? { binary: path.basename(process.execPath) } : undefined;
  const plan = installer.planInstall({
    platform, root, packageDir: deps.packageDir ?? packageRoot(), nodePath: deps.nodePath ?? process.execPath,
    ...(release ? { release } : {}), ...(configText !== undefined ? { configText } : {}),
  });
  const configKept = fs.existsSync(underRoot(root, plan.layout.configFile));
  io.stdout(dryRun
    ? `brokerwatch install (dry run: nothing is written and no command is run)${root === '/' ? '' : `, under ${root}`}\n`
    : `installing brokerwatch ${version()} as a ${installer.manager} service${root === '/' ? '' : ` under ${root}`}\n`);
  const { failed } = await applyPlan(plan, { root, dryRun, out: (t) => io.stdout(t), ...(deps.run ? { run: deps.run } : {}) });
  if (values.config && configKept) {
    io.stderr(`brokerwatch: note: ${plan.layout.configFile} already exists and was kept; --config ${values.config} was not copied. Replace it yourself, then run brokerwatch reload.\n`);
  }
  const code = reportFailedCommands(io, `the files are installed (${plan.layout.installDir}, ${plan.layout.serviceFile}, ${plan.layout.configFile})`, failed);
  if (code === EXIT.ok && !dryRun) {
    io.stdout(root === '/' ? 'brokerwatch is installed and running.\n' : `staged under ${root}.\n`);
    for (const n of plan.notes) io.stdout(`  ${n}\n`);
  }
  return code;
}
