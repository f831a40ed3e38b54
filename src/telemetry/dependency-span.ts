// A client span per outbound HTTP request attempt (Cosmos DB, the storage queues and blobs, the AI services), child of
// the span the call runs in (a task, an executor, a crawl), so Application Insights shows it as a dependency of that
// task and the trace shows where the task's time went. Made only inside a span (telemetry on); otherwise the request
// is just sent, with nothing prepared for it. A span gets at most MAX_DEPENDENCY_SPANS client spans (a crawl of a
// large container makes a listing call per page and a Cosmos and queue call per task); the calls past that are
// counted on it as contentflow.dependencies_untraced instead of filling the export queue.
//
// What the span says of the request: method, host and port, and the URL without its query string, fragment or user
// info. SAS signatures, tokens and keys travel in the query, so none of it is exported; an error message (Deno's
// fetch names the whole URL in its errors) loses its URLs' queries and is redacted as log lines are.
import { activeSpan, childSpan } from "./index.ts";
import type { SpanAttributes, SpanHandle } from "./types.ts";
import { redactText } from "../util/redact.ts";

/**
 * The Azure resource provider of the service called, as the Azure SDKs name it in `az.namespace` (Application
 * Insights keeps it with the dependency; the dependency map groups the calls by host).
 */
export type AzureNamespace =
  | "Microsoft.DocumentDB"
  | "Microsoft.Storage"
  | "Microsoft.CognitiveServices"
  | "Microsoft.Search";

/** The URL without query string, fragment and user info; undefined for a URL that does not parse. */
export function urlWithoutQuery(url: string): URL | undefined {
  try {
    const u = new URL(url);
    u.search = "";
    u.hash = "";
    u.username = "";
    u.password = "";
    return u;
  } catch {
    return undefined;
  }
}

/** `text` with the query string and fragment of every URL in it removed, then redacted as log lines are. */
export function withoutUrlQueries(text: string): string {
  return redactText(text.replace(/\b(https?:\/\/[^\s?#"'<>()]+)[?#][^\s"'<>()]*/gi, "$1"));
}

/** The attributes of a dependency span, before the answer is known. */
export function dependencyAttributes(namespace: AzureNamespace, method: string, url: string): SpanAttributes {
  const u = urlWithoutQuery(url);
  const port = u ? Number(u.port || (u.protocol === "https:" ? 443 : 80)) : undefined;
  return {
    "http.request.method": method.toUpperCase(),
    "server.address": u?.hostname,
    "server.port": port,
    "url.full": u?.href,
    "az.namespace": namespace,
  };
}

/** Client spans made under one span at most; later calls are only counted on it. */
export const MAX_DEPENDENCY_SPANS = 1000;

const madeUnder = new WeakMap<SpanHandle, number>();

/** Whether a call under `parent` gets a span of its own (within MAX_DEPENDENCY_SPANS), counting it either way. */
function traceUnder(parent: SpanHandle): boolean {
  const n = (madeUnder.get(parent) ?? 0) + 1;
  madeUnder.set(parent, n);
  if (n <= MAX_DEPENDENCY_SPANS) return true;
  parent.setAttributes({ "contentflow.dependencies_untraced": n - MAX_DEPENDENCY_SPANS });
  return false;
}

/** How a request attempt ended, for its span: its answer's status, or the error it failed with. */
type Ended<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Sends one request attempt (`send`) inside an "HTTP <method>" client span under the active span; `statusOf` reads
 * the answer's HTTP status. An answer of 400 or more, or an error, marks the span failed (error.type says which).
 * Without an active span, or past MAX_DEPENDENCY_SPANS under it, `send` alone.
 */
export async function dependencyCall<T>(
  namespace: AzureNamespace,
  method: string,
  url: string,
  send: () => Promise<T>,
  statusOf: (answer: T) => number,
): Promise<T> {
  const parent = activeSpan();
  if (!parent || !traceUnder(parent)) return await send();
  const ended = await childSpan<Ended<T>>(
    `HTTP ${method.toUpperCase()}`,
    dependencyAttributes(namespace, method, url),
    async (span) => {
      try {
        const value = await send();
        const status = statusOf(value);
        span.setAttributes({ "http.response.status_code": status });
        if (status >= 400) {
          span.setAttributes({ "error.type": String(status) });
          span.fail(`HTTP ${status}`);
        }
        return { ok: true, value };
      } catch (error) {
        // Failed here, with a cleaned message, rather than thrown through the span: the span would record the
        // error's own message, URL and all.
        const name = error instanceof Error ? error.name : "Error";
        span.setAttributes({ "error.type": name });
        span.fail(withoutUrlQueries(error instanceof Error ? error.message : String(error)));
        return { ok: false, error };
      }
    },
    "client",
  );
  if (!ended.ok) throw ended.error;
  return ended.value;
}
