import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import {
  assertOutboundUrl,
  checkOutboundUrl,
  guardedFetch,
  makeOutboundPolicy,
  nonPublicKind,
  OutboundBlockedError,
  outboundPolicy,
  OutboundResolveError,
  readBodyLimited,
  readTextLimited,
  ResponseTooLargeError,
} from "../../src/net/outbound.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { readStreamLimited } from "../../src/util/read-limited.ts";
import { Readable } from "node:stream";

const blocked = (pattern: RegExp) => (err: unknown) => err instanceof OutboundBlockedError && pattern.test(err.message);

describe("address classification", () => {
  test("loopback, private, link-local, CGNAT, unique-local, metadata and reserved addresses are not public", () => {
    const cases: Array<[string, string]> = [
      ["127.0.0.1", "loopback"],
      ["127.255.0.9", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["169.254.169.254", "cloud metadata"],
      ["169.254.1.1", "linkLocal"],
      ["168.63.129.16", "cloud metadata"],
      ["100.64.0.1", "carrierGradeNat"],
      ["100.127.255.254", "carrierGradeNat"],
      ["0.0.0.0", "unspecified"],
      ["224.0.0.1", "multicast"],
      ["255.255.255.255", "broadcast"],
      ["::1", "loopback"],
      ["::", "unspecified"],
      ["fc00::1", "uniqueLocal"],
      ["fd12:3456::1", "uniqueLocal"],
      ["fe80::1", "linkLocal"],
      ["febf::1", "linkLocal"],
      ["ff02::1", "multicast"],
      ["2001:db8::1", "reserved"],
      ["::7f00:1", "reserved"], // IPv4-compatible form of 127.0.0.1
      ["64:ff9b::a00:1", "rfc6052"], // NAT64 form of 10.0.0.1
    ];
    for (const [address, kind] of cases) assert.equal(nonPublicKind(address), kind, address);
  });

  test("IPv4-mapped IPv6 addresses are judged by their IPv4 address", () => {
    assert.equal(nonPublicKind("::ffff:127.0.0.1"), "loopback");
    assert.equal(nonPublicKind("::ffff:7f00:1"), "loopback");
    assert.equal(nonPublicKind("::ffff:a9fe:a9fe"), "cloud metadata");
    assert.equal(nonPublicKind("::ffff:10.0.0.1"), "private");
    assert.equal(nonPublicKind("::ffff:8.8.8.8"), undefined);
  });

  test("public addresses pass", () => {
    for (const a of ["8.8.8.8", "20.60.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2a01:111::1"]) {
      assert.equal(nonPublicKind(a), undefined, a);
    }
  });
});

describe("checkOutboundUrl (no DNS)", () => {
  const any = makeOutboundPolicy({ allowedHosts: ["*"] });

  test("only http and https", () => {
    assert.throws(() => checkOutboundUrl("ftp://example.com/x", any), blocked(/ftp: URLs are not allowed/));
    assert.throws(() => checkOutboundUrl("file:///etc/passwd", any), blocked(/file: URLs are not allowed/));
    assert.throws(() => checkOutboundUrl("not a url", any), blocked(/is not a valid URL/));
  });

  test("the host allow-list: '*' any, empty none, exact names, host:port and '*.suffix'", () => {
    const some = makeOutboundPolicy({ allowedHosts: ["api.example.com", "*.contoso.net", "other.org:8443"] });
    assert.doesNotThrow(() => checkOutboundUrl("https://API.example.com./x", some));
    assert.doesNotThrow(() => checkOutboundUrl("https://a.b.contoso.net/x", some));
    assert.doesNotThrow(() => checkOutboundUrl("https://other.org:8443/x", some));
    assert.throws(() => checkOutboundUrl("https://contoso.net/x", some), blocked(/not in OUTBOUND_ALLOWED_HOSTS/));
    assert.throws(() => checkOutboundUrl("https://evilcontoso.net/x", some), blocked(/not in OUTBOUND_ALLOWED_HOSTS/));
    assert.throws(
      () => checkOutboundUrl("https://api.example.com.evil.net/", some),
      blocked(/host 'api\.example\.com\.evil\.net' is not in OUTBOUND_ALLOWED_HOSTS/),
    );
    const none = makeOutboundPolicy({ allowedHosts: [] });
    assert.throws(() => checkOutboundUrl("https://api.example.com/", none), blocked(/OUTBOUND_ALLOWED_HOSTS is empty/));
  });

  test("literal private addresses, in any spelling the URL parser accepts, and localhost names are refused", () => {
    const urls = [
      "http://127.0.0.1/",
      "http://2130706433/", // 127.0.0.1 as one number
      "http://0x7f.1/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://169.254.169.254/metadata/instance",
      "http://[fd00:ec2::254]/",
      "http://[fe80::1]/",
      "http://100.64.0.10/",
      "http://localhost:8080/",
      "http://LOCALHOST./",
      "http://api.localhost/",
    ];
    for (const url of urls) {
      assert.throws(() => checkOutboundUrl(url, any), blocked(/are refused: .* addresses need/), url);
    }
  });

  test("OUTBOUND_ALLOWED_PRIVATE_HOSTS entries: host names, addresses and CIDR ranges", () => {
    const policy = makeOutboundPolicy({
      allowedHosts: ["*"],
      allowedPrivate: ["localhost", "10.1.0.0/16", "::1", "[fd00::5]"],
    });
    for (const url of ["http://localhost/", "http://10.1.200.3/", "http://[::1]/", "http://[fd00::5]/"]) {
      assert.doesNotThrow(() => checkOutboundUrl(url, policy), url);
    }
    for (const url of ["http://10.2.0.1/", "http://127.0.0.1/", "http://[fd00::6]/", "http://169.254.169.254/"]) {
      assert.throws(() => checkOutboundUrl(url, policy), blocked(/refused/), url);
    }
    assert.throws(() => makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["10.0.0.0/99"] }), /CIDR/);
  });
});

