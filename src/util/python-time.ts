// Timestamps in the form the Python ContentFlow services write and read (datetime.isoformat / fromisoformat).

/**
 * Parses an ISO 8601 time as Python's datetime.fromisoformat reads ContentFlow's documents: fractions of any length
 * (microseconds), `+00:00` or `Z`, and naive values (no offset) taken as UTC, as the Python worker treats them.
 */
export function parsePythonTime(text: string | null | undefined): Date | undefined {
  if (!text) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(text.trim());
  if (!m) return undefined;
  const fraction = m[3] ? `.${m[3].slice(0, 3).padEnd(3, "0")}` : "";
  const offset = !m[4] || m[4].toUpperCase() === "Z" ? "Z" : m[4].replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const t = Date.parse(`${m[1]}T${m[2].length === 5 ? `${m[2]}:00` : m[2]}${fraction}${offset}`);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** `2025-01-02T03:04:05.678+00:00`: what Python's datetime.isoformat() writes for an aware UTC time (ms precision). */
export function pythonIsoTime(date: Date): string {
  return date.toISOString().replace(/Z$/, "+00:00");
}
