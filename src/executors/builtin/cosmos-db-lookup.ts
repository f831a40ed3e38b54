// cosmos_db_lookup: looks each item up in a Cosmos DB NoSQL container named in the settings, either by a point read
// (field_mappings.id and .partition_key give the item's id and partition key from content.data) or by a
// parameterised query (query_template with @params filled from field_mappings). The result goes to
// data[output_field]; summary_data.cosmos_lookup_status is "success", or "error" with cosmos_lookup_error (the item
// then passes on, as in ContentFlow, unless fail_pipeline_on_error is true). The account key is never logged.
import * as v from "valibot";
import { type Container, CosmosClient, type JSONValue, type SqlParameter } from "@azure/cosmos";
import type { ExecutorDefinition, ExecutorRunContext } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { perItemExecutor } from "../per-item.ts";
import { boolSetting, choiceSetting, intSetting, mapSetting, stringSetting } from "../settings.ts";
import { registerSecret } from "../../log/logger.ts";
import { managedIdentityCredential } from "../ai/credentials.ts";
import { getPath } from "../paths.ts";
import { raceAbort } from "../../util/abort.ts";
import { assertOutboundUrl, checkOutboundUrl, outboundPolicy } from "../../net/outbound.ts";
import { errorStatus, errorText } from "../../util/errors.ts";

const required = (name: string) => v.pipe(stringSetting(name), v.trim(), v.minLength(1, `${name} is required`));

