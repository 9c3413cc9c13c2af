/**
 * The worker-thread entry: each thread of the pool loads this module and serves the loan function,
 * unchanged. It imports the thread-pool module alone, not all of sluice, so a thread starts quickly.
 */
import * as ThreadPool from "../../src/Stages/ThreadPool.js"
import { processLoan } from "./processLoan.js"

ThreadPool.serve(processLoan)
