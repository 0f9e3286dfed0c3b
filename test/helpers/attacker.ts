/**
 * A local attacker for the safe-file tests: the real `nobody` user (processes started with its uid
 * and gid) planting links and files in folders a root agent might be told to write to. The scene:
 *
 *   BASE/            root 0755 (a fresh folder under the system temp folder)
 *     secret         root 0600 "root only": what a planted link points at; must stay untouched
 *     sticky/        root 1777, like /tmp
 *     open/          root 0777 without the sticky bit
 *     nobodys/       nobody's own folder, 0755
 *
 * The kernel's fs.protected_symlinks is left as it is: it only guards sticky world-writable
 * folders, so open/ and nobodys/ are where a link is followed by root unless the agent refuses.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const SECRET_TEXT = 'root only\n';

export interface AttackScene {
  base: string;
  secret: string;
  sticky: string;
  open: string;
  nobodys: string;
  uid: number;
  gid: number;
  /** `ln -s target link` run as nobody. */
  plantLink(link: string, target: string): void;
  /** Symlinks `pattern % i` -> target for i in [from, to), made by one python3 process as nobody. */
  plantLinks(pattern: string, from: number, to: number, target: string): void;
  /** A regular file made by nobody. */
  plantFile(file: string, text: string): void;
  secretUntouched(): boolean;
}

function idOf(flag: '-u' | '-g'): number | null {
  try {
    return Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

/** Builds the scene (removed after the test), or skips - fails under CI=true - when not root or without nobody/python3. */
export function attackScene(t: TestContext): AttackScene | undefined {
  const uid = idOf('-u');
  const gid = idOf('-g');
  const why = process.getuid?.() !== 0 ? 'needs root' : uid === null || gid === null ? 'needs a nobody user' : null;
  if (why) {
    if (process.env.CI === 'true') throw new Error(`attack scene: ${why} (CI must not skip)`);
    t.skip(why);
    return undefined;
  }
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-attack-'));
  t.after(() => fs.rmSync(base, { recursive: true, force: true }));
  fs.chmodSync(base, 0o755);
  const secret = path.join(base, 'secret');
  fs.writeFileSync(secret, SECRET_TEXT, { mode: 0o600 });
  const dir = (name: string, mode: number, owner?: number) => {
    const p = path.join(base, name);
    fs.mkdirSync(p);
    fs.chmodSync(p, mode);
    if (owner !== undefined) fs.chownSync(p, owner, gid as number);
    return p;
  };
  const asNobody = { uid: uid as number, gid: gid as number };
  return {
    base,
    secret,
    sticky: dir('sticky', 0o1777),
    open: dir('open', 0o777),
    nobodys: dir('nobodys', 0o755, uid as number),
    uid: uid as number,
    gid: gid as number,
    plantLink: (link, target) => execFileSync('ln', ['-s', target, link], asNobody),
    plantLinks: (pattern, from, to, target) => execFileSync('python3', ['-c',
      'import os, sys\nfor i in range(int(sys.argv[2]), int(sys.argv[3])): os.symlink(sys.argv[1], sys.argv[4] % i)',
      target, String(from), String(to), pattern], asNobody),
    plantFile: (file, text) => execFileSync('python3', ['-c', 'import sys\nopen(sys.argv[2], "w").write(sys.argv[1])', text, file], asNobody),
    secretUntouched: () => fs.readFileSync(secret, 'utf8') === SECRET_TEXT && (fs.statSync(secret).mode & 0o777) === 0o600,
  };
}
