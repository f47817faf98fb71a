// env.IN_A_COMMENT is not a reference.
export default {
  async fetch(request, env) {
    const { GREETING } = env;
    const mode = process.env.NODE_ENV;
    return new Response(`${GREETING} ${env.MISSING_SECRET} ${mode}`);
  },
};
