// Local telemetry destinations for tests: one recording handler serving both an OTLP/HTTP receiver (plain HTTP) and a
// fake Application Insights ingestion endpoint (`/v2.1/track`). The Azure Monitor exporter always upgrades the
// connection string's IngestionEndpoint to https, so the fake speaks TLS with a self-signed certificate for
// 127.0.0.1 made here with openssl (a test trusts it through NODE_EXTRA_CA_CERTS or the exporter's TLS settings).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ReceivedRequest {
  url: string;
  body: string;
}

/** A self-signed certificate for 127.0.0.1: its PEM texts and the file holding the certificate. */
export interface TestCertificate {
  key: string;
  cert: string;
  certPath: string;
}

export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "cfw-otel-cert-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  const made = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    keyPath,
    "-out",
    certPath,
  ], { encoding: "utf8" });
  assert.equal(made.status, 0, `openssl could not make a test certificate: ${made.stderr}`);
  return { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8"), certPath };
}

/**
 * Records every request (path and body) in `received` and answers as the destinations do: the ingestion endpoint's
 * track answer for `/v2.1/track`, `{}` for OTLP.
 */
export function recordingHandler(received: ReceivedRequest[]): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ url: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" }).end(
        req.url?.startsWith("/v2.1/track") ? JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }) : "{}",
      );
    });
  };
}

/** Both destinations on free loopback ports, recording into `received`. */
export interface TelemetryDestinations {
  otlp: Server;
  appInsights: ReturnType<typeof createTlsServer>;
  certificate: TestCertificate;
  otlpPort: number;
  appInsightsPort: number;
  close(): void;
}

export async function startTelemetryDestinations(received: ReceivedRequest[]): Promise<TelemetryDestinations> {
  const handler = recordingHandler(received);
  const certificate = selfSignedCertificate();
  const otlp = createServer(handler);
  const appInsights = createTlsServer({ key: certificate.key, cert: certificate.cert }, handler);
  await new Promise<void>((r) => otlp.listen(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => appInsights.listen(0, "127.0.0.1", () => r()));
  const port = (s: { address(): unknown }) => (s.address() as { port: number }).port;
  return {
    otlp,
    appInsights,
    certificate,
    otlpPort: port(otlp),
    appInsightsPort: port(appInsights),
    close() {
      otlp.close();
      appInsights.close();
    },
  };
}
