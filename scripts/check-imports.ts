// Fails when files under src/ import each other in a circle, or when the top-level folders of src/ do (a folder
// imports another folder that, through any of its files, imports it back). The module graph comes from
// `deno info --json`, so it sees exactly what Deno resolves, type-only imports included.
//
// Usage: deno run -A scripts/check-imports.ts [--root src] [--folders]
//   --folders  also print which folders each folder imports (the layer order in docs/architecture.md)
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { tmpdir } from "node:os";

const rootArg = process.argv.indexOf("--root");
const root = resolve(rootArg > 0 ? process.argv[rootArg + 1] : "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** File → files it imports (both under `root`), from one `deno info` over an entry that imports every file. */
function importGraph(files: string[]): Map<string, Set<string>> {
  const entry = join(tmpdir(), `check-imports-${process.pid}.ts`);
  writeFileSync(entry, files.map((f) => `import ${JSON.stringify(pathToFileURL(f).href)};`).join("\n") + "\n");
  // The Deno running this script, unless DENO_BIN names another (a plain "deno" need not be on PATH).
  const deno = process.env.DENO_BIN ?? Deno.execPath();
  const json = execFileSync(deno, ["info", "--json", entry], { maxBuffer: 256 * 1024 * 1024, encoding: "utf8" });
  const info = JSON.parse(json) as { modules: InfoModule[] };
  const inRoot = new Set(files.map((f) => pathToFileURL(f).href));
  const graph = new Map<string, Set<string>>();
  for (const f of files) graph.set(pathToFileURL(f).href, new Set());
  for (const m of info.modules) {
    if (!inRoot.has(m.specifier)) continue;
    for (const dep of m.dependencies ?? []) {
      for (const target of [dep.code?.specifier, dep.type?.specifier]) {
        if (target && inRoot.has(target) && target !== m.specifier) graph.get(m.specifier)!.add(target);
      }
    }
  }
  return graph;
}

/** Strongly connected components with more than one member (Tarjan), each sorted. */
export function cycles<T>(graph: Map<T, Set<T>>): T[][] {
  let index = 0;
  const order = new Map<T, number>();
  const low = new Map<T, number>();
  const stack: T[] = [];
  const onStack = new Set<T>();
  const found: T[][] = [];
  const visit = (node: T) => {
    order.set(node, index);
    low.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!order.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, order.get(next)!));
      }
    }
    if (low.get(node) === order.get(node)) {
      const component: T[] = [];
      let member: T;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!order.has(node)) visit(node);
  return found;
}

if (import.meta.main) {
  const files = sourceFiles(root);
  const graph = importGraph(files);
  const name = (href: string) => relative(root, new URL(href).pathname);
  const folderOf = (href: string) => {
    const parts = name(href).split("/");
    return parts.length > 1 ? parts[0] : undefined; // files directly under src/ (main.ts) sit above every folder
  };
  const folders = new Map<string, Set<string>>();
  const why = new Map<string, string>(); // "a -> b" → one file import that makes it
  for (const [from, targets] of graph) {
    const a = folderOf(from);
    if (!a) continue;
    if (!folders.has(a)) folders.set(a, new Set());
    for (const to of targets) {
      const b = folderOf(to);
      if (!b || a === b) continue;
      folders.get(a)!.add(b);
      if (!why.has(`${a} -> ${b}`)) why.set(`${a} -> ${b}`, `${name(from)} imports ${name(to)}`);
    }
  }
  const fileCycles = cycles(graph);
  const folderCycles = cycles(folders);
  for (const c of fileCycles) console.error(`import cycle between files: ${c.map(name).join(", ")}`);
  for (const c of folderCycles) {
    const edges = [...why.entries()].filter(([k]) => {
      const [a, b] = k.split(" -> ");
      return c.includes(a) && c.includes(b);
    });
    console.error(`import cycle between folders of src/: ${c.join(", ")}`);
    for (const [edge, example] of edges) console.error(`  ${edge}: ${example}`);
  }
  if (process.argv.includes("--folders")) {
    for (const [folder, targets] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
      console.log(`${folder} -> ${[...targets].sort().join(", ") || "(nothing)"}`);
    }
  }
  const problems = fileCycles.length + folderCycles.length;
  console.log(`import check: ${files.length} files, ${folders.size} folders, ${problems} cycle(s)`);
  process.exit(problems === 0 ? 0 : 1);
}
