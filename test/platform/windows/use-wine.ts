/**
 * One Wine prefix and one persistent wineserver for a whole test file (Wine's start-up is the slow
 * part): set up in before(), every Wine process of the prefix ended in after(). A missing wine64
 * skips each test with the reason, and fails it under CI=true.
 */
import fs from 'node:fs';
import path from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { ensureBuilt, ensureWine, startWineserver, stopWineserver, type WineEnv } from '../../helpers/wine';
import { needs } from '../../control/needs';

export function useWine(prefixName: string): { get(t: TestContext): WineEnv | undefined } {
  let wine: WineEnv | null = null;
  let problem: string | null = null;
  before(() => {
    process.env.BROKERWATCH_WINE_PREFIX = prefixName;
    try {
      wine = ensureWine();
      ensureBuilt();
      startWineserver(wine);
    } catch (err) {
      problem = `Wine harness: ${(err as Error).message}`;
    }
  });
  after(() => {
    if (wine) stopWineserver(wine);
  });
  return {
    get(t) {
      if (!needs(t, [problem])) return undefined;
      return wine as WineEnv;
    },
  };
}

/** Resolves once `file` exists and holds JSON (a Wine process writes it when ready); fails with its error file or after ms. */
export async function waitForJsonFile<T>(file: string, ms = 60_000, alive?: () => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (fs.existsSync(`${file}.error`)) throw new Error(`${path.basename(file)}: ${fs.readFileSync(`${file}.error`, 'utf8')}`);
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
    } catch {
      // not there yet, or half written
    }
    if (alive && !alive()) throw new Error(`the process that should write ${file} exited`);
    if (Date.now() > deadline) throw new Error(`${file} not written within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
