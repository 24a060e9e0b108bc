// What the browser tests share outside the page: JupyterLab as the main command starts it
// (scripts/lab.sh) on a free local port with a random token, and headless Debian Chromium.
// (Checks that run inside the page are in checks.mjs: page.evaluate serialises them, so
// they cannot import anything.)

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's root folder. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** Where screenshots and logs go (git-ignored). */
export const artifacts = process.env.GOSTUDY_ARTIFACTS || path.join(root, "test-artifacts", "browser");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

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

async function waitForServer(url, deadlineMs, proc) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`JupyterLab exited with ${proc.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`JupyterLab did not answer ${url} within ${deadlineMs / 1000}s`);
}

// stopLab ends JupyterLab's whole process group (the server, its kernels): SIGTERM, then
// SIGKILL for what is left after three seconds.
async function stopLab(proc) {
  try {
    process.kill(-proc.pid, "SIGTERM");
  } catch {
    // already gone
  }
  await new Promise((r) => setTimeout(r, 3000));
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // exited
  }
}

/**
 * startLab starts scripts/lab.sh (without its set-up step) with env added to this process's
 * environment, its output in logFile, and waits up to two minutes for it to answer.
 * It returns { base, token, stop }: base is the server's URL, stop() ends it. When it does
 * not come up, it is stopped and the error thrown.
 */
export async function startLab(logFile, env = {}) {
  const port = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const out = fs.openSync(logFile, "w");
  const proc = spawn(path.join(root, "scripts", "lab.sh"),
    ["--no-browser", `--port=${port}`, "--ServerApp.ip=127.0.0.1", `--IdentityProvider.token=${token}`],
    { env: { ...process.env, GOSTUDY_SKIP_SETUP: "1", ...env }, detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  try {
    await waitForServer(`${base}/api/status?token=${token}`, 120000, proc);
  } catch (e) {
    await stopLab(proc);
    throw e;
  }
  return { base, token, stop: () => stopLab(proc) };
}

/** launchChromium starts headless Chromium (CHROMIUM, else /usr/bin/chromium). */
export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
