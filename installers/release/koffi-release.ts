/**
 * `require('koffi')` inside a release binary (the bundler maps the module name here). A single
 * executable cannot hold a native module, and brokerwatch never extracts one to a temp folder:
 * it loads koffi.node from the folder that holds the binary itself, after checking that
 *  - it is a regular file (not a symlink) and its SHA-256 is the one recorded at build time, and
 *  - it and every folder above it belong to root (or to the user running the binary) and are
 *    writable by nobody else - so nobody but the binary's owner can have replaced it.
 * The checks run once, when a command first needs native calls.
 */
import crypto = require('node:crypto');
import fs = require('node:fs');
import path = require('node:path');
import trusted = require('./trusted-path');

declare const __KOFFI_SHA256__: string;
declare const __KOFFI_VERSION__: string;

function loadNative(): unknown {
  const file = path.join(path.dirname(fs.realpathSync(process.execPath)), 'koffi.node');
  if (!fs.existsSync(file)) throw new Error(`native calls need ${file} (koffi ${__KOFFI_VERSION__}), shipped beside the binary; it is missing`);
  trusted.checkTrustedPath(file, process.geteuid?.());
  const digest = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  if (digest !== __KOFFI_SHA256__) throw new Error(`${file} is not the koffi ${__KOFFI_VERSION__} module this binary was built with (SHA-256 ${digest}); refusing to load it`);
  const mod = { exports: {} as { version?: string } };
  process.dlopen(mod, file);
  if (mod.exports.version !== __KOFFI_VERSION__) throw new Error(`${file} is koffi ${String(mod.exports.version)}, not ${__KOFFI_VERSION__}`);
  return mod.exports;
}

export = loadNative();
