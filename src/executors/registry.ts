// Executor types by name. The default registry holds the built-ins.
import type { ExecutorDefinition } from "./types.ts";
import { passThrough } from "./builtin/pass-through.ts";
import { fanInAggregator } from "./builtin/fan-in-aggregator.ts";
import { fieldSelector } from "./builtin/field-selector.ts";
import { azureBlobInputDiscovery } from "./builtin/azure-blob-input-discovery.ts";

export class ExecutorRegistry {
  private readonly defs = new Map<string, ExecutorDefinition>();
  register(def: ExecutorDefinition): this {
    this.defs.set(def.type, def);
    return this;
  }
  get(type: string): ExecutorDefinition | undefined {
    return this.defs.get(type);
  }
  list(): ExecutorDefinition[] {
    return [...this.defs.values()];
  }
}

export function defaultRegistry(): ExecutorRegistry {
  return new ExecutorRegistry()
    .register(passThrough as ExecutorDefinition)
    .register(fanInAggregator as ExecutorDefinition)
    .register(fieldSelector as ExecutorDefinition)
    .register(azureBlobInputDiscovery as unknown as ExecutorDefinition);
}
