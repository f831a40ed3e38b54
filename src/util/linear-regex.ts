// The one home for regular expressions whose pattern comes from outside the code (pipeline settings, operator flags)
// or that run over content: they compile on RE2 (re2js), whose matching time is linear in the input, so no pattern
// and no page, link or field name can stall a worker the way a backtracking engine can (`.*/.*/.*\.html` against a
// long link of slashes). Glob patterns are turned into RE2 here too, with every character that is not a wildcard
// written as a literal, so a pattern can never carry raw regex syntax into the engine.
import { RE2JS } from "re2js";

/** A compiled linear-time pattern. */
export interface LinearRegex {
  /** True when the pattern matches somewhere in `text`. */
  test(text: string): boolean;
  /** True when the pattern matches the whole of `text`. */
  matchesWhole(text: string): boolean;
}

export interface LinearRegexOptions {
  caseInsensitive?: boolean;
  /** `.` also matches a line break. */
  dotAll?: boolean;
}

/** Longest pattern accepted (pipeline settings and flags are small; this bounds compile time and memory). */
export const MAX_PATTERN_LENGTH = 8192;

/** A pattern that does not compile; the message says why, in RE2's words. */
export class RegexSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegexSyntaxError";
  }
}

function checkLength(pattern: string): void {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RegexSyntaxError(`the pattern is ${pattern.length} characters long (at most ${MAX_PATTERN_LENGTH})`);
  }
}

function compiled(source: string, opts: LinearRegexOptions): LinearRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source, (opts.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0) | (opts.dotAll ? RE2JS.DOTALL : 0));
  } catch (err) {
    throw new RegexSyntaxError((err as Error).message);
  }
  return { test: (text) => re.test(text), matchesWhole: (text) => re.testExact(text) };
}

/**
 * A regular expression in RE2 syntax (like JavaScript's, without lookaround or back-references).
 * Throws RegexSyntaxError when it does not compile.
 */
export function linearRegex(pattern: string, opts: LinearRegexOptions = {}): LinearRegex {
  checkLength(pattern);
  return compiled(pattern, opts);
}

/** One code point written so RE2 reads it as itself, inside or outside a character class. */
function literal(codePoint: number): string {
  const c = String.fromCodePoint(codePoint);
  return /^[A-Za-z0-9_]$/.test(c) ? c : `\\x{${codePoint.toString(16)}}`;
}

/**
 * web_scraper's link patterns: `*` matches any run of characters, every other character stands for itself, and the
 * pattern must match the whole URL (ContentFlow: `re.escape(pattern).replace("\\*", ".*")`, anchored at both ends).
 */
export function starPattern(pattern: string): LinearRegex {
  checkLength(pattern);
  let source = "";
  for (const c of pattern) source += c === "*" ? ".*" : literal(c.codePointAt(0)!);
  return compiled(source, {});
}

type GlobToken =
  | { k: "star" }
  | { k: "any" }
  | { k: "never" }
  | { k: "lit"; cp: number }
  | { k: "set"; negated: boolean; ranges: Array<[number, number]> };

/** One part of a bracket expression: a literal character or the `-` that joins two into a range. */
type SetPart = { cp: number } | { range: true };

const BANG = 0x21, HYPHEN = 0x2d, CLOSE = 0x5d;

/**
 * The body of a bracket expression `pat[start..end)` (the text between `[` and its `]`), read the way Python's
 * fnmatch reads it: a leading `!` negates, `-` between two characters makes a range unless it is the first or last
 * character, a range whose ends are reversed is dropped with its ends, and a backslash is an ordinary character.
 */
function bracketToken(pat: number[], start: number, end: number): GlobToken {
  // Cut the body at the hyphens that make ranges (fnmatch: each cut skips the character after it).
  const chunks: number[][] = [];
  let from = start;
  let k = pat[start] === BANG ? start + 2 : start + 1;
  for (;;) {
    k = pat.indexOf(HYPHEN, k);
    if (k < 0 || k >= end) break;
    chunks.push(pat.slice(from, k));
    from = k + 1;
    k += 3;
  }
  const last = pat.slice(from, end);
  if (last.length > 0) chunks.push(last);
  else chunks[chunks.length - 1].push(HYPHEN);
  // Drop reversed ranges (z-a) together with their two ends.
  for (let i = chunks.length - 1; i > 0; i--) {
    const before = chunks[i - 1], after = chunks[i];
    if (before[before.length - 1] > after[0]) {
      chunks[i - 1] = [...before.slice(0, -1), ...after.slice(1)];
      chunks.splice(i, 1);
    }
  }
  const parts: SetPart[] = [];
  chunks.forEach((chunk, i) => {
    if (i > 0) parts.push({ range: true });
    for (const cp of chunk) parts.push({ cp });
  });
  if (parts.length === 0) return { k: "never" };
  const first = parts[0];
  if (parts.length === 1 && "cp" in first && first.cp === BANG) return { k: "any" };
  const negated = "cp" in first && first.cp === BANG;
  const ranges: Array<[number, number]> = [];
  for (let i = negated ? 1 : 0; i < parts.length;) {
    const part = parts[i++];
    const lo = "cp" in part ? part.cp : HYPHEN;
    const joiner = parts[i];
    if (joiner && "range" in joiner && i + 1 < parts.length) {
      const upper = parts[i + 1];
      const hi = "cp" in upper ? upper.cp : HYPHEN;
      i += 2;
      ranges.push([lo, hi]);
    } else ranges.push([lo, lo]);
  }
  return { k: "set", negated, ranges };
}

/** Reads a shell-style pattern the way Python's fnmatch does: `*`, `?`, `[seq]`, `[!seq]`, nothing escapes. */
function globTokens(pattern: string): GlobToken[] {
  const pat = Array.from(pattern, (c) => c.codePointAt(0)!);
  const out: GlobToken[] = [];
  for (let i = 0; i < pat.length;) {
    const c = pat[i++];
    if (c === 0x2a) {
      if (out[out.length - 1]?.k !== "star") out.push({ k: "star" });
    } else if (c === 0x3f) out.push({ k: "any" });
    else if (c === 0x5b) {
      let j = i;
      if (j < pat.length && pat[j] === BANG) j++;
      if (j < pat.length && pat[j] === CLOSE) j++;
      while (j < pat.length && pat[j] !== CLOSE) j++;
      if (j >= pat.length) out.push({ k: "lit", cp: c });
      else {
        out.push(bracketToken(pat, i, j));
        i = j + 1;
      }
    } else out.push({ k: "lit", cp: c });
  }
  return out;
}

/** The RE2 source (without anchors) of a shell-style pattern read as Python's fnmatch reads it. */
export function globToRegexSource(pattern: string): string {
  let source = "";
  for (const t of globTokens(pattern)) {
    if (t.k === "star") source += ".*";
    else if (t.k === "any") source += ".";
    else if (t.k === "never") source += "[^\\x{0}-\\x{10ffff}]";
    else if (t.k === "lit") source += literal(t.cp);
    else {
      const body = t.ranges.map(([lo, hi]) => lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`).join("");
      source += `[${t.negated ? "^" : ""}${body}]`;
    }
  }
  return source;
}

/**
 * A shell-style pattern matched against whole strings the way Python's `fnmatch.fnmatch` matches on POSIX: `*` any
 * run of characters (line breaks included), `?` one character, `[seq]` / `[!seq]` one character in / not in seq;
 * every other character, regex metacharacters and backslashes included, stands for itself.
 */
export function globPattern(pattern: string): LinearRegex {
  checkLength(pattern);
  return compiled(globToRegexSource(pattern), { dotAll: true });
}
