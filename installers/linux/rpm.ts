/** The .rpm: the staged tree (stage.ts) and a generated spec, built by rpmbuild without touching the binary. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { PackageBuild } from './deb';
import { DESCRIPTION, packageArch, SCRIPTS, stageLinux, SUMMARY } from './stage';

const mode = (m: number) => m.toString(8).padStart(4, '0');

export async function buildRpm(b: PackageBuild): Promise<string> {
  const arch = packageArch(b.target.arch).rpm;
  const top = path.join(b.workDir, `rpm-${b.target.id}`);
  fs.rmSync(top, { recursive: true, force: true });
  const stage = path.join(top, 'stage');
  const files = await stageLinux(b.dir, b.target.exe, stage);
  const list = files.map((f) => {
    const attr = `%attr(${mode(f.mode)},root,root)`;
    if (f.kind === 'dir') return `%dir ${attr} ${f.path}`;
    return f.config ? `%config(noreplace) ${attr} ${f.path}` : `${attr} ${f.path}`;
  });
  // rpm's $1 in scriptlets: 1 on a first install / last removal, 2+ on an upgrade.
  const spec = `Name: brokerwatch
Version: ${b.version}
Release: 1
Summary: ${SUMMARY}
License: Apache-2.0
AutoReqProv: no
Requires: glibc >= 2.28
# The binary is a Node single executable with its script injected: stripping or debuginfo
# extraction would cut the script off, so every post-install step is disabled.
%global __os_install_post %{nil}
%global debug_package %{nil}
%global _build_id_links none

%description
${DESCRIPTION}

%install
cp -a ${stage}/. %{buildroot}/

%post
if [ "$1" -eq 1 ]; then BW_ACTION=install; else BW_ACTION=upgrade; fi
${SCRIPTS.postinst}
%preun
if [ "$1" -eq 0 ]; then
${SCRIPTS.prerm}fi

%postun
BW_ACTION=remove
${SCRIPTS.postrm}
%files
${list.join('\n')}
`;
  const specFile = path.join(top, 'brokerwatch.spec');
  fs.writeFileSync(specFile, spec);
  execFileSync('rpmbuild', ['-bb', '--target', `${arch}-linux`, '--define', `_topdir ${top}`, '--define', '_binary_payload w6.gzdio', specFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const built = path.join(top, 'RPMS', arch, `brokerwatch-${b.version}-1.${arch}.rpm`);
  const out = path.join(b.outDir, path.basename(built));
  fs.copyFileSync(built, out);
  fs.rmSync(top, { recursive: true, force: true });
  return out;
}
