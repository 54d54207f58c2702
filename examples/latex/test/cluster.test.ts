/**
 * LaTeX projects on a three-silo TestCluster (in one process, seeded, no
 * pdflatex needed): files uploaded through one silo are read through
 * another, survive the crash of the silo that held the project once saved,
 * and a failing store is reported to the caller instead of losing files.
 * Rerun a failure with the seed it prints: PRAAS_SEED=<seed> npx vitest run examples/latex.
 */
import { LatexProject } from "@praas/example-latex";
import { seedFromEnv, TestCluster } from "@praas/testing";
import { afterEach, describe, expect, it, onTestFailed } from "vitest";
import { bytes, HELLO } from "./helpers.js";

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function start(): Promise<TestCluster> {
  const seed = seedFromEnv();
  onTestFailed(() => console.error(`LaTeX TestCluster seed ${seed}; faults:\n${cluster?.faults.join("\n")}`));
  cluster = await TestCluster.start({ silos: 3, actors: [LatexProject], seed });
  return cluster;
}

describe("LatexProject on a TestCluster", () => {
  it("reads through one silo what was uploaded through another, after the holder crashed", async () => {
    const c = await start();
    await c.ref(LatexProject, "thesis", { via: 0 }).putFile("main.tex", bytes(HELLO));
    await c.ref(LatexProject, "thesis", { via: 1 }).putFile("refs.bib", bytes("@book{k, title={T}}\n"));
    // Save now (the project saves on swap-out by default), then kill its silo without a goodbye.
    await c.track(c.silo(2).deactivate(c.ref(LatexProject, "thesis")));
    await c.crash(await c.ownerIndex(LatexProject, "thesis"));
    const survivor = c.running()[0] as number;
    const files = await c.ref(LatexProject, "thesis", { via: survivor, retry: true }).listFiles();
    expect(files.map((f) => f.path)).toEqual(["main.tex", "refs.bib"]);
    expect(await c.ref(LatexProject, "thesis", { via: survivor }).getFile("main.tex")).toEqual(bytes(HELLO));
  });

  it("reports a store that fails every save to the caller, and keeps the files once it recovers", async () => {
    const c = await start();
    const project = c.ref(LatexProject, "draft");
    await project.putFile("main.tex", bytes(HELLO));
    c.storageFaults({ errorRate: 1 });
    await expect(c.track(c.silo(0).deactivate(project))).rejects.toBeDefined();
    c.storageFaults({});
    await c.track(c.silo(0).deactivate(project));
    expect(await c.stored(LatexProject, "draft")).toBeDefined();
    expect((await project.listFiles()).map((f) => f.path)).toEqual(["main.tex"]);
  });
});
