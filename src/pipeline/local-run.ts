// `pipeline run`: runs a pipeline in this process on local files or given content items, with no queue and no
// Cosmos DB. Executors get the worker's configuration (so the same outbound policy, ${VAR} rules and service
// settings apply as on the worker). Local files stand in for the blobs a pipeline's input executor would discover:
// each becomes the item azure_blob_input_discovery makes (blobContent) with the bytes azure_blob_content_retriever
// would download, so the crawling input executor and the blob retrievers are left out of the run.
import * as v from "valibot";
import { randomUUID } from "node:crypto";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Content } from "../model/content.ts";
import type { ExecutorDeps } from "../executors/types.ts";
import type { ExecutorRegistry } from "../executors/registry.ts";
import { blobContent } from "../executors/builtin/azure-blob-input-discovery.ts";
import { maxDocumentBytes } from "../executors/documents/limits.ts";
import { defaultTempFolder } from "../executors/temp-files.ts";
import { splitSettings } from "./common-settings.ts";
import { withoutEmptyValues } from "../executors/settings.ts";
import { compilePipeline, findInputExecutor } from "./compile.ts";
import type { PipelineDefinition } from "./definition.ts";
import { runGraph, TASK_INPUT } from "./graph.ts";
import type { CompiledPipeline } from "./compiled.ts";
import { type PipelineResult, runPipeline } from "./runner.ts";
import { unwrittenInputWarnings } from "./check.ts";
import { Buffer } from "node:buffer";

/** The executor type whose downloads local files replace. */
export const BLOB_RETRIEVER = "azure_blob_content_retriever";

/** Content types by file suffix, for the few document kinds the extractors read (others: undefined, as a blob may). */
const CONTENT_TYPES: Record<string, string> = {
  ".pdf": "application/pdf",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ".csv": "text/csv",
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".html": "text/html",
  ".htm": "text/html",
  ".json": "application/json",
};

export function contentTypeOf(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? CONTENT_TYPES[name.slice(dot).toLowerCase()] : undefined;
}

/** A local file read for a run: its path, the time it was last changed, and its bytes. */
export interface LocalFile {
  path: string;
  modified: Date;
  bytes: Uint8Array;
}

/** Reads a local file, refusing one larger than `maxBytes` (MAX_DOCUMENT_MB, as for a blob) before reading it. */
export async function readLocalFile(path: string, maxBytes: number): Promise<LocalFile> {
  const handle = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
    throw new LocalRunError(`${path}: ${err.code === "ENOENT" ? "no such file" : `cannot read: ${err.message}`}`);
  });
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${path} is not a file`);
    if (stat.size > maxBytes) {
      throw new Error(`${path} is ${stat.size} bytes, more than MAX_DOCUMENT_MB allows (${maxBytes} bytes)`);
    }
    const bytes = new Uint8Array(stat.size);
    let offset = 0;
    while (offset < stat.size) {
      const { bytesRead } = await handle.read(bytes, offset, stat.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return { path: resolve(path), modified: stat.mtime, bytes: bytes.subarray(0, offset) };
  } finally {
    await handle.close();
  }
}

/** What the pipeline's blob retriever(s) would write: a temp file and/or data.content (first retriever's settings). */
export interface RetrieverShape {
  tempFile: boolean;
  contentField?: "utf-8" | "base64";
}

/** The shape of the first azure_blob_content_retriever in `ids` (its settings parsed by its own schema). */
export function retrieverShape(
  def: PipelineDefinition,
  ids: readonly string[],
  registry: ExecutorRegistry,
): RetrieverShape {
  const cfg = def.executors.find((e) => e.type === BLOB_RETRIEVER && ids.includes(e.id));
  const type = registry.get(BLOB_RETRIEVER);
  if (!cfg || !type) return { tempFile: true };
  const parsed = v.safeParse(type.settings, withoutEmptyValues(splitSettings(cfg.settings ?? {}).own));
  if (!parsed.success) return { tempFile: true };
  const s = parsed.output as {
    use_temp_file_for_content: boolean;
    include_content_bytes_as_field: boolean;
    content_encoding: "utf-8" | "base64";
  };
  return {
    tempFile: s.use_temp_file_for_content || !s.include_content_bytes_as_field,
    ...(s.include_content_bytes_as_field ? { contentField: s.content_encoding } : {}),
  };
}

/**
 * The content item a local file becomes: the item blob discovery makes for a blob of that name, size, time and
 * content type, pointing at the local file (source_type local_file, canonical id file://…), with the bytes where the
 * blob retriever would put them. `tempFolder` receives the temp copy (deleted by the caller).
 */
export async function localFileItem(file: LocalFile, shape: RetrieverShape, tempFolder: string): Promise<Content> {
  const name = basename(file.path);
  const item = blobContent(
    { name, size: file.bytes.byteLength, lastModified: file.modified, contentType: contentTypeOf(name) },
    { account: "local", container: dirname(file.path), executorId: "local_file", includeMetadata: false },
  );
  const data: Record<string, unknown> = {};
  if (shape.tempFile) {
    const copy = join(tempFolder, `${randomUUID()}_${name.replace(/[^A-Za-z0-9._-]/g, "_").slice(-100)}`);
    await writeFile(copy, file.bytes);
    data.temp_file_path = copy;
  }
  if (shape.contentField === "base64") data.content = Buffer.from(file.bytes).toString("base64");
  else if (shape.contentField === "utf-8") data.content = new TextDecoder().decode(file.bytes);
  const { container: _container, ...id } = item.id;
  return {
    ...item,
    id: {
      ...id,
      canonical_id: `file://${file.path}`,
      source_name: "local",
      source_type: "local_file",
      path: file.path,
    },
    data,
  };
}

