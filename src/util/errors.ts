// Errors as text for logs, records and messages.

/** The error's message (or the value as text when it is not an Error). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
