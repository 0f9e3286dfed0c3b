/**
 * Prerequisites of the service tests (root, nobody, systemd-analyze...): a missing one skips the
 * test with the reason, or fails it under CI=true, where a skip must not pass for a green run.
 */
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** Returns true when the test may go on; otherwise skips it (or throws under CI=true). */
export function needs(t: TestContext, missing: (string | null | false | undefined)[]): boolean {
  const reasons = missing.filter((m): m is string => typeof m === 'string' && m !== '');
  if (reasons.length === 0) return true;
  const reason = `prerequisite missing: ${reasons.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: a missing prerequisite is a failure)`);
  t.skip(reason);
  return false;
}

export const notRoot = (): string | null => (process.getuid?.() === 0 ? null : 'must run as root');

/** uid and gid of an unprivileged account (nobody / nogroup), from the system's user database. */
export function nobody(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 ? { uid, gid } : null;
  } catch {
    return null;
  }
}
