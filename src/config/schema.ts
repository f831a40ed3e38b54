// Every setting the worker reads: name (the Python worker's env names where one exists), default, description,
// whether it is a secret, and the valibot schema that turns the raw string into a typed value.
import * as v from "valibot";
import { parseIpRange } from "../util/ip-ranges.ts";
import ipaddr from "ipaddr.js";
import { booleanText, integerText } from "../util/setting-text.ts";

function intSetting(min: number, max: number) {
  const message = `expected a whole number from ${min} to ${max}`;
  return v.pipe(integerText(message), v.minValue(min, message), v.maxValue(max, message));
}

function boolSetting() {
  return booleanText("expected true or false (also 1/0, yes/no, on/off)");
}

function strSetting() {
  return v.pipe(v.string(), v.trim());
}

function nameSetting() {
  return v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, "expected a name of letters, digits, '.', '_' or '-'"),
  );
}

function queueNameSetting() {
  return v.pipe(
    v.string(),
    v.trim(),
    v.regex(
      /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
      "expected a queue name: 3-63 lowercase letters, digits and single hyphens",
    ),
  );
}

function urlOrEmpty(what: string) {
  return v.pipe(
    v.string(),
    v.trim(),
    v.check((s) => s === "" || /^https?:\/\/[^\s/]+/.test(s), `expected an http(s) URL (${what})`),
  );
}

/** A ratio from 0 to 1 written as a decimal number (0.1, 1, 0). */
function ratioSetting() {
  const message = "expected a number from 0 to 1 (e.g. 0.1)";
  return v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, message),
    v.transform(Number),
  );
}

/** An Application Insights connection string: empty, or `Key=Value;…` with an InstrumentationKey. */
function appInsightsConnectionString() {
  return v.pipe(
    v.string(),
    v.trim(),
    v.maxLength(2048, "expected at most 2048 characters"),
    v.check(
      (s) => s === "" || /(^|;)\s*InstrumentationKey\s*=\s*[^;\s]+/i.test(s),
      "expected an Application Insights connection string (InstrumentationKey=…;IngestionEndpoint=…)",
    ),
  );
}

function logLevelSetting() {
  return v.pipe(
    v.string(),
    v.trim(),
    v.toUpperCase(),
    v.picklist(
      ["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL"],
      "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ),
  );
}

/** A list of addresses or CIDR blocks, kept as text (the config travels to the workers as JSON). */
function ipRangesSetting() {
  return v.pipe(
    listSetting(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      for (const item of dataset.value) {
        try {
          parseIpRange(item);
        } catch (err) {
          addIssue({ message: (err as Error).message });
        }
      }
    }),
  );
}

function listSetting() {
  return v.pipe(
    v.string(),
    v.transform((s) => s.split(",").map((p) => p.trim()).filter((p) => p.length > 0)),
  );
}

/** Host names ("*.suffix" allowed), IP addresses or CIDR ranges. */
function privateHostsSetting() {
  return v.pipe(
    listSetting(),
    v.check(
      (entries) =>
        entries.every((e) =>
          e.includes("/") ? ipaddr.isValidCIDR(e) : ipaddr.isValid(e.replace(/^\[|\]$/g, "")) ||
            /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(e)
        ),
      "expected host names, IP addresses or CIDR ranges separated by commas",
    ),
  );
}

export interface SettingMeta {
  default: string;
  description: string;
  secret?: boolean;
  /** Other env names accepted for the same setting (the first one found wins after the main name). */
  aliases?: string[];
  group:
    | "worker"
    | "queue"
    | "processing"
    | "cosmos"
    | "blob"
    | "source"
    | "api"
    | "logging"
    | "appconfig"
    | "supervisor";
}

