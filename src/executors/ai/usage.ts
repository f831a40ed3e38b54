// Token usage of Azure AI calls: a per-call record that executors put in the item's executor log details, and a
// process-wide accumulator whose counts the worker reports (reportUsageTo) and /metrics shows as
// contentflow_worker_ai_tokens_total{role,executor_type,kind}.
import { labelledCounter, type WorkerReporter } from "../../model/worker-context.ts";

/** Kinds of tokens counted: prompt and completion (chat), embedding (embeddings input), total (as the service says). */
export type TokenKind = "prompt" | "completion" | "embedding";

export interface TokenUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  embedding_tokens?: number;
  total_tokens?: number;
}

/** Adds `b` into `a` (missing counts stay missing unless one side has them). */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const out: TokenUsage = { ...a };
  for (const key of ["prompt_tokens", "completion_tokens", "embedding_tokens", "total_tokens"] as const) {
    if (b[key] !== undefined) out[key] = (out[key] ?? 0) + b[key]!;
  }
  return out;
}

export interface UsageTotals {
  /** executor type → token kind → tokens since the process started. */
  tokens: Record<string, Partial<Record<TokenKind, number>>>;
  /** executor type → calls that returned an answer. */
  calls: Record<string, number>;
}

type UsageListener = (executorType: string, kind: TokenKind, tokens: number) => void;

const tokens = new Map<string, Map<TokenKind, number>>();
const calls = new Map<string, number>();
const listeners = new Set<UsageListener>();

/** Records one answered call of an executor type and its token counts. */
export function recordUsage(executorType: string, usage: TokenUsage): void {
  calls.set(executorType, (calls.get(executorType) ?? 0) + 1);
  const counts: Array<[TokenKind, number | undefined]> = [
    ["prompt", usage.prompt_tokens],
    ["completion", usage.completion_tokens],
    ["embedding", usage.embedding_tokens],
  ];
  for (const [kind, n] of counts) {
    if (n === undefined || !Number.isFinite(n) || n <= 0) continue;
    let byKind = tokens.get(executorType);
    if (!byKind) tokens.set(executorType, byKind = new Map());
    byKind.set(kind, (byKind.get(kind) ?? 0) + n);
    for (const listener of listeners) {
      try {
        listener(executorType, kind, n);
      } catch {
        // A broken listener must not fail the executor's call.
      }
    }
  }
}

/** A copy of the totals since the process started (or since resetUsage). */
export function usageTotals(): UsageTotals {
  const out: UsageTotals = { tokens: {}, calls: Object.fromEntries(calls) };
  for (const [type, byKind] of tokens) out.tokens[type] = Object.fromEntries(byKind);
  return out;
}

/** Calls `listener` for every token count recorded from now on; returns the unsubscribe function. */
export function onUsage(listener: UsageListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Reports every token count recorded from now on to a worker's reporter as ai_tokens_total{executor_type,kind}. */
export function reportUsageTo(reporter: Pick<WorkerReporter, "count">): () => void {
  return onUsage((executorType, kind, tokens) =>
    reporter.count(labelledCounter("ai_tokens_total", { executor_type: executorType, kind }), tokens)
  );
}

/** Forgets the totals (tests). */
export function resetUsage(): void {
  tokens.clear();
  calls.clear();
}
