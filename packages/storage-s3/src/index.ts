export { HEADER_BYTES, S3_OBJECT_FORMAT } from "./object-format.js";
export { S3_OPTIONS, type S3StorageOptions } from "./options.js";
export { S3StateStore, s3Storage, WriteAbandonedError } from "./s3-state-store.js";
