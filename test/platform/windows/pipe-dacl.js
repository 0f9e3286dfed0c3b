// Reads a named pipe's DACL from outside the server: opens it as a client with READ_CONTROL and
// asks GetSecurityInfo. Usage (Windows Node): node.exe pipe-dacl.js \\.\pipe\NAME OUTFILE
'use strict';
const fs = require('node:fs');
const koffi = require('koffi');
const { win32Pipe } = require('../../../dist/src/control/win32-pipe.js');

const [name, out] = process.argv.slice(2);
const k32 = koffi.load('kernel32.dll');
const CreateFileW = k32.func('void * __stdcall CreateFileW(const char16_t *name, uint32_t access, uint32_t share, void *sa, uint32_t disposition, uint32_t flags, void *template)');
const CloseHandle = k32.func('int __stdcall CloseHandle(void *h)');
const READ_CONTROL = 0x00020000;
const OPEN_EXISTING = 3;
const h = CreateFileW(name, READ_CONTROL, 0, null, OPEN_EXISTING, 0, null);
if (h === null || koffi.address(h) === 0xffffffffffffffffn) {
  fs.writeFileSync(`${out}.error`, `CreateFileW(${name}) failed`);
  process.exit(1);
}
try {
  fs.writeFileSync(out, JSON.stringify({ sddl: win32Pipe().descriptor(h) }));
} finally {
  CloseHandle(h);
}
