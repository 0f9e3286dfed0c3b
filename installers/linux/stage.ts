/**
 * The file tree the .deb and .rpm install, made by the same plan `brokerwatch install` carries out
 * (planLinuxInstall + applyPlan under a staging root), so both install the same files. Two paths
 * follow packaging convention instead: the unit goes to /usr/lib/systemd/system (the vendor
 * location; an admin's copy in /etc/systemd/system still wins) and the command to /usr/bin
 * (a package never writes /usr/local).
 */
import fs from 'node:fs';
import path from 'node:path';
import { applyPlan } from '../../src/service/install';
import { LINUX_LAYOUT, planLinuxInstall, UNIT_NAME } from '../../src/service/install/linux';

export const PACKAGE_UNIT = `/usr/lib/systemd/system/${UNIT_NAME}`;
export const PACKAGE_COMMAND = '/usr/bin/brokerwatch';

export interface StagedFile {
  /** Absolute path on the target system. */
  path: string;
  kind: 'file' | 'dir';
  mode: number;
  /** A config file the package manager keeps on upgrade (conffiles, %config(noreplace)). */
  config: boolean;
}

/** Stages the release folder `dir` (binary `exe`) under `root` and lists what is there. */
export async function stageLinux(dir: string, exe: string, root: string): Promise<StagedFile[]> {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  const plan = planLinuxInstall({ platform: 'linux', root, packageDir: dir, nodePath: path.join(dir, exe), release: { binary: exe } });
  await applyPlan(plan, { root, dryRun: false, out: () => undefined });
  const move = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true, mode: 0o755 });
    fs.renameSync(path.join(root, from), path.join(root, to));
  };
  move(LINUX_LAYOUT.serviceFile, PACKAGE_UNIT);
  move(LINUX_LAYOUT.wrapper, PACKAGE_COMMAND);
  for (const empty of ['etc/systemd/system', 'etc/systemd', 'usr/local/bin', 'usr/local']) {
    const p = path.join(root, empty);
    if (fs.existsSync(p) && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
  }
  const owned = new Set([LINUX_LAYOUT.installDir, LINUX_LAYOUT.configDir, LINUX_LAYOUT.stateDir, LINUX_LAYOUT.logDir]);
  const out: StagedFile[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isDirectory()) {
        if (owned.has(r)) out.push({ path: r, kind: 'dir', mode: st.mode & 0o7777, config: false });
        walk(r);
      } else out.push({ path: r, kind: 'file', mode: st.mode & 0o7777, config: r === LINUX_LAYOUT.configFile });
    }
  };
  walk('');
  return out;
}

/** The package's maintainer scripts, shared by .deb and .rpm: systemd only where it runs. */
export const SCRIPTS = {
  /** After install or upgrade ($1: "install" on a first install, else "upgrade"). */
  postinst: `if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if [ "$BW_ACTION" = install ]; then
    systemctl enable --now ${UNIT_NAME} >/dev/null 2>&1 || echo "brokerwatch: could not start ${UNIT_NAME}; see: systemctl status brokerwatch" >&2
  else
    systemctl try-restart ${UNIT_NAME} >/dev/null 2>&1 || true
  fi
fi
`,
  /** Before removal (not before an upgrade). */
  prerm: `if [ -d /run/systemd/system ]; then
  systemctl disable --now ${UNIT_NAME} >/dev/null 2>&1 || true
fi
`,
  /** After removal; on purge also state and logs (config files are the package manager's). */
  postrm: `if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
if [ "$BW_ACTION" = purge ]; then rm -rf ${LINUX_LAYOUT.stateDir} ${LINUX_LAYOUT.logDir}; fi
`,
};

/** A target's Debian and RPM architecture names. */
export function packageArch(arch: 'x64' | 'arm64'): { deb: string; rpm: string } {
  return arch === 'x64' ? { deb: 'amd64', rpm: 'x86_64' } : { deb: 'arm64', rpm: 'aarch64' };
}

export const SUMMARY = 'which process talks to which publish/subscribe broker (ATT&CK T1071.005)';
export const DESCRIPTION = `brokerwatch is an endpoint agent that names the process behind every outbound connection
to an MQTT, XMPP, AMQP or STOMP broker and judges it with the rules of MITRE's detection strategy
DET0002. This package installs the single-file release binary (Node.js inside), its systemd unit
and a starter configuration in /etc/brokerwatch/config.yaml.`;
