/**
 * One CommonJS script from the TypeScript sources (a SEA runs exactly one script): esbuild, which
 * the project already had through tsx, bundles src/ with its production dependencies. `koffi` is
 * mapped to koffi-release.ts, which loads the native module from beside the binary after checking
 * its owner, mode and SHA-256 (recorded here). Nothing reads node_modules at run time.
 */
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import fs from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig, parseYaml } from '../../src/config/load';
import { KOFFI_VERSION } from './targets';
import { VENDORED } from './vendor-load';

export const REPO = path.resolve(__dirname, '..', '..');

const koffiRelease: Plugin = {
  name: 'koffi-release',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: path.join(__dirname, 'koffi-release.ts') }));
  },
};

/** zod, yaml, winston and systeminformation stay out of the main script: each require() loads its own asset (vendor-load.ts). */
const vendored: Plugin = {
  name: 'vendored',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: args.path, namespace: 'vendored' }));
    b.onLoad({ filter: /.*/, namespace: 'vendored' }, (args) => ({
      contents: `module.exports = require('./vendor-load').loadVendor(${JSON.stringify(args.path)});`,
      resolveDir: __dirname,
      loader: 'js',
    }));
  },
};

export interface BundleResult {
  file: string;
  bytes: number;
}

/**
 * loadConfig([]).config as JSON, for the binary to use without the schema. Refused when the default
 * has notices (they would be lost) or holds a value JSON cannot carry exactly (it must come back equal).
 */
export function prevalidatedDefault(): string {
  const { config, notices } = loadConfig([]);
  if (notices.length > 0) throw new Error(`release: config/default.yaml has notices: ${notices.join('; ')}`);
  const json = JSON.stringify(config);
  if (!isDeepStrictEqual(JSON.parse(json), config)) throw new Error('release: the validated default config does not survive JSON; it cannot be embedded');
  return json;
}

/** How every script of a release binary is bundled: one minified CommonJS file for Node 26. */
export const SCRIPT_OPTIONS = { bundle: true, platform: 'node', format: 'cjs', target: 'node26', minify: true, legalComments: 'none', logLevel: 'warning' } as const;

/** Bundles installers/release/entry.ts into `outFile` for a target whose koffi.node has `koffiSha256`. */
export async function bundle(outFile: string, koffiSha256: string): Promise<BundleResult> {
  const result = await build({
    ...SCRIPT_OPTIONS,
    entryPoints: [path.join(__dirname, 'entry.ts')],
    outfile: outFile,
    metafile: true,
    plugins: [koffiRelease, vendored],
    define: {
      __KOFFI_SHA256__: JSON.stringify(koffiSha256),
      __KOFFI_VERSION__: JSON.stringify(KOFFI_VERSION),
      // The default config parsed now, with the parser the binary would use (a YAML error fails the build).
      __BROKERWATCH_DEFAULT_CONFIG__: JSON.stringify(parseYaml(fs.readFileSync(path.join(REPO, 'config', 'default.yaml'), 'utf8'), 'config/default.yaml')),
      __BROKERWATCH_DEFAULT_VALIDATED__: prevalidatedDefault(),
    },
  });
  const out = Object.values(result.metafile.outputs)[0];
  return { file: outFile, bytes: out?.bytes ?? 0 };
}
