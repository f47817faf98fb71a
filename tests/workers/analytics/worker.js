export default {
  async fetch(request, env) {
    const { binding, points } = await request.json();
    try {
      for (const point of points) env[binding].writeDataPoint(point);
      return Response.json({ ok: null });
    } catch (error) {
      return Response.json({ error: { name: error.name, message: error.message } });
    }
  },
};
