/**
 * Removing the Authenticode signature from a Windows PE file (node.exe from the registry is
 * signed by the Node.js project). Injecting the SEA blob adds a resource and moves data; a signature
 * left behind then points at the wrong bytes, and signtool / osslsigncode refuse to sign the file
 * again ("the file is corrupt"). So the signature goes first, as `osslsigncode remove-signature`
 * does: the certificate table (data directory 4, IMAGE_DIRECTORY_ENTRY_SECURITY, whose address is a
 * file offset) is cut off the end of the file, its directory entry zeroed and the PE checksum
 * recomputed. Pure over bytes; the PE/COFF layout is from Microsoft's PE format specification.
 */

export interface PeSignatureInfo {
  /** File offset of the certificate table, 0 when the file is unsigned. */
  offset: number;
  size: number;
}

function headers(pe: Buffer): { optional: number; securityEntry: number; checksum: number } {
  if (pe.length < 0x40 || pe.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file (no MZ header)');
  const lfanew = pe.readUInt32LE(0x3c);
  if (lfanew + 24 > pe.length || pe.toString('latin1', lfanew, lfanew + 4) !== 'PE\0\0') throw new Error('not a PE file (no PE signature)');
  const optional = lfanew + 24;
  const magic = pe.readUInt16LE(optional);
  // Data directories follow the fixed part of the optional header: 96 bytes in PE32, 112 in PE32+.
  const dirs = magic === 0x20b ? optional + 112 : magic === 0x10b ? optional + 96 : -1;
  if (dirs < 0) throw new Error(`unknown PE optional header magic 0x${magic.toString(16)}`);
  const count = pe.readUInt32LE(dirs - 4);
  if (count < 5) throw new Error('the PE file has no security data directory');
  return { optional, securityEntry: dirs + 4 * 8, checksum: optional + 64 };
}

/** Where the Authenticode signature sits, if any. */
export function peSignature(pe: Buffer): PeSignatureInfo {
  const { securityEntry } = headers(pe);
  return { offset: pe.readUInt32LE(securityEntry), size: pe.readUInt32LE(securityEntry + 4) };
}

/** The PE checksum (the algorithm of imagehlp's CheckSumMappedFile): 16-bit sums with carry, the checksum field skipped, plus the length. */
export function peChecksum(pe: Buffer): number {
  const { checksum } = headers(pe);
  let sum = 0;
  for (let i = 0; i + 1 < pe.length; i += 2) {
    if (i === checksum || i === checksum + 2) continue;
    sum += pe.readUInt16LE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (pe.length % 2 === 1) {
    sum += pe[pe.length - 1] as number;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ((sum & 0xffff) + pe.length) >>> 0;
}

/** A copy of `pe` without its Authenticode signature (the same bytes when it has none). */
export function stripAuthenticode(pe: Buffer): Buffer {
  const { securityEntry, checksum } = headers(pe);
  const { offset, size } = peSignature(pe);
  if (offset === 0 && size === 0) return Buffer.from(pe);
  // The table must be the file's tail (8-byte aligned); anything else is not a file we understand.
  if (offset + size !== pe.length || offset % 8 !== 0) {
    throw new Error(`the certificate table (offset ${offset}, size ${size}) is not at the end of the ${pe.length}-byte file; refusing to guess`);
  }
  const out = Buffer.from(pe.subarray(0, offset));
  out.writeUInt32LE(0, securityEntry);
  out.writeUInt32LE(0, securityEntry + 4);
  out.writeUInt32LE(peChecksum(out), checksum);
  return out;
}
