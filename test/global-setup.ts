/**
 * Runs once per `vitest run`. Test servers (Redis, S3) are started here by the
 * storage tests' setup and handed to test files with `provide`/`inject`.
 */
export default async function setup(): Promise<void | (() => Promise<void>)> {
  return async () => {};
}
