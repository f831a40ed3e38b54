// Small helpers that write values into prompts the way ContentFlow's Python f-strings do.

/** A number as Python prints a float: 0.7 → "0.7", 0 → "0.0", 1 → "1.0". */
export function pythonFloat(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n);
}
