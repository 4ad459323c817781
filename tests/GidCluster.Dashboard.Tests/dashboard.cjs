// Drives Debian's Chromium through playwright-core against a running silo's dashboard.
// Run with the working directory tests/js (where playwright-core is installed). Inputs come from the
// environment (the token never goes on a command line); the result is one "RESULT {json}" line.
"use strict";
const path = require("path");
const { createRequire } = require("module");
const { chromium } = createRequire(path.join(process.cwd(), "package.json"))("playwright-core");

const url = process.env.GID_URL, token = process.env.GID_DASH_TOKEN, videos = JSON.parse(process.env.GID_VIDEOS);
const shots = process.env.GID_SHOTS, userData = process.env.GID_USER_DATA;
const result = { steps: [] };
const step = s => { result.steps.push(s); console.error("step: " + s); };
const T = 30000;

async function submit() {
  const r = await fetch(url + "/api/ingestion/jobs", {
    method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ videos, maxAttempts: 1 }), signal: AbortSignal.timeout(T),
  });
  if (r.status !== 201) throw new Error("submit answered " + r.status + ": " + await r.text());
  return (await r.json()).id;
}

async function jobRow(page, id) {
  return page.locator(`tr[data-job="${id}"]`).evaluate(e => ({ state: e.dataset.state, done: +e.dataset.done, videos: +e.dataset.videos }), undefined, { timeout: T });
}

async function waitFor(what, fn, limitMs) {
  const until = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error("timed out waiting for " + what);
    await new Promise(r => setTimeout(r, 150));
  }
}

(async () => {
  const browser = await chromium.launchPersistentContext(userData, {
    executablePath: "/usr/bin/chromium", headless: true, timeout: T, viewport: { width: 1500, height: 1250 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const urls = [];
  browser.on("request", r => urls.push(r.url()));
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(T);

    // 1. Without the token: only the login form, and the data routes refuse.
    await page.goto(url + "/dashboard", { timeout: T });
    await page.locator("#login").waitFor({ state: "visible" });
    result.dashboardHiddenWithoutToken = await page.locator("#dashboard").isHidden();
    result.jobRowsWithoutToken = await page.locator("tr[data-job]").count();
    result.unauthorizedStatus = await page.evaluate(() => fetch("api/dashboard/snapshot").then(r => r.status));
    result.orleansStatusWithoutToken = await page.evaluate(() => fetch("orleans/").then(r => r.status));
    result.orleansCountersStatusWithoutToken = await page.evaluate(() => fetch("orleans/DashboardCounters").then(r => r.status));
    step("refused without token");

    // 2. A wrong token is refused with a message.
    await page.fill("#token", "wrong-token-0123456789");
    await page.click("#login-button");
    await page.locator("#login-error").filter({ hasText: "refused" }).waitFor();
    result.wrongTokenMessage = await page.locator("#login-error").textContent();
    result.dashboardHiddenWithWrongToken = await page.locator("#dashboard").isHidden();
    step("refused wrong token");

    // 3. The right token: the dashboard opens and goes live.
    const job = await submit();
    result.job = job;
    await page.fill("#token", token);
    await page.click("#login-button");
    await page.locator("#dashboard").waitFor({ state: "visible" });
    await page.locator("#conn").filter({ hasText: "live" }).waitFor();
    step("loaded with token");

    // 4. The job shows as running, then its done count rises while the page stays open.
    const first = await waitFor("the job running", async () => { const r = await jobRow(page, job); return r.state === "running" ? r : null; }, 60000);
    result.firstSeen = first;
    const later = await waitFor("the done count to rise", async () => { const r = await jobRow(page, job); return r.done > first.done ? r : null; }, 120000);
    result.laterSeen = later;
    result.siloRows = await page.locator("tr[data-silo]").count();
    await page.screenshot({ path: path.join(shots, "dashboard-running.png"), fullPage: true });
    step("counts changed");

    // 4b. Orleans' dashboard, reached by the link, during the job: the silos and the video grain type with activations.
    result.orleansLink = await page.locator("#orleans-link").getAttribute("href");
    const orleans = await browser.newPage();
    orleans.setDefaultTimeout(T);
    const opened = await orleans.goto(new URL(result.orleansLink, page.url()).toString(), { timeout: T });
    result.orleansStatus = opened.status();
    const counters = await orleans.evaluate(() => fetch("DashboardCounters").then(r => r.json()));
    result.orleansSilos = (counters.hosts || []).length;
    result.orleansVideoActivations = (counters.simpleGrainStats || []).filter(g => /VideoGrain/.test(g.grainType)).reduce((n, g) => n + g.activationCount, 0);
    // The Grains page lists every grain type with its activations.
    await orleans.getByText("Grains", { exact: true }).first().click();
    await orleans.getByText(/VideoGrain/).first().waitFor({ timeout: 60000 }).then(() => { result.orleansPageShowsVideoGrain = true; }, () => { result.orleansPageShowsVideoGrain = false; });
    await orleans.screenshot({ path: path.join(shots, "orleans-dashboard.png"), fullPage: true });
    await orleans.close();
    step("orleans dashboard");
    const final = await waitFor("the job to finish", async () => { const r = await jobRow(page, job); return r.state === "succeeded" || r.state === "failed" ? r : null; }, 150000);
    result.final = final;
    result.kpiDone = await page.locator("#kpi-done").textContent();
    result.quarantinedRows = await page.locator("tr[data-quarantined]").allTextContents();
    result.spectrumPoints = await page.locator("[data-spectrum] polyline[data-series=x]").evaluate(e => e.getAttribute("points").trim().split(/\s+/).length, undefined, { timeout: T });
    result.runsText = await page.locator("#runs").textContent();
    result.lossCurves = await page.locator("#runs polyline[data-series=loss]").count();
    result.checkpointRows = await page.locator("tr[data-checkpoint]").count();
    result.connection = await page.locator("#conn").textContent();
    await page.waitForTimeout(2500); // one more live update, so the finished state is in the picture
    await page.screenshot({ path: path.join(shots, "dashboard.png"), fullPage: true });
    result.htmlHasToken = (await page.content()).includes(token);
    step("finished");

    // 5. Behind a proxy at /gid: every request the page makes must stay under the prefix.
    const proxied = [];
    const behind = await browser.newPage();
    behind.setDefaultTimeout(T);
    await behind.route("**/*", route => {
      const u = new URL(route.request().url());
      proxied.push(u.pathname);
      if (!u.pathname.startsWith("/gid/")) return route.abort();
      u.pathname = u.pathname.slice(4);
      return route.continue({ url: u.toString(), headers: { ...route.request().headers(), "x-forwarded-prefix": "/gid" } });
    });
    await behind.goto(url + "/gid/dashboard", { timeout: T });
    await behind.fill("#token", token);
    await behind.click("#login-button");
    await behind.locator(`tr[data-job="${job}"]`).waitFor();
    await behind.locator("[data-spectrum]").waitFor();
    result.proxiedPaths = proxied;
    result.baseHref = await behind.evaluate(() => document.baseURI);
    await behind.close();
    step("prefix");
  } finally {
    result.requestUrls = urls;
    await browser.close();
  }
  console.log("RESULT " + JSON.stringify(result));
})().catch(e => { console.log("RESULT " + JSON.stringify({ ...result, error: String(e && e.stack || e) })); process.exit(1); });
