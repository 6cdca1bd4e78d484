// Renders a report.html in Debian's chromium (headless) and describes its charts:
//   node render.mjs REPORT_HTML SCREENSHOT
import { launch } from "./chromium.mjs";

const [file, screenshot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));
  await page.goto(`file://${file}`);
  const charts = await page.evaluate(() =>
    Object.fromEntries(["waterfall", "startup"].map((id) => {
      const svg = document.getElementById(id);
      const box = svg?.getBoundingClientRect();
      return [id, svg && {
        bars: [...svg.querySelectorAll("rect")].filter((r) => r.getBoundingClientRect().width > 0).length,
        width: box.width,
        height: box.height,
      }];
    })));
  const tables = await page.$$eval("table", (all) => all.length);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ charts, tables, requests }));
} finally {
  await browser.close();
}
