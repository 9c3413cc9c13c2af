/**
 * Seeded randomness for the simulator: a small PRNG and the lognormal latency drawn from it.
 *
 * Model latencies are skewed to the right (most answers near the median, a long slow tail), which a
 * lognormal captures with two numbers. A seed makes tests and benchmarks repeat exactly.
 *
 * @since 0.1.0
 */

/**
 * A seeded generator of uniform numbers in [0, 1).
 *
 * @since 0.1.0
 * @category models
 */
export type Random = () => number

/**
 * mulberry32: 32 bits of state, fast and well mixed; its 2^32 period is plenty for a simulator.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (seed: number): Random => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * A standard normal draw (Box–Muller).
 *
 * @since 0.1.0
 */
export const normal = (rand: Random): number => {
  // 1 - u is in (0, 1], so the logarithm is finite.
  const u1 = 1 - rand()
  const u2 = rand()
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/**
 * A latency sampler: lognormal with the given median and shape; a median of 0 answers at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const lognormal = (rand: Random, medianMs: number, sigma: number): (() => number) => {
  if (medianMs <= 0) return () => 0
  if (sigma <= 0) return () => medianMs
  return () => medianMs * Math.exp(sigma * normal(rand))
}
