// What failed when a dependency could not be reached or refused us, as one line an operator can act on: the service
// (Cosmos DB, Storage queue, Blob storage, App Configuration), its endpoint (scheme, host and port only: paths and
// query strings can carry SAS signatures), and the kind of failure (unreachable, DNS, TLS, 401/403 with the role
// that is missing, 404 with what was not found, throttled, server error).
//
// It reads the shapes the SDKs throw: core-rest-pipeline's RestError (`statusCode`, string `code` such as
// QueueNotFound or REQUEST_SEND_ERROR, `request.url`), the Cosmos SDK's ErrorResponse (numeric `code`, `substatus`,
// `body.message`), Node-style network errors (`code` or `cause.code`: ECONNREFUSED, ENOTFOUND, CERT_…), fetch
// errors of Bun and Deno (the detail only in the message), and @azure/identity's credential errors.
import { errorText } from "./errors.ts";

export type DependencyService = "Cosmos DB" | "Storage queue" | "Blob storage" | "App Configuration";

export type FailureKind =
  | "unreachable"
  | "dns"
  | "tls"
  | "timeout"
  | "credential"
  | "unauthorized"
  | "forbidden"
  | "blocked"
  | "not-found"
  | "throttled"
  | "server-error"
  | "other";

export interface DependencyFailure {
  service?: DependencyService;
  /** scheme://host[:port], never a path or query. */
  endpoint?: string;
  kind: FailureKind;
  status?: number;
  /** The whole description: "Cosmos DB at https://acct.documents.azure.com: …". */
  text: string;
}

export interface DescribeHint {
  service?: DependencyService;
  /** A URL or host of the dependency, when the error does not carry its request. */
  endpoint?: string;
  /** What was asked for, for a 404: "queue contentflow-execution-requests", "pipeline p1". */
  what?: string;
}

/**
 * Endpoints this process was configured with (registered once the configuration is loaded), for errors that do not
 * carry their request's URL (the Cosmos SDK's ErrorResponse).
 */
const knownEndpoints = new Map<DependencyService, string>();

export function registerDependencyEndpoint(service: DependencyService, url: string | undefined): void {
  const endpoint = endpointOf(url);
  if (endpoint) knownEndpoints.set(service, endpoint);
  else knownEndpoints.delete(service);
}

/** The service configured at this URL's endpoint (an emulator on a local port, say). */
function registeredServiceOf(url: string | undefined): DependencyService | undefined {
  const endpoint = endpointOf(url);
  for (const [service, known] of knownEndpoints) if (known === endpoint) return service;
  return undefined;
}

/** The role an identity needs for each service (data plane). */
export const REQUIRED_ROLE: Record<DependencyService, string> = {
  "Cosmos DB": "Cosmos DB Built-in Data Contributor (a Cosmos DB SQL role assignment, not an Azure RBAC role)",
  "Storage queue": "Storage Queue Data Contributor",
  "Blob storage": "Storage Blob Data Contributor (Storage Blob Data Reader where it only reads)",
  "App Configuration": "App Configuration Data Reader",
};

interface ErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  statusCode?: unknown;
  substatus?: unknown;
  status?: unknown;
  request?: { url?: unknown };
  url?: unknown;
  body?: { message?: unknown; code?: unknown };
  activityId?: unknown;
  cause?: unknown;
}

/** The error and its causes (at most 5 deep). */
function chain(err: unknown): ErrorShape[] {
  const out: ErrorShape[] = [];
  let current: unknown = err;
  while (typeof current === "object" && current !== null && out.length < 5) {
    out.push(current as ErrorShape);
    current = (current as ErrorShape).cause;
  }
  return out.length ? out : [{ message: String(err) }];
}

function statusOf(errs: ErrorShape[]): number | undefined {
  for (const e of errs) {
    if (typeof e.statusCode === "number" && e.statusCode > 0) return e.statusCode;
    if (typeof e.code === "number" && e.code >= 100) return e.code;
    if (typeof e.status === "number" && e.status >= 100) return e.status;
  }
  return undefined;
}

