// Executor types by name. defaultRegistry() holds the built-ins (builtin/index.ts).
import type { ExecutorDefinition } from "./types.ts";
import { builtinExecutors } from "./builtin/index.ts";

export class ExecutorRegistry {
  private readonly defs = new Map<string, ExecutorDefinition>();
  private readonly aliases = new Map<string, string>();

  register(def: ExecutorDefinition): this {
    this.defs.set(def.type, def);
    return this;
  }

  /** Lets pipelines name `target` as `name` too (not listed by list()). */
  alias(name: string, target: string): this {
    this.aliases.set(name, target);
    return this;
  }

  get(type: string): ExecutorDefinition | undefined {
    return this.defs.get(type) ?? this.defs.get(this.aliases.get(type) ?? "");
  }

  list(): ExecutorDefinition[] {
    return [...this.defs.values()];
  }
}

export function defaultRegistry(): ExecutorRegistry {
  const registry = new ExecutorRegistry();
  for (const def of builtinExecutors()) registry.register(def);
  // The ContentFlow web UI's templates name the blob input `azure_blob_input`, a type the Python library lacks
  // (those templates fail there); it is the discovery executor they mean.
  if (registry.get("azure_blob_input_discovery")) registry.alias("azure_blob_input", "azure_blob_input_discovery");
  return registry;
}
