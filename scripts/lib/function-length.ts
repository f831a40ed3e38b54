// Long functions in formatted TypeScript (deno fmt's layout): a function, method or arrow function with a block body
// runs from the line that opens it to the first later line at the same indent that closes it. Closures inside a
// function count toward it and are also measured on their own. A function may be longer than the limit when a
// comment just above it (or in its doc comment) says why, with the words "long function:".

export interface LongFunction {
  /** 1-based line of the opening line. */
  line: number;
  lines: number;
  name: string;
}

// Lines that open a function whose block body starts on that line (the parameters may run over several lines, so
// the opening line is the one with the name).
const OPENERS = [
  /^(\s*)(?:export\s+)?(?:default\s+)?(?:async\s+)?function\*?\s*([A-Za-z0-9_$]*)/, // function declarations
  /^(\s*)(?:(?:public|private|protected|static|readonly|override|async|get|set)\s+)*\*?([A-Za-z0-9_$]+)(?:<[^>]*>)?\(.*$/, // methods
  /^(\s*)(?:export\s+)?(?:const|let|var)\s+([A-Za-z0-9_$]+)[^=]*=\s*(?:async\s+)?(?:\([^)]*\)|[A-Za-z0-9_$]+)?.*=>\s*\{?$/, // arrows
];
const KEYWORDS = new Set(["if", "for", "while", "switch", "catch", "return", "await", "new", "throw", "typeof"]);
const MARK = /long function:/i;

/** Where the function opened on `lines[i]` ends (index of its closing line), or -1 when it has no block body there. */
function closingLine(lines: string[], i: number, indent: string): number {
  // The body opens on this line or on a following line at a deeper indent (multi-line parameters) ending in "{".
  let j = i;
  while (j < lines.length && !/\{\s*$/.test(lines[j])) {
    if (j > i && !lines[j].startsWith(indent + " ") && !/^\s*\)/.test(lines[j])) return -1;
    if (/;\s*$/.test(lines[j])) return -1;
    j++;
  }
  for (let k = j + 1; k < lines.length; k++) {
    const l = lines[k];
    if (l.startsWith(indent + "}") || (l.startsWith(indent) && /^\s*\}/.test(l) && l.search(/\S/) === indent.length)) {
      return k;
    }
  }
  return -1;
}

/** Functions longer than `limit` lines in `text`, except those marked with a "long function:" comment. */
export function longFunctions(text: string, limit: number): LongFunction[] {
  const lines = text.split("\n");
  const found: LongFunction[] = [];
  let inComment = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*\/\*/.test(line)) inComment = !/\*\//.test(line);
    else if (inComment) {
      if (/\*\//.test(line)) inComment = false;
      continue;
    }
    if (/^\s*(\/\/|\*)/.test(line)) continue;
    for (const opener of OPENERS) {
      const m = opener.exec(line);
      if (!m || KEYWORDS.has(m[2])) continue;
      const end = closingLine(lines, i, m[1]);
      if (end < 0) break;
      const length = end - i + 1;
      if (length > limit && !marked(lines, i)) found.push({ line: i + 1, lines: length, name: m[2] || "(anonymous)" });
      break;
    }
  }
  return found;
}

/** A "long function:" comment in the comment lines directly above line i. */
function marked(lines: string[], i: number): boolean {
  for (let k = i - 1; k >= 0; k--) {
    const l = lines[k].trim();
    if (!(l.startsWith("//") || l.startsWith("*") || l.startsWith("/*"))) return false;
    if (MARK.test(l)) return true;
  }
  return false;
}