describe("assertOutboundUrl (with DNS)", () => {
  test("the default resolver is node:dns lookup with every address (localhost: loopback ones only)", async () => {
    const policy = makeOutboundPolicy({ allowedHosts: ["*"] });
    const addresses = await policy.resolve("localhost");
    assert.ok(addresses.length >= 1);
    for (const a of addresses) assert.equal(nonPublicKind(a), "loopback", a);
    await assert.rejects(assertOutboundUrl("http://localhost/", policy), blocked(/loopback/));
    const allowedByName = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["localhost"] });
    await assertOutboundUrl("http://localhost/", allowedByName);
  });

  test("every address of a name is checked: one private address among public ones refuses the call", async () => {
    const answers: Record<string, string[]> = {
      "mixed.example": ["20.1.2.3", "10.0.0.7"],
      "v6.example": ["2606:4700::1", "fd00::1"],
      "meta.example": ["169.254.169.254"],
      "public.example": ["20.1.2.3", "2606:4700::1"],
      "mapped.example": ["::ffff:192.168.0.1"],
    };
    const resolve = (name: string) => Promise.resolve(answers[name] ?? []);
    const policy = makeOutboundPolicy({ allowedHosts: ["*"], resolve });
    await assert.rejects(
      assertOutboundUrl("https://mixed.example/x", policy),
      blocked(/host 'mixed\.example' \(resolves to 10\.0\.0\.7\) are refused: private/),
    );
    await assert.rejects(assertOutboundUrl("https://v6.example/", policy), blocked(/fd00::1.*uniqueLocal/));
    await assert.rejects(assertOutboundUrl("https://meta.example/", policy), blocked(/cloud metadata/));
    await assert.rejects(assertOutboundUrl("https://mapped.example/", policy), blocked(/private/));
    await assert.rejects(assertOutboundUrl("https://nothing.example/", policy), OutboundResolveError);
    assert.equal((await assertOutboundUrl("https://public.example/a", policy)).pathname, "/a");
    // Allowed by name or by range.
    const byName = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["*.example"], resolve });
    await assertOutboundUrl("https://mixed.example/", byName);
    const byRange = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["10.0.0.0/24"], resolve });
    await assertOutboundUrl("https://mixed.example/", byRange);
    await assert.rejects(assertOutboundUrl("https://v6.example/", byRange), blocked(/uniqueLocal/));
  });

  test("the real resolver: a name that does not exist is a resolve error, not a refusal", async () => {
    const policy = makeOutboundPolicy({ allowedHosts: ["*"] });
    await assert.rejects(assertOutboundUrl("https://no-such-host.invalid/", policy), OutboundResolveError);
  });
});

