import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";

/** GET until the object exists (the polling a stateless receiver does). */
export async function pollGet(client: S3Client, key: string): Promise<Uint8Array> {
  for (;;) {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: "ipc", Key: key }));
      return await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    } catch (err) {
      if ((err as { name?: string }).name !== "NoSuchKey") throw err;
    }
  }
}
