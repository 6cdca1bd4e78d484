// Drives Debian's chromium (headless) through the demo page `cargo wasmship serve` gives:
//   node check.mjs URL SCREENSHOT
// Prints one JSON object: the result the page showed, the .wasm response as the browser saw
// it, the same after a reload, and the page's result with a wrong integrity.
import { launch } from "./chromium.mjs";

const [url, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = [];
  page.on("response", (response) => {
    if (response.url().endsWith(".wasm")) seen.push(response);
  });
  const settled = async () => {
    await page.waitForSelector('#result:not([data-state="loading"])', { timeout: 30000 });
    return page.$eval("#result", (el) => ({ state: el.dataset.state, text: el.textContent }));
  };
  const describe = async (response) =>
    response && { status: response.status(), headers: await response.allHeaders(), url: response.url() };

  await page.goto(url);
  const first = await settled();
  const wasm = await describe(seen.find((r) => r.request().resourceType() !== "other") ?? seen[0]);
  await page.screenshot({ path: screenshot, fullPage: true });

  seen.length = 0;
  await page.reload();
  const reloaded = await settled();
  const again = await describe(seen[0]);

  const wrong = "sha384-" + "A".repeat(64);
  await page.goto(`${url}?integrity=${encodeURIComponent(wrong)}`);
  const badIntegrity = await settled();

  console.log(JSON.stringify({ first, wasm, reloaded, again, badIntegrity }));
} finally {
  await browser.close();
}