describe("settings", () => {
  test("OUTBOUND_ALLOWED_HOSTS (HTTP_EXECUTOR_ALLOWED_HOSTS is its deprecated name) and OUTBOUND_ALLOWED_PRIVATE_HOSTS", async () => {
    const defaults = (await loadConfig({ env: {}, dotenvPath: false })).config;
    assert.deepEqual(defaults.OUTBOUND_ALLOWED_HOSTS, ["*"]);
    assert.deepEqual(defaults.OUTBOUND_ALLOWED_PRIVATE_HOSTS, []);
    const old = (await loadConfig({ env: { HTTP_EXECUTOR_ALLOWED_HOSTS: "a.example, b.example" }, dotenvPath: false }))
      .config;
    assert.deepEqual(old.OUTBOUND_ALLOWED_HOSTS, ["a.example", "b.example"]);
    const both = (await loadConfig({
      env: { HTTP_EXECUTOR_ALLOWED_HOSTS: "a.example", OUTBOUND_ALLOWED_HOSTS: "c.example" },
      dotenvPath: false,
    })).config;
    assert.deepEqual(both.OUTBOUND_ALLOWED_HOSTS, ["c.example"]);
    const priv = (await loadConfig({
      env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost,10.0.0.0/8,fd00::/8,*.internal.example" },
      dotenvPath: false,
    })).config;
    const policy = outboundPolicy(priv);
    assert.doesNotThrow(() => checkOutboundUrl("http://10.9.9.9/", policy));
    assert.doesNotThrow(() => checkOutboundUrl("http://[fd00::1]/", policy));
    await assert.rejects(
      loadConfig({ env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "10.0.0.0/40" }, dotenvPath: false }),
      (err: unknown) => err instanceof ConfigError && /OUTBOUND_ALLOWED_PRIVATE_HOSTS/.test(err.message),
    );
  });
});