export const settingSchemas = {
  // Worker / supervisor
  WORKER_NAME: nameSetting(),
  NUM_PROCESSING_WORKERS: intSetting(0, 64),
  NUM_SOURCE_WORKERS: intSetting(0, 16),
  SHUTDOWN_DRAIN_TIMEOUT_SECONDS: intSetting(1, 3600),
  RESTART_BACKOFF_MAX_SECONDS: intSetting(1, 3600),
  RESTART_STABLE_SECONDS: intSetting(1, 86400),
  WORKER_HEARTBEAT_TIMEOUT_SECONDS: v.pipe(
    intSetting(0, 86400),
    v.check((n) => n === 0 || n >= 5, "expected 0 (off) or at least 5 (workers report every 2 s)"),
  ),
  // Queue
  STORAGE_ACCOUNT_WORKER_QUEUE_URL: urlOrEmpty("the storage account's queue endpoint"),
  STORAGE_QUEUE_CONNECTION_STRING: strSetting(),
  STORAGE_ACCOUNT_KEY: strSetting(),
  STORAGE_WORKER_QUEUE_NAME: queueNameSetting(),
  STORAGE_POISON_QUEUE_NAME: v.union([v.literal(""), queueNameSetting()]),
  QUEUE_POLL_INTERVAL_SECONDS: intSetting(1, 600),
  QUEUE_MIN_POLL_INTERVAL_MS: intSetting(10, 60000),
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: intSetting(2, 604800),
  QUEUE_MAX_MESSAGES: intSetting(1, 32),
  QUEUE_METRICS_INTERVAL_SECONDS: intSetting(0, 3600),
  // Processing
  PROCESSING_CONCURRENCY: intSetting(1, 256),
  MAX_TASK_RETRIES: intSetting(1, 100),
  TASK_TIMEOUT_SECONDS: intSetting(1, 86400),
  RETRY_BASE_DELAY_SECONDS: intSetting(0, 3600),
  RETRY_MAX_DELAY_SECONDS: intSetting(0, 604800),
  OUTBOUND_ALLOWED_HOSTS: listSetting(),
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: privateHostsSetting(),
  MANAGED_IDENTITY_ALLOWED_HOSTS: v.pipe(
    listSetting(),
    v.check(
      (hosts) =>
        hosts.every((h) => /^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h) || /^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(h)),
      "expected host names, *.suffix patterns or host:port separated by commas ('*' is not accepted: list the hosts)",
    ),
  ),
  MAX_HTTP_RESPONSE_BYTES: intSetting(1024, 2 ** 40),
  MAX_CLAIM_CHECK_BYTES: intSetting(65536, 2 ** 40),
  PIPELINE_ENV_ALLOWED_VARIABLES: v.pipe(
    listSetting(),
    v.check(
      (names) => names.every((n) => /^(\*|[A-Za-z_][A-Za-z0-9_]*\*?)$/.test(n)),
      "expected '*', variable names or NAME_PREFIX_* separated by commas",
    ),
  ),
  MAX_DOCUMENT_MB: intSetting(1, 4096),
  PDF_THREAD_MAX_MEMORY_MB: intSetting(16, 65536),
  LOCAL_FILE_ROOTS: listSetting(),
  BROWSER_EXECUTABLE_PATH: strSetting(),
  BROWSER_MAX_PAGES: intSetting(1, 64),
  AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: intSetting(1, 1000),
  AI_MAX_RETRY_DELAY_SECONDS: intSetting(0, 3600),
  AZURE_OPENAI_ENDPOINT: urlOrEmpty("the default Azure OpenAI endpoint"),
  // Cosmos
  COSMOS_DB_ENDPOINT: urlOrEmpty("the Cosmos DB account endpoint"),
  COSMOS_DB_KEY: strSetting(),
  COSMOS_DB_NAME: nameSetting(),
  COSMOS_DB_CONTAINER_PIPELINES: nameSetting(),
  COSMOS_DB_CONTAINER_VAULTS: nameSetting(),
  COSMOS_DB_CONTAINER_VAULT_EXECUTIONS: nameSetting(),
  COSMOS_DB_CONTAINER_LOCKS: nameSetting(),
  COSMOS_DB_CONTAINER_CRAWL_CHECKPOINTS: nameSetting(),
  COSMOS_DB_ENDPOINT_DISCOVERY: boolSetting(),
  COSMOS_DB_CREATE_CONTAINERS: boolSetting(),
  SDK_HTTP_CLIENT: v.pipe(
    v.string(),
    v.trim(),
    v.toLowerCase(),
    v.picklist(["fetch", "node"], "expected fetch or node"),
  ),
  // Blob
  BLOB_STORAGE_ACCOUNT_NAME: strSetting(),
  BLOB_STORAGE_CONTAINER_NAME: strSetting(),
  BLOB_STORAGE_CONNECTION_STRING: strSetting(),
  CLAIM_CHECK_CONTAINER_NAME: nameSetting(),
  // Source
  DEFAULT_POLLING_INTERVAL_SECONDS: intSetting(1, 604800),
  SCHEDULER_SLEEP_INTERVAL_SECONDS: intSetting(1, 3600),
  LOCK_TTL_SECONDS: intSetting(5, 86400),
  SOURCE_WORKER_POLL_INTERVAL_SECONDS: intSetting(1, 604800),
  // API
  API_ENABLED: boolSetting(),
  API_HOST: strSetting(),
  API_PORT: intSetting(0, 65535),
  API_TOKEN: strSetting(),
  API_OPEN_STATUS_FROM: ipRangesSetting(),
  // Logging
  LOG_LEVEL: logLevelSetting(),
  LOG_FILE: strSetting(),
  DEBUG: boolSetting(),
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString(),
  OTEL_EXPORTER_OTLP_ENDPOINT: urlOrEmpty("OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318"),
  OTEL_TRACES_SAMPLER_ARG: ratioSetting(),
  // App Configuration
  AZURE_APP_CONFIG_ENDPOINT: urlOrEmpty("the App Configuration endpoint"),
  AZURE_APP_CONFIG_CONNECTION_STRING: strSetting(),
  APP_CONFIG_KEY_FILTERS: listSetting(),
  APP_CONFIG_LABEL: v.pipe(
    listSetting(),
    v.check(
      (labels) => labels.every((l) => !/[*\\\0]/.test(l)),
      "expected label names separated by commas (no '*', '\\' or NUL: each label is read on its own, in order)",
    ),
  ),
  APP_CONFIG_LOCAL_OVERRIDES: listSetting(),
};

