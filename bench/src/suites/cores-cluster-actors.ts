/**
 * The actor the `cores` suite's local clusters host (`praas start --silos N
 * --actors bench/dist/suites/cores-cluster-actors.js`): the counter the
 * client load generator (client-load-worker.ts) calls.
 */
import { Actor } from "@praas/silo";

export class LoadCounter extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  add(x: number): number {
    this.state.n += x;
    return this.state.n;
  }
}
