/**
 * The in-memory store runs the same conformance suite as SQLite and PostgreSQL: a host that tests its
 * pipeline on `layerMemory` tests it against the port's contract, not against a stand-in's quirks.
 */
import { layerMemory } from "../../src/Store/MemoryStore.js"
import { suite } from "./StoreSuite.js"

suite("MemoryStore", () => layerMemory)
