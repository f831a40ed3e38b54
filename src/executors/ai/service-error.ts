// Errors of calls to Azure AI services. Messages name the service, the operation and the HTTP status and carry the
// service's own error code and message (trimmed); never request headers, so never a key or a token.

export class AiServiceError extends Error {
  override name = "AiServiceError";
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
  }
}

const MAX_DETAIL = 300;

function trim(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_DETAIL ? `${flat.slice(0, MAX_DETAIL)}…` : flat;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** "code: message" from an Azure error body ({error: {code, message, innererror}}), else the text itself (trimmed). */
export function errorDetail(body: unknown): { code?: string; detail: string } {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return { detail: trim(body) };
    }
  }
  const error = isRecord(value) && isRecord(value.error) ? value.error : isRecord(value) ? value : undefined;
  if (!error) return { detail: typeof body === "string" ? trim(body) : "" };
  const code = typeof error.code === "string" ? error.code : undefined;
  const message = typeof error.message === "string" ? error.message : "";
  const inner = isRecord(error.innererror) && typeof error.innererror.message === "string"
    ? ` (${error.innererror.message})`
    : "";
  return { code, detail: trim([code, message + inner].filter(Boolean).join(": ")) };
}

/** "<what>: HTTP <status>[: <code>: <message>]" */
export function httpFailure(what: string, status: number, body: unknown): AiServiceError {
  const { code, detail } = errorDetail(body);
  return new AiServiceError(`${what}: HTTP ${status}${detail ? `: ${detail}` : ""}`, status, code);
}
