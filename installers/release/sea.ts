/**
 * One release binary: the bundle and the package assets go into a SEA blob that `node --build-sea`
 * (Node's own injector) writes into a copy of the target's Node binary. The build always runs the
 * linux-x64 Node of the pinned version: the blob must come from exactly the Node version it goes
 * into, and the injector edits ELF, PE and Mach-O files alike.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ASSETS } from '../../src/config/embedded';
import { REPO } from './bundle';

export interface SeaOptions {
  /** The linux-x64 Node that runs --build-sea (same version as `base`). */
  builder: string;
  /** The target's Node binary (Windows: already without its Authenticode signature). */
  base: string;
  main: string;
  output: string;
  /**
   * V8 code cache for the main script, made at build time. Only valid for the platform that
   * built it, so only for a target the builder's own platform (linux-x64); measured in the README.
   */
  codeCache: boolean;
  workDir: string;
  /** More assets (name -> file): the vendored packages' bundles and code caches. */
  assets?: Record<string, string>;
}

export function buildSea(o: SeaOptions): void {
  const assets = { ...Object.fromEntries(PACKAGE_ASSETS.map((rel) => [rel, path.join(REPO, rel)])), ...o.assets };
  const config = {
    main: o.main,
    mainFormat: 'commonjs',
    executable: o.base,
    output: o.output,
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: o.codeCache,
    // No NODE_OPTIONS-style extension: a root service must not take V8 flags from its environment.
    execArgvExtension: 'none',
    assets,
  };
  const file = path.join(o.workDir, 'sea-config.json');
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  fs.rmSync(o.output, { force: true });
  execFileSync(o.builder, ['--build-sea', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  fs.chmodSync(o.output, 0o755);
}
