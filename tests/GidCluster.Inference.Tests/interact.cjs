// Drives Debian's Chromium through playwright-core against `gid interact`'s page: waits for frames at rest,
// drags a point of the picture and lets go, then samples the frames' motion until the scene settles.
// Run with the working directory tests/js; input GID_URL; output one "RESULT {json}" line.
"use strict";
const path = require("path");
const { createRequire } = require("module");
const { chromium } = createRequire(path.join(process.cwd(), "package.json"))("playwright-core");

const url = process.env.GID_URL, userData = process.env.GID_USER_DATA;
const T = 60000;
const sleep = ms => new Promise(r => setTimeout(r, ms));

(async () => {
  const browser = await chromium.launchPersistentContext(userData, {
    executablePath: "/usr/bin/chromium", headless: true, timeout: T, viewport: { width: 800, height: 600 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(T);
    await page.goto(url, { timeout: T });
    const stats = () => page.evaluate(() => window.gidStats);
    const until = async (what, fn, ms) => { const end = Date.now() + ms; for (;;) { const v = await fn(); if (v) return v; if (Date.now() > end) throw new Error("timed out waiting for " + what); await sleep(100); } };
    await until("first frames", async () => (await stats()).frames >= 3, T);
    const rest = (await stats()).samples.slice(-1)[0].motion;

    const box = await page.locator("#view").boundingBox();
    const [x, y] = [box.x + box.width * 0.5, box.y + box.height * 0.5];
    await page.mouse.move(x, y);
    await page.mouse.down();
    for (let i = 1; i <= 5; i++) { await page.mouse.move(x + 4 * i, y - 2 * i); await sleep(60); }
    await sleep(700);
    await page.mouse.up();
    const releasedAt = await page.evaluate(() => performance.now());

    // Sample until the motion has stayed down for a whole second (an oscillation passes through zero
    // on its way, so one small frame is not enough), or 40 s.
    const quietSecond = s => s.filter(q => q.at > s[s.length - 1].at - 1000);
    await until("the scene to settle", async () => {
      const s = (await stats()).samples;
      const last = s[s.length - 1];
      return last.at > releasedAt + 3000 && quietSecond(s).every(q => q.motion < 0.05);
    }, 40000);
    const samples = (await stats()).samples.filter(s => s.at >= releasedAt);
    const moving = samples.filter(s => s.motion >= 0.05);
    const lastMoving = moving.length ? moving[moving.length - 1].at - releasedAt : 0;
    const frames = samples.length, seconds = (samples[samples.length - 1].at - samples[0].at) / 1000;
    console.log("RESULT " + JSON.stringify({
      rest, peak: Math.max(...samples.map(s => s.motion)), movingForMs: lastMoving, finalMotion: Math.max(...quietSecond(samples).map(s => s.motion)),
      framesAfterRelease: frames, fps: frames / Math.max(seconds, 1e-3), renderMs: samples.map(s => s.renderMs).sort((a, b) => a - b)[Math.floor(frames / 2)],
    }));
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(e); process.exit(1); });
