// Errors as text. Two forms: the whole message (execution records and pipeline events, where the detail is the
// point) and a one-line summary with the HTTP status (logs, crawl failures, CLI messages).

/** The error's message, or the value as text when it is not an Error. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : String(err);
}

/** HTTP status an Azure SDK error carries (`statusCode`, or the Cosmos SDK's numeric `code`). */
export function errorStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null | undefined;
  if (typeof e?.statusCode === "number") return e.statusCode;
  if (typeof e?.code === "number") return e.code;
  return undefined;
}

/**
 * One line: the first line of the message, plus ` (status N)` when the error carries an HTTP status the message
 * does not already state (Azure SDK messages often continue with request details over several lines).
 */
export function errorSummary(err: unknown): string {
  const line = errorText(err).split("\n")[0].trim();
  const status = errorStatus(err);
  return status !== undefined && !line.includes(String(status)) ? `${line} (status ${status})` : line;
}
