// env.LIMITER for [[ratelimits]] and [[unsafe.bindings]] type = "ratelimit": a `wrapped`
// binding (shim/ratelimit/kind.py) whose inner bindings are `fetcher` (the shim's counters
// of the binding's namespace_id, shared by every Worker that names it), `limit` and
// `period`. limit({key}) answers {success}.

const OPTIONS = ["key", "limit", "period"];
const PERIODS = [10, 60];

function check(test, message) {
  if (!test) throw new Error(message);
}

class RateLimit {
  #fetcher;
  #limit;
  #period;

  constructor(env) {
    this.#fetcher = env.fetcher;
    this.#limit = env.limit;
    this.#period = env.period;
  }

  async limit(options) {
    check(typeof options === "object" && options !== null, "invalid rate limit options");
    const unknown = Object.keys(options).filter((name) => !OPTIONS.includes(name));
    check(unknown.length === 0, `bad rate limit options: [${unknown.join(",")}]`);
    const { key = "", limit = this.#limit, period = this.#period } = options;
    check(typeof key === "string", `invalid key: ${key}`);
    check(typeof limit === "number", `limit must be a number: ${limit}`);
    check(typeof period === "number", `period must be a number: ${period}`);
    check(PERIODS.includes(period), `unsupported period: ${period}`);
    const response = await this.#fetcher.fetch("http://ratelimit/limit", {
      method: "POST",
      body: JSON.stringify({ key, limit, period }),
    });
    if (!response.ok) throw new Error(`rate limit failed: ${await response.text()}`);
    return response.json();
  }
}

export default function (env) {
  return new RateLimit(env);
}
