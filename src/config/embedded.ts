import fs from 'node:fs';
import path from 'node:path';

/** Where the package's own files (config/, platform/*.bt, installers/) live, from src/ or dist/. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'config', 'default.yaml')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('brokerwatch: cannot find its package folder (config/default.yaml) above ' + __dirname);
    dir = parent;
  }
}

export const DEFAULT_CONFIG_NAME = '(embedded default config/default.yaml)';

/** The text of config/default.yaml, the embedded default configuration. */
export function defaultConfigText(): string {
  return fs.readFileSync(path.join(packageRoot(), 'config', 'default.yaml'), 'utf8');
}

/** The package's version (package.json beside config/). */
export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0-unknown';
  }
}
