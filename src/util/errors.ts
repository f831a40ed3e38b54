// Errors as text: the whole message (execution records and pipeline events, where the detail is the point), a
// one-line summary with the HTTP status (logs, crawl failures, CLI messages), and an Azure service error with its
// status and code but without request details (storage queue and blob errors, AI Search REST errors).

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

/**
 * An error from an Azure service SDK (or a fetch under it) as one line, without request details (URLs may carry SAS
 * tokens, headers keys): `[what: ]HTTP <status>: [<code>: ]<first line of the message>`, with the error's name in
 * place of the status when there is none (TimeoutError, AbortError, the TypeError of a failed fetch). With `what`,
 * a 404 reads "<what> not found (<code>)" (a 404 on a blob download carries no message of its own); an answer
 * that did not parse reads "the answer is not valid JSON". One formatter for storage queue and blob errors and the
 * REST errors of the AI Search SDK.
 */
export function serviceErrorText(err: unknown, what?: string): string {
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const status = typeof e.statusCode === "number" && e.statusCode > 0 ? e.statusCode : undefined;
  const code = typeof e.code === "string" && e.code !== "" && !/^\d+$/.test(e.code) ? e.code : undefined;
  const name = typeof e.name === "string" && e.name !== "RestError" && e.name !== "Error" ? e.name : undefined;
  const prefix = what ? `${what}: ` : "";
  if (status === 404 && what) return `${what} not found${code ? ` (${code})` : ""}`;
  const head = status !== undefined ? `HTTP ${status}: ` : name ? `${name}: ` : "";
  if (code === "PARSE_ERROR") return `${prefix}${head}the answer is not valid JSON`;
  const raw = typeof e.message === "string" ? e.message : typeof err === "object" && err !== null ? "" : String(err);
  const message = raw.split("\n")[0].replace(/\s+/g, " ").trim().slice(0, 300);
  if (!message) return `${prefix}${head}${code ?? name ?? "no detail"}`;
  return `${prefix}${head}${code && !message.startsWith(code) ? `${code}: ` : ""}${message}`;
}
