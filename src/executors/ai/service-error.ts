// Errors of calls to Azure AI services. Messages name the service, the operation and the HTTP status and carry the
// service's own error code and message (trimmed); never request headers, so never a key or a token.

export class AiServiceError extends Error {
  override name = "AiServiceError";
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
  }
}

const MAX_DETAIL = 600;

function trim(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_DETAIL ? `${flat.slice(0, MAX_DETAIL)}…` : flat;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** The inner errors' words: their messages where they have one (Document Intelligence), else their codes (Azure.Core
 * InnerError has only code and a nested innererror: Content Understanding). */
function innerText(inner: unknown): string {
  const parts: string[] = [];
  for (let e = inner, depth = 0; isRecord(e) && depth < 5; e = e.innererror, depth++) {
    if (typeof e.message === "string" && e.message) parts.push(e.message);
    else if (typeof e.code === "string" && e.code) parts.push(e.code);
  }
  return parts.join(" > ");
}

const MAX_DETAILS = 3;

/** "[target ]code: message" of an error's details[] entries (Azure.Core Error.details), the first few. */
function detailsText(details: unknown): string {
  if (!Array.isArray(details)) return "";
  const parts = details.filter(isRecord).slice(0, MAX_DETAILS).map((d) => {
    const head = [d.target, d.code].filter((x): x is string => typeof x === "string" && x !== "").join(" ");
    const message = typeof d.message === "string" ? d.message : "";
    const inner = innerText(d.innererror);
    return [head, message].filter(Boolean).join(": ") + (inner ? ` (${inner})` : "");
  }).filter(Boolean);
  const more = details.length > MAX_DETAILS ? `; and ${details.length - MAX_DETAILS} more` : "";
  return parts.length > 0 ? ` [${parts.join("; ")}${more}]` : "";
}

/**
 * "code: message (inner) [details]" from an Azure error body ({error: {code, message, target, details[],
 * innererror}}), else the text itself (trimmed).
 */
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
  const innerWords = innerText(error.innererror);
  const inner = innerWords ? ` (${innerWords})` : "";
  return { code, detail: trim([code, message + inner].filter(Boolean).join(": ") + detailsText(error.details)) };
}

/** "<what>: HTTP <status>[: <code>: <message>]" */
export function httpFailure(what: string, status: number, body: unknown): AiServiceError {
  const { code, detail } = errorDetail(body);
  return new AiServiceError(`${what}: HTTP ${status}${detail ? `: ${detail}` : ""}`, status, code);
}
