/**
 * Pure parser for `ps -o pid=,ppid=,args= -p PIDS` output. No I/O here: read.ts runs ps. Command
 * lines are hostile, so the structure is checked against the pids that were asked for.
 */

/** One line of `ps -o pid=,ppid=,args=`. */
export interface PsRow {
  pid: number;
  ppid: number;
  /** The command line as ps prints it (ps replaces or escapes control characters). */
  args: string;
}

export interface PsParseResult {
  rows: Map<number, PsRow>;
  /** Pids whose rows cannot be trusted: ps printed more than one line starting with them. */
  ambiguous: number[];
  problems: string[];
}

// pid and ppid are right-aligned numbers; exactly one space separates the ppid column from args,
// so leading spaces of argv[0] stay part of args.
const PS_LINE = /^ *(\d{1,10}) +(\d{1,10}) (.*)$/s;
const PS_LINE_NO_ARGS = /^ *(\d{1,10}) +(\d{1,10}) *$/;

/**
 * Parses `ps -o pid=,ppid=,args= -p PIDS` output. ps never prints a raw newline inside args (procps
 * writes a space or '?', macOS ps writes it vis(3)-encoded), but the input is hostile all the same:
 * a line that does not start with a requested pid continues the previous command line, and a pid
 * that starts two lines (a command line that imitates a ps line) is reported as ambiguous instead of
 * being believed.
 */
export function parsePsOutput(text: string, requested: ReadonlySet<number>): PsParseResult {
  const rows = new Map<number, PsRow>();
  const ambiguous = new Set<number>();
  const problems: string[] = [];
  let last: PsRow | null = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const m = PS_LINE.exec(line) ?? PS_LINE_NO_ARGS.exec(line);
    const pid = m ? Number(m[1]) : NaN;
    if (!m || !requested.has(pid)) {
      if (last) last.args += `\n${line}`;
      else problems.push(`ps line that continues no trusted row: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    if (rows.has(pid)) {
      ambiguous.add(pid);
      last = null; // neither line can be attributed; continuation lines go nowhere
      continue;
    }
    last = { pid, ppid: Number(m[2]), args: m[3] ?? '' };
    rows.set(pid, last);
  }
  for (const pid of ambiguous) rows.delete(pid);
  return { rows, ambiguous: [...ambiguous].sort((a, b) => a - b), problems };
}
