// Dotted paths into content JSON ("pdf_output.text", "excel_output.sheets.0.table"). Numeric segments index lists.
// Only own properties are read or written, and prototype-related names are refused.

const FORBIDDEN = new Set(["__proto__", "prototype", "constructor"]);

export function splitPath(path: string, delimiter = "."): string[] {
  const parts = path.split(delimiter);
  for (const p of parts) if (FORBIDDEN.has(p)) throw new Error(`field path '${path}' uses the reserved name '${p}'`);
  return parts;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export function getPath(root: unknown, parts: string[]): unknown {
  let cur: unknown = root;
  for (const key of parts) {
    if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
    else if (isRecord(cur) && Object.hasOwn(cur, key)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

/** Sets a value, creating objects on the way; fails when a parent exists but is not an object. */
export function setPath(
  root: Record<string, unknown>,
  parts: string[],
  value: unknown,
  opts: { createParents?: boolean } = {},
): void {
  let cur: Record<string, unknown> = root;
  for (const key of parts.slice(0, -1)) {
    if (!Object.hasOwn(cur, key) || cur[key] === undefined || cur[key] === null) {
      if (opts.createParents === false) throw new Error(`cannot set '${parts.join(".")}': '${key}' does not exist`);
      cur[key] = {};
    } else if (!isRecord(cur[key])) {
      throw new Error(`cannot set '${parts.join(".")}': '${key}' is not an object`);
    }
    cur = cur[key] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

export function hasPath(root: unknown, parts: string[]): boolean {
  const parent = getPath(root, parts.slice(0, -1));
  return isRecord(parent) && Object.hasOwn(parent, parts[parts.length - 1]);
}

export function deletePath(root: unknown, parts: string[]): void {
  const parent = getPath(root, parts.slice(0, -1));
  if (isRecord(parent)) delete parent[parts[parts.length - 1]];
}
