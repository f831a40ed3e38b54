// valibot mirrors of the models the ContentFlow API and the Python worker validate documents and responses with
// (contentflow-api app/models/_base.py, _vault.py, _pipeline.py; contentflow-worker app/api.py). Pydantic ignores
// unknown fields, so these are loose objects: a document with more fields than the model still parses, one with a
// wrong type or a missing required field does not — which is what the API would refuse.
import * as v from "valibot";

const optionalString = v.optional(v.nullable(v.string()));
const integer = v.pipe(v.number(), v.integer());

/** CosmosBaseModel: id, created_at, updated_at (strings; defaults when absent). */
const cosmosBase = {
  id: v.optional(v.string()),
  created_at: v.optional(v.string()),
  updated_at: v.optional(v.string()),
};

export const VaultExecutionModel = v.looseObject({
  ...cosmosBase,
  pipeline_id: v.string(),
  pipeline_name: v.string(),
  vault_id: v.string(),
  status: v.picklist(["pending", "running", "completed", "failed"]),
  status_message: optionalString,
  task_id: optionalString,
  source_worker_id: optionalString,
  processing_worker_id: optionalString,
  created_by: optionalString,
  error: optionalString,
  executor_outputs: v.optional(v.record(v.string(), v.unknown())),
  events: v.optional(v.array(v.record(v.string(), v.unknown()))),
  started_at: optionalString,
  completed_at: optionalString,
  content: v.optional(v.nullable(v.array(v.record(v.string(), v.unknown())))),
  number_of_items: v.optional(v.nullable(integer)),
});

export const VaultCrawlCheckpointModel = v.looseObject({
  id: v.string(),
  pipeline_id: v.string(),
  vault_id: v.string(),
  executor_id: v.string(),
  checkpoint_timestamp: v.string(),
  worker_id: v.string(),
});

export const VaultModel = v.looseObject({
  ...cosmosBase,
  name: v.string(),
  description: optionalString,
  pipeline_id: v.string(),
  pipeline_name: optionalString,
  tags: v.optional(v.array(v.string())),
  save_execution_output: v.optional(v.nullable(v.boolean())),
  created_by: optionalString,
  enabled: v.optional(v.boolean()),
});

export const PipelineModel = v.looseObject({
  ...cosmosBase,
  name: v.string(),
  description: optionalString,
  yaml: v.string(),
  nodes: v.optional(v.nullable(v.array(v.unknown()))),
  edges: v.optional(v.nullable(v.array(v.unknown()))),
  created_by: optionalString,
  tags: v.optional(v.nullable(v.array(v.string()))),
  version: optionalString,
  enabled: v.optional(v.nullable(v.boolean())),
  retry_delay: v.optional(v.nullable(integer)),
  timeout: v.optional(v.nullable(integer)),
  retries: v.optional(v.nullable(integer)),
});

/** One role of the Python worker's /status (app/engine.py get_status). */
const PythonRoleStatus = v.strictObject({
  configured: integer,
  active: integer,
  workers: v.array(v.strictObject({ id: integer, pid: v.nullable(integer), alive: v.boolean() })),
});

/** The Python worker's WorkerStatusResponse (app/api.py), whose fields the API's health check reads. */
export const WorkerStatusResponseModel = v.looseObject({
  worker_name: v.string(),
  running: v.boolean(),
  timestamp: v.string(),
  processing_workers: PythonRoleStatus,
  source_workers: PythonRoleStatus,
});
