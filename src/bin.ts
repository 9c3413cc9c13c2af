#!/usr/bin/env node
/**
 * The `sluice` executable. It sets V8's memory behaviour first, then loads the CLI: module imports
 * are evaluated before a module's own code, so flags that shape the heap must come from here.
 *
 * @since 0.1.0
 */
import * as v8 from "node:v8"

// The CLI streams: after a full GC its heap holds ~30 MB whatever the input size, but V8's default
// growth lets garbage pile up to about four times that before the next full GC. A fixed 20% growth
// keeps resident memory flat at no measurable throughput cost (measured in BENCHMARKS.md).
v8.setFlagsFromString("--heap-growing-percent=20")
// SLUICE_LOW_MEMORY=1 also keeps the young generation at its smallest: less memory resident, for about
// a quarter less throughput on an echo run.
if (process.env["SLUICE_LOW_MEMORY"] === "1") v8.setFlagsFromString("--semi-space-growth-factor=1")

await import("./Cli/Entry.js")
