/**
 * Build side of vendor-load.ts: one CommonJS bundle per vendored package (esbuild, minified, every
 * dependency inside, only Node's built-in modules left to require), and - for a target of the
 * build platform - the V8 code cache of each, made by the same Node that builds the SEA: it loads
 * the bundle exactly as the binary will (same wrapper, same file name), runs it so the functions its
 * start-up needs are compiled too, and saves the cache.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { REPO, SCRIPT_OPTIONS } from './bundle';
import { VENDORED, vendorAsset, vendorCacheAsset, vendorFilename, WRAP_HEAD, WRAP_TAIL } from './vendor-load';

/** Asset name -> file, for the SEA config. */
export type AssetFiles = Record<string, string>;

export async function bundleVendors(workDir: string): Promise<AssetFiles> {
  const assets: AssetFiles = {};
  for (const name of VENDORED) {
    const file = path.join(workDir, `vendor-${name}.js`);
    await build({
      ...SCRIPT_OPTIONS,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: REPO, loader: 'js' },
      outfile: file,
    });
    assets[vendorAsset(name)] = file;
  }
  return assets;
}

/** Adds each bundle's code cache (vendor/NAME.cache), made by `builder` (the Node the binary is made of). */
export function addVendorCodeCaches(builder: string, assets: AssetFiles, workDir: string): AssetFiles {
  const jobs = VENDORED.map((name) => ({ name, source: assets[vendorAsset(name)] as string, out: path.join(workDir, `vendor-${name}.cache`), filename: vendorFilename(name) }));
  const script = path.join(workDir, 'vendor-cache.js');
  fs.writeFileSync(script, `'use strict';
const fs = require('node:fs');
const vm = require('node:vm');
for (const job of ${JSON.stringify(jobs)}) {
  const s = new vm.Script(${JSON.stringify(WRAP_HEAD)} + fs.readFileSync(job.source, 'utf8') + ${JSON.stringify(WRAP_TAIL)}, { filename: job.filename });
  const module = { exports: {} };
  s.runInThisContext()(module.exports, require, module, job.filename, '.');
  fs.writeFileSync(job.out, s.createCachedData());
}
`);
  execFileSync(builder, [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  const out: AssetFiles = { ...assets };
  for (const j of jobs) out[vendorCacheAsset(j.name)] = j.out;
  return out;
}
