/**
 * GetExtendedTcpTable / GetExtendedUdpTable through koffi (Windows only): the calls and the
 * ERROR_INSUFFICIENT_BUFFER retry loop, nothing else - parse.ts decodes the bytes.
 * koffi is required lazily, so other platforms never load it.
 */
import { parseTcpTable, parseUdpTable, type TableRow } from './parse';

const AF_INET = 2;
const AF_INET6 = 23;
const TCP_TABLE_OWNER_PID_ALL = 5;
const UDP_TABLE_OWNER_PID = 1;
const NO_ERROR = 0;
const ERROR_INSUFFICIENT_BUFFER = 122;

type TableFn = (buf: Buffer | null, size: number[], order: number, af: number, cls: number, reserved: number) => number;

export interface IphlpapiTables {
  tcp(family: 4 | 6): TableRow[];
  udp(family: 4 | 6): TableRow[];
  /** The raw buffer as the OS returned it (the fixture tool saves these). */
  raw(kind: 'tcp' | 'udp', family: 4 | 6): Buffer;
}

/** Loads iphlpapi.dll through koffi. Throws on any platform but Windows. */
export function loadIphlpapi(platform: NodeJS.Platform = process.platform): IphlpapiTables {
  if (platform !== 'win32') throw new Error(`iphlpapi exists on Windows only, not on ${platform}`);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('iphlpapi.dll');
  const tcpFn = lib.func('uint32_t __stdcall GetExtendedTcpTable(void *pTcpTable, _Inout_ uint32_t *pdwSize, int bOrder, uint32_t ulAf, int TableClass, uint32_t Reserved)') as unknown as TableFn;
  const udpFn = lib.func('uint32_t __stdcall GetExtendedUdpTable(void *pUdpTable, _Inout_ uint32_t *pdwSize, int bOrder, uint32_t ulAf, int TableClass, uint32_t Reserved)') as unknown as TableFn;

  function fetch(fn: TableFn, name: string, family: 4 | 6, cls: number): Buffer {
    const af = family === 4 ? AF_INET : AF_INET6;
    let size = 16 * 1024;
    // Sockets appear between the size query and the read: retry with the size the call asked for (plus room).
    for (let attempt = 0; attempt < 8; attempt++) {
      const buf = Buffer.alloc(size);
      const sizeRef = [size];
      const rc = fn(buf, sizeRef, 0, af, cls, 0);
      if (rc === NO_ERROR) return buf.subarray(0, Math.min(buf.length, sizeRef[0] as number));
      if (rc !== ERROR_INSUFFICIENT_BUFFER) throw new Error(`${name}(AF_INET${family === 6 ? '6' : ''}) failed with error ${rc}`);
      size = Math.max((sizeRef[0] as number) + 4096, size * 2);
    }
    throw new Error(`${name}(AF_INET${family === 6 ? '6' : ''}): the table kept growing past ${size} bytes`);
  }

  return {
    tcp: (family) => parseTcpTable(fetch(tcpFn, 'GetExtendedTcpTable', family, TCP_TABLE_OWNER_PID_ALL), family),
    udp: (family) => parseUdpTable(fetch(udpFn, 'GetExtendedUdpTable', family, UDP_TABLE_OWNER_PID), family),
    raw: (kind, family) => (kind === 'tcp' ? fetch(tcpFn, 'GetExtendedTcpTable', family, TCP_TABLE_OWNER_PID_ALL) : fetch(udpFn, 'GetExtendedUdpTable', family, UDP_TABLE_OWNER_PID)),
  };
}
