// Browser test: every notebook in notebooks/ (the welcome tour and every lesson, new ones
// included) opened in the main command's JupyterLab (scripts/lab.sh) with the gostudy kernel,
// driven in headless Debian Chromium at 1400×900 by playwright-core, at the test budget
// (GOSTUDY_BUDGET=test). Each notebook is run once, then checked from the rendered page in
// JupyterLab's light theme and again in its dark theme (switched without running again):
//
//   figures     every raster fills the data rectangle its axes label (its painted box, as the
//               browser lays it out, against the area the figure declares, or at least its own
//               box); no text of a figure leaves the figure or overlaps another of its texts;
//               every text reads against what is really under it (contrast ≥ 4.5:1)
//   progress    every bar ends in a final state; a bar that says done reached its total
//   tables      none is wider than the output area unless it scrolls in a box of its own
//   text        text in outputs reads against its background (≥ 4.5:1)
//   messages    no stderr box from the backend banner; no cell failed unless tagged
//               raises-exception; every cell ran
//   hygiene     opening a notebook does not mark it modified; opening and closing notebooks
//               leaves `git status` clean; after running and saving them `git diff` is empty
//               (outputs filtered) and nothing untracked appears (Untitled*.ipynb ignored)
//   welcome     the progress bar updates live, Tab completes `fmt.Pr`
//
// The notebooks run from a scratch git repository holding copies of notebooks/,
// .gitattributes and .gitignore, with the notebook filter configured as scripts/setup.sh does,
// so the repository's own notebooks are never touched. Screenshots of every figure in both
// themes, and the JupyterLab log, go to test-artifacts/browser/ (git-ignored).
//
// Run: node kernel/tests/browser/notebooks.mjs   (after scripts/setup.sh; needs /usr/bin/chromium)
// GOSTUDY_BROWSER_NOTEBOOKS=00,04 runs only the notebooks whose names start so.
// GOSTUDY_BROWSER_RUNS=dir makes the lessons reuse the finished runs in dir (scripts/test.sh
// passes the runs its notebook tests trained, so figures and progress bars are checked on the
// reuse path a reader meets after a restart, and CI does not train everything twice).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { notebookChecks } from "./checks.mjs";
import { artifacts, launchChromium, root, startLab } from "./lab.mjs";

const only = (process.env.GOSTUDY_BROWSER_NOTEBOOKS || "").split(",").map((s) => s.trim()).filter(Boolean);
const runTimeoutMs = Number(process.env.GOSTUDY_BROWSER_RUN_TIMEOUT || 20 * 60) * 1000;
const themes = [
  { name: "light", label: "JupyterLab Light" },
  { name: "dark", label: "JupyterLab Dark" },
];

const started = Date.now();
function log(...args) {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  console.log(`[browser ${s}s]`, ...args);
}

function git(dir, ...args) {
  return execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" });
}

// scratchRepo copies the notebooks and the git attributes and ignores into a new git
// repository, configures the notebook filter the way setup.sh does, and commits.
function scratchRepo() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gostudy-browser-"));
  fs.mkdirSync(path.join(dir, "notebooks"));
  for (const f of fs.readdirSync(path.join(root, "notebooks"))) {
    if (f.endsWith(".ipynb")) fs.copyFileSync(path.join(root, "notebooks", f), path.join(dir, "notebooks", f));
  }
  for (const f of [".gitattributes", ".gitignore"]) {
    if (fs.existsSync(path.join(root, f))) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  }
  git(dir, "init", "-q");
  const filter = path.join(root, "scripts", "notebook-filter.sh");
  if (fs.existsSync(filter)) {
    execFileSync(filter, [dir, path.join(root, ".venv", "bin", "nbstripout")]);
  }
  git(dir, "add", "-A");
  git(dir, "-c", "user.name=browser test", "-c", "user.email=test@localhost", "commit", "-q", "-m", "notebooks");
  return dir;
}

// Every notebook in notebooks/, in order; GOSTUDY_BROWSER_NOTEBOOKS narrows them.
function notebookNames() {
  return fs.readdirSync(path.join(root, "notebooks"))
    .filter((f) => f.endsWith(".ipynb"))
    .filter((f) => only.length === 0 || only.some((p) => f.startsWith(p)))
    .sort();
}

