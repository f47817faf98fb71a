// cloudflare-internal:email, behind workerd's `cloudflare:email` (workerd_config/email.py):
// `new EmailMessage(from, to, raw)` is a plain object, so it crosses to the send_email
// binding's entrypoint (assets/send_email.js) as RPC carries it.
class EmailMessage {
  constructor(from, to, raw) {
    return { from, to, raw };
  }
}

export default { EmailMessage };
