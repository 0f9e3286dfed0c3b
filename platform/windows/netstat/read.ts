/**
 * Runs `netstat -ano` (no shell, absolute path under %SystemRoot%) and hands the text to parse.ts.
 * The output is in the console's OEM code page; only ASCII (addresses, digits) is read for meaning,
 * so it is decoded as latin1 and localised state words pass through unread.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

/** %SystemRoot%\System32\netstat.exe, with C:\Windows when SystemRoot is unset or not absolute. */
export function netstatPath(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.SystemRoot && path.win32.isAbsolute(env.SystemRoot) ? env.SystemRoot : 'C:\\Windows';
  return path.win32.join(root, 'System32', 'netstat.exe');
}

export function runNetstat(exe = netstatPath()): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, ['-ano'], { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024, windowsHide: true, timeout: 30_000 }, (err, stdout) => {
      if (err) reject(new Error(`${exe} -ano failed: ${err.message}`));
      else resolve(stdout);
    });
  });
}
