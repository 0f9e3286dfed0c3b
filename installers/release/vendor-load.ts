/**
 * The release binary's third-party packages that most commands never use (zod, yaml, winston,
 * systeminformation) are not in its main script: each is a bundle of its own, embedded as a SEA
 * asset and run on the first require(), with the V8 code cache made for it at build time where the
 * target is the build platform. The main script, whose code cache V8 deserialises at every start,
 * stays small: `--version` and a scan with the default config never load any of them. The bundler
 * maps each of these package names here (bundle.ts); nothing is read from disk.
 */
import sea = require('node:sea');
import vm = require('node:vm');

/** The packages kept out of the main script, loaded from their assets on first use. */
export const VENDORED = ['zod', 'yaml', 'winston', 'systeminformation'] as const;
export type Vendored = (typeof VENDORED)[number];

/** A CommonJS wrapper: the same text at build time (code cache) and here (V8 checks the source). */
export const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const WRAP_TAIL = '\n})';

export const vendorAsset = (name: string): string => `vendor/${name}.js`;
export const vendorCacheAsset = (name: string): string => `vendor/${name}.cache`;
export const vendorFilename = (name: string): string => `brokerwatch:vendor/${name}.js`;

const loaded = new Map<string, unknown>();

export function loadVendor(name: Vendored): unknown {
  if (loaded.has(name)) return loaded.get(name);
  const source = sea.getAsset(vendorAsset(name), 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = Buffer.from(sea.getAsset(vendorCacheAsset(name)));
  } catch {
    cachedData = undefined; // a target built without code caches
  }
  const script = new vm.Script(`${WRAP_HEAD}${source}${WRAP_TAIL}`, { filename: vendorFilename(name), ...(cachedData ? { cachedData } : {}) });
  const use = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  // A rejected cache only costs start-up time, silently: BROKERWATCH_DEBUG makes it visible (the release tests check it).
  if (process.env.BROKERWATCH_DEBUG) process.stderr.write(`brokerwatch: loaded ${name} from the binary (code cache ${use === 'none' ? 'not built for this target' : use})\n`);
  const module = { exports: {} as unknown };
  // The bundle requires only Node's built-in modules, which the main script's require() serves.
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, vendorFilename(name), '.');
  loaded.set(name, module.exports);
  return module.exports;
}