const settings = v.pipe(
  v.object({
    cosmos_endpoint: v.pipe(
      required("cosmos_endpoint"),
      v.check(
        (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
        "cosmos_endpoint must be an http(s) URL",
      ),
    ),
    cosmos_key: v.optional(v.pipe(stringSetting("cosmos_key"), v.trim())),
    credential_type: v.optional(choiceSetting("credential_type", ["key", "default_azure_credential"]), "key"),
    cosmos_database: required("cosmos_database"),
    cosmos_container: required("cosmos_container"),
    lookup_mode: v.optional(choiceSetting("lookup_mode", ["point_read", "query"]), "query"),
    query_template: v.optional(v.pipe(stringSetting("query_template"), v.trim())),
    field_mappings: v.optional(
      mapSetting("field_mappings", v.pipe(v.string("field_mappings values must be field paths"), v.trim())),
      {},
    ),
    partition_key_field: v.optional(v.pipe(stringSetting("partition_key_field"), v.trim())),
    output_field: v.optional(v.pipe(stringSetting("output_field"), v.trim(), v.minLength(1)), "cosmos_lookup_result"),
    result_mode: v.optional(choiceSetting("result_mode", ["first", "all"]), "all"),
    flatten_single: v.optional(boolSetting("flatten_single"), false),
    max_results: v.optional(intSetting("max_results", { min: 1, max: 1000 }), 50),
  }),
  v.check(
    (s) => s.credential_type !== "key" || !!s.cosmos_key,
    "cosmos_key is required when credential_type is 'key'",
  ),
  v.check(
    (s) => s.lookup_mode !== "query" || !!s.query_template,
    "query_template is required when lookup_mode is 'query'",
  ),
  v.check(
    (s) => s.lookup_mode !== "point_read" || (!!s.field_mappings.id && !!s.field_mappings.partition_key),
    "field_mappings must map 'id' and 'partition_key' to fields of content.data when lookup_mode is 'point_read'",
  ),
);
type Settings = v.InferOutput<typeof settings>;

const valueAtPath = (data: unknown, path: string) => getPath(data, path.split("."));

/** Cosmos wants JSON values: a missing field is null. */
function jsonValue(value: unknown): JSONValue {
  return value === undefined ? null : value as JSONValue;
}

async function pointRead(container: Container, s: Settings, item: Content, ctx: ExecutorRunContext) {
  const id = valueAtPath(item.data ?? {}, s.field_mappings.id);
  const partitionKey = valueAtPath(item.data ?? {}, s.field_mappings.partition_key);
  if (id === undefined || id === null || partitionKey === undefined || partitionKey === null) {
    ctx.logger.warn("cosmos point read skipped: id or partition key missing", {
      item: item.id.canonical_id,
      id_path: s.field_mappings.id,
      partition_key_path: s.field_mappings.partition_key,
    });
    return null;
  }
  const { resource, statusCode } = await container.item(String(id), partitionKey as never).read({
    abortSignal: ctx.signal,
  });
  if (statusCode === 404 || resource === undefined) return null;
  return resource;
}

async function query(container: Container, s: Settings, item: Content, ctx: ExecutorRunContext) {
  const parameters: SqlParameter[] = Object.entries(s.field_mappings).map(([name, path]) => ({
    name: name.startsWith("@") ? name : `@${name}`,
    value: jsonValue(valueAtPath(item.data ?? {}, path)),
  }));
  const partitionKey = s.partition_key_field ? valueAtPath(item.data ?? {}, s.partition_key_field) : undefined;
  const iterator = container.items.query({ query: s.query_template!, parameters }, {
    maxItemCount: s.max_results,
    abortSignal: ctx.signal,
    ...(partitionKey !== undefined && partitionKey !== null ? { partitionKey: partitionKey as never } : {}),
  });
  const found: unknown[] = [];
  while (found.length < s.max_results && iterator.hasMoreResults()) {
    const page = await iterator.fetchNext();
    found.push(...(page.resources ?? []));
  }
  const items = found.slice(0, s.max_results);
  if (s.result_mode === "first") return items[0] ?? null;
  if (s.flatten_single && items.length === 1) return items[0];
  return items;
}

/** The cause in one line, led by the status Cosmos DB answered with. */
function lookupError(err: unknown): string {
  const status = errorStatus(err);
  const message = errorText(err).split("\n")[0];
  return status !== undefined ? `Cosmos DB answered ${status}: ${message}` : message;
}

export const cosmosDbLookup: ExecutorDefinition<typeof settings> = {
  type: "cosmos_db_lookup",
  category: "transform",
  description: "Looks items up in a Cosmos DB container (point read or parameterised query) and stores the result",
  settings,
  commonDefaults: { max_concurrent: 5, fail_pipeline_on_error: false },
  create: (id, s, deps) => {
    if (s.cosmos_key) registerSecret(s.cosmos_key);
    // The endpoint comes from the pipeline: allowed host now, its addresses before the first request. Endpoint
    // discovery stays off so that the SDK never moves to regional hosts that were not checked.
    const policy = outboundPolicy(deps.config);
    checkOutboundUrl(s.cosmos_endpoint, policy);
    let endpointChecked = false;
    const checkEndpoint = async () => {
      if (endpointChecked) return;
      await assertOutboundUrl(s.cosmos_endpoint, policy);
      endpointChecked = true;
    };
    const connectionPolicy = { enableEndpointDiscovery: false, requestTimeout: 30_000 };
    const client = s.credential_type === "key"
      ? new CosmosClient({ endpoint: s.cosmos_endpoint, key: s.cosmos_key!, connectionPolicy })
      : new CosmosClient({
        endpoint: s.cosmos_endpoint,
        aadCredentials: managedIdentityCredential({
          endpoint: s.cosmos_endpoint,
          service: "cosmos_db",
          setting: "cosmos_endpoint",
          config: deps.config,
        }),
        connectionPolicy,
      });
    const container = client.database(s.cosmos_database).container(s.cosmos_container);
    return perItemExecutor(id, "cosmos_db_lookup", async (item, ctx) => {
      let result: unknown;
      try {
        const lookup = s.lookup_mode === "point_read" ? pointRead : query;
        await checkEndpoint();
        result = await raceAbort(lookup(container, s, item, ctx), ctx.signal);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        const message = `executor '${id}', item ${item.id.canonical_id}: lookup in ${s.cosmos_database}/` +
          `${s.cosmos_container} failed: ${lookupError(err)}`;
        if (ctx.failPipelineOnError) throw new Error(message);
        ctx.logger.warn("cosmos lookup failed; the item passes on with cosmos_lookup_status error", {
          error: message,
        });
        return {
          ...item,
          data: { ...item.data, [s.output_field]: null },
          summary_data: { ...item.summary_data, cosmos_lookup_status: "error", cosmos_lookup_error: message },
        };
      }
      return {
        ...item,
        data: { ...item.data, [s.output_field]: result },
        summary_data: { ...item.summary_data, cosmos_lookup_status: "success" },
      };
    }, async () => client.dispose());
  },
};
