import { runJob } from "./jobs/runner";

export default {
  async fetch(request: Request): Promise<Response> {
    const steps = Number(new URL(request.url).searchParams.get("steps") ?? 1);
    try {
      return Response.json({ result: runJob({ name: "nightly", steps }) });
    } catch (error) {
      console.error("job failed:", (error as Error).stack);
      return Response.json({ error: (error as Error).message }, { status: 500 });
    }
  },
};