async function setTheme(page, theme) {
  const want = theme.label;
  if (await page.evaluate(() => document.body.dataset.jpThemeName) === want) return;
  await page.click(".lm-MenuBar-itemLabel:text-is('Settings')");
  await page.hover(".lm-Menu-itemLabel:text-is('Theme')");
  await page.click(`.lm-Menu-itemLabel:text-is('${want}')`);
  await page.waitForFunction((w) => document.body.dataset.jpThemeName === w, want, { timeout: 30000 });
  // The theme's CSS variables apply on the next frames.
  await page.waitForTimeout(1000);
}

async function openNotebook(page, base, token, name) {
  await page.goto(`${base}/lab/tree/notebooks/${encodeURIComponent(name)}?token=${token}&reset`);
  await page.waitForSelector(".jp-NotebookPanel .jp-Notebook .jp-Cell", { timeout: 120000 });
  await page.waitForSelector(".jp-NotebookPanel .jp-Toolbar-kernelName:has-text('Go (gostudy)')", { timeout: 120000 });
  await page.waitForSelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 180000 });
}

// becomesDirty watches the notebook's tab for a few seconds after its kernel is ready:
// JupyterLab applies the kernel's info (language_info) just after the kernel goes idle.
async function becomesDirty(page, name) {
  for (let i = 0; i < 20; i++) {
    if (await dirtyTab(page, name)) return true;
    await page.waitForTimeout(250);
  }
  return false;
}

// dirtyTab reports whether the notebook's tab says it has unsaved changes.
async function dirtyTab(page, name) {
  return page.evaluate((n) => {
    for (const tab of document.querySelectorAll(".lm-DockPanel-tabBar .lm-TabBar-tab")) {
      if (tab.textContent.includes(n)) return tab.classList.contains("jp-mod-dirty");
    }
    return null;
  }, name);
}

// closeNotebook closes the notebook and shuts its kernel down; when JupyterLab asks whether to
// save, it answers save (what a reader does after running a lesson) and reports it asked.
async function closeNotebook(page) {
  await page.click(".lm-MenuBar-itemLabel:text-is('File')");
  await page.click(".lm-Menu-itemLabel:has-text('Close and Shut Down Notebook')");
  let asked = false;
  for (let i = 0; i < 20; i++) {
    const dialog = page.locator(".jp-Dialog");
    if (await dialog.count()) {
      const text = await dialog.innerText();
      asked = /save|unsaved/i.test(text);
      const save = dialog.locator("button:has-text('Save')");
      const ok = dialog.locator("button.jp-mod-accept");
      if (await save.count()) await save.first().click();
      else await ok.first().click();
      await page.waitForTimeout(500);
      continue;
    }
    if (!(await page.locator(".jp-NotebookPanel").count())) break;
    await page.waitForTimeout(250);
  }
  return asked;
}

