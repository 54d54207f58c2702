import { createConnection } from "node:net";
import { RedisServerNotFoundError, startRedisServer } from "@praas/testing";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("startRedisServer", () => {
  it("starts a private redis-server on a free port (never 6379) and stops it", async () => {
    const server = await startRedisServer();
    try {
      expect(server.port).not.toBe(6379);
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      const client = new Redis(server.url);
      try {
        expect(await client.ping()).toBe("PONG");
        // No persistence: the test server must not write dump files anywhere.
        expect(await client.config("GET", "save")).toEqual(["save", ""]);
        expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "no"]);
      } finally {
        client.disconnect();
      }
    } finally {
      await server.stop();
    }
    expect(await portIsOpen(server.port)).toBe(false);
  });

  it("says how to install redis-server when the binary is missing", async () => {
    const error = await startRedisServer({ binary: "/nonexistent/redis-server" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisServerNotFoundError);
    expect((error as Error).message).toContain("apt-get install redis-server");
  });
});
