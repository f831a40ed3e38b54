// The only module that knows whether we run on Deno, Bun (source) or a Bun-compiled binary.
import process from "node:process";
import { hostname as osHostname } from "node:os";

declare const Bun: any;
declare const Deno: any;

export type RuntimeName = "bun-compiled" | "bun" | "deno" | "node";

export function runtimeName(): RuntimeName {
  if (typeof Bun !== "undefined") {
    return isCompiledBun() ? "bun-compiled" : "bun";
  }
  if (typeof Deno !== "undefined") return "deno";
  return "node";
}

function isCompiledBun(): boolean {
  try {
    return typeof Bun !== "undefined" && String(Bun.main).includes("$bunfs");
  } catch {
    return false;
  }
}

/** argv (command + args) that starts this same program again with `args`. */
export function selfCommand(args: string[]): { command: string; args: string[] } {
  switch (runtimeName()) {
    case "bun-compiled":
      return { command: process.execPath, args };
    case "bun":
      return { command: process.execPath, args: [Bun.main, ...args] };
    case "deno":
      return { command: Deno.execPath(), args: ["run", "-A", Deno.mainModule, ...args] };
    default:
      return { command: process.execPath, args: [...process.execArgv, process.argv[1], ...args] };
  }
}

/** User-visible arguments, without the runtime and script path. */
export function userArgs(): string[] {
  // bun-compiled: ["bun", "/$bunfs/root/…", …]; bun/deno/node: [runtime, script, …].
  return process.argv.slice(2);
}

export interface RunningServer {
  port: number;
  hostname: string;
  close(): Promise<void>;
}

/** What the server knows about the connection besides the request (passed to Hono as its `env`). */
export interface ConnectionInfo {
  /** The peer's IP address (the TCP connection's, never a forwarded-for header). */
  remoteAddress?: string;
}

export type FetchHandler = (req: Request, connection: ConnectionInfo) => Response | Promise<Response>;

export interface ServeOptions {
  port: number;
  hostname: string;
  /** Largest request body accepted, in bytes (Bun enforces it natively; Deno via the handler). */
  maxRequestBodySize?: number;
}

/** Start an HTTP server for a fetch handler (Hono's app.fetch) with the native server of the runtime. */
export async function serve(fetch: FetchHandler, opts: ServeOptions): Promise<RunningServer> {
  if (typeof Bun !== "undefined") {
    const server = Bun.serve({
      port: opts.port,
      hostname: opts.hostname,
      fetch: (req: Request, server: any) => fetch(req, { remoteAddress: server?.requestIP?.(req)?.address }),
      maxRequestBodySize: opts.maxRequestBodySize,
      // Bun's default idle timeout (10 s) is fine for our tiny API.
    });
    return {
      port: server.port,
      hostname: opts.hostname,
      close: async () => {
        await server.stop(true);
      },
    };
  }
  if (typeof Deno !== "undefined") {
    let resolvePort: (p: number) => void;
    const portReady = new Promise<number>((r) => (resolvePort = r));
    const server = Deno.serve(
      {
        port: opts.port,
        hostname: opts.hostname,
        onListen: (addr: { port: number }) => resolvePort(addr.port),
      },
      (req: Request, info: any) => fetch(req, { remoteAddress: info?.remoteAddr?.hostname }),
    );
    const port = await portReady;
    return {
      port,
      hostname: opts.hostname,
      close: async () => {
        await server.shutdown();
      },
    };
  }
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const url = `http://${req.headers.host ?? "localhost"}${req.url}`;
    const response = await fetch(
      new Request(url, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      }),
      { remoteAddress: req.socket.remoteAddress },
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : opts.port,
    hostname: opts.hostname,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Call `handler` once per signal delivery for SIGTERM/SIGINT (and SIGHUP if asked). Returns an unsubscribe. */
export function onSignals(
  signals: Array<"SIGTERM" | "SIGINT" | "SIGHUP">,
  handler: (signal: string) => void,
): () => void {
  const listeners = signals.map((s) => {
    const l = () => handler(s);
    process.on(s, l);
    return [s, l] as const;
  });
  return () => {
    for (const [s, l] of listeners) process.off(s, l);
  };
}

export function hostname(): string {
  try {
    return osHostname();
  } catch {
    return "unknown-host";
  }
}
