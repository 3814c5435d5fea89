// Parse every ```mermaid block of a Markdown file with Mermaid's own parser, as GitHub renders them.
// Prints one JSON line per block ({line, diagramType} or {line, error}); exits 1 if any fails.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// mermaid sanitizes labels with DOMPurify, which needs a DOM: jsdom provides one.
const { window } = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import("mermaid");

const markdown = readFileSync(process.argv[2], "utf8");
const blocks = [...markdown.matchAll(/^```mermaid\n([\s\S]*?)^```/gm)];
let failed = blocks.length === 0;
for (const block of blocks) {
  const line = markdown.slice(0, block.index).split("\n").length;
  try {
    const { diagramType } = await mermaid.parse(block[1]);
    console.log(JSON.stringify({ line, diagramType }));
  } catch (e) {
    failed = true;
    console.log(JSON.stringify({ line, error: String(e.message || e) }));
  }
}
process.exit(failed ? 1 : 0);
