// Checks that run inside the JupyterLab page (page.evaluate serialises the function, so it is
// self-contained): they read the rendered notebook and return what is wrong, as sentences.

// notebookChecks looks at the notebook's outputs and returns what is wrong, and how many
// figures it checked:
//
//   - progress bars, tables, the backend's banner, and the contrast of output text against what
//     is behind it;
//   - every SVG figure: it lays a copy of the figure out in the page (the browser's own fonts
//     and geometry) and checks that each raster fills its data area, that no text leaves the
//     figure or overlaps another, and that every text reads against the pixels really under
//     it, the page's background showing through wherever the figure is transparent.
export async function notebookChecks() {
  const problems = [];
  const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)") || document;
  const cells = [...panel.querySelectorAll(".jp-Notebook .jp-Cell")];
  const where = (el) => {
    const cell = el.closest(".jp-Cell");
    return cell ? `cell ${cells.indexOf(cell) + 1}` : "an output";
  };
  const short = (s, n = 70) => (s.length > n ? s.slice(0, n - 1) + "…" : s).replace(/\s+/g, " ");

  // Progress bars end in a final state, and one that says done reached its total.
  for (const bar of panel.querySelectorAll(".gostudy-progress")) {
    const st = bar.dataset.state;
    const count = Number(bar.dataset.count), total = Number(bar.dataset.total);
    const text = short(bar.innerText);
    if (!st) {
      const stuck = total > 0 && count < total ? ` and stopped at ${count}/${total}` : "";
      problems.push(`${where(bar)}: progress bar shows no final state${stuck}: "${text}"`);
    } else if (st === "running") {
      problems.push(`${where(bar)}: progress bar still running after its cell finished: "${text}"`);
    } else if (st === "stopped" || (st === "done" && total > 0 && count < total)) {
      problems.push(`${where(bar)}: progress bar ended before its total (${count}/${total}): "${text}"`);
    } else if (st !== "done") {
      problems.push(`${where(bar)}: progress bar ended ${st}: "${text}"`);
    }
  }

  // Tables fit the output area, or scroll sideways in a box of their own.
  for (const table of panel.querySelectorAll(".jp-OutputArea-output table")) {
    const out = table.closest(".jp-OutputArea-output");
    const avail = out.getBoundingClientRect().width;
    const w = table.getBoundingClientRect().width;
    if (w <= avail + 1) continue;
    let scrolls = false;
    for (let a = table.parentElement; a && a !== out; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === "auto" || ox === "scroll") && a.getBoundingClientRect().width <= avail + 1) scrolls = true;
    }
    if (!scrolls) problems.push(`${where(table)}: a table ${Math.round(w)} px wide in a ${Math.round(avail)} px output area, not in a scrolling box`);
  }

  // The backend's banner is information, not a warning box.
  for (const err of panel.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")) {
    if (/gostudy: backend|sha256|PJRT plugin/.test(err.innerText)) {
      problems.push(`${where(err)}: the backend banner is shown as a stderr box: "${short(err.innerText)}"`);
    }
  }

  // Output text reads against its background (WCAG 2: 4.5:1). Rendered HTML, Markdown and
  // stdout; tracebacks keep JupyterLab's own colours.
  const parse = (c) => {
    const m = c && c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
  };
  const lum = (rgb) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const contrast = (a, b) => {
    const la = lum(a), lb = lum(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  };
  const background = (el) => {
    for (let a = el; a; a = a.parentElement) {
      const c = parse(getComputedStyle(a).backgroundColor);
      if (c && c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const sel = ["text/html", "text/markdown", "application/vnd.jupyter.stdout"]
    .map((m) => `.jp-OutputArea-output[data-mime-type='${m}']`).join(",");
  const reported = new Set();
  for (const out of panel.querySelectorAll(sel)) {
    const walker = document.createTreeWalker(out, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim()) continue;
      const el = n.parentElement;
      if (el.closest("svg")) continue;
      const fg = parse(getComputedStyle(el).color);
      const bg = background(el);
      if (!fg) continue;
      const c = contrast(fg, bg);
      const key = `${where(el)} ${fg} ${bg}`;
      if (c < 4.5 && !reported.has(key)) {
        reported.add(key);
        problems.push(`${where(el)}: text "${short(n.textContent, 40)}" in rgb(${fg.slice(0, 3)}) on rgb(${bg.slice(0, 3)}): contrast ${c.toFixed(2)} < 4.5`);
      }
    }
  }
  return figures(problems);

  // figures checks every SVG figure, adding to problems.
  async function figures(problems) {
    const prefix = "data:image/svg+xml,";
    const imgs = [...panel.querySelectorAll(".jp-OutputArea-output img")].filter((i) => i.src.startsWith(prefix));

    const load = (src) => new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => resolve(im);
      im.onerror = () => reject(new Error("cannot load image"));
      im.src = src;
    });
    // corners maps a rectangle of an element's user space to the figure's CSS pixels.
    const corners = (el, x, y, w, h) => {
      const m = el.getCTM();
      return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]].map(([px, py]) => {
        const p = new DOMPoint(px, py).matrixTransform(m);
        return [p.x, p.y];
      });
    };
    const bbox = (q) => ({
      x0: Math.min(...q.map((p) => p[0])), y0: Math.min(...q.map((p) => p[1])),
      x1: Math.max(...q.map((p) => p[0])), y1: Math.max(...q.map((p) => p[1])),
    });
    const fmt = (b) => `[${b.x0.toFixed(1)},${b.y0.toFixed(1)}–${b.x1.toFixed(1)},${b.y1.toFixed(1)}]`;
    // overlap of two convex quadrilaterals: the separating axis theorem, depth in px.
    const overlap = (a, b) => {
      let depth = Infinity;
      for (const q of [a, b]) {
        for (let i = 0; i < 4; i++) {
          const ex = q[(i + 1) % 4][0] - q[i][0], ey = q[(i + 1) % 4][1] - q[i][1];
          const n = Math.hypot(ex, ey);
          if (!n) continue;
          const ax = -ey / n, ay = ex / n;
          const proj = (p) => p.map((c) => c[0] * ax + c[1] * ay);
          const pa = proj(a), pb = proj(b);
          depth = Math.min(depth, Math.min(Math.max(...pa), Math.max(...pb)) - Math.max(Math.min(...pa), Math.min(...pb)));
        }
      }
      return depth;
    };
    // painted is where an <image> really paints, by SVG's preserveAspectRatio rules.
    const painted = (x, y, w, h, nw, nh, par) => {
      par = (par || "xMidYMid meet").trim();
      if (par.startsWith("none")) return [x, y, w, h];
      const [align, mode] = par.split(/\s+/);
      const s = mode === "slice" ? Math.max(w / nw, h / nh) : Math.min(w / nw, h / nh);
      const pw = nw * s, ph = nh * s;
      const px = align.includes("xMin") ? x : align.includes("xMax") ? x + w - pw : x + (w - pw) / 2;
      const py = align.includes("YMin") ? y : align.includes("YMax") ? y + h - ph : y + (h - ph) / 2;
      return [px, py, pw, ph];
    };

    const host = document.createElement("div");
    host.style.cssText = "position:absolute;left:-40000px;top:0;";
    document.body.appendChild(host);
    let count = 0;
    for (const img of imgs) {
      count++;
      const cell = img.closest(".jp-Cell");
      let svgText;
      try {
        svgText = decodeURIComponent(img.src.slice(prefix.length));
      } catch {
        svgText = atob(img.src.slice(prefix.length));
      }
      const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
      const svg = document.importNode(doc.documentElement, true);
      host.replaceChildren(svg);
      const W = svg.getBoundingClientRect().width, H = svg.getBoundingClientRect().height;
      const texts = [...svg.querySelectorAll("text")];
      const title = texts.find((t) => /bold/.test(t.getAttribute("style") || ""))?.textContent || texts[0]?.textContent || "";
      const name = `cell ${cells.indexOf(cell) + 1}, figure "${title.slice(0, 50)}"`;
      const shown = img.getBoundingClientRect();
      if (shown.width < 100 || shown.height < 50) {
        problems.push(`${name}: shown only ${Math.round(shown.width)}×${Math.round(shown.height)} px`);
      }
      // One CSS pixel of the figure as the notebook shows it, in the copy's pixels.
      const px = W / Math.max(1, shown.width);
      const tol = 1.0 * px;

      // Rasters fill the data areas the figure declares (or, when it declares none, at least
      // the rectangle they are placed in).
      const areas = [...svg.querySelectorAll("rect.gostudy-area")].map((r) => ({
        kind: r.dataset.kind,
        box: bbox(corners(r, r.x.baseVal.value, r.y.baseVal.value, r.width.baseVal.value, r.height.baseVal.value)),
      }));
      for (const a of areas) {
        if (a.kind === "colorbar" && (a.box.x1 - a.box.x0) / px < 6) {
          problems.push(`${name}: colour bar only ${((a.box.x1 - a.box.x0) / px).toFixed(1)} px wide`);
        }
      }
      for (const [i, im] of [...svg.querySelectorAll("image")].entries()) {
        const href = im.getAttribute("href") || im.getAttribute("xlink:href");
        let nat;
        try {
          nat = await load(href);
        } catch {
          problems.push(`${name}: raster ${i + 1} cannot be decoded`);
          continue;
        }
        const x = im.x.baseVal.value, y = im.y.baseVal.value, w = im.width.baseVal.value, h = im.height.baseVal.value;
        const own = bbox(corners(im, x, y, w, h));
        const [qx, qy, qw, qh] = painted(x, y, w, h, nat.naturalWidth, nat.naturalHeight, im.getAttribute("preserveAspectRatio"));
        const paint = bbox(corners(im, qx, qy, qw, qh));
        let target = own, targetName = "the rectangle it is placed in";
        let best = 0;
        for (const a of areas) {
          const ix = Math.max(0, Math.min(own.x1, a.box.x1) - Math.max(own.x0, a.box.x0));
          const iy = Math.max(0, Math.min(own.y1, a.box.y1) - Math.max(own.y0, a.box.y0));
          const iou = (ix * iy) / ((own.x1 - own.x0) * (own.y1 - own.y0) + (a.box.x1 - a.box.x0) * (a.box.y1 - a.box.y0) - ix * iy);
          if (iou > best) {
            best = iou;
            target = a.box;
            targetName = `its ${a.kind} area`;
          }
        }
        const off = Math.max(Math.abs(paint.x0 - target.x0), Math.abs(paint.x1 - target.x1), Math.abs(paint.y0 - target.y0), Math.abs(paint.y1 - target.y1));
        if (off > tol) {
          problems.push(`${name}: raster ${i + 1} (${nat.naturalWidth}×${nat.naturalHeight} px) paints ${fmt(paint)}, ${targetName} is ${fmt(target)}: off by ${(off / px).toFixed(1)} px`);
        }
      }

      // Texts stay inside the figure and apart: the line box less 15% of the size at top and
      // bottom (the lines of a wrapped title are 1 em apart, their boxes 1.15 em tall), turned
      // with the text.
      const quads = texts.filter((t) => t.textContent.trim()).map((t) => {
        const b = t.getBBox();
        const size = parseFloat(getComputedStyle(t).fontSize) || 10;
        const shave = Math.min(0.15 * size, b.height / 4);
        return { t, q: corners(t, b.x, b.y + shave, b.width, b.height - 2 * shave) };
      });
      for (const { t, q } of quads) {
        const b = bbox(q);
        if (b.x0 < -tol || b.y0 < -tol || b.x1 > W + tol || b.y1 > H + tol) {
          problems.push(`${name}: text "${t.textContent}" ${fmt(b)} leaves the ${W.toFixed(0)}×${H.toFixed(0)} figure`);
        }
      }
      let overlaps = 0;
      for (let i = 0; i < quads.length; i++) {
        for (let j = i + 1; j < quads.length; j++) {
          if (overlap(quads[i].q, quads[j].q) > tol) {
            if (overlaps++ < 5) {
              problems.push(`${name}: texts "${quads[i].t.textContent}" and "${quads[j].t.textContent}" overlap`);
            }
          }
        }
      }
      if (overlaps > 5) problems.push(`${name}: ${overlaps - 5} more overlapping texts`);

      // Contrast against the pixels under each text: the figure drawn without its texts over
      // the page's background, as the notebook shows it.
      const bare = svg.cloneNode(true);
      bare.querySelectorAll("text").forEach((t) => t.remove());
      let under;
      try {
        under = await load("data:image/svg+xml," + encodeURIComponent(new XMLSerializer().serializeToString(bare)));
      } catch {
        problems.push(`${name}: cannot draw the figure for the contrast check`);
        continue;
      }
      const canvas = document.createElement("canvas");
      canvas.width = Math.ceil(W);
      canvas.height = Math.ceil(H);
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      const pbg = background(img);
      ctx.fillStyle = `rgb(${pbg[0]},${pbg[1]},${pbg[2]})`;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(under, 0, 0, canvas.width, canvas.height);
      let lowContrast = 0;
      for (const { t, q } of quads) {
        const b = bbox(q);
        const x0 = Math.max(0, Math.floor(b.x0)), y0 = Math.max(0, Math.floor(b.y0));
        const w = Math.max(1, Math.min(canvas.width - x0, Math.ceil(b.x1 - b.x0)));
        const h = Math.max(1, Math.min(canvas.height - y0, Math.ceil(b.y1 - b.y0)));
        if (x0 >= canvas.width || y0 >= canvas.height) continue;
        const data = ctx.getImageData(x0, y0, w, h).data;
        const freq = new Map();
        for (let k = 0; k < data.length; k += 4) {
          const key = (data[k] << 16) | (data[k + 1] << 8) | data[k + 2];
          freq.set(key, (freq.get(key) || 0) + 1);
        }
        let bgKey = 0, most = -1;
        for (const [key, n] of freq) if (n > most) [bgKey, most] = [key, n];
        const bg = [(bgKey >> 16) & 255, (bgKey >> 8) & 255, bgKey & 255];
        const fg = parse(getComputedStyle(t).fill) || [0, 0, 0, 1];
        const c = contrast(fg, bg);
        if (c < 4.5 && lowContrast++ < 3) {
          problems.push(`${name}: text "${t.textContent}" in rgb(${fg.slice(0, 3)}) on rgb(${bg}): contrast ${c.toFixed(2)} < 4.5`);
        }
      }
      if (lowContrast > 3) problems.push(`${name}: ${lowContrast - 3} more texts below 4.5:1`);
    }
    host.remove();
    return { count, problems };
  }
}
