// Small helpers that write values into prompts the way ContentFlow's Python f-strings do.

/** A number as Python prints a float: 0.7 → "0.7", 0 → "0.0", 1 → "1.0". */
export function pythonFloat(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

/** Python's str() for the values a content field may hold; objects and lists as JSON (Python printed its repr). */
export function pythonStr(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}
