import { Effect, Clock, Ref } from "effect"
import * as path from "node:path"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Admission from "../src/Engine/Admission.js"
import * as FleetBudget from "../src/Engine/FleetBudget.js"
import * as SqliteStore from "../src/Store/SqliteStore.js"
import { Store } from "../src/Store/Store.js"

const RPM = 3000, SECONDS = Number(process.argv[2] ?? 10)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fd-"))
const file = path.join(dir, "f.db")
const prog = Effect.scoped(Effect.gen(function* () {
  const times = yield* Ref.make<Array<number>>([])
  let takes = 0
  const grants: Array<any> = []
  const adms = yield* Effect.forEach(process.env.ONE ? [0] : [0, 1, 2], (i) => Effect.gen(function* () {
    const store0 = yield* SqliteStore.make({ filename: file })
    const store = { ...store0, fleetUpdate: (u: any, s: any) => { takes++; return store0.fleetUpdate(u, (snap: any) => { const c = s(snap); if (c.result && c.result.requests > 0) grants.push([Date.now(), c.result.requests, c.row.requests, snap.row.requests, snap.row.at]); return c }) } } as Store["Type"]
    const supply = yield* FleetBudget.supply({ baseUrl: "http://x/v1", holder: `h${i}` }).pipe(Effect.provideService(Store, store))
    return yield* Admission.make({ rpm: RPM, supply: process.env.OFF ? undefined : supply })
  }))
  const t0 = yield* Clock.currentTimeMillis
  const loop = (a: Admission.Admission["Type"]) => Effect.gen(function* () {
    while (true) {
      yield* a.acquire({})
      const t = yield* Clock.currentTimeMillis
      yield* Ref.update(times, (xs) => (xs.push(t - t0), xs))
      yield* Effect.sleep(300)
    }
  })
  yield* Effect.forEach(adms, (a) => Effect.forEach(Array.from({ length: 64 }), () => Effect.fork(loop(a))))
  yield* Effect.sleep(SECONDS * 1000)
  const ts = (yield* Ref.get(times)).sort((a, b) => a - b)
  const C = RPM / 60, per = RPM / 60000
  let worst = -Infinity
  // sliding window excess over windows of 1s
  let j = 0
  for (let i = 0; i < ts.length; i++) { for (let k = i; k < ts.length && ts[k]! - ts[i]! <= 2000; k++) { const e = k - i + 1 - (C + per * (ts[k]! - ts[i]!)); if (e > worst) { worst = e; (globalThis as any).w = [ts[i], ts[k], k - i + 1] } } }
  console.log(JSON.stringify((globalThis as any).w), ts.slice(0, 60).join(',')); { const g0 = grants[0]?.[0]; let w = -Infinity, wi: any; for (let i = 0; i < grants.length; i++) { let sum = 0; for (let k = i; k < grants.length; k++) { sum += grants[k][1]; const e = sum - (C + per * (grants[k][0] - grants[i][0])); if (e > w) { w = e; wi = [grants[i][0]-g0, grants[k][0]-g0, sum] } } } console.log('grant excess', w.toFixed(2), JSON.stringify(wi), JSON.stringify(grants.slice(0, 12).map((g: any) => [g[0]-g0, ...g.slice(1,4).map((x: number) => +x.toFixed(2)), g[4] && g[4] - g0]))) }
  console.log(`admitted ${ts.length} in ${SECONDS}s = ${(ts.length / SECONDS * 60).toFixed(0)} RPM (limit ${RPM}); bound ${(C*0.85 + per*SECONDS*1000).toFixed(0)}; worst window excess ${worst.toFixed(2)}; takes ${takes} (${(takes/SECONDS).toFixed(0)}/s)`)
}))
Effect.runPromise(prog).then(() => process.exit(0))
