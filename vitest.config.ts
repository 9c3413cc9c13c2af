import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // Examples import sluice by its package name and sub-paths, as a user would; tests run them against the source.
  resolve: {
    alias: [
      { find: /^sluice$/, replacement: path.resolve(import.meta.dirname, "src/index.ts") },
      { find: /^sluice\/(.+)$/, replacement: path.resolve(import.meta.dirname, "src/$1.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests that spawn servers and CLI processes share two cores; keep the fan-out modest.
    maxConcurrency: 4,
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: "forks"
  }
})
