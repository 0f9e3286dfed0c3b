/**
 * The checks made before binding the control socket: its directory must be ours and closed to
 * others, and a socket file already there must be a dead daemon's (replaced) - never a live one's.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from '../core/logger';

/** Thrown when the socket's directory or an existing file at its path cannot be used safely. */
export class UnsafeSocketPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeSocketPathError';
  }
}

const myUid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

/**
 * Creates `dir` with mode 0700 when missing. An existing one is used only if it is a real
 * directory (not a symbolic link), owned by us, and not writable by group or others: otherwise
 * someone else could swap the socket for theirs and receive the administrators' commands.
 */
export function prepareSocketDirectory(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(dir, (err as Error).message);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (mkErr) {
      const e = mkErr as NodeJS.ErrnoException;
      if (e.code === 'EACCES' || e.code === 'EPERM') throw unusable(dir, 'cannot create it: permission denied (run as root)');
      if (e.code === 'ENOENT') throw unusable(dir, 'its parent directory does not exist');
      if (e.code !== 'EEXIST') throw unusable(dir, `cannot create it: ${e.message}`);
    }
    st = fs.lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw unusable(dir, 'it is a symbolic link (it could point anywhere); remove it or choose another control.socket');
  if (!st.isDirectory()) throw unusable(dir, 'it is not a directory');
  if (st.uid !== myUid()) throw unusable(dir, `it is owned by uid ${st.uid}, not by the agent's uid ${myUid()}`);
  if ((st.mode & 0o022) !== 0) {
    throw unusable(dir, `it is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); use a directory only the agent can write, such as the default /run/brokerwatch`);
  }
}

function unusable(dir: string, why: string): UnsafeSocketPathError {
  return new UnsafeSocketPathError(`refusing to use ${dir} for the control socket: ${why}`);
}

/** Connects to a socket file to tell a live daemon from a dead one's leftover. */
function probe(socketPath: string): Promise<'live' | 'dead'> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.setTimeout(2000, () => {
      s.destroy();
      resolve('live'); // accepted but silent: something is there; do not delete it
    });
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve('dead');
      else reject(new UnsafeSocketPathError(`cannot check the existing control socket ${socketPath}: ${err.code ?? err.message}`));
    });
  });
}

/**
 * A socket file left by a daemon that died is removed; one that still answers means another
 * brokerwatch is running (an error). Anything that is not a socket is never deleted.
 */
export async function removeStaleSocket(socketPath: string, log?: Pick<Logger, 'info'>): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new UnsafeSocketPathError(`refusing to replace ${socketPath}: it exists and is not a socket`);
  if ((await probe(socketPath)) === 'live') {
    throw new UnsafeSocketPathError(`another brokerwatch is running: its control socket ${socketPath} answers (stop it first: brokerwatch stop --socket ${socketPath})`);
  }
  fs.unlinkSync(socketPath);
  log?.info(`removed a stale control socket ${socketPath} left by a daemon that is gone`);
}
