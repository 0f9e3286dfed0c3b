/** The check a release binary makes before it loads native code from disk (koffi-release.ts). */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Throws an error naming the path when `file` is not a regular file, or when it or a folder above
 * it belongs to someone other than root or `euid`, or is writable by group or others - anyone who
 * could have planted it. `euid` undefined (Windows): only the file type is checked; the install
 * folder's ACL (Program Files) is the guard there.
 */
export function checkTrustedPath(file: string, euid: number | undefined): void {
  const st = fs.lstatSync(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file (a symlink or folder); refusing to load native code from it`);
  if (euid === undefined) return;
  for (let p = file; ; p = path.dirname(p)) {
    const s = p === file ? st : fs.statSync(p);
    if (s.uid !== 0 && s.uid !== euid) throw new Error(`${p} belongs to uid ${s.uid}, not root or you; refusing to load ${file} (install brokerwatch in a root-owned folder)`);
    if ((s.mode & 0o022) !== 0) throw new Error(`${p} is writable by group or others (mode ${(s.mode & 0o7777).toString(8)}); refusing to load ${file} (a temp or shared folder is never trusted)`);
    if (path.dirname(p) === p) return;
  }
}
