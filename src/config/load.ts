import fs from 'node:fs';
import type { z } from 'zod';
import { DEFAULT_CONFIG_NAME, defaultConfigText, prebuiltDefaultConfig, prevalidatedDefaultConfig } from './embedded';
import { ConfigError } from './errors';
import type { Config, configSchema } from './schema';

type Plain = Record<string, unknown>;

function isPlainObject(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Maps merge key by key; lists and scalars from `over` replace those of `base`. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeConfig(base[k], v) : v;
  return out;
}

/** Parses YAML text; syntax errors become ConfigError lines with file, line and column. */
export function parseYaml(text: string, file: string): unknown {
  // Loaded here, not at the top: a scan with the release binary's prebuilt default never needs it.
  const YAML = require('yaml') as typeof import('yaml');
  // linePos is only filled in with prettyErrors, whose messages span lines: count lines ourselves.
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      return `${where}: YAML error: ${e.message.split('\n')[0]}`;
    }));
  }
  const value = doc.toJS() as unknown;
  if (value !== null && value !== undefined && !isPlainObject(value)) {
    throw new ConfigError([`${file}: expected a map of settings at the top level, got ${Array.isArray(value) ? 'a list' : typeof value}`]);
  }
  return value ?? {};
}

function hasPath(obj: unknown, path: readonly PropertyKey[]): boolean {
  let cur = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !(String(key) in (cur as Plain))) return false;
    cur = (cur as Plain)[String(key)];
  }
  return true;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code === 'unrecognized_keys') {
    return { path: issue.path, message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (see config/default.yaml for the valid keys)` };
  }
  if (issue.code === 'invalid_union') {
    // Report the branch that got furthest: for an address entry that is the string check.
    const first = issue.errors.flat()[0];
    if (first) return { path: [...issue.path, ...first.path], message: first.message };
  }
  return { path: issue.path, message: issue.message };
}

export interface LoadedConfig {
  config: Config;
  /** The files merged, in order (the embedded default first). */
  files: string[];
  /** One line each: deprecated settings that still work (the agent logs them; validate-config prints them). */
  notices: string[];
}

/**
 * `capture:` was the daemon's choice of eBPF or polling while `adapter:` chose the polling adapter;
 * now `adapter:` alone chooses (auto: eBPF when it starts, else the OS's polling adapter). An old
 * `capture:` still works: it is folded into `adapter` with a one-line notice naming the file.
 */
export function resolveCaptureAlias(parsed: z.output<typeof configSchema>, userDocs: { file: string; doc: unknown }[]): { config: Config; notices: string[] } {
  const { capture, ...config } = parsed;
  if (capture === undefined) return { config, notices: [] };
  const file = [...userDocs].reverse().find((d) => hasPath(d.doc, ['capture']))?.file ?? DEFAULT_CONFIG_NAME;
  const adapterSet = userDocs.some((d) => hasPath(d.doc, ['adapter']));
  let adapter = config.adapter;
  // capture: ebpf asked for eBPF whatever the polling adapter; capture: procfs asked for polling only.
  if (capture === 'ebpf') adapter = 'ebpf';
  else if (capture === 'procfs' && (!adapterSet || adapter === 'auto' || adapter === 'ebpf')) adapter = 'procfs';
  const notice = `${file}: capture: is deprecated - \`adapter:\` alone chooses the capture now; read as adapter: ${adapter}${adapterSet ? ` (adapter was ${config.adapter})` : ''}. Replace \`capture: ${capture}\` with \`adapter: ${adapter}\``;
  return { config: { ...config, adapter }, notices: [notice] };
}

/** Validates merged settings; every problem names the file it most likely came from and the key path. */
export function validateConfig(merged: unknown, userDocs: { file: string; doc: unknown }[]): Config {
  return validateWithNotices(merged, userDocs).config;
}

function validateWithNotices(merged: unknown, userDocs: { file: string; doc: unknown }[]): { config: Config; notices: string[] } {
  // Loaded here, not at import: a release binary on its default config never needs the schema (zod).
  const { configSchema: schema } = require('./schema') as typeof import('./schema');
  const result = schema.safeParse(merged);
  if (result.success) return resolveCaptureAlias(result.data, userDocs);
  const problems = result.error.issues.map((issue) => {
    const { path, message } = describeIssue(issue);
    const owner = [...userDocs].reverse().find((d) => hasPath(d.doc, path.slice(0, Math.max(1, path.length))));
    const file = owner?.file ?? userDocs[userDocs.length - 1]?.file ?? DEFAULT_CONFIG_NAME;
    return `${file}: ${formatPath(path)}: ${message}`;
  });
  throw new ConfigError(problems);
}

/**
 * Loads the embedded default and merges each given file over it, in order.
 * Throws ConfigError (exit 2) naming the file and key for anything wrong.
 */
export function loadConfig(files: readonly string[] = [], readFile: (f: string) => string = (f) => fs.readFileSync(f, 'utf8')): LoadedConfig {
  if (files.length === 0) {
    // A release binary carries the default already validated by this function at build time.
    const ready = prevalidatedDefaultConfig();
    if (ready) return { config: ready as Config, notices: [], files: [DEFAULT_CONFIG_NAME] };
  }
  let merged = prebuiltDefaultConfig() ?? parseYaml(defaultConfigText(), DEFAULT_CONFIG_NAME);
  const userDocs: { file: string; doc: unknown }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Node's message already starts with the code ("ENOENT: no such file..."): do not say it twice.
      const why = e.code && !e.message.startsWith(e.code) ? `${e.code} ${e.message}` : e.message;
      throw new ConfigError([`${file}: cannot read config file: ${why}`.replace(/\s+/g, ' ')]);
    }
    const doc = parseYaml(text, file);
    userDocs.push({ file, doc });
    merged = mergeConfig(merged, doc);
  }
  const { config, notices } = validateWithNotices(merged, userDocs);
  return { config, notices, files: [DEFAULT_CONFIG_NAME, ...files] };
}
