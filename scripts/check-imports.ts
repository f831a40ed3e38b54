// Fails when files import each other in a circle (anywhere under src/, tests/ and scripts/), when the top-level
// folders of src/ do (a folder imports another folder that, through any of its files, imports it back), when src/
// imports anything under tests/ or scripts/, or when a file under tests/ imports a script that itself reaches tests/
// (scripts may use the test helpers; tests import a script only to test that script, which stands on its own — see
// "Dev code" in docs/architecture.md). The module graph comes from `deno info --json`, so it sees exactly what Deno
// resolves, type-only imports included.
// It also fails on a function in src/ longer than FUNCTION_LINE_LIMIT lines (scripts/lib/function-length.ts) unless a
// "long function:" comment above it says why, or it is one of KNOWN_LONG_FUNCTIONS (still to be split).
//
// Usage: deno run -A scripts/check-imports.ts [--root src] [--folders]
//   --root     check only the cycles under this folder (the rules between src/, tests/ and scripts/ need all three)
//   --folders  also print which folders each folder of src/ imports (the layer order in docs/architecture.md)
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import { longFunctions } from "./lib/function-length.ts";

export { longFunctions };

/** Longest function in src/, in lines (opening to closing line), unless a "long function:" comment says why. */
export const FUNCTION_LINE_LIMIT = 110;

/**
 * Long functions in files other changes were under way in when the limit came (issue 20): path → function → the
 * most lines it may have, so it cannot grow and the next change in the file splits it. Remove an entry once split.
 */
export const KNOWN_LONG_FUNCTIONS: Record<string, Record<string, number>> = {};

/** Problems with the functions of one src/ file (repository path), as error lines. */
export function functionLengthProblems(path: string, text: string): string[] {
  return longFunctions(text, FUNCTION_LINE_LIMIT).flatMap((f) => {
    const allowed = KNOWN_LONG_FUNCTIONS[path]?.[f.name];
    if (allowed !== undefined && f.lines <= allowed) return [];
    return [
      `${path}:${f.line}: function ${f.name} is ${f.lines} lines (limit ${FUNCTION_LINE_LIMIT}${
        allowed !== undefined ? `, ${allowed} until it is split` : ""
      }): split it into named steps, or say why in a "long function:" comment above it`,
    ];
  });
}

const rootArg = process.argv.indexOf("--root");
const root = resolve(rootArg > 0 ? process.argv[rootArg + 1] : "src");
const checkAll = rootArg < 0;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if ((name.endsWith(".ts") && !name.endsWith(".d.ts")) || name.endsWith(".mjs")) out.push(path);
  }
  return out.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** File → files it imports (both among `files`), from one `deno info` over an entry that imports every file. */
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

/** Which top-level folder of the repository a path (relative to it) is in: "src", "tests", "scripts" or undefined. */
function area(path: string): "src" | "tests" | "scripts" | undefined {
  const top = path.split("/")[0];
  return top === "src" || top === "tests" || top === "scripts" ? top : undefined;
}

/**
 * The rules between src/, tests/ and scripts/ over a graph of repository-relative paths: src/ imports neither tests/
 * nor scripts/; scripts/ may import tests/ (the emulators, seeded stores, fakes and binary runs that benchmarks
 * share with tests); a file under tests/ never imports scripts/lib/ (shared code lives in tests/helpers/) and
 * imports a script only when nothing that script reaches is under tests/ (a test of build.mjs or
 * gen-config-docs.ts), so tests and scripts never meet in a circle through each other.
 * Returns one message per broken rule.
 */
export function layerProblems(graph: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const reachesTests = new Map<string, string | undefined>(); // script → a file under tests/ it reaches, if any
  const testReachedFrom = (start: string): string | undefined => {
    if (reachesTests.has(start)) return reachesTests.get(start);
    reachesTests.set(start, undefined); // cut circles while searching
    let found: string | undefined;
    for (const next of graph.get(start) ?? []) {
      if (area(next) === "tests") found = next;
      else if (area(next) === "scripts") found = testReachedFrom(next);
      if (found) break;
    }
    reachesTests.set(start, found);
    return found;
  };
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const a = area(from);
      const b = area(to);
      if (a === "src" && (b === "tests" || b === "scripts")) {
        problems.push(`${from} imports ${to}: src/ imports neither tests/ nor scripts/`);
      }
      if (a === "tests" && b === "scripts" && to.startsWith("scripts/lib/")) {
        problems.push(`${from} imports ${to}: code that tests and scripts share lives in tests/helpers/`);
      } else if (a === "tests" && b === "scripts") {
        const reached = testReachedFrom(to);
        if (reached) {
          problems.push(
            `${from} imports ${to}, which reaches ${reached}: tests import only scripts that stand apart from tests/ ` +
              `(move what both share into tests/helpers/)`,
          );
        }
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const repo = resolve(import.meta.dirname ?? ".", "..");
  const roots = checkAll ? ["src", "tests", "scripts"].map((d) => join(repo, d)) : [root];
  const files = roots.flatMap(sourceFiles);
  const graph = importGraph(files);
  const name = (href: string) => relative(root, new URL(href).pathname);
  const repoPath = (href: string) => relative(repo, new URL(href).pathname);
  const folderOf = (href: string) => {
    const path = new URL(href).pathname;
    if (!path.startsWith(root + "/")) return undefined; // only the folders of src/ (or --root) are layered
    const parts = name(href).split("/");
    return parts.length > 1 ? parts[0] : undefined; // files directly under src/ (main.ts) sit above every folder
  };
  const tooLong = checkAll
    ? files.filter((f) => repoPath(pathToFileURL(f).href).startsWith("src/"))
      .flatMap((f) => functionLengthProblems(repoPath(pathToFileURL(f).href), readFileSync(f, "utf8")))
    : [];
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
  const layers = checkAll
    ? layerProblems(new Map([...graph].map(([f, ts]) => [repoPath(f), new Set([...ts].map(repoPath))])))
    : [];
  for (const p of layers) console.error(`import rule broken: ${p}`);
  const folderCycles = cycles(folders);
  for (const c of fileCycles) console.error(`import cycle between files: ${c.map(repoPath).join(", ")}`);
  for (const t of tooLong) console.error(`long function: ${t}`);
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
  const problems = fileCycles.length + folderCycles.length + layers.length + tooLong.length;
  console.log(
    `import check: ${files.length} files, ${folders.size} folders of ${relative(repo, root) || "."}, ` +
      `${fileCycles.length + folderCycles.length} cycle(s), ${layers.length} broken rule(s), ` +
      `${tooLong.length} function(s) over ${FUNCTION_LINE_LIMIT} lines`,
  );
  process.exit(problems === 0 ? 0 : 1);
}
