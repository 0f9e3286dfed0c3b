#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the prepare script).
let main;
try {
  main = require('../dist/src/cli/main.js').main;
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('brokerwatch: not built yet - run `npm ci` (or `npm run build`) in the package folder first\n');
    process.exit(2);
  }
  throw err;
}
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
