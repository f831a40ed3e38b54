// The worker's managed-identity tokens go only to hosts of their own Azure service or hosts the operator lists
// (MANAGED_IDENTITY_ALLOWED_HOSTS); keys a pipeline passes itself go wherever its author sends them (issue 27 item 7).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { managedIdentityRefusal, operatorTokenHosts } from "../../src/net/token-hosts.ts";
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { defaultRegistry } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

configureLogging({ level: "error" });
const logger = new Logger();

describe("managedIdentityRefusal (pure)", () => {
  test("each service's own domains, public and sovereign clouds, over https", () => {
    const allowed: Array<[string, Parameters<typeof managedIdentityRefusal>[1]]> = [
      ["https://res.openai.azure.com/", "cognitive_services"],
      ["https://res.cognitiveservices.azure.com", "cognitive_services"],
      ["https://proj.services.ai.azure.com/api", "cognitive_services"],
      ["https://RES.OpenAI.Azure.com.", "cognitive_services"],
      ["https://res.openai.azure.us", "cognitive_services"],
      ["https://res.cognitiveservices.azure.cn", "cognitive_services"],
      ["https://svc.search.windows.net", "ai_search"],
      ["https://svc.search.azure.us", "ai_search"],
      ["https://acct.documents.azure.com:443/", "cosmos_db"],
    ];
    for (const [url, service] of allowed) assert.equal(managedIdentityRefusal(url, service, []), undefined, url);
  });

  test("anything else is refused, with the reason", () => {
    const refused: Array<[string, Parameters<typeof managedIdentityRefusal>[1], RegExp]> = [
      ["https://attacker.example", "cognitive_services", /not to 'attacker\.example'/],
      ["https://openai.azure.com", "cognitive_services", /not to 'openai\.azure\.com'/], // the bare suffix is no resource
      ["https://res.openai.azure.com.attacker.example", "cognitive_services", /not to 'res\.openai\.azure\.com\./],
      ["https://evilopenai.azure.com", "cognitive_services", /not to/],
      ["https://127.0.0.1:8443", "cognitive_services", /not to '127\.0\.0\.1'/],
      ["https://svc.search.windows.net", "cognitive_services", /goes only to Azure AI \(Cognitive/], // wrong service
      ["https://res.openai.azure.com", "ai_search", /goes only to Azure AI Search hosts/],
      ["https://res.openai.azure.com", "cosmos_db", /goes only to Cosmos DB hosts/],
      ["http://res.openai.azure.com", "cognitive_services", /only over https, not to http:\/\/res\.openai\.azure\.com/],
      ["not a url", "cognitive_services", /not a URL/],
    ];
    for (const [url, service, reason] of refused) {
      const refusal = managedIdentityRefusal(url, service, []);
      assert.ok(refusal, url);
      assert.match(refusal, reason, url);
    }
  });

  test("hosts the operator lists: names, *.suffix, host:port; plain http allowed there (local fakes)", () => {
    assert.equal(managedIdentityRefusal("http://127.0.0.1:8080", "cognitive_services", ["127.0.0.1"]), undefined);
    assert.equal(managedIdentityRefusal("https://gw.corp.example/ai", "ai_search", ["*.corp.example"]), undefined);
    assert.equal(managedIdentityRefusal("https://gw.example:8443", "cosmos_db", ["gw.example:8443"]), undefined);
    assert.ok(managedIdentityRefusal("https://gw.example:9443", "cosmos_db", ["gw.example:8443"]));
    assert.ok(managedIdentityRefusal("https://corp.example", "ai_search", ["*.corp.example"]));
    // "*" is no wildcard for tokens (the setting refuses it too).
    assert.ok(managedIdentityRefusal("https://attacker.example", "ai_search", ["*"]));
  });

  test("the operator's hosts: MANAGED_IDENTITY_ALLOWED_HOSTS and the host of AZURE_OPENAI_ENDPOINT", () => {
    assert.deepEqual(
      operatorTokenHosts({
        MANAGED_IDENTITY_ALLOWED_HOSTS: ["gw.example"],
        AZURE_OPENAI_ENDPOINT: "https://apim.example:8443/openai",
      }),
      ["gw.example", "apim.example:8443"],
    );
    assert.deepEqual(operatorTokenHosts({ MANAGED_IDENTITY_ALLOWED_HOSTS: [], AZURE_OPENAI_ENDPOINT: "" }), []);
  });

  test("the setting accepts host lists and refuses '*'", async () => {
    const ok = await loadConfig({
      env: { MANAGED_IDENTITY_ALLOWED_HOSTS: "a.example, *.b.example,c:8443" },
      dotenvPath: false,
    });
    assert.deepEqual(ok.config.MANAGED_IDENTITY_ALLOWED_HOSTS, ["a.example", "*.b.example", "c:8443"]);
    await assert.rejects(
      loadConfig({ env: { MANAGED_IDENTITY_ALLOWED_HOSTS: "*" }, dotenvPath: false }),
      /MANAGED_IDENTITY_ALLOWED_HOSTS.*'\*' is not accepted/,
    );
  });
});

describe("pipeline check: no managed-identity token for an endpoint outside the service's domains", () => {
  const ATTACKER = "https://attacker.example";
  const SEARCH = { ai_search_index: "idx", content_to_index_mappings: { id: "id" } };
  const families: Array<
    [type: string, setting: string, settings: Record<string, unknown>, key: Record<string, unknown>]
  > = [
    ["azure_openai_agent", "endpoint", { endpoint: ATTACKER, deployment_name: "d" }, { api_key: "k-0123456789" }],
    ["text_summarizer", "endpoint", { endpoint: ATTACKER, deployment_name: "d" }, { api_key: "k-0123456789" }],
    ["azure_openai_embeddings", "endpoint", { endpoint: ATTACKER, deployment_name: "e" }, {
      api_key: "k-0123456789",
    }],
    ["azure_document_intelligence_extractor", "doc_intelligence_endpoint", { doc_intelligence_endpoint: ATTACKER }, {
      doc_intelligence_credential_key: "k-0123456789",
    }],
    ["azure_content_understanding_extractor", "content_understanding_endpoint", {
      content_understanding_endpoint: ATTACKER,
      content_understanding_model_mappings: { "gpt-4.1": "gpt-4.1" },
    }, { content_understanding_subscription_key: "k-0123456789" }],
    ["ai_search_index_output", "ai_search_endpoint", { ai_search_endpoint: ATTACKER, ...SEARCH }, {
      ai_search_api_key: "k-0123456789",
    }],
    ["cosmos_db_lookup", "cosmos_endpoint", {
      cosmos_endpoint: ATTACKER,
      credential_type: "default_azure_credential",
      cosmos_database: "db",
      cosmos_container: "c",
      lookup_mode: "point_read",
      field_mappings: { id: "doc_id", partition_key: "doc_id" },
    }, { credential_type: "key", cosmos_key: "a2V5LWZvci10ZXN0cw==" }],
  ];

  const check = async (type: string, settings: Record<string, unknown>, env: Record<string, string> = {}) => {
    const { config } = await loadConfig({ env, dotenvPath: false });
    const yaml = `pipeline:
  name: p
  executors:
    - id: ex
      type: ${type}
      settings: ${JSON.stringify(settings)}
  execution_sequence: [ex]
`;
    return checkPipelineYaml(yaml, { registry: defaultRegistry(), deps: { config, logger }, env: {} })[0];
  };

  for (const [type, setting, settings, key] of families) {
    test(`${type}: ${setting}`, async () => {
      const refused = await check(type, settings);
      assert.equal(refused.valid, false, type);
      assert.equal(refused.problems.length, 1, JSON.stringify(refused.problems));
      assert.equal(refused.problems[0].executor, "ex");
      assert.equal(refused.problems[0].setting, setting);
      assert.match(
        refused.problems[0].message,
        new RegExp(
          `^invalid settings: ${setting}: a managed-identity token goes only to .* not to 'attacker\\.example'`,
        ),
      );
      // The operator can list the host; a key of the author's own goes anywhere the outbound policy allows.
      const listed = await check(type, settings, { MANAGED_IDENTITY_ALLOWED_HOSTS: "attacker.example" });
      assert.deepEqual(listed.problems, [], type);
      const keyed = await check(type, { ...settings, ...key });
      assert.deepEqual(keyed.problems, [], type);
    });
  }

  test("the search service named by ai_search_account is one of Search's hosts", async () => {
    const named = await check("ai_search_index_output", { ai_search_account: "svc", ...SEARCH });
    assert.deepEqual(named.problems, []);
  });

  test("AZURE_OPENAI_ENDPOINT, the operator's own, may get a token wherever it points", async () => {
    const settings = { deployment_name: "d" };
    const env = { AZURE_OPENAI_ENDPOINT: "https://apim.corp.example/" };
    assert.deepEqual((await check("azure_openai_agent", settings, env)).problems, []);
    // ... but a pipeline naming another host does not inherit that.
    const other = await check("azure_openai_agent", { ...settings, endpoint: ATTACKER }, env);
    assert.equal(other.problems[0].setting, "endpoint");
  });
});
