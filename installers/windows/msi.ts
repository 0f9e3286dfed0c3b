/**
 * The Windows .msi (msitools' wixl): brokerwatch.exe, koffi.node and default.yaml in
 * C:\Program Files\brokerwatch, a starter config in C:\ProgramData\brokerwatch\config.yaml that an
 * upgrade or uninstall never replaces, and the service "brokerwatch" (LocalSystem, automatic start).
 *
 * The service's command line is `brokerwatch.exe run --service --config <config>`, the same as
 * `brokerwatch install` registers: `--service` answers the Service Control Manager (a process that
 * never reports to it fails the start with error 1053), so the .msi starts the service at install.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageFileText } from '../../src/config/embedded';
import { commentText, fillTemplate, xmlText, yamlScalar } from '../../src/service/install/render';
import type { PackageBuild } from '../linux/deb';

export const SERVICE_NAME = 'brokerwatch';
/** Fixed forever: Windows Installer finds older versions to upgrade by it. */
const UPGRADE_CODE = '6F1B3C52-7A0E-4C5B-9D1E-2B7A4E8C9F01';
/** Component GUIDs are fixed too (one per component, the same in every version). */
const GUIDS = { exe: '0C5E7A2B-3D4F-4E6A-8B9C-1D2E3F4A5B61', native: '0C5E7A2B-3D4F-4E6A-8B9C-1D2E3F4A5B62', doc: '0C5E7A2B-3D4F-4E6A-8B9C-1D2E3F4A5B63', config: '0C5E7A2B-3D4F-4E6A-8B9C-1D2E3F4A5B64' };

export const WINDOWS_PATHS = {
  installDir: 'C:\\Program Files\\brokerwatch',
  dataDir: 'C:\\ProgramData\\brokerwatch',
  configFile: 'C:\\ProgramData\\brokerwatch\\config.yaml',
};

/** The starter config for Windows: the same template as Linux and macOS, with Windows paths. */
export function windowsStarterConfig(): string {
  return fillTemplate(packageFileText('installers/common/config.yaml'), {
    EVENTS_FILE: yamlScalar(`${WINDOWS_PATHS.dataDir}\\events.jsonl`),
    DEFAULT_CONFIG: commentText(`${WINDOWS_PATHS.installDir}\\default.yaml`),
    CONFIG_FILE: commentText(WINDOWS_PATHS.configFile),
  });
}

/** The WiX source; `dir` holds the files by their final names. */
export function renderWxs(version: string, exe: string): string {
  const src = (name: string) => xmlText(name); // wixl resolves Source against its working folder
  return `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="brokerwatch" Language="1033" Version="${xmlText(version)}" Manufacturer="brokerwatch" UpgradeCode="${UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Platform="x64" Description="brokerwatch endpoint agent" Comments="which process talks to which publish/subscribe broker (ATT&amp;CK T1071.005)"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of brokerwatch is already installed."/>
    <Media Id="1" Cabinet="brokerwatch.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="brokerwatch">
          <Component Id="Exe" Guid="${GUIDS.exe}" Win64="yes">
            <File Id="BrokerwatchExe" Name="${xmlText(exe)}" Source="${src(exe)}" KeyPath="yes"/>
            <ServiceInstall Id="Service" Name="${SERVICE_NAME}" DisplayName="brokerwatch" Description="Names the process behind every connection to a publish/subscribe broker (ATT&amp;CK T1071.005)" Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Arguments="run --service --config &quot;[CommonAppDataFolder]brokerwatch\\config.yaml&quot;"/>
            <ServiceControl Id="ServiceControl" Name="${SERVICE_NAME}" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
          <Component Id="Native" Guid="${GUIDS.native}" Win64="yes">
            <File Id="KoffiNode" Name="koffi.node" Source="${src('koffi.node')}" KeyPath="yes"/>
          </Component>
          <Component Id="Doc" Guid="${GUIDS.doc}" Win64="yes">
            <File Id="DefaultYaml" Name="default.yaml" Source="${src('default.yaml')}" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
      <Directory Id="CommonAppDataFolder">
        <Directory Id="DATADIR" Name="brokerwatch">
          <Component Id="Config" Guid="${GUIDS.config}" Win64="yes">
            <File Id="ConfigYaml" Name="config.yaml" Source="${src('config.yaml')}" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Agent" Title="brokerwatch" Level="1">
      <ComponentRef Id="Exe"/>
      <ComponentRef Id="Native"/>
      <ComponentRef Id="Doc"/>
      <ComponentRef Id="Config"/>
    </Feature>
  </Product>
</Wix>
`;
}

/**
 * The config component is made Permanent (16) and NeverOverwrite (128), WiX attributes wixl does
 * not know: without them a major upgrade, which removes the old product before installing the new
 * one, would delete the admin's config.yaml. Patched into the Component table with msibuild.
 */
function keepConfig(msi: string, work: string): void {
  const idt = path.join(work, 'Component.idt');
  const table = execFileSync('msiinfo', ['export', msi, 'Component'], { encoding: 'utf8' });
  const patched = table.replace(/^(Config\t[^\t]*\tDATADIR\t)(\d+)\t/m, (_, head: string, attrs: string) => `${head}${Number(attrs) | 16 | 128}\t`);
  if (patched === table) throw new Error('msi: the Config component row was not found in the Component table');
  fs.writeFileSync(idt, patched);
  execFileSync('msibuild', [msi, '-i', idt]);
}

export async function buildMsi(b: PackageBuild): Promise<string> {
  const work = path.join(b.workDir, `msi-${b.target.id}`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  for (const f of [b.target.exe, 'koffi.node', 'default.yaml']) fs.copyFileSync(path.join(b.dir, f), path.join(work, f));
  fs.writeFileSync(path.join(work, 'config.yaml'), windowsStarterConfig().replace(/\n/g, '\r\n'));
  const wxs = path.join(work, 'brokerwatch.wxs');
  fs.writeFileSync(wxs, renderWxs(b.version, b.target.exe));
  const out = path.join(b.outDir, `brokerwatch-${b.version}-${b.target.arch}.msi`);
  fs.rmSync(out, { force: true });
  execFileSync('wixl', ['--arch', 'x64', '-o', out, wxs], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  keepConfig(out, work);
  fs.rmSync(work, { recursive: true, force: true });
  return out;
}
