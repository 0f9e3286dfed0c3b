/** The .deb: the staged tree (stage.ts), a control file, conffiles and maintainer scripts, built by dpkg-deb. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Target } from '../release/targets';
import { DESCRIPTION, packageArch, SCRIPTS, stageLinux, SUMMARY } from './stage';

export interface PackageBuild {
  target: Target;
  /** The release folder (binary, koffi.node, default.yaml). */
  dir: string;
  version: string;
  outDir: string;
  workDir: string;
}

export async function buildDeb(b: PackageBuild): Promise<string> {
  const arch = packageArch(b.target.arch).deb;
  const root = path.join(b.workDir, `deb-${b.target.id}`);
  const files = await stageLinux(b.dir, b.target.exe, root);
  const debian = path.join(root, 'DEBIAN');
  fs.mkdirSync(debian, { mode: 0o755 });
  const size = files.filter((f) => f.kind === 'file').reduce((n, f) => n + fs.statSync(path.join(root, f.path)).size, 0);
  fs.writeFileSync(path.join(debian, 'control'), [
    'Package: brokerwatch',
    `Version: ${b.version}`,
    `Architecture: ${arch}`,
    'Maintainer: brokerwatch maintainers <brokerwatch@localhost>',
    'Section: admin',
    'Priority: optional',
    // Node 26's official Linux builds need glibc 2.28 or newer.
    'Depends: libc6 (>= 2.28)',
    'Suggests: bpftrace, lsof',
    `Installed-Size: ${Math.ceil(size / 1024)}`,
    `Description: ${SUMMARY}`,
    ...DESCRIPTION.split('\n').map((l) => ` ${l}`),
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(debian, 'conffiles'), files.filter((f) => f.config).map((f) => `${f.path}\n`).join(''));
  const script = (name: string, action: string) => {
    fs.writeFileSync(path.join(debian, name), `#!/bin/sh\nset -e\n${action}\n${SCRIPTS[name as keyof typeof SCRIPTS]}exit 0\n`, { mode: 0o755 });
  };
  // dpkg calls postinst "configure" with the old version as $2 on an upgrade, empty on a first install.
  script('postinst', '[ "$1" = configure ] || exit 0\nif [ -z "$2" ]; then BW_ACTION=install; else BW_ACTION=upgrade; fi');
  script('prerm', '[ "$1" = remove ] || exit 0');
  script('postrm', 'BW_ACTION="$1"');
  const out = path.join(b.outDir, `brokerwatch_${b.version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', root, out], { stdio: ['ignore', 'ignore', 'inherit'] });
  fs.rmSync(root, { recursive: true, force: true });
  return out;
}
