#!/usr/bin/env node
// slides/render.cjs: Debian's Chromium, driven by playwright-core, on the built deck.
//   node slides/render.cjs pdf DECK.html OUT.pdf
//       prints the deck (reveal.js' print view, one page per slide)
//   node slides/render.cjs check DECK.html SHOTS_DIR
//       shows every slide, saves one screenshot per slide, and fails on a slide that
//       overflows the slide area (or hides content behind a scroll bar), an image that did not
//       load, placeholder text, or a measured figure that is missing: a "not measured yet"
//       note is allowed only for a demo whose script (slides/demos/NAME.sh) does not exist.
// The page may load nothing from the network: the deck is one self-contained file.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');

const here = __dirname;
const build = path.resolve(process.env.HVLAB_BUILD || path.join(here, '..', 'build'));
const npmDir = path.resolve(process.env.HVLAB_NPM_DIR || path.join(build, 'slides', 'npm'));

function fail(message) {
  console.error(`slides: ${message}`);
  process.exit(1);
}

function loadPlaywright() {
  try {
    return require(path.join(npmDir, 'node_modules', 'playwright-core'));
  } catch (e) {
    fail(`playwright-core is missing in ${npmDir}: run 'make slides' (it installs it)`);
  }
}

const chromiumPath = process.env.HVLAB_CHROMIUM || '/usr/bin/chromium';
const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

async function withPage(deck, query, body) {
  if (!fs.existsSync(deck)) fail(`no deck at ${deck}: run 'make slides'`);
  if (!fs.existsSync(chromiumPath)) fail(`Chromium is missing (${chromiumPath}): run 'make deps'`);
  const { chromium } = loadPlaywright();
  // A new, empty profile for every run.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hvlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 720 },
    timeout: 60000,
  });
  const outside = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(path.resolve(deck)).href + query);
    await page.waitForFunction(() => window.Reveal && window.Reveal.isReady(), null, { timeout: 30000 });
    await body(page);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  return outside;
}

async function pdf(deck, out) {
  const outside = await withPage(deck, '?print-pdf', async (page) => {
    await page.waitForFunction(
      () => document.querySelectorAll('.pdf-page').length >= window.Reveal.getTotalSlides(), null,
      { timeout: 30000 });
    await page.pdf({ path: out, preferCSSPageSize: true, printBackground: true });
  });
  if (outside.length) fail(`the deck reached for the network: ${outside.join(', ')}`);
  console.log(`slides: ${out}`);
}

// Runs in the page: what is wrong with the current slide, and its measured figures.
function inspectSlide() {
  const slide = window.Reveal.getCurrentSlide();
  const area = document.querySelector('.reveal .slides').getBoundingClientRect();
  const problems = [];
  const label = (el) => {
    const text = (el.innerText || el.getAttribute('src') || '').replace(/\s+/g, ' ').trim();
    return `<${el.tagName.toLowerCase()}> "${text.slice(0, 60)}"`;
  };
  const reported = new Set();
  for (const el of [slide, ...slide.querySelectorAll('*')]) {
    if (el.closest('aside.notes')) continue;
    if (el.parentElement && reported.has(el.parentElement)) {
      reported.add(el);
      continue;
    }
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const out = r.bottom > area.bottom + 1 || r.right > area.right + 1 || r.left < area.left - 1 || r.top < area.top - 1;
    const style = getComputedStyle(el);
    const cutX = style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1;
    const cutY = style.overflowY !== 'visible' && el.scrollHeight > el.clientHeight + 1;
    if (out) problems.push(`overflows the slide: ${label(el)}`);
    else if (cutX || cutY) problems.push(`content cut off or behind a scroll bar: ${label(el)}`);
    if (out || cutX || cutY) reported.add(el);
  }
  for (const img of slide.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0) problems.push(`missing image: ${(img.getAttribute('src') || '').slice(0, 80)}`);
  }
  const text = slide.innerText || '';
  const placeholder = text.match(/\b(TODO|TBD|FIXME|XXX)\b|\?\?\?|lorem ipsum|\{\{[^}]*\}\}/i);
  if (placeholder) problems.push(`placeholder text: "${placeholder[0]}"`);
  const measured = [...slide.querySelectorAll('.measured')].map((m) => ({
    demo: m.getAttribute('data-demo') || m.getAttribute('demo') || '',
    state: m.classList.contains('not-measured') ? 'not-measured' : m.classList.contains('is-measured') ? 'measured' : 'unfilled',
    text: (m.innerText || '').trim(),
  }));
  const title = (slide.querySelector('h1, h2') || {}).innerText || '(untitled)';
  return { title: title.trim(), problems, measured };
}

