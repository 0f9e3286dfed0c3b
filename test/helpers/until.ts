/**
 * Polls a condition until it holds (asking the system, never sleeping a fixed time), for tests that
 * wait on a daemon's output file or state. Fails with what was awaited when the time is up.
 */
import fs from 'node:fs';

export async function until<T>(what: string, fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn(); // a condition may ask the system asynchronously (a control socket)
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The JSON lines of a sink file written so far ([] while it does not exist). */
export function readJsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}
