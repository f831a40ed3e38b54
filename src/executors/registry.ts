// Executor types by name. defaultRegistry() holds the built-ins (builtin/index.ts).
import type { ExecutorDefinition } from "./types.ts";
import { builtinExecutors } from "./builtin/index.ts";

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
  const registry = new ExecutorRegistry();
  for (const def of builtinExecutors()) registry.register(def);
  return registry;
}