export interface LocalRunOptions {
  registry: ExecutorRegistry;
  deps: ExecutorDeps;
  /** Local files (they replace the input executor and the blob retrievers) … */
  files?: string[];
  /** … or content items, run as a task's input (only the crawling input executor is left out). */
  items?: Content[];
  /** Stop after this executor: only it and the executors it depends on run; the output is its output. */
  only?: string;
  /** Record every executor's output (after the runner's log entry). */
  executorOutputs?: boolean;
  signal: AbortSignal;
  /** Called when an executor starts and ends (for a progress line). */
  onProgress?: (text: string) => void;
}

export interface LocalRunResult {
  result: PipelineResult;
  /** Executors that did not run because local files stand in for them. */
  replaced: string[];
  warnings: string[];
  /** With executorOutputs: each executor's output items, by executor id, in run order. */
  outputs?: Record<string, Content[]>;
}

/** The executors `target` depends on (and itself), in the graph's order. */
function ancestors(p: CompiledPipeline, target: string): Set<string> {
  const keep = new Set<string>();
  const visit = (id: string) => {
    if (id === TASK_INPUT || keep.has(id)) return;
    keep.add(id);
    for (const pred of p.graph.preds.get(id) ?? []) visit(pred);
  };
  visit(target);
  return keep;
}

/** `p` restricted to `keep` (closed under predecessors), with `sink` as its only output. */
function restricted(p: CompiledPipeline, keep: Set<string>, sinks: string[]): CompiledPipeline {
  const order = p.order.filter((id) => keep.has(id));
  const preds = new Map(order.map((id) => [id, p.graph.preds.get(id)!]));
  const succs = new Map(order.map((id) => [id, p.graph.succs.get(id)!.filter((s) => keep.has(s))]));
  return { ...p, order, graph: { order, preds, succs, sinks } };
}

/**
 * A pipeline that ends at every executor: a sink per executor, so each one's output is kept. The runner then
 * returns all their outputs concatenated; they are split by the executor log entries' order in `splitOutputs`.
 */
function everyExecutorKept(p: CompiledPipeline): CompiledPipeline {
  return { ...p, graph: { ...p.graph, sinks: [...p.order] } };
}

export async function runLocally(def: PipelineDefinition, opts: LocalRunOptions): Promise<LocalRunResult> {
  const { registry, deps } = opts;
  const input = findInputExecutor(def, registry, deps.config);
  const compiled = compilePipeline(def, { registry, deps, excludeExecutor: input?.id ?? null });
  // As pipeline check would say them: compile warnings, then inputs no executor before writes.
  const warnings = [...compiled.warnings, ...unwrittenInputWarnings(def, { registry, deps })];
  const replaced: string[] = [];
  let folder: string | undefined;
  try {
    let pipeline = compiled;
    let items: Content[];
    if (opts.files) {
      // Blob retrievers would download the blobs the local files stand for: bridge them like disabled executors.
      for (const id of compiled.order) if (compiled.nodes.get(id)!.type === BLOB_RETRIEVER) replaced.push(id);
      if (input) replaced.unshift(input.id);
      const notRun = def.executors.map((e) => e.id).filter((id) =>
        !compiled.order.includes(id) || replaced.includes(id)
      );
      const graph = runGraph(def, { exclude: input?.id ?? null, disabled: new Set(notRun) });
      pipeline = { ...compiled, graph, order: graph.order };
      const shape = retrieverShape(def, compiled.order, registry);
      folder = join(defaultTempFolder(), `local-run-${randomUUID()}`);
      await mkdir(folder, { recursive: true });
      const maxBytes = maxDocumentBytes(undefined, deps.config.MAX_DOCUMENT_MB);
      items = [];
      for (const path of opts.files) {
        items.push(await localFileItem(await readLocalFile(path, maxBytes), shape, folder));
      }
    } else {
      if (input) replaced.push(input.id);
      items = opts.items ?? [];
    }
    if (opts.only !== undefined) {
      if (!pipeline.order.includes(opts.only)) {
        const why = replaced.includes(opts.only)
          ? "it does not run locally (local files stand in for it)"
          : "it is not an executor this run would run";
        throw new LocalRunError(`--only ${opts.only}: ${why} (it runs: ${pipeline.order.join(", ") || "nothing"})`);
      }
      pipeline = restricted(pipeline, ancestors(pipeline, opts.only), [opts.only]);
    }
    const sinks = pipeline.graph.sinks;
    const run = opts.executorOutputs ? everyExecutorKept(pipeline) : pipeline;
    opts.onProgress?.(`running ${run.order.length} executor(s) on ${items.length} item(s)`);
    const logger = deps.logger;
    const result = await runPipeline(run, items, { signal: opts.signal, logger });
    if (!opts.executorOutputs) return { result, replaced, warnings };
    const outputs = splitOutputs(result.content, run.order, result.executor_outputs);
    result.content = sinks.flatMap((s) => outputs[s] ?? []);
    return { result, replaced, warnings, outputs };
  } finally {
    await compiled.close();
    if (folder) await rm(folder, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Splits the concatenated outputs of every executor (in `order`) by the item counts the runner recorded. */
export function splitOutputs(
  content: Content[],
  order: readonly string[],
  executorOutputs: PipelineResult["executor_outputs"],
): Record<string, Content[]> {
  const out: Record<string, Content[]> = {};
  let at = 0;
  for (const id of order) {
    const n = executorOutputs[id]?.status === "completed" ? executorOutputs[id].items_out : 0;
    out[id] = content.slice(at, at + n);
    at += n;
  }
  return out;
}

/** A problem with what the run was asked to do (not a pipeline failure). */
export class LocalRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalRunError";
  }
}