describe("guardedFetch against a loopback server", () => {
  let server: Server;
  let base = "";
  const seen: Array<{ path: string; method: string; auth?: string }> = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push({ path: req.url ?? "", method: req.method ?? "", auth: req.headers.authorization });
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/to") {
        res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("where")! })
          .end();
      } else if (url.pathname === "/loop") {
        res.writeHead(302, { location: "/loop" }).end();
      } else if (url.pathname === "/big") {
        res.writeHead(200, { "content-length": "5000" }).end("y".repeat(5000));
      } else {
        res.writeHead(200, { "content-type": "text/plain" }).end(`ok ${req.method} ${url.pathname}`);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const allowed = () => makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["127.0.0.1"] });

  test("the loopback server is refused unless allowed, before any request is sent", async () => {
    seen.length = 0;
    await assert.rejects(
      guardedFetch(`${base}/hello`, {}, { policy: makeOutboundPolicy({ allowedHosts: ["*"] }) }),
      blocked(/127\.0\.0\.1 are refused: loopback/),
    );
    assert.equal(seen.length, 0);
    const res = await guardedFetch(`${base}/hello`, {}, { policy: allowed() });
    assert.equal(await res.text(), "ok GET /hello");
  });

  test("redirects are followed and each target is checked again", async () => {
    const hop = `${base}/to?where=${encodeURIComponent("/final")}`;
    const res = await guardedFetch(hop, {}, { policy: allowed() });
    assert.equal(await res.text(), "ok GET /final");
    // A redirect to the metadata address is refused although the first host was allowed.
    seen.length = 0;
    const toMetadata = `${base}/to?where=${encodeURIComponent("http://169.254.169.254/latest/meta-data/")}`;
    await assert.rejects(guardedFetch(toMetadata, {}, { policy: allowed() }), blocked(/cloud metadata/));
    // A redirect to a loopback name not in the allowed list.
    const toLocalhost = `${base}/to?where=${encodeURIComponent("http://localhost:1/")}`;
    await assert.rejects(guardedFetch(toLocalhost, {}, { policy: allowed() }), blocked(/localhost/));
    // A redirect to a host outside OUTBOUND_ALLOWED_HOSTS.
    const narrow = makeOutboundPolicy({ allowedHosts: ["127.0.0.1"], allowedPrivate: ["127.0.0.1"] });
    const away = `${base}/to?where=${encodeURIComponent("https://elsewhere.example/")}`;
    await assert.rejects(guardedFetch(away, {}, { policy: narrow }), blocked(/not in OUTBOUND_ALLOWED_HOSTS/));
    assert.equal(seen.length, 3, "only the three redirecting requests reached the server");
  });

  test("303 turns a POST into a GET; too many redirects are an error; maxRedirects 0 returns the 3xx", async () => {
    const see = `${base}/to?status=303&where=${encodeURIComponent("/after")}`;
    const res = await guardedFetch(see, { method: "POST", body: "x" }, { policy: allowed() });
    assert.equal(await res.text(), "ok GET /after");
    await assert.rejects(
      guardedFetch(`${base}/loop`, {}, { policy: allowed(), maxRedirects: 3 }),
      blocked(/more than 3 redirects/),
    );
    const raw = await guardedFetch(`${base}/loop`, {}, { policy: allowed(), maxRedirects: 0 });
    assert.equal(raw.status, 302);
    await raw.body?.cancel();
  });

  test("credentials are not sent on to another origin", async () => {
    seen.length = 0;
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    const other = `http://localhost:${port}/landing`;
    const hop = `${base}/to?where=${encodeURIComponent(other)}`;
    const policy = makeOutboundPolicy({ allowedHosts: ["*"], allowedPrivate: ["127.0.0.1", "localhost"] });
    const res = await guardedFetch(hop, { headers: { authorization: "Bearer abc" } }, { policy });
    await res.text();
    assert.equal(seen[0].auth, "Bearer abc");
    assert.equal(seen[1].path, "/landing");
    assert.equal(seen[1].auth, undefined);
  });

  test("readBodyLimited stops past the limit (declared or streamed); readTextLimited decodes", async () => {
    const small = await guardedFetch(`${base}/hello`, {}, { policy: allowed() });
    assert.equal(await readTextLimited(small, 100, "hello"), "ok GET /hello");
    const big = await guardedFetch(`${base}/big`, {}, { policy: allowed() });
    await assert.rejects(
      readBodyLimited(big, 1000, "the big body", "MAX_X"),
      (err: unknown) =>
        err instanceof ResponseTooLargeError &&
        err.message === "the big body is larger than 1000 bytes (the limit set by MAX_X); stopped reading",
    );
    // No declared length: counted while streaming.
    const streamed = new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(400));
        },
      }),
    );
    await assert.rejects(readBodyLimited(streamed, 1000, "endless"), ResponseTooLargeError);
    const node = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    await assert.rejects(readStreamLimited(node, 1000, "node stream"), /node stream is larger than 1000 bytes/);
    const ok = await readStreamLimited(Readable.from([Buffer.from("ab"), Buffer.from("c")]), 3, "tiny");
    assert.equal(new TextDecoder().decode(ok), "abc");
  });
});
