#!/usr/bin/env node
// Runs the suite with node's test runner over an explicit file list (Node 20 cannot glob),
// and fails when no test ran. Arguments narrow the run to files or folders: npm test -- test/analyzer
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test'];

function collect(target) {
  const abs = path.resolve(root, target);
  if (!fs.existsSync(abs)) {
    console.error(`test/run.mjs: no such test file or folder: ${target}`);
    process.exit(2);
  }
  if (fs.statSync(abs).isFile()) return [abs];
  return fs.readdirSync(abs, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts') && !f.split(path.sep).includes('fixtures'))
    .map((f) => path.join(abs, f));
}

const files = [...new Set(targets.flatMap(collect))].sort();
if (files.length === 0) {
  console.error('test/run.mjs: no test files found');
  process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4000);
});
child.on('close', (code, signal) => {
  const tests = Number(/# tests (\d+)/.exec(tail)?.[1] ?? 0);
  const pass = Number(/# pass (\d+)/.exec(tail)?.[1] ?? 0);
  const fail = Number(/# fail (\d+)/.exec(tail)?.[1] ?? 0);
  const skipped = Number(/# skipped (\d+)/.exec(tail)?.[1] ?? 0);
  console.log(`${pass} passed, ${fail} failed, ${skipped} skipped`);
  if (tests === 0) {
    console.error('test/run.mjs: zero tests ran - that is a failure');
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