/** scheme://host[:port] of a URL (or of a bare host), or undefined. */
export function endpointOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`);
    return `${u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

function urlOf(errs: ErrorShape[], text: string): string | undefined {
  for (const e of errs) {
    if (typeof e.request?.url === "string") return e.request.url;
    if (typeof e.url === "string") return e.url;
  }
  return /\bhttps?:\/\/[^\s)'"]+/i.exec(text)?.[0];
}

/** The service an endpoint belongs to, from Azure's host names (and the emulators' usual ports). */
export function serviceOf(url: string | undefined): DependencyService | undefined {
  if (!url) return undefined;
  let host: string;
  let port: string;
  try {
    const u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`);
    host = u.hostname.toLowerCase();
    port = u.port;
  } catch {
    return undefined;
  }
  if (/\.queue\.core\./.test(host) || port === "10001") return "Storage queue";
  if (/\.blob\.core\.|\.dfs\.core\./.test(host) || port === "10000") return "Blob storage";
  if (/\.documents\.azure\.|\.documents\.microsoftazure\.|\.cosmos\.azure\./.test(host) || port === "8081") {
    return "Cosmos DB";
  }
  if (/\.azconfig\.io$|\.appconfig\.azure\./.test(host)) return "App Configuration";
  return undefined;
}

const DNS = /\b(ENOTFOUND|EAI_AGAIN|EAI_NONAME)\b|dns error|failed to lookup address|getaddrinfo|name resolution/i;
const TLS =
  /\b(CERT_[A-Z_]+|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+)\b|certificate|invalid peer cert|tls handshake|\bssl\b/i;
const UNREACHABLE =
  /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED|ConnectionRefused|ConnectionClosed)\b|connection refused|connection reset|unable to connect|socket hang up|network is unreachable|no route to host/i;
const TIMEOUT = /\b(ETIMEDOUT|ESOCKETTIMEDOUT|TimeoutError)\b|timed out|timeout/i;
const FIREWALL =
  /firewall|request originated from (client )?ip|public network access|publicNetworkAccess|private endpoint|not authorized to perform this operation from|virtual network/i;
const COSMOS_SIGNS = /Microsoft\.DocumentDB|documents\.azure\.com|data plane|x-ms-activity-id/i;
const CREDENTIAL_ERRORS = /CredentialUnavailableError|AuthenticationError|AggregateAuthenticationError/;

/** The first line of the most specific message, without request details and at most 300 characters. */
function detailOf(errs: ErrorShape[]): string {
  const messages = errs.map((e) => {
    const body = typeof e.body?.message === "string" ? e.body.message : undefined;
    return body ?? (typeof e.message === "string" ? e.message : "");
  }).filter((m) => m.trim() !== "");
  // Cosmos puts a JSON body in the message ("Message: {"Errors":["…"]}"): the first error text is enough.
  const text = messages.find((m) => !/^fetch failed$/i.test(m.trim())) ?? messages[0] ?? "";
  const errors = /"Errors":\["([^"]+)/.exec(text)?.[1];
  // Query strings of URLs in messages can hold SAS signatures.
  const line = (errors ?? text).split(/\r?\n/)[0].replace(/\s+/g, " ").trim()
    .replace(/(https?:\/\/[^\s?)'"]+)\?[^\s)'"]*/gi, "$1");
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function kindOf(errs: ErrorShape[], status: number | undefined, all: string): FailureKind {
  if (errs.some((e) => typeof e.name === "string" && CREDENTIAL_ERRORS.test(e.name))) return "credential";
  if (status !== undefined) {
    if (status === 401) return "unauthorized";
    if (status === 403) return FIREWALL.test(all) ? "blocked" : "forbidden";
    if (status === 404) return "not-found";
    if (status === 408) return "timeout";
    if (status === 429) return "throttled";
    if (status >= 500) return "server-error";
    return "other";
  }
  // Order matters: a TLS failure's text may also say the connection closed, a DNS failure's that it was not sent.
  if (DNS.test(all)) return "dns";
  if (TLS.test(all)) return "tls";
  if (UNREACHABLE.test(all) || errs.some((e) => e.code === "REQUEST_SEND_ERROR")) return "unreachable";
  if (TIMEOUT.test(all) || errs.some((e) => e.name === "AbortError")) return "timeout";
  return "other";
}

function notFoundWhat(errs: ErrorShape[], url: string | undefined, hint: DescribeHint): string | undefined {
  if (hint.what) return hint.what;
  const code = errs.map((e) => (typeof e.code === "string" ? e.code : undefined)).find(Boolean) ??
    (typeof errs[0].body?.code === "string" ? errs[0].body.code : undefined);
  let segments: string[] = [];
  try {
    segments = url ? new URL(url).pathname.split("/").filter(Boolean).map(decodeURIComponent) : [];
  } catch { /* no path */ }
  // Azurite and the emulators put the account name first.
  if (segments[0] === "devstoreaccount1") segments = segments.slice(1);
  if (code === "QueueNotFound" && segments[0]) return `queue ${segments[0]}`;
  if (code === "ContainerNotFound" && segments[0]) return `container ${segments[0]}`;
  if (code === "BlobNotFound" && segments.length > 1) return `blob ${segments.slice(1).join("/")} in ${segments[0]}`;
  if (typeof code === "string" && /NotFound$/.test(code)) return code;
  return undefined;
}

function explain(
  kind: FailureKind,
  service: DependencyService | undefined,
  status: number | undefined,
  detail: string,
  what: string | undefined,
): string {
  const role = service ? REQUIRED_ROLE[service] : undefined;
  switch (kind) {
    case "dns":
      return `the host name does not resolve (DNS; with private endpoints, check the private DNS zone link): ${detail}`;
    case "tls":
      return `TLS failed (certificate not trusted or not for this host; a proxy or private endpoint may answer ` +
        `with another certificate): ${detail}`;
    case "unreachable":
      return `unreachable (connection refused, reset or no route; check the endpoint, network rules and proxy): ${detail}`;
    case "timeout":
      return `no answer in time (timeout): ${detail}`;
    case "credential":
      return `no Azure credential could get a token (managed identity, AZURE_CLIENT_ID, az login): ${detail}`;
    case "unauthorized":
      return `authentication refused (401: wrong key, SAS or connection string, or a token for another tenant): ${detail}`;
    case "forbidden":
      return `access denied (403): the identity lacks a role${role ? `, it needs ${role}` : ""}: ${detail}`;
    case "blocked":
      return `access denied (403) by the account's network rules (firewall, public network access disabled, ` +
        `private endpoint): ${detail}`;
    case "not-found":
      return `${what ? `${what} not found` : "not found"} (404): ${detail}`;
    case "throttled":
      return `throttled (429: too many requests): ${detail}`;
    case "server-error":
      return `server error (${status}): ${detail}`;
    default:
      return status !== undefined ? `HTTP ${status}: ${detail}` : detail;
  }
}

/** Describes a failure to reach or use a dependency (see the header). Never throws. */
export function describeDependencyError(err: unknown, hint: DescribeHint = {}): DependencyFailure {
  const errs = chain(err);
  const all = errs.map((e) => `${String(e.name ?? "")} ${String(e.code ?? "")} ${errorText(e)}`).join(" | ");
  const url = urlOf(errs, all) ?? hint.endpoint;
  const service = hint.service ?? serviceOf(url) ?? serviceOf(hint.endpoint) ?? registeredServiceOf(url) ??
    (COSMOS_SIGNS.test(all) || errs.some((e) => typeof e.activityId === "string") ? "Cosmos DB" : undefined);
  const endpoint = endpointOf(hint.endpoint) ?? endpointOf(url) ?? (service ? knownEndpoints.get(service) : undefined);
  const status = statusOf(errs);
  const kind = kindOf(errs, status, all);
  const detail = detailOf(errs) || errorText(err);
  const what = kind === "not-found" ? notFoundWhat(errs, url, hint) : undefined;
  const where = service ? `${service}${endpoint ? ` at ${endpoint}` : ""}` : endpoint;
  const text = `${where ? `${where}: ` : ""}${explain(kind, service, status, detail, what)}`;
  return { service, endpoint, kind, status, text };
}

/**
 * True when the error comes from a call to a dependency, by its shape only (never by words in its message): an
 * HTTP status, an SDK error class, a network error code, a request URL, a credential error.
 */
export function isDependencyError(err: unknown): boolean {
  const errs = chain(err);
  if (statusOf(errs) !== undefined) return true;
  return errs.some((e) =>
    (typeof e.name === "string" && (/^(RestError|AbortError|TimeoutError)$/.test(e.name) ||
      CREDENTIAL_ERRORS.test(e.name))) ||
    (typeof e.code === "string" && /^(REQUEST_SEND_ERROR|E[A-Z_]{3,}|CERT_[A-Z_]+|ERR_TLS_[A-Z_]+)$/.test(e.code)) ||
    typeof e.request?.url === "string" || typeof e.activityId === "string"
  );
}