function demoExists(name) {
  try {
    fs.accessSync(path.join(here, 'demos', `${name}.sh`), fs.constants.X_OK);
    return true;
  } catch (e) {
    return false;
  }
}

async function check(deck, shots) {
  fs.mkdirSync(shots, { recursive: true });
  for (const f of fs.readdirSync(shots)) if (/^slide-\d+\.png$/.test(f)) fs.rmSync(path.join(shots, f));
  const failures = [];
  const summary = { slides: 0, measured: 0, notMeasured: [] };
  const outside = await withPage(deck, '', async (page) => {
    await page.evaluate(() => window.Reveal.configure({ transition: 'none', backgroundTransition: 'none' }));
    const indices = await page.evaluate(() =>
      window.Reveal.getSlides().map((s) => { const i = window.Reveal.getIndices(s); return [i.h, i.v || 0]; }));
    for (let n = 0; n < indices.length; ++n) {
      await page.evaluate(([h, v]) => window.Reveal.slide(h, v), indices[n]);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const shot = path.join(shots, `slide-${String(n + 1).padStart(2, '0')}.png`);
      await page.screenshot({ path: shot });
      const info = await page.evaluate(inspectSlide);
      const where = `slide ${n + 1} "${info.title}"`;
      for (const p of info.problems) failures.push(`${where}: ${p}`);
      for (const m of info.measured) {
        if (m.state === 'unfilled') failures.push(`${where}: the measured figure of demo '${m.demo}' was not filled in`);
        else if (m.state === 'not-measured') {
          if (demoExists(m.demo)) failures.push(`${where}: says "not measured yet" though slides/demos/${m.demo}.sh exists`);
          summary.notMeasured.push(m.demo);
        } else {
          const body = m.text.replace(/Demo:\s*make demo-\S+\s*$/, '').trim();
          if (!body) failures.push(`${where}: the measured figure of demo '${m.demo}' is empty`);
          else if (/not measured/i.test(body)) failures.push(`${where}: the figure of demo '${m.demo}' says it is not measured`);
          else if (!/\d/.test(body)) failures.push(`${where}: the figure of demo '${m.demo}' holds no number`);
          summary.measured += 1;
        }
      }
      summary.slides += 1;
    }
  });
  for (const url of outside) failures.push(`the deck reached for the network: ${url}`);
  if (summary.slides === 0) failures.push('the deck has no slides');
  const notYet = summary.notMeasured.length ? `; not measured yet: ${summary.notMeasured.join(', ')}` : '';
  console.log(`slides: ${summary.slides} slides rendered, ${summary.measured} measured figures${notYet}; screenshots in ${shots}`);
  for (const f of failures) console.log(`slides: FAIL: ${f}`);
  if (failures.length) process.exit(1);
}

async function main() {
  const [cmd, deck, out] = process.argv.slice(2);
  if (cmd === 'pdf' && deck && out) return pdf(deck, out);
  if (cmd === 'check' && deck && out) return check(deck, out);
  fail('usage: node slides/render.cjs pdf DECK.html OUT.pdf | check DECK.html SHOTS_DIR');
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
