import { deserializeError, PraasError } from "@praas/core/internal";

/** A JSON request to a gateway's control plane; errors come back as PraasErrors with the gateway's code. */
export async function controlRequest(
  base: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: string,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base.replace(/\/$/, "")}${path}`, {
      method,
      body,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? String(err);
    throw new PraasError("CONNECTION_FAILED", `Cannot reach ${base}: ${cause}`);
  }
  const text = await res.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PraasError("PROTOCOL_ERROR", `${base} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = (value as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === "string" && typeof e.message === "string") {
      throw deserializeError({ name: "PraasError", code: e.code, message: e.message });
    }
    throw new PraasError(`HTTP_${res.status}`, `${base} answered ${res.status}`);
  }
  return value;
}
