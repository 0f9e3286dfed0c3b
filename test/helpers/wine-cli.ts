/**
 * `npm run wine -- <brokerwatch args>`: the CLI (dist/, rebuilt when stale) under Wine with the
 * Windows Node. `npm run wine:node -- FILE.js [args]`: any script with that Node.
 * node.exe's stdout and stderr go to files under Wine (a pipe gives EBADF) and are copied here after.
 */
import path from 'node:path';
import { ensureBuilt, ensureWine, ROOT, runWineNode } from './wine';

async function main(): Promise<number> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode !== 'cli' && mode !== 'node') {
    process.stderr.write('usage: wine-cli.ts cli <brokerwatch args> | node FILE.js [args]\n');
    return 2;
  }
  const w = ensureWine();
  if (mode === 'cli') ensureBuilt();
  const nodeArgs = mode === 'cli' ? [path.join(ROOT, 'bin', 'brokerwatch.js'), ...args] : args;
  const r = await runWineNode(w, nodeArgs, { cwd: process.cwd() });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

main().then((code) => { process.exitCode = code; }, (err: Error) => {
  process.stderr.write(`wine harness: ${err.message}\n`);
  process.exitCode = 2;
});
