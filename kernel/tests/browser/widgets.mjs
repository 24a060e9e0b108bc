// Browser test: widgets drawn by JupyterLab's own widget manager (jupyterlab_widgets), driven
// in headless Debian Chromium by playwright-core. A notebook (written here, in a temporary
// folder) shows a figure and an IntSlider from pkg/widgets whose change function redraws the
// figure through a display handle. After the cell finished, the test moves the slider with
// the keyboard, as a person would, and waits for the figure to show the new value: the
// change function ran in the kernel's runner while no cell was executing.
//
// Run: node kernel/tests/browser/widgets.mjs   (after scripts/setup.sh; needs /usr/bin/chromium)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { artifacts, launchChromium, startLab } from "./lab.mjs";

function log(...args) {
  console.log(`[widgets ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

// The figure is a bar whose width and label follow n; drawn again on every change.
const cell = `import (
	"fmt"

	"github.com/gostudy/gostudy/pkg/display"
	"github.com/gostudy/gostudy/pkg/widgets"
)

fig := display.New()
draw := func(n int) {
	fig.SVG(fmt.Sprintf(\`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="40"><rect width="%d" height="40" fill="steelblue"/><text x="4" y="26">bar n=%d</text></svg>\`, 40+10*n, 40+10*n, n))
}
draw(5)
slider := widgets.NewIntSlider("n", 0, 20, 1, 5)
slider.OnChange(draw)
slider`;

function notebook() {
  return {
    cells: [{ cell_type: "code", execution_count: null, id: "widget-cell", metadata: {}, outputs: [], source: cell }],
    metadata: { kernelspec: { display_name: "Go (gostudy)", language: "go", name: "gostudy" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

// figureLabel returns the label of the figure the cell shows ("bar n=5"), from the image's
// data URI (JupyterLab shows SVG output as an <img>) or an inline SVG.
async function figureLabel(page) {
  return page.evaluate(() => {
    for (const img of document.querySelectorAll(".jp-OutputArea-output img")) {
      const src = decodeURIComponent(img.getAttribute("src") || "");
      const text = src.startsWith("data:image/svg+xml;base64,") ? atob(src.split(",")[1]) : src;
      const m = text.match(/bar n=(\d+)/);
      if (m) return m[0];
    }
    for (const t of document.querySelectorAll(".jp-OutputArea-output svg text")) {
      if (/bar n=\d+/.test(t.textContent)) return t.textContent;
    }
    return null;
  });
}

async function waitForLabel(page, want, ms) {
  const end = Date.now() + ms;
  let last = null;
  while (Date.now() < end) {
    last = await figureLabel(page);
    if (last === want) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the figure shows ${JSON.stringify(last)}, want ${JSON.stringify(want)}`);
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const nbdir = fs.mkdtempSync(path.join(os.tmpdir(), "gostudy-lab-widgets-"));
  fs.writeFileSync(path.join(nbdir, "widgets.ipynb"), JSON.stringify(notebook(), null, 1));
  let lab;
  let browser;
  const failures = [];
  try {
    lab = await startLab(path.join(artifacts, "jupyterlab-widgets.log"), { GOSTUDY_NOTEBOOK_DIR: nbdir });
    log("JupyterLab is up at", lab.base);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(`${lab.base}/lab/tree/widgets.ipynb?token=${lab.token}`);
    await page.waitForSelector(".jp-Toolbar-kernelName:has-text('Go (gostudy)')", { timeout: 120000 });
    await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 120000 });
    log("notebook open, kernel idle");

    await page.locator(".jp-Cell").first().click();
    await page.keyboard.press("Shift+Enter");
    const handle = page.locator(".widget-slider .noUi-handle").first();
    await handle.waitFor({ state: "visible", timeout: 300000 });
    await waitForLabel(page, "bar n=5", 60000);
    await page.waitForSelector(".jp-Notebook-ExecutionIndicator[data-status='idle']", { timeout: 120000 });
    log("slider drawn by the widget manager; figure shows n=5; the cell is finished");
    await page.screenshot({ path: path.join(artifacts, "widgets-before.png") });

    // Move the slider three steps to the right with the keyboard.
    await handle.focus();
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press("ArrowRight");
      await page.waitForTimeout(150);
    }
    const readout = await page.locator(".widget-slider .widget-readout").first().innerText();
    log("slider readout after three steps:", readout);
    if (readout.trim() !== "8") failures.push(`slider readout ${JSON.stringify(readout)} after three steps from 5, want 8`);
    await waitForLabel(page, "bar n=8", 60000);
    log("the change function redrew the figure: n=8");
    await page.screenshot({ path: path.join(artifacts, "widgets-after.png") });
  } catch (e) {
    failures.push(String((e && e.stack) || e));
  } finally {
    if (browser) await browser.close();
    if (lab) await lab.stop();
    fs.rmSync(nbdir, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error("widgets browser test FAILED:\n  " + failures.join("\n  "));
    console.error("screenshots and the JupyterLab log are in", artifacts);
    process.exit(1);
  }
  log("widgets browser test passed; screenshots in", artifacts);
}

main();
