// Every user Worker's globalOutbound (workerd_config/outbound.py): its fetch() subrequests
// pass through here on their way to the network service, whose allow/deny lists are the
// stack's --outbound rule. What workerd reports for an address the rule refuses or a name
// that does not resolve (`internal error; reference = ...` before 1.20261123, `Network
// connection failed: <why>` since, naming the address) becomes production's answer, and
// the log names the address and the rule. connect() never comes here: the
// connect_pass_through flag hands it to the network service directly.

const LOST = "Network connection lost.";
const FAILED = "Network connection failed:";

// An IP literal, as the URL parser leaves it (IPv6 in brackets).
function isAddress(host) {
  return host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

function where(url) {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

export default {
  async fetch(request, env) {
    try {
      // The calling Worker's fetch() follows redirects itself, one subrequest per hop.
      return await fetch(request, { redirect: "manual" });
    } catch (error) {
      const url = new URL(request.url);
      if (error?.message === LOST) {
        console.error(`groundflare outbound: fetch to ${where(url)} failed: ${LOST} (nothing accepted the connection, or it dropped)`);
        throw error;
      }
      const message = String(error?.message);
      if (!message.startsWith("internal error") && !message.startsWith(FAILED)) throw error;
      const rule = env.RULE;
      if (isAddress(url.hostname) || url.hostname === "localhost") {
        console.error(`groundflare outbound: fetch to ${where(url)} refused: ${rule.text}`);
        throw new Error(LOST);
      }
      // Production answers a subrequest whose host it cannot resolve with 530 (error 1016).
      const reason =
        rule.policy === "all"
          ? `${url.hostname} does not resolve`
          : `${url.hostname} does not resolve, or only to addresses the rule refuses (${rule.text})`;
      console.error(`groundflare outbound: fetch to ${where(url)} failed: ${reason}; answering 530 (error code: 1016) as production does`);
      return new Response("error code: 1016", {
        status: 530,
        headers: { "content-type": "text/plain; charset=UTF-8" },
      });
    }
  },
};
