/**
 * install / uninstall as a system service. One installer per platform builds a Plan (files and
 * commands); apply.ts carries it out. Windows slots in as one more entry in INSTALLERS.
 */
import { planLinuxInstall, planLinuxUninstall } from './linux';
import { planMacosInstall, planMacosUninstall } from './macos';
import type { Plan, PlanContext } from './plan';
import { planWindowsInstall, planWindowsUninstall } from './windows';

export { applyPlan, type ApplyOptions, type ApplyResult, cmdText } from './apply';
export { PackageError } from './package-files';
export type { Command, Layout, Plan, PlanContext, Step } from './plan';
export { RenderError } from './render';

export interface PlatformInstaller {
  /** The service manager, for messages. */
  manager: string;
  planInstall(ctx: PlanContext): Plan;
  planUninstall(ctx: PlanContext): Plan;
}

const INSTALLERS: Partial<Record<NodeJS.Platform, PlatformInstaller>> = {
  linux: { manager: 'systemd', planInstall: planLinuxInstall, planUninstall: planLinuxUninstall },
  darwin: { manager: 'launchd', planInstall: planMacosInstall, planUninstall: planMacosUninstall },
  win32: { manager: 'Windows Service Control Manager', planInstall: planWindowsInstall, planUninstall: planWindowsUninstall },
};

/** install/uninstall on a platform without an installer: the CLI prints the message and exits 2. */
export class UnsupportedPlatformError extends Error {
  constructor(platform: NodeJS.Platform, action: string) {
    super(`${action} is not supported on ${platform}: there is an installer for Linux (systemd), macOS (launchd) and Windows (Service Control Manager)`);
    this.name = 'UnsupportedPlatformError';
  }
}

export function installerFor(platform: NodeJS.Platform, action: 'install' | 'uninstall'): PlatformInstaller {
  const installer = INSTALLERS[platform];
  if (!installer) throw new UnsupportedPlatformError(platform, action);
  return installer;
}
