/**
 * Where the control socket lives: the one place that chooses it per OS. On Windows it is the named
 * pipe \\.\pipe\brokerwatch (pipe-server.ts); server and client take any path.
 */
import path from 'node:path';

const DEFAULT_PATHS: Partial<Record<NodeJS.Platform, string>> = {
  linux: '/run/brokerwatch/brokerwatch.sock',
  // macOS has no /run: /var/run (a link to /private/var/run) is root-owned and cleared at boot.
  darwin: '/var/run/brokerwatch/brokerwatch.sock',
  freebsd: '/var/run/brokerwatch/brokerwatch.sock',
  win32: '\\\\.\\pipe\\brokerwatch',
};

/** The default control socket of this platform; throws a clear error where there is none yet. */
export function defaultControlPath(platform: NodeJS.Platform = process.platform): string {
  const p = DEFAULT_PATHS[platform];
  if (p === undefined) {
    throw new Error(`the control socket is not yet supported on ${platform}`);
  }
  return p;
}

/**
 * The socket to use: an explicit path (--socket, or control.socket in the config) wins; null or
 * undefined means the platform default. A relative path is made absolute against the working
 * directory, so the server and the messages name the same file.
 */
export function resolveControlPath(configured: string | null | undefined, platform: NodeJS.Platform = process.platform): string {
  if (configured === null || configured === undefined || configured === '') return defaultControlPath(platform);
  // A Windows pipe name is not a file path: it is used as written.
  if (platform === 'win32') return configured;
  return path.resolve(configured);
}
