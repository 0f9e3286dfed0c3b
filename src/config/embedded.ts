import fs from 'node:fs';
import path from 'node:path';

/**
 * The package's own files (config/default.yaml, package.json, installers/, platform/**\/*.bt).
 * From a checkout or an npm install they are read from the package folder; in a release binary
 * (a Node single executable application) they are assets embedded at build time, so the binary
 * needs no files beside it except the native FFI module.
 */

/** Files a release binary embeds (installers/release/build.ts puts exactly these in the SEA blob). */
export const PACKAGE_ASSETS = [
  'package.json',
  'config/default.yaml',
  'installers/common/config.yaml',
  'installers/linux/brokerwatch.service',
  'installers/macos/com.brokerwatch.agent.plist',
  'platform/linux/ebpf/connect.bt',
  'platform/linux/wire/wire.bt',
  'platform/linux/wire/ssl-probes.bt',
  'platform/linux/wire/gai-probes.bt',
] as const;

export type PackageAsset = (typeof PACKAGE_ASSETS)[number];

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string, encoding: string): string;
}

let seaModule: SeaModule | null | undefined;

/** node:sea when this process is a single executable application, else null. */
function sea(): SeaModule | null {
  if (seaModule === undefined) {
    try {
      const mod = require('node:sea') as SeaModule;
      seaModule = mod.isSea() ? mod : null;
    } catch {
      seaModule = null; // a Node without node:sea is never a release binary
    }
  }
  return seaModule;
}

/** Whether this process is a release binary (a Node single executable application). */
export function isReleaseBinary(): boolean {
  return sea() !== null;
}

/** Where the package's own files live: the package folder, or the release binary's folder. */
export function packageRoot(): string {
  if (sea()) return path.dirname(process.execPath);
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'config', 'default.yaml')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('brokerwatch: cannot find its package folder (config/default.yaml) above ' + __dirname);
    dir = parent;
  }
}

/** The text of one of the package's own files: an embedded asset in a release binary, else read from the package. */
export function packageFileText(rel: PackageAsset): string {
  const s = sea();
  if (s) return s.getAsset(rel, 'utf8');
  return fs.readFileSync(path.join(packageRoot(), rel), 'utf8');
}

export const DEFAULT_CONFIG_NAME = '(embedded default config/default.yaml)';

/** Set by the release build: config/default.yaml already parsed (installers/release/bundle.ts). */
declare const __BROKERWATCH_DEFAULT_CONFIG__: unknown;

/**
 * The default config document parsed at build time (a release binary: no YAML parser is loaded
 * for a scan with the default config), or undefined from a checkout, which parses the file.
 */
export function prebuiltDefaultConfig(): unknown {
  return typeof __BROKERWATCH_DEFAULT_CONFIG__ === 'undefined' ? undefined : structuredClone(__BROKERWATCH_DEFAULT_CONFIG__);
}

/** Set by the release build: loadConfig([]).config, the default validated by the schema at build time. */
declare const __BROKERWATCH_DEFAULT_VALIDATED__: unknown;

/**
 * The default configuration as loadConfig() returns it, made at build time (a release binary:
 * a scan with the default config loads neither the YAML parser nor the schema), or undefined from
 * a checkout. A fresh copy each call: callers may change what they get.
 */
export function prevalidatedDefaultConfig(): unknown {
  return typeof __BROKERWATCH_DEFAULT_VALIDATED__ === 'undefined' ? undefined : structuredClone(__BROKERWATCH_DEFAULT_VALIDATED__);
}

/** The text of config/default.yaml, the embedded default configuration. */
export function defaultConfigText(): string {
  return packageFileText('config/default.yaml');
}

/** The package's version (package.json beside config/). */
export function version(): string {
  try {
    return (JSON.parse(packageFileText('package.json')) as { version: string }).version;
  } catch {
    return '0.0.0-unknown';
  }
}
