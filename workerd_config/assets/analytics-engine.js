// env.DATASET for [[analytics_engine_datasets]] (shim/analytics/kind.py): a `wrapped` binding
// around workerd's native one (`engine`, which delivers the point to the shim). It checks a
// point first with workerd's own limits and TypeErrors, and throws them, as production does;
// the local runtime would drop such a point without a word.
const PREFIX = "writeDataPoint(): ";
const MAX_MEMBERS = 20;
const MAX_BLOB_BYTES = 256 * MAX_MEMBERS;
const MAX_INDEX_BYTES = 96;
const encoder = new TextEncoder();

function size(value) {
  if (value === null || value === undefined) return 0;
  if (typeof value === "string") return encoder.encode(value).byteLength;
  return value.byteLength ?? 0;
}

function check(event) {
  const { indexes = [], blobs = [], doubles = [] } = event ?? {};
  if (indexes.length > 1) throw new TypeError(`${PREFIX}Maximum of 1 indexes supported.`);
  if (indexes.length && size(indexes[0]) > MAX_INDEX_BYTES) {
    throw new TypeError(`${PREFIX}Size of indexes[0] exceeds ${MAX_INDEX_BYTES} bytes).`);
  }
  if (blobs.length > MAX_MEMBERS) {
    throw new TypeError(`${PREFIX}Maximum of ${MAX_MEMBERS} blobs supported.`);
  }
  let total = 0;
  for (const blob of blobs) {
    total += size(blob);
    if (total > MAX_BLOB_BYTES) {
      throw new TypeError(`${PREFIX}Cumulative size of blobs exceeds ${MAX_BLOB_BYTES} bytes).`);
    }
  }
  if (doubles.length > MAX_MEMBERS) {
    throw new TypeError(`${PREFIX}Maximum of ${MAX_MEMBERS} doubles supported.`);
  }
}

class AnalyticsEngineDataset {
  #engine;

  constructor(env) {
    this.#engine = env.engine;
  }

  writeDataPoint(event) {
    check(event);
    this.#engine.writeDataPoint(event);
  }
}

export default function (env) {
  return new AnalyticsEngineDataset(env);
}