// runAll runs every cell and waits until none is queued or running, watching progress
// bars while it runs (their live states, for the welcome notebook's check).
async function runAll(page) {
  await page.click(".lm-MenuBar-itemLabel:text-is('Run')");
  await page.click(".lm-Menu-itemLabel:text-is('Run All Cells')");
  const seen = new Map(); // bar label → texts seen, in order
  const end = Date.now() + runTimeoutMs;
  let quietSince = 0;
  while (Date.now() < end) {
    const st = await page.evaluate(() => {
      const prompts = [...document.querySelectorAll(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")].map((p) => p.textContent);
      const bars = [...document.querySelectorAll(".jp-NotebookPanel .gostudy-progress")].map((b) => b.innerText);
      const status = document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator")?.dataset.status;
      return { busy: prompts.some((p) => p.includes("*")), status, bars };
    });
    for (const b of st.bars) {
      const key = b.split(/\s+/)[0];
      const list = seen.get(key) || [];
      if (list[list.length - 1] !== b) list.push(b);
      seen.set(key, list);
    }
    if (!st.busy && st.status === "idle") {
      if (!quietSince) quietSince = Date.now();
      if (Date.now() - quietSince > 2500) return { seen, timedOut: false };
    } else {
      quietSince = 0;
    }
    await page.waitForTimeout(100);
  }
  return { seen, timedOut: true };
}

// Checks only some notebooks have: the welcome tour's live progress bar and completion.
async function welcomeChecks(page, run, fail) {
  const states = (run.seen.get("warming") || []).map((t) => Number((t.match(/(\d+)\/40/) || [])[1])).filter((n) => !Number.isNaN(n));
  log("welcome: progress states seen:", states.join(" "));
  if (states.length < 3 || states[states.length - 1] !== 40 || states.some((c, i) => i > 0 && c < states[i - 1])) {
    fail(`progress bar did not update live to 40/40 (saw ${states.join(",")})`);
  }
  await page.locator(".jp-NotebookPanel .jp-Cell").last().click();
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
  if (!shown) fail("Tab completion of fmt.Pr did not show Println");
  await page.keyboard.press("Escape");
  // Leave the notebook as it was run: remove the cell typed for the check.
  await page.keyboard.press("Escape");
  await page.keyboard.press("d");
  await page.keyboard.press("d");
}

// save saves the notebook (what JupyterLab's autosave does during a long run anyway) and waits
// until its tab says so.
async function save(page, name) {
  await page.locator(".jp-NotebookPanel .jp-Notebook").first().click({ position: { x: 5, y: 5 } }).catch(() => {});
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+s");
  for (let i = 0; i < 40 && await dirtyTab(page, name); i++) await page.waitForTimeout(250);
}

// savedChecks reads the saved notebook: every code cell ran, and only cells tagged
// raises-exception failed.
function savedChecks(file, fail) {
  const nb = JSON.parse(fs.readFileSync(file, "utf8"));
  let n = 0;
  for (const cell of nb.cells) {
    n++;
    if (cell.cell_type !== "code") continue;
    const src = [].concat(cell.source).join("");
    const tags = (cell.metadata && cell.metadata.tags) || [];
    const errors = (cell.outputs || []).filter((o) => o.output_type === "error");
    if (cell.execution_count == null && src.trim()) fail(`cell ${n} never ran`);
    if (tags.includes("raises-exception")) {
      if (!errors.length) fail(`cell ${n} is tagged raises-exception but did not fail`);
    } else {
      for (const e of errors) fail(`cell ${n} failed: ${e.ename}: ${String(e.evalue).split("\n")[0]}`);
    }
  }
}

async function screenshotFigures(page, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const figs = page.locator(".jp-NotebookPanel .jp-OutputArea-output img");
  const n = await figs.count();
  let saved = 0;
  for (let i = 0; i < n; i++) {
    try {
      await figs.nth(i).scrollIntoViewIfNeeded({ timeout: 5000 });
      await figs.nth(i).screenshot({ path: path.join(dir, `figure-${String(i + 1).padStart(2, "0")}.png`), timeout: 10000 });
      saved++;
    } catch (e) {
      log("screenshot of figure", i + 1, "failed:", String(e).split("\n")[0]);
    }
  }
  return saved;
}

async function main() {
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const repo = scratchRepo();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "gostudy-browser-state-"));
  // Every cell attached and laid out: JupyterLab's default (content-visibility) skips the
  // layout of cells out of view, whose outputs then measure as empty.
  const tracker = path.join(scratch, "settings", "@jupyterlab", "notebook-extension");
  fs.mkdirSync(tracker, { recursive: true });
  fs.writeFileSync(path.join(tracker, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
  const env = {
    GOSTUDY_NOTEBOOK_DIR: repo,
    GOSTUDY_BUDGET: "test",
    // scripts/test.sh passes the runs the notebooks' kernel tests just trained
    // (GOSTUDY_BROWSER_RUNS), so this pass redraws them from their records instead of training
    // them again; alone, it trains into a scratch folder.
    GOSTUDY_RUNS: process.env.GOSTUDY_BROWSER_RUNS || path.join(scratch, "runs"),
    // JupyterLab keeps the theme choice and the workspace here, not in the user's settings.
    JUPYTERLAB_SETTINGS_DIR: path.join(scratch, "settings"),
    JUPYTERLAB_WORKSPACES_DIR: path.join(scratch, "workspaces"),
    JUPYTER_RUNTIME_DIR: path.join(scratch, "runtime"),
  };
  let lab;
  let browser;
  const failures = [];
  const timing = [];
  try {
    lab = await startLab(path.join(artifacts, "jupyterlab.log"), env);
    const { base, token } = lab;
    log("JupyterLab is up at", base, "serving", repo);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });

    // Opening a notebook and closing it without running anything leaves git status clean.
    // Were JupyterLab to mark it modified, autosave (or the reader, asked on closing) would
    // save it: the test saves it too, so that git shows what a reader would find.
    const first = notebookNames()[0];
    if (first) {
      await openNotebook(page, base, token, first);
      const dirty = await becomesDirty(page, first);
      if (dirty) await save(page, first);
      await closeNotebook(page);
      const status = git(repo, "status", "--porcelain", "--untracked-files=all").trim();
      if (dirty || status) {
        failures.push(`${first}: opening and closing it without running it ${dirty ? "marked it modified" : ""}${status ? `; git status: ${status.replace(/\n/g, "; ")}` : ""}`);
      }
      log("open and close", first + ":", dirty ? "marked modified" : "not modified", status ? `git status: ${status}` : "git status clean");
    }

    for (const name of notebookNames()) {
      const t0 = Date.now();
      const fail = (msg) => {
        failures.push(`${name}: ${msg}`);
        log("FAIL", name + ":", msg);
      };
      log("opening", name);
      await setTheme(page, themes[0]).catch(() => {}); // the theme menu needs the app up
      await openNotebook(page, base, token, name);
      await setTheme(page, themes[0]);
      if (await becomesDirty(page, name)) {
        fail("opening it marked it modified (the kernel's language_info differs from the saved one)");
      }

      log("running", name);
      const run = await runAll(page);
      if (run.timedOut) fail(`cells still running after ${runTimeoutMs / 1000}s`);
      const ranMs = Date.now() - t0;
      if (name.startsWith("00-")) await welcomeChecks(page, run, fail);

      for (const theme of themes) {
        await setTheme(page, theme);
        const found = await page.evaluate(notebookChecks);
        for (const f of found.problems) fail(`[${theme.name}] ${f}`);
        const shots = await screenshotFigures(page, path.join(artifacts, name.replace(/\.ipynb$/, ""), theme.name));
        log(`${name} [${theme.name}]: ${found.count} figures checked, ${shots} screenshots, ${found.problems.length} problems`);
      }
      await setTheme(page, themes[0]);
      await save(page, name);
      savedChecks(path.join(repo, "notebooks", name), fail);
      const asked = await closeNotebook(page);
      if (asked) fail("closing it after saving asked to save again");
      log("closed", name);
      timing.push({ name, runSeconds: Math.round(ranMs / 1000), totalSeconds: Math.round((Date.now() - t0) / 1000) });
    }

    // A notebook made from the launcher is Untitled.ipynb next to the lessons: git must
    // ignore it.
    await fetch(`${base}/api/contents/notebooks?token=${token}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type: "notebook" }),
    });

    // Hygiene: nothing the reader did shows up in git.
    const status = git(repo, "status", "--porcelain", "--untracked-files=all");
    const untracked = status.split("\n").filter((l) => l.startsWith("??"));
    if (untracked.length) failures.push(`git status shows untracked files after the session: ${untracked.join("; ")}`);
    try {
      git(repo, "diff", "--exit-code", "--stat", "--", ".");
    } catch (e) {
      failures.push(`git diff shows changes after running and saving the notebooks (outputs not filtered):\n${e.stdout}`);
    }
  } catch (e) {
    failures.push(String((e && e.stack) || e));
  } finally {
    if (browser) await browser.close();
    if (lab) await lab.stop();
  }
  fs.rmSync(repo, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
  const wall = Math.round((Date.now() - started) / 1000);
  fs.writeFileSync(path.join(artifacts, "timing.json"), JSON.stringify({ wallSeconds: wall, notebooks: timing }, null, 1));
  log("timing:", timing.map((t) => `${t.name} run ${t.runSeconds}s, all ${t.totalSeconds}s`).join("; "), `— wall ${wall}s`);
  if (failures.length) {
    console.error(`browser test FAILED (${failures.length} problems):\n  ` + failures.join("\n  "));
    console.error("screenshots and the JupyterLab log are in", artifacts);
    process.exit(1);
  }
  log("browser test passed; screenshots in", artifacts);
}

main();
