import styles from "./styles/app.css";

export default {
  fetch(): Response {
    const html = `<!doctype html><style>${styles.trim()}</style><h1>Dashboard</h1>`;
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
};
