// Browser test: the main command's JupyterLab (scripts/lab.sh) with the gostudy kernel, driven
// in headless Debian Chromium by playwright-core. It opens notebooks/00-welcome.ipynb (a
// copy, so the repository's notebook is never saved with outputs), runs all cells, waits for
// the feature-map figure and the live progress bar, checks Tab completion of `fmt.Pr`, and
// saves screenshots under test-artifacts/browser/ (git-ignored).
//
// Run: node kernel/tests/browser/welcome.mjs   (after scripts/setup.sh; needs /usr/bin/chromium)

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const artifacts = process.env.GOSTUDY_ARTIFACTS || path.join(root, "test-artifacts", "browser");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

function log(...args) {
  console.log(`[browser ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitForServer(url, deadlineMs, lab) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (lab.exitCode !== null) throw new Error(`JupyterLab exited with ${lab.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`JupyterLab did not answer ${url} within ${deadlineMs / 1000}s`);
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const nbdir = fs.mkdtempSync(path.join(os.tmpdir(), "gostudy-lab-"));
  fs.copyFileSync(path.join(root, "notebooks", "00-welcome.ipynb"), path.join(nbdir, "00-welcome.ipynb"));
  const port = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const labLog = fs.openSync(path.join(artifacts, "jupyterlab.log"), "w");
  const lab = spawn(path.join(root, "scripts", "lab.sh"),
    ["--no-browser", `--port=${port}`, "--ServerApp.ip=127.0.0.1", `--IdentityProvider.token=${token}`],
    { env: { ...process.env, GOSTUDY_SKIP_SETUP: "1", GOSTUDY_NOTEBOOK_DIR: nbdir }, detached: true, stdio: ["ignore", labLog, labLog] });
  let browser;
  const failures = [];
  try {
    await waitForServer(`http://127.0.0.1:${port}/api/status?token=${token}`, 120000, lab);
    log("JupyterLab is up on port", port);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${port}/lab/tree/00-welcome.ipynb?token=${token}`);
    await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 120000 });
    // The kernel is ready when the toolbar shows its name and the status is idle.
    await page.waitForSelector(".jp-Toolbar-kernelName:has-text('Go (gostudy)')", { timeout: 120000 });
    await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 120000 });
    log("notebook open, kernel idle");

    await page.click(".lm-MenuBar-itemLabel:text-is('Run')");
    await page.click(".lm-Menu-itemLabel:text-is('Run All Cells')");
    log("running all cells");

    // Watch the progress bar while it runs: it must show several states, rising to 40/40.
    const seen = [];
    const progressEnd = Date.now() + 300000;
    while (Date.now() < progressEnd) {
      const txt = await page.evaluate(() => {
        for (const el of document.querySelectorAll(".jp-OutputArea-output")) {
          if (el.innerText.includes("warming up")) return el.innerText;
        }
        return null;
      });
      if (txt && seen[seen.length - 1] !== txt) seen.push(txt);
      if (txt && txt.includes("40/40")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const counts = seen.map((t) => Number((t.match(/(\d+)\/40/) || [])[1])).filter((n) => !Number.isNaN(n));
    log("progress states seen:", counts.join(" "));
    if (counts.length < 3 || counts[counts.length - 1] !== 40 || counts.some((c, i) => i > 0 && c < counts[i - 1])) {
      failures.push(`progress bar did not update live to 40/40 (saw ${counts.join(",")})`);
    }
    const progressCell = page.locator(".jp-CodeCell", { hasText: "display.NewProgress" });
    await progressCell.screenshot({ path: path.join(artifacts, "progress.png") });

    // The feature-map figure: an SVG image in the output of the cell that builds it.
    const figCell = page.locator(".jp-CodeCell", { hasText: "plots.FeatureMaps{" });
    const figure = figCell.locator(".jp-OutputArea-output img, .jp-OutputArea-output svg").first();
    await figure.waitFor({ state: "visible", timeout: 300000 });
    await figCell.scrollIntoViewIfNeeded();
    const box = await figure.boundingBox();
    log("feature-map figure", box && `${Math.round(box.width)}x${Math.round(box.height)}`);
    if (!box || box.width < 300 || box.height < 100) failures.push(`feature-map figure too small: ${JSON.stringify(box)}`);
    await figCell.screenshot({ path: path.join(artifacts, "feature-maps.png") });

    // Wait for the whole run to finish (the last code cell prints the %help text).
    await page.locator(".jp-CodeCell", { hasText: "%help" }).locator(".jp-OutputArea-output:has-text('%%writefile')")
      .waitFor({ timeout: 300000 });
    await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 120000 });
    await page.screenshot({ path: path.join(artifacts, "welcome-run-all.png"), fullPage: false });

    // Tab completion in a new cell.
    await page.locator(".jp-Cell").last().click();
    await page.keyboard.press("Escape");
    await page.keyboard.press("b");
    await page.keyboard.press("Enter");
    await page.keyboard.type("fmt.Pr");
    // The editor needs a moment after a long run before key bindings settle; a person would
    // press Tab again, and so does the test (three tries).
    const item = page.locator(".jp-Completer-item", { hasText: "Println" });
    let shown = false;
    for (let attempt = 0; attempt < 3 && !shown; attempt++) {
      await page.waitForTimeout(1000);
      await page.keyboard.press("Tab");
      try {
        await item.first().waitFor({ state: "visible", timeout: 30000 });
        shown = true;
      } catch {
        log("no completion popup yet (attempt", attempt + 1, ")");
      }
    }
    if (shown) log("completion shows Println");
    else failures.push("Tab completion of fmt.Pr did not show Println");
    await page.screenshot({ path: path.join(artifacts, "completion.png") });
  } catch (e) {
    failures.push(String(e && e.stack || e));
  } finally {
    if (browser) await browser.close();
    try {
      process.kill(-lab.pid, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 3000));
    try {
      process.kill(-lab.pid, "SIGKILL");
    } catch {
      // exited
    }
    fs.rmSync(nbdir, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error("browser test FAILED:\n  " + failures.join("\n  "));
    console.error("screenshots and the JupyterLab log are in", artifacts);
    process.exit(1);
  }
  log("browser test passed; screenshots in", artifacts);
}

main();
