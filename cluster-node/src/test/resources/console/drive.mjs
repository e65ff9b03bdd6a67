// Drives the web console of a running node in Debian's chromium (playwright-core, headless) the way a user
// would, and prints what it saw as one JSON object; ConsoleIT asserts on it. Screenshots go to OUT_DIR.
// Usage: node drive.mjs BASE_URL ADMIN_TOKEN OUT_DIR PROMPT MAX_TOKENS MODEL CANARY_VERSION STREAM_MODEL
// (STREAM_MODEL: a slower model, whose tokens arrive far enough apart to watch the text grow.)
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [base, token, outDir, prompt, maxTokens, model, canary, streamModel] = process.argv.slice(2);
const r = { steps: [], pageErrors: [], consoleErrors: [], external: [], failedResponses: [] };
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "troupe-console-chromium-"));
const T = 30000;

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(T);
page.on("pageerror", e => r.pageErrors.push(String(e)));
// API refusals the test provokes are logged by chromium as failed loads: those are listed apart, by URL.
page.on("console", m => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) r.consoleErrors.push(m.text()); });
page.on("response", res => { if (res.status() >= 400) r.failedResponses.push(`${res.status()} ${res.request().method()} ${res.url().slice(base.length)}`); });
// Everything the page loads must come from the node itself (no CDN).
page.on("request", req => { if (!req.url().startsWith(base) && !req.url().startsWith("data:")) r.external.push(req.url()); });

const shot = name => page.screenshot({ path: path.join(outDir, name + ".png"), fullPage: false });
const text = sel => page.locator(sel).innerText();
async function step(name, fn) {
  r.steps.push(name);
  await fn();
}
async function go(view) {
  await page.evaluate(v => { location.hash = v; }, view);
  await page.locator(`#view-${view}`).waitFor({ state: "visible" });
}
const overflowing = () => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);

