// Every counter a worker reports (snake_case, without prefix; /metrics adds `contentflow_worker_` and sums them per
// role). One list, so a misspelt counter is a type error instead of a new, empty metric.

export const COUNTERS = [
  // processing worker
  "queue_polls_total",
  "queue_empty_polls_total",
  "messages_received_total",
  "lease_renewals_total",
  "lease_renewal_failures_total",
  "tasks_processed_total",
  "tasks_failed_total",
  "tasks_retried_total",
  "tasks_poisoned_total",
  "tasks_skipped_duplicate_total",
  "tasks_superseded_total",
  "tasks_abandoned_total",
  "message_delete_failures_total",
  "leases_expired_total",
  "leases_lost_total",
  // source worker
  "crawls_total",
  "empty_crawls_total",
  "crawl_errors_total",
  "items_discovered_total",
  "tasks_enqueued_total",
  "lease_conflicts_total",
  "lease_lost_total",
  // AI executors (labelled by executor_type and kind, see labelledCounter in worker-context.ts)
  "ai_tokens_total",
  // every process with telemetry on (labelled by signal: traces, logs, metrics; src/telemetry/drops.ts)
  "telemetry_dropped_total",
] as const;

export type CounterName = (typeof COUNTERS)[number];

/** A counter of the list with labels: `name{key="value",…}`. */
export type LabelledCounterName = `${CounterName}{${string}}`;