export type SettingName = keyof typeof settingSchemas;

export const settingMeta: Record<SettingName, SettingMeta> = {
  WORKER_NAME: {
    group: "worker",
    default: "contentflow-worker",
    description: "Name of this worker instance (used in logs, owner ids and execution records)",
  },
  NUM_PROCESSING_WORKERS: {
    group: "worker",
    default: "2",
    description: "Processing worker processes the supervisor runs (Python default 0 ran nothing; ours is 2)",
  },
  NUM_SOURCE_WORKERS: { group: "worker", default: "1", description: "Source worker processes the supervisor runs" },
  SDK_HTTP_CLIENT: {
    group: "worker",
    default: "fetch",
    description:
      "HTTP transport of the Cosmos DB and queue clients: fetch (the runtime's own, about half the CPU per call under " +
      "the binary's runtime) or node (the Azure SDKs' node:http client; streamed and proxied calls always use it)",
  },
  SHUTDOWN_DRAIN_TIMEOUT_SECONDS: {
    group: "supervisor",
    default: "30",
    description: "On SIGTERM/SIGINT, how long children may finish in-flight work before they are killed",
  },
  RESTART_BACKOFF_MAX_SECONDS: {
    group: "supervisor",
    default: "30",
    description: "Cap of the exponential restart delay for a crash-looping child",
  },
  RESTART_STABLE_SECONDS: {
    group: "supervisor",
    default: "30",
    description: "Uptime after which a child's crash count and backoff are reset",
  },
  WORKER_HEARTBEAT_TIMEOUT_SECONDS: {
    group: "supervisor",
    default: "60",
    description:
      "A child that sends no heartbeat (every 2 s) for this long is hung, e.g. its event loop is blocked by CPU-bound " +
      "work: it is killed and replaced, and its tasks come back after their lease (0 = never)",
  },

  STORAGE_ACCOUNT_WORKER_QUEUE_URL: {
    group: "queue",
    default: "",
    description:
      "Queue endpoint of the storage account, e.g. https://acct.queue.core.windows.net (or set STORAGE_QUEUE_CONNECTION_STRING)",
  },
  STORAGE_QUEUE_CONNECTION_STRING: {
    group: "queue",
    default: "",
    secret: true,
    aliases: ["AZURE_STORAGE_CONNECTION_STRING"],
    description: "Storage connection string for the task queue (alternative to the URL; needed for Azurite)",
  },
  STORAGE_ACCOUNT_KEY: {
    group: "queue",
    default: "",
    secret: true,
    description: "Shared key for STORAGE_ACCOUNT_WORKER_QUEUE_URL (otherwise DefaultAzureCredential is used)",
  },
  STORAGE_WORKER_QUEUE_NAME: {
    group: "queue",
    default: "contentflow-execution-requests",
    description: "Queue holding content processing tasks",
  },
  STORAGE_POISON_QUEUE_NAME: {
    group: "queue",
    default: "",
    description: "Queue for messages that cannot be processed (default: <STORAGE_WORKER_QUEUE_NAME>-poison)",
  },
  QUEUE_POLL_INTERVAL_SECONDS: {
    group: "queue",
    default: "30",
    description: "Longest wait between polls of an empty queue; idle polling backs off up to this (Python: fixed 5 s)",
  },
  QUEUE_MIN_POLL_INTERVAL_MS: {
    group: "queue",
    default: "100",
    description: "First wait after an empty poll; doubles (with jitter) up to QUEUE_POLL_INTERVAL_SECONDS",
  },
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: {
    group: "queue",
    default: "300",
    description:
      "Lease on a received message; renewed every third of it while the task runs, given up a fifth of it (at most " +
      "5 s) before it ends if renewals keep failing",
  },
  QUEUE_MAX_MESSAGES: { group: "queue", default: "32", description: "Messages fetched per receive call (1-32)" },
  QUEUE_METRICS_INTERVAL_SECONDS: {
    group: "queue",
    default: "30",
    description:
      "How often the supervisor reads the task and poison queue depth and the oldest task's age for /metrics and /status (3 storage calls; 0 = never)",
  },

  PROCESSING_CONCURRENCY: {
    group: "processing",
    default: "8",
    description: "Tasks one processing worker runs at once",
  },
  MAX_TASK_RETRIES: {
    group: "processing",
    default: "3",
    description:
      "Failed runs of a task (errors, timeouts — not outages, shutdowns, nor a worker killed or crashed while " +
      "running it) before its message is moved to the poison queue and its execution marked failed",
  },
  TASK_TIMEOUT_SECONDS: {
    group: "processing",
    default: "600",
    description: "Per-task time limit; the pipeline is cancelled when it is reached",
  },
  RETRY_BASE_DELAY_SECONDS: {
    group: "processing",
    default: "5",
    description: "Delay before the first retry of a failed task; grows exponentially with jitter",
  },
  RETRY_MAX_DELAY_SECONDS: { group: "processing", default: "300", description: "Cap of the retry delay" },
  OUTBOUND_ALLOWED_HOSTS: {
    group: "processing",
    default: "*",
    aliases: ["HTTP_EXECUTOR_ALLOWED_HOSTS"],
    description:
      "Comma-separated hosts that executors may call at URLs from pipelines or content ('*' = any, empty = none, '*.example.com' = subdomains); HTTP_EXECUTOR_ALLOWED_HOSTS is the deprecated old name",
  },
  MAX_CLAIM_CHECK_BYTES: {
    group: "processing",
    default: String(100 * 1024 * 1024),
    description:
      "Largest claim-check blob (a task too large for a queue message) a processing worker reads (bytes); a larger one sends the message to the poison queue",
  },
  MAX_HTTP_RESPONSE_BYTES: {
    group: "processing",
    default: String(32 * 1024 * 1024),
    description: "Largest response body an executor reads from an HTTP endpoint (bytes); a larger one fails the item",
  },
  PIPELINE_ENV_ALLOWED_VARIABLES: {
    group: "processing",
    default: "*",
    description:
      "Environment variables pipeline settings may read with ${VAR}: '*' = every variable whose name does not look like a secret, or names and PREFIX_* patterns; a secret-looking name (…_KEY, …_SECRET, …TOKEN, …_PASS, DATABASE_URL, …) or a value carrying a credential (URL user info, AccountKey=, SharedAccessSignature, sig=) is readable only when listed exactly; the worker's own secrets never are",
  },
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: {
    group: "processing",
    default: "",
    description:
      "Comma-separated host names, IPs or CIDR ranges that executors may call although they resolve to loopback, private, link-local, CGNAT, unique-local or metadata addresses (empty = none)",
  },
  MANAGED_IDENTITY_ALLOWED_HOSTS: {
    group: "processing",
    default: "",
    description:
      "Comma-separated hosts ('*.example.com' = subdomains, host:port) that AI executors without a key may send the worker's managed-identity token to, besides their Azure service's own domains (*.cognitiveservices.azure.com, *.openai.azure.com, *.services.ai.azure.com, *.search.windows.net, *.documents.azure.com and the sovereign clouds') and the host of AZURE_OPENAI_ENDPOINT; listed hosts may be plain http (empty = none)",
  },
  MAX_DOCUMENT_MB: {
    group: "processing",
    default: "100",
    description:
      "Largest document (MiB) content_retriever and azure_blob_content_retriever download or read, azure_content_understanding_extractor downloads from an item's blob, and the PDF/Office extractors open; max_file_size_mb / max_document_mb of an executor can only lower it",
  },
  PDF_THREAD_MAX_MEMORY_MB: {
    group: "processing",
    default: "1024",
    description:
      "Memory (MiB) the worker process may gain while pdf_extractor extracts one PDF on its thread; beyond it the " +
      "thread is stopped and the item fails with a message saying so (the worker goes on). Measured as the " +
      "process's resident memory, because Bun ignores worker resourceLimits and Deno stops such a thread silently",
  },
  LOCAL_FILE_ROOTS: {
    group: "processing",
    default: "",
    description:
      "Comma-separated folders content_retriever may read local_file items from (besides the temp directory; empty = temp directory only)",
  },
  BROWSER_EXECUTABLE_PATH: {
    group: "processing",
    default: "auto",
    description:
      "Chromium that web_scraper uses for render_js: true (through playwright-core, one browser per worker process, " +
      "started at the first such page): a path, 'auto' = the first of /usr/bin/chromium, /usr/bin/chromium-browser, " +
      "/usr/bin/google-chrome, /usr/bin/google-chrome-stable that exists, empty = no browser. Without a browser " +
      "render_js: true pages are fetched as served (no JavaScript), with a warning in pipeline check and in the " +
      "item's log",
  },
  BROWSER_MAX_PAGES: {
    group: "processing",
    default: "3",
    description:
      "Pages the worker's browser has open at once, over all tasks (each costs memory, see docs/pipelines.md); " +
      "further renders wait for a free page",
  },
  AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: {
    group: "processing",
    default: "8",
    description:
      "Azure AI calls (OpenAI, Document Intelligence, ...) one worker process makes at once to the same endpoint; " +
      "further calls wait for a free slot",
  },
  AI_MAX_RETRY_DELAY_SECONDS: {
    group: "processing",
    default: "60",
    description: "Longest wait before retrying an Azure AI call after 429/503 (Retry-After is honoured up to this cap)",
  },
  AZURE_OPENAI_ENDPOINT: {
    group: "processing",
    default: "",
    description:
      "Azure OpenAI endpoint for AI executors whose pipeline sets no endpoint (ContentFlow's clients read the same variable)",
  },

  COSMOS_DB_ENDPOINT: {
    group: "cosmos",
    default: "",
    description: "Cosmos DB account endpoint, e.g. https://acct.documents.azure.com:443/",
  },
  COSMOS_DB_KEY: {
    group: "cosmos",
    default: "",
    secret: true,
    description: "Cosmos DB account key (otherwise DefaultAzureCredential is used)",
  },
  COSMOS_DB_NAME: { group: "cosmos", default: "contentflow", description: "Cosmos DB database" },
  COSMOS_DB_CONTAINER_PIPELINES: {
    group: "cosmos",
    default: "pipelines",
    description: "Container of pipeline documents",
  },
  COSMOS_DB_CONTAINER_VAULTS: { group: "cosmos", default: "vaults", description: "Container of vault documents" },
  COSMOS_DB_CONTAINER_VAULT_EXECUTIONS: {
    group: "cosmos",
    default: "vault_executions",
    description: "Container of execution records",
  },
  COSMOS_DB_CONTAINER_LOCKS: {
    group: "cosmos",
    default: "vault_exec_locks",
    aliases: ["COSMOS_DB_CONTAINER_VAULT_EXECUTION_LOCKS"],
    description: "Container of source lease locks",
  },
  COSMOS_DB_CONTAINER_CRAWL_CHECKPOINTS: {
    group: "cosmos",
    default: "vault_crawl_checkpoints",
    description: "Container of crawl checkpoints",
  },
  COSMOS_DB_ENDPOINT_DISCOVERY: {
    group: "cosmos",
    default: "true",
    description: "Let the SDK discover regional endpoints (set false for the emulator over plain HTTP)",
  },
  COSMOS_DB_CREATE_CONTAINERS: {
    group: "cosmos",
    default: "false",
    description: "Create the database and containers (partition key /id) if missing",
  },

  BLOB_STORAGE_ACCOUNT_NAME: { group: "blob", default: "", description: "Default storage account for blob executors" },
  BLOB_STORAGE_CONTAINER_NAME: { group: "blob", default: "content", description: "Default blob container for content" },
  BLOB_STORAGE_CONNECTION_STRING: {
    group: "blob",
    default: "",
    secret: true,
    description: "Connection string used by blob executors and claim-check blobs (needed for Azurite)",
  },
  CLAIM_CHECK_CONTAINER_NAME: {
    group: "blob",
    default: "contentflow-claim-checks",
    description: "Blob container for task payloads too large for one queue message",
  },

  DEFAULT_POLLING_INTERVAL_SECONDS: {
    group: "source",
    default: "300",
    description: "Crawl interval of a vault whose input executor has no polling_interval_seconds",
  },
  SCHEDULER_SLEEP_INTERVAL_SECONDS: {
    group: "source",
    default: "5",
    description: "How often the source scheduler refreshes vaults and looks for due crawls",
  },
  LOCK_TTL_SECONDS: {
    group: "source",
    default: "300",
    description: "Lease length of a vault crawl lock; renewed at a third of it while crawling",
  },
  SOURCE_WORKER_POLL_INTERVAL_SECONDS: {
    group: "source",
    default: "60",
    description: "Deprecated in the Python worker too; accepted and ignored",
  },

  API_ENABLED: { group: "api", default: "true", description: "Serve /health, /ready, /status and /metrics" },
  API_HOST: {
    group: "api",
    default: "127.0.0.1",
    description:
      "Address the API binds to: loopback by default, so /status and /metrics are not open to the network; 0.0.0.0 (the Python worker's default) for a load balancer or the ContentFlow API on another host, then set API_TOKEN",
  },
  API_PORT: { group: "api", default: "8099", description: "API port (0 = pick a free port)" },
  API_TOKEN: {
    group: "api",
    default: "",
    secret: true,
    description: "When set, /status and /metrics require 'Authorization: Bearer <token>'",
  },
  API_OPEN_STATUS_FROM: {
    group: "api",
    default: "",
    description:
      "Comma-separated addresses or CIDR blocks (e.g. 10.0.0.0/16) that may read /status without the token while API_TOKEN is set; they get the health summary the ContentFlow API reads (worker_name, running, processing_workers, source_workers), not the detailed status",
  },

  LOG_LEVEL: { group: "logging", default: "INFO", description: "DEBUG, INFO, WARNING or ERROR" },
  LOG_FILE: { group: "logging", default: "", description: "Also append JSON log lines to this file" },
  DEBUG: { group: "logging", default: "false", description: "Shorthand for LOG_LEVEL=DEBUG" },
  APPLICATIONINSIGHTS_CONNECTION_STRING: {
    group: "logging",
    default: "",
    secret: true,
    description:
      "Application Insights connection string (the reference deployment sets it on the worker Container App; also read from App Configuration as contentflow.common.APPLICATIONINSIGHTS_CONNECTION_STRING): when set, telemetry is on and goes there",
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: "logging",
    default: "",
    description:
      "OpenTelemetry collector base URL for OTLP/HTTP (/v1/traces, /v1/metrics, /v1/logs are appended): when set, telemetry is on and goes there (as well as to Application Insights when both are set)",
  },
  OTEL_TRACES_SAMPLER_ARG: {
    group: "logging",
    default: "0.1",
    description:
      "Share of task traces kept when telemetry is on, 0 to 1 (parent-based: a task whose source crawl was sampled is kept). 0.1 keeps one in ten",
  },

  AZURE_APP_CONFIG_ENDPOINT: {
    group: "appconfig",
    default: "",
    description:
      "App Configuration endpoint; its values override the environment, except settings named in APP_CONFIG_LOCAL_OVERRIDES",
  },
  AZURE_APP_CONFIG_CONNECTION_STRING: {
    group: "appconfig",
    default: "",
    secret: true,
    description: "App Configuration connection string (alternative to the endpoint + DefaultAzureCredential)",
  },
  APP_CONFIG_KEY_FILTERS: {
    group: "appconfig",
    default: "contentflow.worker.*",
    description:
      "Comma-separated key filters, read after contentflow.common.* (which is always read first, as in the Python worker; later keys win); the part before '*' is trimmed from each key",
  },
  APP_CONFIG_LABEL: {
    group: "appconfig",
    default: "",
    description:
      "Labels to read after the unlabelled keys, comma-separated, in order (a later label wins): per-VM or per-group values beside the shared store, e.g. vm-group-a. Empty: only unlabelled keys, as the Python worker reads",
  },
  APP_CONFIG_LOCAL_OVERRIDES: {
    group: "appconfig",
    default: "",
    description:
      "Settings whose value from the environment or env file wins over App Configuration on this VM (comma-separated names, or * for every setting set locally), e.g. NUM_SOURCE_WORKERS,API_HOST. Only read from the environment and env file",
  },
};

export const configSchema = v.object(settingSchemas);
export type Config = v.InferOutput<typeof configSchema>;

export const SETTING_NAMES = Object.keys(settingSchemas) as SettingName[];
export const SECRET_SETTINGS = SETTING_NAMES.filter((n) => settingMeta[n].secret);
