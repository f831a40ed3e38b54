// The one place that removes secrets from text before it leaves the process: log lines (own and forwarded from
// workers), crash messages, errors and events written to execution records, poison records, `config` output.
// Two layers:
//   - registered values: every secret setting and identity secret of this process, wherever they appear;
//   - patterns, for secrets we were never told about: connection string parts (AccountKey=…), SAS signatures and
//     keys in URLs (sig=…, code=…), Authorization schemes (Bearer …), api-key style headers.

export const REDACTED = "***";

/** Registered values, each with its JSON-escaped form when that differs (a value quoted inside a JSON line). */
const secrets = new Map<string, string | undefined>();

/** Values shorter than this are not registered: replacing "true" or "1" everywhere would wreck the logs. */
const MIN_SECRET_LENGTH = 6;

/** Any registered value is replaced by "***" in everything redactText sees. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  const escaped = JSON.stringify(value).slice(1, -1);
  secrets.set(value, escaped !== value ? escaped : undefined);
}

// Value characters stop at separators, quotes and backslashes (so a JSON-escaped quote after the value survives).
const CONNECTION_STRING_PART =
  /\b(AccountKey|SharedAccessKey|SharedAccessSignature|SharedSecretValue|ClientSecret|Password|Pwd)=[^;\s"'\\]+/gi;
const URL_SECRET_PARAM =
  /([?&;](?:sig|code|api-key|api_key|apikey|subscription-key|access_token|refresh_token|client_secret|token|key|password)=)[^&#;\s"'\\]+/gi;
const SAS_SIGNATURE = /\b(sig=)[^&#;\s"'\\]+/gi;
const AUTH_SCHEME = /\b(Bearer|Basic|SharedKey)(\s+)[A-Za-z0-9._~+/:=-]{6,}/g;
const SECRET_HEADER =
  /((?:^|[\s{,"'])(?:api-key|x-api-key|ocp-apim-subscription-key|x-functions-key|authorization|proxy-authorization|cookie|x-ms-authorization-auxiliary)["']?\s*[:=]\s*["']?)(?!\*\*\*)(?:(?:Bearer|Basic|SharedKey)\s+)?[^"'\s,;}\\]+/gi;

function replaceAll(text: string, needle: string): string {
  return text.includes(needle) ? text.split(needle).join(REDACTED) : text;
}

/** `text` with every registered secret and every secret-shaped fragment replaced by "***". */
export function redactText(text: string): string {
  let out = text;
  for (const [s, escaped] of secrets) {
    out = replaceAll(out, s);
    if (escaped) out = replaceAll(out, escaped);
  }
  return out
    .replace(CONNECTION_STRING_PART, `$1=${REDACTED}`)
    .replace(URL_SECRET_PARAM, `$1${REDACTED}`)
    .replace(SAS_SIGNATURE, `$1${REDACTED}`)
    .replace(AUTH_SCHEME, `$1$2${REDACTED}`)
    .replace(SECRET_HEADER, `$1${REDACTED}`);
}

const SECRET_KEY_NAME =
  /^(?:api[-_]?key|x-api-key|ocp-apim-subscription-key|x-functions-key|authorization|password|secret|client_secret|access_token|refresh_token|connection_string|account_key|sas_token)$/i;

/** A copy of `value` with every string redacted and the values of secret-named keys replaced. */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === "string") return redactText(value) as T;
  if (depth > 32 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((x) => redactDeep(x, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY_NAME.test(k) && typeof x === "string" && x !== "" ? REDACTED : redactDeep(x, depth + 1);
  }
  return out as T;
}
