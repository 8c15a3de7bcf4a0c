// Builds the widget and the client into static/aichat/ (or the folder given with --out) and prints the
// gzipped size of everything the script tag loads; fails above the budget.
//   node widget/build.mjs [--out DIR]
import { build } from "esbuild";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "widget", "src");
const BUDGET = 40 * 1024;  // bytes, gzipped, of everything the tag loads
const TAG_LOADS = ["widget.js", "widget.css"];

const at = process.argv.indexOf("--out");
const out = resolve(at > 0 ? process.argv[at + 1] : join(ROOT, "static", "aichat"));
mkdirSync(out, { recursive: true });

const common = { bundle: true, target: ["es2022", "chrome100", "firefox100", "safari15.4"], charset: "utf8",
                 logLevel: "warning", legalComments: "linked" };  // licences in a .LEGAL.txt beside each file
await build({ ...common, entryPoints: [join(SRC, "widget.js")], outfile: join(out, "widget.js"), format: "iife",
              minify: true });
// marked's notice is a plain comment, which esbuild does not collect: it goes beside DOMPurify's.
appendFileSync(join(out, "widget.js.LEGAL.txt"),
               "\nmarked:\n" + readFileSync(join(ROOT, "node_modules", "marked", "LICENSE.md"), "utf8"));
// The client stays readable: sites import it and read it.
await build({ ...common, entryPoints: [join(SRC, "client.js")], outfile: join(out, "client.js"), format: "esm" });
await build({ ...common, entryPoints: [join(SRC, "widget.css")], outfile: join(out, "widget.css"), minify: true });
copyFileSync(join(SRC, "client.d.ts"), join(out, "client.d.ts"));

const rows = [...TAG_LOADS, "client.js"].map((name) => {
  const bytes = readFileSync(join(out, name));
  return { name, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
});
const loaded = rows.filter((row) => TAG_LOADS.includes(row.name)).reduce((sum, row) => sum + row.gzip, 0);
const kb = (n) => (n / 1024).toFixed(1) + " KB";
for (const row of rows) console.log(`${row.name.padEnd(12)} ${kb(row.raw).padStart(9)} ${kb(row.gzip).padStart(9)} gzipped`);
console.log(`the tag loads ${kb(loaded)} gzipped (budget ${kb(BUDGET)})`);
// The size table in docs/widget.md is checked against this file, and this file against a fresh build.
writeFileSync(join(out, "sizes.json"), JSON.stringify({ files: rows, tag_loads: TAG_LOADS, tag_gzip: loaded,
                                                        budget: BUDGET }, null, 2) + "\n");
if (loaded > BUDGET) {
  console.error("over the size budget");
  process.exit(1);
}