try {
  await step("open read-only", async () => {
    const res = await page.goto(base + "/console");
    r.status = res.status();
    r.csp = res.headers()["content-security-policy"] || "";
    await page.locator("#mode").filter({ hasText: "Read-only" }).waitFor();
    r.readOnlyMode = await text("#mode");
    await page.locator("#members td.empty").filter({ hasText: "admin token" }).waitFor();
    r.readOnlyCluster = await text("#members");
    await go("models");
    await page.locator("#model-pick option").first().waitFor({ state: "attached" });
    r.readOnlyModels = await page.locator("#model-pick option").allTextContents();
    r.readOnlyDeployHidden = await page.locator("#deploy-form").isHidden();
    r.readOnlyRollbackHidden = await page.locator("#rollback-form").isHidden();
  });

  await step("labels", async () => {
    // Every control needs an accessible name: a <label>, aria-label(ledby) or (for buttons) its text.
    r.unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea, button")]
      .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby")
        && !(e.tagName === "BUTTON" && e.textContent.trim()))
      .map(e => e.id || e.outerHTML));
  });

  await step("token", async () => {
    await page.fill("#token", token);
    await page.fill("#actor", "console-test");
    await page.click("#token-use");
    await page.locator("#mode").filter({ hasText: "Admin token set" }).waitFor();
    r.adminMode = await text("#mode");
    r.tokenInSession = await page.evaluate(t => sessionStorage.getItem("troupe.adminToken") === t, token);
    r.localStorageItems = await page.evaluate(() => localStorage.length);
    r.cookies = (await context.cookies()).length;
  });

  await step("cluster", async () => {
    await go("cluster");
    const replica = page.locator(`#replicas tr[data-replica="${model}@v1"][data-state="ready"]`);
    await replica.waitFor();
    r.replicaRow = await replica.innerText();
    r.membersText = await text("#members");
    r.slicesText = await text("#slices");
    r.overflow1280 = {};
    r.overflow1280.cluster = await overflowing();
    await shot("cluster");
  });

  await step("playground", async () => {
    await go("playground");
    // The slower model first: the page shows the text growing as the tokens arrive.
    await page.locator(`#pg-model option[value="${streamModel}"]`).waitFor({ state: "attached" });
    await page.selectOption("#pg-model", streamModel);
    await page.check("#pg-kind-completion");
    await page.fill("#pg-temperature", "0");
    await page.fill("#pg-max-tokens", "40");
    await page.fill("#pg-prompt", prompt);
    await page.evaluate(() => {
      window.__growth = [];
      const out = document.getElementById("pg-output");
      new MutationObserver(() => window.__growth.push([performance.now(), out.textContent.length]))
        .observe(out, { childList: true, characterData: true, subtree: true });
    });
    await page.click("#pg-send");
    await page.locator('#pg-output[data-state="done"]').waitFor({ timeout: 60000 });
    const growth = await page.evaluate(() => window.__growth);
    r.streamDistinctLengths = new Set(growth.map(g => g[1])).size;
    r.streamSpanMs = growth.length ? growth[growth.length - 1][0] - growth[0][0] : 0;
    r.streamStats = await text("#pg-stats");
    // The reference model, greedy: the text must be the API's.
    await page.locator(`#pg-model option[value="${model}"]`).waitFor({ state: "attached" });
    await page.selectOption("#pg-model", model);
    await page.fill("#pg-max-tokens", String(maxTokens));
    await page.click("#pg-send");
    await page.locator('#pg-output[data-state="done"]').waitFor({ timeout: 60000 });
    r.playgroundText = await page.locator("#pg-output").textContent();
    r.playgroundStats = await text("#pg-stats");
    r.playgroundPieces = Number(await page.locator("#pg-output").getAttribute("data-pieces"));
    r.overflow1280.playground = await overflowing();
    await shot("playground");
    // A chat: the reply joins the conversation.
    await page.check("#pg-kind-chat");
    await page.fill("#pg-max-tokens", "20");
    await page.fill("#pg-prompt", "Tell me about a dog.");
    await page.click("#pg-send");
    await page.locator('#pg-output[data-state="done"]').waitFor({ timeout: 60000 });
    r.chatReply = await page.locator("#pg-output").textContent();
    r.chatTurns = await page.locator("#pg-chat li").allInnerTexts();
    await page.click("#pg-clear");
    await page.check("#pg-kind-completion");
  });

  await step("models", async () => {
    await go("models");
    await page.locator(`#model-pick option[value="${model}"]`).waitFor({ state: "attached" });
    await page.selectOption("#model-pick", model);
    await page.locator(`#versions tr[data-version="${canary}"]`).waitFor();
    // Deploy the registered canary from the console and wait until it is ready here.
    await page.selectOption("#deploy-version", canary);
    await page.click("#deploy-form button[type=submit]");
    await page.locator(`#versions tr[data-version="${canary}"][data-phase="ready"]`).waitFor({ timeout: 90000 });
    await page.locator("#history li[data-type=DeploymentRolledOut]").first().waitFor();
    // A refused change shows the server's own message.
    await page.locator(`#traffic-${canary}`).waitFor();
    await page.fill("#traffic-v1", "50");
    await page.fill(`#traffic-${canary}`, "10");
    await page.click("#traffic-form button[type=submit]");
    await page.locator("#error").waitFor({ state: "visible" });
    r.trafficError = await text("#error");
    const api = await fetch(base + `/admin/models/${model}/traffic`, {
      method: "PUT", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify({ weights: { v1: 50, [canary]: 10 } }),
    });
    r.trafficApiStatus = api.status;
    r.trafficApiMessage = (await api.json()).error.message;
    // The canary: half the traffic.
    await page.fill(`#traffic-${canary}`, "50");
    await page.click("#traffic-form button[type=submit]");
    await page.locator("#history li[data-type=TrafficSet]").first().waitFor();
    await page.locator("#notice").filter({ hasText: "Traffic set" }).waitFor();
    r.trafficRow = await text(`#versions tr[data-version="${canary}"]`);
    // A rollback asks first; cancelling changes nothing.
    await page.click("#rollback");
    await page.locator("#confirm").waitFor({ state: "visible" });
    r.confirmText = await text("#confirm");
    await page.click("#confirm-cancel");
    await page.locator("#confirm").waitFor({ state: "hidden" });
    r.rolledBackAfterCancel = await page.locator("#history li[data-type=RolledBack]").count();
    // A reason is required.
    await page.click("#rollback");
    await page.click("#confirm-ok");
    r.confirmStillOpenWithoutReason = await page.locator("#confirm").isVisible();
    await page.fill("#confirm-reason", "canary p99 too high");
    await page.click("#confirm-ok");
    const entry = page.locator("#history li[data-type=RolledBack]").first();
    await entry.waitFor();
    r.rollbackEntry = await entry.innerText();
    r.historyTypes = await page.locator("#history li").evaluateAll(ls => ls.map(l => l.dataset.type));
    r.liveAfterRollback = await text(`#versions tr[data-version="v1"]`);
    r.overflow1280.models = await overflowing();
    await shot("models");
  });

  await step("metrics", async () => {
    await go("metrics");
    // Traffic while the view is open (before any tenant exists: no key needed): the charts follow it live.
    const until = Date.now() + 8000;
    const load = (async () => {
      let sent = 0;
      while (Date.now() < until) {
        const res = await fetch(base + "/v1/completions", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ model: streamModel, prompt, max_tokens: 40, temperature: 0.8 }),
        });
        await res.text();
        sent++;
      }
      return sent;
    })();
    const busy = page.locator(`#metrics-now tr[data-model="${streamModel}"] td:nth-child(2)`).filter({ hasNotText: /^(-|0\.0)$/ });
    await busy.waitFor({ timeout: 20000 });
    r.metricsBusyTps = Number(await busy.innerText());
    r.metricsRequests = await load;
    await page.waitForTimeout(2500);
    await page.locator(`#metrics-now tr[data-model="${model}"]`).waitFor();
    r.metricsRow = await text(`#metrics-now tr[data-model="${streamModel}"]`);
    r.chartLines = await page.locator(".charts svg path").count();
    r.overflow1280.metrics = await overflowing();
    await shot("metrics");
  });

  await step("tenants", async () => {
    await go("tenants");
    await page.fill("#tc-id", "acme");
    await page.click("#tenant-create button[type=submit]");
    await page.locator('#tenants tr[data-tenant="acme"]').waitFor();
    await page.locator("#notice").filter({ hasText: "acme created" }).waitFor();
    await page.click("#key-issue");
    await page.locator("#new-key").waitFor({ state: "visible" });
    r.newKey = await page.inputValue("#new-key-value");
    r.newKeyNotice = await text("#new-key");
    r.keyIdShown = await page.locator("#keys tbody tr[data-key]").first().getAttribute("data-key");
    r.keyInStorage = await page.evaluate(k => JSON.stringify({ ...sessionStorage }).includes(k) || JSON.stringify({ ...localStorage }).includes(k), r.newKey);
    await shot("tenants-new-key");
    await page.click("#new-key-done");
    r.keyInPageAfterDone = (await page.content()).includes(r.newKey);
    await page.reload();
    await page.locator('#tenants tr[data-tenant="acme"]').waitFor();
    r.keyInPageAfterReload = (await page.content()).includes(r.newKey);
    r.adminModeAfterReload = await text("#mode");
    // The key works on /v1 (a real client), and the usage shows up in the chart.
    const c = await fetch(base + "/v1/completions", {
      method: "POST", headers: { "Authorization": "Bearer " + r.newKey, "Content-Type": "application/json" },
      body: JSON.stringify({ model, prompt, max_tokens: 8, temperature: 0 }),
    });
    r.keyCompletionStatus = c.status;
    await page.locator("#usage tbody tr td").filter({ hasText: model }).first().waitFor({ timeout: 30000 });
    r.usageText = await text("#usage");
    r.usageBars = await page.locator("#usage-chart rect").count();
    r.overflow1280.tenants = await overflowing();
    await page.screenshot({ path: path.join(outDir, "tenants.png"), fullPage: true });   // the usage chart is below the fold
    await page.click(`#keys tr[data-key="${r.keyIdShown}"] button`);
    await page.click("#confirm-ok");
    await page.locator(`#keys tr[data-key="${r.keyIdShown}"]`).filter({ hasText: "revoked" }).waitFor();
    r.keyRowAfterRevoke = await text(`#keys tr[data-key="${r.keyIdShown}"]`);
  });

  await step("narrow", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    r.overflowNarrow = {};
    for (const v of ["cluster", "models", "tenants", "playground", "metrics"]) {
      await go(v);
      await page.waitForTimeout(300);
      r.overflowNarrow[v] = await overflowing();
      if (r.overflowNarrow[v]) {
        r.wideElements = r.wideElements || {};
        r.wideElements[v] = await page.evaluate(() => [...document.querySelectorAll("main *")]
          .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest(".scroll"))
          .slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className));
      }
    }
    await go("models");
    await page.locator(`#versions tr[data-version="v1"]`).waitFor();
    await shot("narrow-models");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("forget token", async () => {
    await page.click("#token-forget");
    await page.locator("#mode").filter({ hasText: "Read-only" }).waitFor();
    r.tokenAfterForget = await page.evaluate(() => sessionStorage.getItem("troupe.adminToken"));
    r.deployHiddenAfterForget = await page.locator("#deploy-form").isHidden();
  });
  r.ok = true;
} catch (e) {
  r.ok = false;
  r.failure = String(e && e.stack || e);
  r.errorShown = await page.locator("#error").textContent().catch(() => null);
  await shot("failure").catch(() => {});
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(r));
process.exit(r.ok ? 0 : 1);
